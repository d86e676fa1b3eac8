/**
 * The procfs/sysfs/debugfs files under the state root, rendered from a KernelState so `cat` reads
 * what the real files show: proc/modules, sys/module/<m>/{initstate,refcnt,coresize,holders/,
 * parameters/*}, dev/kvm, and sys/kernel/debug/kvm/ (totals, and one `<pid>-<id>/` per VM).
 * Only files whose content changed are rewritten, each atomically.
 */
import { dirname, join } from "node:path";
import { findModule } from "./table.ts";
import { ALL_STATS } from "./stats.ts";
import { atomicWrite } from "./state.ts";
import { DEBUGFS_KVM } from "./vm_stats.ts";
import type { Kernel } from "./kernel.ts";

export type View = { text: string; mode: number } | { link: string };

export interface Views {
  files: Map<string, View>;
  /** Directories that exist even when empty (holders/). */
  dirs: Set<string>;
}

const file = (text: string, mode = 0o444): View => ({ text, mode });

/** The /proc/modules line: `name size refcnt holders, state address`. */
function procModulesLine(kernel: Kernel, name: string): string {
  const holders = kernel.holders(name);
  const used = holders.length ? holders.map((h) => h + ",").join("") : "-";
  return `${name} ${findModule(name)!.size} ${kernel.refcnt(name)} ${used} Live 0x0000000000000000\n`;
}

export function renderViews(kernel: Kernel): Views {
  const files = new Map<string, View>();
  // /sys/module exists with no module loaded, as on a real kernel, so readers can always list it.
  const dirs = new Set<string>(["sys/module"]);
  const state = kernel.state;
  files.set("proc/modules", file(state.modules.map((m) => procModulesLine(kernel, m.name)).join("")));
  for (const m of state.modules) {
    const spec = findModule(m.name)!;
    const base = `sys/module/${m.name}`;
    files.set(`${base}/initstate`, file("live\n"));
    files.set(`${base}/refcnt`, file(`${kernel.refcnt(m.name)}\n`));
    files.set(`${base}/coresize`, file(`${spec.size}\n`));
    dirs.add(`${base}/holders`);
    for (const h of kernel.holders(m.name)) files.set(`${base}/holders/${h}`, { link: `../../${h}` });
    for (const p of spec.params) {
      files.set(`${base}/parameters/${p.name}`, file(`${m.params[p.name]}\n`, p.perm));
    }
  }
  if (kernel.loaded("kvm")) {
    if (kernel.vendorModule()) files.set("dev/kvm", file("", 0o666));
    const vms = kernel.liveHandles().map((h) => ({ h, stats: kernel.vmStats(h).stats }));
    for (const stat of ALL_STATS) {
      const total = vms.reduce((sum, vm) => sum + (vm.stats[stat] ?? 0), 0);
      files.set(`${DEBUGFS_KVM}/${stat}`, file(`${total}\n`, 0o644));
    }
    for (const { h, stats } of vms) {
      for (const stat of ALL_STATS) {
        files.set(`${DEBUGFS_KVM}/${h.pid}-${h.id}/${stat}`, file(`${stats[stat] ?? 0}\n`, 0o644));
      }
    }
  }
  return { files, dirs };
}

const same = (a: View | undefined, b: View): boolean =>
  a !== undefined &&
  ("link" in a ? "link" in b && a.link === b.link : "text" in b && a.text === b.text && a.mode === b.mode);

/**
 * Brings the tree from `before` to `after`. With `before` undefined (first write, or a repair)
 * everything is written. Emptied directories are removed, as sysfs removes a module's directory.
 */
export function applyViews(root: string, before: Views | undefined, after: Views): void {
  for (const [rel, view] of after.files) {
    if (before && same(before.files.get(rel), view)) continue;
    const path = join(root, rel);
    Deno.mkdirSync(dirname(path), { recursive: true });
    if ("link" in view) {
      try {
        Deno.removeSync(path);
      } catch { /* not there yet */ }
      Deno.symlinkSync(view.link, path);
    } else atomicWrite(path, view.text, view.mode);
  }
  for (const rel of after.dirs) Deno.mkdirSync(join(root, rel), { recursive: true });
  const gone = before ? [...before.files.keys()].filter((rel) => !after.files.has(rel)) : [];
  const parents = new Set<string>();
  for (const rel of gone) {
    try {
      Deno.removeSync(join(root, rel));
    } catch { /* already gone */ }
    for (let d = dirname(rel); d !== "." && !after.dirs.has(d); d = dirname(d)) parents.add(d);
  }
  for (const rel of before?.dirs ?? []) if (!after.dirs.has(rel)) parents.add(rel);
  // Deepest first, so a module's parameters/ goes before the module's directory.
  for (const d of [...parents].sort((a, b) => b.split("/").length - a.split("/").length)) {
    try {
      Deno.removeSync(join(root, d));
    } catch { /* not empty: other files still live there */ }
  }
}
