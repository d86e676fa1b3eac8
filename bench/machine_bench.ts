/**
 * The PC machine against Debian's qemu-system-i386 (TCG), in one run (`deno task bench machine`):
 *
 * - time to the first line of boot-sector output under SeaBIOS (`-bios bios.bin -drive
 *   file=boot.qcow2`), from process start to the line appearing on stdout;
 * - guest disk read throughput: tests/guests/pc/disk_read.bin reads 64 MiB of a qcow2 by IDE DMA
 *   (64 KiB per READ DMA); the figure is 64 MiB over the whole process wall time, so it includes
 *   start-up (reported separately with the demo guest, which does no I/O);
 * - our peak memory (max RSS, from GNU time) for the disk run, against the limit the issue sets:
 *   guest RAM (128 MiB) plus 200 MB.
 *
 * Each timing is the best of three runs. A run that does not finish within the timeout is
 * reported as such, not as a number.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createImage, openImage } from "../lib/image/formats.ts";

const project = fileURLToPath(new URL("..", import.meta.url));
const guests = join(project, "tests", "guests");
const REAL = "/usr/bin/qemu-system-i386";
const SEABIOS = "/usr/share/seabios/bios.bin";
const GNU_TIME = "/usr/bin/time";
const TIMEOUT_MS = 60_000;
const tasks = JSON.parse(Deno.readTextFileSync(join(project, "deno.json"))).tasks;
const ours = [
  Deno.execPath(),
  "run",
  "--quiet",
  ...tasks["qemu-system"].split(/\s+/).slice(2).map((
    w: string,
  ) => (w.startsWith("cli/") ? join(project, w) : w)),
];
const exists = (path: string) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
};
const tmp = Deno.makeTempDirSync({ prefix: "machine-bench-" });

interface Timing {
  ms?: number;
  note?: string;
}

/** Runs a command; resolves with the ms until `marker` appears on stdout (or until exit without one). */
async function timeTo(command: string[], marker?: string): Promise<Timing> {
  const start = performance.now();
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  let at: number | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value);
    if (marker && at === undefined && seen.includes(marker)) {
      at = performance.now() - start;
      child.kill("SIGKILL");
    }
  }
  const status = await child.status;
  clearTimeout(timer);
  if (marker) {
    return at === undefined
      ? { note: status.signal ? "timed out" : `no output (exit ${status.code})` }
      : { ms: at };
  }
  if (status.signal === "SIGKILL") return { note: "timed out" };
  return { ms: performance.now() - start };
}

async function best(command: string[], marker?: string): Promise<Timing> {
  let result: Timing = { note: "not run" };
  for (let i = 0; i < 3; i++) {
    const t = await timeTo(command, marker);
    if (t.ms === undefined) return t;
    if (result.ms === undefined || t.ms < result.ms) result = t;
  }
  return result;
}

function fmt(t: Timing): string {
  return t.ms === undefined ? (t.note ?? "-") : `${(t.ms / 1000).toFixed(2)} s`;
}

function ratio(a: Timing, b: Timing): string {
  return a.ms !== undefined && b.ms !== undefined ? `${(a.ms / b.ms).toFixed(2)}x` : "-";
}

/** Peak RSS in MiB of a command, from GNU time's %M (KiB). */
function peakMiB(command: string[]): number | undefined {
  if (!exists(GNU_TIME)) return undefined;
  const out = new Deno.Command(GNU_TIME, { args: ["-f", "%M", ...command], stdout: "null", stderr: "piped" })
    .outputSync();
  const kib = Number(new TextDecoder().decode(out.stderr).trim().split("\n").at(-1));
  return Number.isFinite(kib) ? kib / 1024 : undefined;
}

function imageWith(path: string, size: number, fill: (driver: ReturnType<typeof openImage>) => void): void {
  createImage(path, "qcow2", { size });
  const driver = openImage(path, { format: "qcow2" });
  fill(driver);
  driver.flush();
  driver.close();
}

// The disk images: a boot-sector disk, and 64 MiB of non-zero data for the read test.
const bootDisk = join(tmp, "boot.qcow2");
imageWith(bootDisk, 1 << 20, (d) => d.write(0, Deno.readFileSync(join(guests, "pc", "bootsector.bin"))));
const bigDisk = join(tmp, "big.qcow2");
imageWith(bigDisk, 64 << 20, (d) => {
  const chunk = new Uint8Array(1 << 20);
  for (let mib = 0; mib < 64; mib++) {
    for (let i = 0; i < chunk.length; i += 4) chunk[i] = (i >> 9) ^ mib;
    d.write(mib << 20, chunk);
  }
});

const isaExit = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"];
const diskArgs = [
  "-kernel",
  join(guests, "pc", "disk_read.bin"),
  "-display",
  "none",
  "-serial",
  "stdio",
  ...isaExit,
  "-drive",
  `file=${bigDisk},format=qcow2,if=ide`,
  "-snapshot",
];
const demoArgs = [
  "-kernel",
  join(guests, "demo", "demo.bin"),
  "-display",
  "none",
  "-serial",
  "stdio",
  ...isaExit,
];
const biosArgs = ["-nographic", "-bios", SEABIOS, "-drive", `file=${bootDisk},format=qcow2`, "-snapshot"];
const bootLine = "Hello from the boot sector.";

const haveReal = exists(REAL);
const rows: string[][] = [];
if (exists(SEABIOS)) {
  const theirs = haveReal ? await best([REAL, ...biosArgs], bootLine) : { note: "not installed" };
  const mine = await best([...ours, ...biosArgs], bootLine);
  rows.push(["SeaBIOS to first boot-sector line", fmt(mine), fmt(theirs), ratio(mine, theirs)]);
} else {
  rows.push(["SeaBIOS to first boot-sector line", "SeaBIOS not installed", "-", "-"]);
}
const demoMine = await best([...ours, ...demoArgs]);
const demoTheirs = haveReal ? await best([REAL, ...demoArgs]) : { note: "not installed" };
rows.push([
  "start-up and exit (demo guest, no I/O)",
  fmt(demoMine),
  fmt(demoTheirs),
  ratio(demoMine, demoTheirs),
]);
const diskMine = await best([...ours, ...diskArgs]);
const diskTheirs = haveReal ? await best([REAL, ...diskArgs]) : { note: "not installed" };
const rate = (t: Timing) => (t.ms === undefined ? "" : ` (${(64 / (t.ms / 1000)).toFixed(0)} MiB/s)`);
rows.push([
  "64 MiB qcow2 read by IDE DMA",
  fmt(diskMine) + rate(diskMine),
  fmt(diskTheirs) + rate(diskTheirs),
  ratio(diskMine, diskTheirs),
]);

console.log("| Measure | qemu-kvm-ts | qemu-system-i386 (TCG) | ours / real |");
console.log("| --- | --- | --- | --- |");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
const peak = peakMiB([...ours, ...diskArgs]);
console.log(
  peak === undefined
    ? "\nPeak memory: GNU time not installed."
    : `\nPeak memory of the disk run (ours): ${peak.toFixed(0)} MiB (limit: 128 MiB guest RAM + 200 MB).`,
);
Deno.removeSync(tmp, { recursive: true });
