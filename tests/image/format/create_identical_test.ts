/**
 * `qemu-img create -f qcow2` byte for byte: for each option set, our createImage writes the same
 * file as QEMU 7.2 (header, extensions, feature table, refcount table and blocks, L1 placement,
 * file length, preallocated L2 tables).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REAL_QEMU_IMG, skipReason } from "../../support/tools.ts";
import { createImage, type CreateOptions } from "../../../lib/image/mod.ts";
import { qemuImg, tempDir } from "./helpers.ts";

const GiB = 2 ** 30;
const VARIANTS: [string, string, Omit<CreateOptions, "size">, number?][] = [
  ["default", "", {}],
  ["compat=0.10", "compat=0.10", { compat: "0.10" }],
  ["extended_l2", "extended_l2=on", { extendedL2: true }],
  ["zstd", "compression_type=zstd", { compressionType: "zstd" }],
  ["lazy_refcounts", "lazy_refcounts=on", { lazyRefcounts: true }],
  ["refcount_bits=1", "refcount_bits=1", { refcountBits: 1 }],
  ["refcount_bits=64", "refcount_bits=64", { refcountBits: 64 }],
  ["cluster_size=512", "cluster_size=512", { clusterSize: 512 }],
  ["cluster_size=512,refcount_bits=2", "cluster_size=512,refcount_bits=2", {
    clusterSize: 512,
    refcountBits: 2,
  }],
  ["cluster_size=4k", "cluster_size=4096", { clusterSize: 4096 }],
  ["cluster_size=2M", "cluster_size=2M", { clusterSize: 2 << 20 }],
  ["preallocation=metadata", "preallocation=metadata", { preallocation: "metadata" }, 256 << 20],
  ["preallocation=metadata,cluster_size=4k", "preallocation=metadata,cluster_size=4096", {
    preallocation: "metadata",
    clusterSize: 4096,
  }, 64 << 20],
  ["size 0", "", {}, 0],
  ["odd size", "", {}, 12345 * 512],
];

/** The first differing byte of two files (-1 when equal), compared 1 MiB at a time. */
function firstDifference(a: string, b: string): number {
  const fa = Deno.openSync(a);
  const fb = Deno.openSync(b);
  try {
    if (fa.statSync().size !== fb.statSync().size) return -2;
    const ba = new Uint8Array(1 << 20);
    const bb = new Uint8Array(1 << 20);
    const wa = new Uint32Array(ba.buffer);
    const wb = new Uint32Array(bb.buffer);
    for (let pos = 0;; pos += ba.length) {
      ba.fill(0);
      bb.fill(0);
      const n = fa.readSync(ba) ?? 0;
      fb.readSync(bb);
      if (n === 0) return -1;
      for (let i = 0; i < wa.length; i++) {
        if (wa[i] !== wb[i]) return pos + i * 4;
      }
    }
  } finally {
    fa.close();
    fb.close();
  }
}

for (const [name, opts, options, size] of VARIANTS) {
  Deno.test(`qcow2 create is byte-identical to QEMU 7.2: ${name}${skipReason(REAL_QEMU_IMG, "qemu-img")}`, {
    ignore: !REAL_QEMU_IMG,
  }, () => {
    const dir = tempDir();
    try {
      const bytes = size ?? GiB;
      qemuImg([
        "create",
        "-q",
        "-f",
        "qcow2",
        ...(opts ? ["-o", opts] : []),
        join(dir, "real.qcow2"),
        String(bytes),
      ]);
      createImage(join(dir, "ours.qcow2"), "qcow2", { size: bytes, ...options });
      assert.equal(firstDifference(join(dir, "ours.qcow2"), join(dir, "real.qcow2")), -1);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test(`qcow2 create with a backing file is byte-identical${skipReason(REAL_QEMU_IMG, "qemu-img")}`, {
  ignore: !REAL_QEMU_IMG,
}, () => {
  const dir = tempDir();
  try {
    qemuImg(["create", "-q", "-f", "qcow2", join(dir, "base.qcow2"), "1G"]);
    qemuImg(["create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", join(dir, "real.qcow2")]);
    createImage(join(dir, "ours.qcow2"), "qcow2", {
      size: GiB,
      backingFile: "base.qcow2",
      backingFormat: "qcow2",
    });
    assert.deepEqual(Deno.readFileSync(join(dir, "ours.qcow2")), Deno.readFileSync(join(dir, "real.qcow2")));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
