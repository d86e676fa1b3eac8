/**
 * Images the real tool writes, read by our drivers: every create variant, data written with
 * qemu-io, compressed images from `qemu-img convert -c` (zlib and zstd), extended L2, backing
 * chains and internal snapshots. Our reads must equal the real tool's raw conversion, and our
 * check must report the image clean with the same statistics as the real check.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REAL_QEMU_IMG, skipReason } from "../../support/tools.ts";
import { openImage } from "../../../lib/image/mod.ts";
import { assertBytesEqual, qemuImg, qemuIo, REAL_QEMU_IO, realCheck, Rng, tempDir } from "./helpers.ts";

const SIZE = 4 << 20;
const both = REAL_QEMU_IMG && REAL_QEMU_IO ? "ok" : undefined;

/** Writes a pattern of data, zeros and discards with qemu-io. */
function scribble(path: string, seed: number): void {
  const rng = new Rng(seed);
  const cmds: string[] = [];
  for (let i = 0; i < 24; i++) {
    const off = rng.next(SIZE / 512 - 300) * 512;
    const len = (1 + rng.next(256)) * 512;
    const k = rng.next(5);
    if (k < 3) cmds.push("-c", `write -P ${1 + rng.next(254)} ${off} ${len}`);
    else if (k === 3) cmds.push("-c", `write -z ${off} ${len}`);
    else cmds.push("-c", `discard ${off} ${len}`);
  }
  qemuIo(["-f", "qcow2", ...cmds, path]);
}

/** Our whole-image read against the real tool's conversion to raw. */
function assertSameAsReal(dir: string, path: string): void {
  const raw = join(dir, "expect.raw");
  qemuImg(["convert", "-O", "raw", path, raw]);
  const expected = Deno.readFileSync(raw);
  const d = openImage(path, { readOnly: true });
  const got = new Uint8Array(d.size);
  d.read(0, got);
  assertBytesEqual(got, expected, path);
  const ours = d.check();
  d.close();
  const real = realCheck(path).json;
  assert.deepEqual(ours.messages, []);
  assert.equal(ours.imageEndOffset, real["image-end-offset"]);
  assert.equal(ours.allocatedClusters, real["allocated-clusters"] ?? 0);
  assert.equal(ours.fragmentedClusters, real["fragmented-clusters"] ?? 0);
  assert.equal(ours.compressedClusters, real["compressed-clusters"] ?? 0);
}

const VARIANTS: [string, string[]][] = [
  ["default", []],
  ["compat=0.10", ["-o", "compat=0.10"]],
  ["cluster_size=512", ["-o", "cluster_size=512"]],
  ["cluster_size=2M", ["-o", "cluster_size=2M"]],
  ["refcount_bits=1", ["-o", "refcount_bits=1"]],
  ["refcount_bits=4", ["-o", "refcount_bits=4"]],
  ["refcount_bits=64", ["-o", "refcount_bits=64"]],
  ["extended_l2=on", ["-o", "extended_l2=on"]],
  ["extended_l2=on,cluster_size=16k", ["-o", "extended_l2=on,cluster_size=16k"]],
  ["lazy_refcounts=on", ["-o", "lazy_refcounts=on"]],
  ["preallocation=metadata", ["-o", "preallocation=metadata"]],
  ["preallocation=falloc", ["-o", "preallocation=falloc"]],
];

for (const [name, args] of VARIANTS) {
  Deno.test(`real qemu-img image reads back identical: ${name}${skipReason(both, "qemu-img/qemu-io")}`, {
    ignore: !both,
  }, () => {
    const dir = tempDir();
    try {
      const path = join(dir, "img.qcow2");
      qemuImg(["create", "-q", "-f", "qcow2", ...args, path, String(SIZE)]);
      scribble(path, name.length);
      assertSameAsReal(dir, path);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

for (const type of ["zlib", "zstd"]) {
  Deno.test(`real compressed image (${type}) reads back identical${skipReason(both, "qemu-img/qemu-io")}`, {
    ignore: !both,
  }, () => {
    const dir = tempDir();
    try {
      const src = join(dir, "src.raw");
      const rng = new Rng(5);
      const data = new Uint8Array(SIZE);
      for (let off = 0; off < SIZE; off += 65536) {
        const k = rng.next(3);
        if (k === 0) data.set(rng.bytes(65536, true), off);
        else if (k === 1) data.set(rng.bytes(65536), off);
      }
      Deno.writeFileSync(src, data);
      for (const cs of ["4k", "64k"]) {
        const path = join(dir, `c${cs}.qcow2`);
        qemuImg([
          "convert",
          "-c",
          "-O",
          "qcow2",
          "-o",
          `compression_type=${type},cluster_size=${cs}`,
          src,
          path,
        ]);
        assertSameAsReal(dir, path);
        // Our writes over a compressed image: copy-on-write out of compressed clusters.
        const d = openImage(path);
        d.write(100000, new Uint8Array(70000).fill(9));
        data.fill(9, 100000, 170000);
        d.close();
        const check = realCheck(path);
        assert.equal(check.code, 0, JSON.stringify(check.json));
        const d2 = openImage(path, { readOnly: true });
        const got = new Uint8Array(SIZE);
        d2.read(0, got);
        d2.close();
        assertBytesEqual(got, data, `after our write (${cs})`);
        data.set(Deno.readFileSync(src));
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test(`real backing chain reads through three layers${skipReason(both, "qemu-img/qemu-io")}`, {
  ignore: !both,
}, () => {
  const dir = tempDir();
  try {
    qemuImg(["create", "-q", "-f", "raw", join(dir, "base.raw"), String(SIZE)]);
    qemuIo(["-f", "raw", "-c", "write -P 17 0 2M", join(dir, "base.raw")]);
    qemuImg(["create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", join(dir, "mid.qcow2")]);
    scribble(join(dir, "mid.qcow2"), 3);
    Deno.mkdirSync(join(dir, "sub"));
    qemuImg([
      "create",
      "-q",
      "-f",
      "qcow2",
      "-b",
      "../mid.qcow2",
      "-F",
      "qcow2",
      join(dir, "sub", "top.qcow2"),
    ]);
    scribble(join(dir, "sub", "top.qcow2"), 4);
    assertSameAsReal(dir, join(dir, "sub", "top.qcow2"));
    const d = openImage(join(dir, "sub", "top.qcow2"), { readOnly: true });
    const info = d.info();
    assert.equal(info.backingFilename, "../mid.qcow2");
    assert.equal(info.fullBackingFilename, `${dir}/sub/../mid.qcow2`); // path_combine does not normalise
    assert.equal(info.backingFormat, "qcow2");
    assert.equal(d.backing?.backing?.format, "raw");
    d.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test(`real internal snapshots are listed and applied by us${skipReason(both, "qemu-img/qemu-io")}`, {
  ignore: !both,
}, () => {
  const dir = tempDir();
  try {
    const path = join(dir, "s.qcow2");
    qemuImg(["create", "-q", "-f", "qcow2", path, String(SIZE)]);
    qemuIo(["-c", "write -P 1 0 1M", path]);
    qemuImg(["snapshot", "-c", "first", path]);
    const first = new Uint8Array(SIZE).fill(1, 0, 1 << 20);
    qemuIo(["-c", "write -P 2 512k 1M", path]);
    qemuImg(["snapshot", "-c", "second", path]);
    qemuIo(["-c", "write -P 3 0 64k", path]);
    const d = openImage(path) as import("../../../lib/image/qcow2/driver.ts").Qcow2Driver;
    assert.deepEqual(d.listSnapshots().map((s) => [s.id, s.name]), [["1", "first"], ["2", "second"]]);
    d.applySnapshot("first");
    const got = new Uint8Array(SIZE);
    d.read(0, got);
    assertBytesEqual(got, first, "after applying 'first'");
    d.deleteSnapshot("2");
    d.close();
    const check = realCheck(path);
    assert.equal(check.code, 0, JSON.stringify(check.json));
    const list = qemuImg(["snapshot", "-l", path]).stdout;
    assert.match(list, /1\s+first/);
    assert.doesNotMatch(list, /second/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test(
  `persistent bitmaps are reported, counted by check, and flagged in-use by our writes${
    skipReason(both, "qemu-img/qemu-io")
  }`,
  { ignore: !both },
  () => {
    const dir = tempDir();
    try {
      const path = join(dir, "bm.qcow2");
      qemuImg(["create", "-q", "-f", "qcow2", path, String(SIZE)]);
      qemuImg(["bitmap", "--add", path, "b0"]);
      qemuImg(["bitmap", "--add", "-g", "128k", path, "b1"]);
      qemuImg(["bitmap", "--disable", path, "b1"]);
      qemuIo(["-c", "write -P 3 0 64k", path]);
      const d = openImage(path);
      const real = JSON.parse(qemuImg(["info", "--output=json", "-U", path]).stdout);
      assert.deepEqual(d.info().formatSpecific, real["format-specific"]);
      assert.deepEqual(d.check().messages, []);
      d.write(65536, new Uint8Array(512).fill(1));
      d.close();
      assert.equal(realCheck(path).code, 0);
      const after =
        JSON.parse(qemuImg(["info", "--output=json", path]).stdout)["format-specific"].data.bitmaps;
      assert.deepEqual(after.map((b: { flags: string[] }) => b.flags), [["in-use", "auto"], ["in-use"]]);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
