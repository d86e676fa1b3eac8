/**
 * The /dev/kvm fd: the system ioctls (GET_API_VERSION, CHECK_EXTENSION, GET_VCPU_MMAP_SIZE,
 * GET_SUPPORTED_CPUID, GET_MSR_INDEX_LIST, CREATE_VM). Opening goes through the modules layer
 * (ENOENT unless kvm and a vendor module are loaded) and holds a reference until close; each VM
 * takes one more, so the VM outlives a closed /dev/kvm fd as in Linux.
 */
import { ErrnoError } from "../../errors.ts";
import { DevKvm, KVM_API_VERSION } from "../modules/mod.ts";
import { LIMITS, VCPU_MMAP_SIZE } from "./constants.ts";
import { supportedCpuid } from "./cpuid.ts";
import { MsrTable } from "./msrs.ts";
import { capabilityValue, type EnvLookup } from "./system_caps.ts";
import { KvmVm } from "./vm.ts";
import type { KvmCpuidEntry2 } from "./structs.ts";
import type { VendorBackend } from "./backend.ts";
import { kvmIntel } from "./intel/mod.ts";

export interface KvmOpenOptions {
  /** kvm-ctl state root (default as kvm-ctl resolves it). */
  root?: string;
  env?: EnvLookup;
  /**
   * The vendor code KVM_RUN enters the guest with. The default is kvm_intel's VMX backend when
   * kvm_intel is the loaded vendor module; kvm_amd has none (this CPU has no SVM): KVM_RUN then
   * fails with ENOSYS. `null` asks for no backend.
   */
  backend?: VendorBackend | null;
  /**
   * The simulated host's clock in ns (default: the host's monotonic clock). A VMM that keeps its
   * own virtual clock passes it, so that the guest's TSC and that clock are one (on a real host
   * both follow the same hardware clock).
   */
  hostClock?: () => number;
}

/** struct kvm_msr_list: `nmsrs` in (room) and out (the count); `indices` out. */
export interface KvmMsrList {
  nmsrs: number;
  indices?: number[];
}

export class Kvm {
  readonly #handle: DevKvm;
  readonly #options: KvmOpenOptions;
  #closed = false;

  private constructor(handle: DevKvm, options: KvmOpenOptions) {
    this.#handle = handle;
    this.#options = options;
  }

  /** open("/dev/kvm", O_RDWR): ErrnoError ENOENT without the modules. */
  static open(options: KvmOpenOptions = {}): Kvm {
    return new Kvm(DevKvm.open({ root: options.root, env: options.env }), options);
  }

  /** The vendor module behind this /dev/kvm. */
  get vendor(): string {
    return this.#handle.vendor;
  }

  #check(): void {
    if (this.#closed) throw new ErrnoError("EBADF");
  }

  /** KVM_GET_API_VERSION */
  getApiVersion(): number {
    this.#check();
    return KVM_API_VERSION;
  }

  /** KVM_CHECK_EXTENSION */
  checkExtension(cap: number): number {
    this.#check();
    return capabilityValue(this.#handle, cap, this.#options.env);
  }

  /** KVM_GET_VCPU_MMAP_SIZE: the kvm_run page, the PIO page and the coalesced-MMIO page. */
  getVcpuMmapSize(): number {
    this.#check();
    return VCPU_MMAP_SIZE;
  }

  #nested(): boolean {
    return this.#handle.paramNumber("vendor", "nested") !== 0;
  }

  /** KVM_GET_SUPPORTED_CPUID with room for `nent` entries: E2BIG when they do not fit. */
  getSupportedCpuid(nent: number): KvmCpuidEntry2[] {
    this.#check();
    if (nent < 1) throw new ErrnoError("E2BIG");
    const table = supportedCpuid(this.#nested());
    if (table.length > Math.min(nent, LIMITS.maxCpuidEntries)) throw new ErrnoError("E2BIG");
    return table;
  }

  /** KVM_GET_MSR_INDEX_LIST: sets list.nmsrs to the count; E2BIG (after setting it) when too small. */
  getMsrIndexList(list: KvmMsrList): number[] {
    this.#check();
    const indices = new MsrTable(this.#nested()).indices();
    const room = list.nmsrs;
    list.nmsrs = indices.length;
    if (room < indices.length) throw new ErrnoError("E2BIG");
    list.indices = indices;
    return indices;
  }

  /** KVM_CREATE_VM: type 0 (KVM_X86_DEFAULT_VM) only. The VM pins the modules until closed. */
  createVm(type = 0): KvmVm {
    this.#check();
    if (type !== 0) throw new ErrnoError("EINVAL", "unsupported VM type");
    const handle = DevKvm.open({ root: this.#handle.root, env: this.#options.env });
    const backend = this.#options.backend === undefined
      ? (handle.vendor === "kvm_intel" ? kvmIntel(handle.paramNumber("vendor", "eptad") !== 0) : undefined)
      : this.#options.backend ?? undefined;
    return new KvmVm(handle, backend, this.#options.env, this.#options.hostClock);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
