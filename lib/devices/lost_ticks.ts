/**
 * QEMU's `lost_tick_policy=delay` for a periodic timer interrupt, the policy of the KVM PIT that
 * `-enable-kvm` guests get by default: a tick that falls due while the previous one still waits for
 * the CPU (its request latched in the PIC's or the local APIC's IRR) is not merged into it but
 * kept, and raised again as soon as the CPU takes the previous one. The guest's tick count then
 * catches up with its TSC and wall clock instead of falling behind them.
 *
 * Why here, although QEMU's TCG i8254 merges such ticks: our virtual clock follows the host's, and
 * the host does not always give the machine back control on time (a garbage collection, a slice of
 * code the CPU is decoding for the first time, a loaded machine). QEMU's own answer for that case
 * is this policy, and a Linux guest that counts fewer jiffies than its TSC says calls the TSC
 * unstable. A masked line is not a lost tick: while the guest masks it, nothing is kept (as the KVM
 * PIT drops its backlog on a mask change).
 */

/** The interrupt path as the policy sees it (the machine answers from its IsaIrqRouter). */
export interface TickPath {
  /** An edge would reach the CPU. */
  unmasked(): boolean;
  /** The last edge still waits for the CPU. */
  latched(): boolean;
}

export class DelayedTicks {
  /** Ticks that fell due while the previous one was waiting, not yet raised again. */
  pending = 0;

  /** reraise gives the line a fresh edge, leaving its level as it was. */
  constructor(private readonly path: TickPath, private readonly reraise: () => void) {}

  /** A period's edge is about to be raised: keep it if the previous one still waits. */
  tick(): void {
    if (!this.path.unmasked()) this.pending = 0;
    else if (this.path.latched()) this.pending++;
  }

  /** n more periods fell due that the device itself merged into this tick (a late HPET comparator). */
  missed(n: number): void {
    if (n > 0 && this.path.unmasked()) this.pending += n;
  }

  /** The CPU took the line's interrupt: raise the next kept tick now. */
  acknowledged(): void {
    if (this.pending === 0) return;
    if (!this.path.unmasked()) {
      this.pending = 0;
      return;
    }
    if (this.path.latched()) return;
    this.pending--;
    this.reraise();
  }

  reset(): void {
    this.pending = 0;
  }
}
