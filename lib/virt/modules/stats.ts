/**
 * KVM statistics as debugfs names them (virt/kvm/kvm_main.c, arch/x86/kvm/x86.c stats
 * descriptors), and the VM-exit reasons kvm_stat counts as `kvm_exit(REASON)` events.
 */

/** Per-vCPU counters, summed over vCPUs in each VM's directory and over VMs at the top. */
export const VCPU_STATS = [
  "halt_successful_poll",
  "halt_attempted_poll",
  "halt_poll_invalid",
  "halt_wakeup",
  "halt_poll_success_ns",
  "halt_poll_fail_ns",
  "halt_wait_ns",
  "blocking",
  "pf_taken",
  "pf_fixed",
  "pf_guest",
  "tlb_flush",
  "invlpg",
  "exits",
  "io_exits",
  "mmio_exits",
  "signal_exits",
  "irq_window_exits",
  "nmi_window_exits",
  "l1d_flush",
  "halt_exits",
  "request_irq_exits",
  "irq_exits",
  "host_state_reload",
  "fpu_reload",
  "insn_emulation",
  "insn_emulation_fail",
  "hypercalls",
  "irq_injections",
  "nmi_injections",
  "req_event",
  "nested_run",
  "guest_mode",
] as const;

/** Per-VM counters. */
export const VM_STATS = [
  "remote_tlb_flush",
  "remote_tlb_flush_requests",
  "mmu_shadow_zapped",
  "mmu_pte_write",
  "mmu_pde_zapped",
  "mmu_flooded",
  "mmu_recycled",
  "mmu_cache_miss",
  "mmu_unsync",
  "pages_4k",
  "pages_2m",
  "pages_1g",
  "nx_lpage_splits",
  "max_mmu_page_hash_collisions",
  "max_mmu_rmap_size",
] as const;

export type StatName = typeof VCPU_STATS[number] | typeof VM_STATS[number];

export const ALL_STATS: readonly StatName[] = [...VM_STATS, ...VCPU_STATS];

const STAT_SET = new Set<string>(ALL_STATS);
export function isStatName(name: string): name is StatName {
  return STAT_SET.has(name);
}

/**
 * VMX basic exit reasons by number (arch/x86/include/uapi/asm/vmx.h VMX_EXIT_REASONS), the names
 * kvm_stat shows as `kvm_exit(NAME)` events on Intel hosts.
 */
export const VMX_EXIT_REASONS: Readonly<Record<number, string>> = {
  0: "EXCEPTION_NMI",
  1: "EXTERNAL_INTERRUPT",
  2: "TRIPLE_FAULT",
  3: "INIT_SIGNAL",
  4: "SIPI_SIGNAL",
  7: "INTERRUPT_WINDOW",
  8: "NMI_WINDOW",
  9: "TASK_SWITCH",
  10: "CPUID",
  12: "HLT",
  13: "INVD",
  14: "INVLPG",
  15: "RDPMC",
  16: "RDTSC",
  18: "VMCALL",
  19: "VMCLEAR",
  20: "VMLAUNCH",
  21: "VMPTRLD",
  22: "VMPTRST",
  23: "VMREAD",
  24: "VMRESUME",
  25: "VMWRITE",
  26: "VMOFF",
  27: "VMON",
  28: "CR_ACCESS",
  29: "DR_ACCESS",
  30: "IO_INSTRUCTION",
  31: "MSR_READ",
  32: "MSR_WRITE",
  33: "INVALID_STATE",
  34: "MSR_LOAD_FAIL",
  36: "MWAIT_INSTRUCTION",
  37: "MONITOR_TRAP_FLAG",
  39: "MONITOR_INSTRUCTION",
  40: "PAUSE_INSTRUCTION",
  41: "MCE_DURING_VMENTRY",
  43: "TPR_BELOW_THRESHOLD",
  44: "APIC_ACCESS",
  45: "EOI_INDUCED",
  46: "GDTR_IDTR",
  47: "LDTR_TR",
  48: "EPT_VIOLATION",
  49: "EPT_MISCONFIG",
  50: "INVEPT",
  51: "RDTSCP",
  52: "PREEMPTION_TIMER",
  53: "INVVPID",
  54: "WBINVD",
  55: "XSETBV",
  56: "APIC_WRITE",
  57: "RDRAND",
  58: "INVPCID",
  59: "VMFUNC",
  60: "ENCLS",
  61: "RDSEED",
  62: "PML_FULL",
  63: "XSAVES",
  64: "XRSTORS",
};

/** Exit-reason keys are upper-case words; VMX's are above, SVM's ("NPF", "IOIO") are welcome too. */
export function isExitReasonName(name: string): boolean {
  return /^[A-Z][A-Z0-9_]*$/.test(name);
}
