/**
 * A small FPU host for the unit tests: flat memory in a Uint8Array (segment bases all 0, selectors
 * chosen per segment), EFLAGS and CR0 as plain fields, and faults thrown as TestFault so tests can
 * assert on the vector. Helpers run one instruction by opcode/ModRM the way the core will.
 */
import { execute, type FpuHost, type FpuInstruction, FpuState } from "../../../lib/cpu/fpu/mod.ts";

export class TestFault extends Error {
  constructor(readonly vector: number) {
    super(`fault ${vector}`);
  }
}

export class TestHost implements FpuHost {
  readonly mem = new Uint8Array(0x10000);
  readonly view = new DataView(this.mem.buffer);
  flags = 0x2;
  cr0Value = 0x11 | 0x20; // PE, ET, NE
  pm = true;
  ax = 0;
  ferrCount = 0;
  /** Set to model CR4 (OSFXSR); left undefined, the FPU takes OSFXSR as set. */
  cr4?: () => number;
  selectors = [0x23, 0x1b, 0x23, 0x2b, 0x33, 0x3b];
  read8(_s: number, o: number): number {
    return this.mem[o];
  }
  read16(_s: number, o: number): number {
    return this.view.getUint16(o, true);
  }
  read32(_s: number, o: number): number {
    return this.view.getUint32(o, true);
  }
  write8(_s: number, o: number, v: number): void {
    this.mem[o] = v;
  }
  write16(_s: number, o: number, v: number): void {
    this.view.setUint16(o, v, true);
  }
  write32(_s: number, o: number, v: number): void {
    this.view.setUint32(o, v >>> 0, true);
  }
  selector(seg: number): number {
    return this.selectors[seg];
  }
  eflags(): number {
    return this.flags;
  }
  setEflags(mask: number, value: number): void {
    this.flags = this.flags & ~mask | value & mask;
  }
  cr0(): number {
    return this.cr0Value;
  }
  protectedMode(): boolean {
    return this.pm;
  }
  setAx(v: number): void {
    this.ax = v;
  }
  fault(vector: number): never {
    throw new TestFault(vector);
  }
  ferr(): void {
    this.ferrCount++;
  }
}

export class Rig {
  readonly fpu = new FpuState();
  readonly host = new TestHost();
  readonly ins: FpuInstruction = { cs: 0x1b, eip: 0x1000, operand32: true };
  constructor() {
    this.run(0xdb, 0xe3); // fninit
  }
  /** Executes opcode/modrm; memory forms take `offset` (segment DS). */
  run(opcode: number, modrm: number, offset = 0): this {
    execute(this.fpu, this.host, this.ins, opcode, modrm, 3, offset);
    return this;
  }
  /** Memory form of (opcode, reg) at `offset`, with a [disp32]-style ModRM. */
  mem(opcode: number, reg: number, offset: number): this {
    return this.run(opcode, reg << 3 | 5, offset);
  }
  f64(offset: number, v?: number): number {
    if (v !== undefined) this.host.view.setFloat64(offset, v, true);
    return this.host.view.getFloat64(offset, true);
  }
  f32(offset: number, v?: number): number {
    if (v !== undefined) this.host.view.setFloat32(offset, v, true);
    return this.host.view.getFloat32(offset, true);
  }
  i32(offset: number, v?: number): number {
    if (v !== undefined) this.host.view.setInt32(offset, v, true);
    return this.host.view.getInt32(offset, true);
  }
  u16(offset: number): number {
    return this.host.view.getUint16(offset, true);
  }
  hex(offset: number, length: number): string {
    return [...this.host.mem.subarray(offset, offset + length)].map((b) => b.toString(16).padStart(2, "0"))
      .join("");
  }
  /** FLD m64fp of v through memory at 0x8000. */
  ld(v: number): this {
    this.f64(0x8000, v);
    return this.mem(0xdd, 0, 0x8000);
  }
  st(i: number): number {
    return this.fpu.st(i);
  }
  get fsw(): number {
    return this.fpu.fsw;
  }
}
