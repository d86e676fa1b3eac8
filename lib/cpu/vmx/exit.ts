/**
 * VM exits (Intel SDM Vol. 3C, "VM Exits"): a hook in non-root operation decides that an
 * instruction or event exits, records what the exit-information fields will say, and throws the
 * VMEXIT pseudo-fault. The CPU's run loop rolls EIP back to the instruction (as for any fault) and
 * hands the pseudo-fault to `vmxException`, which saves guest state, writes the exit information
 * and loads host state. Exceptions that the exception bitmap selects take the same path.
 */
import type { Cpu } from "../cpu.ts";
import { CpuFault, HAS_ERROR_CODE, NMI, PF } from "../faults.ts";
import { CR0_PE, IF, VM } from "../state.ts";
import { loadHostState, saveGuestState } from "./transfer.ts";
import { F } from "./fields.ts";
import {
  CPU_INTR_WINDOW_EXITING,
  CPU_NMI_WINDOW_EXITING,
  EXIT_ACK_INTR_ON_EXIT,
  EXIT_SAVE_PREEMPTION_TIMER,
  PIN_EXT_INTR_EXITING,
  PIN_NMI_EXITING,
  PIN_VIRTUAL_NMIS,
} from "./capabilities.ts";
import { currentVmcs, type VmxState, vmxState } from "./state.ts";
import type { Vmcs } from "./vmcs.ts";
import { loadMsrList, storeMsrList } from "./msr_lists.ts";

/** Basic exit reasons (SDM Appendix C). */
export const EXIT_EXCEPTION_NMI = 0, EXIT_EXTERNAL_INTERRUPT = 1, EXIT_TRIPLE_FAULT = 2;
export const EXIT_INTERRUPT_WINDOW = 7, EXIT_NMI_WINDOW = 8, EXIT_TASK_SWITCH = 9;
export const EXIT_CPUID = 10, EXIT_HLT = 12, EXIT_INVLPG = 14, EXIT_RDPMC = 15, EXIT_RDTSC = 16;
export const EXIT_VMCALL = 18, EXIT_VMCLEAR = 19, EXIT_VMLAUNCH = 20, EXIT_VMPTRLD = 21;
export const EXIT_VMPTRST = 22, EXIT_VMREAD = 23, EXIT_VMRESUME = 24, EXIT_VMWRITE = 25;
export const EXIT_VMXOFF = 26, EXIT_VMXON = 27, EXIT_CR_ACCESS = 28, EXIT_DR_ACCESS = 29;
export const EXIT_IO_INSTRUCTION = 30, EXIT_RDMSR = 31, EXIT_WRMSR = 32;
export const EXIT_GDTR_IDTR = 46, EXIT_LDTR_TR = 47;
export const EXIT_MWAIT = 36,
  EXIT_MONITOR_TRAP_FLAG = 37,
  EXIT_MONITOR = 39,
  EXIT_PAUSE = 40,
  EXIT_INVEPT = 50,
  EXIT_INVVPID = 53;
export const EXIT_INVALID_GUEST_STATE = 33, EXIT_MSR_LOADING = 34, EXIT_PREEMPTION_TIMER = 52;
export const EXIT_ENTRY_FAILURE = 0x80000000 | 0;

/** The vector of the pseudo-fault that carries a VM exit out of an instruction handler. */
export const VMEXIT_VECTOR = 0x100;

/** Interruption-information types (SDM Table 25-17). */
export const INTR_TYPE_EXTERNAL = 0, INTR_TYPE_NMI = 2, INTR_TYPE_HW_EXCEPTION = 3;
export const INTR_TYPE_SW_INTERRUPT = 4, INTR_TYPE_SW_EXCEPTION = 6;
export const INTR_INFO_VALID = 0x80000000 | 0, INTR_INFO_ERROR_CODE = 1 << 11;

/** What the next VM exit records (filled by the hook that decided the exit). */
export interface PendingExit {
  reason: number;
  qualification: number;
  instructionLength: number;
  instructionInfo: number;
  guestLinear: number;
  interruptionInfo: number;
  interruptionError: number;
  /** EPT violations and misconfigurations: the guest-physical address. */
  guestPhysical?: number;
}

/**
 * The record of an exit that no instruction caused (an event between instructions, or one a
 * hypervisor makes): nothing but the reason, the interruption information and, for EPT exits,
 * the guest-physical address.
 */
export function eventExit(reason: number, interruptionInfo = 0, guestPhysical?: number): PendingExit {
  return {
    reason,
    qualification: 0,
    instructionLength: 0,
    instructionInfo: 0,
    guestLinear: 0,
    interruptionInfo,
    interruptionError: 0,
    guestPhysical,
  };
}

/**
 * Exits from the instruction being executed: records the exit and throws. The instruction length
 * is what the decoder consumed (EIP already points past the instruction).
 */
export function instructionExit(cpu: Cpu, reason: number, qualification = 0, info = 0, linear = 0): never {
  const s = vmxState(cpu);
  s.pending = {
    reason,
    qualification,
    instructionLength: (cpu.eip - cpu.insnEip) & 0xf,
    instructionInfo: info,
    guestLinear: linear,
    interruptionInfo: 0,
    interruptionError: 0,
  };
  throw new CpuFault(VMEXIT_VECTOR, 0);
}

/** The core's hook in exception delivery: true when the event became a VM exit. */
export function vmxException(cpu: Cpu, vector: number, code: number): boolean {
  const s = vmxState(cpu);
  const vmcs = currentVmcs(cpu);
  if (vector !== VMEXIT_VECTOR) {
    if (!exceptionExits(vmcs, vector, code)) return false;
    const hasCode = HAS_ERROR_CODE.has(vector) && (cpu.cr[0] & CR0_PE) !== 0 && !(cpu.eflags & VM);
    s.pending = {
      reason: EXIT_EXCEPTION_NMI,
      // #PF: the faulting linear address (CR2 keeps the guest's value: the fault did not happen).
      qualification: vector === PF ? cpu.pfLinear : 0,
      instructionLength: 0,
      instructionInfo: 0,
      guestLinear: 0,
      interruptionInfo: INTR_INFO_VALID | ((vector === NMI ? INTR_TYPE_NMI : INTR_TYPE_HW_EXCEPTION) << 8) |
        (hasCode ? INTR_INFO_ERROR_CODE : 0) | vector,
      interruptionError: hasCode ? code : 0,
    };
  }
  vmExit(cpu, vmcs);
  return true;
}

/** The exception bitmap, with #PF filtered by the error-code mask and match (SDM 25.6.3). */
function exceptionExits(vmcs: Vmcs, vector: number, code: number): boolean {
  const bit = (vmcs.get(F.EXCEPTION_BITMAP) >>> vector) & 1;
  if (vector !== PF) return bit === 1;
  const matches = (code & vmcs.get(F.PAGE_FAULT_ERROR_CODE_MASK)) === vmcs.get(F.PAGE_FAULT_ERROR_CODE_MATCH);
  return matches ? bit === 1 : bit === 0;
}

/** Triple fault in non-root operation: exit reason 2 instead of shutdown. */
export function vmxTripleFault(cpu: Cpu): void {
  const s = vmxState(cpu);
  s.pending = eventExit(EXIT_TRIPLE_FAULT);
  vmExit(cpu, currentVmcs(cpu));
}

/** The VMX-preemption timer counts down once per 2^5 TSC ticks (IA32_VMX_MISC[4:0] = 5). */
export const PREEMPTION_TIMER_NS = 32;

/**
 * The run loop's between-blocks check in non-root operation, in the SDM's priority order (26.x,
 * "Event Prioritization"): an expired VMX-preemption timer, then NMIs under NMI exiting, the NMI
 * window, external interrupts under external-interrupt exiting, then the interrupt window. True
 * when it exited.
 */
export function vmxPoll(cpu: Cpu): boolean {
  const s = vmxState(cpu), bus = cpu.bus;
  let reason = -1, info = 0;
  // Monitor trap flag (SDM 26.5.2): the exit comes after one instruction (or one event delivered
  // through the guest's IDT), before the preemption timer and interrupts. The core runs one
  // instruction per block while it is set, so every check after the first is due.
  const mtf = cpu.vmxMtf && s.mtfPending;
  if (cpu.vmxMtf) s.mtfPending = true;
  // Runs between every two blocks of a guest: the clock is read only while the timer is armed.
  if (mtf) reason = EXIT_MONITOR_TRAP_FLAG;
  else if (s.timerDeadline !== Infinity && bus.nowNs() >= s.timerDeadline) reason = EXIT_PREEMPTION_TIMER;
  else if (cpu.intShadow === 0) {
    const pin = s.pinControls, proc = s.procControls;
    // Under virtual NMIs the blocking the guest state tracks is virtual-NMI blocking: NMIs still
    // exit, and the NMI window opens when it ends (the guest's IRET; SDM 26.7.6). This CPU lets
    // blocking by STI hold the window closed too, as the SDM allows.
    const virtualNmis = (pin & PIN_VIRTUAL_NMIS) !== 0;
    if (bus.nmi && (virtualNmis || !cpu.nmiBlocked) && (pin & PIN_NMI_EXITING)) {
      bus.nmi = false;
      reason = EXIT_EXCEPTION_NMI;
      info = INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | NMI;
    } else if ((proc & CPU_NMI_WINDOW_EXITING) && !cpu.nmiBlocked) reason = EXIT_NMI_WINDOW;
    else if (bus.intr && bus.interruptController && (pin & PIN_EXT_INTR_EXITING)) {
      reason = EXIT_EXTERNAL_INTERRUPT;
      // With "acknowledge interrupt on exit" the vector is taken now and reported.
      if (currentVmcs(cpu).get(F.VM_EXIT_CONTROLS) & EXIT_ACK_INTR_ON_EXIT) {
        info = INTR_INFO_VALID | (INTR_TYPE_EXTERNAL << 8) | (bus.interruptController.acknowledge() & 0xff);
      }
    } else if ((proc & CPU_INTR_WINDOW_EXITING) && (cpu.eflags & IF)) reason = EXIT_INTERRUPT_WINDOW;
  }
  if (reason < 0) return false;
  const vmcs = currentVmcs(cpu);
  s.pending = eventExit(reason, info);
  vmExit(cpu, vmcs);
  return true;
}

/** Performs the pending exit: guest state to the VMCS, exit information, host state to the CPU. */
export function vmExit(cpu: Cpu, vmcs: Vmcs): void {
  const s = vmxState(cpu);
  const p = s.pending!;
  s.pending = undefined;
  saveGuestState(cpu, vmcs);
  if (s.timerDeadline !== Infinity && (vmcs.get(F.VM_EXIT_CONTROLS) & EXIT_SAVE_PREEMPTION_TIMER)) {
    const left = Math.ceil((s.timerDeadline - cpu.bus.nowNs()) / PREEMPTION_TIMER_NS);
    vmcs.set(F.VMX_PREEMPTION_TIMER_VALUE, Math.max(0, Math.min(left, 0xffffffff)));
  }
  s.timerDeadline = Infinity;
  recordExitInformation(vmcs, p);
  recordIdtVectoring(vmcs, s);
  s.nonRoot = false;
  cpu.vmxNonRoot = cpu.vmxMtf = cpu.vmxPolls = false;
  // After an exit caused by an NMI, NMIs are blocked in the host; otherwise they are not.
  const nmiExit = p.reason === EXIT_EXCEPTION_NMI && ((p.interruptionInfo >> 8) & 7) === INTR_TYPE_NMI;
  cpu.eptWalk = cpu.eptFetch = undefined;
  // Guest MSRs are stored after the guest state, before any host state is loaded (SDM 28.4).
  if (storeMsrList(cpu, vmcs.get(F.VM_EXIT_MSR_STORE_ADDR), vmcs.get(F.VM_EXIT_MSR_STORE_COUNT))) {
    return vmxAbort(cpu, vmcs, VMX_ABORT_SAVING_GUEST_MSRS);
  }
  loadHostState(cpu, vmcs);
  cpu.nmiBlocked = nmiExit;
  if (!loadHostMsrs(cpu, vmcs)) return;
  s.onExit?.(p);
}

/**
 * SDM 28.2.4: an exit that happens while an event is delivered through the guest's IDT reports
 * that event (with its error code, and for a software event its instruction's length), so the
 * VMM can deliver it again after handling the exit (a shadow-paging fault on the guest's stack,
 * say).
 */
function recordIdtVectoring(vmcs: Vmcs, s: VmxState): void {
  const d = s.delivering;
  if (!d) return;
  s.delivering = undefined;
  vmcs.set(F.IDT_VECTORING_INFO_FIELD, d.info);
  vmcs.set(F.IDT_VECTORING_ERROR_CODE, d.code);
  if (d.length) vmcs.set(F.VM_EXIT_INSTRUCTION_LEN, d.length);
}

/** Event-delivery kinds of lib/cpu/interrupts.ts (EV_EXCEPTION, EV_SOFTWARE, EV_EXTERNAL). */
const KIND_EXCEPTION = 0, KIND_SOFTWARE = 1;

/** The core's hook as an event's delivery through the IDT begins in non-root operation. */
export function vmxDelivering(cpu: Cpu, vector: number, kind: number, hasCode: boolean, code: number): void {
  const type = kind === KIND_EXCEPTION
    ? INTR_TYPE_HW_EXCEPTION
    : kind === KIND_SOFTWARE
    ? (vector === 3 || vector === 4 ? INTR_TYPE_SW_EXCEPTION : INTR_TYPE_SW_INTERRUPT)
    : vector === NMI
    ? INTR_TYPE_NMI
    : INTR_TYPE_EXTERNAL;
  vmxState(cpu).delivering = {
    info: INTR_INFO_VALID | (type << 8) | (hasCode ? INTR_INFO_ERROR_CODE : 0) | vector,
    code: hasCode ? code : 0,
    length: kind === KIND_SOFTWARE ? (cpu.eip - cpu.insnEip) & 0xf : 0,
  };
}

/** ...and as it completes. */
export function vmxDelivered(cpu: Cpu): void {
  vmxState(cpu).delivering = undefined;
}

/** VMX-abort indicators (SDM 28.7). */
export const VMX_ABORT_SAVING_GUEST_MSRS = 1, VMX_ABORT_LOADING_HOST_MSRS = 4;

/** The VM-exit MSR-load list, after host state; a failure is a VMX abort. False when it aborted. */
export function loadHostMsrs(cpu: Cpu, vmcs: Vmcs): boolean {
  if (!loadMsrList(cpu, vmcs.get(F.VM_EXIT_MSR_LOAD_ADDR), vmcs.get(F.VM_EXIT_MSR_LOAD_COUNT))) return true;
  vmxAbort(cpu, vmcs, VMX_ABORT_LOADING_HOST_MSRS);
  return false;
}

/**
 * VMX abort (SDM 28.7): the indicator is written to the VMCS region and the processor shuts down;
 * only RESET leaves the state, which for this machine is what a shutdown requests.
 */
function vmxAbort(cpu: Cpu, vmcs: Vmcs, indicator: number): void {
  vmcs.abortIndicator = indicator;
  const s = vmxState(cpu);
  s.nonRoot = false;
  cpu.vmxNonRoot = cpu.vmxMtf = cpu.vmxPolls = false;
  cpu.halted = true;
  cpu.bus.requestReset();
}

/** The VM-exit information fields (SDM 24.9) an exit writes, from a pending exit's record. */
export function recordExitInformation(vmcs: Vmcs, p: PendingExit): void {
  vmcs.set(F.VM_EXIT_REASON, p.reason);
  vmcs.set(F.EXIT_QUALIFICATION, p.qualification);
  vmcs.set(F.VM_EXIT_INSTRUCTION_LEN, p.instructionLength);
  vmcs.set(F.VMX_INSTRUCTION_INFO, p.instructionInfo);
  vmcs.set(F.GUEST_LINEAR_ADDRESS, p.guestLinear);
  vmcs.set(F.VM_EXIT_INTR_INFO, p.interruptionInfo);
  vmcs.set(F.VM_EXIT_INTR_ERROR_CODE, p.interruptionError);
  vmcs.set(F.IDT_VECTORING_INFO_FIELD, 0);
  if (p.guestPhysical !== undefined) {
    vmcs.set(F.GUEST_PHYSICAL_ADDRESS, p.guestPhysical);
    vmcs.set(F.GUEST_PHYSICAL_ADDRESS + 1, 0);
  }
}
