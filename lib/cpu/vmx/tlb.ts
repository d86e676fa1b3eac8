/**
 * VMX and the TLB (Intel SDM Vol. 3C, "Caching Translation Information" and "Invalidating Cached
 * Mappings"): which translation context the CPU's TLB (lib/cpu/mmu.ts) uses in VMX root and
 * non-root operation, and what VM entries, VM exits, INVVPID and INVEPT invalidate.
 *
 * - VMX root operation uses VPID 0 and linear mappings.
 * - A guest uses the VMCS's VPID when "enable VPID" is set, else VPID 0; with "enable EPT" its
 *   entries are combined mappings, tagged by the EP4TA (EPTP bits 31:12) too.
 * - With VPIDs, VM entries and exits keep every context's entries; without them they invalidate
 *   the mappings of VPID 0 (every EP4TA), so root and guest never see each other's entries.
 */
import type { Cpu } from "../cpu.ts";
import { tagUsesEpt, tagVpid, tlbTag } from "../mmu.ts";
import { CPU_ACTIVATE_SECONDARY, SEC_ENABLE_EPT, SEC_ENABLE_VPID } from "./capabilities.ts";
import { F } from "./fields.ts";
import type { Vmcs } from "./vmcs.ts";

/** INVVPID types (SDM "INVVPID"). */
export const INVVPID_INDIVIDUAL_ADDRESS = 0, INVVPID_SINGLE_CONTEXT = 1, INVVPID_ALL_CONTEXT = 2;
export const INVVPID_SINGLE_CONTEXT_RETAINING_GLOBALS = 3;
/** INVEPT types (SDM "INVEPT"). */
export const INVEPT_SINGLE_CONTEXT = 1, INVEPT_ALL_CONTEXT = 2;

const vpidZero = (tag: number) => tagVpid(tag) === 0;

/** The TLB tag a guest runs under with this VMCS's controls. */
export function guestTlbTag(vmcs: Vmcs): number {
  const secondary = vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_ACTIVATE_SECONDARY
    ? vmcs.get(F.SECONDARY_VM_EXEC_CONTROL)
    : 0;
  const vpid = secondary & SEC_ENABLE_VPID ? vmcs.get(F.VIRTUAL_PROCESSOR_ID) & 0xffff : 0;
  return tlbTag(vpid, secondary & SEC_ENABLE_EPT ? vmcs.get(F.EPT_POINTER) : undefined);
}

/** VM entry: switches to the guest's context (after invalidating VPID 0's when it has no VPID). */
export function enterGuestTlb(cpu: Cpu, vmcs: Vmcs): void {
  const tag = guestTlbTag(vmcs);
  if (tagVpid(tag) === 0) cpu.invalidateTlbs(vpidZero);
  cpu.selectTlb(tag);
}

/** VM exit (or a failed entry): back to root's context, invalidating VPID 0's after a guest without VPID. */
export function enterRootTlb(cpu: Cpu): void {
  if (tagVpid(cpu.tlb.tag) === 0) cpu.invalidateTlbs(vpidZero);
  cpu.selectTlb(tlbTag(0));
}

/** INVVPID's invalidation, after its operand checks. */
export function invvpidTlb(cpu: Cpu, type: number, vpid: number, lin: number): void {
  if (type === INVVPID_ALL_CONTEXT) return cpu.invalidateTlbs((tag) => tagVpid(tag) !== 0);
  const mine = (tag: number) => tagVpid(tag) === vpid;
  // Retaining globals is allowed, not required: this TLB does not mark global entries, so type 3
  // drops them with the rest, as type 1 does.
  cpu.invalidateTlbs(mine, type === INVVPID_INDIVIDUAL_ADDRESS ? lin : undefined);
}

/** INVEPT's invalidation: the combined mappings of one EP4TA, or of every EP4TA. */
export function inveptTlb(cpu: Cpu, type: number, eptp: number): void {
  if (type === INVEPT_ALL_CONTEXT) return cpu.invalidateTlbs((tag) => tag !== tagVpid(tag));
  cpu.invalidateTlbs((tag) => tagUsesEpt(tag, eptp));
}
