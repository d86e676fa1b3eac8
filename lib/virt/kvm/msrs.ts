/**
 * The MSRs a vCPU keeps for KVM_GET_MSRS/KVM_SET_MSRS and KVM_GET_MSR_INDEX_LIST: their indices,
 * reset values and whether a write is accepted. An index outside the table is what Linux calls
 * an unhandled MSR: the ioctl stops there (returning how many it did) unless kvm's `ignore_msrs`
 * masks it, logging `kvm [PID]: ignored rdmsr: 0x%x data 0x%llx` when `report_ignored_msrs`.
 */
import { nestedVmxMsrs } from "../../cpu/vmx/capabilities.ts";

export const MSR = {
  IA32_TSC: 0x10,
  IA32_APICBASE: 0x1b,
  IA32_FEAT_CTL: 0x3a,
  IA32_SPEC_CTRL: 0x48,
  IA32_UCODE_REV: 0x8b,
  MTRRcap: 0xfe,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_MISC_ENABLE: 0x1a0,
  IA32_CR_PAT: 0x277,
  MTRRdefType: 0x2ff,
  IA32_TSC_DEADLINE: 0x6e0,
  EFER: 0xc0000080,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SYSCALL_MASK: 0xc0000084,
  FS_BASE: 0xc0000100,
  GS_BASE: 0xc0000101,
  KERNEL_GS_BASE: 0xc0000102,
  TSC_AUX: 0xc0000103,
  KVM_WALL_CLOCK_NEW: 0x4b564d00,
  KVM_SYSTEM_TIME_NEW: 0x4b564d01,
} as const;

/** EFER bits a guest may set (SCE, LME, LMA, NXE); the rest are reserved. */
export const EFER_VALID = 0x1n | 0x100n | 0x400n | 0x800n;

interface MsrSpec {
  index: number;
  reset: bigint;
  /** Bits a write must leave clear (reserved); a write setting them fails like a #GP. */
  reserved?: bigint;
  readonly?: boolean;
  /** A value check beyond reserved bits (kvm_mtrr_valid's memory-type checks); false fails like a #GP. */
  valid?: (data: bigint) => boolean;
}

/** The memory types an MTRR may hold: UC, WC, WT, WP, WB (SDM 11.11.1); 2, 3 and 7+ are reserved. */
const validMemType = (t: bigint) => t < 8n && ((0x73n >> t) & 1n) === 1n;
/** PAT entries may also say UC- (7). */
const validPatType = (t: bigint) => validMemType(t) || t === 7n;
/** The eight byte-wide fields of a 64-bit MSR value (fixed-range MTRRs, PAT). */
const byteFields = (d: bigint) => Array.from({ length: 8 }, (_, i) => (d >> BigInt(8 * i)) & 0xffn);

/**
 * Guest-physical bits above MAXPHYADDR: 36 while the vCPU offers no leaf 0x80000008, as Linux's
 * cpuid_maxphyaddr assumes.
 */
const ABOVE_MAXPHYADDR = ~((1n << 36n) - 1n);

/** The fixed-range MTRRs (64K_00000, 16K_80000, 16K_A0000, 4K_C0000..4K_F8000). */
export const MTRR_FIXED: readonly number[] = [
  0x250,
  0x258,
  0x259,
  ...Array.from({ length: 8 }, (_, i) => 0x268 + i),
];
/** IA32_MTRR_PHYSBASE0/PHYSMASK0 .. PHYSBASE7/PHYSMASK7. */
export const MTRR_VARIABLE: readonly number[] = Array.from({ length: 16 }, (_, i) => 0x200 + i);

/**
 * The MTRRs KVM emulates for its guests (arch/x86/kvm/mtrr.c): MTRRcap says eight variable pairs
 * (0x200-0x20f), the fixed ranges and WC; IA32_MTRR_DEF_TYPE keeps E, FE and a type. A write with
 * a reserved bit or a reserved memory type fails as kvm_mtrr_valid makes it.
 */
function mtrrSpecs(): MsrSpec[] {
  const fixed = MTRR_FIXED, variable = MTRR_VARIABLE;
  return [
    ...fixed.map((index) => ({
      index,
      reset: 0n,
      valid: (d: bigint) => byteFields(d).every(validMemType),
    })),
    // Even indices are IA32_MTRR_PHYSBASEn (type in bits 0-7, 8-11 reserved), odd PHYSMASKn (V at bit 11).
    ...variable.map((index) => ({
      index,
      reset: 0n,
      reserved: ABOVE_MAXPHYADDR | (index % 2 === 0 ? 0xf00n : 0x7ffn),
      valid: index % 2 === 0 ? (d: bigint) => validMemType(d & 0xffn) : undefined,
    })),
    { index: MSR.MTRRdefType, reset: 0n, reserved: ~0xcffn, valid: (d) => validMemType(d & 0xffn) },
  ];
}

const TABLE: readonly MsrSpec[] = [
  { index: MSR.IA32_TSC, reset: 0n },
  { index: MSR.IA32_APICBASE, reset: 0n, reserved: 0x2ffn | ~0xfffffffffn },
  { index: MSR.IA32_FEAT_CTL, reset: 0n },
  { index: MSR.IA32_SPEC_CTRL, reset: 0n },
  // KVM's default microcode_version; the guest's writes are dropped (exits.ts).
  { index: MSR.IA32_UCODE_REV, reset: 0x100000000n },
  { index: MSR.MTRRcap, reset: 0x508n, readonly: true },
  { index: MSR.IA32_SYSENTER_CS, reset: 0n },
  { index: MSR.IA32_SYSENTER_ESP, reset: 0n },
  { index: MSR.IA32_SYSENTER_EIP, reset: 0n },
  { index: MSR.IA32_MISC_ENABLE, reset: 0x1n },
  // Each byte a memory type, as kvm_pat_valid checks.
  {
    index: MSR.IA32_CR_PAT,
    reset: 0x0007040600070406n,
    valid: (d) => byteFields(d).every(validPatType),
  },
  ...mtrrSpecs(),
  { index: MSR.IA32_TSC_DEADLINE, reset: 0n },
  { index: MSR.EFER, reset: 0n, reserved: ~EFER_VALID },
  { index: MSR.STAR, reset: 0n },
  { index: MSR.LSTAR, reset: 0n },
  { index: MSR.CSTAR, reset: 0n },
  { index: MSR.SYSCALL_MASK, reset: 0n },
  { index: MSR.FS_BASE, reset: 0n },
  { index: MSR.GS_BASE, reset: 0n },
  { index: MSR.KERNEL_GS_BASE, reset: 0n },
  { index: MSR.TSC_AUX, reset: 0n, reserved: ~0xffffffffn },
  { index: MSR.KVM_WALL_CLOCK_NEW, reset: 0n },
  { index: MSR.KVM_SYSTEM_TIME_NEW, reset: 0n },
];

/** The VMX capability MSRs (0x480-0x491) a nested-capable kvm_intel emulates for its guests. */
function vmxSpecs(vpid: boolean): MsrSpec[] {
  return [...nestedVmxMsrs(vpid)].map(([index, value]) => ({ index, reset: value, readonly: true }));
}

/**
 * The MSR set of one VM configuration: the base table plus the VMX MSRs when `nested` (VPID among
 * the controls only when kvm_intel runs with `vpid`).
 */
export class MsrTable {
  readonly #specs = new Map<number, MsrSpec>();

  constructor(nested: boolean, vpid = true) {
    for (const s of TABLE) this.#specs.set(s.index, s);
    if (nested) { for (const s of vmxSpecs(vpid)) this.#specs.set(s.index, s); }
  }

  /** KVM_GET_MSR_INDEX_LIST's answer, in table order. */
  indices(): number[] {
    return [...this.#specs.keys()];
  }

  has(index: number): boolean {
    return this.#specs.has(index >>> 0);
  }

  /** A fresh register file at reset values. */
  resetValues(): Map<number, bigint> {
    return new Map([...this.#specs.values()].map((s) => [s.index, s.reset]));
  }

  /** Whether a host-initiated write of `data` is accepted (KVM_SET_MSRS may write read-only feature MSRs' own value). */
  writable(index: number, data: bigint, current: bigint): boolean {
    const s = this.#specs.get(index >>> 0);
    if (!s) return false;
    if (s.readonly) return data === current;
    return ((s.reserved ?? 0n) & data) === 0n && (s.valid?.(data) ?? true);
  }
}
