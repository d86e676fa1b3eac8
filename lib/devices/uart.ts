/**
 * The 16550A UART (COM1 at 0x3F8/IRQ4, COM2 at 0x2F8/IRQ3), as QEMU's serial device models it:
 * divisor latch, 16-byte receive FIFO with trigger levels 1/4/8/14 and the character timeout,
 * line and modem status, loopback, and the interrupt priorities of the IIR (line status > received
 * data / timeout > THR empty > modem status). Transmission is immediate: a byte written to THR
 * goes to the backend at once and THR is empty again, so the guest sees THRE right away.
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import type { CharBackend, CharFrontend } from "./chardev.ts";
import type { Timer, VirtualClock } from "./clock.ts";
import type { IrqLine } from "./irq.ts";
import { type DeviceState, loadFields, saveFields, type Stateful } from "./state.ts";

const UART_STATE = [
  "rbrFifo",
  "fifoHead",
  "fifoCount",
  "divider",
  "ier",
  "iir",
  "lcr",
  "mcr",
  "lsr",
  "msr",
  "scr",
  "fcr",
  "thrIpending",
  "timeoutIpending",
] as const;

export const COM_PORTS = [{ base: 0x3f8, irq: 4 }, { base: 0x2f8, irq: 3 }, { base: 0x3e8, irq: 4 }, {
  base: 0x2e8,
  irq: 3,
}] as const;

const IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08;
const IIR_NO_INT = 0x01, IIR_MSI = 0x00, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_RLSI = 0x06, IIR_CTI = 0x0c;
const IIR_FIFO_ENABLED = 0xc0;
const LCR_DLAB = 0x80;
const MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
const LSR_DR = 0x01, LSR_OE = 0x02, LSR_BI = 0x10, LSR_THRE = 0x20, LSR_TEMT = 0x40;
const LSR_INT_ANY = 0x1e;
const MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08;
const MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
const MSR_DELTAS = 0x0f;
const FCR_ENABLE = 0x01, FCR_CLEAR_RX = 0x02;
const FIFO_SIZE = 16;
const TRIGGER_LEVELS = [1, 4, 8, 14] as const;
const UART_CLOCK_HZ = 115200;

export class Uart implements PortDevice, CharFrontend, Stateful {
  rbrFifo = new Uint8Array(FIFO_SIZE);
  fifoHead = 0;
  fifoCount = 0;
  divider = 12;
  ier = 0;
  iir = IIR_NO_INT;
  lcr = 0;
  mcr = MCR_OUT2;
  lsr = LSR_THRE | LSR_TEMT;
  msr = MSR_DCD | MSR_DSR | MSR_CTS;
  scr = 0;
  fcr = 0;
  /** THR-empty interrupt pending (cleared by reading IIR while it shows, or by writing THR). */
  thrIpending = true;
  timeoutIpending = false;
  private readonly timeoutTimer: Timer;
  onDrain?: () => void;
  private readonly one = new Uint8Array(1);

  constructor(
    bus: Bus,
    private readonly clock: VirtualClock,
    readonly base: number,
    private readonly irq: IrqLine,
    public backend?: CharBackend,
  ) {
    this.timeoutTimer = clock.timer(() => {
      if (this.fifoCount > 0) {
        this.timeoutIpending = true;
        this.updateIrq();
      }
    });
    bus.registerPorts(base, 8, this);
    backend?.attach?.(this);
  }

  /** Power-on state (the backend stays attached). */
  reset(): void {
    this.fifoHead = this.fifoCount = 0;
    this.divider = 12;
    this.ier = 0;
    this.lcr = 0;
    this.mcr = MCR_OUT2;
    this.lsr = LSR_THRE | LSR_TEMT;
    this.msr = MSR_DCD | MSR_DSR | MSR_CTS;
    this.scr = 0;
    this.fcr = 0;
    this.thrIpending = true;
    this.timeoutIpending = false;
    this.timeoutTimer.del();
    this.updateIrq();
  }

  saveState(): DeviceState {
    const timeout = this.timeoutTimer.pending ? this.timeoutTimer.deadline : null;
    return { ...saveFields(this, UART_STATE), timeout };
  }

  loadState(state: DeviceState): void {
    loadFields(this, UART_STATE, state);
    if (typeof state.timeout === "number") this.timeoutTimer.mod(state.timeout);
    else this.timeoutTimer.del();
    this.updateIrq();
  }

  attach(backend: CharBackend): void {
    this.backend = backend;
    backend.attach?.(this);
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & FCR_ENABLE) !== 0;
  }

  /** Time for one character at the current divisor and frame (start + data + parity + stop bits). */
  private charTimeNs(): number {
    const bits = 1 + 5 + (this.lcr & 3) + (this.lcr & 0x08 ? 1 : 0) + (this.lcr & 0x04 ? 2 : 1);
    return (bits * 1e9 * (this.divider || 1)) / UART_CLOCK_HZ;
  }

  canReceive(): number {
    if (this.mcr & MCR_LOOP) return 0;
    return this.fifoEnabled ? FIFO_SIZE - this.fifoCount : (this.lsr & LSR_DR ? 0 : 1);
  }

  receive(data: Uint8Array): void {
    for (const b of data) this.receiveByte(b);
  }

  private receiveByte(b: number): void {
    if (!this.fifoEnabled && this.fifoCount > 0) {
      // 16450 mode: the new character overwrites the unread one.
      this.lsr |= LSR_OE;
      this.rbrFifo[this.fifoHead] = b;
    } else if (this.fifoCount >= FIFO_SIZE) {
      this.lsr |= LSR_OE; // a full FIFO drops the new character
    } else {
      this.rbrFifo[(this.fifoHead + this.fifoCount) % FIFO_SIZE] = b;
      this.fifoCount++;
    }
    this.lsr |= LSR_DR;
    if (this.fifoEnabled) this.timeoutTimer.mod(this.clock.nowNs() + 4 * this.charTimeNs());
    this.updateIrq();
  }

  /** A break condition on the line (a NUL with BI set). */
  receiveBreak(): void {
    this.receiveByte(0);
    this.lsr |= LSR_BI;
    this.updateIrq();
  }

  /** The backend's modem lines (CTS, DSR, DCD, RI as MSR's upper bits). */
  setModemLines(status: number): void {
    if (this.mcr & MCR_LOOP) return;
    this.setMsr(status & 0xf0);
  }

  private setMsr(lines: number): void {
    const old = this.msr;
    let delta = 0;
    if ((old ^ lines) & MSR_CTS) delta |= MSR_DCTS;
    if ((old ^ lines) & MSR_DSR) delta |= MSR_DDSR;
    if ((old ^ lines) & MSR_DCD) delta |= MSR_DDCD;
    if (old & MSR_RI && !(lines & MSR_RI)) delta |= MSR_TERI;
    this.msr = lines | (old & MSR_DELTAS) | delta;
    this.updateIrq();
  }

  private updateIrq(): void {
    let iir = IIR_NO_INT;
    const trigger = this.fifoEnabled ? TRIGGER_LEVELS[this.fcr >> 6] : 1;
    if (this.ier & IER_RLSI && this.lsr & LSR_INT_ANY) iir = IIR_RLSI;
    else if (this.ier & IER_RDI && this.timeoutIpending) iir = IIR_CTI;
    else if (this.ier & IER_RDI && this.lsr & LSR_DR && this.fifoCount >= trigger) iir = IIR_RDI;
    else if (this.ier & IER_THRI && this.thrIpending) iir = IIR_THRI;
    else if (this.ier & IER_MSI && this.msr & MSR_DELTAS) iir = IIR_MSI;
    this.iir = iir | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
    this.irq.set(iir !== IIR_NO_INT);
  }

  private transmit(b: number): void {
    if (this.mcr & MCR_LOOP) {
      this.receiveByte(b);
    } else if (this.backend) {
      this.one[0] = b;
      this.backend.write(this.one);
    }
    this.lsr |= LSR_THRE | LSR_TEMT;
    this.thrIpending = true;
  }

  portRead(port: number, _size: AccessSize): number {
    switch (port - this.base) {
      case 0: {
        if (this.lcr & LCR_DLAB) return this.divider & 0xff;
        let v = 0;
        if (this.fifoCount > 0) {
          v = this.rbrFifo[this.fifoHead];
          this.fifoHead = (this.fifoHead + 1) % FIFO_SIZE;
          this.fifoCount--;
        }
        if (this.fifoCount === 0) {
          this.lsr &= ~(LSR_DR | LSR_BI);
          this.timeoutTimer.del();
        } else if (this.fifoEnabled) {
          this.timeoutTimer.mod(this.clock.nowNs() + 4 * this.charTimeNs());
        }
        this.timeoutIpending = false;
        this.updateIrq();
        if (!(this.mcr & MCR_LOOP)) this.onDrain?.();
        return v;
      }
      case 1:
        return this.lcr & LCR_DLAB ? this.divider >> 8 & 0xff : this.ier;
      case 2: {
        const v = this.iir;
        if ((v & 0x0f) === IIR_THRI) {
          this.thrIpending = false;
          this.updateIrq();
        }
        return v;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        const v = this.lsr;
        if (v & (LSR_BI | LSR_OE | 0x0c)) {
          this.lsr &= ~(LSR_BI | LSR_OE | 0x0c);
          this.updateIrq();
        }
        return v;
      }
      case 6: {
        const v = this.msr;
        if (v & MSR_DELTAS) {
          this.msr &= ~MSR_DELTAS;
          this.updateIrq();
        }
        return v;
      }
      default:
        return this.scr;
    }
  }

  portWrite(port: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    switch (port - this.base) {
      case 0:
        if (this.lcr & LCR_DLAB) {
          this.divider = (this.divider & 0xff00) | value;
        } else {
          this.thrIpending = false;
          this.transmit(value);
          this.updateIrq();
        }
        break;
      case 1:
        if (this.lcr & LCR_DLAB) {
          this.divider = (this.divider & 0x00ff) | (value << 8);
        } else {
          const changed = (this.ier ^ value) & 0x0f;
          this.ier = value & 0x0f;
          // Enabling THRI while THR is empty raises the interrupt at once, as on the 16550A.
          if (changed & IER_THRI && this.ier & IER_THRI && this.lsr & LSR_THRE) this.thrIpending = true;
          this.updateIrq();
        }
        break;
      case 2: {
        const enable = value & FCR_ENABLE;
        if (enable !== (this.fcr & FCR_ENABLE) || value & FCR_CLEAR_RX) {
          this.fifoHead = 0;
          this.fifoCount = 0;
          this.lsr &= ~(LSR_DR | LSR_BI);
          this.timeoutIpending = false;
          this.timeoutTimer.del();
        }
        this.fcr = enable ? value & 0xc9 : 0;
        this.updateIrq();
        this.onDrain?.();
        break;
      }
      case 3:
        this.lcr = value;
        break;
      case 4: {
        const old = this.mcr;
        this.mcr = value & 0x1f;
        if (this.mcr & MCR_LOOP) {
          // Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
          const m = this.mcr;
          this.setMsr(
            (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) | (m & MCR_OUT1 ? MSR_RI : 0) |
              (m & MCR_OUT2 ? MSR_DCD : 0),
          );
        } else if (old & MCR_LOOP) {
          this.setMsr(MSR_DCD | MSR_DSR | MSR_CTS);
          this.onDrain?.();
        }
        break;
      }
      case 5:
        break; // LSR is read-only (factory test only)
      case 6:
        break;
      default:
        this.scr = value;
    }
  }
}
