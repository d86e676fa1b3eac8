/**
 * The seam between the generic KVM code and the vendor module (kvm_intel), as in Linux's
 * kvm_x86_ops: KVM_RUN hands the vCPU to the backend, which enters the guest in VMX non-root
 * mode of the emulated CPU, handles in the simulated kernel what the kernel handles (CPUID, MSRs,
 * CR accesses, EPT or shadow-paging faults) and returns only with an exit user space must see,
 * written into kvm_run (IO, MMIO, HLT without an in-kernel irqchip, SHUTDOWN, FAIL_ENTRY,
 * INTERNAL_ERROR, SYSTEM_EVENT).
 */
import type { KvmRun } from "./kvm_run.ts";
import type { MemorySlots } from "./memory.ts";
import type { KvmCpuidEntry2, KvmRegs, KvmSregs } from "./structs.ts";
import type { VcpuStats } from "./stats.ts";
import type { MsrTable } from "./msrs.ts";
import type { VcpuIrqchip } from "./irqchip/irqchip.ts";

/** The module parameters that change how the vendor code runs a guest (the writable ones live). */
export interface VendorParams {
  /** kvm_intel ept: 0 means shadow paging. */
  ept: boolean;
  /** kvm_intel vpid: 0 means guests run without a VPID, so every VM entry and exit flushes the TLB. */
  vpid: boolean;
  /** kvm_intel unrestricted_guest: 0 means real mode cannot be entered directly. */
  unrestrictedGuest: boolean;
  /** kvm_intel nested: VMX offered to guests. */
  nested: boolean;
  /** kvm_intel enable_shadow_vmcs: L1's VMREAD/VMWRITE of the common fields run without exits. */
  shadowVmcs: boolean;
  /** kvm ignore_msrs / report_ignored_msrs. */
  ignoreMsrs: boolean;
  reportIgnoredMsrs: boolean;
  /** kvm halt_poll_ns: how long a halted vCPU polls before blocking. */
  haltPollNs: number;
  /**
   * Reads the writable parameters (ignore_msrs...) again now. They are read on use but kept for a
   * while (LiveParams); an ioctl from user space calls this first, so that a parameter written
   * just before it counts, as a sysfs write before an ioctl does in Linux.
   */
  reread(): void;
}

/** Whether the simulated signal (VcpuContext.signalAt/signalAtMs) is due. */
export function signalDue(ctx: VcpuContext): boolean {
  return ctx.instructions >= ctx.signalAt || performance.now() >= ctx.signalAtMs;
}

/** Disarms the simulated signal once it has ended a KVM_RUN. */
export function signalTaken(ctx: VcpuContext): void {
  ctx.signalAt = ctx.signalAtMs = Infinity;
}

/** What the generic code gives the backend for one vCPU; the backend reads and updates it in place. */
export interface VcpuContext {
  readonly id: number;
  readonly regs: KvmRegs;
  readonly sregs: KvmSregs;
  readonly msrs: Map<number, bigint>;
  /** The table from KVM_SET_CPUID2 (empty before). */
  cpuid: readonly KvmCpuidEntry2[];
  readonly memory: MemorySlots;
  readonly params: VendorParams;
  readonly stats: VcpuStats;
  /** Whether the VM has an in-kernel irqchip (then HLT is handled in the kernel). */
  readonly irqchip: boolean;
  /** An external interrupt queued by KVM_INTERRUPT, or -1. */
  pendingInterrupt: number;
  /**
   * The in-kernel PIC/IOAPIC/local APIC as this vCPU sees them (KVM_CREATE_IRQCHIP; vCPU 0 only):
   * the backend serves their ports and pages in the kernel and injects what they present.
   */
  readonly kernelIrqchip?: VcpuIrqchip;
  /** NMIs queued with KVM_NMI, not yet injected. */
  nmiPending: number;
  /** mp_state (KVM_MP_STATE_*): an in-kernel halt sets HALTED. */
  mpState: number;
  /** Guest instructions retired so far (the simulated CPU counts them exactly). */
  instructions: number;
  /**
   * The simulation's stand-in for a signal aimed at the vCPU thread: once `instructions` reaches
   * it, KVM_RUN returns EINTR with KVM_EXIT_INTR (Infinity: no signal armed).
   */
  signalAt: number;
  /** The same signal by the host's clock: due once performance.now() reaches it (ms; Infinity: none). */
  signalAtMs: number;
  /** The simulated host's clock (ns): the guest's TSC and the halt-polling time run on it. */
  readonly hostNowNs: () => number;
  /** The MSRs this VM's vCPUs have (KVM_GET_MSR_INDEX_LIST). */
  readonly msrTable: MsrTable;
  /** kvm_msr_ignored_check: true (and logged when report_ignored_msrs) when ignore_msrs masks the access. */
  ignoredMsr(index: number, data: bigint, write: boolean): boolean;
}

export interface VendorVcpu {
  /**
   * Runs the guest until an exit for user space; fills `run` (exit_reason and its union) and
   * updates the context. Throws ErrnoError for what Linux returns as an error from KVM_RUN;
   * returns "eintr" when a signal ended the run (exit_reason KVM_EXIT_INTR, errno EINTR).
   */
  run(run: KvmRun): void | "eintr";
  /**
   * A backend that keeps the guest's registers elsewhere while it runs (in the CPU and VMCS)
   * writes them back into the context before the generic code reads it...
   */
  saveToContext?(): void;
  /** ...and is told when the generic code changed the context (KVM_SET_REGS and friends). */
  contextChanged?(): void;
  /** RFLAGS.IF and whether KVM_INTERRUPT could be injected now, for kvm_run's status fields. */
  interruptStatus?(): { ifFlag: boolean; ready: boolean };
  /** User space wrote guest memory behind the CPU's back (the simulated CPU caches decoded code). */
  memoryWritten?(gpa: number, length: number): void;
}

export interface VendorBackend {
  /** "kvm_intel". */
  readonly name: string;
  createVcpu(context: VcpuContext): VendorVcpu;
}
