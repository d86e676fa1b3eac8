/**
 * Per-CPU VMX state outside the VMCS (Intel SDM Vol. 3C, 24.x "VMX operation"): whether the
 * CPU is in VMX operation, the VMXON pointer and the current-VMCS pointer. It hangs off the Cpu
 * in a WeakMap so the core's state layout stays as the CPU area defines it; a CPU that never
 * executes VMXON never gets an entry.
 */
import type { Cpu } from "../cpu.ts";
import type { PendingExit } from "./exit.ts";

/** The current-VMCS pointer's "no current VMCS" value (FFFFFFFF_FFFFFFFFH), as -1 here. */
export const NO_VMCS = -1;

export class VmxState {
  /** In VMX operation (between VMXON and VMXOFF). */
  operation = false;
  /** In VMX non-root operation (an L2 runs). */
  nonRoot = false;
  vmxonPointer = 0;
  currentVmcs = NO_VMCS;
  /** The exit a non-root hook decided, until the run loop hands it to vmxException. */
  pending: PendingExit | undefined = undefined;
  /**
   * Called after every VM exit (host state loaded) with what the exit recorded: the seam for an L0
   * written in TypeScript (kvm_intel), which handles exits itself instead of running host code.
   */
  onExit: ((exit: PendingExit) => void) | undefined = undefined;
  /** Bus time (ns) at which the VMX-preemption timer reaches zero; Infinity when not active. */
  timerDeadline = Infinity;
  /**
   * The pin-based and primary processor-based controls of the VMCS entered last, cached at VM
   * entry: the between-blocks check reads them constantly, and no VMCS write reaches them while
   * the guest runs.
   */
  pinControls = 0;
  procControls = 0;
}

const STATES = new WeakMap<Cpu, VmxState>();

export function vmxState(cpu: Cpu): VmxState {
  let s = STATES.get(cpu);
  if (!s) STATES.set(cpu, s = new VmxState());
  return s;
}

/** True while the CPU is in VMX operation; false (without allocating) for every other CPU. */
export function inVmxOperation(cpu: Cpu): boolean {
  return STATES.get(cpu)?.operation === true;
}

/** RESET leaves VMX operation and forgets the VMXON and current-VMCS pointers. */
export function vmxReset(cpu: Cpu): void {
  STATES.delete(cpu);
}
