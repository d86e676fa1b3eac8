/**
 * The module table: every simulated kernel module with its file, size, dependencies, modinfo
 * metadata and parameter table (name, type, default as sysfs shows it, sysfs permission). Values
 * follow Linux 6.8 (virt/kvm/kvm_main.c, arch/x86/kvm/{x86.c,mmu/mmu.c,vmx/vmx.c,svm/svm.c}).
 * Everything else in lib/virt/modules reads this table; nothing about a module is written elsewhere.
 */

/** The kernel's param types (kernel/params.c ops) as modinfo's `parmtype` names them. */
export type ParamType = "bool" | "bint" | "int" | "uint" | "ushort" | "charp";

export interface ParamSpec {
  readonly name: string;
  readonly type: ParamType;
  /** The value a fresh load shows in /sys/module/<m>/parameters/<name>. */
  readonly default: string;
  /** sysfs permission: 0o644 may be written at runtime, 0o444 is read-only after load. */
  readonly perm: 0o644 | 0o444;
  /** For callback parameters that take words (`vmentry_l1d_flush`, `nx_huge_pages`). */
  readonly choices?: readonly string[];
  /** MODULE_PARM_DESC; most KVM parameters have none, so modinfo shows `name:type`. */
  readonly desc?: string;
  /** No MODULE_PARM_TYPE either: callback parameter absent from modinfo. */
  readonly hidden?: boolean;
}

export type Vendor = "intel" | "amd";

export interface ModuleSpec {
  readonly name: string;
  /** Path under /lib/modules/<release>/, as modules.dep names it. */
  readonly file: string;
  readonly size: number;
  /** Direct dependencies (modinfo `depends:`), in modules.dep order. */
  readonly depends: readonly string[];
  /** A symbol taken from the first dependency, named in "Unknown symbol" kernel messages. */
  readonly importedSymbol?: string;
  /** Symbols the module exports (modprobe -c's symbol index). */
  readonly exports: readonly string[];
  readonly vendor?: Vendor;
  readonly license: string;
  readonly author?: string;
  readonly description: string;
  readonly srcversion: string;
  readonly aliases: readonly string[];
  readonly params: readonly ParamSpec[];
  /** Kernel-log lines printed by a successful load, each shown only when its parameter reads Y/1. */
  readonly loadMessages?: readonly { readonly when?: string; readonly text: string }[];
}

const b = (name: string, def: "Y" | "N", perm: 0o644 | 0o444 = 0o444): ParamSpec => ({
  name,
  type: "bool",
  default: def,
  perm,
});
const n = (name: string, type: ParamType, def: string, perm: 0o644 | 0o444 = 0o444): ParamSpec => ({
  name,
  type,
  default: def,
  perm,
});

export const MODULES: readonly ModuleSpec[] = [
  {
    name: "irqbypass",
    file: "kernel/virt/lib/irqbypass.ko.zst",
    size: 12288,
    depends: [],
    exports: ["irq_bypass_register_consumer", "irq_bypass_register_producer"],
    license: "GPL v2",
    description: "IRQ bypass manager utility module",
    srcversion: "8A6DC1B2E6F7C73D1E9F0A5",
    aliases: [],
    params: [],
  },
  {
    name: "kvm",
    file: "kernel/arch/x86/kvm/kvm.ko.zst",
    size: 1409024,
    depends: ["irqbypass"],
    importedSymbol: "irq_bypass_register_consumer",
    exports: ["kvm_init", "kvm_exit", "kvm_x86_vendor_init", "kvm_vcpu_halt"],
    license: "GPL",
    author: "Qumranet",
    description: "Kernel-based Virtual Machine (KVM) Hypervisor",
    srcversion: "E4F3B5AB8AB6A4C2D3E1F09",
    aliases: ["devname:kvm", "char-major-10-232"],
    params: [
      { ...n("nx_huge_pages", "bool", "N", 0o644), choices: ["off", "force", "on", "auto", "never"] },
      n("nx_huge_pages_recovery_ratio", "uint", "60", 0o644),
      n("nx_huge_pages_recovery_period_ms", "uint", "0", 0o644),
      b("flush_on_reuse", "N", 0o644),
      b("tdp_mmu", "Y"),
      b("ignore_msrs", "N", 0o644),
      b("report_ignored_msrs", "Y", 0o644),
      n("min_timer_period_us", "uint", "200", 0o644),
      b("kvmclock_periodic_sync", "Y"),
      n("tsc_tolerance_ppm", "uint", "250", 0o644),
      b("vector_hashing", "Y"),
      b("enable_vmware_backdoor", "N"),
      n("force_emulation_prefix", "int", "0", 0o644),
      n("pi_inject_timer", "bint", "-1", 0o644),
      b("enable_pmu", "Y"),
      b("eager_page_split", "Y", 0o644),
      b("mitigate_smt_rsb", "N"),
      n("halt_poll_ns", "uint", "200000", 0o644),
      n("halt_poll_ns_grow", "uint", "2", 0o644),
      n("halt_poll_ns_grow_start", "uint", "10000", 0o644),
      n("halt_poll_ns_shrink", "uint", "2", 0o644),
      b("allow_unsafe_mappings", "N"),
      b("enable_virt_at_load", "Y"),
    ],
  },
  {
    name: "kvm_intel",
    file: "kernel/arch/x86/kvm/kvm-intel.ko.zst",
    size: 487424,
    depends: ["kvm"],
    importedSymbol: "kvm_x86_vendor_init",
    exports: [],
    vendor: "intel",
    license: "GPL",
    author: "Qumranet",
    description: "KVM support for VMX (Intel VT-x) extensions",
    srcversion: "3C9D5E0F4B8A71A2D6C0B13",
    aliases: ["cpu:type:x86,ven*fam*mod*:feature:*0085*"],
    params: [
      b("enlightened_vmcs", "Y"),
      b("vpid", "Y"),
      b("vnmi", "Y"),
      b("flexpriority", "Y"),
      b("ept", "Y"),
      b("unrestricted_guest", "Y"),
      b("eptad", "Y"),
      b("emulate_invalid_guest_state", "Y"),
      b("fasteoi", "Y"),
      b("enable_apicv", "Y"),
      b("enable_ipiv", "Y"),
      b("nested", "Y"),
      b("enable_shadow_vmcs", "Y"),
      b("pml", "Y"),
      b("error_on_inconsistent_vmcs_config", "Y"),
      b("dump_invalid_vmcs", "N", 0o644),
      b("preemption_timer", "Y"),
      b("allow_smaller_maxphyaddr", "N"),
      n("ple_gap", "uint", "128"),
      n("ple_window", "uint", "4096"),
      n("ple_window_grow", "uint", "2"),
      n("ple_window_shrink", "uint", "0"),
      n("ple_window_max", "uint", "4294967295"),
      n("pt_mode", "int", "0"),
      {
        ...n("vmentry_l1d_flush", "charp", "not required", 0o644),
        choices: ["auto", "never", "cond", "always"],
        hidden: true,
      },
      b("sgx", "N"),
    ],
  },
  {
    name: "kvm_amd",
    file: "kernel/arch/x86/kvm/kvm-amd.ko.zst",
    size: 200704,
    depends: ["kvm"],
    importedSymbol: "kvm_x86_vendor_init",
    exports: [],
    vendor: "amd",
    license: "GPL",
    author: "Qumranet",
    description: "KVM support for SVM (AMD-V) extensions",
    srcversion: "7B1E2A9C0D4F6E8A3B5C7D1",
    aliases: ["cpu:type:x86,ven*fam*mod*:feature:*00C2*"],
    params: [
      b("npt", "Y"),
      n("nested", "int", "1"),
      n("nrips", "int", "1"),
      n("vls", "int", "1"),
      n("vgif", "int", "1"),
      n("lbrv", "int", "1"),
      n("tsc_scaling", "int", "1"),
      b("avic", "N"),
      b("force_avic", "N"),
      b("dump_invalid_vmcb", "N", 0o644),
      b("intercept_smi", "Y"),
      b("vnmi", "Y"),
      n("pause_filter_thresh", "ushort", "128"),
      n("pause_filter_count", "ushort", "3000"),
      n("pause_filter_count_grow", "ushort", "2"),
      n("pause_filter_count_shrink", "ushort", "0"),
      n("pause_filter_count_max", "ushort", "65535"),
      b("sev", "N"),
      b("sev_es", "N"),
      b("sev_snp", "N"),
      b("debug_swap", "N"),
    ],
    loadMessages: [
      { when: "tsc_scaling", text: "TSC scaling supported" },
      { when: "nested", text: "Nested Virtualization enabled" },
      { when: "npt", text: "Nested Paging enabled" },
      { when: "vls", text: "Virtual VMLOAD VMSAVE supported" },
      { when: "vgif", text: "Virtual GIF supported" },
      { when: "lbrv", text: "LBR virtualization supported" },
    ],
  },
];

const byName = new Map(MODULES.map((m) => [m.name, m]));

/** kmod treats `-` and `_` alike in module names; the kernel's name uses `_`. */
export function normalizeModuleName(name: string): string {
  return name.replaceAll("-", "_");
}

export function findModule(name: string): ModuleSpec | undefined {
  return byName.get(normalizeModuleName(name));
}

export function findParam(mod: ModuleSpec, name: string): ParamSpec | undefined {
  return mod.params.find((p) => p.name === name);
}

/**
 * modules.dep's view: every module this one needs, transitively, nearest first (the order depmod
 * writes them in, e.g. `kvm-intel.ko: kvm.ko irqbypass.ko`).
 */
export function transitiveDepends(mod: ModuleSpec): ModuleSpec[] {
  const out: ModuleSpec[] = [];
  const walk = (m: ModuleSpec) => {
    for (const name of m.depends) {
      const dep = byName.get(name)!;
      if (!out.includes(dep)) {
        out.push(dep);
        walk(dep);
      }
    }
  };
  walk(mod);
  return out;
}
