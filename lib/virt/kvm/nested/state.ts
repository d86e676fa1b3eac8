/**
 * Nested VMX state of one vCPU as L0 keeps it (Linux's struct nested_vmx): whether L1 is in VMX
 * operation, its VMXON and current-VMCS pointers (L1 guest-physical addresses), whether an L2
 * runs (guest mode), and L0's own vmcs02, shadow EPT (EPT02) and VPID (vpid02) for it.
 */
import type { Vmcs } from "../../../cpu/vmx/mod.ts";
import type { L0Vcpu } from "../intel/nested_seam.ts";
import type { EptTables } from "../intel/ept_tables.ts";

/** "No current VMCS" (FFFFFFFF_FFFFFFFFH), as -1. */
export const NO_VMCS12 = -1;

export class NestedState {
  vmxon = false;
  vmxonPointer = 0;
  /** vmcs12: the VMCS L1 made current with VMPTRLD, an L1 guest-physical address. */
  current = NO_VMCS12;
  guestMode = false;
  /** L0's copy of a vmcs12 (instructions.ts vmcs12), and the L1 address it came from. */
  cached12: Vmcs | undefined = undefined;
  cachedAt = NO_VMCS12;
  /** The vmcs12 whose shadowed fields L0's shadow VMCS holds while vmcs01 shadows (shadow_vmcs.ts). */
  shadowed = NO_VMCS12;
  /** L0's VMCS for running L2: vmcs12's guest state and controls merged with L0's needs. */
  vmcs02: Vmcs | undefined = undefined;
  /** L2 guest-physical to host-physical, filled from EPT12 and L0's slots on EPT violations. */
  ept02: EptTables | undefined = undefined;
  /** The EPT12 pointer (low half) EPT02's mappings come from. */
  eptp12 = 0;
  /**
   * The vmcs12 VPID whose translations vmcs02's VPID (vpid02) holds (Linux's nested.last_vpid):
   * 0 until L2 first runs with one. A VM entry with another vpid12 flushes vpid02.
   */
  lastVpid12 = 0;
}

const STATES = new WeakMap<L0Vcpu, NestedState>();

export function nestedState(vcpu: L0Vcpu): NestedState {
  let s = STATES.get(vcpu);
  if (!s) STATES.set(vcpu, s = new NestedState());
  return s;
}
