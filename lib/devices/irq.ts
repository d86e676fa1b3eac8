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
 * What a timer's lost-tick policy (lost_ticks.ts) asks an interrupt controller about one input:
 * whether an edge there would reach the CPU, whether the last one is still waiting for it, and
 * when the CPU takes it.
 */
export interface IrqInputState {
  /** The guest has not masked the input. */
  unmasked(input: number): boolean;
  /** The input's last edge is latched, unmasked, and the CPU has not taken it yet (its IRR). */
  latched(input: number): boolean;
  /** Called with the input when the CPU acknowledges its interrupt (the INTA cycle). */
  onAcknowledge?: (input: number) => void;
}

/**
 * The ISA IRQ fan-out of a PC: each ISA IRQ goes to the PIC pair and to the IOAPIC pin of the same
 * number, except IRQ0 (the PIT), which the IOAPIC sees on pin 2 as QEMU's MADT override says.
 */
export class IsaIrqRouter implements IrqSink {
  constructor(
    public pic: IrqSink & Partial<IrqInputState>,
    public ioapic?: IrqSink & Partial<IrqInputState>,
  ) {}

  setIrq(irq: number, level: boolean): void {
    this.pic.setIrq(irq, level);
    this.ioapic?.setIrq(IsaIrqRouter.pin(irq), level);
  }

  private static pin(irq: number): number {
    return irq === 0 ? 2 : irq;
  }

  /** Whether either controller would pass an edge on the ISA IRQ to the CPU. */
  unmasked(irq: number): boolean {
    return !!this.pic.unmasked?.(irq) || !!this.ioapic?.unmasked?.(IsaIrqRouter.pin(irq));
  }

  /** Whether the ISA IRQ's last edge still waits for the CPU in a controller that will deliver it. */
  latched(irq: number): boolean {
    return !!this.pic.latched?.(irq) || !!this.ioapic?.latched?.(IsaIrqRouter.pin(irq));
  }

  /** Calls listener with the ISA IRQ whenever the CPU acknowledges one, through either controller. */
  watchAcknowledge(listener: (irq: number) => void): void {
    this.pic.onAcknowledge = listener;
    if (this.ioapic) this.ioapic.onAcknowledge = (pin) => listener(pin === 2 ? 0 : pin);
  }

  line(irq: number): IrqLine {
    return new IrqLine(this, irq);
  }
}
