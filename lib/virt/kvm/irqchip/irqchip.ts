/**
 * The in-kernel irqchip of a VM (KVM_CREATE_IRQCHIP): Linux's virtual PIC pair (arch/x86/kvm/i8259.c),
 * IOAPIC (ioapic.c) and local APIC (lapic.c). The chips are the project's own device models from
 * lib/devices, the very code the PC board uses, instantiated here on a kernel-private Bus that
 * stands for KVM's in-kernel I/O bus: the PIC's ports (0x20, 0xA0, ELCR 0x4D0), the IOAPIC page at
 * 0xFEC00000 and the local APIC page at its base. kvm_intel (intel/) serves guest accesses there
 * without an exit to user space, injects what the chips present on VM entry and wakes a halted
 * vCPU for it. The chips' timers (the local APIC timer) run on a kernel clock that follows the
 * simulated host's clock, as Linux's hrtimers do.
 *
 * Only vCPU 0 gets a local APIC: the IOAPIC model delivers to one APIC, and the machines here have
 * one CPU. Other vCPUs of an irqchip VM have none (KVM_GET_LAPIC: EINVAL on them).
 */
import { type AccessSize, Bus, MMIO_BASE } from "../../../devices/bus.ts";
import { VirtualClock } from "../../../devices/clock.ts";
import { PicPair } from "../../../devices/pic.ts";
import { IoApic } from "../../../devices/ioapic.ts";
import { DM_EXTINT, LocalApic, LVT_LINT0 } from "../../../devices/apic.ts";
import type { DeviceState } from "../../../devices/state.ts";
import { ErrnoError } from "../../../errors.ts";
import { buildRouting, defaultRouting, type Route } from "./routing.ts";
import {
  KVM_APIC_REG_SIZE,
  KVM_IOAPIC_NUM_PINS,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_PIC_STATE_FIELDS,
  type KvmIrqchip,
  type KvmIrqRoutingEntry,
  type KvmPicState,
} from "./structs.ts";

/** kvm_pic_state field -> the I8259 model's field (booleans there are u8 in the structure). */
export const PIC_FIELDS: Record<(typeof KVM_PIC_STATE_FIELDS)[number], string> = {
  last_irr: "lastIrr",
  irr: "irr",
  imr: "imr",
  isr: "isr",
  priority_add: "priorityAdd",
  irq_base: "irqBase",
  read_reg_select: "readRegSelect",
  poll: "poll",
  special_mask: "specialMask",
  init_state: "initState",
  auto_eoi: "autoEoi",
  rotate_on_auto_eoi: "rotateOnAutoEoi",
  special_fully_nested_mode: "specialFullyNested",
  init4: "init4",
  elcr: "elcr",
  elcr_mask: "elcrMask",
};
const RTE_MASKED = 1 << 16;
/** MSI address bits: destination ID and logical destination mode; data: trigger mode. */
const MSI_DEST_SHIFT = 12, MSI_DEST_LOGICAL = 1 << 2, MSI_TRIGGER_LEVEL = 1 << 15;

/**
 * What kvm_intel's vCPU uses of the irqchip: the in-kernel I/O bus, the interrupt it should
 * inject (kvm_cpu_has_interrupt / kvm_cpu_get_interrupt), NMIs, the APIC base MSR and the timers.
 */
export interface VcpuIrqchip {
  ownsPort(port: number): boolean;
  pioRead(port: number, size: AccessSize): number;
  pioWrite(port: number, size: AccessSize, value: number): void;
  ownsMmio(gpa: number): boolean;
  mmioRead(gpa: number, size: AccessSize): number;
  mmioWrite(gpa: number, size: AccessSize, value: number): void;
  /** The guest or user space wrote IA32_APIC_BASE. */
  setApicBase(value: bigint): void;
  hasInterrupt(): boolean;
  /** The INTA cycle: the vector to inject. */
  acknowledge(): number;
  /** An NMI the local APIC (LINT1, an NMI IPI) raised, taken once. */
  takeNmi(): boolean;
  /** Fires the kernel timers that are due (their hrtimer callbacks). */
  runTimers(): void;
  /** The next kernel timer deadline in host ns (Infinity: none armed). */
  nextDeadlineNs(): number;
}

export class KernelIrqchip implements VcpuIrqchip {
  /** KVM's in-kernel I/O bus: no memory, only the chips' ports and pages. */
  readonly bus = new Bus({ ramSize: 0, memory: new ArrayBuffer(0) });
  readonly clock: VirtualClock;
  readonly pic: PicPair;
  readonly ioapic: IoApic;
  /** vCPU 0's local APIC. */
  readonly lapic: LocalApic;
  #routing = defaultRouting();
  #apicBase = -1n;

  constructor(readonly hostNowNs: () => number) {
    this.clock = new VirtualClock({ source: "manual", startNs: hostNowNs() });
    this.bus.nowNs = this.clock.nowNs;
    this.pic = new PicPair(this.bus);
    this.lapic = new LocalApic(this.bus, this.clock, 0);
    this.lapic.install(this.pic);
    this.ioapic = new IoApic(this.bus, this.lapic);
    // KVM_X86_QUIRK_LINT0_REENABLED: the BSP's LINT0 comes out of reset as unmasked ExtINT.
    this.lapic.lvt[LVT_LINT0] = DM_EXTINT << 8;
  }

  /** The kernel clock catches up with the host's (and follows it back after a restore). */
  #sync(): void {
    const now = this.hostNowNs();
    if (now < this.clock.nowNs()) this.clock.restore(now);
    else this.clock.warpTo(now);
  }

  // ---- VM ioctls ----

  /** KVM_IRQ_LINE(_STATUS): drives every pin the GSI is routed to; the status as kvm_set_irq sums it. */
  setGsi(gsi: number, level: boolean): number {
    this.#sync();
    const routes = this.#routing.get(gsi) ?? [];
    let status = -1;
    for (const r of routes) {
      const delivered = this.#setRoute(r, level);
      status = status < 0 ? delivered : status + Math.max(0, delivered);
    }
    return status;
  }

  /** One route: 1 if the input reached an unmasked pin, -1 if masked there. */
  #setRoute(r: Route, level: boolean): number {
    switch (r.kind) {
      case "pic": {
        const masked = (this.pic.chips[r.pin >> 3].imr >> (r.pin & 7)) & 1;
        this.pic.setIrq(r.pin, level);
        return masked ? -1 : 1;
      }
      case "ioapic": {
        const masked = this.ioapic.rteLo[r.pin] & RTE_MASKED;
        this.ioapic.setIrq(r.pin, level);
        return masked ? -1 : 1;
      }
      case "msi": {
        if (!level) return -1;
        const dest = (r.address >>> MSI_DEST_SHIFT) & 0xff;
        if (!this.lapic.matchesDestination(dest, (r.address & MSI_DEST_LOGICAL) !== 0)) return 0;
        this.lapic.deliver(r.data & 0xff, (r.data >> 8) & 7, (r.data & MSI_TRIGGER_LEVEL) !== 0);
        return 1;
      }
    }
  }

  /** KVM_SET_GSI_ROUTING */
  setGsiRouting(entries: readonly KvmIrqRoutingEntry[], flags = 0): void {
    this.#routing = buildRouting(entries, flags);
  }

  /** KVM_GET_IRQCHIP: EINVAL for an unknown chip_id. */
  getChip(chipId: number): KvmIrqchip {
    if (chipId === KVM_IRQCHIP_PIC_MASTER || chipId === KVM_IRQCHIP_PIC_SLAVE) {
      const chip = this.pic.chips[chipId] as unknown as Record<string, number | boolean>;
      const pic = Object.fromEntries(
        KVM_PIC_STATE_FIELDS.map((f) => [f, Number(chip[PIC_FIELDS[f]])]),
      ) as KvmPicState;
      return { chip_id: chipId, pic };
    }
    if (chipId === KVM_IRQCHIP_IOAPIC) {
      const s = this.ioapic.saveState() as {
        id: number;
        ioregsel: number;
        irr: number;
        rteLo: number[];
        rteHi: number[];
      };
      return {
        chip_id: chipId,
        ioapic: {
          base_address: BigInt(this.ioapic.base),
          ioregsel: s.ioregsel,
          id: s.id,
          irr: s.irr >>> 0,
          redirtbl: Array.from(
            { length: KVM_IOAPIC_NUM_PINS },
            (_, i) => (BigInt(s.rteHi[i] >>> 0) << 32n) | BigInt(s.rteLo[i] >>> 0),
          ),
        },
      };
    }
    throw new ErrnoError("EINVAL", "unknown irqchip");
  }

  /** KVM_SET_IRQCHIP: EINVAL for an unknown chip_id. */
  setChip(chip: KvmIrqchip): void {
    this.#sync();
    const id = chip.chip_id;
    if ((id === KVM_IRQCHIP_PIC_MASTER || id === KVM_IRQCHIP_PIC_SLAVE) && chip.pic) {
      const state = this.pic.saveState() as { chips: DeviceState[] };
      const target = state.chips[id];
      for (const f of KVM_PIC_STATE_FIELDS) {
        if (f === "elcr_mask") continue; // wired in the PIIX, not state
        const field = PIC_FIELDS[f], value = chip.pic[f] & 0xff;
        target[field] = typeof target[field] === "boolean" ? value !== 0 : value;
      }
      this.pic.loadState(state);
      return;
    }
    if (id === KVM_IRQCHIP_IOAPIC && chip.ioapic) {
      const s = chip.ioapic, state = this.ioapic.saveState();
      if (s.redirtbl.length !== KVM_IOAPIC_NUM_PINS) throw new ErrnoError("EINVAL");
      this.ioapic.loadState({
        ...state,
        id: s.id & 0x0f,
        ioregsel: s.ioregsel & 0xff,
        irr: s.irr >>> 0,
        rteLo: s.redirtbl.map((e) => Number(BigInt.asUintN(32, BigInt(e)))),
        rteHi: s.redirtbl.map((e) => Number(BigInt.asUintN(32, BigInt(e) >> 32n)) & 0xff000000),
      });
      return;
    }
    throw new ErrnoError("EINVAL", "unknown irqchip");
  }

  // ---- vCPU ioctls ----

  /** KVM_GET_LAPIC */
  getLapic(): Uint8Array {
    this.#sync();
    return this.lapic.registerPage();
  }

  /** KVM_SET_LAPIC */
  setLapic(regs: Uint8Array): void {
    if (regs.length < KVM_APIC_REG_SIZE) throw new ErrnoError("EFAULT");
    this.#sync();
    this.lapic.loadRegisterPage(regs);
  }

  // ---- VcpuIrqchip ----

  ownsPort(port: number): boolean {
    return this.bus.ports[port] !== undefined;
  }

  pioRead(port: number, size: AccessSize): number {
    this.#sync();
    return this.bus.in(port, size);
  }

  pioWrite(port: number, size: AccessSize, value: number): void {
    this.#sync();
    this.bus.out(port, size, value);
  }

  ownsMmio(gpa: number): boolean {
    return this.bus.pageMap[gpa >>> 12] <= MMIO_BASE;
  }

  mmioRead(gpa: number, size: AccessSize): number {
    this.#sync();
    const b = this.bus;
    return size === 4 ? b.read32(gpa) : size === 2 ? b.read16(gpa) : b.read8(gpa);
  }

  mmioWrite(gpa: number, size: AccessSize, value: number): void {
    this.#sync();
    const b = this.bus;
    if (size === 4) b.write32(gpa, value);
    else if (size === 2) b.write16(gpa, value);
    else b.write8(gpa, value);
  }

  setApicBase(value: bigint): void {
    if (value === this.#apicBase) return;
    this.#apicBase = value;
    this.lapic.setBaseMsr(Number(value & 0xffffffffn));
  }

  hasInterrupt(): boolean {
    return this.bus.intr;
  }

  acknowledge(): number {
    return this.lapic.acknowledge() & 0xff;
  }

  takeNmi(): boolean {
    const nmi = this.bus.nmi;
    this.bus.nmi = false;
    return nmi;
  }

  runTimers(): void {
    this.#sync();
    this.clock.runDue();
  }

  nextDeadlineNs(): number {
    return this.clock.nextDeadline();
  }
}
