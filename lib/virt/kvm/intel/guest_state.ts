/**
 * Moving a vCPU's registers between the KVM API's structures (struct kvm_regs/kvm_sregs, the MSR
 * file) and where VMX keeps them while the guest is loaded: the general registers in the CPU
 * (VM exits leave them alone; ESP is in the VMCS), the rest in the VMCS guest-state area. As
 * vmx_set_segment/vmx_get_segment, an unusable segment reads back as not present. CR0.NE and
 * CR4.VMXE are forced on in the real registers (the FIXED0 MSRs demand them) and hidden from the
 * guest through the read shadows.
 */
import type { Cpu } from "../../../cpu/mod.ts";
import { F, type Vmcs } from "../../../cpu/vmx/mod.ts";
import type { KvmRegs, KvmSegment, KvmSregs } from "../structs.ts";
import { MSR } from "../msrs.ts";

/** GPR order of the CPU's register file (EAX ECX EDX EBX ESP EBP ESI EDI) as kvm_regs names them. */
const GPRS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] as const;
export const CR0_PE = 1, CR0_NE = 0x20, CR0_PG = 0x80000000 | 0;
export const CR4_VMXE = 0x2000;

/** kvm_sregs' segments with their VMCS guest-state fields (looked up once: every exit reads them). */
const SEGMENTS = ([
  ["es", "ES"],
  ["cs", "CS"],
  ["ss", "SS"],
  ["ds", "DS"],
  ["fs", "FS"],
  ["gs", "GS"],
  ["ldt", "LDTR"],
  ["tr", "TR"],
] as const).map(([k, name]) => ({
  k,
  selector: F[`GUEST_${name}_SELECTOR`],
  base: F[`GUEST_${name}_BASE`],
  limit: F[`GUEST_${name}_LIMIT`],
  ar: F[`GUEST_${name}_AR_BYTES`],
}));

const AR_UNUSABLE = 1 << 16;

function toAr(s: KvmSegment): number {
  if (s.unusable || !s.present) return AR_UNUSABLE;
  return (s.type & 15) | ((s.s & 1) << 4) | ((s.dpl & 3) << 5) | (1 << 7) | ((s.avl & 1) << 12) |
    ((s.l & 1) << 13) | ((s.db & 1) << 14) | ((s.g & 1) << 15);
}

function fromAr(ar: number, selector: number, base: number, limit: number): KvmSegment {
  const unusable = (ar >> 16) & 1;
  return {
    base: BigInt(base >>> 0),
    limit: limit >>> 0,
    selector: selector & 0xffff,
    type: ar & 15,
    present: unusable ? 0 : 1,
    dpl: (ar >> 5) & 3,
    db: (ar >> 14) & 1,
    s: (ar >> 4) & 1,
    l: (ar >> 13) & 1,
    g: (ar >> 15) & 1,
    avl: (ar >> 12) & 1,
    unusable,
  };
}

/** The API-side register state of a vCPU (VcpuContext's). */
export interface GuestRegisters {
  regs: KvmRegs;
  sregs: KvmSregs;
  msrs: Map<number, bigint>;
}

const low32 = (v: bigint) => Number(BigInt.asUintN(32, v)) | 0;

/**
 * kvm_regs/kvm_sregs into the CPU and the VMCS guest area. `l2`: the VMCS runs a nested guest
 * (vmcs02), whose CR0/CR4 the API shows as L2's own registers; the read shadows there are what L1
 * makes L2 read, and stay.
 */
export function loadGuest(cpu: Cpu, vmcs: Vmcs, { regs, sregs, msrs }: GuestRegisters, l2 = false): void {
  GPRS.forEach((n, i) => cpu.regs[i] = low32(regs[n]));
  vmcs.set(F.GUEST_RSP, low32(regs.rsp));
  vmcs.set(F.GUEST_RIP, low32(regs.rip));
  vmcs.set(F.GUEST_RFLAGS, (low32(regs.rflags) | 2) & 0x3f7fd7);
  for (const f of SEGMENTS) {
    const s = sregs[f.k];
    vmcs.set(f.selector, s.selector);
    vmcs.set(f.base, low32(s.base));
    vmcs.set(f.limit, s.limit);
    vmcs.set(f.ar, toAr(s));
  }
  vmcs.set(F.GUEST_GDTR_BASE, low32(sregs.gdt.base));
  vmcs.set(F.GUEST_GDTR_LIMIT, sregs.gdt.limit & 0xffff);
  vmcs.set(F.GUEST_IDTR_BASE, low32(sregs.idt.base));
  vmcs.set(F.GUEST_IDTR_LIMIT, sregs.idt.limit & 0xffff);
  const cr0 = low32(sregs.cr0), cr4 = low32(sregs.cr4);
  vmcs.set(F.GUEST_CR0, cr0 | CR0_NE);
  vmcs.set(F.GUEST_CR3, low32(sregs.cr3));
  vmcs.set(F.GUEST_CR4, cr4 | CR4_VMXE);
  if (!l2) {
    vmcs.set(F.CR0_READ_SHADOW, cr0);
    vmcs.set(F.CR4_READ_SHADOW, cr4);
  }
  cpu.cr[2] = low32(sregs.cr2);
  vmcs.set(F.GUEST_SYSENTER_CS, low32(msrs.get(MSR.IA32_SYSENTER_CS) ?? 0n));
  vmcs.set(F.GUEST_SYSENTER_ESP, low32(msrs.get(MSR.IA32_SYSENTER_ESP) ?? 0n));
  vmcs.set(F.GUEST_SYSENTER_EIP, low32(msrs.get(MSR.IA32_SYSENTER_EIP) ?? 0n));
  vmcs.set(F.GUEST_DR7, 0x400);
  vmcs.set(F.GUEST_INTERRUPTIBILITY_INFO, 0);
  vmcs.set(F.GUEST_ACTIVITY_STATE, 0);
}

/** The CPU and the VMCS guest area back into kvm_regs/kvm_sregs (after a VM exit); `l2` as for loadGuest. */
export function saveGuest(cpu: Cpu, vmcs: Vmcs, { regs, sregs, msrs }: GuestRegisters, l2 = false): void {
  GPRS.forEach((n, i) => regs[n] = BigInt(cpu.regs[i] >>> 0));
  regs.rsp = BigInt(vmcs.get(F.GUEST_RSP) >>> 0);
  regs.rip = BigInt(vmcs.get(F.GUEST_RIP) >>> 0);
  regs.rflags = BigInt(vmcs.get(F.GUEST_RFLAGS) >>> 0);
  for (const f of SEGMENTS) {
    sregs[f.k] = fromAr(vmcs.get(f.ar), vmcs.get(f.selector), vmcs.get(f.base), vmcs.get(f.limit));
  }
  sregs.gdt = { base: BigInt(vmcs.get(F.GUEST_GDTR_BASE) >>> 0), limit: vmcs.get(F.GUEST_GDTR_LIMIT) };
  sregs.idt = { base: BigInt(vmcs.get(F.GUEST_IDTR_BASE) >>> 0), limit: vmcs.get(F.GUEST_IDTR_LIMIT) };
  sregs.cr0 = BigInt((l2 ? vmcs.get(F.GUEST_CR0) : guestCr(vmcs, 0)) >>> 0);
  sregs.cr2 = BigInt(cpu.cr[2] >>> 0);
  sregs.cr3 = BigInt(vmcs.get(F.GUEST_CR3) >>> 0);
  sregs.cr4 = BigInt((l2 ? vmcs.get(F.GUEST_CR4) : guestCr(vmcs, 4)) >>> 0);
  msrs.set(MSR.IA32_SYSENTER_CS, BigInt(vmcs.get(F.GUEST_SYSENTER_CS) >>> 0));
  msrs.set(MSR.IA32_SYSENTER_ESP, BigInt(vmcs.get(F.GUEST_SYSENTER_ESP) >>> 0));
  msrs.set(MSR.IA32_SYSENTER_EIP, BigInt(vmcs.get(F.GUEST_SYSENTER_EIP) >>> 0));
}

/** CR0 or CR4 as the guest sees it: guest-owned bits from the register, host-owned ones from the shadow. */
export function guestCr(vmcs: Vmcs, cr: 0 | 4): number {
  const real = vmcs.get(cr === 0 ? F.GUEST_CR0 : F.GUEST_CR4);
  const mask = vmcs.get(cr === 0 ? F.CR0_GUEST_HOST_MASK : F.CR4_GUEST_HOST_MASK);
  const shadow = vmcs.get(cr === 0 ? F.CR0_READ_SHADOW : F.CR4_READ_SHADOW);
  return (real & ~mask) | (shadow & mask);
}
