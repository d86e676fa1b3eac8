/**
 * Internal snapshots, resize and amend done by our driver, judged by the real tool: `qemu-img
 * check` finds no errors or leaks, `qemu-img snapshot -l` lists what we created, the real tool
 * applying our snapshot sees the data we snapshotted, and images we amend or resize compare equal.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REAL_QEMU_IMG, skipReason } from "../../support/tools.ts";
import { createImage, openImage } from "../../../lib/image/mod.ts";
import type { Qcow2Driver } from "../../../lib/image/qcow2/driver.ts";
import { assertBytesEqual, qemuImg, realCheck, Rng, tempDir } from "./helpers.ts";

const SIZE = 4 << 20;

function readAll(path: string): Uint8Array {
  const d = openImage(path, { readOnly: true });
  const b = new Uint8Array(d.size);
  d.read(0, b);
  d.close();
  return b;
}

for (
  const options of [{}, { clusterSize: 4096, refcountBits: 8 }, { extendedL2: true, clusterSize: 32768 }, {
    compat: "0.10" as const,
  }]
) {
  const name = JSON.stringify(options);
  Deno.test(`our snapshots: create, write, apply, delete ${name}${skipReason(REAL_QEMU_IMG, "qemu-img")}`, {
    ignore: !REAL_QEMU_IMG,
  }, () => {
    const dir = tempDir();
    try {
      const path = join(dir, "s.qcow2");
      createImage(path, "qcow2", { size: SIZE, ...options });
      const rng = new Rng(11);
      const d = openImage(path) as Qcow2Driver;
      const v1 = new Uint8Array(SIZE);
      const a = rng.bytes(1 << 20);
      d.write(65536, a);
      v1.set(a, 65536);
      d.writeCompressed(3 << 20, new Uint8Array(d.clusterSize).fill(5));
      v1.fill(5, 3 << 20, (3 << 20) + d.clusterSize);
      d.createSnapshot("one", 1_700_000_000_123);
      const b = rng.bytes(300000);
      d.write(100000, b);
      d.writeZeroes(2 << 20, 1 << 20);
      const v2 = v1.slice();
      v2.set(b, 100000);
      v2.fill(0, 2 << 20, 3 << 20);
      d.createSnapshot("two");
      d.write(0, new Uint8Array(4096).fill(3));
      d.close();
      assert.equal(realCheck(path).code, 0, JSON.stringify(realCheck(path).json));
      const list = qemuImg(["snapshot", "-l", path]).stdout;
      assert.match(list, /^1\s+one\s+0 B 2023-11-14 \d\d:13:20 00:00:00\.000/m);
      assert.match(list, /^2\s+two\s/m);
      // The real tool applies our snapshot; we apply the other one.
      qemuImg(["snapshot", "-a", "one", path]);
      assertBytesEqual(readAll(path), v1, "after real apply of 'one'");
      const e = openImage(path) as Qcow2Driver;
      e.applySnapshot("2");
      e.deleteSnapshot("one");
      e.close();
      assertBytesEqual(readAll(path), v2, "after our apply of 'two'");
      const check = realCheck(path);
      assert.equal(check.code, 0, JSON.stringify(check.json));
      assert.doesNotMatch(qemuImg(["snapshot", "-l", path]).stdout, /one/);
      const ours = openImage(path, { readOnly: true });
      assert.deepEqual(ours.check().messages, []);
      ours.close();
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test(`resize grows and shrinks; the real tool agrees${skipReason(REAL_QEMU_IMG, "qemu-img")}`, {
  ignore: !REAL_QEMU_IMG,
}, () => {
  const dir = tempDir();
  try {
    const path = join(dir, "r.qcow2");
    createImage(path, "qcow2", { size: SIZE, clusterSize: 4096 });
    const d = openImage(path) as Qcow2Driver;
    d.write(0, new Uint8Array(SIZE).fill(1));
    assert.throws(() => d.resize(SIZE / 2), /Use the --shrink option/);
    d.resize(64 << 20); // needs a bigger L1
    d.write(60 << 20, new Uint8Array(8192).fill(2));
    d.resize(SIZE / 2, { shrink: true });
    d.resize(SIZE, { preallocation: "metadata" });
    d.close();
    assert.equal(realCheck(path).code, 0);
    const info = JSON.parse(qemuImg(["info", "--output=json", path]).stdout);
    assert.equal(info["virtual-size"], SIZE);
    const expect = new Uint8Array(SIZE).fill(1, 0, SIZE / 2);
    assertBytesEqual(readAll(path), expect, "after resizes");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test(`amend compat down and up, lazy_refcounts${skipReason(REAL_QEMU_IMG, "qemu-img")}`, {
  ignore: !REAL_QEMU_IMG,
}, () => {
  const dir = tempDir();
  try {
    const path = join(dir, "a.qcow2");
    const base = join(dir, "b.qcow2");
    createImage(base, "qcow2", { size: SIZE });
    const b = openImage(base);
    b.write(0, new Uint8Array(SIZE).fill(4));
    b.close();
    createImage(path, "qcow2", { size: SIZE, backingFile: "b.qcow2", backingFormat: "qcow2" });
    const d = openImage(path) as Qcow2Driver;
    d.writeZeroes(0, 1 << 20); // zero clusters over backing data
    d.write(2 << 20, new Uint8Array(65536).fill(6));
    const expect = new Uint8Array(SIZE).fill(4);
    expect.fill(0, 0, 1 << 20);
    expect.fill(6, 2 << 20, (2 << 20) + 65536);
    d.amend({ compat: "0.10" });
    assert.equal(d.header.version, 2);
    d.close();
    assert.equal(realCheck(path).code, 0);
    assert.equal(
      JSON.parse(qemuImg(["info", "--output=json", path]).stdout)["format-specific"].data.compat,
      "0.10",
    );
    assertBytesEqual(readAll(path), expect, "after downgrade");
    const u = openImage(path) as Qcow2Driver;
    u.amend({ compat: "1.1", lazyRefcounts: true });
    u.write(3 << 20, new Uint8Array(512).fill(8));
    expect.fill(8, 3 << 20, (3 << 20) + 512);
    u.close();
    const data = JSON.parse(qemuImg(["info", "--output=json", path]).stdout)["format-specific"].data;
    assert.equal(data.compat, "1.1");
    assert.equal(data["lazy-refcounts"], true);
    assert.equal(realCheck(path).code, 0);
    assertBytesEqual(readAll(path), expect, "after upgrade");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test(
  `makeEmpty reads through to the backing file; changeBackingFile rewrites the header${
    skipReason(REAL_QEMU_IMG, "qemu-img")
  }`,
  { ignore: !REAL_QEMU_IMG },
  () => {
    const dir = tempDir();
    try {
      const base = join(dir, "base.qcow2");
      const top = join(dir, "top.qcow2");
      createImage(base, "qcow2", { size: SIZE });
      const b = openImage(base);
      b.write(0, new Uint8Array(SIZE).fill(4));
      b.close();
      createImage(top, "qcow2", { size: SIZE, backingFile: "base.qcow2", backingFormat: "qcow2" });
      const d = openImage(top) as Qcow2Driver;
      d.write(4096, new Uint8Array(200000).fill(5));
      d.writeZeroes(1 << 20, 1 << 20);
      d.makeEmpty();
      const got = new Uint8Array(SIZE);
      d.read(0, got);
      assertBytesEqual(got, new Uint8Array(SIZE).fill(4), "after makeEmpty");
      d.close();
      assert.equal(realCheck(top).code, 0);
      const c = openImage(top, { openBacking: false }) as Qcow2Driver;
      c.changeBackingFile("other.qcow2", "raw");
      c.close();
      const info = JSON.parse(qemuImg(["info", "--output=json", top]).stdout);
      assert.equal(info["backing-filename"], "other.qcow2");
      assert.equal(info["backing-filename-format"], "raw");
      const e = openImage(top, { openBacking: false }) as Qcow2Driver;
      e.changeBackingFile(undefined, undefined);
      e.close();
      assert.equal(JSON.parse(qemuImg(["info", "--output=json", top]).stdout)["backing-filename"], undefined);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

Deno.test(
  `amend refcount_bits rewrites the refcounts at each width${skipReason(REAL_QEMU_IMG, "qemu-img")}`,
  {
    ignore: !REAL_QEMU_IMG,
  },
  () => {
    const dir = tempDir();
    try {
      const path = join(dir, "rc.qcow2");
      createImage(path, "qcow2", { size: 16 << 20, clusterSize: 4096 });
      const d = openImage(path) as Qcow2Driver;
      const data = new Rng(3).bytes(6 << 20);
      d.write(0, data);
      d.createSnapshot("s");
      d.write(4096, new Uint8Array(65536).fill(4));
      data.fill(4, 4096, 4096 + 65536);
      d.close();
      for (const bits of [2, 64, 8, 16]) {
        const a = openImage(path) as Qcow2Driver;
        a.amend({ refcountBits: bits });
        a.close();
        assert.equal(realCheck(path).code, 0, `refcount_bits=${bits}`);
        const info = JSON.parse(qemuImg(["info", "--output=json", path]).stdout);
        assert.equal(info["format-specific"].data["refcount-bits"], bits);
        assertBytesEqual(readAll(path).subarray(0, data.length), data, `data at refcount_bits=${bits}`);
      }
      const one = openImage(path) as Qcow2Driver;
      assert.throws(() => one.amend({ refcountBits: 1 }), /Cannot decrease refcount entry width to 1 bits/);
      one.close();
      assert.equal(realCheck(path).code, 0);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
