/**
 * The decisions of VMX non-root operation (Intel SDM Vol. 3C, "VMX Non-Root Operation"): which
 * instructions exit under the current VMCS's controls, with the exit qualification each reason
 * defines. The core calls these only when `cpu.vmxNonRoot` is set; an exit throws (exit.ts).
 */
import type { Cpu } from "../cpu.ts";
import type { Insn } from "../insn.ts";
import { vmxInstructionInfo } from "./instructions.ts";
import {
  CPU_ACTIVATE_SECONDARY,
  CPU_CR3_LOAD_EXITING,
  CPU_CR3_STORE_EXITING,
  CPU_HLT_EXITING,
  CPU_INVLPG_EXITING,
  CPU_MONITOR_EXITING,
  CPU_MOV_DR_EXITING,
  CPU_MWAIT_EXITING,
  CPU_PAUSE_EXITING,
  CPU_RDPMC_EXITING,
  CPU_RDTSC_EXITING,
  CPU_UNCOND_IO_EXITING,
  CPU_USE_IO_BITMAPS,
  CPU_USE_MSR_BITMAPS,
  SEC_DESC_TABLE_EXITING,
} from "./capabilities.ts";
import {
  EXIT_CPUID,
  EXIT_CR_ACCESS,
  EXIT_DR_ACCESS,
  EXIT_GDTR_IDTR,
  EXIT_HLT,
  EXIT_INVLPG,
  EXIT_IO_INSTRUCTION,
  EXIT_LDTR_TR,
  EXIT_MONITOR,
  EXIT_MWAIT,
  EXIT_PAUSE,
  EXIT_RDMSR,
  EXIT_RDPMC,
  EXIT_RDTSC,
  EXIT_TASK_SWITCH,
  EXIT_WRMSR,
  instructionExit,
} from "./exit.ts";
import { F } from "./fields.ts";
import { currentVmcs } from "./state.ts";

function procControls(cpu: Cpu): number {
  return currentVmcs(cpu).get(F.CPU_BASED_VM_EXEC_CONTROL);
}

/**
 * Task switches always exit in non-root operation (SDM 25.1.2), after the checks on a task gate
 * and before any on the TSS descriptor. The qualification (SDM Table 28-2) is the new TSS's
 * selector and the source in bits 31:30; the CPU's reasons (task.ts: JMP 0, CALL 1, IRET 2, IDT
 * task gate 3) map to the SDM's (CALL 0, IRET 1, JMP 2, task gate 3). A switch through the IDT
 * reports its event as IDT-vectoring information (exit.ts).
 */
export function vmxTaskSwitch(cpu: Cpu, sel: number, reason: number): void {
  instructionExit(cpu, EXIT_TASK_SWITCH, ((sel & 0xffff) | (TASK_SWITCH_SOURCE[reason] << 30)) | 0);
}
const TASK_SWITCH_SOURCE = [2, 0, 1, 3];

/** CPUID always exits in non-root operation. */
export function vmxCpuid(cpu: Cpu): void {
  instructionExit(cpu, EXIT_CPUID);
}

export function vmxHlt(cpu: Cpu): void {
  if (procControls(cpu) & CPU_HLT_EXITING) instructionExit(cpu, EXIT_HLT);
}

/**
 * IN/OUT/INS/OUTS after their privilege checks. The qualification (SDM Table 28-5) needs the
 * direction, string, REP and immediate forms, read back from the instruction's bytes.
 */
export function vmxIo(cpu: Cpu, port: number, bytes: number): void {
  const vmcs = currentVmcs(cpu), controls = vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL);
  if (controls & CPU_USE_IO_BITMAPS) {
    // Bitmap A covers ports 0-7FFF, B 8000-FFFF; an access wrapping past FFFF always exits.
    let exits = port + bytes > 0x10000;
    for (let p = port; p < port + bytes && !exits; p++) {
      const base = vmcs.get(p & 0x8000 ? F.IO_BITMAP_B : F.IO_BITMAP_A) & ~0xfff;
      exits = ((cpu.bus.read8(base + ((p & 0x7fff) >> 3)) >> (p & 7)) & 1) === 1;
    }
    if (!exits) return;
  } else if (!(controls & CPU_UNCOND_IO_EXITING)) return;
  let at = cpu.insnEip, rep = 0, op = 0, seg = 3, adsize32 = cpu.code32;
  for (let n = 0; n < 15; n++) {
    op = cpu.rd8((cpu.segBase[1] + at) | 0);
    at = (at + 1) | 0;
    if (op === 0xf3 || op === 0xf2) rep = 1;
    else if (op === 0x67) adsize32 = !cpu.code32;
    else if (SEGMENT_PREFIXES.includes(op)) seg = SEGMENT_PREFIXES.indexOf(op);
    else if (op !== 0x66 && op !== 0xf0) break;
  }
  const string = op >= 0x6c && op <= 0x6f;
  const input = string ? op <= 0x6d : (op & 2) === 0;
  const immediate = op >= 0xe4 && op <= 0xe7;
  const qualification = (bytes - 1) | (input ? 8 : 0) | (string ? 16 : 0) | (string && rep ? 32 : 0) |
    (immediate ? 64 : 0) | (port << 16);
  if (!string) instructionExit(cpu, EXIT_IO_INSTRUCTION, qualification);
  // INS/OUTS (IA32_VMX_BASIC[54]): instruction information gives the address size (bits 9:7) and,
  // for OUTS, the segment (bits 17:15); the guest-linear address is that of the memory operand.
  if (input) seg = 0; // INS always writes through ES
  const index = input ? 7 : 6;
  const offset = adsize32 ? cpu.regs[index] : cpu.regs[index] & 0xffff;
  instructionExit(
    cpu,
    EXIT_IO_INSTRUCTION,
    qualification,
    ((adsize32 ? 1 : 0) << 7) | (seg << 15),
    (cpu.segBase[seg] + offset) | 0,
  );
}

/** ES CS SS DS FS GS override prefixes, by segment-register number. */
const SEGMENT_PREFIXES = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

/**
 * MOV to CR0/CR3/CR4 (SDM 26.1.3): CR3 by control, CR0/CR4 when a host-owned bit would change.
 * Returns the value the register takes when there is no exit: host-owned bits (those in the
 * guest/host mask) keep their current value (SDM 26.3, "Changes to Instruction Behavior").
 */
export function vmxMovToCr(cpu: Cpu, cr: number, value: number, gpr: number): number {
  const vmcs = currentVmcs(cpu);
  let exits = false, mask = 0;
  if (cr === 3) exits = (vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_CR3_LOAD_EXITING) !== 0;
  else if (cr === 0 || cr === 4) {
    mask = vmcs.get(cr === 0 ? F.CR0_GUEST_HOST_MASK : F.CR4_GUEST_HOST_MASK);
    const shadow = vmcs.get(cr === 0 ? F.CR0_READ_SHADOW : F.CR4_READ_SHADOW);
    exits = ((value ^ shadow) & mask) !== 0;
  }
  if (exits) instructionExit(cpu, EXIT_CR_ACCESS, cr | (gpr << 8));
  return (value & ~mask) | (cpu.cr[cr] & mask);
}

/** MOV from CR: CR3 may exit; CR0/CR4 read the shadow in host-owned bits. */
export function vmxMovFromCr(cpu: Cpu, cr: number, gpr: number): number {
  const vmcs = currentVmcs(cpu);
  if (cr === 3 && (vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_CR3_STORE_EXITING)) {
    instructionExit(cpu, EXIT_CR_ACCESS, 3 | (1 << 4) | (gpr << 8));
  }
  if (cr !== 0 && cr !== 4) return cpu.cr[cr];
  const mask = vmcs.get(cr === 0 ? F.CR0_GUEST_HOST_MASK : F.CR4_GUEST_HOST_MASK);
  const shadow = vmcs.get(cr === 0 ? F.CR0_READ_SHADOW : F.CR4_READ_SHADOW);
  return (cpu.cr[cr] & ~mask) | (shadow & mask);
}

/** CR0 as SMSW reads it in non-root operation: host-owned bits from the read shadow, no exit. */
export function vmxCr0Shadowed(cpu: Cpu): number {
  const vmcs = currentVmcs(cpu);
  const mask = vmcs.get(F.CR0_GUEST_HOST_MASK);
  return (cpu.cr[0] & ~mask) | (vmcs.get(F.CR0_READ_SHADOW) & mask);
}

/**
 * RDMSR/WRMSR (SDM 26.1.3): exit unless MSR bitmaps are used and the MSR's bit is clear. The
 * bitmap page holds read-low, read-high, write-low, write-high quarters for MSRs 0-1FFF and
 * C0000000-C0001FFF; any other MSR exits.
 */
export function vmxMsr(cpu: Cpu, msr: number, write: boolean): void {
  const vmcs = currentVmcs(cpu);
  let exits = true;
  if (vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_USE_MSR_BITMAPS) {
    const high = msr >= 0xc0000000 && msr <= 0xc0001fff;
    if (msr <= 0x1fff || high) {
      const base = (vmcs.get(F.MSR_BITMAP) & ~0xfff) + (write ? 0x800 : 0) + (high ? 0x400 : 0);
      const index = msr & 0x1fff;
      exits = ((cpu.bus.read8(base + (index >> 3)) >> (index & 7)) & 1) === 1;
    }
  }
  if (exits) instructionExit(cpu, write ? EXIT_WRMSR : EXIT_RDMSR);
}

/**
 * Descriptor-table exiting (secondary control bit 2): LGDT/LIDT/SGDT/SIDT exit with reason 46,
 * LLDT/LTR/SLDT/STR with 47, after their own #UD/#GP checks. The qualification is the memory
 * operand's displacement; the instruction information (SDM Tables 28-10 and 28-11) is the VMX
 * instructions' layout plus the operand size in bit 11 (GDTR/IDTR) and the instruction's identity
 * in bits 29:28 (`identity`: SGDT/SLDT 0, SIDT/STR 1, LGDT/LLDT 2, LIDT/LTR 3).
 */
export function vmxDescriptorTable(cpu: Cpu, i: Insn, ldtrOrTr: boolean, identity: number): void {
  const vmcs = currentVmcs(cpu);
  if (!(vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_ACTIVATE_SECONDARY)) return;
  if (!(vmcs.get(F.SECONDARY_VM_EXEC_CONTROL) & SEC_DESC_TABLE_EXITING)) return;
  let info = vmxInstructionInfo(i, false) | (identity << 28);
  if (!ldtrOrTr) info |= (i.opsize32 ? 1 : 0) << 11;
  instructionExit(cpu, ldtrOrTr ? EXIT_LDTR_TR : EXIT_GDTR_IDTR, i.mod === 3 ? 0 : i.disp, info >>> 0);
}

/** MONITOR (exit 39) and MWAIT (exit 36; qualification bit 0: the monitor was armed), by control. */
export function vmxMonitor(cpu: Cpu): void {
  if (procControls(cpu) & CPU_MONITOR_EXITING) instructionExit(cpu, EXIT_MONITOR);
}

export function vmxMwait(cpu: Cpu, armed: boolean): void {
  if (procControls(cpu) & CPU_MWAIT_EXITING) instructionExit(cpu, EXIT_MWAIT, armed ? 1 : 0);
}

/** PAUSE (SDM 26.1.3): exits with "PAUSE exiting" (PAUSE-loop exiting is not offered). */
export function vmxPause(cpu: Cpu): void {
  if (procControls(cpu) & CPU_PAUSE_EXITING) instructionExit(cpu, EXIT_PAUSE);
}

export function vmxRdtsc(cpu: Cpu): void {
  if (procControls(cpu) & CPU_RDTSC_EXITING) instructionExit(cpu, EXIT_RDTSC);
}

export function vmxRdpmc(cpu: Cpu): void {
  if (procControls(cpu) & CPU_RDPMC_EXITING) instructionExit(cpu, EXIT_RDPMC);
}

/** INVLPG: the qualification is the linear address operand. */
export function vmxInvlpg(cpu: Cpu, lin: number): void {
  if (procControls(cpu) & CPU_INVLPG_EXITING) instructionExit(cpu, EXIT_INVLPG, lin);
}

/** MOV DR (SDM Table 28-4): DR number, direction (bit 4 set for MOV from DR), GPR. */
export function vmxMovDr(cpu: Cpu, dr: number, fromDr: boolean, gpr: number): void {
  if (procControls(cpu) & CPU_MOV_DR_EXITING) {
    instructionExit(cpu, EXIT_DR_ACCESS, dr | (fromDr ? 1 << 4 : 0) | (gpr << 8));
  }
}
