/**
 * VMLAUNCH/VMRESUME after their own checks (Intel SDM Vol. 3C, "VM Entries"): the checks on VMX
 * controls (VMfailValid 7) and host state (VMfailValid 8), then guest state (failing as a VM exit
 * with bit 31 set and basic reason 33, host state loaded), loading guest state, and event
 * injection from the VM-entry interruption-information field.
 */
import type { Cpu } from "../cpu.ts";
import { IF } from "../state.ts";
import { EV_EXCEPTION, EV_EXTERNAL, EV_SOFTWARE } from "../interrupts.ts";
import { deliver } from "../interrupts.ts";
import { CpuFault, HAS_ERROR_CODE } from "../faults.ts";
import {
  controlsValid,
  CPU_ACTIVATE_SECONDARY,
  CPU_INTR_WINDOW_EXITING,
  CPU_MONITOR_TRAP_FLAG,
  CPU_NMI_WINDOW_EXITING,
  CPU_TPR_SHADOW,
  MSR_IA32_VMX_CR0_FIXED0,
  MSR_IA32_VMX_CR0_FIXED1,
  MSR_IA32_VMX_CR4_FIXED0,
  MSR_IA32_VMX_CR4_FIXED1,
  MSR_IA32_VMX_PROCBASED_CTLS2,
  MSR_IA32_VMX_TRUE_ENTRY_CTLS,
  MSR_IA32_VMX_TRUE_EXIT_CTLS,
  MSR_IA32_VMX_TRUE_PINBASED_CTLS,
  MSR_IA32_VMX_TRUE_PROCBASED_CTLS,
  PIN_EXT_INTR_EXITING,
  PIN_NMI_EXITING,
  PIN_PREEMPTION_TIMER,
  PIN_VIRTUAL_NMIS,
  SEC_ENABLE_EPT,
  SEC_ENABLE_VPID,
  SEC_SHADOW_VMCS,
  SEC_UNRESTRICTED_GUEST,
  SHADOW_VMCS_INDICATOR,
  VMCS_REVISION,
  VMX_MSRS,
} from "./capabilities.ts";
import * as E from "./errors.ts";
import { eptpValid, EptWalker } from "./ept.ts";
import {
  EXIT_ENTRY_FAILURE,
  EXIT_INVALID_GUEST_STATE,
  EXIT_MSR_LOADING,
  INTR_INFO_ERROR_CODE,
  INTR_INFO_VALID,
  INTR_TYPE_EXTERNAL,
  INTR_TYPE_HW_EXCEPTION,
  INTR_TYPE_NMI,
  INTR_TYPE_SW_EXCEPTION,
  INTR_TYPE_SW_INTERRUPT,
  loadHostMsrs,
  PREEMPTION_TIMER_NS,
} from "./exit.ts";
import { loadMsrList, msrListOk } from "./msr_lists.ts";
import { F } from "./fields.ts";
import { AR_UNUSABLE, GUEST_SEGMENTS } from "./segments.ts";
import { currentVmcs, nonRootHooks, vmxState } from "./state.ts";
import { ACTIVITY_HLT, BLOCKING_BY_NMI, loadGuestState, loadHostState } from "./transfer.ts";
import {
  CHANGED_CONTROLS,
  CHANGED_GUEST_SEGMENTS,
  CHANGED_HOST,
  LAUNCH_LAUNCHED,
  type Vmcs,
} from "./vmcs.ts";
import { guestTlbTag } from "./tlb.ts";

function fixedOk(v: number, fixed0: number, fixed1: number): boolean {
  const f0 = Number(VMX_MSRS.get(fixed0)!), f1 = Number(VMX_MSRS.get(fixed1)!);
  return ((v & f0) >>> 0) === f0 >>> 0 && (v & ~f1) === 0;
}

/** The secondary controls in force: 0 unless the primary controls activate them. */
function secondaryControls(vmcs: Vmcs): number {
  return vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_ACTIVATE_SECONDARY
    ? vmcs.get(F.SECONDARY_VM_EXEC_CONTROL)
    : 0;
}

/** SDM 27.2.1: the VM-execution, exit and entry control fields. */
function controlsOk(vmcs: Vmcs): boolean {
  if (!controlsValid(vmcs.get(F.PIN_BASED_VM_EXEC_CONTROL), MSR_IA32_VMX_TRUE_PINBASED_CTLS)) return false;
  if (!controlsValid(vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL), MSR_IA32_VMX_TRUE_PROCBASED_CTLS)) return false;
  if (!controlsValid(vmcs.get(F.VM_EXIT_CONTROLS), MSR_IA32_VMX_TRUE_EXIT_CTLS)) return false;
  if (!controlsValid(vmcs.get(F.VM_ENTRY_CONTROLS), MSR_IA32_VMX_TRUE_ENTRY_CTLS)) return false;
  const secondary = secondaryControls(vmcs);
  if (!controlsValid(secondary, MSR_IA32_VMX_PROCBASED_CTLS2)) return false;
  if ((secondary & SEC_UNRESTRICTED_GUEST) && !(secondary & SEC_ENABLE_EPT)) return false;
  // Virtual NMIs need NMI exiting, and NMI-window exiting needs virtual NMIs (SDM 27.2.1.1).
  const pin = vmcs.get(F.PIN_BASED_VM_EXEC_CONTROL);
  if ((pin & PIN_VIRTUAL_NMIS) && !(pin & PIN_NMI_EXITING)) return false;
  if ((vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_NMI_WINDOW_EXITING) && !(pin & PIN_VIRTUAL_NMIS)) {
    return false;
  }
  if ((secondary & SEC_ENABLE_VPID) && (vmcs.get(F.VIRTUAL_PROCESSOR_ID) & 0xffff) === 0) return false;
  if (vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_TPR_SHADOW) {
    // The virtual-APIC page is 4K-aligned, and with no APIC virtualization the TPR threshold may
    // not exceed VTPR[7:4] (byte 0x80 of the page).
    const page = vmcs.get(F.VIRTUAL_APIC_PAGE_ADDR), threshold = vmcs.get(F.TPR_THRESHOLD);
    if ((page & 0xfff) || vmcs.get(F.VIRTUAL_APIC_PAGE_ADDR + 1) || (threshold & ~0xf)) return false;
    if (threshold > ((vmcs.bus.read8(page + 0x80) >> 4) & 0xf)) return false;
  }
  if ((secondary & SEC_ENABLE_EPT) && !eptpValid(vmcs.get(F.EPT_POINTER), vmcs.get(F.EPT_POINTER + 1))) {
    return false;
  }
  // VMCS shadowing: the VMREAD and VMWRITE bitmaps are 4K-aligned (SDM 27.2.1.1).
  if (secondary & SEC_SHADOW_VMCS) {
    for (const f of [F.VMREAD_BITMAP, F.VMWRITE_BITMAP]) {
      if ((vmcs.get(f) & 0xfff) || vmcs.get(f + 1)) return false;
    }
  }
  // IA32_VMX_MISC reports no CR3-target values.
  if (vmcs.get(F.CR3_TARGET_COUNT) !== 0) return false;
  for (
    const [address, count] of [
      [F.VM_EXIT_MSR_STORE_ADDR, F.VM_EXIT_MSR_STORE_COUNT],
      [F.VM_EXIT_MSR_LOAD_ADDR, F.VM_EXIT_MSR_LOAD_COUNT],
      [F.VM_ENTRY_MSR_LOAD_ADDR, F.VM_ENTRY_MSR_LOAD_COUNT],
    ]
  ) if (!msrListOk(vmcs.get(address), vmcs.get(address + 1), vmcs.get(count))) return false;
  return true;
}

/** SDM 27.2.1.3: the VM-entry interruption-information field and its companions. */
function injectionOk(vmcs: Vmcs): boolean {
  const info = vmcs.get(F.VM_ENTRY_INTR_INFO_FIELD);
  if (!(info & INTR_INFO_VALID)) return true;
  const vector = info & 0xff, type = (info >> 8) & 7;
  if (type === 1 || type === 7 || (info & 0x7ffff000)) return false;
  if (type === INTR_TYPE_NMI && vector !== 2) return false;
  if (type === INTR_TYPE_HW_EXCEPTION && vector > 31) return false;
  const pe = (vmcs.get(F.GUEST_CR0) & 1) !== 0;
  const wantsCode = pe && type === INTR_TYPE_HW_EXCEPTION && HAS_ERROR_CODE.has(vector);
  if (((info & INTR_INFO_ERROR_CODE) !== 0) !== wantsCode) return false;
  if ((info & INTR_INFO_ERROR_CODE) && (vmcs.get(F.VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff8000)) return false;
  if (type >= INTR_TYPE_SW_INTERRUPT) {
    const len = vmcs.get(F.VM_ENTRY_INSTRUCTION_LEN);
    if (len < 1 || len > 15) return false;
  }
  return true;
}

/** SDM 27.2.2-27.2.4: host control registers and selectors (32-bit host). */
function hostOk(vmcs: Vmcs): boolean {
  if (!fixedOk(vmcs.get(F.HOST_CR0), MSR_IA32_VMX_CR0_FIXED0, MSR_IA32_VMX_CR0_FIXED1)) return false;
  if (!fixedOk(vmcs.get(F.HOST_CR4), MSR_IA32_VMX_CR4_FIXED0, MSR_IA32_VMX_CR4_FIXED1)) return false;
  for (
    const f of [
      F.HOST_ES_SELECTOR,
      F.HOST_CS_SELECTOR,
      F.HOST_SS_SELECTOR,
      F.HOST_DS_SELECTOR,
      F.HOST_FS_SELECTOR,
      F.HOST_GS_SELECTOR,
      F.HOST_TR_SELECTOR,
    ]
  ) if (vmcs.get(f) & 7) return false;
  return vmcs.get(F.HOST_CS_SELECTOR) !== 0 && vmcs.get(F.HOST_TR_SELECTOR) !== 0 &&
    vmcs.get(F.HOST_SS_SELECTOR) !== 0;
}

/** Limit and granularity agree (SDM 27.3.1.2): 4K granularity iff the limit's low 12 bits are set. */
function limitOk(limit: number, ar: number): boolean {
  const g = (ar >> 15) & 1;
  if ((limit & 0xfff) !== 0xfff && g) return false;
  if ((limit >>> 20) !== 0 && !g) return false;
  return true;
}

const RFLAGS_VM = 1 << 17;

/** SDM 27.3.1.2: CS, SS and the data segments outside virtual-8086 mode. */
function protectedSegmentsOk(ar: number[], sel: number[], cr0: number, ug: boolean): boolean {
  const CS = 1, SS = 2;
  const type = (s: number) => ar[s] & 0xf;
  const csTypes = ug ? [3, 9, 11, 13, 15] : [9, 11, 13, 15];
  if ((ar[CS] & AR_UNUSABLE) || !(ar[CS] & 0x10) || !csTypes.includes(type(CS))) return false;
  if (type(CS) === 3 && (ar[CS] & 0x60)) return false;
  if (!ug && (sel[SS] & 3) !== (sel[CS] & 3)) return false;
  if (ug && !(cr0 & 1) && (ar[SS] & 0x60)) return false;
  if (!(ar[SS] & AR_UNUSABLE) && (!(ar[SS] & 0x10) || (type(SS) !== 3 && type(SS) !== 7))) return false;
  for (const s of [0, 3, 4, 5]) {
    if (ar[s] & AR_UNUSABLE) continue;
    if (!(ar[s] & 0x10) || !(type(s) & 1) || ((type(s) & 8) && !(type(s) & 2))) return false;
  }
  return true;
}

/**
 * SDM 27.3.1: guest control registers, RFLAGS, segments, descriptor tables, non-register state.
 * `full` false: the control registers, segments and descriptor tables are as at the last entry
 * that passed (vmcs.ts CHANGED_*), and only what changes between entries is checked again.
 */
function guestOk(vmcs: Vmcs, full: boolean): boolean {
  const cr0 = vmcs.get(F.GUEST_CR0);
  const rflags = vmcs.get(F.GUEST_RFLAGS);
  // RFLAGS.VM (virtual-8086 mode) needs protected mode.
  const v86 = (rflags & RFLAGS_VM) !== 0;
  if ((rflags & 0xffc08028) || !(rflags & 2) || (v86 && !(cr0 & 1))) return false;
  const info = vmcs.get(F.VM_ENTRY_INTR_INFO_FIELD);
  if ((info & INTR_INFO_VALID) && ((info >> 8) & 7) === INTR_TYPE_EXTERNAL && !(rflags & (1 << 9))) {
    return false;
  }
  // The segment checks depend on RFLAGS.VM too: a virtual-8086 guest is checked in full each time.
  if ((full || v86) && !guestSegmentsOk(vmcs, cr0, v86)) return false;
  const activity = vmcs.get(F.GUEST_ACTIVITY_STATE);
  if (activity > ACTIVITY_HLT || (activity === ACTIVITY_HLT && (vmcs.get(F.GUEST_SS_AR_BYTES) & 0x60))) {
    return false;
  }
  const intr = vmcs.get(F.GUEST_INTERRUPTIBILITY_INFO);
  if ((intr & ~0x1f) || (intr & 3) === 3) return false;
  // An NMI is injected only where virtual NMIs are not blocked (SDM 27.3.1.5).
  const nmi = (info & INTR_INFO_VALID) !== 0 && ((info >> 8) & 7) === INTR_TYPE_NMI;
  if (nmi && (intr & BLOCKING_BY_NMI) && (vmcs.get(F.PIN_BASED_VM_EXEC_CONTROL) & PIN_VIRTUAL_NMIS)) {
    return false;
  }
  return true;
}

/** SDM 27.3.1.1-27.3.1.3: control registers, segment registers, GDTR and IDTR. */
function guestSegmentsOk(vmcs: Vmcs, cr0: number, v86: boolean): boolean {
  // Unrestricted guest: CR0.PE and CR0.PG are free (real mode, or protected mode without paging).
  const ug = (secondaryControls(vmcs) & SEC_UNRESTRICTED_GUEST) !== 0;
  const pinned = ug ? (cr0 | 0x80000001) : cr0;
  if (!fixedOk(pinned, MSR_IA32_VMX_CR0_FIXED0, MSR_IA32_VMX_CR0_FIXED1)) return false;
  if ((cr0 & 0x80000000) && !(cr0 & 1)) return false;
  if (!fixedOk(vmcs.get(F.GUEST_CR4), MSR_IA32_VMX_CR4_FIXED0, MSR_IA32_VMX_CR4_FIXED1)) return false;
  const ar = GUEST_SEGMENTS.map((s) => vmcs.get(s.ar));
  const sel = GUEST_SEGMENTS.map((s) => vmcs.get(s.selector));
  const limit = GUEST_SEGMENTS.map((s) => vmcs.get(s.limit));
  // Virtual-8086 mode (SDM 27.3.1.2): ES..GS are real-mode style, base = selector * 16, limit
  // FFFFH, access rights F3H; the protected-mode rules below do not apply to them.
  if (v86) {
    for (let s = 0; s < 6; s++) {
      if (vmcs.get(GUEST_SEGMENTS[s].base) !== sel[s] << 4 || limit[s] !== 0xffff || ar[s] !== 0xf3) {
        return false;
      }
    }
  }
  for (let s = 0; s < 8; s++) {
    if (ar[s] & AR_UNUSABLE) continue;
    if ((ar[s] & 0xfffe0f00) || !(ar[s] & 0x80) || !limitOk(limit[s], ar[s])) return false;
  }
  const [, , , , , , LDTR, TR] = [0, 1, 2, 3, 4, 5, 6, 7];
  const type = (s: number) => ar[s] & 0xf;
  if ((ar[TR] & AR_UNUSABLE) || (sel[TR] & 4) || (type(TR) !== 11 && type(TR) !== 3) || (ar[TR] & 0x10)) {
    return false;
  }
  if (!(ar[LDTR] & AR_UNUSABLE) && ((sel[LDTR] & 4) || type(LDTR) !== 2 || (ar[LDTR] & 0x10))) return false;
  if (!v86 && !protectedSegmentsOk(ar, sel, cr0, ug)) return false;
  return !((vmcs.get(F.GUEST_GDTR_LIMIT) >>> 16) || (vmcs.get(F.GUEST_IDTR_LIMIT) >>> 16));
}

/**
 * SDM 27.3.1.5: the VMCS link pointer is FFFFFFFF_FFFFFFFFH, or under "VMCS shadowing" the
 * 4K-aligned address of a shadow VMCS (revision identifier with bit 31 set). This CPU refuses
 * other values without shadowing, where the SDM would accept an ordinary VMCS there.
 */
function linkPointerOk(vmcs: Vmcs): boolean {
  const link = vmcs.get(F.VMCS_LINK_POINTER), linkHigh = vmcs.get(F.VMCS_LINK_POINTER + 1);
  if ((link & linkHigh) === -1) return true;
  if (!(secondaryControls(vmcs) & SEC_SHADOW_VMCS) || linkHigh || (link & 0xfff)) return false;
  return (vmcs.bus.read32(link >>> 0) >>> 0) === (VMCS_REVISION | SHADOW_VMCS_INDICATOR) >>> 0;
}

/**
 * The checks of VM entry before any state changes (SDM 27.2-27.3), in order: VMfailValid 7
 * (controls) or 8 (host state) as `error`, or the guest-state failure (exit reason 33, with
 * qualification 4 for the VMCS link pointer) as `qualification`; undefined when all pass. An L0
 * runs them on an L1's vmcs12 too.
 */
export function entryCheck(vmcs: Vmcs): { error: number } | { qualification: number } | undefined {
  // An active VMCS knows which groups changed since its last entry passed every check; what did
  // not change passes again (the capability MSRs these checks read are constant). The TPR
  // threshold is checked against the virtual-APIC page in memory, so that check always runs.
  const changed = vmcs.cells ? vmcs.changed : -1;
  const controls = (changed & CHANGED_CONTROLS) !== 0 ||
    (vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_TPR_SHADOW) !== 0;
  if ((controls && !controlsOk(vmcs)) || !injectionOk(vmcs)) {
    return { error: E.VMXERR_ENTRY_INVALID_CONTROL_FIELD };
  }
  if ((changed & CHANGED_HOST) && !hostOk(vmcs)) return { error: E.VMXERR_ENTRY_INVALID_HOST_STATE_FIELD };
  const linkOk = linkPointerOk(vmcs);
  if (!guestOk(vmcs, (changed & (CHANGED_CONTROLS | CHANGED_GUEST_SEGMENTS)) !== 0) || !linkOk) {
    return { qualification: linkOk ? 0 : 4 };
  }
  if (vmcs.cells) vmcs.changed = 0;
  return undefined;
}

/** VM entry after VMLAUNCH/VMRESUME passed their own checks. */
export function vmEntry(cpu: Cpu, vmcs: Vmcs): void {
  const check = entryCheck(vmcs);
  if (check && "error" in check) return E.vmFail(cpu, check.error);
  if (check) return entryFailure(cpu, vmcs, EXIT_INVALID_GUEST_STATE, check.qualification);
  const s = vmxState(cpu);
  loadGuestState(cpu, vmcs);
  const failed = loadMsrList(cpu, vmcs.get(F.VM_ENTRY_MSR_LOAD_ADDR), vmcs.get(F.VM_ENTRY_MSR_LOAD_COUNT));
  if (failed) return entryFailure(cpu, vmcs, EXIT_MSR_LOADING, failed);
  vmcs.launchState = LAUNCH_LAUNCHED;
  s.nonRoot = true;
  cpu.vmxNonRoot = true;
  s.timerDeadline = vmcs.get(F.PIN_BASED_VM_EXEC_CONTROL) & PIN_PREEMPTION_TIMER
    ? cpu.bus.nowNs() + vmcs.get(F.VMX_PREEMPTION_TIMER_VALUE) * PREEMPTION_TIMER_NS
    : Infinity;
  s.mtfPending = false;
  s.delivering = undefined;
  installNonRoot(cpu, vmcs);
  // A VM exit's information fields describe the last exit only; entry leaves the valid bit clear.
  vmcs.set(F.VM_EXIT_INTR_INFO, 0);
  inject(cpu, vmcs);
}

/**
 * What non-root operation under this VMCS keeps outside it: the controls the between-blocks check
 * reads, and the core hooks for EPT's walk and fetch check.
 */
function installNonRoot(cpu: Cpu, vmcs: Vmcs): void {
  const s = vmxState(cpu);
  s.pinControls = vmcs.get(F.PIN_BASED_VM_EXEC_CONTROL);
  s.procControls = vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL);
  cpu.vmxMtf = (s.procControls & CPU_MONITOR_TRAP_FLAG) !== 0;
  // What vmxPoll can exit for without a bus event the compiled loops already watch (NMI, INTR with
  // IF). The interrupt window counts while IF is set at entry; a loop that sets IF itself (STI)
  // leaves the compiled loop through its interrupt shadow.
  cpu.vmxPolls = cpu.vmxMtf || s.timerDeadline !== Infinity || (s.pinControls & PIN_EXT_INTR_EXITING) !== 0 ||
    ((s.procControls & CPU_INTR_WINDOW_EXITING) !== 0 && (cpu.eflags & IF) !== 0) ||
    (s.procControls & CPU_NMI_WINDOW_EXITING) !== 0;
  cpu.selectTlb(guestTlbTag(vmcs));
  if (secondaryControls(vmcs) & SEC_ENABLE_EPT) {
    const eptp = vmcs.get(F.EPT_POINTER);
    if (s.ept?.eptp !== eptp) s.ept = eptWalker(cpu, eptp);
    cpu.eptWalk = s.ept.walk;
    cpu.eptFetch = s.ept.fetch;
  }
}
/** The walker for an EPTP, from the few kept (EPT_WALKERS_KEPT). */
function eptWalker(cpu: Cpu, eptp: number): EptWalker {
  const walkers = vmxState(cpu).eptWalkers;
  let w = walkers.get(eptp);
  if (w) return w;
  if (walkers.size >= EPT_WALKERS_KEPT) walkers.clear();
  walkers.set(eptp, w = new EptWalker(cpu, eptp));
  return w;
}
const EPT_WALKERS_KEPT = 8;

nonRootHooks.install = (cpu) => installNonRoot(cpu, currentVmcs(cpu));

/**
 * A VM entry that fails during or after loading guest state (SDM 27.8): it ends like a VM exit
 * with bit 31 of the exit reason set, except that no guest state or MSRs are saved.
 */
function entryFailure(cpu: Cpu, vmcs: Vmcs, reason: number, qualification: number): void {
  vmcs.set(F.VM_EXIT_REASON, EXIT_ENTRY_FAILURE | reason);
  vmcs.set(F.EXIT_QUALIFICATION, qualification);
  loadHostState(cpu, vmcs);
  loadHostMsrs(cpu, vmcs);
}

/** Event injection (SDM 27.6): delivered through the guest's IDT as if it occurred in the guest. */
function inject(cpu: Cpu, vmcs: Vmcs): void {
  const info = vmcs.get(F.VM_ENTRY_INTR_INFO_FIELD);
  if (!(info & INTR_INFO_VALID)) return;
  // The field's valid bit is cleared on every VM exit; entry consumes the event.
  vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD, info & ~INTR_INFO_VALID);
  const vector = info & 0xff, type = (info >> 8) & 7;
  const hasCode = (info & INTR_INFO_ERROR_CODE) !== 0;
  const code = vmcs.get(F.VM_ENTRY_EXCEPTION_ERROR_CODE);
  cpu.insnEip = cpu.eip;
  if (type === INTR_TYPE_SW_INTERRUPT || type === INTR_TYPE_SW_EXCEPTION) {
    cpu.eip = (cpu.eip + vmcs.get(F.VM_ENTRY_INSTRUCTION_LEN)) | 0;
  }
  cpu.halted = false;
  // An injected NMI blocks NMIs until the guest's IRET, as one delivered from the bus (SDM 26.6.1.2).
  if (type === INTR_TYPE_NMI) cpu.nmiBlocked = true;
  try {
    const kind = type === INTR_TYPE_EXTERNAL || type === INTR_TYPE_NMI
      ? EV_EXTERNAL
      : type === INTR_TYPE_HW_EXCEPTION
      ? EV_EXCEPTION
      : EV_SOFTWARE;
    deliver(cpu, vector, kind, hasCode, code);
  } catch (e) {
    if (!(e instanceof CpuFault)) throw e;
    // A fault while delivering the injected event is a guest fault (it may exit by the bitmap).
    cpu.exception(e.vector, e.errorCode);
  }
}
