/**
 * Images written by our qcow2 driver, checked by the real tool: for a matrix of create options,
 * a seeded stream of writes, zero writes, discards and compressed writes is mirrored into a byte
 * array; then the real `qemu-img check` must find no errors or leaks and the real
 * `qemu-img compare` must find the image equal to the mirror. Our own check must agree.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REAL_QEMU_IMG, skipReason } from "../../support/tools.ts";
import { createImage, type CreateOptions, openImage } from "../../../lib/image/mod.ts";
import type { Qcow2Driver } from "../../../lib/image/qcow2/driver.ts";
import { assertBytesEqual, qemuImg, realCheck, Rng, tempDir } from "./helpers.ts";

interface Case {
  name: string;
  options: Omit<CreateOptions, "size">;
  size?: number;
  compress?: boolean;
  backing?: boolean;
}

const CASES: Case[] = [
  { name: "default", options: {} },
  { name: "compat=0.10", options: { compat: "0.10" } },
  { name: "cluster_size=512", options: { clusterSize: 512 } },
  { name: "cluster_size=4k refcount_bits=1", options: { clusterSize: 4096, refcountBits: 1 } },
  { name: "refcount_bits=2", options: { refcountBits: 2 } },
  { name: "refcount_bits=8 cluster_size=1k", options: { refcountBits: 8, clusterSize: 1024 } },
  { name: "refcount_bits=32", options: { refcountBits: 32 } },
  { name: "refcount_bits=64", options: { refcountBits: 64 } },
  { name: "cluster_size=2M", options: { clusterSize: 2 << 20 }, size: 16 << 20 },
  { name: "extended_l2 16k", options: { extendedL2: true, clusterSize: 16384 } },
  { name: "extended_l2 64k", options: { extendedL2: true } },
  { name: "lazy_refcounts", options: { lazyRefcounts: true } },
  { name: "compressed zlib", options: {}, compress: true },
  { name: "compressed zstd", options: { compressionType: "zstd" }, compress: true },
  { name: "compressed 4k clusters", options: { clusterSize: 4096 }, compress: true },
  { name: "backing qcow2", options: {}, backing: true },
  { name: "backing compat=0.10", options: { compat: "0.10" }, backing: true },
  {
    name: "backing extended_l2",
    options: { extendedL2: true, clusterSize: 32768 },
    backing: true,
    compress: true,
  },
  { name: "data_file", options: { dataFile: "img.data" } },
  {
    name: "data_file_raw extended_l2",
    options: { dataFile: "img.data", dataFileRaw: true, extendedL2: true },
  },
  { name: "preallocation=metadata", options: { preallocation: "metadata" } },
  { name: "preallocation=full", options: { preallocation: "full" }, size: 2 << 20 },
];

function exercise(d: Qcow2Driver, mirror: Uint8Array, rng: Rng, compress: boolean): void {
  const size = mirror.length;
  const cs = d.clusterSize;
  for (let i = 0; i < 100; i++) {
    const off = rng.next(size / 512) * 512 + (rng.next(4) === 0 ? rng.next(512) : 0);
    const len = Math.min(size - off, 1 + rng.next(4) * rng.next(150000));
    const kind = rng.next(12);
    if (kind < 6) {
      const b = rng.bytes(len, rng.next(2) === 0);
      d.write(off, b);
      mirror.set(b, off);
    } else if (kind < 8) {
      d.writeZeroes(off, len, { mayUnmap: rng.next(2) === 0 });
      mirror.fill(0, off, off + len);
    } else if (kind < 10 && compress) {
      const c = Math.floor(off / cs) * cs;
      const n = Math.min(cs, size - c);
      const b = rng.bytes(n, rng.next(4) !== 0);
      d.writeCompressed(c, b);
      mirror.set(b, c);
    } else if (kind < 11) {
      const r = new Uint8Array(len);
      d.read(off, r);
      assertBytesEqual(r, mirror.subarray(off, off + len), `read ${off}+${len}`);
    } else if (kind === 11 && d.header.version >= 3) {
      // Discard of whole clusters: contents become unspecified only where QEMU allows; we mirror what we read.
      d.discard(off, len);
      const r = new Uint8Array(len);
      d.read(off, r);
      mirror.set(r, off);
    }
    if (i % 50 === 49) d.flush();
  }
}

for (const c of CASES) {
  Deno.test(
    `qcow2 written by us passes the real check and compare: ${c.name}${
      skipReason(REAL_QEMU_IMG, "qemu-img")
    }`,
    {
      ignore: !REAL_QEMU_IMG,
    },
    () => {
      const dir = tempDir();
      try {
        const size = c.size ?? 6 << 20;
        const path = join(dir, "img.qcow2");
        const mirror = new Uint8Array(size);
        const options: CreateOptions = { size, ...c.options };
        if (options.dataFile) options.dataFile = join(dir, options.dataFile);
        if (c.backing) {
          const base = join(dir, "base.qcow2");
          qemuImg(["create", "-q", "-f", "qcow2", base, String(size - (1 << 20))]);
          const b = openImage(base);
          const rng = new Rng(99);
          const data = rng.bytes(3 << 20);
          b.write(512 << 10, data);
          b.close();
          mirror.set(data, 512 << 10);
          options.backingFile = "base.qcow2";
          options.backingFormat = "qcow2";
        }
        createImage(path, "qcow2", options);
        // discard=unmap, so the guest-style discards and unmapping zero writes below take effect.
        const d = openImage(path, { unmap: true }) as Qcow2Driver;
        exercise(d, mirror, new Rng(c.name.length * 7919 + 1), c.compress ?? false);
        const all = new Uint8Array(size);
        d.read(0, all);
        assertBytesEqual(all, mirror, "whole image before close");
        d.close();
        Deno.writeFileSync(join(dir, "mirror.raw"), mirror);
        const check = realCheck(path);
        assert.equal(check.code, 0, JSON.stringify(check.json));
        assert.equal(check.json["leaks"], undefined);
        assert.equal(check.json["corruptions"], undefined);
        const cmp = qemuImg(["compare", "-f", "qcow2", "-F", "raw", path, join(dir, "mirror.raw")], {
          allowFail: true,
        });
        assert.equal(cmp.code, 0, cmp.stdout + cmp.stderr);
        const ours = openImage(path, { readOnly: true });
        const result = ours.check();
        ours.close();
        assert.deepEqual(result.messages, []);
        assert.equal(result.corruptions + result.leaks, 0);
        assert.equal(result.imageEndOffset, check.json["image-end-offset"]);
        assert.equal(result.allocatedClusters, check.json["allocated-clusters"]);
        assert.equal(result.compressedClusters, check.json["compressed-clusters"] ?? 0);
        assert.equal(result.fragmentedClusters, check.json["fragmented-clusters"] ?? 0);
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    },
  );
}
