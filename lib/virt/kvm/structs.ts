/**
 * The register structures of the vCPU ioctls (struct kvm_regs, kvm_segment, kvm_dtable,
 * kvm_sregs, kvm_msr_entry, kvm_cpuid_entry2) with the field names of <linux/kvm.h>, and the
 * values a vCPU has after creation (vmx_vcpu_reset: the CPU's RESET state).
 */

/** struct kvm_regs. Values are bigint as the u64 fields are. */
export interface KvmRegs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}

export const REG_NAMES = [
  "rax",
  "rbx",
  "rcx",
  "rdx",
  "rsi",
  "rdi",
  "rsp",
  "rbp",
  "r8",
  "r9",
  "r10",
  "r11",
  "r12",
  "r13",
  "r14",
  "r15",
  "rip",
  "rflags",
] as const satisfies readonly (keyof KvmRegs)[];

export interface KvmSegment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

export interface KvmDtable {
  base: bigint;
  limit: number;
}

export interface KvmSregs {
  cs: KvmSegment;
  ds: KvmSegment;
  es: KvmSegment;
  fs: KvmSegment;
  gs: KvmSegment;
  ss: KvmSegment;
  tr: KvmSegment;
  ldt: KvmSegment;
  gdt: KvmDtable;
  idt: KvmDtable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apic_base: bigint;
  /** 256 bits: the one pending external interrupt not yet injected, if any. */
  interrupt_bitmap: [bigint, bigint, bigint, bigint];
}

export interface KvmMsrEntry {
  index: number;
  data: bigint;
}

export interface KvmCpuidEntry2 {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** kvm_cpuid_entry2.flags: the leaf has subleaves selected by ECX. */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;

export function zeroRegs(): KvmRegs {
  return Object.fromEntries(REG_NAMES.map((n) => [n, 0n])) as unknown as KvmRegs;
}

function segment(selector: number, base: bigint, type: number, s: number): KvmSegment {
  return {
    base,
    limit: 0xffff,
    selector,
    type,
    present: 1,
    dpl: 0,
    db: 0,
    s,
    l: 0,
    g: 0,
    avl: 0,
    unusable: 0,
  };
}

/** Segment and control registers after vCPU creation (INIT/RESET state, Intel SDM 9.1.1). */
export function resetSregs(apicBase: bigint): KvmSregs {
  const data = () => segment(0, 0n, 3, 1);
  return {
    cs: segment(0xf000, 0xffff0000n, 0xb, 1),
    ds: data(),
    es: data(),
    fs: data(),
    gs: data(),
    ss: data(),
    tr: segment(0, 0n, 0xb, 0),
    ldt: segment(0, 0n, 2, 0),
    gdt: { base: 0n, limit: 0xffff },
    idt: { base: 0n, limit: 0xffff },
    cr0: 0x60000010n,
    cr2: 0n,
    cr3: 0n,
    cr4: 0n,
    cr8: 0n,
    efer: 0n,
    apic_base: apicBase,
    interrupt_bitmap: [0n, 0n, 0n, 0n],
  };
}

const SEGMENT_NAMES = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;

/** A deep copy, so callers never alias the vCPU's state (by hand: KVM_GET_SREGS runs every slice). */
export function cloneSregs(s: KvmSregs): KvmSregs {
  const out = { ...s, gdt: { ...s.gdt }, idt: { ...s.idt } };
  for (const k of SEGMENT_NAMES) out[k] = { ...s[k] };
  out.interrupt_bitmap = [...s.interrupt_bitmap] as KvmSregs["interrupt_bitmap"];
  return out;
}
