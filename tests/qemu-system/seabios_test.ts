/**
 * The issue's first "done when": `qemu-system-x86_64 -nographic -bios /usr/share/seabios/bios.bin
 * -drive file=disk.qcow2,format=qcow2` boots a boot sector that prints over serial, and the
 * guest's ACPI poweroff (0x604, where SeaBIOS puts the PM block) ends the run with status 0. With
 * `-nodefaults` (no VGA, no network ROM) the real qemu-system-i386 prints the very same bytes, from
 * a disk and from an El Torito CD (`-cdrom`, `-boot d`), but for the timing-dependent progress dots.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createImage, openImage } from "../../lib/image/formats.ts";
import {
  foldSeabiosProgress,
  HEADLESS_DEBUG_EXIT,
  PROJECT,
  REAL_QEMU_I386,
  SEABIOS,
  SEABIOS_BOOTING,
  skipReason,
} from "../support/tools.ts";
import { elToritoImage } from "./el_torito.ts";

/** Seconds SeaBIOS gets to reach the boot sector (about one on this machine); a hang fails the test. */
const TIMEOUT_S = 30;
const BOOT_SECTOR = Deno.readFileSync(join(PROJECT, "tests", "guests", "pc", "bootsector.bin"));
const TMP = Deno.makeTempDirSync({ prefix: "qemu-system-seabios-" });
const decoder = new TextDecoder();

/** A qcow2 disk holding the boot sector: one file a run, as each running QEMU locks its image. */
function bootDisk(name: string): string {
  const disk = join(TMP, `${name}.qcow2`);
  createImage(disk, "qcow2", { size: 1 << 20 });
  const driver = openImage(disk, { format: "qcow2" });
  driver.write(0, BOOT_SECTOR);
  driver.close();
  return disk;
}

async function run(command: string[], args: string[]) {
  const out = await new Deno.Command(command[0], {
    args: [...command.slice(1), ...args],
    stdin: "null",
    signal: AbortSignal.timeout(TIMEOUT_S * 1000),
  }).output();
  return {
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    code: out.signal ? `killed after ${TIMEOUT_S} s` : out.code,
  };
}

function ours(): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(join(PROJECT, "deno.json"))).tasks;
  const words = tasks["qemu-system"].split(/\s+/).slice(2).map((w: string) =>
    w.startsWith("cli/") ? join(PROJECT, w) : w
  );
  return [Deno.execPath(), "run", "--quiet", ...words];
}

Deno.test({
  name: `SeaBIOS boots a boot sector from a qcow2 to serial output${skipReason(SEABIOS, "seabios")}`,
  ignore: !SEABIOS,
  async fn() {
    const result = await run(ours(), [
      "-nographic",
      "-bios",
      SEABIOS!,
      "-drive",
      `file=${bootDisk("boot")},format=qcow2`,
    ]);
    assert.match(result.stdout, /SeaBIOS \(version [^)]+\)\r\n/);
    // SeaBIOS prints progress dots (and a line break after them) as time passes, as the comparison below says.
    assert.match(result.stdout, SEABIOS_BOOTING);
    assert.ok(result.stdout.endsWith("Hello from the boot sector.\r\n"), JSON.stringify(result.stdout));
    assert.equal(result.code, 0, result.stderr);
  },
});

for (const [what, media] of [["a qcow2 disk", "disk"], ["an El Torito CD", "cdrom"]] as const) {
  Deno.test({
    name: `SeaBIOS booting ${what} prints what qemu-system-i386 prints${
      skipReason(SEABIOS && REAL_QEMU_I386, "seabios and qemu-system-i386")
    }`,
    ignore: !SEABIOS || !REAL_QEMU_I386,
    async fn() {
      // The two run at once, each on its own copy: a read-write disk is locked by whoever opens it first.
      const argsFor = (who: string) => {
        let args: string[];
        if (media === "disk") args = ["-drive", `file=${bootDisk(`compare-${who}`)},format=qcow2`];
        else {
          const iso = join(TMP, "boot.iso");
          Deno.writeFileSync(iso, elToritoImage(BOOT_SECTOR));
          args = ["-cdrom", iso, "-boot", "d"];
        }
        return [...args, "-nographic", "-nodefaults", "-serial", "stdio", "-bios", SEABIOS!];
      };
      const [real, mine] = await Promise.all([
        run([REAL_QEMU_I386!], argsFor("real")),
        run(ours(), argsFor("ours")),
      ]);
      assert.match(real.stdout, /Hello from the boot sector\./);
      assert.equal(foldSeabiosProgress(mine.stdout), foldSeabiosProgress(real.stdout));
      assert.equal(mine.code, real.code, mine.stderr);
    },
  });
}

const MULTIBOOT_ROM = (() => {
  try {
    return Deno.statSync("/usr/share/qemu/multiboot_dma.bin").isFile
      ? "/usr/share/qemu/multiboot_dma.bin"
      : undefined;
  } catch {
    return undefined;
  }
})();

Deno.test({
  name: `-bios with a multiboot -kernel goes through SeaBIOS and QEMU's multiboot option ROM${
    skipReason(SEABIOS && MULTIBOOT_ROM && REAL_QEMU_I386, "seabios, qemu-system-data and qemu-system-i386")
  }`,
  ignore: !SEABIOS || !MULTIBOOT_ROM || !REAL_QEMU_I386,
  async fn() {
    const args = [
      "-bios",
      SEABIOS!,
      "-kernel",
      join(PROJECT, "tests", "guests", "pc", "pic_pit_rtc.bin"),
      "-nodefaults",
      ...HEADLESS_DEBUG_EXIT,
    ];
    const [real, mine] = await Promise.all([run([REAL_QEMU_I386!], args), run(ours(), args)]);
    assert.match(real.stdout, /pit: 20 ticks seen/);
    assert.equal(mine.stdout, real.stdout);
    assert.equal(mine.code, real.code, mine.stderr);
  },
});
