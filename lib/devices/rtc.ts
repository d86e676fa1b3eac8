/**
 * The MC146818 real-time clock and its CMOS NVRAM at 0x70 (index, bit 7 = NMI mask) / 0x71 (data).
 * The date is kept as an offset from virtual time, so it advances with the guest's clock; registers
 * 0-9 are computed on read, in BCD or binary and 12/24-hour as register B says. Update-ended,
 * periodic and alarm interrupts set register C's flags and raise IRQ8; reading C clears them.
 * The BIOS-visible NVRAM bytes (memory sizes, CPU count, century) are set by `setMemory`.
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import type { Timer, VirtualClock } from "./clock.ts";
import type { IrqLine } from "./irq.ts";
import { LibError } from "../errors.ts";
import { type DeviceState, loadFields, saveFields, type Stateful } from "./state.ts";

const RTC_STATE = [
  "cmos",
  "index",
  "nmiMasked",
  "refSec",
  "refNs",
  "lastSecond",
  "lastPeriodicTick",
] as const;

export const RTC_SECONDS = 0x00, RTC_SECONDS_ALARM = 0x01, RTC_MINUTES = 0x02, RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04, RTC_HOURS_ALARM = 0x05, RTC_DAY_OF_WEEK = 0x06, RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08, RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a, RTC_REG_B = 0x0b, RTC_REG_C = 0x0c, RTC_REG_D = 0x0d;
export const RTC_CENTURY = 0x32;
/** IBM PS/2 keeps a second copy of the century here; QEMU fills both. */
export const RTC_PS2_CENTURY = 0x37;

const REG_A_UIP = 0x80;
const REG_B_SET = 0x80,
  REG_B_PIE = 0x40,
  REG_B_AIE = 0x20,
  REG_B_UIE = 0x10,
  REG_B_DM = 0x04,
  REG_B_24H = 0x02;
const REG_C_IRQF = 0x80, REG_C_PF = 0x40, REG_C_AF = 0x20, REG_C_UF = 0x10;
const NS_PER_SEC = 1e9;
/** UIP is raised this long before each update (244 us at 32.768 kHz). */
const UIP_LEAD_NS = 244_000;

export interface RtcOptions {
  /** `-rtc base=`: "utc" (default), "localtime", or a date "2006-06-17T16:01:21" / "2006-06-17". */
  base?: string;
  /** Host wall clock in ms since the epoch (default Date.now); tests pin it. */
  hostNowMs?: () => number;
}

/** `-rtc base=` is neither utc, localtime nor a date; the message is QEMU's first line. */
export class RtcBaseError extends LibError {}

/** Parses `-rtc base=` into the guest's wall time at start, in ms since the epoch (as UTC fields). */
export function rtcBaseMs(base: string | undefined, hostNowMs: number): number {
  if (base === undefined || base === "utc") return hostNowMs;
  if (base === "localtime") return hostNowMs - new Date(hostNowMs).getTimezoneOffset() * 60_000;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2}))?$/.exec(base);
  if (!m) throw new RtcBaseError("invalid datetime format");
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0));
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

const toBcd = (v: number) => ((v / 10 | 0) << 4) | (v % 10);
const fromBcd = (v: number) => (v >> 4) * 10 + (v & 0xf);

export class Rtc implements PortDevice, Stateful {
  readonly cmos = new Uint8Array(128);
  index = 0;
  /** Port 0x70 bit 7: NMIs are masked (the machine consults this before raising an NMI). */
  nmiMasked = false;
  /**
   * Guest wall time is refSec seconds since the epoch at virtual time refNs. Kept apart because
   * epoch nanoseconds (~1.7e18) exceed a double's exact integers; both terms here stay exact.
   */
  private refSec: number;
  private refNs: number;
  private readonly periodicTimer: Timer;
  private readonly updateTimer: Timer;
  /** Second last seen by `lazyFlags`, so UF is set even with the update interrupt off. */
  private lastSecond: number;
  private lastPeriodicTick: number;

  constructor(
    private readonly bus: Bus,
    private readonly clock: VirtualClock,
    private readonly irq: IrqLine,
    options: RtcOptions = {},
  ) {
    const hostMs = (options.hostNowMs ?? Date.now)();
    const baseMs = rtcBaseMs(options.base, hostMs);
    this.refSec = Math.floor(baseMs / 1000);
    this.refNs = clock.nowNs() - (baseMs - this.refSec * 1000) * 1e6;
    this.cmos[RTC_REG_A] = 0x26;
    this.cmos[RTC_REG_B] = REG_B_24H;
    this.cmos[RTC_REG_D] = 0x80;
    this.periodicTimer = clock.timer((now) => this.periodicTick(now));
    this.updateTimer = clock.timer((now) => this.updateTick(now));
    this.lastSecond = this.wallSecond(clock.nowNs());
    this.lastPeriodicTick = 0;
    this.armUpdate(clock.nowNs());
    this.writeCentury();
    bus.registerPorts(0x70, 2, this);
  }

  /** System reset, as QEMU's rtc_reset: time and NVRAM stay, interrupt enables and flags clear. */
  reset(): void {
    this.cmos[RTC_REG_B] &= ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | 0x08);
    this.cmos[RTC_REG_C] = 0;
    this.irq.lower();
    this.armPeriodic(this.clock.nowNs());
  }

  saveState(): DeviceState {
    return saveFields(this, RTC_STATE);
  }

  loadState(state: DeviceState): void {
    loadFields(this, RTC_STATE, state);
    const now = this.clock.nowNs();
    this.armUpdate(now);
    this.armPeriodic(now);
    this.irq.set((this.cmos[RTC_REG_C] & REG_C_IRQF) !== 0);
  }

  /** Fills the NVRAM bytes SeaBIOS and older BIOSes read, as QEMU's pc_cmos_init does. */
  setMemory(ramBelow4g: number, ramAbove4g = 0, cpus = 1): void {
    const c = this.cmos;
    c[0x15] = 0x80; // 640 KiB base memory
    c[0x16] = 0x02;
    const extKb = Math.min(Math.max(ramBelow4g / 1024 - 1024, 0), 65535);
    c[0x17] = c[0x30] = extKb & 0xff;
    c[0x18] = c[0x31] = extKb >> 8;
    const above16m = ramBelow4g > 16 << 20 ? Math.min((ramBelow4g - (16 << 20)) / 65536, 65535) : 0;
    c[0x34] = above16m & 0xff;
    c[0x35] = above16m >> 8;
    const above4g = Math.floor(ramAbove4g / 65536);
    c[0x5b] = above4g & 0xff;
    c[0x5c] = above4g >> 8 & 0xff;
    c[0x5d] = above4g >> 16 & 0xff;
    c[0x5f] = cpus - 1;
    c[0x14] = (c[0x14] & 0xc1) | 0x06; // equipment: FPU, PS/2 mouse (bit 0, floppies, is the machine's)
  }

  private wallSecond(now: number): number {
    return this.refSec + Math.floor((now - this.refNs) / NS_PER_SEC);
  }

  /** The guest's wall-clock Date now (UTC fields carry the guest's time). */
  guestDate(now = this.clock.nowNs()): Date {
    return new Date(this.refSec * 1000 + Math.floor((now - this.refNs) / 1e6));
  }

  /** Nanoseconds into the current guest second. */
  private fraction(now: number): number {
    return (((now - this.refNs) % NS_PER_SEC) + NS_PER_SEC) % NS_PER_SEC;
  }

  private encode(v: number): number {
    return this.cmos[RTC_REG_B] & REG_B_DM ? v : toBcd(v);
  }
  private decode(v: number): number {
    return this.cmos[RTC_REG_B] & REG_B_DM ? v : fromBcd(v);
  }

  private encodeHours(h: number): number {
    if (this.cmos[RTC_REG_B] & REG_B_24H) return this.encode(h);
    const pm = h >= 12 ? 0x80 : 0;
    return this.encode(h % 12 || 12) | pm;
  }
  private decodeHours(v: number): number {
    if (this.cmos[RTC_REG_B] & REG_B_24H) return this.decode(v & 0x7f);
    const h = this.decode(v & 0x7f) % 12;
    return v & 0x80 ? h + 12 : h;
  }

  /** Copies the running time into registers 0-9 (and the century byte). */
  private latchTime(now: number): void {
    const d = this.guestDate(now);
    const c = this.cmos;
    c[RTC_SECONDS] = this.encode(d.getUTCSeconds());
    c[RTC_MINUTES] = this.encode(d.getUTCMinutes());
    c[RTC_HOURS] = this.encodeHours(d.getUTCHours());
    c[RTC_DAY_OF_WEEK] = this.encode(d.getUTCDay() + 1);
    c[RTC_DAY_OF_MONTH] = this.encode(d.getUTCDate());
    c[RTC_MONTH] = this.encode(d.getUTCMonth() + 1);
    c[RTC_YEAR] = this.encode(d.getUTCFullYear() % 100);
    this.writeCentury(d);
  }

  private writeCentury(d = this.guestDate()): void {
    this.cmos[RTC_CENTURY] = this.cmos[RTC_PS2_CENTURY] = this.encode(Math.floor(d.getUTCFullYear() / 100));
  }

  /**
   * The hard-disk bytes of a BIOS's CMOS for IDE unit 0 or 1 (primary master/slave), as QEMU's
   * pc_cmos_init_late writes them: type 0xF with extended type 47 and the user-defined geometry.
   */
  setHardDisk(
    unit: 0 | 1,
    g: { cylinders: number; heads: number; sectors: number },
    lbaTranslation = false,
  ): void {
    const c = this.cmos;
    c[0x12] = unit === 0 ? (c[0x12] & 0x0f) | 0xf0 : (c[0x12] & 0xf0) | 0x0f;
    c[0x19 + unit] = 47;
    const at = unit === 0 ? 0x1b : 0x24;
    c[at] = g.cylinders & 0xff;
    c[at + 1] = g.cylinders >> 8;
    c[at + 2] = g.heads;
    c[at + 3] = 0xff; // write precompensation: none
    c[at + 4] = 0xff;
    c[at + 5] = 0xc0 | (g.heads > 8 ? 0x08 : 0);
    c[at + 6] = g.cylinders & 0xff; // landing zone
    c[at + 7] = g.cylinders >> 8;
    c[at + 8] = g.sectors;
    if (lbaTranslation) c[0x39] |= 1 << (unit * 2);
  }

  /** `-boot order=`: the BIOS boot sequence bytes (a/b floppy 1, c disk 2, d CD 3, n network 4). */
  setBootOrder(order: string, floppySignatureCheck = true): void {
    const code = (ch: string | undefined) =>
      ({ a: 1, b: 1, c: 2, d: 3, n: 4 } as Record<string, number>)[ch ?? ""] ?? 0;
    this.cmos[0x3d] = (code(order[1]) << 4) | code(order[0]);
    this.cmos[0x38] = (code(order[2]) << 4) | (floppySignatureCheck ? 0 : 1);
  }

  /** Takes registers 0-9 and the century as the new time (after SET is cleared or a time write). */
  private adoptTime(now: number): void {
    const c = this.cmos;
    const year = this.decode(c[RTC_CENTURY]) * 100 + this.decode(c[RTC_YEAR]);
    const ms = Date.UTC(
      year,
      this.decode(c[RTC_MONTH]) - 1,
      this.decode(c[RTC_DAY_OF_MONTH]),
      this.decodeHours(c[RTC_HOURS]),
      this.decode(c[RTC_MINUTES]),
      this.decode(c[RTC_SECONDS]),
    );
    // The divider chain keeps its phase: only the seconds change.
    this.refNs = now - this.fraction(now);
    this.refSec = ms / 1000;
    this.lastSecond = this.wallSecond(now);
    this.armUpdate(now);
  }

  private running(): boolean {
    return (this.cmos[RTC_REG_B] & REG_B_SET) === 0 && (this.cmos[RTC_REG_A] & 0x70) === 0x20;
  }

  /** Periodic interrupt period from register A's rate select, or 0 when off. */
  private periodNs(): number {
    let rate = this.cmos[RTC_REG_A] & 0x0f;
    if (rate === 0) return 0;
    if (rate <= 2) rate += 7; // rates 1 and 2 alias 8 and 9
    return (NS_PER_SEC * (1 << (rate - 1))) / 32768;
  }

  private armPeriodic(now: number): void {
    const period = this.periodNs();
    if (!period || !(this.cmos[RTC_REG_B] & REG_B_PIE)) {
      this.periodicTimer.del();
      return;
    }
    // Periods divide a second, so ticks stay aligned to the update cycle.
    this.periodicTimer.mod(now + (period - (this.fraction(now) % period)));
  }

  private armUpdate(now: number): void {
    this.updateTimer.mod(now + (NS_PER_SEC - this.fraction(now)));
  }

  private periodicTick(now: number): void {
    this.lastPeriodicTick = now;
    this.cmos[RTC_REG_C] |= REG_C_PF;
    this.updateIrq();
    this.armPeriodic(now);
  }

  /** Once a second: the update cycle, with its update-ended and alarm flags. */
  private updateTick(now: number): void {
    this.armUpdate(now);
    if (!this.running()) return;
    this.lastSecond = this.wallSecond(now);
    this.cmos[RTC_REG_C] |= REG_C_UF;
    if (this.alarmMatches(now)) this.cmos[RTC_REG_C] |= REG_C_AF;
    this.updateIrq();
  }

  private alarmMatches(now: number): boolean {
    const d = this.guestDate(now);
    const c = this.cmos;
    const match = (alarm: number, value: number) => (alarm & 0xc0) === 0xc0 || alarm === value;
    return match(c[RTC_SECONDS_ALARM], this.encode(d.getUTCSeconds())) &&
      match(c[RTC_MINUTES_ALARM], this.encode(d.getUTCMinutes())) &&
      match(c[RTC_HOURS_ALARM], this.encodeHours(d.getUTCHours()));
  }

  private updateIrq(): void {
    const c = this.cmos;
    const enabled = c[RTC_REG_B] & (REG_B_PIE | REG_B_AIE | REG_B_UIE);
    if (c[RTC_REG_C] & enabled & (REG_C_PF | REG_C_AF | REG_C_UF)) {
      if (!(c[RTC_REG_C] & REG_C_IRQF)) {
        c[RTC_REG_C] |= REG_C_IRQF;
        this.irq.raise();
      }
    }
  }

  /** PF is set by the divider chain whether or not PIE is on; catch up on it when C is read. */
  private lazyPeriodicFlag(now: number): void {
    const period = this.periodNs();
    if (!period || this.cmos[RTC_REG_B] & REG_B_PIE) return;
    if (
      Math.floor((now - this.refNs) / period) !== Math.floor((this.lastPeriodicTick - this.refNs) / period)
    ) {
      this.cmos[RTC_REG_C] |= REG_C_PF;
    }
    this.lastPeriodicTick = now;
  }

  portRead(port: number, _size: AccessSize): number {
    if ((port & 1) === 0) return 0xff;
    const now = this.clock.nowNs();
    const i = this.index;
    switch (i) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case RTC_CENTURY:
        if (this.running()) this.latchTime(now);
        return this.cmos[i];
      case RTC_REG_A: {
        let a = this.cmos[RTC_REG_A] & ~REG_A_UIP;
        const frac = this.fraction(now);
        if (this.running() && frac >= NS_PER_SEC - UIP_LEAD_NS) a |= REG_A_UIP;
        return a;
      }
      case RTC_REG_C: {
        this.lazyPeriodicFlag(now);
        const v = this.cmos[RTC_REG_C];
        this.cmos[RTC_REG_C] = 0;
        if (v & REG_C_IRQF) this.irq.lower();
        return v;
      }
      default:
        return this.cmos[i];
    }
  }

  portWrite(port: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    if ((port & 1) === 0) {
      this.index = value & 0x7f;
      this.nmiMasked = (value & 0x80) !== 0;
      return;
    }
    const now = this.clock.nowNs();
    const i = this.index;
    switch (i) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case RTC_CENTURY: {
        const wasRunning = this.running();
        if (wasRunning) this.latchTime(now);
        this.cmos[i] = value;
        if (wasRunning) this.adoptTime(now);
        break;
      }
      case RTC_REG_A:
        this.cmos[RTC_REG_A] = (value & ~REG_A_UIP) | (this.cmos[RTC_REG_A] & REG_A_UIP);
        this.armPeriodic(now);
        break;
      case RTC_REG_B: {
        const old = this.cmos[RTC_REG_B];
        if (value & REG_B_SET && !(old & REG_B_SET)) this.latchTime(now);
        // Setting SET ends any update in progress and clears UIE, as on the MC146818.
        if (value & REG_B_SET) value &= ~REG_B_UIE;
        // Changing data mode takes effect for registers written afterwards; re-encode from the clock.
        this.cmos[RTC_REG_B] = value;
        if (old & REG_B_SET && !(value & REG_B_SET)) this.adoptTime(now);
        else if (!(value & REG_B_SET) && (old ^ value) & (REG_B_DM | REG_B_24H)) this.latchTime(now);
        this.armPeriodic(now);
        this.updateIrq();
        break;
      }
      case RTC_REG_C:
      case RTC_REG_D:
        break; // read-only
      default:
        this.cmos[i] = value;
    }
  }
}
