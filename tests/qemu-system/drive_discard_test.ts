/**
 * `-drive discard=`: the drive's image opens with QEMU's BDRV_O_UNMAP only under discard=unmap (or
 * on), so a guest's discard (IDE TRIM) frees a qcow2 cluster there and is ignored by default.
 */
import assert from "node:assert/strict";
import { openDrives } from "../../cli/qemu-system/drives.ts";
import { type Invocation, parseCommandLine, programFor } from "../../cli/qemu-system/parse.ts";
import { Cleanup } from "../../cli/qemu-system/run.ts";
import { createImage, openImage } from "../../lib/image/registry.ts";

const I386 = programFor("/usr/local/bin/qemu-system-i386");
const CLUSTER = 65536;

/** A guest discard of the image's first (written) cluster through the drive `-drive` opens. */
function discardThroughDrive(driveOptions: string): boolean {
  const dir = Deno.makeTempDirSync({ prefix: "drive-discard-" });
  const path = `${dir}/d.qcow2`;
  try {
    createImage(path, "qcow2", { size: 1 << 20 });
    const image = openImage(path, { format: "qcow2" });
    image.write(0, new Uint8Array(CLUSTER).fill(0x5a));
    image.close();
    const invocation = parseCommandLine(
      ["-drive", `file=${path},format=qcow2${driveOptions}`],
      I386,
      () => {},
    ) as Invocation;
    const cleanup = new Cleanup();
    const [{ driver }] = openDrives(invocation, () => {}, cleanup);
    driver.discard(0, CLUSTER);
    const status = driver.blockStatus(0, CLUSTER);
    cleanup.run();
    return status.data;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("-drive discard=unmap|on passes the guest's discards to the image; ignore/off and the default drop them", () => {
  assert.equal(discardThroughDrive(",discard=unmap"), false);
  assert.equal(discardThroughDrive(",discard=on"), false);
  assert.equal(discardThroughDrive(",discard=ignore"), true);
  assert.equal(discardThroughDrive(",discard=off"), true);
  assert.equal(discardThroughDrive(""), true);
});
