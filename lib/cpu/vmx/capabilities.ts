/**
 * The VMX capability MSRs (Intel SDM Vol. 3D, Appendix A) and IA32_FEATURE_CONTROL, shaped as
 * KVM's nested VMX reports them to an L1 guest on a recent Intel CPU (revision id, WB memory type,
 * INS/OUTS exit information, TRUE controls), but reduced to what this VMX implements: a control
 * bit is allowed-1 only when entry and exit honour it. The default1 bits are the SDM's (A.2).
 * This CPU has no Intel 64, so BASIC bit 48 limits VMX structures to 32-bit physical addresses
 * and no control for a 64-bit host or guest is offered.
 */
import { cpuid } from "../models.ts";
import type { Cpu } from "../cpu.ts";
import { MAX_FIELD_INDEX } from "./fields.ts";

/** The VMCS revision identifier KVM gives vmcs12 (VMCS12_REVISION). */
export const VMCS_REVISION = 0x11e57ed0;
/** Bit 31 of a VMCS region's first dword: a shadow VMCS (SDM 25.10). */
export const SHADOW_VMCS_INDICATOR = 0x80000000 | 0;
export const VMCS_SIZE = 4096;

export const MSR_IA32_FEATURE_CONTROL = 0x3a;
export const FEATURE_CONTROL_LOCKED = 1 << 0, FEATURE_CONTROL_VMXON_OUTSIDE_SMX = 1 << 2;

export const MSR_IA32_VMX_BASIC = 0x480, MSR_IA32_VMX_PINBASED_CTLS = 0x481;
export const MSR_IA32_VMX_PROCBASED_CTLS = 0x482, MSR_IA32_VMX_EXIT_CTLS = 0x483;
export const MSR_IA32_VMX_ENTRY_CTLS = 0x484, MSR_IA32_VMX_MISC = 0x485;
export const MSR_IA32_VMX_CR0_FIXED0 = 0x486, MSR_IA32_VMX_CR0_FIXED1 = 0x487;
export const MSR_IA32_VMX_CR4_FIXED0 = 0x488, MSR_IA32_VMX_CR4_FIXED1 = 0x489;
export const MSR_IA32_VMX_VMCS_ENUM = 0x48a, MSR_IA32_VMX_PROCBASED_CTLS2 = 0x48b;
export const MSR_IA32_VMX_EPT_VPID_CAP = 0x48c, MSR_IA32_VMX_TRUE_PINBASED_CTLS = 0x48d;
export const MSR_IA32_VMX_TRUE_PROCBASED_CTLS = 0x48e, MSR_IA32_VMX_TRUE_EXIT_CTLS = 0x48f;
export const MSR_IA32_VMX_TRUE_ENTRY_CTLS = 0x490, MSR_IA32_VMX_VMFUNC = 0x491;

// Pin-based controls (SDM Table 25-5)
export const PIN_EXT_INTR_EXITING = 1 << 0, PIN_NMI_EXITING = 1 << 3, PIN_VIRTUAL_NMIS = 1 << 5;
export const PIN_PREEMPTION_TIMER = 1 << 6;
// Primary processor-based controls (Table 25-6)
export const CPU_INTR_WINDOW_EXITING = 1 << 2, CPU_TSC_OFFSETTING = 1 << 3, CPU_HLT_EXITING = 1 << 7;
export const CPU_INVLPG_EXITING = 1 << 9, CPU_MWAIT_EXITING = 1 << 10, CPU_RDPMC_EXITING = 1 << 11;
export const CPU_RDTSC_EXITING = 1 << 12, CPU_CR3_LOAD_EXITING = 1 << 15, CPU_CR3_STORE_EXITING = 1 << 16;
export const CPU_CR8_LOAD_EXITING = 1 << 19, CPU_CR8_STORE_EXITING = 1 << 20, CPU_TPR_SHADOW = 1 << 21;
export const CPU_NMI_WINDOW_EXITING = 1 << 22, CPU_MOV_DR_EXITING = 1 << 23;
export const CPU_UNCOND_IO_EXITING = 1 << 24, CPU_USE_IO_BITMAPS = 1 << 25, CPU_MONITOR_TRAP_FLAG = 1 << 27;
export const CPU_USE_MSR_BITMAPS = 1 << 28, CPU_MONITOR_EXITING = 1 << 29, CPU_PAUSE_EXITING = 1 << 30;
export const CPU_ACTIVATE_SECONDARY = 1 << 31;
// Secondary processor-based controls (Table 25-7)
export const SEC_ENABLE_EPT = 1 << 1,
  SEC_DESC_TABLE_EXITING = 1 << 2,
  SEC_ENABLE_VPID = 1 << 5,
  SEC_UNRESTRICTED_GUEST = 1 << 7,
  SEC_SHADOW_VMCS = 1 << 14;
// VM-exit controls (Table 25-13) and VM-entry controls (Table 25-15)
export const EXIT_SAVE_DEBUG_CONTROLS = 1 << 2, EXIT_HOST_ADDR_SPACE_SIZE = 1 << 9;
export const EXIT_ACK_INTR_ON_EXIT = 1 << 15, EXIT_SAVE_PREEMPTION_TIMER = 1 << 22;
export const ENTRY_LOAD_DEBUG_CONTROLS = 1 << 2, ENTRY_IA32E_MODE = 1 << 9;

/** Bits that are 1 in every setting the SDM allows without the TRUE MSRs (Appendix A.3-A.5). */
export const PIN_DEFAULT1 = 0x00000016, CPU_DEFAULT1 = 0x0401e172;
export const EXIT_DEFAULT1 = 0x00036dff, ENTRY_DEFAULT1 = 0x000011ff;
/** The same through the TRUE MSRs: CR3 exiting and the debug-control bits may be 0. */
export const PIN_TRUE_DEFAULT1 = 0x00000016, CPU_TRUE_DEFAULT1 = 0x04006172;
export const EXIT_TRUE_DEFAULT1 = 0x00036dfb, ENTRY_TRUE_DEFAULT1 = 0x000011fb;

/**
 * Controls this implementation honours (allowed-1 beyond the default1 bits). The default1 bits
 * themselves are reserved or must-be-1 settings whose behaviour is the architectural baseline.
 */
export const PIN_SUPPORTED = PIN_DEFAULT1 | PIN_EXT_INTR_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS |
  PIN_PREEMPTION_TIMER;
export const CPU_SUPPORTED = CPU_DEFAULT1 | CPU_INTR_WINDOW_EXITING | CPU_NMI_WINDOW_EXITING |
  CPU_HLT_EXITING | CPU_INVLPG_EXITING | CPU_RDPMC_EXITING |
  CPU_RDTSC_EXITING | CPU_TPR_SHADOW | CPU_MOV_DR_EXITING | CPU_UNCOND_IO_EXITING | CPU_USE_IO_BITMAPS |
  CPU_USE_MSR_BITMAPS | CPU_PAUSE_EXITING | CPU_MONITOR_TRAP_FLAG | CPU_MONITOR_EXITING | CPU_MWAIT_EXITING |
  CPU_ACTIVATE_SECONDARY;
export const SEC_SUPPORTED = SEC_ENABLE_EPT | SEC_DESC_TABLE_EXITING | SEC_ENABLE_VPID |
  SEC_UNRESTRICTED_GUEST | SEC_SHADOW_VMCS;
export const EXIT_SUPPORTED = EXIT_DEFAULT1 | EXIT_ACK_INTR_ON_EXIT | EXIT_SAVE_PREEMPTION_TIMER;
export const ENTRY_SUPPORTED = ENTRY_DEFAULT1;

/** EPT_VPID_CAP bits 63:32: INVVPID (bit 32) of all four types (bits 40-43). */
const INVVPID_CAPS = 1n | (0xfn << 8n);

const ctls = (allowed0: number, allowed1: number) => (BigInt(allowed1 >>> 0) << 32n) | BigInt(allowed0 >>> 0);

/** The MSR values, by index. */
export const VMX_MSRS: ReadonlyMap<number, bigint> = new Map([
  [
    MSR_IA32_VMX_BASIC,
    BigInt(VMCS_REVISION) | (BigInt(VMCS_SIZE) << 32n) | (1n << 48n) | (6n << 50n) | (1n << 54n) |
    (1n << 55n),
  ],
  [MSR_IA32_VMX_PINBASED_CTLS, ctls(PIN_DEFAULT1, PIN_SUPPORTED)],
  [MSR_IA32_VMX_PROCBASED_CTLS, ctls(CPU_DEFAULT1, CPU_SUPPORTED)],
  [MSR_IA32_VMX_EXIT_CTLS, ctls(EXIT_DEFAULT1, EXIT_SUPPORTED)],
  [MSR_IA32_VMX_ENTRY_CTLS, ctls(ENTRY_DEFAULT1, ENTRY_SUPPORTED)],
  // Preemption timer rate 5 (TSC >> 5), activity state HLT; no CR3-target values; 512 MSR list
  // entries; VMWRITE to exit-information fields not allowed (so error 13 is observable).
  [MSR_IA32_VMX_MISC, 5n | (1n << 6n)],
  [MSR_IA32_VMX_CR0_FIXED0, 0x80000021n],
  [MSR_IA32_VMX_CR0_FIXED1, 0xffffffffn],
  [MSR_IA32_VMX_CR4_FIXED0, 0x2000n],
  [MSR_IA32_VMX_CR4_FIXED1, 0x26ffn],
  [MSR_IA32_VMX_VMCS_ENUM, BigInt(MAX_FIELD_INDEX << 1)],
  [MSR_IA32_VMX_PROCBASED_CTLS2, ctls(0, SEC_SUPPORTED)],
  // EPT: 4-level walk, UC and WB, 2 MiB and 1 GiB pages, INVEPT (single and all contexts),
  // accessed/dirty flags; INVVPID (bit 32) of all four types (bits 40-43).
  [
    MSR_IA32_VMX_EPT_VPID_CAP,
    (1n << 6n) | (1n << 8n) | (1n << 14n) | (1n << 16n) | (1n << 17n) | (1n << 20n) | (1n << 21n) |
    (1n << 25n) | (1n << 26n) | (INVVPID_CAPS << 32n),
  ],
  [MSR_IA32_VMX_TRUE_PINBASED_CTLS, ctls(PIN_TRUE_DEFAULT1, PIN_SUPPORTED)],
  [MSR_IA32_VMX_TRUE_PROCBASED_CTLS, ctls(CPU_TRUE_DEFAULT1, CPU_SUPPORTED)],
  [MSR_IA32_VMX_TRUE_EXIT_CTLS, ctls(EXIT_TRUE_DEFAULT1, EXIT_SUPPORTED)],
  [MSR_IA32_VMX_TRUE_ENTRY_CTLS, ctls(ENTRY_TRUE_DEFAULT1, ENTRY_SUPPORTED)],
  [MSR_IA32_VMX_VMFUNC, 0n],
]);

/**
 * The capability MSRs a kvm_intel L0 reports to its L1 (Linux's nested_vmx_setup_ctls_msrs): this
 * CPU's, less VMCS shadowing (L0 does not emulate it for L1's own guests, which Linux does), and
 * less VPID and INVVPID when L0 itself runs without VPIDs (kvm_intel vpid=0).
 */
export function nestedVmxMsrs(vpid: boolean): ReadonlyMap<number, bigint> {
  const msrs = new Map(VMX_MSRS);
  msrs.set(
    MSR_IA32_VMX_PROCBASED_CTLS2,
    ctls(0, SEC_SUPPORTED & ~SEC_SHADOW_VMCS & ~(vpid ? 0 : SEC_ENABLE_VPID)),
  );
  if (vpid) return msrs;
  msrs.set(MSR_IA32_VMX_EPT_VPID_CAP, VMX_MSRS.get(MSR_IA32_VMX_EPT_VPID_CAP)! & ~(INVVPID_CAPS << 32n));
  return msrs;
}

/** CPUID.1:ECX.VMX[bit 5] of the CPU's model. */
export function hasVmx(cpu: Cpu): boolean {
  return (cpuid(cpu.model, 1, 0)[2] & (1 << 5)) !== 0;
}

/** Allowed-0/allowed-1 check of a control word against its capability MSR. */
export function controlsValid(value: number, msr: number): boolean {
  const cap = VMX_MSRS.get(msr)!;
  const allowed0 = Number(cap & 0xffffffffn), allowed1 = Number(cap >> 32n);
  return ((value & allowed0) >>> 0) === allowed0 >>> 0 && (value & ~allowed1) === 0;
}
