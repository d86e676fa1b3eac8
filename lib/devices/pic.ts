/**
 * The 8259A programmable interrupt controller pair of the PC: master at 0x20/0x21 (vectors for
 * IRQ0-7), slave at 0xA0/0xA1 cascaded on the master's IRQ2, and the PIIX edge/level control
 * registers (ELCR) at 0x4D0/0x4D1. Semantics follow the 8259A datasheet as QEMU's i8259 models it:
 * edge inputs latch on a rising edge, level inputs follow the line; fully nested priority with
 * rotation; specific/non-specific EOI; special mask; auto-EOI; poll mode; spurious IRQ7/IRQ15.
 */
import type { AccessSize, Bus, InterruptController, PortDevice } from "./bus.ts";
import type { IrqSink } from "./irq.ts";
import { type DeviceState, loadFields, saveFields, type Stateful, subList } from "./state.ts";

/** ELCR bits the PIIX lets software set: IRQ0-2 (master) and IRQ8, IRQ13 (slave) are always edge. */
const ELCR_MASK = [0xf8, 0xde] as const;

const I8259_STATE = [
  "lastIrr",
  "irr",
  "imr",
  "isr",
  "priorityAdd",
  "irqBase",
  "readRegSelect",
  "poll",
  "specialMask",
  "initState",
  "autoEoi",
  "rotateOnAutoEoi",
  "specialFullyNested",
  "init4",
  "singleMode",
  "elcr",
] as const;

/** One 8259A. */
export class I8259 {
  lastIrr = 0;
  irr = 0;
  imr = 0;
  isr = 0;
  priorityAdd = 0;
  irqBase = 0;
  readRegSelect = 0;
  poll = false;
  specialMask = false;
  initState = 0;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  init4 = false;
  singleMode = false;
  elcr = 0;

  constructor(readonly master: boolean, readonly elcrMask: number) {}

  reset(): void {
    this.lastIrr = 0;
    this.irr &= this.elcr;
    this.imr = 0;
    this.isr = 0;
    this.priorityAdd = 0;
    this.irqBase = 0;
    this.readRegSelect = 0;
    this.poll = false;
    this.specialMask = false;
    this.initState = 0;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
    this.init4 = false;
    this.singleMode = false;
  }

  setInput(irq: number, level: boolean): void {
    const mask = 1 << irq;
    if (this.elcr & mask) {
      if (level) {
        this.irr |= mask;
        this.lastIrr |= mask;
      } else {
        this.irr &= ~mask;
        this.lastIrr &= ~mask;
      }
    } else if (level) {
      if ((this.lastIrr & mask) === 0) this.irr |= mask;
      this.lastIrr |= mask;
    } else {
      this.lastIrr &= ~mask;
    }
  }

  /** Priority (0 = highest) of the highest set bit of mask under the current rotation; 8 if none. */
  priorityOf(mask: number): number {
    if (mask === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + this.priorityAdd) & 7))) === 0) p++;
    return p;
  }

  /** The IRQ this chip would present now, or -1. */
  pendingIrq(): number {
    const p = this.priorityOf(this.irr & ~this.imr);
    if (p === 8) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    // In special fully nested mode the master lets a higher slave IRQ through while IRQ2 is in service.
    if (this.specialFullyNested && this.master) inService &= ~(1 << 2);
    return p < this.priorityOf(inService) ? (p + this.priorityAdd) & 7 : -1;
  }

  /** The INTA cycle's bookkeeping for irq on this chip. */
  intack(irq: number): void {
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else {
      this.isr |= 1 << irq;
    }
    if (!(this.elcr & (1 << irq))) this.irr &= ~(1 << irq);
  }
}

/** The master/slave pair, wired to the CPU's INTR line through the Bus. */
export class PicPair implements IrqSink, InterruptController, PortDevice, Stateful {
  readonly chips: [I8259, I8259] = [new I8259(true, ELCR_MASK[0]), new I8259(false, ELCR_MASK[1])];
  /** Level of the master's INT output; the local APIC reads it for LINT0 (ExtINT). */
  output = false;
  /** Who hears INT: by default the CPU's INTR pin; the local APIC replaces it with LINT0. */
  onOutput: (level: boolean) => void;

  constructor(private readonly bus: Bus) {
    this.onOutput = (level) => bus.setIntr(level);
    bus.registerPorts(0x20, 2, this);
    bus.registerPorts(0xa0, 2, this);
    bus.registerPorts(0x4d0, 2, this);
  }

  /** Makes the pair the CPU's interrupt controller (machines without a local APIC in the path). */
  install(): void {
    this.bus.interruptController = this;
  }

  reset(): void {
    this.chips[0].reset();
    this.chips[1].reset();
    this.update();
  }

  saveState(): DeviceState {
    return { chips: this.chips.map((c) => saveFields(c, I8259_STATE)) };
  }

  loadState(state: DeviceState): void {
    subList(state, "chips", 2).forEach((s, i) => loadFields(this.chips[i], I8259_STATE, s));
    this.output = false;
    this.update();
  }

  /** ISA IRQ 0-15 input level. */
  setIrq(irq: number, level: boolean): void {
    this.chips[irq >> 3].setInput(irq & 7, level);
    this.update();
  }

  private update(): void {
    const [master, slave] = this.chips;
    master.setInput(2, slave.pendingIrq() >= 0);
    const out = master.pendingIrq() >= 0;
    if (out !== this.output || out) {
      this.output = out;
      this.onOutput(out);
    }
  }

  /** INTA: the vector of the highest-priority pending interrupt (spurious IRQ7/15 if it went away). */
  acknowledge(): number {
    const [master, slave] = this.chips;
    let vector: number;
    let taken = -1;
    const irq = master.pendingIrq();
    if (irq >= 0) {
      if (irq === 2) {
        const irq2 = slave.pendingIrq();
        if (irq2 >= 0) {
          slave.intack(irq2);
          vector = slave.irqBase + irq2;
          taken = 8 + irq2;
        } else {
          vector = slave.irqBase + 7;
        }
      } else {
        vector = master.irqBase + irq;
        taken = irq;
      }
      master.intack(irq);
    } else {
      vector = master.irqBase + 7;
    }
    this.update();
    if (taken >= 0) this.onAcknowledge?.(taken);
    return vector;
  }

  /** Set by the ISA router: told which ISA IRQ the CPU just acknowledged. */
  onAcknowledge?: (irq: number) => void;

  /** Whether ISA IRQ irq's mask bit is clear (through the cascade for the slave's). */
  unmasked(irq: number): boolean {
    const [master, slave] = this.chips;
    if (irq < 8) return !(master.imr & (1 << irq));
    return !(master.imr & (1 << 2)) && !(slave.imr & (1 << (irq & 7)));
  }

  /** Whether ISA IRQ irq has an unmasked request latched in IRR that the CPU has not taken. */
  latched(irq: number): boolean {
    return this.unmasked(irq) && (this.chips[irq >> 3].irr & (1 << (irq & 7))) !== 0;
  }

  portRead(port: number, _size: AccessSize): number {
    if (port >= 0x4d0) return this.chips[port & 1].elcr;
    const chip = this.chips[port >> 7 & 1];
    if (chip.poll) return this.pollRead(chip);
    if ((port & 1) === 0) return chip.readRegSelect ? chip.isr : chip.irr;
    return chip.imr;
  }

  private pollRead(chip: I8259): number {
    chip.poll = false;
    const irq = chip.pendingIrq();
    if (irq < 0) return 0;
    if (chip.master && irq === 2) {
      const slave = this.chips[1];
      const irq2 = slave.pendingIrq();
      if (irq2 >= 0) slave.intack(irq2);
    }
    chip.intack(irq);
    this.update();
    return irq | 0x80;
  }

  portWrite(port: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    if (port >= 0x4d0) {
      const chip = this.chips[port & 1];
      chip.elcr = value & chip.elcrMask;
      this.update();
      return;
    }
    const chip = this.chips[port >> 7 & 1];
    if ((port & 1) === 0) {
      if (value & 0x10) {
        // ICW1
        chip.reset();
        chip.initState = 1;
        chip.init4 = (value & 1) !== 0;
        chip.singleMode = (value & 2) !== 0;
      } else if (value & 0x08) {
        // OCW3
        if (value & 0x04) chip.poll = true;
        if (value & 0x02) chip.readRegSelect = value & 1;
        if (value & 0x40) chip.specialMask = (value & 0x20) !== 0;
      } else {
        this.ocw2(chip, value);
      }
    } else {
      switch (chip.initState) {
        case 0: // OCW1
          chip.imr = value;
          break;
        case 1: // ICW2
          chip.irqBase = value & 0xf8;
          chip.initState = chip.singleMode ? (chip.init4 ? 3 : 0) : 2;
          break;
        case 2: // ICW3 (cascade wiring is fixed on a PC)
          chip.initState = chip.init4 ? 3 : 0;
          break;
        case 3: // ICW4
          chip.specialFullyNested = (value & 0x10) !== 0;
          chip.autoEoi = (value & 0x02) !== 0;
          chip.initState = 0;
          break;
      }
    }
    this.update();
  }

  private ocw2(chip: I8259, value: number): void {
    const cmd = value >> 5;
    switch (cmd) {
      case 0: // rotate in auto-EOI mode: clear
      case 4: // rotate in auto-EOI mode: set
        chip.rotateOnAutoEoi = cmd === 4;
        break;
      case 1: // non-specific EOI
      case 5: { // rotate on non-specific EOI
        const p = chip.priorityOf(chip.isr);
        if (p !== 8) {
          const irq = (p + chip.priorityAdd) & 7;
          chip.isr &= ~(1 << irq);
          if (cmd === 5) chip.priorityAdd = (irq + 1) & 7;
        }
        break;
      }
      case 3: // specific EOI
        chip.isr &= ~(1 << (value & 7));
        break;
      case 6: // set priority: IRQ value&7 becomes the lowest
        chip.priorityAdd = ((value & 7) + 1) & 7;
        break;
      case 7: // rotate on specific EOI
        chip.isr &= ~(1 << (value & 7));
        chip.priorityAdd = ((value & 7) + 1) & 7;
        break;
    }
  }
}
