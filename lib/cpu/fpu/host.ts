/**
 * What the FPU needs from the integer core: memory at (segment, offset) with the core's own fault
 * semantics, EFLAGS for FCOMI/FUCOMI/FCMOVcc, CR0, the operand size and mode that pick the
 * FSTENV/FSAVE layout, and the two ways an unmasked x87 exception reaches software (#MF, or
 * FERR# to the interrupt controller as IRQ13 when CR0.NE=0).
 *
 * The FPU never catches what the host throws: a fault raised by a read or write propagates out of
 * `execute` unchanged. Stores are ordered so that a faulting write leaves the register stack as it
 * was before the instruction (memory may be partly written, as on hardware).
 */

/** Segment register numbers as the ModRM/SReg encoding spells them. */
export const SEG_ES = 0, SEG_CS = 1, SEG_SS = 2, SEG_DS = 3, SEG_FS = 4, SEG_GS = 5;

/** The CR0 bits the FPU looks at. */
export const CR0_MP = 1 << 1, CR0_EM = 1 << 2, CR0_TS = 1 << 3, CR0_NE = 1 << 5;
export const CR4_OSFXSR = 1 << 9;

/** EFLAGS bits FCOMI/FUCOMI write and FCMOVcc reads. */
export const EFLAGS_CF = 1 << 0, EFLAGS_PF = 1 << 2, EFLAGS_AF = 1 << 4, EFLAGS_ZF = 1 << 6;
export const EFLAGS_SF = 1 << 7, EFLAGS_OF = 1 << 11;

export interface FpuHost {
  /** Memory at segment:offset (the offset already wrapped to the address size). May throw a fault. */
  read8(seg: number, offset: number): number;
  read16(seg: number, offset: number): number;
  read32(seg: number, offset: number): number;
  write8(seg: number, offset: number, value: number): void;
  write16(seg: number, offset: number, value: number): void;
  write32(seg: number, offset: number, value: number): void;
  /**
   * Checks a store of `bytes` at segment:offset as one access before any of it is written (the
   * segment limit and rights): operands wider than 32 bits are written in pieces, and a fault must
   * leave memory untouched. May throw a fault; absent: nothing to check.
   */
  checkStore?(seg: number, offset: number, bytes: number): void;
  /** The selector now in segment register `seg` (recorded as FCS/FDS). */
  selector(seg: number): number;
  /** EFLAGS as the guest would see it (lazy flags materialised). */
  eflags(): number;
  /** Replaces the bits of EFLAGS selected by `mask` with those of `value`. */
  setEflags(mask: number, value: number): void;
  cr0(): number;
  /** CR4, for OSFXSR (FXSAVE/FXRSTOR touch MXCSR only when it is set). Absent: OSFXSR is taken as set. */
  cr4?(): number;
  /** True in protected mode outside virtual-8086 mode (picks the FSTENV/FSAVE layout). */
  protectedMode(): boolean;
  /** FNSTSW AX writes AX (bits 15-0 of EAX). */
  setAx(value: number): void;
  /**
   * Raises exception `vector` the core's way; must not return. The FPU calls it for #MF (16: pending
   * unmasked exception at a waiting instruction with CR0.NE=1), #UD (6: reserved encodings, FISTTP
   * without SSE3) and #GP (13: FXRSTOR of an MXCSR with reserved bits set).
   */
  fault(vector: number): never;
  /** Asserts FERR# (CR0.NE=0): the board routes it to IRQ13 through the PIC. */
  ferr(): void;
}

/**
 * Where the instruction came from and how it was encoded: the core fills one of these per x87
 * instruction (reuse one object; the FPU never keeps a reference).
 */
export interface FpuInstruction {
  /** CS selector and offset of the first byte of the instruction (prefixes included). */
  cs: number;
  eip: number;
  /** 32-bit operand size (66h prefix and the D bit resolved): picks 14/28 and 94/108-byte layouts. */
  operand32: boolean;
}
