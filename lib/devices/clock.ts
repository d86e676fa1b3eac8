/**
 * The virtual clock and its timer queue: the one notion of time the devices' timers and the CPU's
 * TSC share (the machine installs `clock.nowNs` as `bus.nowNs`).
 *
 * Policy, as QEMU's QEMU_CLOCK_VIRTUAL without icount: while the guest runs, virtual time follows the
 * host's monotonic clock, so a guest that calibrates its TSC or PIT against the RTC sees real seconds.
 * When the guest is halted with nothing to do until a timer, the machine may `warpToNextDeadline()`
 * instead of sleeping, so virtual time runs ahead of the host (never behind). `pause()`/`resume()`
 * stop time for `stop`/`cont` and savevm. Virtual time never goes backwards.
 *
 * A "manual" clock only moves by `advance()`/`warpTo()`; tests and deterministic runs use it.
 */

const MAX_FIRINGS_PER_RUN = 100_000;

export type TimerCallback = (nowNs: number) => void;

/** One deadline in the queue. Re-arm with `mod`, cancel with `del`; a fired timer is disarmed. */
export class Timer {
  /** Absolute virtual ns, or Infinity while disarmed. */
  deadline = Infinity;
  constructor(private readonly clock: VirtualClock, readonly callback: TimerCallback) {}

  mod(deadlineNs: number): void {
    this.deadline = deadlineNs;
    this.clock.timerChanged();
  }

  del(): void {
    if (this.deadline === Infinity) return;
    this.deadline = Infinity;
    this.clock.timerChanged();
  }

  get pending(): boolean {
    return this.deadline !== Infinity;
  }
}

export interface ClockOptions {
  /** "host" follows the host's monotonic clock (default); "manual" moves only when told. */
  source?: "host" | "manual";
  /** Virtual time at creation (default 0). */
  startNs?: number;
}

export class VirtualClock {
  private readonly manual: boolean;
  /** Virtual ns = host ns + offset (host mode), or = offset (manual mode). */
  private offset: number;
  private paused = false;
  private pausedAt = 0;
  /** The last value handed out, so reads are monotonic even if the host clock stutters. */
  private last = 0;
  private readonly timers: Timer[] = [];
  private earliest = Infinity;
  private firing = false;

  constructor(options: ClockOptions = {}) {
    this.manual = options.source === "manual";
    const start = options.startNs ?? 0;
    this.offset = this.manual ? start : start - VirtualClock.hostNs();
    this.last = start;
  }

  private static hostNs(): number {
    return performance.now() * 1e6;
  }

  /** Current virtual time in ns. Bound, so it can be handed around as `bus.nowNs`. */
  readonly nowNs = (): number => {
    let t: number;
    if (this.paused) t = this.pausedAt;
    else t = this.manual ? this.offset : VirtualClock.hostNs() + this.offset;
    if (t < this.last) return this.last;
    this.last = t;
    return t;
  };

  /** Creates a disarmed timer on this clock. */
  timer(callback: TimerCallback): Timer {
    const t = new Timer(this, callback);
    this.timers.push(t);
    return t;
  }

  /** Earliest armed deadline (Infinity when none): the machine sizes the CPU's budget by it. */
  nextDeadline(): number {
    return this.earliest;
  }

  /**
   * Host time (performance.now(), ms) at which virtual time reaches t; Infinity on a manual or
   * paused clock, which the host's time does not move.
   */
  hostMsAt(t: number): number {
    if (this.manual || this.paused || t === Infinity) return Infinity;
    return (t - this.offset) / 1e6;
  }

  /** Nanoseconds until the next deadline (0 if already due, Infinity if none). */
  nsUntilNextDeadline(): number {
    const d = this.earliest - this.nowNs();
    return d < 0 ? 0 : d;
  }

  /** Fires every timer whose deadline has passed, in deadline order; returns how many fired. */
  runDue(): number {
    if (this.firing) return 0;
    this.firing = true;
    let fired = 0;
    try {
      // The cap keeps the host responsive if a device keeps re-arming a deadline already due;
      // what is left fires on the next call, after the CPU has had its slice.
      for (; fired < MAX_FIRINGS_PER_RUN;) {
        const now = this.nowNs();
        if (this.earliest > now) break;
        let due: Timer | undefined;
        for (const t of this.timers) if (t.deadline <= now && (!due || t.deadline < due.deadline)) due = t;
        if (!due) break;
        // A timer fires at its own deadline, not at the (possibly late) host time: a device
        // evaluates its state there, so short pulses such as the PIT's mode-2 low tick are seen.
        const deadline = due.deadline;
        due.deadline = Infinity;
        this.recompute();
        due.callback(deadline);
        fired++;
      }
    } finally {
      this.firing = false;
    }
    return fired;
  }

  /** Moves virtual time forward by ns (manual clocks; host clocks add to their lead). */
  advance(ns: number): void {
    if (ns <= 0) return;
    if (this.paused) this.pausedAt += ns;
    else this.offset += ns;
  }

  /** Moves virtual time forward to t if it is behind (never back), firing nothing. */
  warpTo(t: number): void {
    const now = this.nowNs();
    if (t > now) this.advance(t - now);
  }

  /** For a halted guest: jump to the next deadline and fire it; false if no timer is armed. */
  warpToNextDeadline(): boolean {
    if (this.earliest === Infinity) return false;
    this.warpTo(this.earliest);
    this.runDue();
    return true;
  }

  /** Advances a manual clock step by step to now+ns, firing timers at their own deadlines. */
  run(ns: number): void {
    const end = this.nowNs() + ns;
    for (;;) {
      this.runDue();
      if (this.earliest > end) break;
      this.warpTo(this.earliest);
    }
    this.warpTo(end);
    this.runDue();
  }

  /**
   * Sets virtual time to exactly t, backwards too (loadvm restores the saved clock before the
   * devices). Timers keep their absolute deadlines; devices re-arm theirs when they load state.
   */
  restore(t: number): void {
    if (this.paused) this.pausedAt = t;
    else this.offset = this.manual ? t : t - VirtualClock.hostNs();
    this.last = t;
  }

  pause(): void {
    if (this.paused) return;
    this.pausedAt = this.nowNs();
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.offset = this.manual ? this.pausedAt : this.pausedAt - VirtualClock.hostNs();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Called by Timer when a deadline changes. */
  timerChanged(): void {
    this.recompute();
  }

  private recompute(): void {
    let e = Infinity;
    for (const t of this.timers) if (t.deadline < e) e = t.deadline;
    this.earliest = e;
  }
}
