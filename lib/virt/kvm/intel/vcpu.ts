/**
 * kvm_intel's vCPU: KVM_RUN as vmx_vcpu_run and vcpu_enter_guest do it, on the emulated CPU.
 *
 * The vCPU owns one emulated CPU (lib/cpu) running on the VM's host-physical Bus (host_memory.ts).
 * L0, this file, is the host kernel: it never executes instructions on that CPU. It writes vmcs01
 * in its private host memory, puts the CPU in VMX operation with that VMCS current and calls the
 * CPU's VM entry (`vmEntry`), then `cpu.run()` executes the guest in VMX non-root operation until
 * a VM exit, which loads host state and stops the run loop (the exit hook sets the host Bus's stop
 * request). The exit is then dispatched (exits.ts): handled here and the guest re-entered (CPUID,
 * MSRs, CR accesses, EPT violations, in-kernel HLT, hypercalls) or returned to user space in
 * struct kvm_run (I/O, MMIO, HLT, SHUTDOWN, FAIL_ENTRY, INTERNAL_ERROR, IRQ_WINDOW_OPEN, INTR).
 *
 * Guest registers stay where VMX keeps them between KVM_RUNs (the CPU's general registers, the
 * VMCS guest area) and are copied into the API's structures only when user space asks.
 */
import { Cpu, withFeatures, X87 } from "../../../cpu/mod.ts";
import { CONTRIBUTORY, CpuFault, DF, PF } from "../../../cpu/faults.ts";
import {
  CPU_ACTIVATE_SECONDARY,
  CPU_CR3_LOAD_EXITING,
  CPU_CR3_STORE_EXITING,
  CPU_HLT_EXITING,
  CPU_INTR_WINDOW_EXITING,
  CPU_INVLPG_EXITING,
  CPU_MONITOR_TRAP_FLAG,
  CPU_NMI_WINDOW_EXITING,
  CPU_TRUE_DEFAULT1,
  CPU_UNCOND_IO_EXITING,
  ENTRY_TRUE_DEFAULT1,
  EXIT_ACK_INTR_ON_EXIT,
  EXIT_TRUE_DEFAULT1,
  PIN_NMI_EXITING,
  PIN_TRUE_DEFAULT1,
  PIN_VIRTUAL_NMIS,
  SEC_ENABLE_EPT,
  SEC_ENABLE_VPID,
  SEC_UNRESTRICTED_GUEST,
} from "../../../cpu/vmx/capabilities.ts";
import { EXIT_EPT_MISCONFIG } from "../../../cpu/vmx/ept.ts";
import { BLOCKING_BY_NMI } from "../../../cpu/vmx/transfer.ts";
import {
  INVEPT_SINGLE_CONTEXT,
  inveptTlb,
  INVVPID_SINGLE_CONTEXT,
  invvpidTlb,
} from "../../../cpu/vmx/tlb.ts";
import {
  exits as X,
  F,
  makeCurrent,
  type PendingExit,
  Vmcs,
  VMCS_REVISION,
  vmEntry,
  vmxState,
} from "../../../cpu/vmx/mod.ts";
const { INTR_INFO_ERROR_CODE, INTR_INFO_VALID, INTR_TYPE_EXTERNAL, INTR_TYPE_HW_EXCEPTION, INTR_TYPE_NMI } =
  X;
import type { AccessSize } from "../../../devices/bus.ts";
import { signalDue, signalTaken, type VcpuContext, type VendorVcpu } from "../backend.ts";
import { KVM_EXIT, KVM_MP_STATE } from "../constants.ts";
import type { KvmRun } from "../kvm_run.ts";
import { HOST_MODEL } from "../cpuid.ts";
import { CR0_NE, CR4_VMXE, guestCr, loadGuest, saveGuest } from "./guest_state.ts";
import { dispatchExit, type ExitResult, guestMsrRead, guestMsrWrite, haltInKernel } from "./exits.ts";
import { type L0Vcpu, nestedVmx } from "./nested_seam.ts";
import { injectIrqchipEvent, interruptsOpen } from "./irqchip.ts";
import type { VmxVm } from "./vm.ts";
import { ShadowMmu } from "./shadow_mmu.ts";
import { guestPagingRegs } from "./guest_memory.ts";
import type { PagingRegs } from "../../../cpu/page_walk.ts";
import { InsnRate } from "../../insn_rate.ts";

/** Guest instructions per cpu.run() call when no signal is armed (only bounds one call's length). */
const RUN_CHUNK = 1 << 22;
/** The fewest instructions a run toward an in-kernel irqchip timer's expiry is given. */
const MIN_TIMER_RUN = 1_000;
const PAGE = 4096;

/** One MMIO access waiting for user space (kvm_run.mmio), or an emulated ROM write. */
interface MmioAccess {
  gpa: number;
  size: AccessSize;
  write: boolean;
  value: number;
}

export class VmxVcpu implements VendorVcpu, L0Vcpu {
  readonly cpu: Cpu;
  readonly vmcs01: Vmcs;
  currentVmcs: Vmcs;
  /** The guest state is in the CPU and the VMCS (set at the first entry). */
  #loaded = false;
  /** The context holds the current registers (no run since the last save). */
  #contextFresh = true;
  /** User space changed the context: the next entry loads it. */
  #contextDirty = true;
  /** Work finishing an exit to user space before the next entry (Linux's complete_userspace_io). */
  #completion: ((run: KvmRun) => void) | undefined;
  /** The exit the CPU recorded (set by the VM-exit hook). */
  #exit: PendingExit | undefined;
  /** MMIO writes the guest made, in order, not yet handed to user space. */
  readonly mmioWrites: MmioAccess[] = [];
  /** The MMIO read that ended the run. */
  mmioRead: MmioAccess | undefined;
  /** Data user space supplied for the MMIO read of the instruction at `rip` (linear), replayed once. */
  #replay: { gpa: number; size: number; rip: number; value: number } | undefined;
  /** Guest pages of READONLY slots temporarily behind a window while a write to them is emulated. */
  readonly romWindows = new Set<number>();
  /** The VMCS of the last entry (vmcs01, or an L2's vmcs02). */
  #lastEntered: Vmcs | undefined;
  /** An exception queued for the next entry (VM-entry interruption information), or 0. */
  #pendingEvent = 0;
  #pendingEventCode = 0;
  /** The shadow MMU when kvm_intel runs with ept=0 (shadow_mmu.ts); undefined with EPT. */
  readonly shadow: ShadowMmu | undefined;
  /** A shutdown the nested code asked for (a VMX abort of L1), reported before the next entry. */
  #shutdown = false;
  /** The guest's instruction rate, to run it until the in-kernel irqchip's next timer expiry. */
  readonly #timerRate = new InsnRate(MIN_TIMER_RUN);
  /** The event whose delivery this exit cut short was handled by L0 (a task gate's switch). */
  #eventHandled = false;

  constructor(readonly vm: VmxVm, readonly ctx: VcpuContext) {
    // The host CPU: the simulated host's model with VMX, as the kvm_intel load check requires.
    this.cpu = new Cpu(vm.host.bus);
    this.cpu.model = withFeatures(HOST_MODEL, { vmx: true });
    this.cpu.fpu = new X87(this.cpu);
    this.vmcs01 = new Vmcs(vm.host.bus, vm.host.allocPage()).activate();
    this.currentVmcs = this.vmcs01;
    this.shadow = ctx.params.ept ? undefined : new ShadowMmu(this);
    this.#setupVmcs01();
    const s = vmxState(this.cpu);
    // The CPU is in VMX root operation with vmcs01 current, as after kvm_intel's VMXON/VMPTRLD.
    s.operation = true;
    s.vmxonPointer = vm.host.allocPage();
    makeCurrent(this.cpu, this.vmcs01);
    // L0 changed its EPT under a present mapping: INVEPT, as ept_sync_context does.
    vm.ept.onChange(() => inveptTlb(this.cpu, INVEPT_SINGLE_CONTEXT, vm.ept.eptp));
    s.onExit = (exit) => {
      this.#exit = exit;
      // Host state is loaded: the emulated CPU must not go on to run "host code"; L0 takes over.
      vm.host.bus.stopRequested = true;
    };
  }

  get host() {
    return this.vm.host;
  }

  // ---- vmcs01 ----

  /** The controls and host state of vmcs01 (vmx_vcpu_setup / init_vmcs). */
  #setupVmcs01(): void {
    const v = this.vmcs01, p = this.ctx.params;
    v.bus.write32(v.address, VMCS_REVISION);
    // No external-interrupt exiting: the simulated host has no interrupt sources of its own (the
    // guest's come through KVM_INTERRUPT), and without it compiled guest loops run in place. NMI
    // exiting with virtual NMIs, as KVM sets them: the guest's NMI blocking is tracked in vmcs01, and
    // an NMI that waits for the guest's IRET waits with NMI-window exiting.
    v.set(F.PIN_BASED_VM_EXEC_CONTROL, PIN_TRUE_DEFAULT1 | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS);
    v.set(F.CPU_BASED_VM_EXEC_CONTROL, this.#procControls(false));
    // ept=0: shadow paging (shadow_mmu.ts), which takes unrestricted guest with it (real mode refused).
    // vpid=1 (Linux's default): the guest's TLB entries carry VPID id + 1 and survive VM exits;
    // vpid=0: every entry and exit flushes them (SDM, VPID 0).
    v.set(
      F.SECONDARY_VM_EXEC_CONTROL,
      (this.shadow ? 0 : SEC_ENABLE_EPT | (p.unrestrictedGuest ? SEC_UNRESTRICTED_GUEST : 0)) |
        (p.vpid ? SEC_ENABLE_VPID : 0),
    );
    v.set(F.VIRTUAL_PROCESSOR_ID, p.vpid ? this.ctx.id + 1 : 0);
    v.set(F.VM_EXIT_CONTROLS, EXIT_TRUE_DEFAULT1 | EXIT_ACK_INTR_ON_EXIT);
    v.set(F.VM_ENTRY_CONTROLS, ENTRY_TRUE_DEFAULT1);
    // Shadow paging sees every #PF (shadow_mmu.ts fills the shadow or reflects the fault).
    v.set(F.EXCEPTION_BITMAP, this.shadow ? 1 << PF : 0);
    v.set(F.CR0_GUEST_HOST_MASK, CR0_NE);
    v.set(F.CR4_GUEST_HOST_MASK, CR4_VMXE);
    v.set(F.EPT_POINTER, this.vm.ept.eptp);
    v.set(F.VMCS_LINK_POINTER, -1);
    v.set(F.VMCS_LINK_POINTER + 1, -1);
    // A 32-bit flat host: L0 never runs code there, but host state must pass the entry checks.
    v.set(F.HOST_CR0, 0x80000031 | 0);
    v.set(F.HOST_CR3, this.vm.host.allocPage());
    v.set(F.HOST_CR4, CR4_VMXE);
    for (const f of ["ES", "SS", "DS", "FS", "GS"]) v.set(F[`HOST_${f}_SELECTOR`], 0x10);
    v.set(F.HOST_CS_SELECTOR, 0x08);
    v.set(F.HOST_TR_SELECTOR, 0x18);
  }

  #procControls(window: boolean): number {
    return CPU_TRUE_DEFAULT1 | CPU_HLT_EXITING | CPU_UNCOND_IO_EXITING | CPU_ACTIVATE_SECONDARY |
      (this.shadow ? CPU_CR3_LOAD_EXITING | CPU_CR3_STORE_EXITING | CPU_INVLPG_EXITING : 0) |
      (window ? CPU_INTR_WINDOW_EXITING : 0);
  }

  // ---- registers between KVM_RUNs ----
  // While L1 runs an L2 they are L2's, in vmcs02 (as Linux's vcpu->arch in guest mode).

  saveToContext(): void {
    if (!this.#loaded || this.#contextFresh) return;
    const vmcs = this.currentVmcs, l2 = vmcs !== this.vmcs01;
    saveGuest(this.cpu, vmcs, this.ctx, l2);
    if (this.shadow && !l2) this.ctx.sregs.cr3 = BigInt(this.shadow.guestCr3 >>> 0);
    this.#contextFresh = true;
  }

  contextChanged(): void {
    this.#contextDirty = true;
  }

  interruptStatus(): { ifFlag: boolean; ready: boolean } {
    if (!this.#loaded) {
      const ifFlag = (this.ctx.regs.rflags & 0x200n) !== 0n;
      return { ifFlag, ready: ifFlag && this.ctx.pendingInterrupt < 0 };
    }
    // In guest mode the flags are L2's (vmcs02), as KVM_GET_REGS would show them.
    const v = this.currentVmcs;
    const ifFlag = (v.get(F.GUEST_RFLAGS) & 0x200) !== 0;
    const shadow = (v.get(F.GUEST_INTERRUPTIBILITY_INFO) & 3) !== 0;
    // Under vmcs12's external-interrupt exiting an interrupt is L1's whatever L2's IF says.
    const l1Takes = v !== this.vmcs01 && !!nestedVmx()?.interruptExitsToL1(this);
    return { ifFlag, ready: (l1Takes || (ifFlag && !shadow)) && this.ctx.pendingInterrupt < 0 };
  }

  memoryWritten(gpa: number, length: number): void {
    for (let page = gpa - (gpa % PAGE); page < gpa + length; page += PAGE) {
      const slot = this.ctx.memory.find(page);
      if (!slot) continue;
      const from = Math.max(gpa, page), to = Math.min(gpa + length, page + PAGE);
      this.host.bus.dmaWritten(this.host.slotPage(slot, page) + (from - page), to - from);
    }
  }

  // ---- KVM_RUN ----

  run(run: KvmRun): void | "eintr" {
    this.vm.host.client = this;
    if (this.#contextDirty) {
      const vmcs = this.currentVmcs, l2 = vmcs !== this.vmcs01;
      loadGuest(this.cpu, vmcs, this.ctx, l2);
      if (!l2) this.shadow?.load();
      // New control registers from user space (KVM_SET_SREGS): what the TLB holds may be stale.
      this.#flushGuestTlb(vmcs);
      this.#contextDirty = false;
      this.#loaded = true;
    }
    this.#contextFresh = false;
    const completion = this.#completion;
    this.#completion = undefined;
    completion?.(run);
    // A vCPU halted in the kernel stays halted until the in-kernel irqchip has an event for it.
    if (this.ctx.mpState === KVM_MP_STATE.HALTED) {
      const halt = haltInKernel(this, run);
      if (halt !== "reenter") return halt === "eintr" ? "eintr" : undefined;
    }
    // MMIO writes the last run collected go out one per KVM_RUN, before the guest runs again.
    if (this.mmioWrites.length) {
      this.#deliverMmioWrite(run);
      return;
    }
    for (;;) {
      if (signalDue(this.ctx)) {
        signalTaken(this.ctx);
        this.ctx.stats.count("signal_exits");
        run.beginExit(KVM_EXIT.INTR);
        return "eintr";
      }
      if (
        run.request_interrupt_window && !this.ctx.irqchip && this.ctx.pendingInterrupt < 0 &&
        this.interruptStatus().ready
      ) {
        this.ctx.stats.count("request_irq_exits");
        run.beginExit(KVM_EXIT.IRQ_WINDOW_OPEN);
        return;
      }
      const result = this.#enterAndRun(run);
      if (result === "user") return;
      if (result === "eintr") return "eintr";
    }
  }

  /** One VM entry, the guest until an exit, and the exit's dispatch. */
  #enterAndRun(run: KvmRun): ExitResult {
    const kick = this.#eventsForL1();
    if (this.#shutdown) {
      this.#shutdown = false;
      run.beginExit(KVM_EXIT.SHUTDOWN);
      return "user";
    }
    const cpu = this.cpu, bus = this.vm.host.bus, vmcs = this.currentVmcs;
    this.#prepareEvents(run, vmcs, kick);
    this.#exit = undefined;
    this.#eventHandled = false;
    bus.stopRequested = false;
    makeCurrent(cpu, vmcs);
    const injected = vmcs.get(F.VM_ENTRY_INTR_INFO_FIELD);
    this.#untrackedTlbFlush(vmcs);
    vmEntry(cpu, vmcs);
    const duringDelivery = !cpu.vmxNonRoot && this.#exit !== undefined && (injected & INTR_INFO_VALID) !== 0;
    // Out of non-root operation with no exit recorded: the entry failed, VMfailValid (an error
    // number) or a failed-entry exit (bit 31 set). An exit recorded here came from delivering the
    // injected event (an EPT violation on the guest's IDT or stack, say) and is dispatched below.
    if (!cpu.vmxNonRoot && !this.#exit) {
      const failure = (cpu.eflagsValue & 0x41)
        ? vmcs.get(F.VM_INSTRUCTION_ERROR)
        : vmcs.get(F.VM_EXIT_REASON);
      run.exitFailEntry(BigInt(failure >>> 0), 0);
      return "user";
    }
    // The event queued for L2 is delivered; the interrupt for L1 now leaves L2 (an L0 exit first).
    if (kick && cpu.vmxNonRoot) this.#forceExit(X.EXIT_EXTERNAL_INTERRUPT, 0);
    while (cpu.vmxNonRoot) {
      const chip = this.ctx.kernelIrqchip, deadlineNs = chip ? chip.nextDeadlineNs() : Infinity;
      const timers = deadlineNs < Infinity;
      let budget = RUN_CHUNK, endMs = this.ctx.signalAtMs;
      const started = performance.now();
      if (timers) {
        // The hrtimer's expiry, as a host time and as the instructions expected to run until then.
        const ms = Math.max(0, (deadlineNs - this.ctx.hostNowNs()) / 1e6);
        budget = this.#timerRate.budgetFor(ms);
        endMs = Math.min(endMs, started + ms);
      }
      budget = Math.min(budget, Math.max(1, this.ctx.signalAt - this.ctx.instructions));
      bus.sliceEndMs = endMs;
      if (cpu.run(budget) === "budget" && timers) {
        this.#timerRate.observe(cpu.lastRun, performance.now() - started);
      }
      this.ctx.instructions += cpu.lastRun;
      if (!cpu.vmxNonRoot) break;
      // Still in the guest: a captured MMIO write stopped it after the instruction, or the budget
      // ran out. Both leave through a VM exit here (the host's timer interrupt, for the latter).
      if (bus.stopRequested) {
        bus.stopRequested = false;
        this.#forceExit(EXIT_EPT_MISCONFIG, this.mmioWrites[0]?.gpa ?? 0);
        break;
      }
      // The host's timer interrupt: a signal is due, or an in-kernel irqchip timer (an hrtimer) expired.
      if (signalDue(this.ctx) || (chip && chip.nextDeadlineNs() <= this.ctx.hostNowNs())) {
        this.#forceExit(X.EXIT_EXTERNAL_INTERRUPT, 0);
        break;
      }
    }
    bus.stopRequested = false;
    const exit = this.#exit;
    if (!exit) throw new Error("kvm_intel: the guest stopped without a VM exit");
    // An event the guest itself raised, cut short by this exit, is delivered again (the injected
    // one is handled below).
    if (!duringDelivery && vmcs === this.vmcs01) this.#completeInterrupts(vmcs);
    const result = dispatchExit(this, exit, run);
    // An L2's is delivered again only when L0 kept the exit: one reflected to L1 reports it in
    // vmcs12's IDT-vectoring fields for L1 to deliver.
    if (!duringDelivery && vmcs !== this.vmcs01 && this.currentVmcs === vmcs && !this.#pendingEvent) {
      this.#completeInterrupts(vmcs);
    }
    // The event's delivery was cut short by an exit L0 handled (an EPT violation on the IDT or
    // stack): it is injected again (Linux's vmx_complete_interrupts, from IDT-vectoring info).
    if (
      duringDelivery && !this.#eventHandled && this.currentVmcs === vmcs &&
      !(vmcs.get(F.VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID)
    ) {
      vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD, injected);
    }
    return result;
  }

  /**
   * vmx_check_nested_events while L2 runs: an NMI (KVM_NMI or the in-kernel local APIC's) under
   * vmcs12's NMI exiting, or an interrupt (KVM_INTERRUPT or the in-kernel chips') under its
   * external-interrupt exiting, is L1's and becomes a VM exit from L2 to L1 here (an NMI first). An
   * event already queued for L2 (L1's injection, L0's exception) is delivered first: then this
   * returns true, and L0 enters L2 and leaves it at once (Linux's immediate exit) to come back;
   * L1's events must not be injected into L2 meanwhile.
   */
  #eventsForL1(): boolean {
    const nested = this.ctx.params.nested ? nestedVmx() : undefined;
    if (!nested?.guestMode(this)) return false;
    const chip = this.ctx.kernelIrqchip;
    if (chip) {
      chip.runTimers();
      if (chip.takeNmi()) this.ctx.nmiPending++;
    }
    const nmi = this.ctx.nmiPending > 0 && nested.nmiExitsToL1(this);
    const intr = (this.ctx.pendingInterrupt >= 0 || !!chip?.hasInterrupt()) &&
      nested.interruptExitsToL1(this);
    if (!nmi && !intr) return false;
    if (this.#pendingEvent || (this.currentVmcs.get(F.VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID)) {
      return true;
    }
    if (nmi) {
      this.ctx.nmiPending--;
      nested.exitForNmi(this);
    } else {
      // "Acknowledge interrupt on exit" takes the vector now; otherwise it stays pending for L1.
      nested.exitForInterrupt(this, () => {
        if (this.ctx.pendingInterrupt < 0) return chip!.acknowledge();
        const vector = this.ctx.pendingInterrupt;
        this.ctx.pendingInterrupt = -1;
        return vector;
      });
    }
    return false;
  }

  /**
   * L0 tracks what vmcs01's VPID-tagged TLB entries derive from: its own EPT tables, or shadow
   * paging (shadow_mmu.ts invalidates what it changes; after an L2 ran, the nested VM exit loaded
   * vmcs12's host CR3 behind its back, so L1's entries go). A nested guest's (vmcs02) are the
   * nested code's: it flushes what L1's VM entries and exits need (lib/virt/kvm/nested/tlb.ts).
   */
  #untrackedTlbFlush(vmcs: Vmcs): void {
    const back = this.#lastEntered !== vmcs;
    this.#lastEntered = vmcs;
    if (vmcs === this.vmcs01 && this.shadow && back) this.#flushGuestTlb(vmcs);
  }

  /** INVVPID of the guest's context (without a VPID the next entry flushes anyway). */
  #flushGuestTlb(vmcs: Vmcs): void {
    const vpid = vmcs.get(F.VIRTUAL_PROCESSOR_ID) & 0xffff;
    if (vpid) invvpidTlb(this.cpu, INVVPID_SINGLE_CONTEXT, vpid, 0);
  }

  /**
   * vmx_complete_interrupts for events that began in the guest: an exit in the middle of their
   * delivery (IDT-vectoring information; a shadow-paging #PF on the guest's IDT or stack, say)
   * leaves them to be delivered again at the next entry. A hardware exception or NMI is
   * re-injected (a single-step trap would otherwise be lost); a software interrupt or exception
   * needs nothing, the guest's RIP is still at its instruction.
   */
  #completeInterrupts(vmcs: Vmcs): void {
    const info = vmcs.get(F.IDT_VECTORING_INFO_FIELD);
    const type = (info >> 8) & 7;
    if (!(info & INTR_INFO_VALID) || (type !== INTR_TYPE_HW_EXCEPTION && type !== INTR_TYPE_NMI)) return;
    this.#pendingEvent = info & (INTR_INFO_VALID | INTR_INFO_ERROR_CODE | 0x7ff);
    this.#pendingEventCode = vmcs.get(F.IDT_VECTORING_ERROR_CODE);
  }

  /** A VM exit that happens between instructions (no fault): guest state as it stands. */
  #forceExit(reason: number, gpa: number): void {
    // An external interrupt is the host's local timer (LOCAL_TIMER_VECTOR, 0xEC).
    const info = reason === X.EXIT_EXTERNAL_INTERRUPT ? INTR_INFO_VALID | 0xec : 0;
    vmxState(this.cpu).pending = X.eventExit(reason, info, reason === EXIT_EPT_MISCONFIG ? gpa : undefined);
    X.vmExit(this.cpu, this.currentVmcs);
  }

  /**
   * Event injection for the coming entry: a queued exception, else an NMI or the in-kernel
   * irqchip's interrupt (irqchip.ts), else a KVM_INTERRUPT vector (neither NMIs nor interrupts when
   * they are L1's: `forL1`), never over an event already queued (L1's for its L2 in vmcs12, or one
   * being re-injected). An NMI the guest blocks waits for an NMI window on vmcs01.
   */
  #prepareEvents(run: KvmRun, vmcs: Vmcs, forL1: boolean): void {
    const queued = (vmcs.get(F.VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID) !== 0;
    const open = !queued && interruptsOpen(vmcs) && this.#replay === undefined;
    // On vmcs02 the chips' events are L2's unless L1 takes them by VM exits (#eventsForL1).
    const nested = vmcs === this.vmcs01 ? undefined : nestedVmx();
    const l2Chip = !!nested && !nested.interruptExitsToL1(this) && !nested.nmiExitsToL1(this);
    const chip = !nested || l2Chip ? this.ctx.kernelIrqchip : undefined;
    // An interrupt the chips hold behind a queued event waits for the next window.
    let window = queued && !!chip?.hasInterrupt();
    if (this.#pendingEvent) {
      vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD, this.#pendingEvent);
      vmcs.set(F.VM_ENTRY_EXCEPTION_ERROR_CODE, this.#pendingEventCode);
      this.#pendingEvent = 0;
    } else if (!queued && !forL1 && (this.ctx.nmiPending || chip)) {
      window = injectIrqchipEvent(this, chip, vmcs, open) || this.ctx.pendingInterrupt >= 0;
    } else if (this.ctx.pendingInterrupt >= 0 && !forL1) {
      if (open) {
        vmcs.set(
          F.VM_ENTRY_INTR_INFO_FIELD,
          INTR_INFO_VALID | (INTR_TYPE_EXTERNAL << 8) | this.ctx.pendingInterrupt,
        );
        this.ctx.pendingInterrupt = -1;
        this.ctx.stats.count("irq_injections");
      } else window = true;
    }
    // With the PIC in the kernel, user space's request_interrupt_window means nothing (Linux ignores it).
    if (run.request_interrupt_window && !this.ctx.irqchip) window = true;
    // Only an MMIO read being replayed holds the interrupt back: a window would exit before that
    // instruction runs, forever. It runs alone instead (monitor trap flag), and the entry after injects.
    const step = window && vmcs === this.vmcs01 && this.#replay !== undefined && interruptsOpen(vmcs);
    if (step) window = false;
    // On vmcs02 L1's controls stay in force (RDTSC, MTF, bitmaps...); L0 only adds its window.
    vmcs.set(
      F.CPU_BASED_VM_EXEC_CONTROL,
      nested
        ? nested.procControls02(this) | (window ? CPU_INTR_WINDOW_EXITING : 0)
        : this.#procControls(window) | (step ? CPU_MONITOR_TRAP_FLAG : 0) |
          (this.ctx.nmiPending ? CPU_NMI_WINDOW_EXITING : 0),
    );
    // An NMI delivered again after an exit cut its delivery short left blocking by NMI set, which
    // an NMI injection under virtual NMIs may not have (vmx_complete_interrupts clears it too).
    const info = vmcs.get(F.VM_ENTRY_INTR_INFO_FIELD);
    if ((info & INTR_INFO_VALID) && ((info >> 8) & 7) === INTR_TYPE_NMI) {
      vmcs.set(F.GUEST_INTERRUPTIBILITY_INFO, vmcs.get(F.GUEST_INTERRUPTIBILITY_INFO) & ~BLOCKING_BY_NMI);
    }
  }

  // ---- helpers for the exit handlers and the nested code ----

  injectException(vector: number, errorCode?: number): void {
    // Real mode delivers no error code (kvm_inject_exception drops it outside protected mode).
    if (!(this.currentVmcs.get(F.GUEST_CR0) & 1)) errorCode = undefined;
    // kvm_multiple_exception: a fault while an exception is being delivered again is a #DF when
    // the SDM's table says so; otherwise the new one wins (the first recurs when its cause does).
    const prior = this.#pendingEvent;
    if ((prior & INTR_INFO_VALID) && ((prior >> 8) & 7) === INTR_TYPE_HW_EXCEPTION) {
      const first = prior & 0xff;
      const contributory = CONTRIBUTORY.has(vector) || vector === PF;
      if ((CONTRIBUTORY.has(first) && CONTRIBUTORY.has(vector)) || (first === PF && contributory)) {
        vector = DF;
        errorCode = 0;
      }
    }
    this.#pendingEvent = INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | vector |
      (errorCode !== undefined ? INTR_INFO_ERROR_CODE : 0);
    this.#pendingEventCode = errorCode ?? 0;
  }

  /**
   * The event the exit's IDT-vectoring information reports was delivered by L0 itself (a task
   * gate's switch): it is neither re-injected from that information nor injected again.
   */
  eventHandled(): void {
    this.#pendingEvent = 0;
    this.#eventHandled = true;
  }

  skipInstruction(): void {
    const v = this.currentVmcs;
    v.set(F.GUEST_RIP, (v.get(F.GUEST_RIP) + v.get(F.VM_EXIT_INSTRUCTION_LEN)) | 0);
    // Blocking by STI or MOV SS ends with the instruction it covered.
    v.set(F.GUEST_INTERRUPTIBILITY_INFO, v.get(F.GUEST_INTERRUPTIBILITY_INFO) & ~3);
  }

  readMsr(index: number): bigint | undefined {
    return guestMsrRead(this, index);
  }

  writeMsr(index: number, value: bigint): boolean {
    return guestMsrWrite(this, index, value);
  }

  requestShutdown(): void {
    this.#shutdown = true;
  }

  /** Runs `fn` on the next KVM_RUN, before the guest (the second half of an exit to user space). */
  completeOnNextRun(fn: (run: KvmRun) => void): void {
    this.#completion = fn;
  }

  gpaToHpa(gpa: number): number | undefined {
    const page = gpa - (gpa % PAGE);
    const slot = this.ctx.memory.find(page);
    return slot ? this.host.slotPage(slot, page) + (gpa - page) : undefined;
  }

  /** General register n (CPU order) of the guest after an exit; ESP lives in the VMCS then. */
  gpr(n: number): number {
    return n === 4 ? this.currentVmcs.get(F.GUEST_RSP) : this.cpu.regs[n];
  }

  setGpr(n: number, v: number): void {
    if (n === 4) this.currentVmcs.set(F.GUEST_RSP, v);
    else this.cpu.regs[n] = v;
  }

  guestCr(cr: 0 | 4): number {
    return guestCr(this.currentVmcs, cr);
  }

  pagingRegs(): PagingRegs {
    return guestPagingRegs(this);
  }

  l1ControlRegistersLoaded(): void {
    this.shadow?.load();
  }

  /** The current guest's CR3 as it wrote it (with shadow paging the VMCS holds the shadow root). */
  guestCr3(): number {
    return this.shadow && this.currentVmcs === this.vmcs01
      ? this.shadow.guestCr3
      : this.currentVmcs.get(F.GUEST_CR3);
  }

  // ---- MMIO (host_memory.ts windows call these while the guest runs) ----

  /** The linear address of the instruction being executed. */
  #rip(): number {
    return (this.cpu.segBase[1] + this.cpu.insnEip) | 0;
  }

  windowRead(gpa: number, size: AccessSize): number {
    const slot = this.ctx.memory.find(gpa);
    if (slot) {
      // A READONLY slot page behind a window while a write to it is emulated: reads see the slot.
      let v = 0;
      for (let k = 0; k < size; k++) v |= slot.bytes[gpa - slot.gpa + k] << (8 * k);
      return v >>> 0;
    }
    const chip = this.ctx.kernelIrqchip;
    if (chip?.ownsMmio(gpa)) return chip.mmioRead(gpa, size);
    const rip = this.#rip();
    const r = this.#replay;
    if (r && r.gpa === gpa && r.size === size && r.rip === rip) {
      this.#replay = undefined;
      return r.value;
    }
    // Writes collected earlier go out first; this instruction runs again afterwards.
    if (!this.mmioWrites.length) this.mmioRead = { gpa, size, write: false, value: 0 };
    this.#throwExit(gpa);
  }

  windowWrite(gpa: number, size: AccessSize, value: number): void {
    const chip = this.ctx.kernelIrqchip;
    // An in-kernel APIC/IOAPIC register: written here; the exit after the instruction lets the
    // next entry inject what the write made pending (an EOI uncovering the next interrupt...).
    if (chip?.ownsMmio(gpa)) chip.mmioWrite(gpa, size, value);
    else this.mmioWrites.push({ gpa, size, write: true, value });
    // Leave after this instruction: the write reaches user space before the guest goes on.
    this.cpu.breakBlock = true;
    this.vm.host.bus.stopRequested = true;
  }

  #throwExit(gpa: number): never {
    vmxState(this.cpu).pending = X.eventExit(EXIT_EPT_MISCONFIG, 0, gpa);
    // The VM-exit pseudo-fault: the CPU rolls back to the instruction and performs the exit.
    throw new CpuFault(X.VMEXIT_VECTOR, 0);
  }

  /** kvm_run.mmio for the oldest collected write. */
  #deliverMmioWrite(run: KvmRun): void {
    const w = this.mmioWrites.shift()!;
    const data = new Uint8Array(8);
    new DataView(data.buffer).setUint32(0, w.value, true);
    run.exitMmio(BigInt(w.gpa), w.size, true, data);
    this.ctx.stats.count("mmio_exits");
  }

  /** Exit to user space for an MMIO access the guest made (exits.ts, EPT misconfiguration). */
  mmioExit(run: KvmRun): ExitResult {
    this.ctx.stats.count("insn_emulation");
    if (this.mmioWrites.length) {
      this.vm.restoreRomPages(this);
      this.#deliverMmioWrite(run);
      return "user";
    }
    const r = this.mmioRead;
    if (!r) return "reenter";
    this.mmioRead = undefined;
    run.exitMmio(BigInt(r.gpa), r.size, false);
    this.ctx.stats.count("mmio_exits");
    const rip = (this.currentVmcs.get(F.GUEST_CS_BASE) + this.currentVmcs.get(F.GUEST_RIP)) | 0;
    this.completeOnNextRun((kr) => {
      const d = kr.mmio.data;
      const value = (d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24)) >>> 0;
      this.#replay = {
        gpa: r.gpa,
        size: r.size,
        rip,
        value: r.size === 4 ? value : value & ((1 << (8 * r.size)) - 1),
      };
    });
    return "user";
  }
}
