/**
 * handle_task_switch → kvm_task_switch: L0 performs a guest's hardware task switch (TASK_SWITCH
 * exit, reason 9) in its own emulator, as Linux's kvm_intel does, counted as insn_emulation.
 *
 * The switch itself is the CPU's (lib/cpu/task.ts, one implementation): it runs on an emulator
 * context, a second lib/cpu `Cpu` that L0 owns (Linux's x86_emulate_ctxt), loaded with the guest's
 * state from the VMCS and the CPU's general registers, and never executing an instruction. Its
 * linear accesses go through the guest's own paging (page_walk.ts, with the guest's CR0/CR3/CR4
 * as it set them, the new task's CR3 once loaded) and the memory slots, as kvm_read_guest_virt
 * does; pages it writes are reported to the vCPU's decoded-code cache.
 *
 * As handle_task_switch does: the instruction (JMP, CALL, IRET, INT n) is skipped first, so the old
 * task saves the next EIP; an event delivered through a task gate (IDT-vectoring information: a
 * hardware exception with its error code, an NMI, an external interrupt) is not, and is consumed
 * by the switch instead of being injected again; an NMI leaves NMIs blocked. A fault before the
 * switch commits leaves the guest at the instruction and is injected (a double fault where the
 * event's delivery makes it one); after it commits the new task's state is written back and the
 * fault is injected there (SDM 7.3). A TSS or descriptor in no slot (MMIO) is more than this
 * emulator does: KVM_EXIT_INTERNAL_ERROR (emulation), as kvm_task_switch's failure.
 */
import { Cpu } from "../../../cpu/mod.ts";
import { CpuFault, GP, PF } from "../../../cpu/faults.ts";
import { ACC_WRITE, pageWalk, walked } from "../../../cpu/page_walk.ts";
import { TASK_CALL, TASK_INT, TASK_IRET, TASK_JMP, taskSwitch } from "../../../cpu/task.ts";
import { CR0_PG } from "../../../cpu/state.ts";
import { exits as X, F, type PendingExit, Vmcs } from "../../../cpu/vmx/mod.ts";
import { saveSegments } from "../../../cpu/vmx/segments.ts";
import { loadGuestState } from "../../../cpu/vmx/transfer.ts";
import { INVVPID_SINGLE_CONTEXT, invvpidTlb } from "../../../cpu/vmx/tlb.ts";
import { KVM_MEM_READONLY } from "../constants.ts";
import { GuestTables } from "./guest_memory.ts";
import { CR0_NE } from "./guest_state.ts";
import type { VmxVcpu } from "./vcpu.ts";

const PAGE = 4096;
/** The qualification's source (bits 31:30: CALL, IRET, JMP, task gate) as task.ts's reasons. */
const REASONS = [TASK_CALL, TASK_IRET, TASK_JMP, TASK_INT];
const SOURCE_TASK_GATE = 3;
/** Interruptibility: blocking by STI and by MOV SS (bits 0-1), by NMI (bit 3). */
const BLOCKING_STI_MOVSS = 3, BLOCKING_NMI = 8;
const EFER_NXE = 0x800n;

/** A linear access the emulator cannot make (no slot, or a ROM write): the switch is unhandleable. */
class Unhandleable extends Error {}

/** What the switch came to. */
export type TaskSwitchResult = "done" | "unhandleable";

/** Each vCPU's emulator context, made at its first task switch. */
const contexts = new WeakMap<VmxVcpu, Emulator>();

/** The emulator context: a Cpu over the host Bus whose linear accesses are the guest's. */
class Emulator {
  readonly cpu: Cpu;
  /** Guest-physical pages the switch wrote (the vCPU's decoded-code cache must hear of them). */
  readonly written = new Set<number>();
  readonly #tables: GuestTables;

  constructor(readonly v: VmxVcpu) {
    const cpu = this.cpu = new Cpu(v.host.bus);
    this.#tables = new GuestTables(v, (lin, errorCode) => {
      cpu.pfLinear = lin | 0;
      throw new CpuFault(PF, errorCode);
    });
    // Every linear access: the guest's paging with the emulator's own CR0/CR3/CR4 (the new task's
    // CR3 once loaded), then the memory slots.
    cpu.eptWalk = (lin, access, user) => {
      let gpa = lin >>> 0;
      if (cpu.cr[0] & CR0_PG) {
        const regs = cpu.pagingRegs();
        regs.nxe = (v.ctx.sregs.efer & EFER_NXE) !== 0n;
        pageWalk(this.#tables, regs, lin, access, user);
        regs.nxe = false;
        gpa = walked.gpa;
      }
      const slot = v.ctx.memory.find(gpa);
      if (!slot || (access === ACC_WRITE && (slot.flags & KVM_MEM_READONLY))) throw new Unhandleable();
      if (access === ACC_WRITE) this.written.add(gpa - (gpa % PAGE));
      return v.gpaToHpa(gpa)!;
    };
  }

  /** The guest's state from `vmcs` (and the CPU's general registers) into the emulator. */
  load(vmcs: Vmcs, eip: number): void {
    const cpu = this.cpu, v = this.v;
    cpu.flushAllTlbs();
    this.written.clear();
    // As a VM entry loads it, then the control registers as the guest set them (under shadow
    // paging the VMCS holds the shadow's), its general registers and the EIP to save.
    loadGuestState(cpu, vmcs);
    cpu.cr[0] = v.guestCr(0);
    cpu.cr[3] = v.guestCr3();
    cpu.cr[4] = v.guestCr(4);
    for (let r = 0; r < 8; r++) cpu.regs[r] = v.gpr(r);
    cpu.eip = eip;
    cpu.insnEip = eip;
    cpu.codeSegmentChanged();
    cpu.taskCommitted = false;
  }

  /** The emulator's state back into the guest: registers, segments, CR0.TS, CR3, DR7. */
  store(vmcs: Vmcs, oldCr3: number): boolean {
    const cpu = this.cpu, v = this.v;
    saveSegments(cpu, vmcs);
    for (let r = 0; r < 8; r++) v.setGpr(r, cpu.regs[r]);
    vmcs.set(F.GUEST_RIP, cpu.eip);
    vmcs.set(F.GUEST_RFLAGS, cpu.eflagsValue);
    vmcs.set(F.GUEST_DR7, cpu.dr[7]);
    vmcs.set(F.GUEST_INTERRUPTIBILITY_INFO, vmcs.get(F.GUEST_INTERRUPTIBILITY_INFO) & ~BLOCKING_STI_MOVSS);
    const shadow = vmcs === v.vmcs01 ? v.shadow : undefined;
    // CR0.TS, as kvm_set_cr0 takes it (the shadow MMU keeps its forced bits).
    if (shadow) shadow.setCr0(cpu.cr[0]);
    else {
      vmcs.set(F.CR0_READ_SHADOW, cpu.cr[0]);
      vmcs.set(F.GUEST_CR0, cpu.cr[0] | CR0_NE);
    }
    for (const page of this.written) v.memoryWritten(page, PAGE);
    if (cpu.cr[3] === oldCr3) return true;
    // The new task's CR3 (kvm_set_cr3): the shadow MMU's new address space, or the guest's own
    // under EPT, whose VPID-tagged translations go.
    if (shadow) return shadow.setCr3(cpu.cr[3]);
    vmcs.set(F.GUEST_CR3, cpu.cr[3]);
    const vpid = vmcs.get(F.VIRTUAL_PROCESSOR_ID) & 0xffff;
    if (vpid) invvpidTlb(v.cpu, INVVPID_SINGLE_CONTEXT, vpid, 0);
    return true;
  }
}

/** The TASK_SWITCH exit of the current guest, performed by L0. */
export function emulateTaskSwitch(v: VmxVcpu, exit: PendingExit): TaskSwitchResult {
  v.ctx.stats.count("insn_emulation");
  let emulator = contexts.get(v);
  if (!emulator) contexts.set(v, emulator = new Emulator(v));
  const vmcs = v.currentVmcs, q = exit.qualification;
  const source = (q >>> 30) & 3, selector = q & 0xffff;
  const vectoring = vmcs.get(F.IDT_VECTORING_INFO_FIELD);
  const event = source === SOURCE_TASK_GATE && (vectoring & X.INTR_INFO_VALID) !== 0;
  const type = (vectoring >> 8) & 7;
  const hardware = event &&
    (type === X.INTR_TYPE_EXTERNAL || type === X.INTR_TYPE_NMI || type === X.INTR_TYPE_HW_EXCEPTION);
  const hasCode = event && (vectoring & X.INTR_INFO_ERROR_CODE) !== 0;
  const code = hasCode ? vmcs.get(F.IDT_VECTORING_ERROR_CODE) : 0;
  const rip = vmcs.get(F.GUEST_RIP);
  const eip = hardware ? rip : (rip + vmcs.get(F.VM_EXIT_INSTRUCTION_LEN)) | 0;
  const oldCr3 = v.guestCr3();
  emulator.load(vmcs, eip);
  const cpu = emulator.cpu;
  let fault: CpuFault | undefined;
  try {
    taskSwitch(cpu, selector, REASONS[source], hasCode, code);
  } catch (e) {
    if (e instanceof Unhandleable) return "unhandleable";
    if (!(e instanceof CpuFault)) throw e;
    fault = e;
  }
  const inject = (f: CpuFault) => {
    // CR2 is the guest's register (a #PF exit left it alone), set as the fault is delivered.
    if (f.vector === PF) v.cpu.cr[2] = cpu.pfLinear;
    v.injectException(f.vector, f.errorCode);
  };
  if (fault && !cpu.taskCommitted) {
    // Nothing switched: the guest stays at its instruction (or event), which the fault preempts.
    for (const page of emulator.written) v.memoryWritten(page, PAGE);
    inject(fault);
    return "done";
  }
  v.eventHandled();
  if (event && type === X.INTR_TYPE_NMI) {
    vmcs.set(F.GUEST_INTERRUPTIBILITY_INFO, vmcs.get(F.GUEST_INTERRUPTIBILITY_INFO) | BLOCKING_NMI);
  }
  // A bad PDPTE in the new task's PAE tables: #GP, as kvm_task_switch's set_cr(3) failing.
  if (!emulator.store(vmcs, oldCr3)) fault ??= new CpuFault(GP, 0);
  if (fault) inject(fault);
  return "done";
}
