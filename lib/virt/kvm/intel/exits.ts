/**
 * kvm_intel's exit handlers (Linux's kvm_vmx_exit_handlers table): one handler per VMX basic exit
 * reason. A handler finishes the exit in the kernel and asks to re-enter the guest, or fills
 * struct kvm_run and returns to user space. Every exit is counted by reason for kvm_stat.
 *
 * The nested-VMX seam (nested_seam.ts) sits at the top of `dispatchExit`: while L1 runs an L2,
 * every exit goes to the nested code first; VMX-instruction exits of L1 go to it too.
 */
import { exits as X, F, type PendingExit } from "../../../cpu/vmx/mod.ts";
import { EXIT_EPT_MISCONFIG, EXIT_EPT_VIOLATION } from "../../../cpu/vmx/ept.ts";
import { GP, PF, UD } from "../../../cpu/faults.ts";
import { VMX_EXIT_REASONS } from "../../modules/mod.ts";
import {
  KVM_EXIT,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_INTERNAL_ERROR,
  KVM_MP_STATE,
  LIMITS,
} from "../constants.ts";
import type { KvmRun } from "../kvm_run.ts";
import { signalDue, signalTaken } from "../backend.ts";
import { KVM_CPUID_FLAG_SIGNIFCANT_INDEX } from "../structs.ts";
import { MSR } from "../msrs.ts";
import { CR0_NE, CR0_PE, CR0_PG, CR4_VMXE } from "./guest_state.ts";
import { guestRead, guestWrite } from "./guest_memory.ts";
import { nestedVmx } from "./nested_seam.ts";
import { emulateTaskSwitch } from "./task_switch.ts";
import type { VmxVcpu } from "./vcpu.ts";
import { hasWakeEvent, kernelPio } from "./irqchip.ts";

/** "reenter": handled in the kernel; "user": kvm_run holds an exit; "eintr": a signal ended KVM_RUN. */
export type ExitResult = "reenter" | "user" | "eintr";

type Handler = (v: VmxVcpu, exit: PendingExit, run: KvmRun) => ExitResult;

/** VMCLEAR..VMXON, INVEPT, INVVPID: L1's VMX instructions. */
const VMX_INSTRUCTIONS = new Set([19, 20, 21, 22, 23, 24, 25, 26, 27, 50, 53]);
/** KVM_ENOSYS, the hypercall result for a number KVM does not know (include/uapi/linux/kvm_para.h). */
const KVM_ENOSYS = 1000;
const CPUID_1_ECX_VMX = 1 << 5;

export function dispatchExit(v: VmxVcpu, exit: PendingExit, run: KvmRun): ExitResult {
  const reason = exit.reason & 0xffff;
  v.ctx.stats.countExit(VMX_EXIT_REASONS[reason] ?? `UNKNOWN_${reason}`);
  const nested = v.ctx.params.nested ? nestedVmx() : undefined;
  if (nested?.guestMode(v) && nested.l2Exit(v, exit) === "handled") return "reenter";
  if (VMX_INSTRUCTIONS.has(reason)) {
    if (nested && nested.vmxInstruction(v, exit) === "handled") return "reenter";
    v.injectException(UD);
    return "reenter";
  }
  const handler = HANDLERS.get(reason);
  if (handler) return handler(v, exit, run);
  // vmx_handle_exit: KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON with the reason and the CPU.
  run.exitInternal(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, [BigInt(exit.reason >>> 0), 0n]);
  return "user";
}

function cpuidExit(v: VmxVcpu): ExitResult {
  const fn = v.gpr(0) >>> 0, index = v.gpr(1) >>> 0;
  const table = v.ctx.cpuid;
  const find = (f: number) =>
    table.find((e) =>
      e.function >>> 0 === f && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index >>> 0 === index)
    );
  let e = find(fn);
  // kvm_cpuid: an Intel guest asking beyond the basic leaves gets the highest basic leaf.
  const max = table.find((x) => x.function === 0);
  if (!e && max && fn < 0x40000000 && fn > max.eax >>> 0) e = find(max.eax >>> 0);
  v.setGpr(0, e?.eax ?? 0);
  v.setGpr(3, e?.ebx ?? 0);
  v.setGpr(1, e?.ecx ?? 0);
  v.setGpr(2, e?.edx ?? 0);
  v.skipInstruction();
  return "reenter";
}

function hltExit(v: VmxVcpu, _exit: PendingExit, run: KvmRun): ExitResult {
  v.skipInstruction();
  v.ctx.stats.count("halt_exits");
  if (!v.ctx.irqchip) {
    run.beginExit(KVM_EXIT.HLT);
    return "user";
  }
  // In-kernel irqchip: the vCPU halts in the kernel until its irqchip has an event for it.
  v.ctx.mpState = KVM_MP_STATE.HALTED;
  return haltInKernel(v, run);
}

/**
 * kvm_vcpu_halt: an event the in-kernel irqchip already has (a timer that expired, a line user
 * space raised) wakes the vCPU at once, counted as a successful poll; else it polls for
 * halt_poll_ns and blocks. A simulated process has no second thread to raise a line meanwhile, so
 * blocking ends KVM_RUN with EINTR (user space, here single-threaded, runs its timers and sleeps
 * until the vCPU's wake-up time, KvmVcpu.blockedUntilNs) and the next KVM_RUN looks again.
 */
export function haltInKernel(v: VmxVcpu, run: KvmRun): ExitResult {
  const s = v.ctx.stats, pollNs = v.ctx.params.haltPollNs, chip = v.ctx.kernelIrqchip;
  if (pollNs > 0) s.count("halt_attempted_poll");
  if (chip && hasWakeEvent(v, chip)) {
    if (pollNs > 0) s.count("halt_successful_poll");
    s.count("halt_wakeup");
    v.ctx.mpState = KVM_MP_STATE.RUNNABLE;
    return "reenter";
  }
  if (pollNs > 0) s.count("halt_poll_fail_ns", pollNs);
  s.count("blocking");
  s.count("signal_exits");
  run.beginExit(KVM_EXIT.INTR);
  return "eintr";
}

/** IN/OUT and INS/OUTS: the data goes through the PIO page after kvm_run (io.data_offset). */
function ioExit(v: VmxVcpu, exit: PendingExit, run: KvmRun): ExitResult {
  const q = exit.qualification;
  const size = (q & 7) + 1, input = (q & 8) !== 0, string = (q & 16) !== 0, rep = (q & 32) !== 0;
  const port = q >>> 16;
  const chip = v.ctx.kernelIrqchip;
  if (chip && !string && chip.ownsPort(port)) return kernelPio(v, chip, port, size, input);
  v.ctx.stats.count("io_exits");
  if (!string) {
    if (input) {
      run.exitIo(KVM_EXIT_IO_IN, size, port, 1);
      v.completeOnNextRun((r) => {
        const d = r.ioData();
        const value = d[0] | (size > 1 ? d[1] << 8 : 0) | (size > 2 ? (d[2] << 16) | (d[3] << 24) : 0);
        const mask = size === 4 ? -1 : (1 << (8 * size)) - 1;
        v.setGpr(0, (v.gpr(0) & ~mask) | (value & mask));
        v.skipInstruction();
      });
    } else {
      const eax = v.gpr(0);
      run.exitIo(KVM_EXIT_IO_OUT, size, port, 1, new Uint8Array([eax, eax >> 8, eax >> 16, eax >> 24]));
      v.completeOnNextRun(() => v.skipInstruction());
    }
    return "user";
  }
  return stringIo(v, exit, run, size, input, rep, port);
}

/** INS/OUTS, as Linux's emulator does them: up to a page of elements per exit, rest on re-execution. */
function stringIo(
  v: VmxVcpu,
  exit: PendingExit,
  run: KvmRun,
  size: number,
  input: boolean,
  rep: boolean,
  port: number,
): ExitResult {
  const addr32 = ((exit.instructionInfo >> 7) & 7) === 1;
  const width = addr32 ? 0xffffffff : 0xffff;
  const count = rep ? (v.gpr(1) & width) >>> 0 : 1;
  if (count === 0) {
    v.skipInstruction();
    return "reenter";
  }
  const down = (v.currentVmcs.get(F.GUEST_RFLAGS) & 0x400) !== 0;
  const lin = exit.guestLinear >>> 0;
  let n = Math.min(count, Math.floor(LIMITS.pageSize / size));
  n = down ? 1 : Math.max(1, Math.min(n, Math.floor((LIMITS.pageSize - (lin & 0xfff)) / size)));
  const index = input ? 7 : 6;
  const finish = () => {
    const step = (down ? -size : size) * n;
    v.setGpr(index, (v.gpr(index) & ~width) | ((v.gpr(index) + step) & width));
    if (rep) v.setGpr(1, (v.gpr(1) & ~width) | ((v.gpr(1) - n) & width));
    // A REP that is not done runs again (another exit for the next chunk).
    if (!rep || ((v.gpr(1) & width) >>> 0) === 0) v.skipInstruction();
  };
  if (input) {
    run.exitIo(KVM_EXIT_IO_IN, size, port, n);
    v.completeOnNextRun((r) => {
      if (!guestWrite(v, lin, r.ioData())) return v.injectException(GP, 0);
      finish();
    });
  } else {
    const data = guestRead(v, lin, n * size);
    if (!data) {
      v.injectException(GP, 0);
      return "reenter";
    }
    run.exitIo(KVM_EXIT_IO_OUT, size, port, n, data);
    v.completeOnNextRun(finish);
  }
  return "user";
}

const SYSENTER: Record<number, number> = {
  [MSR.IA32_SYSENTER_CS]: F.GUEST_SYSENTER_CS,
  [MSR.IA32_SYSENTER_ESP]: F.GUEST_SYSENTER_ESP,
  [MSR.IA32_SYSENTER_EIP]: F.GUEST_SYSENTER_EIP,
};

/**
 * An MSR of the current guest as its RDMSR sees it (kvm_get_msr); undefined where RDMSR #GPs. The
 * SYSENTER MSRs live in the current VMCS, the rest in the vCPU's MSR file.
 */
export function guestMsrRead(v: VmxVcpu, index: number): bigint | undefined {
  const ctx = v.ctx, table = ctx.msrTable;
  if (SYSENTER[index] !== undefined) return BigInt(v.currentVmcs.get(SYSENTER[index]) >>> 0);
  if (index === MSR.IA32_TSC) return BigInt(Math.floor(ctx.hostNowNs())) + v.cpu.tscOffset;
  if (index === MSR.EFER) return ctx.sregs.efer;
  if (index === MSR.IA32_APICBASE) return ctx.sregs.apic_base;
  if (table.has(index)) return ctx.msrs.get(index) ?? 0n;
  if (ctx.ignoredMsr(index, 0n, false)) return 0n;
  return undefined;
}

/** WRMSR of the current guest (kvm_set_msr); false where it #GPs. */
export function guestMsrWrite(v: VmxVcpu, index: number, value: bigint): boolean {
  const ctx = v.ctx, table = ctx.msrTable;
  if (SYSENTER[index] !== undefined) v.currentVmcs.set(SYSENTER[index], Number(value & 0xffffffffn) | 0);
  else if (index === MSR.IA32_UCODE_REV) { /* a guest write only asks for the revision to be reloaded */ }
  else if (index === MSR.IA32_TSC) v.cpu.tscOffset = value - BigInt(Math.floor(ctx.hostNowNs()));
  else if (table.has(index)) {
    if (!table.writable(index, value, index === MSR.EFER ? ctx.sregs.efer : ctx.msrs.get(index) ?? 0n)) {
      return false;
    }
    if (index === MSR.EFER) ctx.sregs.efer = value;
    else if (index === MSR.IA32_APICBASE) ctx.sregs.apic_base = value;
    else ctx.msrs.set(index, value);
  } else if (!ctx.ignoredMsr(index, value, true)) return false;
  return true;
}

/** RDMSR/WRMSR against the vCPU's MSR file; unknown ones #GP unless kvm ignore_msrs. */
function msrExit(v: VmxVcpu, exit: PendingExit): ExitResult {
  const index = v.gpr(1) >>> 0;
  if (exit.reason === X.EXIT_WRMSR) {
    const value = (BigInt(v.gpr(2) >>> 0) << 32n) | BigInt(v.gpr(0) >>> 0);
    if (!guestMsrWrite(v, index, value)) {
      v.injectException(GP, 0);
      return "reenter";
    }
  } else {
    const value = guestMsrRead(v, index);
    if (value === undefined) {
      v.injectException(GP, 0);
      return "reenter";
    }
    v.setGpr(0, Number(value & 0xffffffffn) | 0);
    v.setGpr(2, Number((value >> 32n) & 0xffffffffn) | 0);
  }
  v.skipInstruction();
  return "reenter";
}

/**
 * MOV to CR0/CR4 touching a host-owned bit (CR0.NE, CR4.VMXE; with shadow paging also CR0.PG/PE/WP
 * and CR4.PSE/PGE/PAE) and, with shadow paging, MOV to and from CR3: handle_cr as
 * kvm_set_cr0/cr3/cr4.
 */
function crExit(v: VmxVcpu, exit: PendingExit): ExitResult {
  const q = exit.qualification, cr = q & 15, type = (q >> 4) & 3, reg = (q >> 8) & 15, value = v.gpr(reg);
  const vmcs = v.currentVmcs;
  const shadow = vmcs === v.vmcs01 ? v.shadow : undefined;
  if (shadow && cr === 3 && type <= 1) {
    if (type === 0 && !shadow.setCr3(value)) {
      // A PAE guest's new PDPTEs have a reserved bit (kvm_set_cr3's load_pdptrs).
      v.injectException(GP, 0);
      return "reenter";
    }
    if (type === 1) v.setGpr(reg, shadow.guestCr3);
    v.skipInstruction();
    return "reenter";
  }
  if (type !== 0 || (cr !== 0 && cr !== 4)) {
    v.injectException(UD);
    return "reenter";
  }
  if (cr === 0) {
    if ((value & CR0_PG) && !(value & CR0_PE)) {
      v.injectException(GP, 0);
      return "reenter";
    }
    if (shadow) {
      if (!shadow.setCr0(value)) {
        v.injectException(GP, 0);
        return "reenter";
      }
    } else {
      vmcs.set(F.CR0_READ_SHADOW, value);
      vmcs.set(F.GUEST_CR0, value | CR0_NE);
    }
  } else {
    const leaf1 = v.ctx.cpuid.find((e) => e.function === 1);
    const vmx = v.ctx.params.nested && !!leaf1 && (leaf1.ecx & CPUID_1_ECX_VMX) !== 0;
    if (value & ~(0x6ff | (vmx ? CR4_VMXE : 0))) {
      v.injectException(GP, 0);
      return "reenter";
    }
    if (shadow) {
      if (!shadow.setCr4(value)) {
        v.injectException(GP, 0);
        return "reenter";
      }
    } else {
      vmcs.set(F.CR4_READ_SHADOW, value);
      vmcs.set(F.GUEST_CR4, value | CR4_VMXE);
    }
  }
  v.skipInstruction();
  return "reenter";
}

/** handle_task_switch: L0's emulator performs the switch (task_switch.ts). */
function taskSwitchExit(v: VmxVcpu, exit: PendingExit, run: KvmRun): ExitResult {
  if (emulateTaskSwitch(v, exit) === "done") return "reenter";
  v.ctx.stats.count("insn_emulation_fail");
  run.exitInternal(KVM_INTERNAL_ERROR.EMULATION);
  return "user";
}

function vmcallExit(v: VmxVcpu): ExitResult {
  // kvm_emulate_hypercall: no hypercall numbers are implemented; the guest gets -KVM_ENOSYS.
  v.ctx.stats.count("hypercalls");
  v.setGpr(0, -KVM_ENOSYS);
  v.skipInstruction();
  return "reenter";
}

function interruptWindowExit(v: VmxVcpu, _exit: PendingExit, run: KvmRun): ExitResult {
  v.ctx.stats.count("irq_window_exits");
  if (v.ctx.pendingInterrupt >= 0 || !run.request_interrupt_window || v.ctx.irqchip) return "reenter";
  run.beginExit(KVM_EXIT.IRQ_WINDOW_OPEN);
  return "user";
}

/** An external interrupt: in this simulation only the host's tick ending a slice (a signal may be due). */
function externalInterruptExit(v: VmxVcpu, _exit: PendingExit, run: KvmRun): ExitResult {
  v.ctx.stats.count("irq_exits");
  if (!signalDue(v.ctx)) return "reenter";
  signalTaken(v.ctx);
  v.ctx.stats.count("signal_exits");
  run.beginExit(KVM_EXIT.INTR);
  return "eintr";
}

function tripleFaultExit(_v: VmxVcpu, _exit: PendingExit, run: KvmRun): ExitResult {
  run.beginExit(KVM_EXIT.SHUTDOWN);
  return "user";
}

/** EPT violation qualification bit 2: the access was an instruction fetch. */
const EPT_QUAL_FETCH = 4;

function eptViolationExit(v: VmxVcpu, exit: PendingExit, run: KvmRun): ExitResult {
  const gpa = exit.guestPhysical ?? 0;
  const result = v.vm.eptViolation(v, gpa, (exit.qualification & 2) !== 0, v.ctx.stats);
  // Code in MMIO (or in no memory at all): Linux's emulator cannot fetch it either.
  if (result === "mmio-fetch" || ((exit.qualification & EPT_QUAL_FETCH) && !v.ctx.memory.find(gpa))) {
    v.ctx.stats.count("insn_emulation_fail");
    run.exitInternal(KVM_INTERNAL_ERROR.EMULATION);
    return "user";
  }
  return "reenter";
}

/** INVLPG under shadow paging: the shadow entry goes, as the TLB entry would. */
function invlpgExit(v: VmxVcpu, exit: PendingExit): ExitResult {
  v.shadow?.invlpg(exit.qualification);
  v.skipInstruction();
  return "reenter";
}

function eptMisconfigExit(v: VmxVcpu, _exit: PendingExit, run: KvmRun): ExitResult {
  return v.mmioExit(run);
}

function exceptionExit(v: VmxVcpu, exit: PendingExit, run: KvmRun): ExitResult {
  // An NMI exit is the host's, and goes on.
  if (((exit.interruptionInfo >> 8) & 7) === 2) return "reenter";
  // Only #PF is intercepted, by shadow paging: filled in the shadow, or the guest's own fault.
  if ((exit.interruptionInfo & 0xff) === PF && v.shadow && v.currentVmcs === v.vmcs01) {
    v.ctx.stats.count("pf_taken");
    const fault = v.shadow.pageFault(exit.qualification, exit.interruptionError);
    if (fault.kind === "guest") {
      // CR2 is the guest's register: the exit left it alone, the reflected fault sets it.
      v.cpu.cr[2] = exit.qualification;
      v.injectException(PF, fault.errorCode);
    }
    return "reenter";
  }
  run.exitInternal(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, [BigInt(exit.reason), 0n]);
  return "user";
}

const HANDLERS = new Map<number, Handler>([
  [X.EXIT_EXCEPTION_NMI, exceptionExit],
  [X.EXIT_EXTERNAL_INTERRUPT, externalInterruptExit],
  [X.EXIT_TRIPLE_FAULT, tripleFaultExit],
  [X.EXIT_INTERRUPT_WINDOW, interruptWindowExit],
  // L0's own monitor trap flag, set while an interrupt waits behind an MMIO read being replayed,
  // and its NMI window, open once the guest's IRET ended virtual-NMI blocking (vcpu.ts): the next
  // entry injects.
  [X.EXIT_MONITOR_TRAP_FLAG, () => "reenter"],
  [X.EXIT_NMI_WINDOW, () => "reenter"],
  [X.EXIT_TASK_SWITCH, taskSwitchExit],
  [X.EXIT_CPUID, cpuidExit],
  [X.EXIT_HLT, hltExit],
  [X.EXIT_VMCALL, vmcallExit],
  [X.EXIT_CR_ACCESS, crExit],
  [X.EXIT_INVLPG, invlpgExit],
  [X.EXIT_IO_INSTRUCTION, ioExit],
  [X.EXIT_RDMSR, msrExit],
  [X.EXIT_WRMSR, msrExit],
  [EXIT_EPT_VIOLATION, eptViolationExit],
  [EXIT_EPT_MISCONFIG, eptMisconfigExit],
]);
