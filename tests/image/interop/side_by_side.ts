/**
 * Runs our qemu-img and the real one side by side: the same setup (done with the real tool, so
 * both start from identical files) in two scratch directories, then the same command lines in
 * each, so their stdout, stderr and exit status can be compared byte for byte.
 */
import { join } from "node:path";
import { type CliResult, PROJECT, REAL_QEMU_IMG, runCli } from "../../support/tools.ts";
import { main } from "../../../cli/qemu-img.ts";
import { captureOutput } from "../../../cli/qemu-img/report.ts";

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
 * Our qemu-img in this process (main() with output captured and cwd switched), a hundred times
 * faster than a subprocess; an exception main() does not turn into a message fails the test.
 */
export async function runOurs(args: string[], cwd: string): Promise<CliResult> {
  const prev = Deno.cwd();
  Deno.chdir(cwd);
  try {
    const { result, stdout, stderr } = await captureOutput(() => main(args));
    return { code: result, stdout, stderr };
  } finally {
    Deno.chdir(prev);
  }
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

/** Runs the setup in two directories, then each case in both, returning the pairs. */
export async function sideBySide(setup: Setup, cases: (Case | string[])[], inProcess = true) {
  const ours = await scratch("ours-");
  const real = await scratch("real-");
  await setup(ours);
  await setup(real);
  const pairs: { args: string[]; ours: CliResult; real: CliResult }[] = [];
  try {
    for (const c of cases) {
      const { args, normalise = (t: string) => t } = Array.isArray(c) ? { args: c } : c;
      const o = await (inProcess ? runOurs : runOursProcess)(args, ours);
      const r = await runReal(args, real);
      const n = (x: CliResult) => ({
        code: x.code,
        stdout: normalise(x.stdout),
        stderr: normalise(x.stderr),
      });
      pairs.push({ args, ours: n(o), real: n(r) });
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
