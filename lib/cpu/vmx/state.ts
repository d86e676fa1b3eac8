/**
 * Per-CPU VMX state outside the VMCS (Intel SDM Vol. 3C, 24.x "VMX operation"): whether the
 * CPU is in VMX operation, the VMXON pointer and the current-VMCS pointer. It hangs off the Cpu
 * in a WeakMap so the core's state layout stays as the CPU area defines it; a CPU that never
 * executes VMXON never gets an entry.
 */
import type { Cpu } from "../cpu.ts";
import type { PendingExit } from "./exit.ts";
import type { EptWalker } from "./ept.ts";
import { registerStatePart } from "../state.ts";
import { Vmcs } from "./vmcs.ts";

/** The current-VMCS pointer's "no current VMCS" value (FFFFFFFF_FFFFFFFFH), as -1 here. */
export const NO_VMCS = -1;

export class VmxState {
  /** In VMX operation (between VMXON and VMXOFF). */
  operation = false;
  /** In VMX non-root operation (an L2 runs). */
  nonRoot = false;
  vmxonPointer = 0;
  currentVmcs = NO_VMCS;
  /**
   * The current VMCS as the processor holds it (active, its fields on chip: vmcs.ts), once
   * something used it; undefined, or another address than `currentVmcs`, until then.
   */
  vmcs: Vmcs | undefined = undefined;
  /** The shadow VMCS (SDM 25.10) non-root VMREAD/VMWRITE last used, active like the current one. */
  shadow: Vmcs | undefined = undefined;
  /** The exit a non-root hook decided, until the run loop hands it to vmxException. */
  pending: PendingExit | undefined = undefined;
  /**
   * Called after every VM exit (host state loaded) with what the exit recorded: the seam for an L0
   * written in TypeScript (kvm_intel), which handles exits itself instead of running host code.
   */
  onExit: ((exit: PendingExit) => void) | undefined = undefined;
  /** Monitor trap flag: an instruction has run since entry or the last check (the exit is due). */
  mtfPending = false;
  /** Bus time (ns) at which the VMX-preemption timer reaches zero; Infinity when not active. */
  timerDeadline = Infinity;
  /**
   * The pin-based and primary processor-based controls of the VMCS entered last, cached at VM
   * entry: the between-blocks check reads them constantly, and no VMCS write reaches them while
   * the guest runs.
   */
  pinControls = 0;
  procControls = 0;
  /** The EPT walker of the EPTP entered last (kept while guests enter with the same EPTP). */
  ept: EptWalker | undefined = undefined;
  /**
   * Walkers by EPTP, a few at most: a walker holds no translation state, and an L0 alternating
   * between two VMCSs (vmcs01 and a nested L2's vmcs02) would otherwise build one at each entry.
   */
  readonly eptWalkers = new Map<number, EptWalker>();
  /**
   * The event being delivered through the guest's IDT (interruption-information format, error
   * code, instruction length of a software event), from the start of its delivery until it
   * completes: a VM exit in between reports it as IDT-vectoring information.
   */
  delivering: { info: number; code: number; length: number } | undefined = undefined;
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

/** The current VMCS, made active (its fields loaded on chip) at its first use since VMPTRLD. */
export function currentVmcs(cpu: Cpu): Vmcs {
  const s = vmxState(cpu);
  const v = s.vmcs;
  if (v !== undefined && v.address === s.currentVmcs) return v;
  return s.vmcs = new Vmcs(cpu.bus, s.currentVmcs).activate();
}

/**
 * Makes a VMCS current (VMPTRLD). The one current before stays active in this processor model
 * only as long as it is current: its data is written back now, so memory holds it again.
 * An L0 in TypeScript passes its own VMCS objects, which stay active all their life (nobody
 * else reads kvm_intel's pages), so switching between them writes nothing back.
 */
export function makeCurrent(cpu: Cpu, vmcs: Vmcs | number): void {
  const s = vmxState(cpu);
  const address = typeof vmcs === "number" ? vmcs : vmcs.address;
  if (typeof vmcs === "number" && s.shadow?.address === address) writeBackVmcs(cpu, address);
  const old = s.vmcs;
  if (old !== undefined && old.address !== address && typeof vmcs === "number") old.writeBack();
  s.currentVmcs = address;
  s.vmcs = typeof vmcs === "number" ? (old?.address === address ? old : undefined) : vmcs.activate();
}

/** VMCLEAR (and VMXOFF for the current one): the on-chip data goes back to memory. */
export function writeBackVmcs(cpu: Cpu, address: number): void {
  const s = vmxState(cpu);
  if (s.shadow?.address === address) {
    s.shadow.writeBack();
    s.shadow = undefined;
  }
  if (s.vmcs?.address !== address) return;
  s.vmcs.writeBack();
  s.vmcs = undefined;
}

/**
 * The shadow VMCS at `address` (the current VMCS's link pointer) as the processor holds it. An L0
 * in TypeScript sets `shadow` to its own VMCS object instead, as with `makeCurrent`.
 */
export function shadowVmcs(cpu: Cpu, address: number): Vmcs {
  const s = vmxState(cpu);
  const v = s.shadow;
  if (v !== undefined && v.address === address) return v;
  v?.writeBack();
  return s.shadow = new Vmcs(cpu.bus, address).activate();
}

/** RESET leaves VMX operation and forgets the VMXON and current-VMCS pointers. */
export function vmxReset(cpu: Cpu): void {
  STATES.delete(cpu);
  cpu.vmxNonRoot = cpu.vmxMtf = cpu.vmxPolls = false;
  cpu.eptWalk = cpu.eptFetch = undefined;
}

/**
 * The hook an entry installs for non-root translation (EPT) and that a restored snapshot
 * re-installs from the current VMCS; set by entry.ts, which depends on this file.
 */
export const nonRootHooks: { install: (cpu: Cpu) => void } = { install: () => {} };

/**
 * What a snapshot carries: the VMCS itself lives in guest memory (written back at save), so the
 * pointers suffice.
 */
interface VmxSnapshot {
  nonRoot: boolean;
  vmxonPointer: number;
  currentVmcs: number;
  /** Nanoseconds the VMX-preemption timer had left, or null when it was not active. */
  timerLeftNs: number | null;
  mtfPending?: boolean;
}

registerStatePart("vmx", {
  save: (state) => {
    const cpu = state as Cpu, s = STATES.get(cpu);
    if (!s?.operation) return undefined;
    // The snapshot's RAM must hold the current VMCS as the processor has it.
    s.vmcs?.writeBack(true);
    s.shadow?.writeBack(true);
    const left = s.timerDeadline === Infinity ? null : Math.max(0, s.timerDeadline - cpu.bus.nowNs());
    const out: VmxSnapshot = {
      nonRoot: s.nonRoot,
      vmxonPointer: s.vmxonPointer,
      currentVmcs: s.currentVmcs,
      timerLeftNs: left,
      mtfPending: s.mtfPending,
    };
    return out;
  },
  restore: (state, data) => {
    const cpu = state as Cpu;
    vmxReset(cpu);
    if (data === undefined) return;
    const d = data as VmxSnapshot, s = vmxState(cpu);
    s.operation = true;
    s.vmxonPointer = d.vmxonPointer;
    s.currentVmcs = d.currentVmcs;
    s.nonRoot = d.nonRoot;
    s.timerDeadline = d.timerLeftNs === null ? Infinity : cpu.bus.nowNs() + d.timerLeftNs;
    s.mtfPending = d.mtfPending ?? false;
    cpu.vmxNonRoot = cpu.vmxPolls = d.nonRoot;
    if (d.nonRoot) nonRootHooks.install(cpu);
    else cpu.selectTlb(0);
  },
});
