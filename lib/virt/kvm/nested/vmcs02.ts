/**
 * Running L2 (Linux's nested_vmx_enter_non_root_mode / prepare_vmcs02 / nested_vmx_vmexit):
 * VMLAUNCH/VMRESUME of L1 check vmcs12 as the CPU checks a VMCS, then vmcs02 gets vmcs12's guest
 * state and controls merged with what L0 must keep (its interrupt and NMI exiting, its host state,
 * EPT02 in place of L1's EPT); an exit L1 asked for is reflected: L2's state goes back to vmcs12
 * with the exit information, and L1 continues from vmcs12's host state as after a VM exit.
 */
import {
  CPU_ACTIVATE_SECONDARY,
  CPU_TPR_SHADOW,
  CPU_UNCOND_IO_EXITING,
  CPU_USE_IO_BITMAPS,
  CPU_USE_MSR_BITMAPS,
  EXIT_SAVE_PREEMPTION_TIMER,
  PIN_EXT_INTR_EXITING,
  PIN_NMI_EXITING,
  SEC_ENABLE_EPT,
  SEC_ENABLE_VPID,
  SEC_SHADOW_VMCS,
} from "../../../cpu/vmx/capabilities.ts";
import {
  entryCheck,
  exits as X,
  F,
  FIELDS,
  loadMsrList,
  type MsrListAccess,
  type PendingExit,
  recordExitInformation,
  storeMsrList,
  Vmcs,
  VMCS_REVISION,
} from "../../../cpu/vmx/mod.ts";
import { TYPE_GUEST, TYPE_HOST, type VmcsField, WIDTH_64 } from "../../../cpu/vmx/fields.ts";
import { VMXERR_ENTRY_INVALID_CONTROL_FIELD } from "../../../cpu/vmx/errors.ts";
import { LAUNCH_LAUNCHED } from "../../../cpu/vmx/vmcs.ts";
import { BLOCKING_BY_NMI } from "../../../cpu/vmx/transfer.ts";
import type { L0Vcpu } from "../intel/nested_seam.ts";
import { CR0_NE, CR4_VMXE } from "../intel/guest_state.ts";
import { PF } from "../../../cpu/faults.ts";
import { setL1Flags, VM_SUCCEED } from "./l1.ts";
import type { NestedState } from "./state.ts";
import { ept02For, flushAtExit, vpidForEntry } from "./tlb.ts";
import { vmcs12ToShadow } from "./shadow_vmcs.ts";

const GUEST_FIELDS = FIELDS.filter((f) => f.type === TYPE_GUEST);
const HOST_FIELDS = FIELDS.filter((f) => f.type === TYPE_HOST);

/** Copies fields (both halves of 64-bit ones) from one VMCS to another. */
export function copyFields(from: Vmcs, to: Vmcs, fields: readonly VmcsField[]): void {
  for (const f of fields) {
    to.writeLow(f, from.readLow(f));
    if (f.width === WIDTH_64) to.writeHigh(f, from.readHigh(f));
  }
}

/**
 * VM entry of L1 into L2 after VMLAUNCH/VMRESUME's own checks. Returns false when the instruction
 * completed in L1 (VMfailValid through `fail`), true when L1's RIP is no longer the instruction's
 * business: L2 entered, or a failed-entry exit put L1 at vmcs12's HOST_RIP.
 */

/**
 * The processor-based controls L2 runs with: L1's, except that I/O and MSR accesses always exit to
 * L0, which consults L1's bitmaps (in L1 memory) itself. L0 adds interrupt-window exiting on top.
 */
export function procControls02(v12: Vmcs): number {
  const proc12 = v12.get(F.CPU_BASED_VM_EXEC_CONTROL);
  return (proc12 & ~(CPU_USE_IO_BITMAPS | CPU_USE_MSR_BITMAPS | CPU_TPR_SHADOW)) | CPU_UNCOND_IO_EXITING |
    CPU_ACTIVATE_SECONDARY;
}

export function enterL2(vcpu: L0Vcpu, s: NestedState, v12: Vmcs, fail: (error: number) => void): boolean {
  // A control the CPU has but L0 does not offer L1 (VPID under vpid=0): nested_vmx_check_controls
  // holds vmcs12 to L1's capability MSRs.
  const proc12 = v12.get(F.CPU_BASED_VM_EXEC_CONTROL);
  const sec12 = proc12 & CPU_ACTIVATE_SECONDARY ? v12.get(F.SECONDARY_VM_EXEC_CONTROL) : 0;
  if ((sec12 & SEC_ENABLE_VPID) && !vcpu.ctx.params.vpid) {
    fail(VMXERR_ENTRY_INVALID_CONTROL_FIELD);
    return false;
  }
  const check = entryCheck(v12);
  if (check && "error" in check) {
    fail(check.error);
    return false;
  }
  if (check) {
    entryFailure(vcpu, v12, X.EXIT_INVALID_GUEST_STATE, check.qualification);
    return true;
  }
  const v01 = vcpu.vmcs01;
  if (!s.vmcs02) {
    s.vmcs02 = new Vmcs(vcpu.cpu.bus, vcpu.host.allocPage());
    s.vmcs02.bus.write32(s.vmcs02.address, VMCS_REVISION);
    s.vmcs02.activate();
  }
  const v02 = s.vmcs02;
  copyFields(v12, v02, GUEST_FIELDS);
  copyFields(v01, v02, HOST_FIELDS);
  v02.set(
    F.PIN_BASED_VM_EXEC_CONTROL,
    v12.get(F.PIN_BASED_VM_EXEC_CONTROL) | PIN_EXT_INTR_EXITING | PIN_NMI_EXITING,
  );
  v02.set(F.CPU_BASED_VM_EXEC_CONTROL, procControls02(v12));
  // L2's guest-physical addresses: through EPT02 (EPT12 composed with L0's slots), or, when L1
  // does not use EPT, they are L1's and L0's own EPT serves them.
  const eptp = sec12 & SEC_ENABLE_EPT
    ? ept02For(vcpu, s, v12.get(F.EPT_POINTER)).eptp
    : v01.get(F.EPT_POINTER);
  const vpid02 = vpidForEntry(
    vcpu,
    s,
    sec12 & SEC_ENABLE_VPID ? v12.get(F.VIRTUAL_PROCESSOR_ID) & 0xffff : 0,
  );
  v02.set(
    F.SECONDARY_VM_EXEC_CONTROL,
    (sec12 & ~(SEC_ENABLE_VPID | SEC_SHADOW_VMCS)) | SEC_ENABLE_EPT | (vpid02 ? SEC_ENABLE_VPID : 0),
  );
  v02.set(F.EPT_POINTER, eptp);
  v02.set(F.EPT_POINTER + 1, 0);
  v02.set(F.VIRTUAL_PROCESSOR_ID, vpid02);
  v02.set(
    F.VM_EXIT_CONTROLS,
    v01.get(F.VM_EXIT_CONTROLS) | (v12.get(F.VM_EXIT_CONTROLS) & EXIT_SAVE_PREEMPTION_TIMER),
  );
  v02.set(F.VM_ENTRY_CONTROLS, v12.get(F.VM_ENTRY_CONTROLS));
  // L2 runs under EPT even when L0 shadows L1's paging: L0's #PF interception and its ownership of
  // the paging bits of CR0/CR4 are vmcs01's business only.
  v02.set(F.EXCEPTION_BITMAP, v12.get(F.EXCEPTION_BITMAP) | (v01.get(F.EXCEPTION_BITMAP) & ~(1 << PF)));
  v02.set(F.PAGE_FAULT_ERROR_CODE_MASK, v12.get(F.PAGE_FAULT_ERROR_CODE_MASK));
  v02.set(F.PAGE_FAULT_ERROR_CODE_MATCH, v12.get(F.PAGE_FAULT_ERROR_CODE_MATCH));
  for (
    const [mask, shadow, cr] of [[F.CR0_GUEST_HOST_MASK, F.CR0_READ_SHADOW, F.GUEST_CR0], [
      F.CR4_GUEST_HOST_MASK,
      F.CR4_READ_SHADOW,
      F.GUEST_CR4,
    ]]
  ) {
    // Bits L1 owns read L1's shadow; bits only L0 owns read L2's own value.
    const m12 = v12.get(mask);
    v02.set(mask, m12 | (mask === F.CR0_GUEST_HOST_MASK ? CR0_NE : CR4_VMXE));
    v02.set(shadow, (v12.get(shadow) & m12) | (v12.get(cr) & ~m12));
  }
  for (
    const f of [
      F.CR3_TARGET_COUNT,
      F.VM_ENTRY_MSR_LOAD_COUNT,
      F.VM_EXIT_MSR_STORE_COUNT,
      F.VM_EXIT_MSR_LOAD_COUNT,
    ]
  ) {
    v02.set(f, 0);
  }
  for (const f of [F.VM_ENTRY_INTR_INFO_FIELD, F.VM_ENTRY_EXCEPTION_ERROR_CODE, F.VM_ENTRY_INSTRUCTION_LEN]) {
    v02.set(f, v12.get(f));
  }
  // The VM-entry MSR-load list, in L1 memory, loads L2's MSRs after its guest state (SDM 27.4).
  vcpu.currentVmcs = v02;
  const failed = loadMsrList(
    l1Lists(vcpu),
    v12.get(F.VM_ENTRY_MSR_LOAD_ADDR),
    v12.get(F.VM_ENTRY_MSR_LOAD_COUNT),
  );
  if (failed) {
    vcpu.currentVmcs = v01;
    entryFailure(vcpu, v12, X.EXIT_MSR_LOADING, failed);
    return true;
  }
  // The injected event is consumed by this entry.
  v12.set(F.VM_ENTRY_INTR_INFO_FIELD, v12.get(F.VM_ENTRY_INTR_INFO_FIELD) & 0x7fffffff);
  v12.set(F.VM_EXIT_INTR_INFO, 0);
  v12.launchState = LAUNCH_LAUNCHED;
  v02.launchState = LAUNCH_LAUNCHED;
  // L1's flags as VMLAUNCH left them, for whenever L1 runs again (it continues at HOST_RIP).
  setL1Flags(vcpu, VM_SUCCEED);
  s.guestMode = true;
  // Linux counts the VMLAUNCH/VMRESUMEs that got past the guest-state checks, and shows guest mode.
  vcpu.ctx.stats.count("nested_run");
  vcpu.ctx.stats.counters.guest_mode = 1;
  return true;
}

/**
 * L1's MSR lists as L0 walks them (Linux's nested_vmx_load_msr / nested_vmx_store_msr): entries in
 * L1 memory (an address outside L1's RAM reads as an entry that fails), MSRs of the current guest.
 */
function l1Lists(vcpu: L0Vcpu): MsrListAccess {
  const at = (gpa: number) => vcpu.gpaToHpa(gpa >>> 0);
  return {
    read32: (a) => {
      const hpa = at(a);
      return hpa === undefined ? -1 : vcpu.cpu.bus.read32(hpa);
    },
    write32: (a, v) => {
      const hpa = at(a);
      if (hpa !== undefined) vcpu.cpu.bus.write32(hpa, v);
    },
    readMsr: (index) => vcpu.readMsr(index),
    writeMsr: (index, value) => vcpu.writeMsr(index, value),
  };
}

/** A VM entry of L1's that fails after loading guest state (SDM 27.8): L1 resumes at host state. */
function entryFailure(vcpu: L0Vcpu, v12: Vmcs, reason: number, qualification: number): void {
  v12.set(F.VM_EXIT_REASON, X.EXIT_ENTRY_FAILURE | reason);
  v12.set(F.EXIT_QUALIFICATION, qualification);
  loadL1HostState(vcpu, v12);
  loadL1HostMsrs(vcpu, v12);
}

/** The VM-exit MSR-load list loads L1's MSRs after its host state; a failure is a VMX abort. */
function loadL1HostMsrs(vcpu: L0Vcpu, v12: Vmcs): void {
  if (loadMsrList(l1Lists(vcpu), v12.get(F.VM_EXIT_MSR_LOAD_ADDR), v12.get(F.VM_EXIT_MSR_LOAD_COUNT))) {
    vmxAbort(vcpu, v12, X.VMX_ABORT_LOADING_HOST_MSRS);
  }
}

/**
 * VMX abort of L1 (SDM 28.7): the indicator goes into vmcs12's region and L1's processor shuts
 * down, which L0 reports as a triple fault (Linux's nested_vmx_abort): KVM_EXIT_SHUTDOWN.
 */
function vmxAbort(vcpu: L0Vcpu, v12: Vmcs, indicator: number): void {
  v12.abortIndicator = indicator;
  vcpu.requestShutdown();
}

/**
 * What an exit reflected to L1 records, with L0's corrections (the EPT12 qualification). `fromL2`:
 * the exit is vmcs02's own, so an event whose delivery it cut short (in vmcs02's IDT-vectoring
 * fields, with INT n's length) is reported to L1 to deliver again (SDM 28.2.4; Linux's
 * vmcs12_save_pending_event); L0's synthesized exits for L1's interrupts and NMIs cut nothing short.
 */
export function reflectExit(vcpu: L0Vcpu, s: NestedState, v12: Vmcs, exit: PendingExit, fromL2 = true): void {
  const v02 = s.vmcs02!;
  copyFields(v02, v12, GUEST_FIELDS.filter((f) => f.encoding !== F.VMCS_LINK_POINTER));
  recordExitInformation(v12, exit);
  const vectoring = fromL2 ? v02.get(F.IDT_VECTORING_INFO_FIELD) : 0;
  if (vectoring & X.INTR_INFO_VALID) {
    v12.set(F.IDT_VECTORING_INFO_FIELD, vectoring);
    v12.set(F.IDT_VECTORING_ERROR_CODE, v02.get(F.IDT_VECTORING_ERROR_CODE));
    v12.set(F.VM_EXIT_INSTRUCTION_LEN, v02.get(F.VM_EXIT_INSTRUCTION_LEN));
  }
  // L2's MSRs are stored while vmcs02 is current, before any host state is loaded (SDM 28.4).
  const stored = storeMsrList(
    l1Lists(vcpu),
    v12.get(F.VM_EXIT_MSR_STORE_ADDR),
    v12.get(F.VM_EXIT_MSR_STORE_COUNT),
  );
  s.guestMode = false;
  vcpu.ctx.stats.counters.guest_mode = 0;
  vcpu.currentVmcs = vcpu.vmcs01;
  flushAtExit(vcpu, v02);
  if (stored) return vmxAbort(vcpu, v12, X.VMX_ABORT_SAVING_GUEST_MSRS);
  loadL1HostState(vcpu, v12);
  // After an exit caused by an NMI, L1 runs with NMIs blocked until its IRET (SDM 28.5.5).
  if (exit.reason === X.EXIT_EXCEPTION_NMI && ((exit.interruptionInfo >> 8) & 7) === X.INTR_TYPE_NMI) {
    vcpu.vmcs01.set(F.GUEST_INTERRUPTIBILITY_INFO, BLOCKING_BY_NMI);
  }
  loadL1HostMsrs(vcpu, v12);
  vmcs12ToShadow(vcpu, s);
}

/** Descriptor rights (VMCS access-rights format) of the flat segments a VM exit loads. */
const AR_CODE = 0xc09b, AR_DATA = 0xc093, AR_TSS = 0x8b, AR_UNUSABLE = 0x10000;

/** The segments a VM exit loads from host state, with their field encodings (looked up once). */
const HOST_SEGMENTS = ["ES", "CS", "SS", "DS", "FS", "GS", "TR"].map((name) => ({
  name,
  hostSelector: F[`HOST_${name}_SELECTOR`],
  // Only FS, GS and TR have a host base field; the others load base 0.
  hostBase: F[`HOST_${name}_BASE`] as number | undefined,
  selector: F[`GUEST_${name}_SELECTOR`],
  limit: F[`GUEST_${name}_LIMIT`],
  ar: F[`GUEST_${name}_AR_BYTES`],
  base: F[`GUEST_${name}_BASE`],
}));

/** L1 continues from vmcs12's host-state area (SDM "Loading Host State"), written into vmcs01. */
function loadL1HostState(vcpu: L0Vcpu, v12: Vmcs): void {
  const v01 = vcpu.vmcs01;
  v01.set(F.GUEST_CR0, v12.get(F.HOST_CR0));
  v01.set(F.GUEST_CR3, v12.get(F.HOST_CR3));
  v01.set(F.GUEST_CR4, v12.get(F.HOST_CR4));
  v01.set(F.CR0_READ_SHADOW, v12.get(F.HOST_CR0));
  v01.set(F.CR4_READ_SHADOW, v12.get(F.HOST_CR4));
  v01.set(F.GUEST_DR7, 0x400);
  for (const seg of HOST_SEGMENTS) {
    const sel = v12.get(seg.hostSelector);
    v01.set(seg.selector, sel);
    v01.set(seg.limit, seg.name === "TR" ? 0x67 : -1);
    const ar = seg.name === "CS" ? AR_CODE : seg.name === "TR" ? AR_TSS : sel === 0 ? AR_UNUSABLE : AR_DATA;
    v01.set(seg.ar, ar);
    v01.set(seg.base, seg.hostBase === undefined ? 0 : v12.get(seg.hostBase));
  }
  v01.set(F.GUEST_LDTR_SELECTOR, 0);
  v01.set(F.GUEST_LDTR_AR_BYTES, AR_UNUSABLE);
  v01.set(F.GUEST_GDTR_BASE, v12.get(F.HOST_GDTR_BASE));
  v01.set(F.GUEST_GDTR_LIMIT, 0xffff);
  v01.set(F.GUEST_IDTR_BASE, v12.get(F.HOST_IDTR_BASE));
  v01.set(F.GUEST_IDTR_LIMIT, 0xffff);
  v01.set(F.GUEST_SYSENTER_CS, v12.get(F.HOST_IA32_SYSENTER_CS));
  v01.set(F.GUEST_SYSENTER_ESP, v12.get(F.HOST_IA32_SYSENTER_ESP));
  v01.set(F.GUEST_SYSENTER_EIP, v12.get(F.HOST_IA32_SYSENTER_EIP));
  v01.set(F.GUEST_RSP, v12.get(F.HOST_RSP));
  v01.set(F.GUEST_RIP, v12.get(F.HOST_RIP));
  v01.set(F.GUEST_RFLAGS, 2);
  v01.set(F.GUEST_INTERRUPTIBILITY_INFO, 0);
  v01.set(F.GUEST_ACTIVITY_STATE, 0);
  v01.set(F.GUEST_PENDING_DBG_EXCEPTIONS, 0);
  vcpu.l1ControlRegistersLoaded();
}
