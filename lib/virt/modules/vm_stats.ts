/**
 * A running VM's statistics under the state root: one file per /dev/kvm handle,
 * `run/kvm/<id>.json`, written by the VM's process alone (atomically, without the state lock or a
 * transaction), read by `kvm-ctl stat` and by the views (views.ts) of every transaction. Between
 * transactions the VM also keeps the debugfs files live itself (`DebugfsWriter`): its own
 * `<pid>-<id>/` counters and the totals, each file rewritten only when its value changed.
 */
import { join } from "node:path";
import { atomicWrite } from "./state.ts";
import { HANDLES_DIR, holderAlive } from "./liveness.ts";
import { ALL_STATS } from "./stats.ts";

export interface VmStats {
  /** Cumulative counters, summed over the VM's vCPUs, by debugfs name. */
  stats: Record<string, number>;
  /** Cumulative VM exits by kvm_stat reason name. */
  exitReasons: Record<string, number>;
  vcpus: number;
}

export const DEBUGFS_KVM = "sys/kernel/debug/kvm";

const empty = (): VmStats => ({ stats: {}, exitReasons: {}, vcpus: 0 });

function statsPath(root: string, id: number): string {
  return join(root, HANDLES_DIR, `${id}.json`);
}

/** Handle `id`'s statistics; a VM that has published nothing has all zeros. */
export function readVmStats(root: string, id: number): VmStats {
  let text: string;
  try {
    text = Deno.readTextFileSync(statsPath(root, id));
  } catch {
    return empty();
  }
  try {
    const v = JSON.parse(text);
    return { stats: v.stats ?? {}, exitReasons: v.exitReasons ?? {}, vcpus: v.vcpus ?? 0 };
  } catch {
    // Renamed into place whole, so never half-written; a damaged one counts as nothing published.
    return empty();
  }
}

export function writeVmStats(root: string, id: number, stats: VmStats): void {
  atomicWrite(statsPath(root, id), JSON.stringify(stats) + "\n");
}

/** The ids of the handles with a statistics file whose holder is alive. */
function liveStatIds(root: string): number[] {
  const ids: number[] = [];
  try {
    for (const e of Deno.readDirSync(join(root, HANDLES_DIR))) {
      const m = /^([0-9]+)\.json$/.exec(e.name);
      if (m && holderAlive(root, Number(m[1]))) ids.push(Number(m[1]));
    }
  } catch { /* no directory: no VM has published */ }
  return ids;
}

/**
 * The debugfs files of one VM, kept live between transactions by the VM's own process. Another
 * VM publishing at the same moment may leave a total short of its latest figures until either
 * publishes again (a second at most): the totals are a sum no lock guards, while each VM's own
 * figures, and `kvm-ctl stat`, which sums the VMs' files itself, are always exact.
 */
export class DebugfsWriter {
  /** Values this writer last wrote or found, by path relative to the root. */
  readonly #written = new Map<string, number>();

  constructor(private readonly root: string, private readonly id: number, private readonly pid: number) {
    // The open transaction rendered this VM's directory with zeros.
    for (const stat of ALL_STATS) this.#written.set(`${DEBUGFS_KVM}/${pid}-${id}/${stat}`, 0);
  }

  publish(own: VmStats): void {
    const totals = new Map<string, number>(ALL_STATS.map((s) => [s, own.stats[s] ?? 0]));
    for (const other of liveStatIds(this.root)) {
      if (other === this.id) continue;
      const s = readVmStats(this.root, other).stats;
      for (const stat of ALL_STATS) totals.set(stat, totals.get(stat)! + (s[stat] ?? 0));
    }
    for (const stat of ALL_STATS) {
      this.#write(`${DEBUGFS_KVM}/${this.pid}-${this.id}/${stat}`, own.stats[stat] ?? 0);
      this.#write(`${DEBUGFS_KVM}/${stat}`, totals.get(stat)!);
    }
  }

  #write(rel: string, value: number): void {
    if (!this.#written.has(rel)) {
      // A total: whatever the last transaction or VM left there.
      try {
        this.#written.set(rel, Number(Deno.readTextFileSync(join(this.root, rel))));
      } catch { /* not there: write it */ }
    }
    if (this.#written.get(rel) === value) return;
    try {
      atomicWrite(join(this.root, rel), `${value}\n`);
      this.#written.set(rel, value);
    } catch (e) {
      // The directory went (`kvm-ctl reset` under a running VM): there is no debugfs to keep.
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}
