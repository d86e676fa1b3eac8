/**
 * Unit tests of the on-disk structures: the qcow2 header and its extensions (round trip,
 * preservation of unknown fields and extensions, QEMU's feature name table), refcount entries of
 * every width, compressed cluster descriptors, zstd frame lengths, the snapshot table, probing,
 * backing name resolution, and the `-o help` / Formatting-line tables against the real tool.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { REAL_QEMU_IMG, skipReason } from "../../support/tools.ts";
import {
  createImage,
  formattingLine,
  openImage,
  optionHelp,
  probeHead,
  resolveBackingName,
} from "../../../lib/image/mod.ts";
import { EXT, FEATURE_NAMES, parseHeader, serializeHeader } from "../../../lib/image/qcow2/header.ts";
import { readEntry, writeEntry } from "../../../lib/image/qcow2/refcounts.ts";
import {
  ClusterCompressor,
  compressCluster,
  decompressCluster,
  zstdFrameLength,
} from "../../../lib/image/qcow2/compress.ts";
import { parseSnapshotTable, serializeSnapshotTable } from "../../../lib/image/qcow2/snapshot_table.ts";
import type { Qcow2Driver } from "../../../lib/image/qcow2/driver.ts";
import { qemuImg, tempDir } from "./helpers.ts";

Deno.test("qcow2 header: our fresh header serialises back byte for byte", () => {
  const dir = tempDir();
  try {
    const path = join(dir, "h.qcow2");
    createImage(path, "qcow2", { size: 1 << 30, backingFile: "base.img", backingFormat: "raw" });
    const bytes = Deno.readFileSync(path).subarray(0, 65536);
    const h = parseHeader(bytes, 1 << 20);
    assert.equal(h.version, 3);
    assert.equal(h.headerLength, 112);
    assert.equal(h.backingFile, "base.img");
    assert.equal(h.backingFormat, "raw");
    assert.equal(h.backingFileOffset, 0x210);
    assert.deepEqual([...h.featureNames.values()], FEATURE_NAMES.map((f) => f[2]));
    const again = serializeHeader(h);
    assert.deepEqual(again, bytes.subarray(0, again.length));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("qcow2 header: unknown header fields and extensions survive a rewrite", () => {
  const dir = tempDir();
  try {
    const path = join(dir, "u.qcow2");
    createImage(path, "qcow2", { size: 1 << 20 });
    // Rebuild the header with header_length 120 (8 unknown bytes) and an unknown extension.
    const h = parseHeader(Deno.readFileSync(path).subarray(0, 65536), 1 << 20);
    h.headerLength = 120;
    h.extraFields = new Uint8Array(15).fill(0).map((_, i) => (i >= 7 ? 0xa0 + i : 0));
    h.unknownExtensions.push({ type: 0x12345678, data: new Uint8Array([1, 2, 3]) });
    h.autoclearFeatures = 0x8n; // unknown autoclear bit: cleared on a read-write open
    const f = Deno.openSync(path, { write: true });
    f.writeSync(serializeHeader(h));
    f.close();
    const d = openImage(path) as Qcow2Driver;
    d.write(0, new Uint8Array(512).fill(1));
    d.close();
    const back = parseHeader(Deno.readFileSync(path).subarray(0, 65536), 1 << 20);
    assert.equal(back.headerLength, 120);
    assert.deepEqual(back.extraFields, h.extraFields);
    assert.deepEqual(back.unknownExtensions, [{ type: 0x12345678, data: new Uint8Array([1, 2, 3]) }]);
    assert.equal(back.autoclearFeatures, 0n);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("qcow2 header: extension type constants are the spec's", () => {
  assert.equal(EXT.backingFormat, 0xe2792aca);
  assert.equal(EXT.featureTable, 0x6803f857);
  assert.equal(EXT.bitmaps, 0x23852875);
  assert.equal(EXT.cryptoHeader, 0x0537be77);
  assert.equal(EXT.dataFile, 0x44415441);
});

Deno.test("refcount entries of every width round-trip without touching neighbours", () => {
  for (const bits of [1, 2, 4, 8, 16, 32, 64]) {
    const data = new Uint8Array(64);
    const view = new DataView(data.buffer);
    const max = bits === 64 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
    const n = (64 * 8) / bits;
    for (let i = 0; i < n; i++) writeEntry(view, data, i, bits, (i * 7919) % (max + 1));
    for (let i = 0; i < n; i++) {
      assert.equal(readEntry(view, data, i, bits), (i * 7919) % (max + 1), `${bits}:${i}`);
    }
  }
  // Sub-byte entries put entry 0 in the least significant bits.
  const d = new Uint8Array(1);
  writeEntry(new DataView(d.buffer), d, 0, 1, 1);
  assert.equal(d[0], 1);
  writeEntry(new DataView(d.buffer), d, 1, 4, 3);
  assert.equal(d[0], 0x31);
});

Deno.test("compression: deflate is raw, zstd frames are measured, incompressible data is refused", () => {
  const text = new TextEncoder().encode("qcow2 ".repeat(11000)).subarray(0, 65536);
  const z = compressCluster(0, text)!;
  assert.ok(z.length < 1000);
  assert.deepEqual(new Uint8Array(zlib.inflateRawSync(z)), text);
  const s = compressCluster(1, text)!;
  const padded = new Uint8Array(s.length + 300).fill(0xee);
  padded.set(s);
  assert.equal(zstdFrameLength(padded), s.length);
  const out = new Uint8Array(65536);
  decompressCluster(1, padded, out);
  assert.deepEqual(out, text);
  const noise = new Uint8Array(65536);
  for (let i = 0; i < noise.length; i += 65536) crypto.getRandomValues(noise.subarray(i, i + 65536));
  assert.equal(compressCluster(0, noise), undefined);
});

Deno.test("compression: the reusable stream compresses as compressCluster does, cluster after cluster", () => {
  const text = new TextEncoder().encode("qcow2 cluster ".repeat(5000)).subarray(0, 65536);
  const noise = new Uint8Array(65536);
  crypto.getRandomValues(noise);
  for (const type of [0, 1]) {
    const c = new ClusterCompressor(type);
    const out = new Uint8Array(65535);
    for (const data of [text, noise, text]) {
      const n = c.compressInto(data, out);
      const ref = compressCluster(type, data);
      if (!ref) {
        assert.equal(n, -1);
        continue;
      }
      // zlib: the same deflate settings give the same bytes; a zstd frame may differ in its header.
      if (type === 0) assert.deepEqual(out.subarray(0, n), ref);
      const back = new Uint8Array(65536);
      decompressCluster(type, out.subarray(0, n), back);
      assert.deepEqual(back, data);
    }
  }
});

Deno.test("snapshot table: entries with extra data and odd lengths round-trip", () => {
  const snaps = [
    {
      l1TableOffset: 0x50000,
      l1Size: 3,
      id: "1",
      name: "first snapshot",
      dateSec: 1700000000,
      dateNsec: 5,
      vmClockNs: 123456789,
      vmStateSize: 2 ** 33,
      diskSize: 1 << 30,
      icount: -1,
      unknownExtra: new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9]),
    },
    {
      l1TableOffset: 0x60000,
      l1Size: 1,
      id: "12",
      name: "x",
      dateSec: 1,
      dateNsec: 2,
      vmClockNs: 3,
      vmStateSize: 4,
      diskSize: 5,
      icount: 6,
      unknownExtra: new Uint8Array(0),
    },
  ];
  const bytes = serializeSnapshotTable(snaps);
  assert.equal(bytes.length % 8, 0);
  assert.deepEqual(parseSnapshotTable(bytes, 2, 0), snaps);
});

Deno.test("probing and backing names", () => {
  const head = new Uint8Array(512);
  head.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
  assert.equal(probeHead(head), "qcow2");
  head[7] = 1;
  assert.equal(probeHead(head), "raw");
  assert.equal(probeHead(new Uint8Array(512)), "raw");
  assert.equal(resolveBackingName("dir/top.qcow2", "base.qcow2"), "dir/base.qcow2");
  assert.equal(resolveBackingName("top.qcow2", "base.qcow2"), "base.qcow2");
  assert.equal(resolveBackingName("dir/top.qcow2", "/abs/base"), "/abs/base");
  assert.equal(resolveBackingName("dir/top.qcow2", "nbd://host/x"), "nbd://host/x");
  assert.equal(resolveBackingName("a/b/top.qcow2", "../base"), "a/b/../base");
});

Deno.test(`-o help and the Formatting line match the real tool${skipReason(REAL_QEMU_IMG, "qemu-img")}`, {
  ignore: !REAL_QEMU_IMG,
}, () => {
  const tail =
    "\nThe protocol level may support further options.\nSpecify the target filename to include those options.\n";
  for (const fmt of ["qcow2", "raw"]) {
    assert.equal(qemuImg(["create", "-f", fmt, "-o", "help"]).stdout, optionHelp(fmt, false) + tail);
    assert.equal(qemuImg(["create", "-f", fmt, "-o", "help", "x.img"]).stdout, optionHelp(fmt, true));
  }
  const dir = tempDir();
  try {
    const real = qemuImg(
      ["create", "-f", "qcow2", "-o", "lazy_refcounts=on,preallocation=metadata,compat=1.1", "x.qcow2", "1G"],
      { cwd: dir },
    ).stdout.trim();
    assert.equal(
      formattingLine("x.qcow2", "qcow2", {
        lazy_refcounts: "on",
        preallocation: "metadata",
        compat: "1.1",
        size: "1073741824",
      }),
      real,
    );
    const raw = qemuImg(["create", "-f", "raw", "-o", "preallocation=full", "r.img", "1M"], { cwd: dir })
      .stdout.trim();
    assert.equal(formattingLine("r.img", "raw", { preallocation: "full", size: "1048576" }), raw);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
