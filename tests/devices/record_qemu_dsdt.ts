/**
 * Records tests/golden/pc/qemu_dsdt.aml: the DSDT Debian's qemu-system-i386 7.2 gives a -M pc guest
 * (128 MiB, one serial port), read by the Linux guest from /sys/firmware/acpi/tables/DSDT over its
 * serial console. acpi_isa_test.ts compares our ISA device objects with QEMU's. Needs guest/
 * (`deno task linux-guest`). Regenerate:
 *
 *   deno run --allow-read --allow-write --allow-run --allow-env tests/devices/record_qemu_dsdt.ts
 */
import { join } from "node:path";
import { SerialConsole } from "../e2e/serial_console.ts";
import { PROJECT } from "../support/tools.ts";

export const QEMU_DSDT_GOLDEN = join(PROJECT, "tests", "golden", "pc", "qemu_dsdt.aml");
const PROMPT = "guest# ";
const GUEST_DIR = join(PROJECT, "guest");

if (import.meta.main) {
  const args = ["-kernel", join(GUEST_DIR, "vmlinuz"), "-initrd", join(GUEST_DIR, "initrd.gz")];
  args.push("-append", "console=ttyS0", "-nographic", "-m", "128");
  const guest = new SerialConsole("/usr/bin/qemu-system-i386", args);
  try {
    await guest.expect(PROMPT, 300_000);
    const dump = await guest.command("od -An -tx1 -v /sys/firmware/acpi/tables/DSDT", PROMPT, 60_000);
    const bytes = Uint8Array.from(
      dump.split(/\s+/).filter((w) => /^[0-9a-f]{2}$/.test(w)),
      (w) => parseInt(w, 16),
    );
    if (String.fromCharCode(...bytes.subarray(0, 4)) !== "DSDT") throw new Error("no DSDT in the dump");
    Deno.writeFileSync(QEMU_DSDT_GOLDEN, bytes);
    console.log(`${bytes.length} bytes`);
  } finally {
    await guest.close();
  }
}
