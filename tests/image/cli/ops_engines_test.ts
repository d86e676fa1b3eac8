/** Unit tests of lib/image/ops: zero-run splitting, measure's formulas, compare and convert on real drivers. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ScanBuffer } from "../../../lib/image/ops/zero.ts";
import { measure, qcow2PreallocSize } from "../../../lib/image/ops/measure.ts";
import { compareImages } from "../../../lib/image/ops/compare.ts";
import { convert } from "../../../lib/image/ops/convert.ts";
import { createImage, openImage } from "../../../lib/image/registry.ts";

Deno.test("allocatedRun: leading zeros stand alone, short holes join the data, long ones split it", () => {
  const b = new ScanBuffer(64 * 512);
  assert.deepEqual(b.allocatedRun(0, 64 * 512, 4096), { length: 64 * 512, data: false });
  b.bytes[512 * 3] = 1; // data in sector 3
  b.bytes[512 * 6] = 1; // two zero sectors later: a 1 KiB hole, shorter than 4 KiB
  b.bytes[512 * 20] = 1; // 13 zero sectors later: a 6.5 KiB hole
  assert.deepEqual(b.allocatedRun(0, 64 * 512, 4096), { length: 3 * 512, data: false });
  assert.deepEqual(b.allocatedRun(3 * 512, 61 * 512, 4096), { length: 4 * 512, data: true });
  assert.deepEqual(b.allocatedRun(7 * 512, 57 * 512, 4096), { length: 13 * 512, data: false });
  // With -S 8k the 6.5 KiB hole is swallowed too.
  assert.deepEqual(b.allocatedRun(3 * 512, 61 * 512, 8192), { length: 18 * 512, data: true });
});

Deno.test("measure: QEMU's qcow2 sizes (the reference's 1 GiB figures) and raw", () => {
  assert.equal(qcow2PreallocSize(1 << 30, 65536, 4, false), 1074135040);
  assert.deepEqual(measure("qcow2", { size: 1 << 30 }, undefined), {
    required: 393216,
    fullyAllocated: 1074135040,
  });
  assert.deepEqual(measure("qcow2", { size: 1 << 30, preallocation: "full" }, undefined), {
    required: 1074135040,
    fullyAllocated: 1074135040,
  });
  assert.deepEqual(measure("raw", { size: 1000 }, undefined), { required: 1024, fullyAllocated: 1024 });
  assert.throws(
    () => measure("qcow2", { size: 10 * 2 ** 40, clusterSize: 512 }, undefined),
    /The image size is too large/,
  );
});

Deno.test("compare and convert engines on raw and qcow2 drivers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = join(dir, "a.raw");
    const data = new Uint8Array(1 << 20);
    data.fill(7, 100000, 200000);
    data[700001] = 9;
    await Deno.writeFile(a, data);
    // raw -> qcow2 -> raw through the engine, then compare.
    createImage(join(dir, "b.qcow2"), "qcow2", { size: data.length });
    const src = openImage(a, { format: "raw", readOnly: true });
    const q = openImage(join(dir, "b.qcow2"), { format: "qcow2" });
    await convert({ sources: [src], target: q, minSparse: 4096, targetIsZero: true });
    q.close();
    const qr = openImage(join(dir, "b.qcow2"), { format: "qcow2", readOnly: true });
    assert.deepEqual(compareImages(src, qr), { status: 0, lines: ["Images are identical."] });
    // Only the clusters holding data were allocated.
    const allocated = qr.blockStatus(0, 65536);
    assert.equal(allocated.present, false);
    qr.close();
    // A one-byte change is located to its sector.
    const c = join(dir, "c.raw");
    data[700001] = 8;
    await Deno.writeFile(c, data);
    const cr = openImage(c, { format: "raw", readOnly: true });
    assert.deepEqual(compareImages(src, cr), { status: 1, lines: ["Content mismatch at offset 699904!"] });
    cr.close();
    // Size mismatch is a warning when the extra part reads as zeros.
    const d = join(dir, "d.raw");
    const longer = new Uint8Array(data.length + 65536);
    longer.set(data);
    longer[700001] = 9;
    await Deno.writeFile(d, longer);
    const dr = openImage(d, { format: "raw", readOnly: true });
    assert.deepEqual(compareImages(src, dr), {
      status: 0,
      lines: ["Warning: Image size mismatch!", "Images are identical."],
    });
    assert.deepEqual(compareImages(src, dr, { strict: true }), {
      status: 1,
      lines: ["Strict mode: Image size mismatch!"],
    });
    dr.close();
    src.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
