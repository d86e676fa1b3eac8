/**
 * The kernel's printk rate limiting (lib/ratelimit.c, ___ratelimit) for kernel-log lines a guest
 * can cause at will, such as kvm's "ignored rdmsr" reports (pr_err_ratelimited): at most `burst`
 * lines in an interval (DEFAULT_RATELIMIT_BURST 10 in DEFAULT_RATELIMIT_INTERVAL, 5 s); when a
 * new interval starts after lines were dropped, "<function>: N callbacks suppressed" comes first.
 * Here each line is a write to the kernel log in the state root, so the limit also bounds what a
 * guest hammering an unknown MSR costs in file I/O.
 */
export class RateLimit {
  #begin: number | undefined;
  #printed = 0;
  #missed = 0;

  constructor(
    /** The function whose call site is limited, named in the "callbacks suppressed" line. */
    readonly func: string,
    readonly burst = 10,
    readonly intervalMs = 5000,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** The lines to log for one limited message: none, the message, or a suppression note and it. */
  lines(message: string): string[] {
    const now = this.nowMs(), out: string[] = [];
    this.#begin ??= now;
    if (now > this.#begin + this.intervalMs) {
      if (this.#missed) out.push(`${this.func}: ${this.#missed} callbacks suppressed`);
      this.#missed = 0;
      this.#begin = now;
      this.#printed = 0;
    }
    if (this.#printed < this.burst) {
      this.#printed++;
      out.push(message);
    } else this.#missed++;
    return out;
  }
}
