/**
 * `-d unimp`: the translator's ILLOPC lines for the illopc guest (undefined opcodes, UD2/UD1/UD0,
 * group rows that do not exist, prefixes; none for instructions in forms that do not exist or a
 * misplaced LOCK; once per translation) against tests/golden/pc/illopc.log, which Debian's
 * qemu-system-i386 7.2 wrote for the same guest and command line. Regenerate with
 *
 *   qemu-system-i386 -kernel tests/guests/pc/illopc.bin -display none -serial stdio -no-reboot -m 128 \
 *     -device isa-debug-exit,iobase=0xf4,iosize=0x04 -d unimp -D tests/golden/pc/illopc.log
 *
 * (the interop tests below re-check the golden against the real one when it is installed, and
 * compare -d in_asm's blocks that end in bytes that are no instruction: QEMU shows them one
 * `.byte` line each, in the block of the instructions before them).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { QEMU_BASE_ARGS } from "../../scripts/record_goldens.ts";
import { PROJECT, REAL_QEMU_I386, runCli, skipReason } from "../support/tools.ts";

const GUEST = join(PROJECT, "tests", "guests", "pc", "illopc.bin");
const GOLDEN = join(PROJECT, "tests", "golden", "pc", "illopc.log");
const SERIAL = join(PROJECT, "tests", "golden", "pc", "illopc.txt");

const logArgs = (
  items: string,
  logFile: string,
) => ["-kernel", GUEST, ...QEMU_BASE_ARGS, "-d", items, "-D", logFile];

async function withLog(fn: (log: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync();
  try {
    await fn(join(dir, "log"));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("-d unimp logs the ILLOPC lines qemu-system-i386 logs", () =>
  withLog(async (log) => {
    const result = await runCli("qemu-system", logArgs("unimp", log));
    assert.equal(result.stdout, Deno.readTextFileSync(SERIAL), result.stderr);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(Deno.readTextFileSync(log), Deno.readTextFileSync(GOLDEN));
  }));

Deno.test("without unimp no ILLOPC line is logged", () =>
  withLog(async (log) => {
    const result = await runCli("qemu-system", logArgs("guest_errors", log));
    assert.equal(result.code, 1, result.stderr);
    assert.equal(Deno.readTextFileSync(log), "");
  }));

Deno.test({
  name: `the illopc golden is what qemu-system-i386 logs${skipReason(REAL_QEMU_I386, "qemu-system-i386")}`,
  ignore: !REAL_QEMU_I386,
  fn: () =>
    withLog(async (log) => {
      const out = await new Deno.Command(REAL_QEMU_I386!, { args: logArgs("unimp", log), stdout: "null" })
        .output();
      assert.equal(out.code, 1);
      assert.equal(Deno.readTextFileSync(log), Deno.readTextFileSync(GOLDEN));
    }),
});

Deno.test({
  name: `-d in_asm shows blocks ending in no instruction as qemu-system-i386 does${
    skipReason(REAL_QEMU_I386, "qemu-system-i386")
  }`,
  ignore: !REAL_QEMU_I386,
  fn: () =>
    withLog(async (log) => {
      const realLog = `${log}.real`;
      await new Deno.Command(REAL_QEMU_I386!, { args: logArgs("in_asm", realLog), stdout: "null" }).output();
      const result = await runCli("qemu-system", logArgs("in_asm", log));
      assert.equal(result.code, 1, result.stderr);
      const block = (text: string, address: string) => {
        const start = text.indexOf(`\n${address}:`);
        assert.ok(start >= 0, address);
        return text.slice(start, text.indexOf("\n\n", start));
      };
      const ours = Deno.readTextFileSync(log), real = Deno.readTextFileSync(realLog);
      // The blocks after the #UD handler's IRETs: 0F 04, 8D C0 (LEA with a register), F0 90.
      for (const address of ["0x001000f9", "0x00100150", "0x00100175"]) {
        assert.equal(block(ours, address), block(real, address));
      }
      assert.match(block(ours, "0x001000f9"), /\.byte +0x0f\n.*\.byte +0x04$/);
    }),
});
