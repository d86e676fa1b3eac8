/**
 * The KVM capabilities the simulated /dev/kvm answers to KVM_CHECK_EXTENSION, with their numbers
 * (include/uapi/linux/kvm.h) and the value the loaded modules give. One table; `kvm-ctl caps`
 * prints it and lib/virt/kvm can answer ioctls from it.
 */
import type { Kernel } from "./kernel.ts";

export const KVM_API_VERSION = 12;

/** KVM_USER_MEM_SLOTS and KVM_MAX_VCPUS of x86 in 6.8. */
const USER_MEM_SLOTS = 32764;
const MAX_VCPUS = 1024;

interface Capability {
  name: string;
  nr: number;
  /** 0 means "not offered"; the vendor is "kvm_intel" or "kvm_amd". */
  value(k: Kernel, vendor: string): number;
}

const always = (v: number) => () => v;
const nestedOn = (k: Kernel, vendor: string) => {
  const v = k.loaded(vendor)?.params.nested;
  return v === "Y" || v === "1";
};

export const CAPABILITIES: readonly Capability[] = [
  { name: "KVM_CAP_IRQCHIP", nr: 0, value: always(1) },
  { name: "KVM_CAP_HLT", nr: 1, value: always(1) },
  { name: "KVM_CAP_USER_MEMORY", nr: 3, value: always(1) },
  { name: "KVM_CAP_SET_TSS_ADDR", nr: 4, value: always(1) },
  { name: "KVM_CAP_EXT_CPUID", nr: 7, value: always(1) },
  { name: "KVM_CAP_NR_VCPUS", nr: 9, value: always(navigator.hardwareConcurrency || 1) },
  { name: "KVM_CAP_NR_MEMSLOTS", nr: 10, value: always(USER_MEM_SLOTS) },
  { name: "KVM_CAP_PIT", nr: 11, value: always(1) },
  { name: "KVM_CAP_MP_STATE", nr: 14, value: always(1) },
  { name: "KVM_CAP_COALESCED_MMIO", nr: 15, value: always(2) },
  { name: "KVM_CAP_USER_NMI", nr: 22, value: always(1) },
  { name: "KVM_CAP_REINJECT_CONTROL", nr: 24, value: always(1) },
  { name: "KVM_CAP_IRQ_ROUTING", nr: 25, value: always(1) },
  { name: "KVM_CAP_IRQ_INJECT_STATUS", nr: 26, value: always(1) },
  { name: "KVM_CAP_PIT2", nr: 33, value: always(1) },
  { name: "KVM_CAP_PIT_STATE2", nr: 35, value: always(1) },
  { name: "KVM_CAP_MAX_VCPUS", nr: 66, value: always(MAX_VCPUS) },
  { name: "KVM_CAP_IMMEDIATE_EXIT", nr: 136, value: always(1) },
  // sizeof(struct kvm_nested_state) plus the vendor's saved state (two VMCS12 pages / one VMCB page).
  {
    name: "KVM_CAP_NESTED_STATE",
    nr: 157,
    value: (k, v) => (nestedOn(k, v) ? (v === "kvm_intel" ? 8320 : 4224) : 0),
  },
  { name: "KVM_CAP_BINARY_STATS_FD", nr: 203, value: always(1) },
];

/** Every capability with its value, or undefined when /dev/kvm does not exist. */
export function capabilities(k: Kernel): { name: string; nr: number; value: number }[] | undefined {
  const vendor = k.vendorModule();
  if (!k.loaded("kvm") || !vendor) return undefined;
  return CAPABILITIES.map((c) => ({ name: c.name, nr: c.nr, value: c.value(k, vendor.name) }));
}
