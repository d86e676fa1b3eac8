/**
 * Interrupt lines between devices and interrupt controllers. A device holds an IrqLine and drives
 * its level; the line forwards to whatever sink the machine wired it to (the PIC, the IOAPIC, both
 * through an IsaIrqRouter, or a PCI PIRQ router).
 */

/** Something with numbered interrupt inputs. */
export interface IrqSink {
  setIrq(irq: number, level: boolean): void;
}

export class IrqLine {
  level = false;
  constructor(private readonly sink: IrqSink | undefined, readonly irq: number) {}

  set(level: boolean): void {
    this.level = level;
    this.sink?.setIrq(this.irq, level);
  }
  raise(): void {
    this.set(true);
  }
  lower(): void {
    this.set(false);
  }
  /** An edge for edge-triggered inputs: up then down. */
  pulse(): void {
    this.set(true);
    this.set(false);
  }
}

/**
 * The ISA IRQ fan-out of a PC: each ISA IRQ goes to the PIC pair and to the IOAPIC pin of the same
 * number, except IRQ0 (the PIT), which the IOAPIC sees on pin 2 as QEMU's MADT override says.
 */
export class IsaIrqRouter implements IrqSink {
  constructor(readonly pic: IrqSink, public ioapic?: IrqSink) {}

  setIrq(irq: number, level: boolean): void {
    this.pic.setIrq(irq, level);
    this.ioapic?.setIrq(irq === 0 ? 2 : irq, level);
  }

  line(irq: number): IrqLine {
    return new IrqLine(this, irq);
  }
}
