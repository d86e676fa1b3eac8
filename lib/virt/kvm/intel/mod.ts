/**
 * kvm_intel: the VendorBackend that runs KVM_RUN on VMX (vcpu.ts), one VmxVm per VM created at
 * the first KVM_RUN (when user space has registered its memory slots).
 */
import type { VcpuContext, VendorBackend, VendorVcpu } from "../backend.ts";
import type { MemorySlots } from "../memory.ts";
import { VmxVcpu } from "./vcpu.ts";
import { VmxVm } from "./vm.ts";

export { registerNestedVmx } from "./nested_seam.ts";
export type { L0Vcpu, NestedVerdict, NestedVmx } from "./nested_seam.ts";

const VMS = new WeakMap<MemorySlots, VmxVm>();

/** A vCPU whose VMX state is made at its first KVM_RUN. */
class LazyVcpu implements VendorVcpu {
  #vcpu?: VmxVcpu;
  constructor(readonly ctx: VcpuContext, readonly eptAd: boolean) {}

  get started(): VmxVcpu | undefined {
    return this.#vcpu;
  }

  run(run: Parameters<VmxVcpu["run"]>[0]) {
    if (!this.#vcpu) {
      let vm = VMS.get(this.ctx.memory);
      if (!vm) VMS.set(this.ctx.memory, vm = new VmxVm(this.ctx.memory, this.ctx.hostNowNs, this.eptAd));
      this.#vcpu = new VmxVcpu(vm, this.ctx);
    }
    return this.#vcpu.run(run);
  }
  saveToContext(): void {
    this.#vcpu?.saveToContext();
  }
  contextChanged(): void {
    this.#vcpu?.contextChanged();
  }
  interruptStatus() {
    if (this.#vcpu) return this.#vcpu.interruptStatus();
    const ifFlag = (this.ctx.regs.rflags & 0x200n) !== 0n;
    return { ifFlag, ready: ifFlag && this.ctx.pendingInterrupt < 0 };
  }
  memoryWritten(gpa: number, length: number): void {
    this.#vcpu?.memoryWritten(gpa, length);
  }
}

/** The kvm_intel module's vendor code. `eptad` comes from the module parameter of that name. */
export function kvmIntel(eptAd = true): VendorBackend {
  return {
    name: "kvm_intel",
    createVcpu: (ctx) => new LazyVcpu(ctx, eptAd),
  };
}
