/**
 * L0's emulation of L1's VMX instructions (Linux's arch/x86/kvm/vmx/nested.c handle_vmon,
 * handle_vmptrld, handle_vmread, ...), following the SDM's "VMX Instruction Reference" order of
 * checks as the emulated CPU does for a bare-metal hypervisor: #UD outside VMX operation, #GP above
 * CPL 0, then VMfailInvalid/VMfailValid(n) with the error stored in vmcs12, then the operation.
 * The operands come from the exit's instruction information and L1's registers and memory.
 */
import { exits as X, F, lookupField, Vmcs, VMCS_REVISION } from "../../../cpu/vmx/mod.ts";
import * as E from "../../../cpu/vmx/errors.ts";
import { TYPE_EXIT_INFO } from "../../../cpu/vmx/fields.ts";
import { eptpValid } from "../../../cpu/vmx/ept.ts";
import { LAUNCH_CLEAR, LAUNCH_LAUNCHED } from "../../../cpu/vmx/vmcs.ts";
import type { PendingExit } from "../../../cpu/vmx/mod.ts";
import type { L0Vcpu } from "../intel/nested_seam.ts";
import {
  gp,
  gpr,
  hpa,
  l1Cpl,
  operandLinear,
  read32,
  readLinear32,
  setGpr,
  setL1Flags,
  ud,
  VM_FAIL_INVALID,
  VM_FAIL_VALID,
  VM_SUCCEED,
  writeLinear32,
} from "./l1.ts";
import { type NestedState, nestedState, NO_VMCS12 } from "./state.ts";
import { invvpid02 } from "./tlb.ts";
import { enterL2 } from "./vmcs02.ts";

const MSR_IA32_FEATURE_CONTROL = 0x3a, CR4_VMXE = 1 << 13;

/**
 * vmcs12, L1's current VMCS, as L0 keeps it (Linux's cached_vmcs12): its fields loaded from the
 * host page behind L1's current-VMCS pointer at first use, written back when L1 clears it, loads
 * another or leaves VMX operation (releaseVmcs12). L1 must not touch an active VMCS in memory
 * (SDM 25.11), so the copy is what L1's VMREAD/VMWRITE and L0's VM entries see.
 */
export function vmcs12(vcpu: L0Vcpu, s: NestedState): Vmcs {
  const c = s.cached12;
  if (c !== undefined && s.cachedAt === s.current) return c;
  releaseVmcs12(s);
  s.cachedAt = s.current;
  return s.cached12 = new Vmcs(vcpu.cpu.bus, hpa(vcpu, s.current)).activate();
}

/** Writes L0's copy of vmcs12 back into L1 memory and forgets it. */
function releaseVmcs12(s: NestedState): void {
  s.cached12?.writeBack();
  s.cached12 = undefined;
  s.cachedAt = NO_VMCS12;
}

function vmFail(vcpu: L0Vcpu, s: NestedState, error: number): void {
  if (s.current === NO_VMCS12) return setL1Flags(vcpu, VM_FAIL_INVALID);
  setL1Flags(vcpu, VM_FAIL_VALID);
  vmcs12(vcpu, s).set(F.VM_INSTRUCTION_ERROR, error);
}

/** The 64-bit page-address operand; -1 when it cannot name a 4K-aligned page below 4 GiB. */
function pageOperand(vcpu: L0Vcpu, exit: PendingExit): number {
  const lin = operandLinear(vcpu, exit.instructionInfo, exit.qualification);
  const low = readLinear32(vcpu, lin), high = readLinear32(vcpu, (lin + 4) | 0);
  return high !== 0 || (low & 0xfff) !== 0 ? -1 : low >>> 0;
}

/**
 * Emulates the VMX instruction that caused `exit`; L1Fault when it faults instead. Returns true
 * when VMLAUNCH/VMRESUME left L1 (L2 runs, or a failed entry put L1 at vmcs12's HOST_RIP), so
 * L1's RIP must not move past the instruction.
 */
export function emulateVmxInstruction(vcpu: L0Vcpu, exit: PendingExit): boolean {
  const s = nestedState(vcpu), v01 = vcpu.vmcs01, reason = exit.reason;
  // INVVPID is not offered to L1 when L0 runs without VPIDs (handle_invvpid's first check).
  if (reason === X.EXIT_INVVPID && !vcpu.ctx.params.vpid) ud();
  if (reason !== X.EXIT_VMXON && !s.vmxon) ud();
  if (l1Cpl(v01) > 0) gp();
  switch (reason) {
    case X.EXIT_VMXON:
      vmxon(vcpu, s, exit);
      break;
    case X.EXIT_VMXOFF:
      releaseVmcs12(s);
      s.vmxon = false;
      s.current = NO_VMCS12;
      setL1Flags(vcpu, VM_SUCCEED);
      break;
    case X.EXIT_VMCLEAR: {
      const p = pageOperand(vcpu, exit);
      if (p < 0) vmFail(vcpu, s, E.VMXERR_VMCLEAR_INVALID_ADDRESS);
      else if (p === s.vmxonPointer) vmFail(vcpu, s, E.VMXERR_VMCLEAR_VMXON_POINTER);
      else {
        if (p === s.cachedAt) releaseVmcs12(s);
        new Vmcs(vcpu.cpu.bus, hpa(vcpu, p)).launchState = LAUNCH_CLEAR;
        if (p === s.current) s.current = NO_VMCS12;
        setL1Flags(vcpu, VM_SUCCEED);
      }
      break;
    }
    case X.EXIT_VMPTRLD: {
      const p = pageOperand(vcpu, exit);
      if (p < 0) vmFail(vcpu, s, E.VMXERR_VMPTRLD_INVALID_ADDRESS);
      else if (p === s.vmxonPointer) vmFail(vcpu, s, E.VMXERR_VMPTRLD_VMXON_POINTER);
      else if ((read32(vcpu, p) >>> 0) !== VMCS_REVISION) {
        vmFail(vcpu, s, E.VMXERR_VMPTRLD_INCORRECT_REVISION);
      } else {
        if (p !== s.cachedAt) releaseVmcs12(s);
        s.current = p;
        setL1Flags(vcpu, VM_SUCCEED);
      }
      break;
    }
    case X.EXIT_VMPTRST: {
      const lin = operandLinear(vcpu, exit.instructionInfo, exit.qualification);
      writeLinear32(vcpu, lin, s.current);
      writeLinear32(vcpu, (lin + 4) | 0, s.current === NO_VMCS12 ? -1 : 0);
      setL1Flags(vcpu, VM_SUCCEED);
      break;
    }
    case X.EXIT_VMREAD:
    case X.EXIT_VMWRITE:
      vmreadVmwrite(vcpu, s, exit);
      break;
    case X.EXIT_VMLAUNCH:
    case X.EXIT_VMRESUME:
      return launch(vcpu, s, reason === X.EXIT_VMRESUME);
    case X.EXIT_INVEPT:
    case X.EXIT_INVVPID:
      invalidate(vcpu, s, exit);
      break;
    default:
      throw new RangeError(`nested: exit ${reason} is no VMX instruction`);
  }
  return false;
}

function vmxon(vcpu: L0Vcpu, s: NestedState, exit: PendingExit): void {
  if (s.vmxon) return vmFail(vcpu, s, E.VMXERR_VMXON_IN_VMX_ROOT);
  const control = Number(vcpu.ctx.msrs.get(MSR_IA32_FEATURE_CONTROL) ?? 0n);
  const cr0 = vcpu.guestCr(0), cr4 = vcpu.guestCr(4);
  // CR0_FIXED0 (PE, NE, PG), CR4.VMXE, and IA32_FEATURE_CONTROL locked with VMXON outside SMX.
  if ((cr0 & 0x80000021) !== (0x80000021 | 0) || !(cr4 & CR4_VMXE) || (control & 5) !== 5) gp();
  const p = pageOperand(vcpu, exit);
  if (p < 0 || (read32(vcpu, p) >>> 0) !== VMCS_REVISION) return setL1Flags(vcpu, VM_FAIL_INVALID);
  s.vmxon = true;
  s.vmxonPointer = p;
  s.current = NO_VMCS12;
  setL1Flags(vcpu, VM_SUCCEED);
}

function vmreadVmwrite(vcpu: L0Vcpu, s: NestedState, exit: PendingExit): void {
  if (s.current === NO_VMCS12) return setL1Flags(vcpu, VM_FAIL_INVALID);
  const info = exit.instructionInfo, register = (info & (1 << 10)) !== 0;
  const lin = register ? 0 : operandLinear(vcpu, info, exit.qualification);
  const write = exit.reason === X.EXIT_VMWRITE;
  // VMWRITE reads its source before looking at the field (a faulting source faults first).
  const value = write ? (register ? gpr(vcpu, (info >> 3) & 0xf) : readLinear32(vcpu, lin)) : 0;
  const hit = lookupField(gpr(vcpu, (info >>> 28) & 0xf));
  if (!hit) return vmFail(vcpu, s, E.VMXERR_UNSUPPORTED_VMCS_COMPONENT);
  const v12 = vmcs12(vcpu, s);
  if (write) {
    // IA32_VMX_MISC[29] is 0: exit-information fields are read-only, as on the emulated CPU.
    if (hit.field.type === TYPE_EXIT_INFO) return vmFail(vcpu, s, E.VMXERR_VMWRITE_READ_ONLY_COMPONENT);
    if (hit.high) v12.writeHigh(hit.field, value);
    else v12.writeLow(hit.field, value);
  } else {
    const v = hit.high ? v12.readHigh(hit.field) : v12.readLow(hit.field);
    if (register) setGpr(vcpu, (info >> 3) & 0xf, v);
    else writeLinear32(vcpu, lin, v);
  }
  setL1Flags(vcpu, VM_SUCCEED);
}

function launch(vcpu: L0Vcpu, s: NestedState, resume: boolean): boolean {
  if (s.current === NO_VMCS12) {
    setL1Flags(vcpu, VM_FAIL_INVALID);
    return false;
  }
  const v12 = vmcs12(vcpu, s), state = v12.launchState;
  if (!resume && state !== LAUNCH_CLEAR) vmFail(vcpu, s, E.VMXERR_VMLAUNCH_NONCLEAR_VMCS);
  else if (resume && state !== LAUNCH_LAUNCHED) vmFail(vcpu, s, E.VMXERR_VMRESUME_NONLAUNCHED_VMCS);
  else return enterL2(vcpu, s, v12, (error) => vmFail(vcpu, s, error));
  return false;
}

/** INVEPT/INVVPID: operand checks as the CPU makes them, then L2's translations they name go. */
function invalidate(vcpu: L0Vcpu, s: NestedState, exit: PendingExit): void {
  const type = gpr(vcpu, (exit.instructionInfo >>> 28) & 0xf) >>> 0;
  const lin = operandLinear(vcpu, exit.instructionInfo, exit.qualification);
  const d = [0, 4, 8, 12].map((k) => readLinear32(vcpu, (lin + k) | 0));
  if (exit.reason === X.EXIT_INVEPT) {
    if ((type !== 1 && type !== 2) || (type === 1 && !eptpValid(d[0], d[1]))) {
      return vmFail(vcpu, s, E.VMXERR_INVALID_INVEPT_INVVPID_OPERAND);
    }
    // EPT02 holds EPT12's mappings: dropping it drops the combined mappings made under it too.
    s.ept02?.zap();
  } else {
    const vpid = d[0] & 0xffff;
    if (type > 3 || (d[0] & ~0xffff) || d[1] || (type !== 2 && vpid === 0) || (type === 0 && d[3])) {
      return vmFail(vcpu, s, E.VMXERR_INVALID_INVEPT_INVVPID_OPERAND);
    }
    invvpid02(vcpu, s, type, vpid, d[2]);
  }
  setL1Flags(vcpu, VM_SUCCEED);
}
