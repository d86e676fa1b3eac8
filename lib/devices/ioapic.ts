/**
 * The I/O APIC at 0xFEC00000 (version 0x20, 24 pins) for the one CPU: IOREGSEL/IOWIN and the EOI
 * register, the redirection table with vector, delivery mode, destination, edge/level trigger,
 * mask and remote IRR. Edge pins fire on a rising edge; level pins fire while high and, once
 * delivered, wait for the local APIC's EOI broadcast (remote IRR) before firing again. ISA IRQs
 * arrive through IsaIrqRouter (IRQ0 on pin 2), PCI PIRQs as the machine wires them.
 */
import type { AccessSize, Bus, MmioDevice } from "./bus.ts";
import type { IrqSink } from "./irq.ts";
import type { EoiListener, LocalApic } from "./apic.ts";
import { type DeviceState, loadFields, saveFields, type Stateful } from "./state.ts";

const IOAPIC_STATE = ["id", "ioregsel", "rteLo", "rteHi", "irr", "levels"] as const;

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
export const IOAPIC_PINS = 24;
const IOAPIC_VERSION = 0x20;
const RTE_MASKED = 1 << 16, RTE_LEVEL = 1 << 15, RTE_REMOTE_IRR = 1 << 14, RTE_DEST_LOGICAL = 1 << 11;
/** Bits software may write in the low dword (not delivery status or remote IRR). */
const RTE_LO_WRITABLE = 0x1afff;

export class IoApic implements MmioDevice, IrqSink, EoiListener, Stateful {
  id = 0;
  ioregsel = 0;
  /** Redirection entries, low and high dwords. */
  readonly rteLo = new Uint32Array(IOAPIC_PINS).fill(RTE_MASKED);
  readonly rteHi = new Uint32Array(IOAPIC_PINS);
  /** Input levels (bit per pin) and latched edges. */
  private irr = 0;

  constructor(bus: Bus, private readonly lapic: LocalApic, readonly base = IOAPIC_DEFAULT_BASE) {
    lapic.eoiListener = this;
    bus.mapMmio(base, 0x1000, this);
  }

  reset(): void {
    this.id = 0;
    this.ioregsel = 0;
    this.rteLo.fill(RTE_MASKED);
    this.rteHi.fill(0);
    this.irr = 0;
  }

  saveState(): DeviceState {
    return saveFields(this, IOAPIC_STATE);
  }

  loadState(state: DeviceState): void {
    loadFields(this, IOAPIC_STATE, state);
  }

  setIrq(pin: number, level: boolean): void {
    if (pin >= IOAPIC_PINS) return;
    const mask = 1 << pin;
    if (this.rteLo[pin] & RTE_LEVEL) {
      if (level) {
        this.irr |= mask;
        this.service();
      } else {
        this.irr &= ~mask;
      }
    } else if (level && !(this.levels & mask)) {
      this.irr |= mask;
      this.service();
    }
    if (level) this.levels |= mask;
    else this.levels &= ~mask;
  }
  private levels = 0;

  private service(): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const mask = 1 << pin;
      if (!(this.irr & mask)) continue;
      const lo = this.rteLo[pin];
      if (lo & RTE_MASKED) continue;
      const level = (lo & RTE_LEVEL) !== 0;
      if (level) {
        if (lo & RTE_REMOTE_IRR) continue;
      } else {
        this.irr &= ~mask;
      }
      if (!this.lapic.matchesDestination(this.rteHi[pin] >>> 24, (lo & RTE_DEST_LOGICAL) !== 0)) continue;
      if (level) this.rteLo[pin] |= RTE_REMOTE_IRR;
      this.lapic.deliver(lo & 0xff, lo >> 8 & 7, level);
    }
  }

  /** Set by the ISA router: told which pin's interrupt the CPU just acknowledged. */
  onAcknowledge?: (pin: number) => void;

  unmasked(pin: number): boolean {
    return pin < IOAPIC_PINS && !(this.rteLo[pin] & RTE_MASKED);
  }

  /** An edge pin's request waits in the local APIC's IRR (edges are not latched here once sent). */
  latched(pin: number): boolean {
    if (!this.unmasked(pin)) return false;
    const lo = this.rteLo[pin];
    if (lo & RTE_LEVEL) return (lo & RTE_REMOTE_IRR) !== 0 || (this.irr & (1 << pin)) !== 0;
    return (this.irr & (1 << pin)) !== 0 || this.lapic.requested(lo & 0xff);
  }

  /** The local APIC accepted vector for service: tell whose pin it was (edge pins have no EOI). */
  acknowledged(vector: number): void {
    if (!this.onAcknowledge) return;
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const lo = this.rteLo[pin];
      if ((lo & 0xff) === vector && !(lo & RTE_MASKED)) this.onAcknowledge(pin);
    }
  }

  /** EOI broadcast from the local APIC, or a write to the EOI register. */
  eoi(vector: number): void {
    let again = false;
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const lo = this.rteLo[pin];
      if ((lo & 0xff) !== vector || !(lo & RTE_REMOTE_IRR)) continue;
      this.rteLo[pin] &= ~RTE_REMOTE_IRR;
      if (lo & RTE_LEVEL && this.levels & (1 << pin)) {
        this.irr |= 1 << pin;
        again = true;
      }
    }
    if (again) this.service();
  }

  private readData(): number {
    const r = this.ioregsel;
    if (r === 0x00) return this.id << 24;
    if (r === 0x01) return ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
    if (r === 0x02) return this.id << 24;
    if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
      const pin = (r - 0x10) >> 1;
      return r & 1 ? this.rteHi[pin] : this.rteLo[pin];
    }
    return 0xffffffff;
  }

  private writeData(value: number): void {
    const r = this.ioregsel;
    if (r === 0x00) {
      this.id = value >>> 24 & 0x0f;
      return;
    }
    if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
      const pin = (r - 0x10) >> 1;
      if (r & 1) {
        this.rteHi[pin] = value & 0xff000000;
      } else {
        const lo = this.rteLo[pin];
        this.rteLo[pin] = ((lo & ~RTE_LO_WRITABLE) | (value & RTE_LO_WRITABLE)) >>> 0;
        // Switching a pin to edge drops a stale remote IRR; a held level input is pending again.
        if (!(value & RTE_LEVEL)) this.rteLo[pin] &= ~RTE_REMOTE_IRR;
        else if (this.levels & (1 << pin)) this.irr |= 1 << pin;
      }
      this.service();
    }
  }

  mmioRead(addr: number, size: AccessSize): number {
    const off = addr & 0xff;
    let v: number;
    if (off < 0x10) v = this.ioregsel;
    else if (off < 0x20) v = this.readData();
    else v = 0;
    v >>>= 8 * (off & 3);
    return size === 4 ? v >>> 0 : v & ((1 << (8 * size)) - 1);
  }

  mmioWrite(addr: number, size: AccessSize, value: number): void {
    const off = addr & 0xff;
    const v = size === 4 ? value >>> 0 : (value << (8 * (off & 3))) >>> 0;
    if (off === 0x00) this.ioregsel = v & 0xff;
    else if (off === 0x10) this.writeData(v);
    else if (off === 0x40) this.eoi(v & 0xff);
  }
}
