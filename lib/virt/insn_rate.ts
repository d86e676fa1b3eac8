/**
 * Sizes a CPU run by host time. The emulated CPU counts instructions, not time, and looks at the
 * host clock only where it decodes new code (Cpu.run and Bus.sliceEndMs), so whoever must stop it
 * at a deadline (the board's next timer, an in-kernel irqchip's hrtimer) converts the time left
 * into an instruction budget with this measured rate of guest instructions per host ms.
 */
export class InsnRate {
  /** Guest instructions per host ms, an exponentially weighted mean of the runs observed. */
  perMs = 50_000;

  constructor(readonly minBudget: number) {}

  /** Instructions expected to take `ms` of host time (at least minBudget). */
  budgetFor(ms: number): number {
    return Math.max(this.minBudget, Math.floor(ms * this.perMs));
  }

  /** A run that used its whole budget: `instructions` took `ms` of host time. */
  observe(instructions: number, ms: number): void {
    if (ms > 0) this.perMs = 0.9 * this.perMs + 0.1 * (instructions / ms);
  }
}
