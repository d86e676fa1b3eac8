/**
 * For guests where we follow the SDM and QEMU 7.2's TCG does not: the guest's header lists, as
 * `; [differs] PREFIX` lines, the starts of the output lines that differ from QEMU's golden. Our
 * output (checked against <name>.sdm.txt by guests_test.ts) must differ from QEMU's exactly on lines
 * starting with a listed prefix, and every listed prefix must be needed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { runMinimal } from "../../lib/virt/machine/minimal.ts";

export function differsOnlyWhereDocumented(guest: string): void {
  const r = runMinimal(Deno.readFileSync(join(PROJECT, `tests/guests/${guest}.bin`)));
  const ours = new TextDecoder().decode(r.serial).split("\n");
  const qemu = Deno.readTextFileSync(join(PROJECT, `tests/golden/${guest}.txt`)).split("\n");
  const source = Deno.readTextFileSync(join(PROJECT, `tests/guests/${guest}.asm`));
  const documented = [...source.matchAll(/^; \[differs\] (.+)$/gm)].map((m) => m[1].trim());
  assert.equal(ours.length, qemu.length);
  const used = new Set<string>();
  qemu.forEach((line, k) => {
    if (line === ours[k]) return;
    const prefix = documented.find((p) => line.startsWith(p) && ours[k].startsWith(p));
    assert.ok(prefix, `line ${k + 1} differs undocumented: ours "${ours[k]}", QEMU "${line}"`);
    used.add(prefix);
  });
  assert.deepEqual([...used].sort(), [...documented].sort());
  assert.equal(
    String(r.exitStatus),
    Deno.readTextFileSync(join(PROJECT, `tests/golden/${guest}.exit`)).trim(),
  );
}
