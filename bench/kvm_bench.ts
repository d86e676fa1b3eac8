/**
 * The kvm accelerator against tcg on the same guests, in one run (`deno task bench kvm`):
 *
 * - CPU-bound: tests/guests/bench/cpu.bin (bench/cpu_bench.ts's guest, 387M instructions) under
 *   `-accel tcg` and `-accel kvm`; the kvm path adds VMX non-root operation, EPT translation and
 *   the KVM_RUN loop on top of the same CPU core, and the ratio is that overhead (target <= 1.3);
 * - I/O-heavy: tests/guests/bench/io.bin writes port 0x80 200,000 times; under kvm each write is
 *   a VM exit, a KVM_EXIT_IO to user space and a re-entry, so (run time - empty guest's time) /
 *   200,000 is an exit's round trip, reported as exits per second;
 * - nested I/O: tests/guests/bench/nested_io.bin is a hypervisor (L1) whose guest (L2) writes port
 *   0x80 20,000 times; each OUT exits to L1, which checks, counts and skips it. Under tcg that is
 *   bare VMX in the emulated CPU (L1's own cost per L2 exit, no L0 in the way); under kvm with
 *   kvm_intel nested=1, L0 reflects each L2 exit to L1 and emulates the VMRESUME of L1's handler;
 *   its 4 VMREADs and 1 VMWRITE run on the CPU through the shadow VMCS (enable_shadow_vmcs=1, the
 *   default; 7 L0 exits per L2 exit without it), none of them to user space.
 *
 * Each figure is the best of BENCH_RUNS (default 5) runs, wall time from process start; the empty
 * guest's time (start-up, exit) is subtracted before the ratio. The tcg and kvm runs of a guest
 * alternate, so a machine whose load changes during the bench weighs on both alike. The kvm runs
 * use a temporary kvm-ctl root with kvm_intel loaded.
 *
 * A last row runs the guests in this process (cli/qemu-system.ts's main), tcg and kvm alternating
 * after one warm-up run of each, and compares CPU time (user + system) less the empty guest's:
 * that ratio is the kvm path's steady-state overhead, and depends far less on the machine's load
 * than wall time does.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { HEADLESS_DEBUG_EXIT } from "../tests/support/tools.ts";
import { main as qemuSystem } from "../cli/qemu-system.ts";

const project = fileURLToPath(new URL("..", import.meta.url));
const guests = join(project, "tests", "guests", "bench");
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 5);
const IO_WRITES = 200_000;
const L2_WRITES = 20_000;
/**
 * L0's exits per L2 OUT under nested with VMCS shadowing: the reflected exit and L1's VMRESUME
 * (tests/kvm/nested_io_test.ts checks the counts, and the 7 without shadowing).
 */
const L0_EXITS_PER_L2_EXIT = 2;
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

/**
 * Wall time (s) of one run of a guest under an accelerator; checks the guest finished ("done").
 * The nested guest runs with a CPU model that offers VMX, in the root where kvm_intel has nested=1.
 */
async function once(accel: string, guest: string): Promise<number> {
  const start = performance.now();
  const cpu = guest === "nested_io.bin" ? ["-cpu", "qemu32,+vmx"] : [];
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...ours, "-accel", accel, ...cpu, ...HEADLESS_DEBUG_EXIT, "-kernel", join(guests, guest)],
    env: { KVM_CTL_ROOT: root },
    stdin: "null",
  }).output();
  const s = (performance.now() - start) / 1000;
  const text = new TextDecoder().decode(out.stdout);
  if (!text.includes(": done")) throw new Error(`${guest} under ${accel} did not finish: ${text}`);
  return s;
}

/** Best wall times (s) of a guest under tcg and kvm, their runs alternating. */
async function time(guest: string): Promise<{ tcg: number; kvm: number }> {
  const best = { tcg: Infinity, kvm: Infinity };
  for (let i = 0; i < RUNS; i++) {
    best.tcg = Math.min(best.tcg, await once("tcg", guest));
    best.kvm = Math.min(best.kvm, await once("kvm", guest));
  }
  return best;
}

/**
 * CPU time (s) of cpu.bin less that of empty.bin under tcg and kvm in this process: each the best
 * of RUNS after a warm-up run, the accelerators alternating.
 */
async function inProcess(): Promise<{ tcg: number; kvm: number }> {
  const serial = join(root, "serial.txt");
  const quiet = { stdout: () => {}, stderr: () => {} };
  Deno.env.set("KVM_CTL_ROOT", root);
  const cpuTime = async (accel: string, guest: string) => {
    const args = ["-accel", accel, "-display", "none", "-serial", `file:${serial}`];
    args.push("-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", join(guests, guest));
    const before = process.cpuUsage();
    await qemuSystem(args, "qemu-system-i386", quiet);
    const used = process.cpuUsage(before);
    if (!Deno.readTextFileSync(serial).includes(": done")) {
      throw new Error(`${guest} under ${accel} did not finish`);
    }
    return (used.user + used.system) / 1e6;
  };
  const best: Record<string, Record<string, number>> = { tcg: {}, kvm: {} };
  for (let i = 0; i <= RUNS; i++) {
    for (const guest of ["empty.bin", "cpu.bin"]) {
      for (const accel of ["tcg", "kvm"]) {
        const s = await cpuTime(accel, guest);
        if (i > 0) best[accel][guest] = Math.min(best[accel][guest] ?? Infinity, s);
      }
    }
  }
  const work = (accel: string) => best[accel]["cpu.bin"] - best[accel]["empty.bin"];
  return { tcg: work("tcg"), kvm: work("kvm") };
}

await kvmCtl(["modprobe", "kvm_intel", "nested=1"]);
const load = Deno.loadavg()[0];
const rows: string[][] = [];
const empty = await time("empty.bin");
const cpu = await time("cpu.bin");
const io = await time("io.bin");
const nested = await time("nested_io.bin");
const warm = await inProcess();
const work = (t: { tcg: number; kvm: number }) => ({ tcg: t.tcg - empty.tcg, kvm: t.kvm - empty.kvm });
const cpuWork = work(cpu), ioWork = work(io), nestedWork = work(nested);
/** A table row: tcg and kvm seconds, their ratio unless `ratio` is false, and exits per second. */
const row = (label: string, t: { tcg: number; kvm: number }, ratio = true, exits = "") =>
  rows.push([label, t.tcg.toFixed(2), t.kvm.toFixed(2), ratio ? (t.kvm / t.tcg).toFixed(2) : "", exits]);
row("start-up and exit (empty guest)", empty, false);
row("CPU-bound guest (cpu.bin), less start-up", cpuWork);
// Under tcg an OUT to port 0x80 costs about what any instruction does: the run is start-up alone.
row(`I/O guest (io.bin, ${IO_WRITES} OUTs), whole run`, io, true, `${Math.round(IO_WRITES / ioWork.kvm)}`);
row("CPU-bound guest, in one process, warm: CPU time less start-up", warm);
// tcg runs L1 on bare VMX; kvm runs it nested (kvm_intel nested=1). Exits/s are L2's, less start-up.
row(
  `nested I/O guest (nested_io.bin, ${L2_WRITES} L2 OUTs to L1), less start-up`,
  nestedWork,
  true,
  `${Math.round(L2_WRITES / nestedWork.kvm)}`,
);
const us = (s: number, n: number) => (s / n * 1e6).toFixed(1);
const loadEnd = Deno.loadavg()[0];
console.log(
  `load average ${load.toFixed(1)} at the start, ${loadEnd.toFixed(1)} at the end; best of ${RUNS}\n`,
);
console.log("| Measure | tcg s | kvm s | kvm / tcg | kvm exits/s |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
console.log(
  `\nper exit: non-nested I/O exit ${us(ioWork.kvm, IO_WRITES)} µs (kvm); nested L2 exit ` +
    `${us(nestedWork.kvm, L2_WRITES)} µs (kvm, ${L0_EXITS_PER_L2_EXIT} L0 exits each, ` +
    `${us(nestedWork.kvm, L2_WRITES * L0_EXITS_PER_L2_EXIT)} µs an L0 exit); ` +
    `L1 on bare VMX ${us(nestedWork.tcg, L2_WRITES)} µs (tcg)`,
);
Deno.removeSync(root, { recursive: true });
