/**
 * The first "done when": `qemu-system-x86_64 -nographic -bios /usr/share/seabios/bios.bin
 * -drive file=disk.qcow2,format=qcow2` boots a boot sector that prints over serial, and the
 * guest's ACPI poweroff (0x604, where SeaBIOS puts the PM block) ends the run with status 0.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createImage, openImage } from "../../lib/image/formats.ts";
import { PROJECT, SEABIOS, skipReason } from "../support/tools.ts";

/** Seconds SeaBIOS gets to reach the boot sector (about one on this machine); a hang fails the test. */
const TIMEOUT_S = 30;

Deno.test({
  name: `SeaBIOS boots a boot sector from a qcow2 to serial output${skipReason(SEABIOS, "seabios")}`,
  ignore: !SEABIOS,
  async fn() {
    const tmp = Deno.makeTempDirSync({ prefix: "qemu-system-seabios-" });
    const disk = join(tmp, "disk.qcow2");
    createImage(disk, "qcow2", { size: 1 << 20 });
    const driver = openImage(disk, { format: "qcow2" });
    driver.write(0, Deno.readFileSync(join(PROJECT, "tests", "guests", "pc", "bootsector.bin")));
    driver.close();
    const tasks = JSON.parse(Deno.readTextFileSync(join(PROJECT, "deno.json"))).tasks;
    const words = tasks["qemu-system"].split(/\s+/).slice(2).map((w: string) =>
      w.startsWith("cli/") ? join(PROJECT, w) : w
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        ...words,
        "-nographic",
        "-bios",
        SEABIOS!,
        "-drive",
        `file=${disk},format=qcow2`,
      ],
      stdin: "null",
      signal: AbortSignal.timeout(TIMEOUT_S * 1000),
    }).output();
    const result = {
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
      code: out.signal ? `killed after ${TIMEOUT_S} s` : out.code,
    };
    assert.match(result.stdout, /SeaBIOS \(version [^)]+\)\r\n/);
    assert.match(result.stdout, /Booting from Hard Disk\.\.\.*Hello from the boot sector\.\r\n$/);
    assert.equal(result.code, 0, result.stderr);
  },
});
