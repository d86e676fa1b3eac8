/**
 * A VM fd (KVM_CREATE_VM): memory slots, vCPUs, the in-kernel irqchip and PIT, the TSS address.
 * It holds its own /dev/kvm reference (a DevKvm handle) for its lifetime, as a real VM pins
 * kvm_intel, reads the module parameters that shape it at creation, and publishes its statistics.
 */
import { ErrnoError } from "../../errors.ts";
import { type DevKvm, LiveParams, ModuleSystem } from "../modules/mod.ts";
import { LIMITS } from "./constants.ts";
import { type KvmUserspaceMemoryRegion, MemorySlots } from "./memory.ts";
import { MsrTable } from "./msrs.ts";
import { StatsPublisher } from "./stats.ts";
import { RateLimit } from "./ratelimit.ts";
import { KvmVcpu } from "./vcpu.ts";
import { capabilityValue, type EnvLookup } from "./system_caps.ts";
import type { VendorBackend, VendorParams } from "./backend.ts";
import type { VmInternals } from "./vm_internals.ts";
import { KernelIrqchip } from "./irqchip/irqchip.ts";
import type { KvmIrqchip, KvmIrqLevel, KvmIrqRoutingEntry, KvmPitState2 } from "./irqchip/structs.ts";
import { KernelPit } from "./irqchip/pit.ts";

/** The ISA/IOAPIC lines of the in-kernel irqchip (KVM_IRQCHIP_NUM_PINS = 24 GSIs by default). */
const DEFAULT_GSIS = 24;
/** The highest TSS address: three pages must fit below 4 GiB. */
const MAX_TSS_ADDR = 0x100000000 - 3 * LIMITS.pageSize;

/**
 * The module parameters: the read-only ones that shape the VM as they were at its creation, the
 * writable ones (ignore_msrs, halt_poll_ns...) live, as LiveParams keeps them.
 */
function vendorParams(handle: DevKvm): VendorParams {
  const intel = handle.vendor === "kvm_intel";
  const live = new LiveParams(() => handle.params());
  const num = (p: string) => live.number("vendor", p);
  const ept = intel ? num("ept") !== 0 : num("npt") !== 0;
  const unrestrictedGuest = intel ? num("unrestricted_guest") !== 0 : true;
  return {
    ept: ept,
    vpid: intel && num("vpid") !== 0,
    unrestrictedGuest: unrestrictedGuest && ept,
    nested: num("nested") !== 0,
    shadowVmcs: intel && num("enable_shadow_vmcs") !== 0,
    get ignoreMsrs() {
      return live.number("kvm", "ignore_msrs") !== 0;
    },
    get reportIgnoredMsrs() {
      return live.number("kvm", "report_ignored_msrs") !== 0;
    },
    get haltPollNs() {
      return live.number("kvm", "halt_poll_ns");
    },
    reread: () => live.reread(),
  };
}

export class KvmVm implements VmInternals {
  readonly memory = new MemorySlots();
  readonly params: VendorParams;
  readonly msrTable: MsrTable;
  readonly #handle: DevKvm;
  readonly #env?: EnvLookup;
  readonly #vcpus = new Map<number, KvmVcpu>();
  readonly #publisher: StatsPublisher;
  #irqchip: KernelIrqchip | undefined;
  #pit: KernelPit | undefined;
  #tssAddr?: number;
  readonly #irqLevels = new Uint8Array(DEFAULT_GSIS);
  #closed = false;
  /** kvm_pr_unimpl's rate limit: in Linux one static state for the whole host, here one a VM. */
  readonly #unimplReports = new RateLimit("kvm_msr_ignored_check");

  /** Use Kvm.createVm. */
  constructor(
    handle: DevKvm,
    readonly backend: VendorBackend | undefined,
    env?: EnvLookup,
    readonly hostNowNs: () => number = () => performance.now() * 1e6,
  ) {
    this.#handle = handle;
    this.#env = env;
    this.params = vendorParams(handle);
    this.msrTable = new MsrTable(this.params.nested, this.params.vpid);
    this.#publisher = new StatsPublisher(handle, () => [...this.#vcpus.values()].map((v) => v.stats));
  }

  get irqchip(): boolean {
    return this.#irqchip !== undefined;
  }
  /** The in-kernel PIC, IOAPIC and local APIC (KVM_CREATE_IRQCHIP), for the vCPUs. */
  get kernelIrqchip(): KernelIrqchip | undefined {
    return this.#irqchip;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** The vendor module this VM pins ("kvm_intel" or "kvm_amd"). */
  get vendor(): string {
    return this.#handle.vendor;
  }
  /** The TSS address given to KVM_SET_TSS_ADDR, if any. */
  get tssAddr(): number | undefined {
    return this.#tssAddr;
  }

  #check(): void {
    if (this.#closed) throw new ErrnoError("EBADF");
  }

  /** KVM_CHECK_EXTENSION on the VM fd. */
  checkExtension(cap: number): number {
    this.#check();
    return capabilityValue(this.#handle, cap, this.#env);
  }

  /** KVM_SET_USER_MEMORY_REGION */
  setUserMemoryRegion(region: KvmUserspaceMemoryRegion): void {
    this.#check();
    this.memory.set(region);
  }

  /** KVM_CREATE_VCPU: EINVAL for an id >= KVM_MAX_VCPU_IDS or too many vCPUs, EEXIST for a used id. */
  createVcpu(id: number): KvmVcpu {
    this.#check();
    if (!Number.isInteger(id) || id < 0 || id >= LIMITS.maxVcpuIds) {
      throw new ErrnoError("EINVAL", "vcpu id out of range");
    }
    if (this.#vcpus.size >= LIMITS.maxVcpus) throw new ErrnoError("EINVAL", "too many vcpus");
    if (this.#vcpus.has(id)) throw new ErrnoError("EEXIST", "vcpu id in use");
    const vcpu = new KvmVcpu(this, id);
    this.#vcpus.set(id, vcpu);
    return vcpu;
  }

  /** KVM_SET_TSS_ADDR: the three pages vm86-style real mode needs when unrestricted_guest is off. */
  setTssAddr(addr: number): void {
    this.#check();
    addr >>>= 0;
    if (addr > MAX_TSS_ADDR) throw new ErrnoError("EINVAL", "TSS address too high");
    if (this.params.unrestrictedGuest) return;
    const end = addr + 3 * LIMITS.pageSize;
    if (this.memory.slots.some((s) => addr < s.gpa + s.size && s.gpa < end)) {
      throw new ErrnoError("EEXIST", "TSS pages overlap a memory slot");
    }
    this.#tssAddr = addr;
  }

  /** KVM_CREATE_IRQCHIP: PIC pair, IOAPIC and local APICs in the kernel; only before any vCPU. */
  createIrqchip(): void {
    this.#check();
    if (this.#irqchip) throw new ErrnoError("EEXIST");
    if (this.#vcpus.size) throw new ErrnoError("EINVAL", "vcpus already created");
    this.#irqchip = new KernelIrqchip(this.hostNowNs);
  }

  #chip(): KernelIrqchip {
    this.#check();
    if (!this.#irqchip) throw new ErrnoError("ENXIO");
    return this.#irqchip;
  }

  /** KVM_IRQ_LINE: drives a GSI through the routing table; ENXIO without an in-kernel irqchip. */
  irqLine(irq: number, level: number): void {
    this.irqLineStatus({ irq, level });
  }

  /**
   * KVM_IRQ_LINE_STATUS: as KVM_IRQ_LINE, and `status` says what became of it (> 0 delivered,
   * 0 coalesced, < 0 masked or not routed).
   */
  irqLineStatus(line: KvmIrqLevel): KvmIrqLevel {
    const chip = this.#chip();
    const irq = line.irq >>> 0;
    if (irq < DEFAULT_GSIS) this.#irqLevels[irq] = line.level ? 1 : 0;
    return { ...line, status: chip.setGsi(irq, line.level !== 0) };
  }

  /** KVM_SET_GSI_ROUTING: EINVAL without an in-kernel irqchip or for a bad entry. */
  setGsiRouting(entries: readonly KvmIrqRoutingEntry[], flags = 0): void {
    this.#check();
    if (!this.#irqchip) throw new ErrnoError("EINVAL");
    this.#irqchip.setGsiRouting(entries, flags);
  }

  /** KVM_GET_IRQCHIP: ENXIO without an in-kernel irqchip, EINVAL for an unknown chip_id. */
  getIrqchip(chip: { chip_id: number }): KvmIrqchip {
    return this.#chip().getChip(chip.chip_id);
  }

  /** KVM_SET_IRQCHIP */
  setIrqchip(chip: KvmIrqchip): void {
    this.#chip().setChip(chip);
  }

  /** The level last set on a GSI with KVM_IRQ_LINE. */
  irqLevel(irq: number): number {
    return this.#irqLevels[irq] ?? 0;
  }

  /**
   * KVM_CREATE_PIT2: needs the in-kernel irqchip (ENOENT), once (EEXIST). The PIT's ports then stay
   * in the kernel (irqchip/pit.ts); flags (KVM_PIT_SPEAKER_DUMMY) are accepted and ignored.
   */
  createPit2(_config: { flags: number } = { flags: 0 }): void {
    this.#check();
    if (this.#pit) throw new ErrnoError("EEXIST");
    if (!this.#irqchip) throw new ErrnoError("ENOENT");
    this.#pit = new KernelPit(this.#irqchip);
  }

  get hasPit(): boolean {
    return this.#pit !== undefined;
  }

  #kernelPit(): KernelPit {
    this.#check();
    if (!this.#pit) throw new ErrnoError("ENXIO");
    return this.#pit;
  }

  /** KVM_GET_PIT2: ENXIO without KVM_CREATE_PIT2. */
  getPit2(): KvmPitState2 {
    return this.#kernelPit().getState();
  }

  /**
   * KVM_REINJECT_CONTROL: pit_reinject 0 drops the ticks that fall due while the last one waits
   * (QEMU's lost_tick_policy=discard), non-zero keeps them (the default). ENXIO without the PIT.
   */
  reinjectControl(control: { pit_reinject: number }): void {
    this.#kernelPit().setReinject(control.pit_reinject !== 0);
  }

  /** KVM_SET_PIT2: every channel counts again from now (kvm_pit_load_count). */
  setPit2(state: KvmPitState2): void {
    if (state.channels.length !== 3) throw new ErrnoError("EFAULT");
    this.#kernelPit().setState(state);
  }

  printk(...lines: string[]): void {
    if (lines.length === 0) return;
    new ModuleSystem(this.#handle.root, this.#env).modify((k) => lines.forEach((l) => k.printk(l)));
  }

  printkRatelimited(line: string): void {
    this.printk(...this.#unimplReports.lines(line));
  }

  publishStats(): void {
    this.#publisher.maybePublish();
  }

  /** close() of the VM fd and its vCPU fds: final statistics, then the module reference is dropped. */
  close(): void {
    if (this.#closed) return;
    this.#publisher.maybePublish(true);
    for (const v of this.#vcpus.values()) v.close();
    this.#closed = true;
    this.#handle.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
