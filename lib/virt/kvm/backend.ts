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

/** The module parameters that change how the vendor code runs a guest (read at VM creation). */
export interface VendorParams {
  /** kvm_intel ept: 0 means shadow paging. */
  ept: boolean;
  /** kvm_intel unrestricted_guest: 0 means real mode cannot be entered directly. */
  unrestrictedGuest: boolean;
  /** kvm_intel nested: VMX offered to guests. */
  nested: boolean;
  /** kvm ignore_msrs / report_ignored_msrs. */
  ignoreMsrs: boolean;
  reportIgnoredMsrs: boolean;
  /** kvm halt_poll_ns: how long a halted vCPU polls before blocking. */
  haltPollNs: number;
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
}

export interface VendorVcpu {
  /**
   * Runs the guest until an exit for user space; fills `run` (exit_reason and its union) and
   * updates the context. Throws ErrnoError for what Linux returns as an error from KVM_RUN.
   */
  run(run: KvmRun): void;
}

export interface VendorBackend {
  /** "kvm_intel". */
  readonly name: string;
  createVcpu(context: VcpuContext): VendorVcpu;
}
