/**
 * L2's cached translations as L0 keeps them (Linux's nested_vmx_transition_tlb_flush,
 * nested_get_vpid02, handle_invvpid and handle_invept). L2 runs under a VPID of its own, vpid02,
 * when vmcs12 enables VPID: its TLB entries then survive VM exits and entries as the SDM lets them
 * ("Caching Translation Information"), and only L1's INVVPID/INVEPT, a new vpid12 or a change to
 * L0's or EPT02's mappings drop them. Without a vpid12 L1 expects VPID 0's behaviour (every entry
 * and exit invalidates), so L2 runs under L1's own VPID, flushed at both transitions.
 */
import {
  INVEPT_SINGLE_CONTEXT,
  inveptTlb,
  INVVPID_ALL_CONTEXT,
  INVVPID_SINGLE_CONTEXT,
  invvpidTlb,
} from "../../../cpu/vmx/tlb.ts";
import { F, type Vmcs } from "../../../cpu/vmx/mod.ts";
import { EptTables } from "../intel/ept_tables.ts";
import type { L0Vcpu } from "../intel/nested_seam.ts";
import type { NestedState } from "./state.ts";

/** vpid02 of vCPU n is VPID02_BASE + n (vmcs01 runs L1 under n + 1). */
const VPID02_BASE = 0x100;

/** L1's VPID (vmcs01's); 0 when kvm_intel runs with vpid=0. */
function vpid01(vcpu: L0Vcpu): number {
  return vcpu.vmcs01.get(F.VIRTUAL_PROCESSOR_ID) & 0xffff;
}

function flush(vcpu: L0Vcpu, vpid: number): void {
  invvpidTlb(vcpu.cpu, INVVPID_SINGLE_CONTEXT, vpid, 0);
}

/**
 * The VPID vmcs02 gets at a VM entry of L1's with this vpid12 (0: VPID disabled in vmcs12), after
 * the flush the entry needs. 0 when L0 has no VPIDs: the CPU then flushes at every entry and exit.
 */
export function vpidForEntry(vcpu: L0Vcpu, s: NestedState, vpid12: number): number {
  const own = vpid01(vcpu);
  if (!own) return 0;
  if (!vpid12) {
    flush(vcpu, own);
    return own;
  }
  const vpid02 = VPID02_BASE + vcpu.ctx.id;
  // A new vpid12 names an address space L0 has no record of: what vpid02 holds is someone else's.
  if (vpid12 !== s.lastVpid12) {
    s.lastVpid12 = vpid12;
    flush(vcpu, vpid02);
  }
  return vpid02;
}

/** A VM exit from L2 to L1: when L2 ran under L1's VPID (no vpid12), it is flushed again. */
export function flushAtExit(vcpu: L0Vcpu, v02: Vmcs): void {
  const vpid = v02.get(F.VIRTUAL_PROCESSOR_ID) & 0xffff;
  if (vpid && vpid === vpid01(vcpu)) flush(vcpu, vpid);
}

/**
 * L1's INVVPID after its operand checks: vpid02 holds vpid12's translations only, so types 0, 1
 * and 3 for that VPID drop vpid02's (one address, or all of them; this TLB keeps no global
 * entries apart), type 2 drops them whatever the VPID, and another VPID has nothing here.
 */
export function invvpid02(vcpu: L0Vcpu, s: NestedState, type: number, vpid: number, lin: number): void {
  if (!vpid01(vcpu) || (type !== INVVPID_ALL_CONTEXT && vpid !== s.lastVpid12)) return;
  const vpid02 = VPID02_BASE + vcpu.ctx.id;
  invvpidTlb(vcpu.cpu, type === INVVPID_ALL_CONTEXT ? INVVPID_SINGLE_CONTEXT : type, vpid02, lin);
}

/**
 * EPT02 for vmcs12's EPT pointer: built afresh when L1 points at another EPT12 (this L0 keeps no
 * cache of earlier roots) or user space changes the memory slots, and every change to a present
 * EPT02 entry drops the combined mappings made under it, as an INVEPT of EPT02 would.
 */
export function ept02For(vcpu: L0Vcpu, s: NestedState, eptp12: number): EptTables {
  let ept02 = s.ept02;
  if (!ept02) {
    const tables = ept02 = s.ept02 = new EptTables(vcpu.host, false);
    tables.onChange(() => inveptTlb(vcpu.cpu, INVEPT_SINGLE_CONTEXT, tables.eptp));
    // New memory slots: EPT02's leaves may point at host pages that are no longer L1's.
    vcpu.ctx.memory.onChange(() => tables.zap());
  } else if (s.eptp12 !== eptp12) ept02.zap();
  s.eptp12 = eptp12;
  return ept02;
}
