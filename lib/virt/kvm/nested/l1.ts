/**
 * L1 as L0 sees it after an exit of L1 (vmcs01 current): its memory through L0's slots, its
 * linear addresses through its own 2-level page tables, the memory operand of a VMX instruction
 * from the exit's instruction information, and the VMsucceed/VMfail flags in its RFLAGS.
 */
import { F, type Vmcs } from "../../../cpu/vmx/mod.ts";
import type { L0Vcpu } from "../intel/nested_seam.ts";
import { ACC_READ, ACC_WRITE, pageWalk, type PagingMemory, walked } from "../../../cpu/page_walk.ts";
import { CR0_PG } from "../../../cpu/state.ts";

const CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ARITH = CF | PF | AF | ZF | SF | OF;
const PF_VECTOR = 14, UD_VECTOR = 6, GP_VECTOR = 13;

/** Raised while emulating an L1 instruction: L0 injects the exception instead of finishing it. */
export class L1Fault {
  constructor(readonly vector: number, readonly errorCode?: number) {}
}

export const ud = (): never => {
  throw new L1Fault(UD_VECTOR);
};
export const gp = (): never => {
  throw new L1Fault(GP_VECTOR, 0);
};

/** General register n of the guest that exited (ESP is in the current VMCS then; the rest in the CPU). */
export function gpr(vcpu: L0Vcpu, n: number): number {
  return n === 4 ? vcpu.currentVmcs.get(F.GUEST_RSP) : vcpu.cpu.regs[n];
}

export function setGpr(vcpu: L0Vcpu, n: number, v: number): void {
  if (n === 4) vcpu.currentVmcs.set(F.GUEST_RSP, v);
  else vcpu.cpu.regs[n] = v;
}

export function hpa(vcpu: L0Vcpu, gpa: number): number {
  const at = vcpu.gpaToHpa(gpa >>> 0);
  // An L1 VMX structure outside its RAM: what KVM treats as a failing guest access.
  if (at === undefined) return gp();
  return at;
}

export function read32(vcpu: L0Vcpu, gpa: number): number {
  return vcpu.cpu.bus.read32(hpa(vcpu, gpa));
}

export function write32(vcpu: L0Vcpu, gpa: number, v: number): void {
  vcpu.cpu.bus.write32(hpa(vcpu, gpa), v);
}

/** L1's own page tables in its guest-physical memory, for the one guest page walk (page_walk.ts). */
class L1Tables implements PagingMemory {
  constructor(readonly vcpu: L0Vcpu) {}
  entryAddress(gpa: number): number {
    return gpa;
  }
  read32(at: number): number {
    return read32(this.vcpu, at);
  }
  write32(at: number, value: number): void {
    write32(this.vcpu, at, value);
  }
  pageFault(lin: number, errorCode: number): never {
    // The fault L1 takes: CR2 is its register, which the emulated CPU holds across the exit.
    this.vcpu.cpu.cr[2] = lin | 0;
    throw new L1Fault(PF_VECTOR, errorCode);
  }
}

/**
 * L1's linear address to guest-physical through its own paging (32-bit or PAE; vmcs01 is current),
 * with the permission checks and accessed/dirty flags of KVM's emulator walk; #PF if it faults.
 */
export function linearToGpa(vcpu: L0Vcpu, lin: number, write: boolean): number {
  const regs = vcpu.pagingRegs();
  if (!(regs.cr0 & CR0_PG)) return lin >>> 0;
  const user = l1Cpl(vcpu.vmcs01) === 3;
  pageWalk(new L1Tables(vcpu), regs, lin, write ? ACC_WRITE : ACC_READ, user);
  return walked.gpa;
}

const SEGMENT_BASES = ["ES", "CS", "SS", "DS", "FS", "GS"].map((s) => F[`GUEST_${s}_BASE`]);

/**
 * The linear address of a VMX instruction's memory operand, from the instruction information
 * (SDM Table 28-13: scaling, address size, segment, index and base) and the displacement in the
 * exit qualification.
 */
export function operandLinear(vcpu: L0Vcpu, info: number, displacement: number): number {
  let offset = displacement;
  if (!(info & (1 << 27))) offset += gpr(vcpu, (info >> 23) & 0xf);
  if (!(info & (1 << 22))) offset += gpr(vcpu, (info >> 18) & 0xf) << (info & 3);
  if (((info >> 7) & 7) === 0) offset &= 0xffff;
  return (vcpu.vmcs01.get(SEGMENT_BASES[(info >> 15) & 7]) + offset) | 0;
}

/** A 32-bit read or write of L1 memory at a linear address. */
export function readLinear32(vcpu: L0Vcpu, lin: number): number {
  return read32(vcpu, linearToGpa(vcpu, lin, false));
}

export function writeLinear32(vcpu: L0Vcpu, lin: number, v: number): void {
  write32(vcpu, linearToGpa(vcpu, lin, true), v);
}

/** L1's CPL (SS.DPL) and whether it runs in protected mode outside virtual-8086 mode. */
export function l1Cpl(v: Vmcs): number {
  return (v.get(F.GUEST_SS_AR_BYTES) >> 5) & 3;
}

export function setL1Flags(vcpu: L0Vcpu, flags: number): void {
  const v = vcpu.vmcs01;
  v.set(F.GUEST_RFLAGS, (v.get(F.GUEST_RFLAGS) & ~ARITH) | flags);
}

export const VM_SUCCEED = 0, VM_FAIL_INVALID = CF, VM_FAIL_VALID = ZF;
