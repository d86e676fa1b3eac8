/**
 * VM-instruction error numbers (Intel SDM Vol. 3C, "VM Instruction Error Numbers") and the
 * three result forms of a VMX instruction: VMsucceed, VMfailInvalid, VMfailValid(n).
 */
import type { Cpu } from "../cpu.ts";
import { CF, ZF } from "../state.ts";
import { F } from "./fields.ts";
import { currentVmcs, NO_VMCS, vmxState } from "./state.ts";

export const VMXERR_VMCALL_IN_ROOT = 1;
export const VMXERR_VMCLEAR_INVALID_ADDRESS = 2;
export const VMXERR_VMCLEAR_VMXON_POINTER = 3;
export const VMXERR_VMLAUNCH_NONCLEAR_VMCS = 4;
export const VMXERR_VMRESUME_NONLAUNCHED_VMCS = 5;
export const VMXERR_VMRESUME_AFTER_VMXOFF = 6;
export const VMXERR_ENTRY_INVALID_CONTROL_FIELD = 7;
export const VMXERR_ENTRY_INVALID_HOST_STATE_FIELD = 8;
export const VMXERR_VMPTRLD_INVALID_ADDRESS = 9;
export const VMXERR_VMPTRLD_VMXON_POINTER = 10;
export const VMXERR_VMPTRLD_INCORRECT_REVISION = 11;
export const VMXERR_UNSUPPORTED_VMCS_COMPONENT = 12;
export const VMXERR_VMWRITE_READ_ONLY_COMPONENT = 13;
export const VMXERR_VMXON_IN_VMX_ROOT = 15;
export const VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS = 26;
export const VMXERR_INVALID_INVEPT_INVVPID_OPERAND = 28;

/** VMsucceed: CF, PF, AF, ZF, SF and OF cleared. */
export function vmSucceed(cpu: Cpu): void {
  cpu.setArithFlags(0);
}

export function vmFailInvalid(cpu: Cpu): void {
  cpu.setArithFlags(CF);
}

/** VMfail(n): VMfailValid with the error recorded when there is a current VMCS, else VMfailInvalid. */
export function vmFail(cpu: Cpu, error: number): void {
  const s = vmxState(cpu);
  if (s.currentVmcs === NO_VMCS) {
    vmFailInvalid(cpu);
    return;
  }
  cpu.setArithFlags(ZF);
  currentVmcs(cpu).set(F.VM_INSTRUCTION_ERROR, error);
}
