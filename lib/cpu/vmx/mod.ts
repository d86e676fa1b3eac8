/**
 * VMX for the CPU core (Intel SDM Vol. 3C): what the core's hooks and later kvm_intel use.
 *
 * - `vmxHandler(arg)`: handlers of the opcode rows `vmx:ARG`;
 * - `vmxReadMsr`/`vmxWriteMsr`: IA32_FEATURE_CONTROL and the capability MSRs 0x480-0x491;
 * - `vmxCr0Fault`/`vmxCr4Fault`: the MOV CR0/CR4 rules of VMX operation;
 * - `vmxState(cpu)`, `Vmcs`, `F` (field encodings by SDM name), `VMX_MSRS`;
 * - for an L0 in TypeScript (kvm_intel): `vmEntry(cpu, vmcs)` enters a guest from a prepared VMCS
 *   (checks, guest state, injection), `cpu.run()` runs it in non-root operation, and
 *   `vmxState(cpu).onExit` hears each exit after host state is loaded.
 */
export { vmxHandler } from "./instructions.ts";
export { entryCheck, vmEntry } from "./entry.ts";
export { type EptMemory, eptTranslate } from "./ept.ts";
export { EptWalker } from "./ept.ts";
export type { PendingExit } from "./exit.ts";
export { isVmxMsr, vmxCr0Fault, vmxCr4Fault, vmxReadMsr, vmxWriteMsr } from "./hooks.ts";
export { currentVmcs, inVmxOperation, makeCurrent, NO_VMCS, vmxState } from "./state.ts";
export { Vmcs } from "./vmcs.ts";
export { F, FIELDS, lookupField } from "./fields.ts";
export { hasVmx, VMCS_REVISION, VMX_MSRS } from "./capabilities.ts";
export * from "./errors.ts";
export * from "./intercepts.ts";
export { instructionExit, recordExitInformation, vmExit, vmxException, vmxTripleFault } from "./exit.ts";
export { vmxInstructionInfo } from "./instructions.ts";
export { loadMsrList, type MsrListAccess, storeMsrList } from "./msr_lists.ts";
export * as exits from "./exit.ts";
