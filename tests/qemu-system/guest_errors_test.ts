/**
 * `-d guest_errors`: the log of tests/guests/pc/guest_errors against tests/golden/pc/guest_errors.log,
 * which Debian's qemu-system-i386 7.2 wrote for the same guest and command line (the interop test
 * below re-checks the golden against the real one when it is installed). `-d unimp` alone logs
 * nothing for the same guest, as on QEMU.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { QEMU_BASE_ARGS } from "../../scripts/record_goldens.ts";
import { PROJECT, REAL_QEMU_I386, runCli, skipReason } from "../support/tools.ts";

const GUEST = join(PROJECT, "tests", "guests", "pc", "guest_errors.bin");
const GOLDEN = join(PROJECT, "tests", "golden", "pc", "guest_errors.log");

function logArgs(items: string, logFile: string): string[] {
  return ["-kernel", GUEST, ...QEMU_BASE_ARGS, "-d", items, "-D", logFile];
}

Deno.test("-d guest_errors logs what qemu-system-i386 logs for the PC's devices", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const log = join(dir, "log");
    const result = await runCli("qemu-system", logArgs("guest_errors", log));
    assert.equal(result.stdout, "mmio\nports\n", result.stderr);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(Deno.readTextFileSync(log), Deno.readTextFileSync(GOLDEN));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("-d unimp logs nothing for the PC's devices", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const log = join(dir, "log");
    const result = await runCli("qemu-system", logArgs("unimp", log));
    assert.equal(result.code, 1, result.stderr);
    assert.equal(Deno.readTextFileSync(log), "");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("unassigned memory reads 0 with -d guest_errors as without", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const guest = join(PROJECT, "tests", "guests", "pc", "unassigned.bin");
    const args = ["-kernel", guest, ...QEMU_BASE_ARGS, "-d", "guest_errors", "-D", join(dir, "log")];
    const result = await runCli("qemu-system", args);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stdout,
      Deno.readTextFileSync(join(PROJECT, "tests", "golden", "pc", "unassigned.txt")),
    );
    assert.match(Deno.readTextFileSync(join(dir, "log")), /^Invalid read at addr 0x8000001, size 1, region/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: `the guest_errors golden is what qemu-system-i386 logs${
    skipReason(REAL_QEMU_I386, "qemu-system-i386")
  }`,
  ignore: !REAL_QEMU_I386,
  fn: async () => {
    const dir = Deno.makeTempDirSync();
    try {
      const log = join(dir, "log");
      const out = await new Deno.Command(REAL_QEMU_I386!, {
        args: logArgs("guest_errors", log),
        stdout: "null",
      })
        .output();
      assert.equal(out.code, 1);
      assert.equal(Deno.readTextFileSync(log), Deno.readTextFileSync(GOLDEN));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
