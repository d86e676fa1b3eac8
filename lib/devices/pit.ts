/**
 * The 8254 programmable interval timer at 0x40-0x43, clocked at 1.193182 MHz from the virtual clock.
 * Counts are not ticked: each channel remembers when its count was loaded and derives the current
 * count and OUT level from virtual time, as QEMU's i8254 does; a timer fires at each OUT transition
 * of channel 0 to drive IRQ0. Modes 0-5, binary and BCD counting, counter latch, read-back (count and
 * status), LSB/MSB/word access. Channel 2's GATE and OUT meet port B (0x61, see port_b.ts).
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import type { Timer, VirtualClock } from "./clock.ts";
import type { IrqLine } from "./irq.ts";
import { DelayedTicks, type TickPath } from "./lost_ticks.ts";
import { type DeviceState, loadFields, saveFields, type Stateful, subList } from "./state.ts";

const CHANNEL_STATE = [
  "count",
  "latchedCount",
  "countLatched",
  "statusLatched",
  "status",
  "readState",
  "writeState",
  "writeLatch",
  "rwMode",
  "mode",
  "bcd",
  "gate",
  "countLoadTime",
  "loaded",
  "waitingGate",
  "gateLowSince",
] as const;

export const PIT_FREQ = 1193182;
const NS_PER_SEC = 1e9;

/** Read/write access modes from the control word's RW bits, plus the word sequence's second half. */
const RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4;

function fromBcd(v: number): number {
  return (v >> 12 & 0xf) * 1000 + (v >> 8 & 0xf) * 100 + (v >> 4 & 0xf) * 10 + (v & 0xf);
}
function toBcd(v: number): number {
  v %= 10000;
  return ((v / 1000 | 0) << 12) | ((v / 100 % 10 | 0) << 8) | ((v / 10 % 10 | 0) << 4) | (v % 10);
}

export class PitChannel {
  /** Reload value in input clocks (1..65536, or 1..10000 in BCD). */
  count = 0x10000;
  latchedCount = 0;
  /** Non-zero while a latched count is being read: which RW sequence reads it. */
  countLatched = 0;
  statusLatched = false;
  status = 0;
  readState = RW_LSB;
  writeState = RW_LSB;
  writeLatch = 0;
  rwMode = RW_LSB;
  mode = 0;
  bcd = 0;
  gate: boolean;
  countLoadTime = 0;
  /** Whether a count has been written since the control word (until then the counter is idle). */
  loaded = false;
  /** Modes 1 and 5: the count is loaded but counting waits for a rising GATE edge. */
  waitingGate = false;
  /** Modes 0, 2, 3, 4: virtual time at which a low GATE froze the count, or -1 while counting. */
  gateLowSince = -1;
  timer: Timer | undefined;
  irq: IrqLine | undefined;
  /** Channel 0 under lost_tick_policy=delay (lost_ticks.ts), once the machine asks for it. */
  ticks: DelayedTicks | undefined;

  constructor(readonly index: number, private readonly clock: VirtualClock) {
    this.gate = index !== 2;
  }

  /** Input clocks elapsed since the count was loaded. */
  private elapsed(now: number): number {
    const t = this.gateLowSince >= 0 ? this.gateLowSince : now;
    return Math.floor((t - this.countLoadTime) * PIT_FREQ / NS_PER_SEC);
  }

  /** Modes whose counting a low GATE suspends. */
  private get gateSuspends(): boolean {
    return this.mode === 0 || this.mode === 2 || this.mode === 3 || this.mode === 4;
  }

  /** The counting element's value now (binary, before BCD encoding). */
  currentCount(now: number): number {
    if (!this.loaded || this.waitingGate) return this.count & 0xffff;
    const d = this.elapsed(now);
    const c = this.count;
    let v: number;
    switch (this.mode) {
      case 0:
      case 1:
      case 4:
      case 5: {
        const m = this.bcd ? 10000 : 0x10000;
        v = ((c - d) % m + m) % m;
        break;
      }
      case 3:
        v = c - ((2 * d) % c);
        break;
      default:
        v = c - (d % c);
        break;
    }
    return v;
  }

  /** OUT level now. */
  out(now: number): boolean {
    if (!this.loaded) return this.mode !== 0;
    if (this.waitingGate) return true;
    // GATE low forces OUT high in modes 2 and 3.
    if (this.gateLowSince >= 0 && (this.mode === 2 || this.mode === 3)) return true;
    const d = this.elapsed(now);
    const c = this.count;
    switch (this.mode) {
      case 0:
        return d >= c;
      case 1:
        return d >= c;
      case 2: // low for the one clock when the count reaches 1, then reload
        return d % c !== c - 1;
      case 3:
        return d % c < ((c + 1) >> 1);
      default: // 4, 5: a one-clock low strobe at terminal count
        return d !== c;
    }
  }

  /** Virtual time of the next OUT transition after now, or -1 if OUT will not change again. */
  private nextTransition(now: number): number {
    const d = this.elapsed(now);
    const c = this.count;
    let next: number;
    switch (this.mode) {
      case 0:
      case 1:
        if (d >= c) return -1;
        next = c;
        break;
      case 2: {
        const base = Math.floor(d / c) * c;
        next = d - base < c - 1 ? base + c - 1 : base + c;
        break;
      }
      case 3: {
        const base = Math.floor(d / c) * c;
        const half = (c + 1) >> 1;
        next = d - base < half ? base + half : base + c;
        break;
      }
      default:
        if (d < c) next = c;
        else if (d === c) next = c + 1;
        else return -1;
        break;
    }
    // The first ns at which elapsed() reaches `next`.
    let t = this.countLoadTime + Math.ceil(next * NS_PER_SEC / PIT_FREQ);
    if (t <= now) t = now + 1;
    return t;
  }

  /** Re-evaluates OUT for the IRQ line and re-arms the transition timer. */
  update(now: number): void {
    if (!this.irq || !this.timer) return;
    if (!this.loaded || this.waitingGate || this.gateLowSince >= 0) {
      this.irq.set(this.out(now));
      this.timer.del();
      return;
    }
    this.irq.set(this.out(now));
    const next = this.nextTransition(now);
    if (next < 0) this.timer.del();
    else this.timer.mod(next);
  }

  /**
   * The OUT transition timer fired. In the periodic modes a rising OUT is a tick: the delay policy
   * sees it before the line does, while the previous tick's request is still latched or not.
   */
  expired(now: number): void {
    if (this.ticks && this.irq && (this.mode === 2 || this.mode === 3) && !this.irq.level && this.out(now)) {
      this.ticks.tick();
    }
    this.update(now);
  }

  /** A fresh edge on the IRQ line for a kept tick; the line's level stays OUT's. */
  reraise(): void {
    const irq = this.irq!;
    if (irq.level) {
      irq.set(false);
      irq.set(true);
    } else irq.pulse();
  }

  loadCount(value: number): void {
    let v = this.bcd ? fromBcd(value) : value;
    if (v === 0) v = this.bcd ? 10000 : 0x10000;
    // Modes 2 and 3 need at least 2 (mode 3 with 1 would never toggle).
    if ((this.mode === 2 || this.mode === 3) && v === 1) v = 2;
    const now = this.clock.nowNs();
    this.count = v;
    this.countLoadTime = now;
    // Modes 1 and 5 wait for a gate edge; on the PC only channel 2 can give one.
    this.loaded = true;
    this.waitingGate = this.mode === 1 || this.mode === 5;
    this.gateLowSince = !this.gate && this.gateSuspends ? now : -1;
    this.update(now);
  }

  latchCount(): void {
    if (this.countLatched) return;
    const v = this.currentCount(this.clock.nowNs());
    this.latchedCount = this.bcd ? toBcd(v) : v & 0xffff;
    this.countLatched = this.rwMode;
  }

  latchStatus(): void {
    if (this.statusLatched) return;
    const out = this.out(this.clock.nowNs()) ? 0x80 : 0;
    const nullCount = this.loaded ? 0 : 0x40;
    this.status = out | nullCount | (this.rwMode << 4) | (this.mode << 1) | this.bcd;
    this.statusLatched = true;
  }

  setGate(level: boolean): void {
    const now = this.clock.nowNs();
    const rising = level && !this.gate;
    const falling = !level && this.gate;
    this.gate = level;
    if (falling && this.loaded && !this.waitingGate && this.gateSuspends) this.gateLowSince = now;
    if (rising && this.loaded) {
      if (this.mode === 0 || this.mode === 4) {
        // Counting resumes where it stopped.
        if (this.gateLowSince >= 0) this.countLoadTime += now - this.gateLowSince;
      } else {
        // Modes 1 and 5 are triggered, 2 and 3 reload, by the rising edge.
        this.countLoadTime = now;
        this.waitingGate = false;
      }
      this.gateLowSince = -1;
    }
    this.update(now);
  }

  readData(): number {
    if (this.statusLatched) {
      this.statusLatched = false;
      return this.status;
    }
    if (this.countLatched) {
      switch (this.countLatched) {
        case RW_LSB:
          this.countLatched = 0;
          return this.latchedCount & 0xff;
        case RW_MSB:
          this.countLatched = 0;
          return this.latchedCount >> 8 & 0xff;
        default:
          this.countLatched = RW_MSB;
          return this.latchedCount & 0xff;
      }
    }
    let v = this.currentCount(this.clock.nowNs());
    if (this.bcd) v = toBcd(v);
    switch (this.readState) {
      case RW_LSB:
        return v & 0xff;
      case RW_MSB:
        return v >> 8 & 0xff;
      case RW_WORD0:
        this.readState = RW_WORD1;
        return v & 0xff;
      default:
        this.readState = RW_WORD0;
        return v >> 8 & 0xff;
    }
  }

  writeData(value: number): void {
    switch (this.writeState) {
      case RW_LSB:
        this.loadCount(value);
        break;
      case RW_MSB:
        this.loadCount(value << 8);
        break;
      case RW_WORD0:
        this.writeLatch = value;
        this.writeState = RW_WORD1;
        break;
      default:
        this.loadCount(this.writeLatch | (value << 8));
        this.writeState = RW_WORD0;
        break;
    }
  }

  writeControl(value: number): void {
    const access = value >> 4 & 3;
    if (access === RW_LATCH) {
      this.latchCount();
      return;
    }
    this.rwMode = access;
    this.readState = access;
    this.writeState = access;
    this.mode = value >> 1 & 7;
    if (this.mode > 5) this.mode -= 4; // 6 and 7 alias modes 2 and 3
    this.bcd = value & 1;
    this.loaded = false;
    this.waitingGate = false;
    this.gateLowSince = -1;
    this.update(this.clock.nowNs());
  }
}

export class Pit implements PortDevice, Stateful {
  readonly channels: PitChannel[];

  /** irq0 is the line for channel 0's OUT (ISA IRQ0). */
  constructor(bus: Bus, private readonly clock: VirtualClock, irq0: IrqLine) {
    this.channels = [0, 1, 2].map((i) => new PitChannel(i, clock));
    const ch0 = this.channels[0];
    ch0.irq = irq0;
    ch0.timer = clock.timer((now) => ch0.expired(now));
    bus.registerPorts(0x40, 4, this);
  }

  /**
   * Switches channel 0 to lost_tick_policy=delay over path (the machine's route of IRQ0); the
   * machine then reports each acknowledged IRQ0 with `acknowledged()`.
   */
  delayLostTicks(path: TickPath): void {
    const ch0 = this.channels[0];
    ch0.ticks = new DelayedTicks(path, () => ch0.reraise());
  }

  /** The CPU took IRQ0: under the delay policy, the next kept tick is raised now. */
  acknowledged(): void {
    this.channels[0].ticks?.acknowledged();
  }

  reset(): void {
    for (const ch of this.channels) {
      ch.ticks?.reset();
      ch.mode = 0;
      ch.loaded = false;
      ch.waitingGate = false;
      ch.gateLowSince = -1;
      ch.count = 0x10000;
      ch.countLatched = 0;
      ch.statusLatched = false;
      ch.gate = ch.index !== 2;
      ch.update(this.clock.nowNs());
    }
  }

  saveState(): DeviceState {
    return { channels: this.channels.map((c) => saveFields(c, CHANNEL_STATE)) };
  }

  loadState(state: DeviceState): void {
    subList(state, "channels", 3).forEach((s, i) => loadFields(this.channels[i], CHANNEL_STATE, s));
    for (const ch of this.channels) ch.update(this.clock.nowNs());
  }

  portRead(port: number, _size: AccessSize): number {
    const i = port & 3;
    return i === 3 ? 0xff : this.channels[i].readData();
  }

  portWrite(port: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    const i = port & 3;
    if (i !== 3) {
      this.channels[i].writeData(value);
      return;
    }
    const select = value >> 6;
    if (select !== 3) {
      this.channels[select].writeControl(value);
      return;
    }
    // Read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 1-3 pick channels.
    for (let c = 0; c < 3; c++) {
      if (!(value & (2 << c))) continue;
      if (!(value & 0x20)) this.channels[c].latchCount();
      if (!(value & 0x10)) this.channels[c].latchStatus();
    }
  }
}
