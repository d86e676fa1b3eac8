/**
 * The reproducer guests of the Linux boot (tests/guests/linux): each isolates one deviation the
 * Debian kernel ran into on our PC. They run under our qemu-system with the golden recorder's
 * command line, so what matters is the same path the kernel takes (`-kernel` on the PC board, the
 * tcg vCPU), and their serial output and exit status must equal qemu-system-i386's.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { directive, QEMU_BASE_ARGS } from "../../scripts/record_goldens.ts";
import { PROJECT, runCli } from "../support/tools.ts";

const GUESTS = join(PROJECT, "tests", "guests", "linux");
const GOLDEN = join(PROJECT, "tests", "golden", "linux");

const names = [...Deno.readDirSync(GUESTS)].filter((e) => e.name.endsWith(".bin"))
  .map((e) => e.name.slice(0, -4))
  .filter((name) => directive(join(GUESTS, `${name}.asm`), "golden") !== "none")
  .sort();

for (const name of names) {
  Deno.test(`linux reproducer ${name} matches qemu-system-i386`, async () => {
    const source = join(GUESTS, `${name}.asm`);
    const extra = directive(source, "qemu")?.split(/\s+/) ?? [];
    const result = await runCli("qemu-system", [
      "-kernel",
      join(GUESTS, `${name}.bin`),
      ...QEMU_BASE_ARGS,
      ...extra,
    ]);
    assert.equal(result.stdout, Deno.readTextFileSync(join(GOLDEN, `${name}.txt`)), result.stderr);
    assert.equal(
      String(result.code),
      Deno.readTextFileSync(join(GOLDEN, `${name}.exit`)).trim(),
      result.stderr,
    );
  });
}
