/**
 * The PC guests of tests/guests/pc under our qemu-system, with the exact command line the golden
 * recorder gave Debian's qemu-system-i386: serial output and exit status must equal the goldens.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { directive, QEMU_BASE_ARGS } from "../../scripts/record_goldens.ts";
import { PROJECT, runCli } from "../support/tools.ts";

const GUESTS = join(PROJECT, "tests", "guests", "pc");
const GOLDEN = join(PROJECT, "tests", "golden", "pc");

/** Guests with a golden (interactive ones say `; golden: none` and are driven by machine_test.ts). */
const names = [...Deno.readDirSync(GUESTS)].filter((e) => e.name.endsWith(".bin")).map((e) =>
  e.name.slice(0, -4)
)
  .filter((name) => directive(join(GUESTS, `${name}.asm`), "golden") !== "none").sort();

for (const name of names) {
  Deno.test(`pc guest ${name} matches qemu-system-i386`, async () => {
    const source = join(GUESTS, `${name}.asm`);
    const extra = directive(source, "qemu")?.split(/\s+/) ?? [];
    const binary = join(GUESTS, `${name}.bin`);
    const result = await runCli("qemu-system", ["-kernel", binary, ...QEMU_BASE_ARGS, ...extra]);
    const expected = Deno.readTextFileSync(join(GOLDEN, `${name}.txt`));
    const status = Deno.readTextFileSync(join(GOLDEN, `${name}.exit`)).trim();
    assert.equal(result.stdout, expected, result.stderr);
    assert.equal(String(result.code), status, result.stderr);
  });
}
