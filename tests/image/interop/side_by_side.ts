/**
 * Runs our qemu-img and the real one side by side: the same setup (done with the real tool, so
 * both start from identical files) in two scratch directories, then the same command lines in
 * each, so their stdout, stderr and exit status can be compared byte for byte.
 */
import { join } from "node:path";
import { type CliResult, cliRunArgs, PROJECT, REAL_QEMU_IMG, runCli } from "../../support/tools.ts";

export async function runReal(args: string[], cwd: string): Promise<CliResult> {
  const out = await new Deno.Command(REAL_QEMU_IMG!, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  })
    .output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Our qemu-img as a subprocess, with its deno.json task permissions. */
export function runOursProcess(args: string[], cwd: string): Promise<CliResult> {
  return runCli("qemu-img", args, { cwd });
}

/**
 * Our qemu-img on a batch of command lines, run one after another in one subprocess (with the
 * qemu-img task's permissions), a hundred times faster than a process per command.
 */
export async function runOursBatch(cases: string[][], cwd: string): Promise<CliResult[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...cliRunArgs("qemu-img").slice(0, -1), join(PROJECT, "tests/image/interop/run_batch.ts")],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify({ cwd, cases })));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`batch runner failed:\n${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(text);
}

/** One command line of ours (a batch of one). */
export async function runOurs(args: string[], cwd: string): Promise<CliResult> {
  return (await runOursBatch([args], cwd))[0];
}

export async function scratch(prefix: string): Promise<string> {
  const base = join(PROJECT, "tests", "tmp");
  await Deno.mkdir(base, { recursive: true });
  return await Deno.makeTempDir({ dir: base, prefix });
}

/** Writes a test pattern: `parts` of [byte or "random", length], the rest of `size` left sparse. */
export async function writePattern(
  path: string,
  size: number,
  parts: [number | "random", number][],
): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  let seed = 12345;
  for (const [fill, len] of parts) {
    const buf = new Uint8Array(len);
    if (fill === "random") {
      for (let i = 0; i < len; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        buf[i] = seed >>> 24;
      }
    } else buf.fill(fill);
    await f.write(buf);
  }
  await f.truncate(size);
  f.close();
}

export type Setup = (dir: string) => Promise<void>;

/** A command line, and how its output may legitimately differ (e.g. a date, or host allocation). */
export interface Case {
  args: string[];
  normalise?: (text: string) => string;
}

/**
 * Runs the setup in two directories, then each case in both, returning the pairs. Ours run as one
 * batch process unless `batch` is false (then one process per command, through runCli).
 */
export async function sideBySide(setup: Setup, cases: (Case | string[])[], batch = true) {
  const ours = await scratch("ours-");
  const real = await scratch("real-");
  await setup(ours);
  await setup(real);
  const pairs: { args: string[]; ours: CliResult; real: CliResult }[] = [];
  try {
    const list = cases.map((c) => (Array.isArray(c) ? { args: c } : c));
    const oursResults: CliResult[] = [];
    if (batch) oursResults.push(...await runOursBatch(list.map((c) => c.args), ours));
    else for (const c of list) oursResults.push(await runOursProcess(c.args, ours));
    for (const [i, { args, normalise = (t: string) => t }] of list.entries()) {
      const r = await runReal(args, real);
      const n = (x: CliResult) => ({
        code: x.code,
        stdout: normalise(x.stdout),
        stderr: normalise(x.stderr),
      });
      pairs.push({ args, ours: n(oursResults[i]), real: n(r) });
    }
  } finally {
    await Deno.remove(ours, { recursive: true });
    await Deno.remove(real, { recursive: true });
  }
  return pairs;
}

/** Snapshot table dates are wall-clock times of the runs; the column is blanked. */
export const noDates = (t: string) =>
  t.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g, "DATE").replace(/"date-(n?sec)": \d+/g, '"date-$1": 0');
