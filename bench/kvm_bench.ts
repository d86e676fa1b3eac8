/**
 * The kvm accelerator against tcg on the same guests, in one run (`deno task bench kvm`):
 *
 * - CPU-bound: tests/guests/bench/cpu.bin (bench/cpu_bench.ts's guest, 387M instructions) under
 *   `-accel tcg` and `-accel kvm`; the kvm path adds VMX non-root operation, EPT translation and
 *   the KVM_RUN loop on top of the same CPU core, and the ratio is that overhead (target <= 1.3);
 * - I/O-heavy: tests/guests/bench/io.bin writes port 0x80 200,000 times; under kvm each write is
 *   a VM exit, a KVM_EXIT_IO to user space and a re-entry, so (run time - empty guest's time) /
 *   200,000 is an exit's round trip, reported as exits per second.
 *
 * Each figure is the best of BENCH_RUNS (default 3) runs, wall time from process start; the empty
 * guest's time (start-up, exit) is subtracted before the ratio. The kvm runs use a temporary
 * kvm-ctl root with kvm_intel loaded.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HEADLESS_DEBUG_EXIT } from "../tests/support/tools.ts";

const project = fileURLToPath(new URL("..", import.meta.url));
const guests = join(project, "tests", "guests", "bench");
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 3);
const IO_WRITES = 200_000;
const tasks = JSON.parse(Deno.readTextFileSync(join(project, "deno.json"))).tasks;
const ours = [
  "run",
  "--quiet",
  ...tasks["qemu-system"].split(/\s+/).slice(2).map((
    w: string,
  ) => (w.startsWith("cli/") ? join(project, w) : w)),
];
const root = Deno.makeTempDirSync({ prefix: "kvm-bench-" });

async function kvmCtl(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", join(project, "cli/kvm-ctl.ts"), "--root", root, ...args],
  }).output();
  if (!out.success) throw new Error(`kvm-ctl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/** Best wall time (s) of a guest under an accelerator; checks the guest finished ("done"). */
async function time(accel: string, guest: string): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        ...ours,
        "-accel",
        accel,
        ...HEADLESS_DEBUG_EXIT,
        "-kernel",
        join(guests, guest),
      ],
      env: { KVM_CTL_ROOT: root },
      stdin: "null",
    }).output();
    const s = (performance.now() - start) / 1000;
    const text = new TextDecoder().decode(out.stdout);
    if (!text.includes(": done")) throw new Error(`${guest} under ${accel} did not finish: ${text}`);
    best = Math.min(best, s);
  }
  return best;
}

await kvmCtl(["modprobe", "kvm_intel"]);
const load = Deno.loadavg()[0];
const rows: string[][] = [];
const empty = { tcg: await time("tcg", "empty.bin"), kvm: await time("kvm", "empty.bin") };
const cpu = { tcg: await time("tcg", "cpu.bin"), kvm: await time("kvm", "cpu.bin") };
const io = { tcg: await time("tcg", "io.bin"), kvm: await time("kvm", "io.bin") };
const work = (t: { tcg: number; kvm: number }) => ({ tcg: t.tcg - empty.tcg, kvm: t.kvm - empty.kvm });
const cpuWork = work(cpu), ioWork = work(io);
rows.push(["start-up and exit (empty guest)", empty.tcg.toFixed(2), empty.kvm.toFixed(2), "", ""]);
rows.push([
  "CPU-bound guest (cpu.bin), less start-up",
  cpuWork.tcg.toFixed(2),
  cpuWork.kvm.toFixed(2),
  (cpuWork.kvm / cpuWork.tcg).toFixed(2),
  "",
]);
// Under tcg an OUT to port 0x80 costs about what any instruction does: the run is start-up alone.
rows.push([
  `I/O guest (io.bin, ${IO_WRITES} OUTs), whole run`,
  io.tcg.toFixed(2),
  io.kvm.toFixed(2),
  (io.kvm / io.tcg).toFixed(2),
  `${Math.round(IO_WRITES / ioWork.kvm)}`,
]);
console.log(`load average ${load.toFixed(1)}, best of ${RUNS}\n`);
console.log("| Measure | tcg s | kvm s | kvm / tcg | kvm exits/s |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
Deno.removeSync(root, { recursive: true });
