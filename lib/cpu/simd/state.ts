/**
 * The SSE/MMX register file of one CPU: XMM0-7, the MMX registers MM0-7 and scratch space, in
 * one buffer so every instruction works on byte offsets through shared typed-array views.
 *
 * MMX aliasing: the FPU keeps its data registers as doubles (lib/cpu/fpu/state.ts), which cannot
 * carry a 64-bit integer exactly, so MM0-7 are a separate file here. What the SDM's aliasing makes
 * visible to software is kept: every MMX instruction sets TOP=0 and tags all x87 registers valid,
 * EMMS tags them all empty. Not kept: an x87 load after an MMX write does not see the integer
 * (nor the 0xFFFF exponent), and FXSAVE stores the x87 doubles, not the MMX integers.
 * MXCSR stays in the FPU's words (W_MXCSR), where its FXSAVE code already keeps it.
 */
import type { Cpu } from "../cpu.ts";
import { FpuState, W_EMPTY, W_MXCSR, W_TOP } from "../fpu/state.ts";
import { registerStatePart, setWords, wordsOf } from "../state.ts";

/** Byte offsets into the buffer. */
export const XMM = 0, MMX = 128, SCRATCH = 192, TEMP = 224;

export class SimdState {
  readonly buffer = new ArrayBuffer(256);
  readonly u8 = new Uint8Array(this.buffer);
  readonly i8 = new Int8Array(this.buffer);
  readonly u16 = new Uint16Array(this.buffer);
  readonly i16 = new Int16Array(this.buffer);
  readonly u32 = new Uint32Array(this.buffer);
  readonly i32 = new Int32Array(this.buffer);
  readonly f32 = new Float32Array(this.buffer);
  readonly f64 = new Float64Array(this.buffer);
  /** MXCSR when the CPU has no FPU unit attached. */
  private ownMxcsr = 0x1f80;

  constructor(private readonly cpu: Cpu) {}

  private fpu(): FpuState | undefined {
    const s = (this.cpu.fpu as { state?: unknown } | undefined)?.state;
    return s instanceof FpuState ? s : undefined;
  }

  get mxcsr(): number {
    return this.fpu()?.words[W_MXCSR] ?? this.ownMxcsr;
  }
  set mxcsr(v: number) {
    const f = this.fpu();
    if (f) f.words[W_MXCSR] = v;
    else this.ownMxcsr = v;
  }

  /** RESET: XMM and MMX registers zero, MXCSR 0x1F80 (the FPU resets its copy itself). */
  reset(): void {
    this.u8.fill(0);
    this.ownMxcsr = 0x1f80;
  }

  /**
   * An MMX instruction ran: the x87 stack top is R0 and every register is tagged valid. A written
   * MMn makes Rn's exponent all ones (tag "special"): Rn gets a NaN, its low half the MMX low dword.
   */
  enterMmx(written: number): void {
    const f = this.fpu();
    if (!f) return;
    f.words[W_TOP] = 0;
    f.words[W_EMPTY] = 0;
    if (written < 0) return;
    f.regBits[2 * written] = this.u32[(MMX >> 2) + 2 * written];
    f.regBits[2 * written + 1] = 0xfff80000 | (this.u32[(MMX >> 2) + 2 * written + 1] & 0x7ffff);
  }

  /** EMMS: every x87 register tagged empty. */
  emms(): void {
    const f = this.fpu();
    if (f) f.words[W_EMPTY] = 0xff;
  }
}

const states = new WeakMap<Cpu, SimdState>();

/** The SIMD registers of `cpu`, created zeroed (their reset value) on first use. */
export function simdState(cpu: Cpu): SimdState {
  let s = states.get(cpu);
  if (!s) states.set(cpu, s = new SimdState(cpu));
  return s;
}

// XMM0-7 and MM0-7 (the scratch area after them is not state) and MXCSR, in Cpu.snapshot().
registerStatePart("simd", {
  save: (cpu) => {
    const s = simdState(cpu as Cpu);
    return { regs: wordsOf(s.buffer, SCRATCH), mxcsr: s.mxcsr };
  },
  restore: (cpu, data) => {
    const s = simdState(cpu as Cpu);
    if (data === undefined) return s.reset();
    const d = data as { regs: number[]; mxcsr: number };
    setWords(s.buffer, d.regs);
    s.mxcsr = d.mxcsr;
  },
});
