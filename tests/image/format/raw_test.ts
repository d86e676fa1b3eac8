/**
 * The raw driver: create with each preallocation mode (sizes on disk as the real tool leaves
 * them), reads and writes, block status that finds zero runs, resize, and the check refusal.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REAL_QEMU_IMG, skipReason } from "../../support/tools.ts";
import { createImage, ImageError, openImage, RawDriver } from "../../../lib/image/mod.ts";
import { qemuImg, tempDir } from "./helpers.ts";

Deno.test(
  `raw create matches the real tool: size and allocation per preallocation${
    skipReason(REAL_QEMU_IMG, "qemu-img")
  }`,
  { ignore: !REAL_QEMU_IMG },
  () => {
    const dir = tempDir();
    try {
      for (const mode of ["off", "falloc", "full"] as const) {
        const ours = join(dir, `o-${mode}.raw`);
        const real = join(dir, `r-${mode}.raw`);
        createImage(ours, "raw", { size: 1 << 20, preallocation: mode });
        qemuImg(["create", "-q", "-f", "raw", "-o", `preallocation=${mode}`, real, "1M"]);
        const a = Deno.statSync(ours);
        const b = Deno.statSync(real);
        assert.equal(a.size, b.size);
        assert.equal(a.blocks, b.blocks, mode);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

Deno.test("raw read/write/blockStatus/resize", () => {
  const dir = tempDir();
  try {
    const path = join(dir, "d.raw");
    createImage(path, "raw", { size: 1 << 20 });
    const d = openImage(path) as RawDriver;
    assert.equal(d.format, "raw");
    d.write(0x30000, new Uint8Array(0x2000).fill(1));
    const buf = new Uint8Array(0x4000);
    d.read(0x2f000, buf);
    assert.equal(buf[0], 0);
    assert.equal(buf[0x1000], 1);
    let s = d.blockStatus(0, 1 << 20);
    assert.deepEqual([s.offset, s.length, s.zero, s.data, s.present], [0, 0x30000, true, false, true]);
    s = d.blockStatus(0x30000, (1 << 20) - 0x30000);
    assert.deepEqual([s.length, s.zero, s.data], [0x2000, false, true]);
    d.writeZeroes(0x30000, 0x1000);
    d.read(0x30000, buf.subarray(0, 0x1000));
    assert.ok(buf.subarray(0, 0x1000).every((b) => b === 0));
    assert.throws(() => d.resize(4096), /Use the --shrink option/);
    d.resize(2 << 20);
    assert.equal(d.size, 2 << 20);
    d.resize(4096, { shrink: true });
    assert.equal(Deno.statSync(path).size, 4096);
    assert.throws(
      () => d.check(),
      (e) => e instanceof ImageError && e.message === "This image format does not support checks",
    );
    assert.throws(() => d.read(4000, new Uint8Array(200)), ImageError);
    d.close();
    const ro = openImage(path, { readOnly: true });
    assert.throws(() => ro.write(0, new Uint8Array(1)), ImageError);
    assert.deepEqual(ro.info().format, "raw");
    ro.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
