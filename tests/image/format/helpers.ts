/**
 * Shared helpers for the image format tests: temporary directories, running the real qemu-img
 * and qemu-io (by absolute path), deterministic pseudo-random data, and a reference model (a plain
 * byte array) that every driver operation is mirrored into.
 */
import { REAL_QEMU_IMG } from "../../support/tools.ts";

export const REAL_QEMU_IO = (() => {
  try {
    return Deno.statSync("/usr/bin/qemu-io").isFile ? "/usr/bin/qemu-io" : undefined;
  } catch {
    return undefined;
  }
})();

export function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "imgfmt-" });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string | undefined, args: string[], cwd?: string): Run {
  if (!cmd) throw new Error("tool not installed");
  const out = new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).outputSync();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs the real qemu-img; throws with its stderr when it fails unless `allowFail`. */
export function qemuImg(args: string[], options: { cwd?: string; allowFail?: boolean } = {}): Run {
  const r = run(REAL_QEMU_IMG, args, options.cwd);
  if (r.code !== 0 && !options.allowFail) {
    throw new Error(`qemu-img ${args.join(" ")} failed (${r.code}): ${r.stderr}${r.stdout}`);
  }
  return r;
}

export function qemuIo(args: string[], options: { cwd?: string } = {}): Run {
  const r = run(REAL_QEMU_IO, args, options.cwd);
  if (r.code !== 0 || /error|failed/i.test(r.stdout + r.stderr)) {
    throw new Error(`qemu-io ${args.join(" ")} failed (${r.code}): ${r.stderr}${r.stdout}`);
  }
  return r;
}

/** A small deterministic generator (LCG), so failures reproduce. */
export class Rng {
  constructor(private seed: number) {}
  next(n: number): number {
    this.seed = (Math.imul(this.seed, 1103515245) + 12345) & 0x7fffffff;
    return this.seed % n;
  }
  bytes(len: number, compressible = false): Uint8Array {
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = compressible ? 97 + this.next(4) : this.next(256);
    return b;
  }
}

export function assertBytesEqual(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} != ${expected.length}`);
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${what}: first difference at byte ${i}: ${actual[i]} != ${expected[i]}`);
    }
  }
}

/** The real `qemu-img check --output=json`, parsed, plus its exit code. */
export function realCheck(path: string): { code: number; json: Record<string, unknown> } {
  const r = qemuImg(["check", "--output=json", path], { allowFail: true });
  return { code: r.code, json: JSON.parse(r.stdout || "{}") };
}
