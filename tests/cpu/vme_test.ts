/**
 * The VME/PVI guest against qemu-system-i386 7.2, which implements neither extension: our output
 * is tests/golden/cpu/vme.sdm.txt (guests_test.ts checks that), and it differs from QEMU's golden
 * in exactly the phases the guest's header marks "[differs]"; the rest (CPUID, and CPL 3 without
 * PVI) is QEMU's byte for byte.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { runMinimal } from "../../lib/virt/machine/minimal.ts";

/** Output split at the phase headers ("A: ..."): header text -> its lines. */
function phases(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let key = "start";
  for (const line of text.split("\n")) {
    if (/^[A-Z]: /.test(line)) key = line.slice(0, 2);
    out.set(key, (out.get(key) ?? "") + line + "\n");
  }
  return out;
}

Deno.test("vme guest: differs from QEMU exactly in the phases it documents", () => {
  const r = runMinimal(Deno.readFileSync(join(PROJECT, "tests/guests/cpu/vme.bin")));
  const ours = new TextDecoder().decode(r.serial);
  const qemu = Deno.readTextFileSync(join(PROJECT, "tests/golden/cpu/vme.txt"));
  const source = Deno.readTextFileSync(join(PROJECT, "tests/guests/cpu/vme.asm"));
  const documented = [...source.matchAll(/^; \[differs\] (\S+)/gm)].map((m) => m[1]).sort();
  const a = phases(ours), b = phases(qemu);
  assert.deepEqual([...a.keys()], [...b.keys()]);
  const differing = [...a.keys()].filter((k) => a.get(k) !== b.get(k)).sort();
  assert.deepEqual(differing, documented);
  assert.equal(
    String(r.exitStatus),
    Deno.readTextFileSync(join(PROJECT, "tests/golden/cpu/vme.exit")).trim(),
  );
});
