/**
 * A VM's statistics: per-vCPU counters with debugfs names and VM exits by reason, published to the
 * state root through the VM's /dev/kvm handle (DevKvm.updateStats: the VM's own files, no lock)
 * no more often than every PUBLISH_INTERVAL_MS, and once more when the VM closes.
 */
import { type DevKvm, type StatName, VCPU_STATS, VM_STATS } from "../modules/mod.ts";

/** kvm_stat refreshes every 3 s by default; once a second keeps `kvm-ctl stat` live at little cost. */
export const PUBLISH_INTERVAL_MS = 1000;

export type VcpuStatName = typeof VCPU_STATS[number];
export type VmStatName = typeof VM_STATS[number];

export class VcpuStats {
  readonly counters: Record<VcpuStatName, number> = Object.fromEntries(
    VCPU_STATS.map((n) => [n, 0]),
  ) as Record<VcpuStatName, number>;
  /**
   * The per-VM counters this vCPU's work added to (the shadow MMU's mmu_* ones): Linux keeps them
   * in struct kvm; summing every vCPU's share at publish time gives the same number.
   */
  readonly vmCounters: Record<VmStatName, number> = Object.fromEntries(
    VM_STATS.map((n) => [n, 0]),
  ) as Record<VmStatName, number>;
  /** VMX basic exit reasons by kvm_stat name ("HLT", "IO_INSTRUCTION", ...). */
  readonly exitReasons: Record<string, number> = {};

  count(name: VcpuStatName, n = 1): void {
    this.counters[name] += n;
  }
  countVm(name: VmStatName, n = 1): void {
    this.vmCounters[name] += n;
  }
  countExit(reason: string): void {
    this.exitReasons[reason] = (this.exitReasons[reason] ?? 0) + 1;
    this.counters.exits++;
  }
}

export class StatsPublisher {
  #last = -Infinity;

  constructor(private readonly handle: DevKvm, private readonly vcpus: () => readonly VcpuStats[]) {}

  /** Publishes when the interval has passed (or always with `force`). */
  maybePublish(force = false): void {
    const now = performance.now();
    if (!force && now - this.#last < PUBLISH_INTERVAL_MS) return;
    this.#last = now;
    const stats: Partial<Record<StatName, number>> = {};
    const exitReasons: Record<string, number> = {};
    const all = this.vcpus();
    for (const v of all) {
      for (const name of VCPU_STATS) stats[name] = (stats[name] ?? 0) + v.counters[name];
      for (const name of VM_STATS) stats[name] = (stats[name] ?? 0) + v.vmCounters[name];
      for (const [r, n] of Object.entries(v.exitReasons)) exitReasons[r] = (exitReasons[r] ?? 0) + n;
    }
    this.handle.updateStats({ stats, exitReasons, vcpus: all.length });
  }
}
