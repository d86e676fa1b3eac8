/**
 * The small entry points the CPU core calls where VMX changes an existing instruction: RDMSR and
 * WRMSR of the VMX MSRs, and MOV to CR0/CR4 while in VMX operation (Intel SDM Vol. 3C, 24.8:
 * CR0/CR4 bits pinned by the FIXED MSRs cannot change; CR4.VMXE exists only with CPUID VMX).
 */
import type { Cpu } from "../cpu.ts";
import { gp } from "../faults.ts";
import {
  CPU_ACTIVATE_SECONDARY,
  FEATURE_CONTROL_LOCKED,
  hasVmx,
  MSR_IA32_FEATURE_CONTROL,
  MSR_IA32_VMX_BASIC,
  MSR_IA32_VMX_VMFUNC,
  SEC_UNRESTRICTED_GUEST,
  VMX_MSRS,
} from "./capabilities.ts";
import { CR4_VMXE } from "./instructions.ts";
import { currentVmcs, inVmxOperation } from "./state.ts";
import { F } from "./fields.ts";

/** True for the MSR indexes this file answers. */
export function isVmxMsr(n: number): boolean {
  return n === MSR_IA32_FEATURE_CONTROL || (n >= MSR_IA32_VMX_BASIC && n <= MSR_IA32_VMX_VMFUNC);
}

/** RDMSR of a VMX MSR: the capability MSRs exist only on a CPU that reports VMX (#GP otherwise). */
export function vmxReadMsr(cpu: Cpu, n: number): bigint {
  if (n === MSR_IA32_FEATURE_CONTROL) return cpu.msrs.get(n) ?? 0n;
  if (!hasVmx(cpu)) gp(0);
  return VMX_MSRS.get(n)!;
}

/** WRMSR of a VMX MSR: the capability MSRs are read-only; FEATURE_CONTROL is frozen once locked. */
export function vmxWriteMsr(cpu: Cpu, n: number, v: bigint): void {
  if (n !== MSR_IA32_FEATURE_CONTROL) gp(0);
  const old = cpu.msrs.get(n) ?? 0n;
  // Lock and VMXON-outside-SMX are all this CPU implements (no SMX); the VMX bit needs CPUID VMX.
  if ((old & BigInt(FEATURE_CONTROL_LOCKED)) || (v & ~5n) || ((v & 4n) && !hasVmx(cpu))) gp(0);
  cpu.msrs.set(n, v);
}

/** MOV to CR4 that must #GP because of VMX: VMXE without CPUID VMX, or clearing it in VMX operation. */
export function vmxCr4Fault(cpu: Cpu, v: number): boolean {
  return (v & CR4_VMXE) ? !hasVmx(cpu) : inVmxOperation(cpu);
}

/**
 * MOV to CR0 in VMX operation that would clear PE, NE or PG (CR0_FIXED0) must #GP; an
 * unrestricted guest may clear PE and PG.
 */
export function vmxCr0Fault(cpu: Cpu, v: number): boolean {
  if (!inVmxOperation(cpu)) return false;
  const fixed = cpu.vmxNonRoot && unrestrictedGuest(cpu) ? 0x20 : 0x80000021 | 0;
  return (v & fixed) !== fixed;
}

function unrestrictedGuest(cpu: Cpu): boolean {
  const vmcs = currentVmcs(cpu);
  return (vmcs.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_ACTIVATE_SECONDARY) !== 0 &&
    (vmcs.get(F.SECONDARY_VM_EXEC_CONTROL) & SEC_UNRESTRICTED_GUEST) !== 0;
}
