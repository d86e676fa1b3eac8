/**
 * Writes made straight into the rendered sysfs files (`echo Y > .../parameters/ignore_msrs`):
 * a valid value written to a 0644 parameter is taken into the state, as sysfs would store it;
 * anything else (a read-only parameter, a value its type rejects) is put back on the next write.
 */
import { join } from "node:path";
import { findModule } from "./table.ts";
import { parseParamValue } from "./params.ts";
import type { Kernel } from "./kernel.ts";

/** Adopts valid writes into `kernel.state`; returns the files to render again. */
export function adoptSysfsWrites(root: string, kernel: Kernel): string[] {
  const stale: string[] = [];
  for (const m of kernel.state.modules) {
    for (const p of findModule(m.name)!.params) {
      const rel = `sys/module/${m.name}/parameters/${p.name}`;
      let text: string;
      try {
        text = Deno.readTextFileSync(join(root, rel));
      } catch {
        continue;
      }
      const value = text.endsWith("\n") ? text.slice(0, -1) : text;
      if (value === m.params[p.name]) continue;
      let adopted: string | undefined;
      if (p.perm === 0o644) {
        try {
          adopted = parseParamValue(p, value);
        } catch { /* rejected, as the write(2) would have been */ }
      }
      if (adopted !== undefined) m.params[p.name] = adopted;
      if (adopted !== value) stale.push(rel);
    }
  }
  return stale;
}
