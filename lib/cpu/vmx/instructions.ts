/**
 * The VMX instructions in VMX root operation (Intel SDM Vol. 3C, "VMX Instruction Reference"):
 * VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMCALL, VMLAUNCH, VMRESUME. Each
 * follows the SDM's pseudocode order of checks: #UD outside VMX operation or outside protected
 * mode, #GP(0) above CPL 0, then VMfailInvalid/VMfailValid(n), then the operation and VMsucceed.
 *
 * The opcode table routes every row with handler `vmx` here; ARG selects the instruction (and the
 * 0F C7 /6 row is split by its prefix: F3 VMXON, 66 VMCLEAR, none VMPTRLD).
 */
import type { Cpu } from "../cpu.ts";
import { gp, ud } from "../faults.ts";
import type { Handler, Insn } from "../insn.ts";
import { CR0_PE, VM } from "../state.ts";
import {
  FEATURE_CONTROL_LOCKED,
  FEATURE_CONTROL_VMXON_OUTSIDE_SMX,
  MSR_IA32_FEATURE_CONTROL,
  MSR_IA32_VMX_CR0_FIXED0,
  MSR_IA32_VMX_CR0_FIXED1,
  MSR_IA32_VMX_CR4_FIXED0,
  MSR_IA32_VMX_CR4_FIXED1,
  MSR_IA32_VMX_MISC,
  VMCS_REVISION,
  VMX_MSRS,
} from "./capabilities.ts";
import * as E from "./errors.ts";
import { F, lookupField, TYPE_EXIT_INFO } from "./fields.ts";
import { currentVmcs, makeCurrent, NO_VMCS, shadowVmcs, vmxState, writeBackVmcs } from "./state.ts";
import { LAUNCH_CLEAR, LAUNCH_LAUNCHED, Vmcs } from "./vmcs.ts";
import { CPU_ACTIVATE_SECONDARY, SEC_SHADOW_VMCS, SHADOW_VMCS_INDICATOR } from "./capabilities.ts";
import { vmEntry } from "./entry.ts";
import { eptpValid } from "./ept.ts";
import * as X from "./exit.ts";
import { INVEPT_ALL_CONTEXT, INVEPT_SINGLE_CONTEXT, inveptTlb, invvpidTlb } from "./tlb.ts";

export const CR4_VMXE = 1 << 13;

export const VMX_C7_6 = 0, VMX_VMPTRST = 1, VMX_VMREAD = 2, VMX_VMWRITE = 3, VMX_VMCALL = 4;
export const VMX_VMLAUNCH = 5, VMX_VMRESUME = 6, VMX_VMXOFF = 7, VMX_INVEPT = 8, VMX_INVVPID = 9;

/** True when `v` keeps every bit the fixed MSRs pin (fixed0 bits set, bits outside fixed1 clear). */
function fixedOk(v: number, fixed0: number, fixed1: number): boolean {
  const f0 = Number(VMX_MSRS.get(fixed0)!), f1 = Number(VMX_MSRS.get(fixed1)!);
  return ((v & f0) >>> 0) === f0 >>> 0 && (v & ~f1) === 0;
}

/** A 64-bit physical-address operand from memory; -2 when it cannot name a 4K-aligned page. */
function pageOperand(cpu: Cpu, i: Insn): number {
  const lin = cpu.ea(i);
  const low = cpu.rd32(lin), high = cpu.rd32((lin + 4) | 0);
  // BASIC[48]: VMX structures live below 4 GiB on this CPU, which is its physical-address width.
  if (high !== 0 || (low & 0xfff) !== 0) return -2;
  return low >>> 0;
}

/**
 * VM-exit instruction information of a VMX instruction (SDM Tables 28-13 to 28-15), with the
 * memory operand's displacement as the exit qualification: scaling (1:0), the register operand of
 * VMREAD/VMWRITE (6:3), address size (9:7, 1 = 32-bit), register form (bit 10), segment (17:15),
 * index register (21:18, invalid bit 22), base register (26:23, invalid bit 27) and the second
 * register (31:28: VMREAD/VMWRITE's field encoding, INVEPT/INVVPID's type).
 */
export function vmxInstructionInfo(i: Insn, reg2: boolean): number {
  let info = reg2 ? i.reg << 28 : 0;
  if (i.mod === 3) return (info | (1 << 10) | (i.rm << 3)) >>> 0;
  info |= i.scale | ((i.adsize32 ? 1 : 0) << 7) | (i.seg << 15);
  info |= i.index < 0 ? 1 << 22 : i.index << 18;
  info |= i.base < 0 ? 1 << 27 : i.base << 23;
  return info >>> 0;
}

/**
 * The checks every VMX instruction but VMXON makes first; `shadowed`: a VMREAD/VMWRITE that
 * non-root operation performs on the shadow VMCS instead of exiting.
 */
function commonChecks(cpu: Cpu, exitReason: number, i?: Insn, reg2 = false, shadowed = false): void {
  if (!vmxState(cpu).operation || !(cpu.cr[0] & CR0_PE) || (cpu.eflags & VM)) ud();
  if (cpu.vmxNonRoot && !shadowed) vmxInstructionExit(cpu, exitReason, i, reg2);
  if (cpu.cpl > 0) gp(0);
}

/**
 * VMCS shadowing (SDM 25.10, 30.3): in VMX non-root operation with the "VMCS shadowing" control,
 * VMREAD/VMWRITE of a field whose bit (encoding bits 14:0) is clear in the VMREAD/VMWRITE bitmap
 * accesses the VMCS the link pointer names instead of exiting; encodings above bit 14 exit.
 */
function shadowed(cpu: Cpu, encoding: number, bitmap: number): boolean {
  const vmcs = currentVmcs(cpu);
  if (!(vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_ACTIVATE_SECONDARY)) return false;
  if (!(vmcs.get(F.SECONDARY_VM_EXEC_CONTROL) & SEC_SHADOW_VMCS) || (encoding >>> 15)) return false;
  return ((cpu.bus.read8(vmcs.get(bitmap) + (encoding >>> 3)) >> (encoding & 7)) & 1) === 0;
}

/**
 * The VMCS a VMREAD/VMWRITE accesses: the current one in root operation, the shadow VMCS in
 * non-root operation; undefined when that pointer is invalid (VMfailInvalid).
 */
function accessedVmcs(cpu: Cpu): Vmcs | undefined {
  const s = vmxState(cpu);
  if (s.currentVmcs === NO_VMCS) return undefined;
  if (!cpu.vmxNonRoot) return currentVmcs(cpu);
  const vmcs = currentVmcs(cpu);
  const link = vmcs.get(F.VMCS_LINK_POINTER), linkHigh = vmcs.get(F.VMCS_LINK_POINTER + 1);
  return (link & linkHigh) === -1 ? undefined : shadowVmcs(cpu, link >>> 0);
}

function vmxInstructionExit(cpu: Cpu, reason: number, i: Insn | undefined, reg2: boolean): never {
  if (!i) return X.instructionExit(cpu, reason);
  return X.instructionExit(cpu, reason, i.mod === 3 ? 0 : i.disp, vmxInstructionInfo(i, reg2));
}

function vmxon(cpu: Cpu, i: Insn): void {
  const s = vmxState(cpu);
  if (!(cpu.cr[0] & CR0_PE) || !(cpu.cr[4] & CR4_VMXE) || (cpu.eflags & VM)) ud();
  if (cpu.vmxNonRoot) vmxInstructionExit(cpu, X.EXIT_VMXON, i, false);
  if (s.operation) {
    if (cpu.cpl > 0) gp(0);
    E.vmFail(cpu, E.VMXERR_VMXON_IN_VMX_ROOT);
    return;
  }
  const control = Number(cpu.msrs.get(MSR_IA32_FEATURE_CONTROL) ?? 0n);
  if (
    cpu.cpl > 0 || !fixedOk(cpu.cr[0], MSR_IA32_VMX_CR0_FIXED0, MSR_IA32_VMX_CR0_FIXED1) ||
    !fixedOk(cpu.cr[4], MSR_IA32_VMX_CR4_FIXED0, MSR_IA32_VMX_CR4_FIXED1) ||
    !(control & FEATURE_CONTROL_LOCKED) || !(control & FEATURE_CONTROL_VMXON_OUTSIDE_SMX)
  ) gp(0);
  const addr = pageOperand(cpu, i);
  if (addr < 0 || (cpu.bus.read32(addr) >>> 0) !== VMCS_REVISION) {
    E.vmFailInvalid(cpu);
    return;
  }
  s.operation = true;
  s.vmxonPointer = addr;
  s.currentVmcs = NO_VMCS;
  E.vmSucceed(cpu);
}

function vmxoff(cpu: Cpu): void {
  commonChecks(cpu, X.EXIT_VMXOFF);
  const s = vmxState(cpu);
  writeBackVmcs(cpu, s.currentVmcs);
  if (s.shadow) writeBackVmcs(cpu, s.shadow.address);
  s.operation = false;
  s.currentVmcs = NO_VMCS;
  E.vmSucceed(cpu);
}

function vmclear(cpu: Cpu, i: Insn): void {
  commonChecks(cpu, X.EXIT_VMCLEAR, i);
  const s = vmxState(cpu);
  const addr = pageOperand(cpu, i);
  if (addr < 0) return E.vmFail(cpu, E.VMXERR_VMCLEAR_INVALID_ADDRESS);
  if (addr === s.vmxonPointer) return E.vmFail(cpu, E.VMXERR_VMCLEAR_VMXON_POINTER);
  // The processor's copy of an active VMCS goes back to memory, then its launch state is clear.
  writeBackVmcs(cpu, addr);
  new Vmcs(cpu.bus, addr).launchState = LAUNCH_CLEAR;
  if (addr === s.currentVmcs) s.currentVmcs = NO_VMCS;
  E.vmSucceed(cpu);
}

function vmptrld(cpu: Cpu, i: Insn): void {
  commonChecks(cpu, X.EXIT_VMPTRLD, i);
  const s = vmxState(cpu);
  const addr = pageOperand(cpu, i);
  if (addr < 0) return E.vmFail(cpu, E.VMXERR_VMPTRLD_INVALID_ADDRESS);
  if (addr === s.vmxonPointer) return E.vmFail(cpu, E.VMXERR_VMPTRLD_VMXON_POINTER);
  // A shadow VMCS (bit 31 set) may be made current too: software fills it with VMWRITE.
  if ((cpu.bus.read32(addr) & 0x7fffffff) !== VMCS_REVISION) {
    return E.vmFail(cpu, E.VMXERR_VMPTRLD_INCORRECT_REVISION);
  }
  makeCurrent(cpu, addr);
  E.vmSucceed(cpu);
}

function vmptrst(cpu: Cpu, i: Insn): void {
  commonChecks(cpu, X.EXIT_VMPTRST, i);
  const lin = cpu.ea(i);
  const p = vmxState(cpu).currentVmcs;
  cpu.probeWrite(lin, 8);
  cpu.wr32(lin, p);
  cpu.wr32((lin + 4) | 0, p === NO_VMCS ? -1 : 0);
  E.vmSucceed(cpu);
}

function vmread(cpu: Cpu, i: Insn): void {
  const encoding = cpu.regs[i.reg];
  commonChecks(cpu, X.EXIT_VMREAD, i, true, cpu.vmxNonRoot && shadowed(cpu, encoding, F.VMREAD_BITMAP));
  const vmcs = accessedVmcs(cpu);
  if (!vmcs) return E.vmFailInvalid(cpu);
  const hit = lookupField(encoding);
  if (!hit) return E.vmFail(cpu, E.VMXERR_UNSUPPORTED_VMCS_COMPONENT);
  cpu.writeE(i, 2, hit.high ? vmcs.readHigh(hit.field) : vmcs.readLow(hit.field));
  E.vmSucceed(cpu);
}

function vmwrite(cpu: Cpu, i: Insn): void {
  const encoding = cpu.regs[i.reg];
  commonChecks(cpu, X.EXIT_VMWRITE, i, true, cpu.vmxNonRoot && shadowed(cpu, encoding, F.VMWRITE_BITMAP));
  const vmcs = accessedVmcs(cpu);
  if (!vmcs) return E.vmFailInvalid(cpu);
  const value = cpu.readE(i, 2);
  const hit = lookupField(encoding);
  if (!hit) return E.vmFail(cpu, E.VMXERR_UNSUPPORTED_VMCS_COMPONENT);
  const anyField = (VMX_MSRS.get(MSR_IA32_VMX_MISC)! & (1n << 29n)) !== 0n;
  if (hit.field.type === TYPE_EXIT_INFO && !anyField) {
    return E.vmFail(cpu, E.VMXERR_VMWRITE_READ_ONLY_COMPONENT);
  }
  if (hit.high) vmcs.writeHigh(hit.field, value);
  else vmcs.writeLow(hit.field, value);
  E.vmSucceed(cpu);
}

function vmcall(cpu: Cpu): void {
  commonChecks(cpu, X.EXIT_VMCALL);
  // No SMM dual-monitor treatment on this CPU (IA32_SMM_MONITOR_CTL[0] is 0).
  E.vmFail(cpu, E.VMXERR_VMCALL_IN_ROOT);
}

function vmlaunch(cpu: Cpu, resume: boolean): void {
  commonChecks(cpu, resume ? X.EXIT_VMRESUME : X.EXIT_VMLAUNCH);
  const p = vmxState(cpu).currentVmcs;
  if (p === NO_VMCS) return E.vmFailInvalid(cpu);
  const vmcs = currentVmcs(cpu);
  // A shadow VMCS can be current (to be filled) but not entered (SDM 27.1).
  if (vmcs.revision & SHADOW_VMCS_INDICATOR) return E.vmFailInvalid(cpu);
  const state = vmcs.launchState;
  if (!resume && state !== LAUNCH_CLEAR) return E.vmFail(cpu, E.VMXERR_VMLAUNCH_NONCLEAR_VMCS);
  if (resume && state !== LAUNCH_LAUNCHED) return E.vmFail(cpu, E.VMXERR_VMRESUME_NONLAUNCHED_VMCS);
  vmEntry(cpu, vmcs);
}

/**
 * INVEPT (66 0F 38 80): types 1 (single context: the combined mappings made under one EPTP's
 * EP4TA, whatever their VPID) and 2 (all contexts: every EPT-derived mapping); EPT_VPID_CAP bits
 * 25 and 26 offer both.
 */
function invept(cpu: Cpu, i: Insn): void {
  if (i.opsize32 === cpu.code32) ud(); // the 66 prefix is part of the opcode
  commonChecks(cpu, X.EXIT_INVEPT, i, true);
  const type = cpu.regs[i.reg] >>> 0;
  const lin = cpu.ea(i);
  const eptp = cpu.rd32(lin), eptpHigh = cpu.rd32((lin + 4) | 0);
  cpu.rd32((lin + 8) | 0);
  cpu.rd32((lin + 12) | 0);
  if (type !== INVEPT_SINGLE_CONTEXT && type !== INVEPT_ALL_CONTEXT) {
    return E.vmFail(cpu, E.VMXERR_INVALID_INVEPT_INVVPID_OPERAND);
  }
  if (type === INVEPT_SINGLE_CONTEXT && !eptpValid(eptp, eptpHigh)) {
    return E.vmFail(cpu, E.VMXERR_INVALID_INVEPT_INVVPID_OPERAND);
  }
  inveptTlb(cpu, type, eptp);
  E.vmSucceed(cpu);
}

/**
 * INVVPID (66 0F 38 81): types 0 (individual address), 1 (single context), 2 (all contexts) and
 * 3 (single context keeping globals), of the linear and combined mappings tagged with the VPID
 * (lib/cpu/vmx/tlb.ts). VPID 0 names VMX root and is invalid for all but type 2.
 */
function invvpid(cpu: Cpu, i: Insn): void {
  if (i.opsize32 === cpu.code32) ud();
  commonChecks(cpu, X.EXIT_INVVPID, i, true);
  const type = cpu.regs[i.reg] >>> 0;
  const lin = cpu.ea(i);
  const low = cpu.rd32(lin), high = cpu.rd32((lin + 4) | 0);
  const address = cpu.rd32((lin + 8) | 0), addressHigh = cpu.rd32((lin + 12) | 0);
  const vpid = low & 0xffff;
  if (type > 3 || (low & ~0xffff) || high) return E.vmFail(cpu, E.VMXERR_INVALID_INVEPT_INVVPID_OPERAND);
  if (type !== 2 && vpid === 0) return E.vmFail(cpu, E.VMXERR_INVALID_INVEPT_INVVPID_OPERAND);
  // Individual address: it must be canonical, which on this 32-bit CPU means bits 63:32 clear.
  if (type === 0 && addressHigh) return E.vmFail(cpu, E.VMXERR_INVALID_INVEPT_INVVPID_OPERAND);
  invvpidTlb(cpu, type, vpid, address);
  E.vmSucceed(cpu);
}

/** The handler for an opcode-table row `vmx:ARG`. */
export function vmxHandler(arg: number): Handler {
  switch (arg) {
    case VMX_C7_6:
      return (cpu, i) => {
        if (i.rep === 1) vmxon(cpu, i);
        else if (i.opsize32 !== cpu.code32) vmclear(cpu, i);
        else vmptrld(cpu, i);
      };
    case VMX_VMPTRST:
      return vmptrst;
    case VMX_VMREAD:
      return vmread;
    case VMX_VMWRITE:
      return vmwrite;
    case VMX_VMCALL:
      return vmcall;
    case VMX_VMLAUNCH:
      return (cpu) => vmlaunch(cpu, false);
    case VMX_VMRESUME:
      return (cpu) => vmlaunch(cpu, true);
    case VMX_VMXOFF:
      return vmxoff;
    case VMX_INVEPT:
      return invept;
    case VMX_INVVPID:
      return invvpid;
  }
  throw new RangeError(`no VMX instruction ${arg}`);
}
