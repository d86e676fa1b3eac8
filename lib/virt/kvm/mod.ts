/**
 * The simulated /dev/kvm: the KVM API of Linux (Documentation/virt/kvm/api.rst) as TypeScript.
 *
 * - `Kvm.open({root})` is open("/dev/kvm") (ENOENT without kvm + a vendor module); its methods are
 *   the system ioctls, `createVm()` returns a `KvmVm` (VM ioctls), `vm.createVcpu(id)` a `KvmVcpu`
 *   (vCPU ioctls; `vcpu.kvmRun` is the mmap'd struct kvm_run, `vcpu.run()` is KVM_RUN);
 * - `ioctl(fd, KVM.X, arg)` issues a request by number, with Linux's errnos for the wrong fd kind;
 * - `VendorBackend` is the seam kvm_intel's VMX engine plugs into for KVM_RUN.
 * Errors are ErrnoError with the errno Linux returns.
 */
export * from "./constants.ts";
// kvm_intel's nested VMX registers itself behind the nested seam (intel/nested_seam.ts).
import "./nested/mod.ts";
export { KVM_RUN_OFFSET, KvmRun } from "./kvm_run.ts";
export * from "./structs.ts";
export * from "./irqchip/structs.ts";
export { PIC_FIELDS, type VcpuIrqchip } from "./irqchip/irqchip.ts";
export { loadPitChannel, pitChannelState } from "./irqchip/pit.ts";
export type { KvmUserspaceMemoryRegion, MemSlot, UserspaceMemory } from "./memory.ts";
export { MemorySlots } from "./memory.ts";
export { MSR, MsrTable } from "./msrs.ts";
export { supportedCpuid } from "./cpuid.ts";
export type { VcpuContext, VendorBackend, VendorParams, VendorVcpu } from "./backend.ts";
export { PUBLISH_INTERVAL_MS, VcpuStats } from "./stats.ts";
export { Kvm, type KvmMsrList, type KvmOpenOptions } from "./system.ts";
export { KvmVm } from "./vm.ts";
export { KvmVcpu } from "./vcpu.ts";
export { ioctl } from "./ioctl.ts";
