/**
 * The HPET (IA-PC High Precision Event Timer) as QEMU 7.2's pc machine has it at 0xFED00000: a 64-bit
 * main counter at 100 MHz (10 ns period) on the virtual clock, three comparators (one-shot or periodic,
 * 32- or 64-bit), level or edge interrupts routed to IOAPIC inputs, and legacy replacement (timer 0 on
 * IRQ0 / IOAPIC pin 2, timer 1 on IRQ8) which silences the PIT's and the RTC's own lines, as QEMU
 * gates them through the HPET. Registers are reached as 32-bit halves (the bus splits 64-bit accesses).
 */
import type { AccessSize, Bus, MmioDevice } from "./bus.ts";
import type { Timer, VirtualClock } from "./clock.ts";
import type { DeviceLog } from "./guest_log.ts";
import type { IrqSink } from "./irq.ts";
import { DelayedTicks, type TickPath } from "./lost_ticks.ts";
import { type DeviceState, DeviceStateError, type Stateful, subList } from "./state.ts";

export const HPET_BASE = 0xfed00000;
export const HPET_LEN = 0x400;
export const HPET_NUM_TIMERS = 3;
/** Counter period in femtoseconds (10 ns = 100 MHz), the capability register's high half. */
export const HPET_PERIOD_FS = 10_000_000;
const NS_PER_TICK = 10;
/** Vendor 0x8086, LEG_RT_CAP, COUNT_SIZE_CAP (64-bit), NUM_TIM_CAP = timers - 1, revision 1. */
export const HPET_CAP_LO = (0x8086a001 | ((HPET_NUM_TIMERS - 1) << 8)) >>> 0;
/** QEMU's pc wires the HPET's comparators to GSI 2 only (its "intcap" for piix machines). */
export const HPET_INTCAP_PC = 0x4;

// General registers.
const HPET_ID = 0x000, HPET_PERIOD = 0x004, HPET_CFG = 0x010, HPET_STATUS = 0x020, HPET_COUNTER = 0x0f0;
export const HPET_CFG_ENABLE = 1 << 0, HPET_CFG_LEGACY = 1 << 1;
// Per-timer registers at 0x100 + 0x20 * n.
const HPET_TN_CFG = 0x00, HPET_TN_CMP = 0x08, HPET_TN_ROUTE = 0x10;
export const HPET_TN_TYPE_LEVEL = 1 << 1, HPET_TN_ENABLE = 1 << 2, HPET_TN_PERIODIC = 1 << 3;
export const HPET_TN_PERIODIC_CAP = 1 << 4, HPET_TN_SIZE_CAP = 1 << 5, HPET_TN_SETVAL = 1 << 6;
export const HPET_TN_32BIT = 1 << 8;
const HPET_TN_INT_ROUTE_SHIFT = 9, HPET_TN_INT_ROUTE_MASK = 0x1f << 9;
/** Writable timer config bits; FSB delivery (bit 14) is left out: like QEMU's default, no FSB cap. */
const HPET_TN_CFG_WRITE_MASK = 0x3f4e;

const RTC_ISA_IRQ = 8;
const U32 = 0xffffffffn, U64 = 0xffffffffffffffffn;

class HpetTimer {
  config = HPET_TN_PERIODIC_CAP | HPET_TN_SIZE_CAP;
  cmp = U64;
  period = 0n;
  fsbLo = 0;
  fsbHi = 0;
  /** A 32-bit one-shot armed for the counter's 32-bit wrap rather than its comparator. */
  wrapFlag = false;
  timer!: Timer;
  constructor(readonly tn: number) {}
}

export class Hpet implements MmioDevice, Stateful {
  config = 0;
  isr = 0;
  /** The main counter while disabled; while enabled it is derived from `offsetNs`. */
  counter = 0;
  /** Counter ticks = (virtual ns + offsetNs) / 10 while enabled. */
  offsetNs = 0;
  readonly timers: HpetTimer[] = [];
  /** Levels the PIT (IRQ0) and RTC (IRQ8) last drove, for when legacy replacement lets them through. */
  private readonly legacyLevels = [false, false];
  /** Where invalid accesses are reported (`-d guest_errors`). */
  log?: DeviceLog;

  /**
   * `gsi` receives the comparators' interrupts by GSI (0-15 through the ISA fan-out, as QEMU's gsi).
   * `legacyGate` is the sink the PIT (IRQ0) and RTC (IRQ8) drive instead of `gsi` directly.
   */
  readonly legacyGate: IrqSink = {
    setIrq: (irq: number, level: boolean) => {
      if (irq === 0 || irq === RTC_ISA_IRQ) this.legacyLevels[irq === 0 ? 0 : 1] = level;
      if (this.legacy && (irq === 0 || irq === RTC_ISA_IRQ)) return;
      this.gsi.setIrq(irq, level);
    },
  };

  constructor(
    bus: Bus,
    private readonly clock: VirtualClock,
    private readonly gsi: IrqSink,
    readonly intcap = HPET_INTCAP_PC,
    readonly base = HPET_BASE,
  ) {
    for (let i = 0; i < HPET_NUM_TIMERS; i++) {
      const t = new HpetTimer(i);
      t.timer = clock.timer(() => this.fire(t));
      this.timers.push(t);
    }
    bus.mapMmio(base, HPET_LEN, this);
  }

  private get enabled(): boolean {
    return (this.config & HPET_CFG_ENABLE) !== 0;
  }
  /** Timer 0's periodic IRQ0 under lost_tick_policy=delay (lost_ticks.ts), once the machine asks. */
  private legacyTicks: DelayedTicks | undefined;

  /**
   * Keeps timer 0's periodic IRQ0 ticks that fall due while the previous one waits, as the PIT
   * does (Linux counts its first jiffies on this timer); the machine reports IRQ0's INTAs with
   * `acknowledged()`.
   */
  delayLostTicks(path: TickPath): void {
    const t0 = this.timers[0];
    this.legacyTicks = new DelayedTicks(path, () => this.updateIrq(t0, true));
  }

  /** The CPU took IRQ0: under the delay policy, the next kept tick is raised now. */
  acknowledged(): void {
    this.legacyTicks?.acknowledged();
  }

  /** Legacy replacement: timers 0 and 1 own IRQ0 and IRQ8, the PIT and RTC are cut off. */
  get legacy(): boolean {
    return (this.config & HPET_CFG_LEGACY) !== 0;
  }

  reset(): void {
    this.legacyTicks?.reset();
    for (const t of this.timers) {
      this.delTimer(t);
      t.cmp = U64;
      t.config = HPET_TN_PERIODIC_CAP | HPET_TN_SIZE_CAP;
      t.period = 0n;
      t.fsbLo = t.fsbHi = 0;
      t.wrapFlag = false;
    }
    const wasLegacy = this.legacy;
    this.counter = 0;
    this.offsetNs = 0;
    this.config = 0;
    this.isr = 0;
    if (wasLegacy) this.leaveLegacy();
  }

  /** Current main counter value in ticks. */
  ticks(): number {
    if (!this.enabled) return this.counter;
    return Math.floor((this.clock.nowNs() + this.offsetNs) / NS_PER_TICK);
  }

  mmioRead(addr: number, size: AccessSize): number {
    const off = addr - this.base;
    if (off >= HPET_LEN) return this.unassigned(addr, size, false);
    const dword = this.readDword(off & ~3);
    if (size === 4) return dword >>> 0;
    const shift = (off & 3) * 8;
    return (dword >>> shift) & (size === 1 ? 0xff : 0xffff);
  }

  mmioWrite(addr: number, size: AccessSize, value: number): void {
    // QEMU's HPET accepts only 32- and 64-bit accesses; narrower writes are dropped.
    const off = addr - this.base;
    if (off >= HPET_LEN) {
      this.unassigned(addr, size, true);
      return;
    }
    if (size !== 4) return;
    if ((off & 3) !== 0) return;
    this.writeDword(off, value >>> 0);
  }

  /**
   * The rest of the HPET's page answers nothing: QEMU reads 0 there and logs the access as a
   * subpage one (the HPET covers only the first 0x400 bytes).
   */
  private unassigned(addr: number, size: AccessSize, isWrite: boolean): number {
    this.log?.invalidAccess(addr, size, isWrite, true);
    return 0;
  }

  private readDword(off: number): number {
    if (off >= 0x100 && off < 0x100 + 0x20 * HPET_NUM_TIMERS) {
      const t = this.timers[(off - 0x100) >> 5];
      switch (off & 0x1f) {
        case HPET_TN_CFG:
          return t.config;
        case HPET_TN_CFG + 4:
          return this.intcap;
        case HPET_TN_CMP:
          return Number(t.cmp & U32);
        case HPET_TN_CMP + 4:
          return Number(t.cmp >> 32n);
        case HPET_TN_ROUTE:
          return t.fsbLo;
        case HPET_TN_ROUTE + 4:
          return t.fsbHi;
      }
      return 0;
    }
    switch (off) {
      case HPET_ID:
        return HPET_CAP_LO;
      case HPET_PERIOD:
        return HPET_PERIOD_FS;
      case HPET_CFG:
        return this.config;
      case HPET_STATUS:
        return this.isr;
      case HPET_COUNTER:
        return this.ticks() >>> 0;
      case HPET_COUNTER + 4:
        return Math.floor(this.ticks() / 0x1_0000_0000) >>> 0;
    }
    return 0;
  }

  private writeDword(off: number, value: number): void {
    if (off >= 0x100 && off < 0x100 + 0x20 * HPET_NUM_TIMERS) {
      this.writeTimer(this.timers[(off - 0x100) >> 5], off & 0x1f, value);
      return;
    }
    switch (off) {
      case HPET_CFG: {
        const old = this.config;
        this.config = value & (HPET_CFG_ENABLE | HPET_CFG_LEGACY);
        if (!(old & HPET_CFG_ENABLE) && this.enabled) {
          this.offsetNs = this.counter * NS_PER_TICK - this.clock.nowNs();
          for (const t of this.timers) if (t.cmp !== U64) this.setTimer(t);
        } else if (old & HPET_CFG_ENABLE && !this.enabled) {
          this.counter = Math.floor((this.clock.nowNs() + this.offsetNs) / NS_PER_TICK);
          for (const t of this.timers) this.delTimer(t);
        }
        if (!(old & HPET_CFG_LEGACY) && this.legacy) {
          // The PIT and RTC lose their lines; timers 0 and 1 take IRQ0 and IRQ8.
          this.gsi.setIrq(0, false);
          this.gsi.setIrq(RTC_ISA_IRQ, false);
        } else if (old & HPET_CFG_LEGACY && !this.legacy) {
          this.leaveLegacy();
        }
        return;
      }
      case HPET_STATUS: {
        const clear = value & this.isr;
        for (const t of this.timers) if (clear & (1 << t.tn)) this.updateIrq(t, false);
        return;
      }
      case HPET_COUNTER:
      case HPET_COUNTER + 4: {
        // Writable only while halted (the spec's rule; QEMU's write has no effect while running).
        if (this.enabled) return;
        const hi = Math.floor(this.counter / 0x1_0000_0000), lo = this.counter >>> 0;
        this.counter = off === HPET_COUNTER ? hi * 0x1_0000_0000 + value : value * 0x1_0000_0000 + lo;
        return;
      }
    }
  }

  private leaveLegacy(): void {
    this.gsi.setIrq(0, this.legacyLevels[0]);
    this.gsi.setIrq(RTC_ISA_IRQ, this.legacyLevels[1]);
  }

  private writeTimer(t: HpetTimer, reg: number, value: number): void {
    switch (reg) {
      case HPET_TN_CFG: {
        const old = t.config;
        if (old & HPET_TN_TYPE_LEVEL && !(value & HPET_TN_TYPE_LEVEL)) this.updateIrq(t, false);
        const route = (old & HPET_TN_INT_ROUTE_MASK) !== (value & HPET_TN_INT_ROUTE_MASK);
        if (route) this.updateIrq(t, false);
        t.config = (old & ~HPET_TN_CFG_WRITE_MASK) | (value & HPET_TN_CFG_WRITE_MASK);
        if (value & HPET_TN_32BIT) {
          t.cmp &= U32;
          t.period &= U32;
        }
        if (!(old & HPET_TN_ENABLE) && value & HPET_TN_ENABLE) {
          if (this.enabled) this.setTimer(t);
        } else if (old & HPET_TN_ENABLE && !(value & HPET_TN_ENABLE)) {
          this.delTimer(t);
        }
        return;
      }
      case HPET_TN_CMP:
      case HPET_TN_CMP + 4: {
        const high = reg === HPET_TN_CMP + 4;
        const periodic = (t.config & HPET_TN_PERIODIC) !== 0;
        const bit32 = (t.config & HPET_TN_32BIT) !== 0;
        if (high && bit32) {
          t.config &= ~HPET_TN_SETVAL;
          return;
        }
        const v = BigInt(value);
        const replace = (x: bigint, nv: bigint) => high ? (x & U32) | (nv << 32n) : (x & ~U32 & U64) | nv;
        if (!periodic || t.config & HPET_TN_SETVAL) t.cmp = replace(t.cmp, v);
        if (periodic) {
          // The period is clamped to half the counter's range, as QEMU does.
          const max = bit32 ? 0x7fffffffn : 0x7fffffffffffffffn;
          t.period = replace(t.period, v) & max;
        }
        t.config &= ~HPET_TN_SETVAL;
        if (this.enabled) this.setTimer(t);
        return;
      }
      case HPET_TN_ROUTE:
        t.fsbLo = value;
        return;
      case HPET_TN_ROUTE + 4:
        t.fsbHi = value;
        return;
    }
  }

  /** Ticks until the comparator, at least 1 (a comparator already passed fires at once). */
  private diff(t: HpetTimer, cur: bigint): bigint {
    if (t.config & HPET_TN_32BIT) {
      const d = ((t.cmp & U32) - (cur & U32)) & U32;
      return d > 0n && d < 0x80000000n ? d : 1n;
    }
    const d = (t.cmp - cur) & U64;
    return d > 0n && d < 0x8000000000000000n ? d : 1n;
  }

  private arm(t: HpetTimer, diff: bigint): void {
    // Deadlines are in virtual ns; the tick grid is the counter's, so round up to the tick boundary.
    const now = this.clock.nowNs();
    const tickNow = Math.floor((now + this.offsetNs) / NS_PER_TICK);
    t.timer.mod((tickNow + Number(diff)) * NS_PER_TICK - this.offsetNs);
  }

  private setTimer(t: HpetTimer): void {
    const cur = BigInt(this.ticks());
    t.wrapFlag = false;
    let diff = this.diff(t, cur);
    if (t.config & HPET_TN_32BIT && !(t.config & HPET_TN_PERIODIC)) {
      const wrapDiff = U32 - (cur & U32);
      if (wrapDiff < (diff & U32)) {
        diff = wrapDiff;
        t.wrapFlag = true;
      }
    }
    this.arm(t, diff);
  }

  private delTimer(t: HpetTimer): void {
    t.timer.del();
    this.updateIrq(t, false);
  }

  private fire(t: HpetTimer): void {
    const cur = BigInt(this.ticks());
    const periodic = (t.config & HPET_TN_PERIODIC) !== 0;
    if (periodic && t.period !== 0n) {
      // The match at `cmp` is the one firing now, so the next is due strictly after the counter
      // (QEMU compares strictly and, on a deterministic clock, would fire a second time a tick later).
      let periods = 0;
      if (t.config & HPET_TN_32BIT) {
        for (; ((cur - t.cmp) & U32) < 0x80000000n; periods++) t.cmp = (t.cmp + t.period) & U32;
      } else {
        for (; t.cmp <= cur; periods++) t.cmp = (t.cmp + t.period) & U64;
      }
      this.arm(t, this.diff(t, cur));
      if (t.tn === 0 && this.legacyTicks && !(t.config & HPET_TN_TYPE_LEVEL)) {
        // A late firing stands for every period it passed; the delay policy keeps the others.
        this.legacyTicks.tick();
        this.legacyTicks.missed(periods - 1);
      }
    } else if (t.config & HPET_TN_32BIT && !periodic && t.wrapFlag) {
      this.arm(t, this.diff(t, cur));
      t.wrapFlag = false;
    }
    this.updateIrq(t, true);
  }

  private route(t: HpetTimer): number {
    if (t.tn <= 1 && this.legacy) return t.tn === 0 ? 0 : RTC_ISA_IRQ;
    return (t.config & HPET_TN_INT_ROUTE_MASK) >> HPET_TN_INT_ROUTE_SHIFT;
  }

  private updateIrq(t: HpetTimer, set: boolean): void {
    const mask = 1 << t.tn;
    const route = this.route(t);
    if (!set || !(t.config & HPET_TN_ENABLE) || !this.enabled) {
      this.isr &= ~mask;
      this.gsi.setIrq(route, false);
    } else if (t.config & HPET_TN_TYPE_LEVEL) {
      this.isr |= mask;
      this.gsi.setIrq(route, true);
    } else {
      this.isr &= ~mask;
      this.gsi.setIrq(route, true);
      this.gsi.setIrq(route, false);
    }
  }

  saveState(): DeviceState {
    return {
      config: this.config,
      isr: this.isr,
      counter: this.ticks(),
      timers: this.timers.map((t) => ({
        config: t.config,
        cmp: t.cmp.toString(),
        period: t.period.toString(),
        fsbLo: t.fsbLo,
        fsbHi: t.fsbHi,
        wrapFlag: t.wrapFlag,
      })),
    };
  }

  loadState(state: DeviceState): void {
    const num = (v: unknown) => {
      if (typeof v !== "number") throw new DeviceStateError("bad hpet state");
      return v;
    };
    this.config = num(state.config);
    this.isr = num(state.isr);
    this.counter = num(state.counter);
    // Re-derive the running counter from the restored virtual clock, then re-arm the comparators.
    this.offsetNs = this.counter * NS_PER_TICK - this.clock.nowNs();
    subList(state, "timers", HPET_NUM_TIMERS).forEach((s, i) => {
      const t = this.timers[i];
      t.config = num(s.config);
      t.cmp = BigInt(String(s.cmp));
      t.period = BigInt(String(s.period));
      t.fsbLo = num(s.fsbLo);
      t.fsbHi = num(s.fsbHi);
      t.wrapFlag = s.wrapFlag === true;
      t.timer.del();
      if (this.enabled && t.cmp !== U64) {
        const wrap = t.wrapFlag;
        this.setTimer(t);
        t.wrapFlag = wrap || t.wrapFlag;
      }
      if (this.isr & (1 << i)) this.gsi.setIrq(this.route(t), true);
    });
  }
}
