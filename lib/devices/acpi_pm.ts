/**
 * The PIIX4 power-management function as QEMU's pc machine has it (PCI 00:01.3, 8086:7113): the PM
 * I/O block at PMBA (config 0x40, 64 bytes, enabled by PMREGMISC bit 0 at 0x80) with PM1a_EVT
 * (status/enable), PM1a_CNT (SCI_EN, SLP_TYP, SLP_EN) and the 24-bit ACPI PM timer at 3.579545 MHz;
 * GPE0 at 0xAFE0; the APM control port 0xB2 that turns ACPI mode on and off; and the SCI on ISA
 * IRQ 9. SLP_EN with SLP_TYP 0 (QEMU's \_S5) powers the machine off: bus.requestShutdown(0).
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import type { Timer, VirtualClock } from "./clock.ts";
import type { IrqLine } from "./irq.ts";
import { movePorts, PCI_STATUS_DEVSEL_MEDIUM, PCI_STATUS_FAST_BACK, PciDevice } from "./pci.ts";
import { type DeviceState, loadFields, saveFields } from "./state.ts";

const PM_STATE = [
  "pm1Sts",
  "pm1En",
  "pm1Cnt",
  "gpeSts",
  "gpeEn",
  "apmCnt",
  "apmSts",
  "lastTimerMsb",
] as const;

export const PM_TIMER_FREQ = 3579545;
export const ACPI_PM_PMBA = 0x40, ACPI_PM_PMREGMISC = 0x80;
export const ACPI_PM_SIZE = 64;
export const ACPI_GPE0_BASE = 0xafe0;
export const APM_CNT_PORT = 0xb2;
export const ACPI_ENABLE = 0xf1, ACPI_DISABLE = 0xf0;

export const PM1_TMR_STS = 0x0001, PM1_BM_STS = 0x0010, PM1_GBL_STS = 0x0020, PM1_PWRBTN_STS = 0x0100;
export const PM1_RTC_STS = 0x0400, PM1_WAK_STS = 0x8000;
const PM1_COMMON = PM1_TMR_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_RTC_STS;
export const PM1_CNT_SCI_EN = 0x0001, PM1_CNT_SLP_EN = 0x2000;
const TIMER_MASK = 0xffffff;

export class AcpiPm extends PciDevice implements PortDevice {
  pm1Sts = 0;
  pm1En = 0;
  pm1Cnt = 0;
  readonly gpeSts = new Uint8Array(2);
  readonly gpeEn = new Uint8Array(2);
  apmCnt = 0;
  apmSts = 0;
  /** Where the PM block is mapped now, or -1. */
  pmBase = -1;
  private readonly overflowTimer: Timer;
  /** Bit 23 of the timer as last seen, to catch overflows when TMR_EN is off. */
  private lastTimerMsb = 0;
  /** Called on SLP_EN with a sleep type other than S5 (1 = S3, 2 = S4 as QEMU's DSDT numbers them). */
  onSleep?: (slpTyp: number) => void;
  private readonly gpe: PortDevice;

  constructor(
    private readonly bus: Bus,
    private readonly clock: VirtualClock,
    private readonly sci: IrqLine,
  ) {
    super({
      vendor: 0x8086,
      device: 0x7113,
      revision: 0x03,
      classCode: 0x068000,
      interruptPin: 1,
      status: PCI_STATUS_FAST_BACK | PCI_STATUS_DEVSEL_MEDIUM,
    });
    this.overflowTimer = clock.timer(() => this.timerOverflow());
    this.gpe = {
      portRead: (port) => {
        const i = port - ACPI_GPE0_BASE;
        return i < 2 ? this.gpeSts[i] : this.gpeEn[i - 2];
      },
      portWrite: (port, _size, value) => {
        const i = port - ACPI_GPE0_BASE;
        if (i < 2) this.gpeSts[i] &= ~value;
        else this.gpeEn[i - 2] = value;
        this.updateSci();
      },
    };
    bus.registerPorts(ACPI_GPE0_BASE, 4, this.gpe);
    bus.registerPorts(APM_CNT_PORT, 2, this);
    this.reset();
  }

  override reset(): void {
    const c = this.config;
    c.fill(0, 0x40);
    c[ACPI_PM_PMBA] = 0x01; // I/O space indicator, read-only
    this.wmask[ACPI_PM_PMBA] = 0xc0;
    this.wmask[ACPI_PM_PMBA + 1] = 0xff;
    this.wmask[ACPI_PM_PMBA + 2] = 0;
    this.wmask[ACPI_PM_PMBA + 3] = 0;
    c[0x5b] = 0x02;
    c[0x5f] = 0x90;
    c[0x63] = 0x60;
    c[0x67] = 0x08;
    c[0x90] = 0x01; // SMBus base: I/O indicator
    this.pm1Sts = this.pm1En = this.pm1Cnt = 0;
    this.updatePmIo();
    this.updateSci();
  }

  /** Programs the function as SeaBIOS leaves it (PMBA, PM I/O on, SMBus at 0x700, IRQ 9), for BIOS-less boots. */
  programLikeSeaBios(pmBase = 0x600): void {
    this.writeConfig(ACPI_PM_PMBA, 4, pmBase | 1);
    this.writeConfig(ACPI_PM_PMREGMISC, 1, 0x01);
    this.writeConfig(0x90, 4, 0x701);
    this.writeConfig(0xd2, 1, 0x09);
    this.writeConfig(0x3c, 1, 9);
    this.writeConfig(0x04, 2, 0x0103);
  }

  /** The power button (QMP system_powerdown): raises PWRBTN_STS and, if enabled, the SCI. */
  powerButton(): void {
    this.pm1Sts |= PM1_PWRBTN_STS;
    this.updateSci();
  }

  /** The ACPI PM timer's 24-bit value now. */
  timerValue(now = this.clock.nowNs()): number {
    return Math.floor(now * PM_TIMER_FREQ / 1e9) & TIMER_MASK;
  }

  protected override saveExtra(): DeviceState {
    return saveFields(this, PM_STATE);
  }

  protected override loadExtra(state: DeviceState): void {
    loadFields(this, PM_STATE, state);
  }

  protected override stateLoaded(): void {
    this.updatePmIo();
    this.updateSci();
  }

  protected override configWritten(offset: number, size: number): void {
    const touches = (reg: number, len: number) => offset < reg + len && offset + size > reg;
    if (touches(ACPI_PM_PMBA, 4) || touches(ACPI_PM_PMREGMISC, 1)) this.updatePmIo();
  }

  private updatePmIo(): void {
    const c = this.config;
    const base = (c[ACPI_PM_PMBA] | (c[ACPI_PM_PMBA + 1] << 8)) & 0xffc0;
    const addr = c[ACPI_PM_PMREGMISC] & 1 ? base : -1;
    if (addr === this.pmBase) return;
    movePorts(this.bus, this.pmBase, addr, ACPI_PM_SIZE, this);
    this.pmBase = addr;
  }

  private catchUpTimerStatus(): void {
    const msb = this.timerValue() >> 23;
    if (msb !== this.lastTimerMsb) {
      this.lastTimerMsb = msb;
      this.pm1Sts |= PM1_TMR_STS;
    }
  }

  private timerOverflow(): void {
    this.catchUpTimerStatus();
    this.updateSci();
  }

  private armOverflow(): void {
    if (!(this.pm1En & PM1_TMR_STS)) {
      this.overflowTimer.del();
      return;
    }
    const now = this.clock.nowNs();
    const ticks = Math.floor(now * PM_TIMER_FREQ / 1e9);
    const next = (Math.floor(ticks / 0x800000) + 1) * 0x800000;
    this.overflowTimer.mod(Math.ceil(next * 1e9 / PM_TIMER_FREQ));
  }

  private updateSci(): void {
    const level = (this.pm1Sts & this.pm1En & PM1_COMMON) !== 0 ||
      (this.gpeSts[0] & this.gpeEn[0]) !== 0 || (this.gpeSts[1] & this.gpeEn[1]) !== 0;
    this.sci.set(level);
    this.armOverflow();
  }

  portRead(port: number, size: AccessSize): number {
    if (port === APM_CNT_PORT) return this.apmCnt;
    if (port === APM_CNT_PORT + 1) return this.apmSts;
    const reg = port - this.pmBase;
    let v: number;
    if (reg >= 8 && reg < 12) {
      v = this.timerValue() >>> (8 * (reg - 8));
    } else {
      this.catchUpTimerStatus();
      const regs = this.pm1Sts | (this.pm1En << 16);
      v = reg < 4 ? regs >>> (8 * reg) : reg < 6 ? (this.pm1Cnt & ~PM1_CNT_SLP_EN) >>> (8 * (reg - 4)) : 0;
    }
    return size === 4 ? v >>> 0 : v & ((1 << (8 * size)) - 1);
  }

  portWrite(port: number, size: AccessSize, value: number): void {
    if (port === APM_CNT_PORT) {
      this.apmCnt = value & 0xff;
      if (this.apmCnt === ACPI_ENABLE) this.pm1Cnt |= PM1_CNT_SCI_EN;
      else if (this.apmCnt === ACPI_DISABLE) this.pm1Cnt &= ~PM1_CNT_SCI_EN;
      return;
    }
    if (port === APM_CNT_PORT + 1) {
      this.apmSts = value & 0xff;
      return;
    }
    const reg = port - this.pmBase;
    // Registers are 16-bit; a dword write at PM1_STS covers PM1_EN too.
    for (let i = 0; i < size; i++) {
      const r = reg + i;
      const b = value >>> (8 * i) & 0xff;
      if (r === 0 || r === 1) {
        this.catchUpTimerStatus();
        this.pm1Sts &= ~(b << (8 * r));
      } else if (r === 2 || r === 3) {
        this.pm1En = (this.pm1En & ~(0xff << (8 * (r - 2)))) | (b << (8 * (r - 2)));
      } else if (r === 4 || r === 5) {
        this.pm1Cnt = (this.pm1Cnt & ~(0xff << (8 * (r - 4)))) | (b << (8 * (r - 4)));
      }
    }
    if (reg <= 5 && reg + size > 4) this.pm1CntWritten();
    this.updateSci();
  }

  private pm1CntWritten(): void {
    if (!(this.pm1Cnt & PM1_CNT_SLP_EN)) return;
    this.pm1Cnt &= ~PM1_CNT_SLP_EN;
    const slpTyp = this.pm1Cnt >> 10 & 7;
    if (slpTyp === 0) this.bus.requestShutdown(0);
    else this.onSleep?.(slpTyp);
  }
}
