/**
 * The MXCSR guest against qemu-system-i386 7.2: our output is tests/golden/cpu/sse_exc.sdm.txt
 * (guests_test.ts checks that) and differs from QEMU's golden exactly on the cases the guest's
 * header marks "[differs]" (DE for denormal operands, #XM/#UD for unmasked exceptions, which QEMU's
 * softfloat does not give); every other case, flags and rounding included, is QEMU's byte for byte.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { runMinimal } from "../../lib/virt/machine/minimal.ts";

Deno.test("sse_exc guest: differs from QEMU exactly on the cases it documents", () => {
  const r = runMinimal(Deno.readFileSync(join(PROJECT, "tests/guests/cpu/sse_exc.bin")));
  const ours = new TextDecoder().decode(r.serial).split("\n");
  const qemu = Deno.readTextFileSync(join(PROJECT, "tests/golden/cpu/sse_exc.txt")).split("\n");
  const source = Deno.readTextFileSync(join(PROJECT, "tests/guests/cpu/sse_exc.asm"));
  const documented = [...source.matchAll(/^; \[differs\] (.+)$/gm)].map((m) => m[1].trim()).sort();
  assert.equal(ours.length, qemu.length);
  // A case is its label (QEMU's line); the report line after an exception belongs to the case before.
  let label = "";
  const differing = new Set<string>();
  qemu.forEach((line, k) => {
    if (!line.startsWith(" ")) label = line.slice(0, 17).trim();
    if (line !== ours[k]) differing.add(label);
  });
  assert.deepEqual([...differing].sort(), documented);
  assert.equal(
    String(r.exitStatus),
    Deno.readTextFileSync(join(PROJECT, "tests/golden/cpu/sse_exc.exit")).trim(),
  );
});
