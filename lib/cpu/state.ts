/**
 * The architectural state of one x86 CPU as plain typed arrays and numbers, so it can be saved,
 * restored (savevm), compared in tests and later held as VMCS guest/host state.
 *
 * General registers are laid out for 64-bit growth: `regs[n]` is the low 32-bit half of register
 * n and `regs[16 + n]` its high half (unused by 32-bit code). Arithmetic flags are lazy: the last
 * flag-setting operation leaves its kind and operands in `fOp/fDst/fSrc/fRes/fAux` and CF, ZF, ...
 * are derived only when read (see flags.ts).
 *
 * snapshot()/restoreState() carry the whole architectural state as a JSON-safe object. Units that
 * keep their registers outside this class (the x87 FPU in x87.ts, the SSE/MMX file in
 * simd/state.ts, and VMX operation in vmx/state.ts) register a StatePart under a fixed name; their
 * state travels in the snapshot's `parts` object under that name.
 */

export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;
/** The general registers' names in register-number order (regs[0] is EAX). */
export const GENERAL_REGISTERS = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] as const;
export type GeneralRegister = typeof GENERAL_REGISTERS[number];
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, LDTR = 6, TR = 7;

// EFLAGS bits (Intel SDM Vol. 1, 3.4.3)
export const CF = 1 << 0, PF = 1 << 2, AF = 1 << 4, ZF = 1 << 6, SF = 1 << 7, TF = 1 << 8;
export const IF = 1 << 9, DF = 1 << 10, OF = 1 << 11, IOPL = 3 << 12, NT = 1 << 14, RF = 1 << 16;
export const VM = 1 << 17, AC = 1 << 18, VIF = 1 << 19, VIP = 1 << 20, ID = 1 << 21;
export const ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;

// CR0 and CR4 bits
export const CR0_PE = 1 << 0, CR0_MP = 1 << 1, CR0_EM = 1 << 2, CR0_TS = 1 << 3, CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5, CR0_WP = 1 << 16, CR0_AM = 1 << 18, CR0_NW = 1 << 29, CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;
export const CR4_VME = 1 << 0, CR4_PVI = 1 << 1, CR4_TSD = 1 << 2, CR4_DE = 1 << 3, CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5, CR4_PGE = 1 << 7, CR4_OSFXSR = 1 << 9, CR4_OSXMMEXCPT = 1 << 10;

/** Segment descriptor rights as kept in `segRights`: bits 8..23 of the descriptor's high dword. */
export const SEG_P = 1 << 15, SEG_S = 1 << 12, SEG_CODE = 1 << 11, SEG_DB = 1 << 22, SEG_G = 1 << 23;
/** Type bits: expand-down (data) or conforming (code); writable (data) or readable (code). */
export const SEG_ED = 1 << 10, SEG_W = 1 << 9;
const FLAT_MASK = SEG_P | SEG_S | SEG_CODE | SEG_ED | SEG_W, FLAT_RIGHTS = SEG_P | SEG_S | SEG_W;

/**
 * A unit's registers kept outside CpuState. `save` returns JSON-safe data (numbers, strings,
 * arrays, plain objects; no bigint or typed arrays) or undefined when the unit is absent on this
 * CPU (no FPU attached, never in VMX operation), which the snapshot keeps as null so every
 * snapshot has the same keys; `restore` receives that data back, or undefined when the snapshot
 * had none, in which case the unit returns to its RESET state.
 */
export interface StatePart {
  save(cpu: CpuState): unknown;
  restore(cpu: CpuState, data: unknown): void;
}

/**
 * The registered parts. Names in use: "fpu" (x87.ts: data registers, control/status/tag words,
 * last-instruction pointers and opcode, MXCSR), "simd" (simd/state.ts: XMM0-7, MM0-7 and MXCSR
 * again, for a CPU without an FPU unit; both carry the same value, so their order does not
 * matter) and "vmx", reserved for lib/cpu/vmx/state.ts (VMX operation, the VMXON and
 * current-VMCS pointers, root/non-root operation and whatever of the VMCS it caches).
 */
const STATE_PARTS = new Map<string, StatePart>();

export function registerStatePart(name: string, part: StatePart): void {
  STATE_PARTS.set(name, part);
}

/** Little helpers for parts that keep their registers in a buffer: bytes as 32-bit words. */
export function wordsOf(buffer: ArrayBuffer, byteLength = buffer.byteLength): number[] {
  return Array.from(new Uint32Array(buffer, 0, byteLength >> 2));
}
export function setWords(buffer: ArrayBuffer, words: readonly number[]): void {
  new Uint32Array(buffer, 0, words.length).set(words);
}

export class CpuState {
  /** General registers: [0..15] low halves, [16..31] high halves. */
  readonly regs = new Int32Array(32);
  eip = 0;
  /** EFLAGS without the six arithmetic flags, which live in the lazy-flag fields. Bit 1 is set. */
  eflags = 2;

  // ---- lazy arithmetic flags ----
  /** Kind of the last flag-setting operation (flags.ts FOP_*); FOP_NONE means fAux holds the flags. */
  fOp = 0;
  /** 0, 1, 2 for 8, 16, 32-bit operations. */
  fSize = 2;
  fDst = 0;
  fSrc = 0;
  fRes = 0;
  /** Carry in (ADC/SBB), CF kept by INC/DEC, or the flags of FOP_RES/FOP_NONE. */
  fAux = 0;

  // ---- segments ES CS SS DS FS GS LDTR TR ----
  readonly segSel = new Uint16Array(8);
  readonly segBase = new Int32Array(8);
  readonly segLimit = new Int32Array(8);
  /** Descriptor bits 8..23 of the high dword (type, S, DPL, P, AVL, L, D/B, G), in place. */
  readonly segRights = new Int32Array(8);
  /**
   * 1 when a data access through the segment can never fault on its limit or rights (present,
   * writable expand-up data, limit 4 GiB): the interpreter and compiled blocks then skip the
   * checks of lib/cpu/segcheck.ts with this one test. Derived from segLimit and segRights by
   * segmentLoaded(), which every segment load calls; a stale 0 only costs a check.
   */
  readonly segFlat = new Uint8Array(8);
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0x3ff;

  // ---- control and debug registers ----
  readonly cr = new Int32Array(9);
  readonly dr = new Int32Array(8);
  /** MSRs that are plain storage, by index (TSC, SYSENTER, MTRRs, PAT, APIC base live here too). */
  readonly msrs = new Map<number, bigint>();

  /** Current privilege level (the RPL of CS in protected mode, 3 in V86, 0 in real mode). */
  cpl = 0;
  /** Default operand/address size of the code segment: true for 32-bit. */
  code32 = true;
  /** Stack segment is 32-bit (ESP rather than SP). */
  stack32 = true;

  // ---- pending and in-flight events ----
  halted = false;
  /** Instructions left before interrupts are recognised (STI and MOV SS shadows). */
  intShadow = 0;
  /** NMIs blocked until the next IRET. */
  nmiBlocked = false;
  /** TSC = bus time scaled, plus this offset (WRMSR to the TSC sets it). */
  tscOffset = 0n;

  /** Recomputes segFlat[s] after segment register s changed. */
  segmentLoaded(s: number): void {
    this.segFlat[s] = this.segLimit[s] === -1 && (this.segRights[s] & FLAT_MASK) === FLAT_RIGHTS ? 1 : 0;
  }

  /** segmentLoaded() for every segment register (after a bulk change such as a restore). */
  segmentsLoaded(): void {
    for (let s = 0; s < 8; s++) this.segmentLoaded(s);
  }

  /** Plain object copy of the whole state, for savevm and tests. */
  snapshot(): Record<string, unknown> {
    return {
      regs: Array.from(this.regs),
      eip: this.eip >>> 0,
      eflags: this.eflags,
      flags: [this.fOp, this.fSize, this.fDst, this.fSrc, this.fRes, this.fAux],
      segSel: Array.from(this.segSel),
      segBase: Array.from(this.segBase),
      segLimit: Array.from(this.segLimit),
      segRights: Array.from(this.segRights),
      gdt: [this.gdtBase, this.gdtLimit],
      idt: [this.idtBase, this.idtLimit],
      cr: Array.from(this.cr),
      dr: Array.from(this.dr),
      msrs: [...this.msrs].map(([k, v]) => [k, v.toString()]),
      cpl: this.cpl,
      code32: this.code32,
      stack32: this.stack32,
      halted: this.halted,
      intShadow: this.intShadow,
      nmiBlocked: this.nmiBlocked,
      tscOffset: this.tscOffset.toString(),
      parts: this.snapshotParts(),
    };
  }

  /** Inverse of snapshot(). The caller flushes TLB and caches afterwards (Cpu.restore does). */
  restoreState(s: Record<string, unknown>): void {
    const nums = (k: string) => s[k] as number[];
    this.regs.set(nums("regs"));
    this.eip = s.eip as number;
    this.eflags = s.eflags as number;
    [this.fOp, this.fSize, this.fDst, this.fSrc, this.fRes, this.fAux] = nums("flags");
    this.segSel.set(nums("segSel"));
    this.segBase.set(nums("segBase"));
    this.segLimit.set(nums("segLimit"));
    this.segRights.set(nums("segRights"));
    this.segmentsLoaded();
    [this.gdtBase, this.gdtLimit] = nums("gdt");
    [this.idtBase, this.idtLimit] = nums("idt");
    this.cr.set(nums("cr"));
    this.dr.set(nums("dr"));
    this.msrs.clear();
    for (const [k, v] of s.msrs as [number, string][]) this.msrs.set(k, BigInt(v));
    this.cpl = s.cpl as number;
    this.code32 = s.code32 as boolean;
    this.stack32 = s.stack32 as boolean;
    this.halted = s.halted as boolean;
    this.intShadow = s.intShadow as number;
    this.nmiBlocked = s.nmiBlocked as boolean;
    this.tscOffset = BigInt(s.tscOffset as string);
    const parts = (s.parts ?? {}) as Record<string, unknown>;
    for (const [name, part] of STATE_PARTS) part.restore(this, parts[name] ?? undefined);
  }

  private snapshotParts(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, part] of STATE_PARTS) {
      out[name] = part.save(this) ?? null;
    }
    return out;
  }
}
