/**
 * Plugs the x87 FPU (lib/cpu/fpu, its own module) into the integer core: an FpuHost over the Cpu
 * (segmented memory with the core's faults, lazy EFLAGS, CR0/CR4, #MF/#UD/#GP as CpuFaults) and
 * the FpuUnit the x87 handlers call. FERR# (CR0.NE=0) goes to `onFerr`, which the PC board routes
 * to IRQ13; the minimal machine leaves it unconnected.
 */
import type { Cpu, FpuUnit } from "./cpu.ts";
import { CpuFault } from "./faults.ts";
import { readEflags } from "./flags.ts";
import { execute, FpuState, fwait, fxrstor, fxsave } from "./fpu/mod.ts";
import type { FpuHost, FpuInstruction } from "./fpu/mod.ts";
import type { Insn } from "./insn.ts";
import { protectedMode } from "./segmentation.ts";
import { checkSegment, segAddress } from "./segcheck.ts";
import { type CpuState, CS, registerStatePart, setWords, wordsOf } from "./state.ts";
import { writeEflags } from "./exec/system.ts";

class CoreHost implements FpuHost {
  constructor(private readonly cpu: Cpu, private readonly unit: X87) {}
  read8(seg: number, offset: number): number {
    return this.cpu.rd8(segAddress(this.cpu, seg, offset, 1, false));
  }
  read16(seg: number, offset: number): number {
    return this.cpu.rd16(segAddress(this.cpu, seg, offset, 2, false));
  }
  read32(seg: number, offset: number): number {
    return this.cpu.rd32(segAddress(this.cpu, seg, offset, 4, false)) >>> 0;
  }
  write8(seg: number, offset: number, value: number): void {
    this.cpu.wr8(segAddress(this.cpu, seg, offset, 1, true), value);
  }
  write16(seg: number, offset: number, value: number): void {
    this.cpu.wr16(segAddress(this.cpu, seg, offset, 2, true), value);
  }
  write32(seg: number, offset: number, value: number): void {
    this.cpu.wr32(segAddress(this.cpu, seg, offset, 4, true), value);
  }
  checkStore(seg: number, offset: number, bytes: number): void {
    if (this.cpu.segFlat[seg] === 0) checkSegment(this.cpu, seg, offset, bytes, true);
  }
  selector(seg: number): number {
    return this.cpu.segSel[seg];
  }
  eflags(): number {
    return readEflags(this.cpu);
  }
  setEflags(mask: number, value: number): void {
    writeEflags(this.cpu, value, mask);
  }
  cr0(): number {
    return this.cpu.cr[0];
  }
  cr4(): number {
    return this.cpu.cr[4];
  }
  protectedMode(): boolean {
    return protectedMode(this.cpu);
  }
  setAx(value: number): void {
    this.cpu.setReg(1, 0, value);
  }
  fault(vector: number): never {
    throw new CpuFault(vector, 0);
  }
  ferr(): void {
    this.unit.onFerr?.();
  }
}

export class X87 implements FpuUnit {
  readonly state = new FpuState();
  onFerr: (() => void) | undefined;
  private readonly host: CoreHost;
  private readonly ins: FpuInstruction = { cs: 0, eip: 0, operand32: true };

  constructor(cpu: Cpu) {
    this.host = new CoreHost(cpu, this);
  }

  execute(cpu: Cpu, i: Insn): void {
    this.ins.cs = cpu.segSel[CS];
    this.ins.eip = cpu.insnEip;
    this.ins.operand32 = i.opsize32;
    const modrm = (i.mod << 6) | (i.reg << 3) | i.rm;
    const memory = i.mod !== 3;
    execute(this.state, this.host, this.ins, i.entry!.opcode, modrm, i.seg, memory ? cpu.offset(i) >>> 0 : 0);
  }

  wait(_cpu: Cpu): void {
    fwait(this.state, this.host);
  }

  fxsave(cpu: Cpu, i: Insn): void {
    fxsave(this.state, this.host, i.opsize32, i.seg, cpu.offset(i) >>> 0);
  }

  fxrstor(cpu: Cpu, i: Insn): void {
    fxrstor(this.state, this.host, i.opsize32, i.seg, cpu.offset(i) >>> 0);
  }

  reset(): void {
    this.state.reset();
  }
}

/** The FPU unit attached to a CPU, when it is this x87 (the only FpuUnit so far). */
function x87Of(cpu: CpuState): X87 | undefined {
  const unit = (cpu as Cpu).fpu;
  return unit instanceof X87 ? unit : undefined;
}

// The whole FpuState buffer (registers bit for bit, so NaN payloads survive) in Cpu.snapshot().
registerStatePart("fpu", {
  save: (cpu) => {
    const unit = x87Of(cpu);
    return unit && wordsOf(unit.state.buffer);
  },
  restore: (cpu, data) => {
    const unit = x87Of(cpu);
    if (!unit) return;
    if (data === undefined) unit.reset();
    else setWords(unit.state.buffer, data as number[]);
  },
});
