/**
 * Records tests/golden/pc/int_log.int.txt: qemu-system-i386 7.2's `-d int` log of the int_log
 * guest, from the guest's first event (QEMU's log begins in SeaBIOS, which ours does not run),
 * without the CCS/CCD/CCO lines of the register dumps (QEMU's translator-internal lazy-flags
 * state; our log leaves them out). int_log_test.ts compares our log with it. Regenerate:
 *
 *   deno run --allow-read --allow-write --allow-run --allow-env tests/qemu-system/record_int_log.ts
 */
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { QEMU_BASE_ARGS } from "../../scripts/record_goldens.ts";

export const INT_LOG_GUEST = join(PROJECT, "tests", "guests", "pc", "int_log.bin");
export const INT_LOG_GOLDEN = join(PROJECT, "tests", "golden", "pc", "int_log.int.txt");

/** The command line both runs use (the log file appended). */
export const intLogArgs = (log: string) => [
  "-kernel",
  INT_LOG_GUEST,
  ...QEMU_BASE_ARGS,
  "-serial",
  "null",
  "-d",
  "int",
  "-D",
  log,
];

if (import.meta.main) {
  const log = Deno.makeTempFileSync({ suffix: ".log" });
  new Deno.Command("/usr/bin/qemu-system-i386", { args: intLogArgs(log), stdout: "null", stderr: "null" })
    .outputSync();
  const lines = Deno.readTextFileSync(log).split("\n");
  Deno.removeSync(log);
  // The guest's first event is an INT n at or above 1 MiB; everything before it is firmware.
  const first = lines.findIndex((l) => /^ *\d+: v=.* pc=([0-9a-f]{8})/.test(l) && l.includes(" pc=001"));
  const kept = lines.slice(first).filter((l) => !l.startsWith("CCS="));
  Deno.writeTextFileSync(INT_LOG_GOLDEN, kept.join("\n"));
  console.log(`${kept.length} lines`);
}
