/**
 * The i386 register file as gdb numbers it (target_xml.ts): reading and writing one register or
 * all of them as little-endian bytes. The x87 registers travel as 80-bit extended values, the XMM
 * registers as their 16 bytes (lib/cpu/simd/state.ts).
 */
import type { Cpu } from "../../../cpu/cpu.ts";
import { readEflags } from "../../../cpu/flags.ts";
import { fromM80, m80, toM80 } from "../../../cpu/fpu/formats.ts";
import { type FpuState, W_EMPTY, W_FCS, W_FDP, W_FDS, W_FIP, W_FOP } from "../../../cpu/fpu/state.ts";
import { simdState, XMM } from "../../../cpu/simd/state.ts";
import type { X87 } from "../../../cpu/x87.ts";
import { ARITH_FLAGS, CR0_PE, CS, DS, ES, FS, GS, SS } from "../../../cpu/state.ts";
import { I386_REGISTERS } from "./target_xml.ts";

/** gdb's segment order cs ss ds es fs gs, as our segment indices. */
const SEGMENTS = [CS, SS, DS, ES, FS, GS];

function fpuOf(cpu: Cpu): FpuState | undefined {
  return (cpu.fpu as X87 | undefined)?.state;
}

function le(v: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, v >>> 0, true);
  return out;
}

/** The full tag word: 11 for an empty register, 00 otherwise. */
function tagWord(fpu: FpuState): number {
  let tw = 0;
  for (let i = 0; i < 8; i++) if ((fpu.words[W_EMPTY] >> i) & 1) tw |= 3 << (i * 2);
  return tw;
}

export function readRegister(cpu: Cpu, n: number): Uint8Array | undefined {
  const size = I386_REGISTERS[n]?.[1];
  if (size === undefined) return undefined;
  const fpu = fpuOf(cpu);
  if (n < 8) return le(cpu.regs[n], 4);
  if (n === 8) return le(cpu.eip, 4);
  if (n === 9) return le(readEflags(cpu), 4);
  if (n < 16) return le(cpu.segSel[SEGMENTS[n - 10]], 4);
  if (n < 24) {
    const out = new Uint8Array(10);
    if (!fpu) return out;
    toM80(fpu.st(n - 16));
    const view = new DataView(out.buffer);
    view.setUint32(0, m80[0], true);
    view.setUint32(4, m80[1], true);
    view.setUint16(8, m80[2], true);
    return out;
  }
  if (n < 32) {
    if (!fpu) return le(0, 4);
    const w = fpu.words;
    const values = [fpu.fcw, fpu.fsw, tagWord(fpu), w[W_FCS], w[W_FIP], w[W_FDS], w[W_FDP], w[W_FOP]];
    return le(values[n - 24], 4);
  }
  if (n < 40) return simdState(cpu).u8.slice(XMM + (n - 32) * 16, XMM + (n - 31) * 16);
  return le(simdState(cpu).mxcsr, 4);
}

/** Writes one register; false when this register cannot be written here. */
export function writeRegister(cpu: Cpu, n: number, bytes: Uint8Array): boolean {
  const size = I386_REGISTERS[n]?.[1];
  if (size === undefined || bytes.length !== size) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const v = size >= 4 ? view.getUint32(0, true) : 0;
  const fpu = fpuOf(cpu);
  if (n < 8) cpu.regs[n] = v;
  else if (n === 8) cpu.eip = v;
  else if (n === 9) {
    cpu.eflags = (v & ~ARITH_FLAGS) | 2;
    cpu.setArithFlags(v & ARITH_FLAGS);
  } else if (n < 16) {
    const seg = SEGMENTS[n - 10];
    if (cpu.segSel[seg] === (v & 0xffff)) return true;
    // A protected-mode selector would need a descriptor load; only real mode's base = sel << 4 is simple.
    if (cpu.cr[0] & CR0_PE) return false;
    cpu.segSel[seg] = v & 0xffff;
    cpu.segBase[seg] = (v & 0xffff) << 4;
  } else if (n < 24) {
    if (!fpu) return false;
    fpu.setSt(n - 16, fromM80(view.getUint32(0, true), view.getUint32(4, true), view.getUint16(8, true)));
  } else if (n === 24 && fpu) fpu.fcw = v;
  else if (n === 25 && fpu) fpu.fsw = v;
  else if (n >= 32 && n < 40) simdState(cpu).u8.set(bytes, XMM + (n - 32) * 16);
  else if (n === 40) simdState(cpu).mxcsr = v;
  else return false;
  return true;
}
