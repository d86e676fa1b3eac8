/**
 * The PIIX3 PCI-to-ISA bridge (PCI 00:01.0, 8086:7000, multifunction) with its PIRQ route control
 * registers 0x60-0x63: PCI INTA-D of each slot are swizzled onto PIRQA-D and each PIRQ is steered
 * to an ISA IRQ (bit 7 set = disabled). Several PIRQs on one IRQ are wire-ORed.
 */
import type { IrqSink } from "./irq.ts";
import { PCI_STATUS_DEVSEL_MEDIUM, PciDevice, type PciIrqSink } from "./pci.ts";
import { type DeviceState, loadFields, saveFields } from "./state.ts";

const PIIX3_STATE = ["sourceLevel", "pirqCount"] as const;

export const PIIX_PIRQC = 0x60;

/** Reset values of the PIIX3's configuration registers, as QEMU's piix3_reset sets them. */
const RESET_CONFIG: readonly [number, number][] = [
  [0x04, 0x07],
  [0x4c, 0x4d],
  [0x4e, 0x03],
  [0x60, 0x80],
  [0x61, 0x80],
  [0x62, 0x80],
  [0x63, 0x80],
  [0x69, 0x02],
  [0x70, 0x80],
  [0x76, 0x0c],
  [0x77, 0x0c],
  [0x78, 0x02],
  [0xa0, 0x08],
  [0xa8, 0x0f],
];

export class Piix3 extends PciDevice implements PciIrqSink {
  /** Per (devfn, pin): the INTx level last reported. */
  private readonly sourceLevel = new Uint8Array(256 * 4);
  /** Per PIRQ: how many sources hold it high. */
  private readonly pirqCount = new Int32Array(4);
  /** ISA IRQ levels this bridge currently drives. */
  private driven = 0;

  constructor(private readonly isa: IrqSink) {
    super({
      vendor: 0x8086,
      device: 0x7000,
      revision: 0x00,
      classCode: 0x060100,
      headerType: 0x80,
      status: PCI_STATUS_DEVSEL_MEDIUM,
    });
    this.reset();
  }

  override reset(): void {
    this.config.fill(0, 0x40);
    for (const [reg, value] of RESET_CONFIG) this.config[reg] = value;
    this.config[0x05] = 0;
    this.updatePirqs();
  }

  /** The PIIX's slot swizzle: slot s pin p (0 = INTA) lands on PIRQ (p + s - 1) & 3. */
  static pirqOf(devfn: number, pin: number): number {
    return (pin + (devfn >> 3) - 1) & 3;
  }

  setPciIrq(devfn: number, pin: number, level: boolean): void {
    const i = devfn * 4 + pin;
    const l = level ? 1 : 0;
    if (this.sourceLevel[i] === l) return;
    this.sourceLevel[i] = l;
    this.pirqCount[Piix3.pirqOf(devfn, pin)] += level ? 1 : -1;
    this.updatePirqs();
  }

  /** The ISA IRQ a PIRQ is steered to, or -1 when disabled. */
  route(pirq: number): number {
    const r = this.config[PIIX_PIRQC + pirq];
    return r & 0x80 ? -1 : r & 0x0f;
  }

  protected override saveExtra(): DeviceState {
    return saveFields(this, PIIX3_STATE);
  }

  protected override loadExtra(state: DeviceState): void {
    loadFields(this, PIIX3_STATE, state);
  }

  protected override stateLoaded(): void {
    this.updatePirqs();
  }

  protected override configWritten(offset: number, size: number): void {
    if (offset < PIIX_PIRQC + 4 && offset + size > PIIX_PIRQC) this.updatePirqs();
  }

  private updatePirqs(): void {
    let levels = 0;
    for (let p = 0; p < 4; p++) {
      const irq = this.route(p);
      if (irq >= 0 && this.pirqCount[p] > 0) levels |= 1 << irq;
    }
    const changed = levels ^ this.driven;
    this.driven = levels;
    for (let irq = 0; irq < 16; irq++) {
      if (changed & (1 << irq)) this.isa.setIrq(irq, (levels & (1 << irq)) !== 0);
    }
  }
}
