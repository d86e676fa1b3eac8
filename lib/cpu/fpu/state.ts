/**
 * The x87 register file of a Pentium Pro/II, serialisable as one ArrayBuffer.
 *
 * Precision: the eight data registers hold IEEE doubles, not 80-bit extended values (issue 4 allows
 * this for now). Loads and stores convert to and from the m32/m64/m80 formats exactly where the
 * value fits a double and round per RC otherwise; arithmetic rounds to 53 bits (precision control
 * "double" and "single" are honoured, "extended" computes at double precision), with the exception
 * flags, C1 and directed rounding computed from the exact error of each operation. Values beyond
 * the double exponent range become ±infinity or zero on load.
 *
 * Registers are kept by physical number R0-R7; ST(i) is R((TOP + i) & 7). The tag word is kept as
 * an "empty" bit per physical register; valid/zero/special tags are derived from the contents.
 */

/** Status word bits. */
export const FSW_IE = 0x0001, FSW_DE = 0x0002, FSW_ZE = 0x0004, FSW_OE = 0x0008, FSW_UE = 0x0010;
export const FSW_PE = 0x0020, FSW_SF = 0x0040, FSW_ES = 0x0080, FSW_C0 = 0x0100, FSW_C1 = 0x0200;
export const FSW_C2 = 0x0400, FSW_TOP = 0x3800, FSW_C3 = 0x4000, FSW_B = 0x8000;
export const FSW_CC = FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3;
/** The six exception flags (and their masks in FCW bits 0-5). */
export const FSW_EXCEPTIONS = 0x3f;

/** Control word fields. */
export const FCW_PC_SHIFT = 8, FCW_RC_SHIFT = 10;
export const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_CHOP = 3;
export const PC_SINGLE = 0, PC_DOUBLE = 2, PC_EXTENDED = 3;
export const FCW_INIT = 0x037f;
export const MXCSR_INIT = 0x1f80;

/** Indices into `FpuState.words`. */
export const W_FCW = 0, W_FSW = 1, W_TOP = 2, W_EMPTY = 3, W_FIP = 4, W_FCS = 5, W_FDP = 6, W_FDS = 7;
export const W_FOP = 8, W_MXCSR = 9;
const WORDS = 10;

export class FpuState {
  /** Everything, in one buffer: eight doubles then the control words. */
  readonly buffer: ArrayBuffer;
  /** R0-R7 by physical number. */
  readonly regs: Float64Array;
  /** The same eight registers as lo/hi 32-bit halves, for bit-exact NaN and encoding work. */
  readonly regBits: Uint32Array;
  /**
   * FCW, FSW (without TOP; TOP is kept apart), TOP, empty mask (bit i = R(i) empty), FIP, FCS, FDP, FDS,
   * FOP (11 bits) and MXCSR (stored for FXSAVE).
   */
  readonly words: Uint32Array;

  constructor(buffer?: ArrayBuffer) {
    this.buffer = buffer ?? new ArrayBuffer(8 * 8 + WORDS * 4);
    this.regs = new Float64Array(this.buffer, 0, 8);
    this.regBits = new Uint32Array(this.buffer, 0, 16);
    this.words = new Uint32Array(this.buffer, 64, WORDS);
    if (!buffer) this.reset();
  }

  /** The power-on/RESET state: FCW=0x0040, all registers +0 and empty, as the SDM's table 9-1 gives. */
  reset(): void {
    this.regs.fill(0);
    this.words.fill(0);
    this.words[W_FCW] = 0x0040;
    this.words[W_EMPTY] = 0xff;
    this.words[W_MXCSR] = MXCSR_INIT;
  }

  /** FNINIT: FCW=0x037F, FSW=0, all tags empty, pointers and opcode cleared; data registers kept. */
  init(): void {
    const w = this.words;
    w[W_FCW] = FCW_INIT;
    w[W_FSW] = 0;
    w[W_TOP] = 0;
    w[W_EMPTY] = 0xff;
    w[W_FIP] =
      w[W_FCS] =
      w[W_FDP] =
      w[W_FDS] =
      w[W_FOP] =
        0;
  }

  get fcw(): number {
    return this.words[W_FCW];
  }
  set fcw(v: number) {
    this.words[W_FCW] = v & 0x1f7f | 0x40;
  }
  get top(): number {
    return this.words[W_TOP];
  }
  /** The status word as FSTSW stores it, TOP included. */
  get fsw(): number {
    return (this.words[W_FSW] & ~FSW_TOP | this.words[W_TOP] << 11) & 0xffff;
  }
  set fsw(v: number) {
    this.words[W_FSW] = v & ~FSW_TOP & 0xffff;
    this.words[W_TOP] = (v >> 11) & 7;
  }

  /** Physical register number of ST(i). */
  phys(i: number): number {
    return (this.words[W_TOP] + i) & 7;
  }
  isEmpty(i: number): boolean {
    return (this.words[W_EMPTY] >> this.phys(i) & 1) !== 0;
  }
  st(i: number): number {
    return this.regs[(this.words[W_TOP] + i) & 7];
  }
  setSt(i: number, v: number): void {
    const p = (this.words[W_TOP] + i) & 7;
    this.regs[p] = v;
    this.words[W_EMPTY] &= ~(1 << p);
  }
  free(i: number): void {
    this.words[W_EMPTY] |= 1 << this.phys(i);
  }
  /** Decrements TOP and writes ST(0) (the caller has checked for overflow). */
  push(v: number): void {
    this.words[W_TOP] = (this.words[W_TOP] - 1) & 7;
    this.setSt(0, v);
  }
  /** Marks ST(0) empty and increments TOP. */
  pop(): void {
    this.words[W_EMPTY] |= 1 << this.words[W_TOP];
    this.words[W_TOP] = (this.words[W_TOP] + 1) & 7;
  }

  /** Two-bit tag of physical register p: 0 valid, 1 zero, 2 special (NaN, infinity, denormal), 3 empty. */
  tagOf(p: number): number {
    if (this.words[W_EMPTY] >> p & 1) return 3;
    const v = this.regs[p];
    if (v === 0) return 1;
    return Number.isFinite(v) ? 0 : 2;
  }
  /** The full 16-bit tag word, R7 in bits 15-14. */
  get ftw(): number {
    let t = 0;
    for (let p = 7; p >= 0; p--) t = t << 2 | this.tagOf(p);
    return t;
  }
  /** FLDENV/FRSTOR: only "empty" (11) is taken from a loaded tag word; the rest is derived. */
  set ftw(v: number) {
    let empty = 0;
    for (let p = 0; p < 8; p++) if ((v >> (2 * p) & 3) === 3) empty |= 1 << p;
    this.words[W_EMPTY] = empty;
  }

  /** A copy of the whole state (registers, words) for snapshots and migration. */
  serialize(): Uint8Array {
    return new Uint8Array(this.buffer.slice(0));
  }
  static deserialize(bytes: Uint8Array): FpuState {
    const copy = new Uint8Array(8 * 8 + WORDS * 4);
    copy.set(bytes.subarray(0, copy.length));
    return new FpuState(copy.buffer);
  }
}
