/**
 * qemu-img benchmark: our qemu-img against /usr/bin/qemu-img on the inputs, in one run.
 * Inputs (made once under bench/out/image/, kept between runs):
 * - src.raw: 1 GiB of 64 KiB blocks, each random or zero with p = 0.5, fully written (not sparse);
 * - mixed.raw: 1 GiB, 50% zero, 25% random, 25% compressible text blocks.
 * Each operation runs with the real tool and with ours (as `deno task qemu-img` runs it), under
 * /usr/bin/time for wall time and peak RSS; the table gives wall times, ours : real ratios against
 * the targets, and our peak memory. BENCH_RUNS=N takes the median of N runs (default 1);
 * BENCH_SIZE_MB shrinks the inputs for a quick look.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "bench", "out", "image");
const REAL = "/usr/bin/qemu-img";
const TIME = "/usr/bin/time";
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 1);
const SIZE = Number(Deno.env.get("BENCH_SIZE_MB") ?? 1024) << 20;
const BLOCK = 65536;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Deterministic block kinds, so both inputs are the same on every machine. */
function* kinds(seed: number, weights: [string, number][]): Generator<string> {
  let s = seed;
  for (let i = 0; i < SIZE / BLOCK; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    let r = (s >>> 8) / (1 << 24);
    for (const [kind, w] of weights) {
      if (r < w) {
        yield kind;
        break;
      }
      r -= w;
    }
  }
}

async function makeInput(path: string, weights: [string, number][]): Promise<void> {
  // The stamp says the file was written in full (and at this size) by this script.
  const stamp = `${path}.${SIZE}`;
  if (exists(stamp) && Deno.statSync(path).size === SIZE) return;
  console.log(`making ${path} (${SIZE >> 20} MiB)...`);
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  const zero = new Uint8Array(BLOCK);
  const words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ".split(" ");
  const text = new Uint8Array(BLOCK);
  const buf = new Uint8Array(BLOCK);
  let t = 1;
  for (const kind of kinds(path.length, weights)) {
    if (kind === "random") {
      crypto.getRandomValues(buf);
      await f.write(buf);
    } else if (kind === "text") {
      let pos = 0;
      while (pos < BLOCK) {
        t = (Math.imul(t, 1103515245) + 12345) >>> 0;
        const w = new TextEncoder().encode(words[t % words.length] + " ");
        text.set(w.subarray(0, BLOCK - pos), pos);
        pos += w.length;
      }
      await f.write(text);
    } else await f.write(zero);
  }
  f.close();
  await Deno.writeTextFile(stamp, "");
}

interface Sample {
  wall: number;
  rssMB: number;
}

async function timed(argv: string[]): Promise<Sample> {
  const out = await new Deno.Command(TIME, {
    args: ["-f", "%e %M", ...argv],
    cwd: OUT,
    stdout: "null",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim().split("\n");
  const [wall, rss] = err[err.length - 1].split(" ").map(Number);
  if (!out.success) throw new Error(`${argv.join(" ")} failed:\n${err.join("\n")}`);
  return { wall, rssMB: rss / 1024 };
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Ours exactly as `deno task qemu-img` runs it (its permissions, FFI for locks included). */
const TASK: string = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))).tasks["qemu-img"];
const OURS = [
  Deno.execPath(),
  "run",
  "--quiet",
  ...TASK.split(/\s+/).slice(2).map((w) => (w.startsWith("cli/") ? join(ROOT, w) : w)),
];

interface Op {
  name: string;
  target: number;
  args: (who: "real" | "ours") => string[];
  /** Files to remove before each run (outputs). */
  outputs: (who: "real" | "ours") => string[];
}

const OPS: Op[] = [
  {
    name: "convert -f raw -O qcow2",
    target: 1.5,
    args: (w) => ["convert", "-f", "raw", "-O", "qcow2", "src.raw", `${w}-a.qcow2`],
    outputs: (w) => [`${w}-a.qcow2`],
  },
  {
    name: "convert -O raw (from qcow2)",
    target: 1.5,
    args: (w) => ["convert", "-f", "qcow2", "-O", "raw", "real-a.qcow2", `${w}-b.raw`],
    outputs: (w) => [`${w}-b.raw`],
  },
  {
    name: "convert -c (zlib), mixed.raw",
    target: 1.5,
    args: (w) => ["convert", "-c", "-f", "raw", "-O", "qcow2", "mixed.raw", `${w}-c.qcow2`],
    outputs: (w) => [`${w}-c.qcow2`],
  },
  {
    name: "convert -c -o compression_type=zstd, mixed.raw",
    target: 2,
    args: (
      w,
    ) => [
      "convert",
      "-c",
      "-f",
      "raw",
      "-O",
      "qcow2",
      "-o",
      "compression_type=zstd",
      "mixed.raw",
      `${w}-z.qcow2`,
    ],
    outputs: (w) => [`${w}-z.qcow2`],
  },
  {
    name: "check (of the raw->qcow2 output)",
    target: 3,
    args: () => ["check", "real-a.qcow2"],
    outputs: () => [],
  },
];

if (!exists(REAL) || !exists(TIME)) {
  console.log("skipped: needs /usr/bin/qemu-img and /usr/bin/time");
  Deno.exit(0);
}
await Deno.mkdir(OUT, { recursive: true });
await makeInput(join(OUT, "src.raw"), [["random", 0.5], ["zero", 0.5]]);
await makeInput(join(OUT, "mixed.raw"), [["zero", 0.5], ["random", 0.25], ["text", 0.25]]);

const loadavg = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
const loadBefore = loadavg();
const rows: string[] = [];
for (const op of OPS) {
  const result: Record<string, Sample[]> = { real: [], ours: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const who of ["real", "ours"] as const) {
      for (const f of op.outputs(who)) await Deno.remove(join(OUT, f)).catch(() => {});
      const argv = who === "real" ? [REAL, ...op.args(who)] : [...OURS, ...op.args(who)];
      result[who].push(await timed(argv));
    }
  }
  const real = median(result.real.map((s) => s.wall));
  const ours = median(result.ours.map((s) => s.wall));
  const rss = Math.max(...result.ours.map((s) => s.rssMB));
  const ratio = ours / Math.max(real, 0.01);
  rows.push(
    `| \`${op.name}\` | ${real.toFixed(2)} | ${ours.toFixed(2)} | ${ratio.toFixed(2)} | ≤ ${op.target} | ` +
      `${rss.toFixed(0)} |`,
  );
  console.log(rows[rows.length - 1]);
}
for (const f of ["real-b.raw", "ours-b.raw"]) await Deno.remove(join(OUT, f)).catch(() => {});

// The floor under every command of ours: Deno starting and running an empty script.
const empty = join(OUT, "empty.ts");
await Deno.writeTextFile(empty, "");
const floor: number[] = [];
for (let i = 0; i < Math.max(RUNS, 3); i++) {
  floor.push((await timed([Deno.execPath(), "run", "--quiet", empty])).wall);
}

console.log(
  `\nqemu-img, ${SIZE >> 20} MiB inputs, median of ${RUNS} run(s), ${navigator.hardwareConcurrency} CPUs\n`,
);
console.log(
  `load average ${loadBefore} before, ${loadavg()} after; \`deno run\` of an empty script: ` +
    `${median(floor).toFixed(2)} s\n`,
);
console.log("| Operation | real s | ours s | ours : real | target | our peak RSS MB |");
console.log("|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
