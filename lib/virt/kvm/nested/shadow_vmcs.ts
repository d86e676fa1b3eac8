/**
 * VMCS shadowing for L1 (Linux's kvm_intel enable_shadow_vmcs, arch/x86/kvm/vmx/nested.c and
 * vmcs_shadow_fields.h): while L1 runs with a current vmcs12, vmcs01 enables "VMCS shadowing"
 * (SDM 25.10) with its link pointer at a shadow VMCS of L0's that holds vmcs12's commonest fields.
 * L1's VMREAD of those fields, and VMWRITE of the read-write ones, then run on the CPU without a
 * VM exit; every other field still exits to L0, which emulates it on vmcs12 (instructions.ts).
 *
 * The shadow is the authority for its read-write fields while L1 runs: L0 copies them into vmcs12
 * before it emulates any VMX instruction of L1 (VMLAUNCH/VMRESUME, VMPTRLD, VMCLEAR...), and
 * copies all shadowed fields from vmcs12 into the shadow whenever L1 is about to run again with
 * vmcs12 changed by L0 (after a reflected exit, an emulated instruction, a failed entry).
 */
import { F, Vmcs, VMCS_REVISION, vmxState } from "../../../cpu/vmx/mod.ts";
import { SEC_SHADOW_VMCS, SHADOW_VMCS_INDICATOR } from "../../../cpu/vmx/capabilities.ts";
import { lookupField, type VmcsField } from "../../../cpu/vmx/fields.ts";
import type { L0Vcpu } from "../intel/nested_seam.ts";
import { type NestedState, NO_VMCS12 } from "./state.ts";
import { copyFields } from "./vmcs02.ts";
import { vmcs12 } from "./instructions.ts";

/** Fields L1 reads without an exit (Linux's SHADOW_FIELD_RO, less the 64-bit-host ones). */
const READ_ONLY = [
  "VM_EXIT_REASON",
  "VM_EXIT_INTR_INFO",
  "VM_EXIT_INSTRUCTION_LEN",
  "IDT_VECTORING_INFO_FIELD",
  "IDT_VECTORING_ERROR_CODE",
  "VM_EXIT_INTR_ERROR_CODE",
  "GUEST_CS_AR_BYTES",
  "GUEST_SS_AR_BYTES",
  "EXIT_QUALIFICATION",
  "GUEST_LINEAR_ADDRESS",
  "GUEST_PHYSICAL_ADDRESS",
];

/** Fields L1 reads and writes without an exit (Linux's SHADOW_FIELD_RW). */
const READ_WRITE = [
  "GUEST_INTR_STATUS",
  "GUEST_PML_INDEX",
  "HOST_FS_SELECTOR",
  "HOST_GS_SELECTOR",
  "CPU_BASED_VM_EXEC_CONTROL",
  "PIN_BASED_VM_EXEC_CONTROL",
  "EXCEPTION_BITMAP",
  "VM_ENTRY_EXCEPTION_ERROR_CODE",
  "VM_ENTRY_INTR_INFO_FIELD",
  "VM_ENTRY_INSTRUCTION_LEN",
  "TPR_THRESHOLD",
  "GUEST_INTERRUPTIBILITY_INFO",
  "VMX_PREEMPTION_TIMER_VALUE",
  "GUEST_RIP",
  "GUEST_RSP",
  "GUEST_CR0",
  "GUEST_CR3",
  "GUEST_CR4",
  "GUEST_RFLAGS",
  "CR0_GUEST_HOST_MASK",
  "CR0_READ_SHADOW",
  "CR4_READ_SHADOW",
  "HOST_FS_BASE",
  "HOST_GS_BASE",
];

const field = (name: string): VmcsField => lookupField(F[name])!.field;
const READ_WRITE_FIELDS = READ_WRITE.map(field);
const ALL_FIELDS = [...READ_ONLY.map(field), ...READ_WRITE_FIELDS];

/** L0's shadow VMCS and its VMREAD/VMWRITE bitmaps for one vCPU. */
interface Shadow {
  vmcs: Vmcs;
  readBitmap: number;
  writeBitmap: number;
}

const SHADOWS = new WeakMap<NestedState, Shadow>();

/** A bitmap page with every field's bit set (exit) except those of `fields` (bit = encoding 14:0). */
function bitmap(vcpu: L0Vcpu, fields: VmcsField[]): number {
  const page = vcpu.host.allocPage(), bus = vcpu.cpu.bus;
  for (let k = 0; k < 4096; k += 4) bus.write32(page + k, -1);
  for (const f of fields) {
    for (const e of f.width === 1 ? [f.encoding, f.encoding + 1] : [f.encoding]) {
      bus.write8(page + (e >> 3), bus.read8(page + (e >> 3)) & ~(1 << (e & 7)));
    }
  }
  return page;
}

function shadowOf(vcpu: L0Vcpu, s: NestedState): Shadow {
  let sh = SHADOWS.get(s);
  if (sh) return sh;
  const page = vcpu.host.allocPage();
  vcpu.cpu.bus.write32(page, VMCS_REVISION | SHADOW_VMCS_INDICATOR);
  sh = {
    vmcs: new Vmcs(vcpu.cpu.bus, page).activate(),
    readBitmap: bitmap(vcpu, ALL_FIELDS),
    writeBitmap: bitmap(vcpu, READ_WRITE_FIELDS),
  };
  SHADOWS.set(s, sh);
  return sh;
}

/** Before L0 emulates a VMX instruction of L1: what L1 wrote to the shadow goes into vmcs12. */
export function shadowToVmcs12(vcpu: L0Vcpu, s: NestedState): void {
  // The shadow always holds the current vmcs12's fields: it is refreshed after every instruction.
  if (s.shadowed === NO_VMCS12) return;
  copyFields(shadowOf(vcpu, s).vmcs, vmcs12(vcpu, s), READ_WRITE_FIELDS);
}

/**
 * L1 runs next (not L2): with a current vmcs12 and enable_shadow_vmcs, the shadow gets vmcs12's
 * shadowed fields and vmcs01 shadows through it; otherwise vmcs01 stops shadowing.
 */
export function vmcs12ToShadow(vcpu: L0Vcpu, s: NestedState): void {
  // L2 runs: vmcs01 keeps its settings until the exit reflected to L1, which comes back here.
  if (s.guestMode) return;
  const on = vcpu.ctx.params.shadowVmcs && s.vmxon && s.current !== NO_VMCS12;
  const v01 = vcpu.vmcs01;
  if (!on) {
    if (s.shadowed === NO_VMCS12) return;
    s.shadowed = NO_VMCS12;
    v01.set(F.SECONDARY_VM_EXEC_CONTROL, v01.get(F.SECONDARY_VM_EXEC_CONTROL) & ~SEC_SHADOW_VMCS);
    v01.set(F.VMCS_LINK_POINTER, -1);
    v01.set(F.VMCS_LINK_POINTER + 1, -1);
    return;
  }
  const sh = shadowOf(vcpu, s);
  copyFields(vmcs12(vcpu, s), sh.vmcs, ALL_FIELDS);
  // The CPU's non-root VMREAD/VMWRITE use L0's object for the shadow, as makeCurrent for vmcs01.
  vmxState(vcpu.cpu).shadow = sh.vmcs;
  if (s.shadowed !== NO_VMCS12) {
    s.shadowed = s.current;
    return;
  }
  s.shadowed = s.current;
  v01.set(F.VMREAD_BITMAP, sh.readBitmap);
  v01.set(F.VMWRITE_BITMAP, sh.writeBitmap);
  v01.set(F.SECONDARY_VM_EXEC_CONTROL, v01.get(F.SECONDARY_VM_EXEC_CONTROL) | SEC_SHADOW_VMCS);
  v01.set(F.VMCS_LINK_POINTER, sh.vmcs.address);
  v01.set(F.VMCS_LINK_POINTER + 1, 0);
}
