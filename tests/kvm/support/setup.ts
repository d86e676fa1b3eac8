/** Shared setup of the KVM API tests: a temporary kvm-ctl root with modules loaded through kvm-ctl's CLI. */
import assert from "node:assert/strict";
import { runCli } from "../../support/tools.ts";
import type { CliResult } from "../../support/tools.ts";
import type { KvmSegment } from "../../../lib/virt/kvm/mod.ts";

export function kctl(root: string, args: string[]): Promise<CliResult> {
  return runCli("kvm-ctl", ["--root", root, ...args]);
}

/** A fresh root, with `modprobe` run for each argument list given (e.g. ["kvm_intel", "nested=0"]). */
export async function rootWith(...modprobes: string[][]): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "kvm-api-test-" });
  for (const args of modprobes) {
    const r = await kctl(root, ["modprobe", ...args]);
    assert.equal(r.code, 0, r.stderr);
  }
  return root;
}

/** The errno name an ErrnoError-throwing call fails with. */
export function errnoOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

/** A flat 4 GiB ring-0 segment: 32-bit code when `code`, else writable data (as multiboot leaves them). */
export function flatSegment(selector: number, code: boolean): KvmSegment {
  return {
    base: 0n,
    limit: 0xffffffff,
    selector,
    type: code ? 0xb : 0x3,
    present: 1,
    dpl: 0,
    db: 1,
    s: 1,
    l: 0,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}
