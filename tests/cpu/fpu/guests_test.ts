/**
 * The FPU guests (tests/guests/fpu) run on the FPU through a minimal integer runner and must print
 * what QEMU printed when their goldens were recorded: byte for byte for fpu_exact and fpu_random; for fpu_qemu_diff
 * and fpu_unmasked (QEMU departs from the SDM) and fpu_precision (80-bit results we hold in
 * doubles) exactly the
 * lines marked "[differs]" in the guest's header differ, and our output equals <name>.sdm.txt.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../../support/tools.ts";
import { MiniMachine } from "./mini_machine.ts";

function runGuest(name: string): { out: string; exit: number } {
  const m = new MiniMachine(Deno.readFileSync(join(PROJECT, "tests/guests/fpu", `${name}.bin`)));
  m.run();
  return { out: m.out, exit: m.exitCode };
}

function golden(name: string): { out: string; exit: number } {
  const base = join(PROJECT, "tests/golden/fpu", name);
  return {
    out: Deno.readTextFileSync(`${base}.txt`),
    exit: Number(Deno.readTextFileSync(`${base}.exit`).trim()),
  };
}

for (const name of ["fpu_exact", "fpu_random"]) {
  Deno.test(`${name} prints what QEMU printed`, () => {
    const ours = runGuest(name);
    const qemu = golden(name);
    assert.equal(ours.out, qemu.out);
    assert.equal(ours.exit, qemu.exit);
  });
}

for (const name of ["fpu_qemu_diff", "fpu_precision", "fpu_unmasked"]) {
  Deno.test(`${name} differs from QEMU exactly on its documented lines, and prints what we committed`, () => {
    const ours = runGuest(name);
    const qemu = golden(name);
    const expected = Deno.readTextFileSync(join(PROJECT, "tests/golden/fpu", `${name}.sdm.txt`));
    assert.equal(ours.out, expected);
    assert.equal(ours.exit, qemu.exit);
    const source = Deno.readTextFileSync(join(PROJECT, "tests/guests/fpu", `${name}.asm`));
    const documented = [...source.matchAll(/^; \[differs\] (.+?)(?: {2,}.*)?$/gm)].map((m) => m[1].trim())
      .sort();
    const a = ours.out.split("\n"), b = qemu.out.split("\n");
    assert.equal(a.length, b.length);
    const differing = a.filter((line, i) => line !== b[i]).map((line) => line.split(":")[0]).sort();
    assert.deepEqual(differing, documented);
  });
}
