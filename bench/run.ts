/**
 * `deno task bench [NAME...]`: runs every bench/*_bench.ts (or those whose names contain a NAME)
 * one after another, each in its own process so one's memory and JIT state cannot colour the next.
 * Each benchmark runs the real tool beside ours in the same run and prints its own table.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = dirname(fileURLToPath(import.meta.url));
const filters = Deno.args;
const benches = [...Deno.readDirSync(dir)]
  .map((e) => e.name)
  .filter((n) => n.endsWith("_bench.ts") && (filters.length === 0 || filters.some((f) => n.includes(f))))
  .sort();

let failed = 0;
for (const name of benches) {
  console.log(`\n## ${name}\n`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "--allow-sys",
      join(dir, name),
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!status.success) failed++;
}
if (benches.length === 0) console.log("no benchmarks matched");
Deno.exit(failed ? 1 : 0);
