/**
 * THE NESTED-VMX SEAM of kvm_intel's exit dispatch (exits.ts), for lib/virt/kvm/nested/.
 *
 * L0 (vcpu.ts) routes exactly two kinds of exits here, and asks one question about interrupts:
 *
 * 1. While L1 runs (not in guest mode): the exits of L1's VMX instructions (VMCALL is a hypercall
 *    and stays in L0; VMCLEAR..VMXON = 19-27, INVEPT = 50, INVVPID = 53). Without a registered
 *    implementation, or with kvm_intel nested=0, L0 injects #UD as Linux's handle_vmx_instruction.
 * 2. While L1 is in guest mode (an L2 runs on vmcs02): every exit, first. The implementation says
 *    whether it reflected the exit to L1 (emulating a VM exit into L1: vmcs01 current again) or
 *    leaves it to L0's own handling (an EPT violation of L0's EPT, I/O L1 does not intercept...).
 * 3. While in guest mode, an interrupt user space queued (KVM_INTERRUPT) is L1's when vmcs12 has
 *    external-interrupt exiting (Linux's nested_exit_on_intr), and an NMI (KVM_NMI) when it has
 *    NMI exiting: L0 then never injects it into L2 but asks the implementation for the VM exit
 *    from L2 to L1 (vmx_check_nested_events).
 *
 * To switch between L1 and L2 the implementation points `L0Vcpu.currentVmcs` at vmcs02 or back at
 * `L0Vcpu.vmcs01`; L0 enters whichever is current (VMRESUME semantics: the launch state is
 * ignored by L0's entry path). Registration: lib/virt/kvm/nested/ calls `registerNestedVmx` at
 * module load, and lib/virt/kvm/mod.ts imports lib/virt/kvm/nested/mod.ts for that side effect.
 */
import type { Cpu } from "../../../cpu/mod.ts";
import type { PagingRegs } from "../../../cpu/page_walk.ts";
import type { PendingExit, Vmcs } from "../../../cpu/vmx/mod.ts";
import type { VcpuContext } from "../backend.ts";
import type { HostMemory } from "./host_memory.ts";

/** What L0 exposes of one vCPU to the nested code. */
export interface L0Vcpu {
  readonly cpu: Cpu;
  readonly ctx: VcpuContext;
  readonly host: HostMemory;
  /** L1's own VMCS, which L0 built and enters while L1 runs. */
  readonly vmcs01: Vmcs;
  /** The VMCS L0 enters next (vmcs01, or a vmcs02 the nested code built). */
  currentVmcs: Vmcs;
  /** CR0/CR4 as the current guest sees them, and its CR3 (with shadow paging, not the shadow root's). */
  guestCr(cr: 0 | 4): number;
  guestCr3(): number;
  /** The current guest's paging registers as it set them (guest_memory.ts guestPagingRegs). */
  pagingRegs(): PagingRegs;
  /**
   * vmcs01's CR0, CR3 and CR4 (and their read shadows) were just written as L1's own values (a
   * nested VM exit loaded vmcs12's host state): L0's paging of L1 takes them over (shadow paging).
   */
  l1ControlRegistersLoaded(): void;
  /** Guest-physical (L1) to host-physical, through L0's memory slots; undefined for MMIO. */
  gpaToHpa(gpa: number): number | undefined;
  /** Queues a hardware exception for the next entry into the current VMCS. */
  injectException(vector: number, errorCode?: number): void;
  /** Moves the current guest's RIP past the instruction that exited. */
  skipInstruction(): void;
  /** RDMSR/WRMSR of the current guest (undefined / false where they #GP). */
  readMsr(index: number): bigint | undefined;
  writeMsr(index: number, value: bigint): boolean;
  /** The vCPU shuts down (KVM_REQ_TRIPLE_FAULT): the next KVM_RUN step exits with KVM_EXIT_SHUTDOWN. */
  requestShutdown(): void;
}

/** What the nested code answers for an exit: handled (re-enter), or left to L0's dispatch. */
export type NestedVerdict = "handled" | "l0";

export interface NestedVmx {
  /** Case 1: a VMX-instruction exit of L1. */
  vmxInstruction(vcpu: L0Vcpu, exit: PendingExit): NestedVerdict;
  /** Case 2: whether L1 is in guest mode (running L2) on this vCPU. */
  guestMode(vcpu: L0Vcpu): boolean;
  /** Case 2: any exit while in guest mode. */
  l2Exit(vcpu: L0Vcpu, exit: PendingExit): NestedVerdict;
  /** Case 3: whether L1 takes external interrupts by a VM exit while its L2 runs. */
  interruptExitsToL1(vcpu: L0Vcpu): boolean;
  /**
   * Case 3: the VM exit from L2 to L1 for an interrupt (reason 1). Under vmcs12's "acknowledge
   * interrupt on exit" it calls `acknowledge` for the vector (into the exit's interruption
   * information); otherwise the interrupt stays pending for L1 to take through its own IDT.
   */
  exitForInterrupt(vcpu: L0Vcpu, acknowledge: () => number): void;
  /** Case 3: whether L1 takes NMIs by a VM exit while its L2 runs. */
  nmiExitsToL1(vcpu: L0Vcpu): boolean;
  /** Case 3: the VM exit from L2 to L1 for an NMI (reason 0 with the NMI's interruption information). */
  exitForNmi(vcpu: L0Vcpu): void;
  /** The processor-based controls of vmcs02 (L1's, merged), before L0 adds interrupt-window exiting. */
  procControls02(vcpu: L0Vcpu): number;
}

let registered: NestedVmx | undefined;

export function registerNestedVmx(impl: NestedVmx): void {
  registered = impl;
}

export function nestedVmx(): NestedVmx | undefined {
  return registered;
}
