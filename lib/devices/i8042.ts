/**
 * The i8042 keyboard controller at 0x60 (data) / 0x64 (status, command), with a PS/2 keyboard on its
 * first port and a PS/2 mouse on its aux port, as far as BIOSes and Linux's i8042/atkbd/psmouse
 * probing go: the command byte, self-test (0x55) and interface tests, the output port with A20
 * (bus.setA20) and the reset line (0xFE pulse -> bus.requestReset), aux commands through 0xD4, and
 * the devices' reset/ID/enable/LED/rate answers. IRQ1 and IRQ12 follow the output buffer's owner.
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import type { DeviceLog } from "./guest_log.ts";
import type { IrqLine } from "./irq.ts";
import { type DeviceState, loadFields, saveFields, type Stateful } from "./state.ts";

const I8042_STATE = [
  "queue",
  "mode",
  "status",
  "outport",
  "pendingCommand",
  "kbdPendingParam",
  "auxPendingParam",
  "scancodeSet",
  "kbdEnabled",
  "auxEnabled",
  "auxSampleRate",
  "auxResolution",
  "lastRead",
] as const;

const STAT_OBF = 0x01, STAT_SELFTEST = 0x04, STAT_CMD = 0x08, STAT_UNLOCKED = 0x10, STAT_AUX_OBF = 0x20;
const MODE_KBD_INT = 0x01, MODE_MOUSE_INT = 0x02, MODE_SYS = 0x04, MODE_DISABLE_KBD = 0x10;
const MODE_DISABLE_MOUSE = 0x20;
const OUT_RESET = 0x01, OUT_A20 = 0x02, OUT_OBF = 0x10, OUT_MOUSE_OBF = 0x20;
const ACK = 0xfa, RESEND = 0xfe, BAT_OK = 0xaa;
const QUEUE_MAX = 256;

/** Keyboard commands that take one parameter byte (answered with ACK). */
const KBD_PARAM_CMDS = new Set([0xed, 0xf0, 0xf3]);
/** Mouse commands that take one parameter byte. */
const AUX_PARAM_CMDS = new Set([0xe8, 0xf3]);

export class I8042 implements PortDevice, Stateful {
  /** Bytes waiting for the guest; bit 8 marks bytes from the aux (mouse) port. */
  private readonly queue: number[] = [];
  mode = MODE_KBD_INT | MODE_MOUSE_INT;
  status = STAT_CMD | STAT_UNLOCKED;
  outport = OUT_RESET | OUT_A20 | 0xcc;
  /** Controller command awaiting its data byte on 0x60 (0 if none). */
  private pendingCommand = 0;
  private kbdPendingParam = 0;
  private auxPendingParam = 0;
  scancodeSet = 2;
  kbdEnabled = true;
  auxEnabled = false;
  private auxSampleRate = 100;
  private auxResolution = 2;
  /** Where unsupported controller commands are reported (`-d guest_errors`). */
  log?: DeviceLog;

  constructor(
    private readonly bus: Bus,
    private readonly kbdIrq: IrqLine,
    private readonly auxIrq: IrqLine,
  ) {
    bus.registerPorts(0x60, 1, this);
    bus.registerPorts(0x64, 1, this);
  }

  reset(): void {
    this.queue.length = 0;
    this.mode = MODE_KBD_INT | MODE_MOUSE_INT;
    this.status = STAT_CMD | STAT_UNLOCKED;
    this.outport = OUT_RESET | OUT_A20 | 0xcc;
    this.pendingCommand = 0;
    this.updateIrq();
  }

  /** Restores the controller; A20 is the Bus's state and is restored with it, not from here. */
  loadState(state: DeviceState): void {
    loadFields(this, I8042_STATE, state);
    this.updateIrq();
  }

  saveState(): DeviceState {
    return saveFields(this, I8042_STATE);
  }

  /** Queues keyboard bytes as the keyboard sends them (scancodes, for `sendkey`). */
  keyboardInput(bytes: ArrayLike<number>): void {
    if (this.mode & MODE_DISABLE_KBD || !this.kbdEnabled) return;
    for (let i = 0; i < bytes.length; i++) this.push(bytes[i], false);
  }

  /** Queues a mouse movement packet (when streaming is enabled). */
  mouseInput(dx: number, dy: number, buttons: number): void {
    if (!this.auxEnabled || this.mode & MODE_DISABLE_MOUSE) return;
    const b0 = 0x08 | (buttons & 7) | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0);
    this.push(b0, true);
    this.push(dx & 0xff, true);
    this.push(dy & 0xff, true);
  }

  private push(byte: number, aux: boolean): void {
    if (this.queue.length >= QUEUE_MAX) return;
    this.queue.push(byte | (aux ? 0x100 : 0));
    this.updateIrq();
  }

  private updateIrq(): void {
    this.status &= ~(STAT_OBF | STAT_AUX_OBF);
    this.outport &= ~(OUT_OBF | OUT_MOUSE_OBF);
    let kbd = false, aux = false;
    if (this.queue.length) {
      this.status |= STAT_OBF;
      if (this.queue[0] & 0x100) {
        this.status |= STAT_AUX_OBF;
        this.outport |= OUT_MOUSE_OBF;
        aux = (this.mode & MODE_MOUSE_INT) !== 0;
      } else {
        this.outport |= OUT_OBF;
        kbd = (this.mode & MODE_KBD_INT) !== 0;
      }
    }
    this.kbdIrq.set(kbd);
    this.auxIrq.set(aux);
  }

  private writeOutport(value: number): void {
    this.outport = value;
    this.bus.setA20((value & OUT_A20) !== 0);
    if (!(value & OUT_RESET)) this.bus.requestReset();
  }

  portRead(port: number, _size: AccessSize): number {
    if (port === 0x64) return this.status;
    if (!this.queue.length) {
      // An empty buffer rereads the last byte on real hardware; 0 is what QEMU gives at reset.
      return this.lastRead;
    }
    const v = this.queue.shift()!;
    this.lastRead = v & 0xff;
    this.updateIrq();
    return this.lastRead;
  }
  private lastRead = 0;

  portWrite(port: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    if (port === 0x64) this.command(value);
    else this.data(value);
  }

  private command(cmd: number): void {
    this.status |= STAT_CMD;
    if (cmd >= 0xf0) {
      // Pulse output port lines low: bit 0 is the CPU reset.
      if (!(cmd & 1)) this.bus.requestReset();
      return;
    }
    switch (cmd) {
      case 0x20: // read the command byte
        this.push(this.mode, false);
        break;
      case 0xa7:
        this.mode |= MODE_DISABLE_MOUSE;
        break;
      case 0xa8:
        this.mode &= ~MODE_DISABLE_MOUSE;
        break;
      case 0xa9: // aux interface test: OK
        this.push(0x00, false);
        break;
      case 0xaa: // controller self-test
        this.status |= STAT_SELFTEST;
        this.push(0x55, false);
        break;
      case 0xab: // keyboard interface test: OK
        this.push(0x00, false);
        break;
      case 0xad:
        this.mode |= MODE_DISABLE_KBD;
        break;
      case 0xae:
        this.mode &= ~MODE_DISABLE_KBD;
        break;
      case 0xc0: // input port
        this.push(0x00, false);
        break;
      case 0xd0: // output port
        this.push(this.outport, false);
        break;
      case 0x60: // write the command byte
      case 0xd1:
      case 0xd2:
      case 0xd3:
      case 0xd4:
        this.pendingCommand = cmd;
        break;
      case 0xdd:
        this.writeOutport(this.outport & ~OUT_A20);
        break;
      case 0xdf:
        this.writeOutport(this.outport | OUT_A20);
        break;
      default:
        // QEMU's 8042 knows only the commands above (not the rest of the controller RAM at
        // 0x21-0x3F/0x61-0x7F, nor 0xA1 or 0xE0): it logs the others and ignores them.
        this.log?.guestError(`unsupported keyboard cmd=0x${cmd.toString(16).padStart(2, "0")}`);
        break;
    }
    this.updateIrq();
  }

  private data(value: number): void {
    this.status &= ~STAT_CMD;
    const cmd = this.pendingCommand;
    this.pendingCommand = 0;
    if (cmd === 0x60) {
      this.mode = value;
      if (value & MODE_SYS) this.status |= STAT_SELFTEST;
      else this.status &= ~STAT_SELFTEST;
      this.updateIrq();
      return;
    }
    switch (cmd) {
      case 0xd1:
        this.writeOutport(value);
        return;
      case 0xd2:
        this.push(value, false);
        return;
      case 0xd3:
        this.push(value, true);
        return;
      case 0xd4:
        this.auxWrite(value);
        return;
    }
    this.kbdWrite(value);
  }

  /** A byte for the keyboard: a command or the parameter of the previous one. */
  private kbdWrite(value: number): void {
    // Writing to the keyboard enables its port, as the 8042 firmware does.
    this.mode &= ~MODE_DISABLE_KBD;
    if (this.kbdPendingParam) {
      const cmd = this.kbdPendingParam;
      this.kbdPendingParam = 0;
      if (cmd === 0xf0) {
        if (value === 0) {
          this.push(ACK, false);
          this.push(this.scancodeSet, false);
          return;
        }
        if (value >= 1 && value <= 3) this.scancodeSet = value;
      }
      this.push(ACK, false);
      return;
    }
    if (KBD_PARAM_CMDS.has(value)) {
      this.kbdPendingParam = value;
      this.push(ACK, false);
      return;
    }
    switch (value) {
      case 0xee: // echo
        this.push(0xee, false);
        break;
      case 0xf2: // identify: MF2 keyboard, translated ID when the controller translates
        this.push(ACK, false);
        this.push(0xab, false);
        this.push(this.mode & 0x40 ? 0x41 : 0x83, false);
        break;
      case 0xf4:
        this.kbdEnabled = true;
        this.push(ACK, false);
        break;
      case 0xf5:
        this.kbdEnabled = false;
        this.push(ACK, false);
        break;
      case 0xf6:
        this.scancodeSet = 2;
        this.kbdEnabled = true;
        this.push(ACK, false);
        break;
      case 0xff:
        this.scancodeSet = 2;
        this.kbdEnabled = true;
        this.push(ACK, false);
        this.push(BAT_OK, false);
        break;
      default:
        if (value >= 0xf7 && value <= 0xfd) this.push(ACK, false);
        else this.push(RESEND, false);
    }
  }

  /** A byte for the mouse (after 0xD4). */
  private auxWrite(value: number): void {
    if (this.auxPendingParam) {
      const cmd = this.auxPendingParam;
      this.auxPendingParam = 0;
      if (cmd === 0xf3) this.auxSampleRate = value;
      else this.auxResolution = value & 3;
      this.push(ACK, true);
      return;
    }
    if (AUX_PARAM_CMDS.has(value)) {
      this.auxPendingParam = value;
      this.push(ACK, true);
      return;
    }
    switch (value) {
      case 0xe6:
      case 0xe7:
      case 0xea:
      case 0xf0:
      case 0xf6:
        this.push(ACK, true);
        break;
      case 0xe9: // status request
        this.push(ACK, true);
        this.push(this.auxEnabled ? 0x20 : 0, true);
        this.push(this.auxResolution, true);
        this.push(this.auxSampleRate, true);
        break;
      case 0xeb: // read data: an empty movement packet
        this.push(ACK, true);
        this.push(0x08, true);
        this.push(0, true);
        this.push(0, true);
        break;
      case 0xf2: // get device ID: standard PS/2 mouse
        this.push(ACK, true);
        this.push(0x00, true);
        break;
      case 0xf4:
        this.auxEnabled = true;
        this.push(ACK, true);
        break;
      case 0xf5:
        this.auxEnabled = false;
        this.push(ACK, true);
        break;
      case 0xff:
        this.auxEnabled = false;
        this.auxSampleRate = 100;
        this.auxResolution = 2;
        this.push(ACK, true);
        this.push(BAT_OK, true);
        this.push(0x00, true);
        break;
      default:
        this.push(RESEND, true);
    }
  }
}
