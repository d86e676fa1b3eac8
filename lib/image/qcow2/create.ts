/**
 * `qemu-img create -f qcow2`: lays out a fresh image exactly as QEMU 7.2 does for the default
 * case: header and extensions in cluster 0, a one-cluster refcount table at cluster 1, the first
 * refcount block at cluster 2 (counting clusters 0-3), and the L1 table at cluster 3, written only
 * as long as its entries (the file of a 1 GiB default image is 196624 bytes). Larger metadata
 * goes through the ordinary allocator after that. Errors are QEMU's texts (the CLI prefixes
 * `qemu-img: FILE: `).
 */
import { type CreateOptions, ImageError } from "../block_driver.ts";
import { HostFile } from "../host_file.ts";
import {
  AUTOCLEAR,
  COMPAT_LAZY_REFCOUNTS,
  INCOMPAT,
  MAX_CLUSTER_BITS,
  MIN_CLUSTER_BITS,
  type Qcow2Header,
  serializeHeader,
  V2_HEADER_LENGTH,
  V3_HEADER_LENGTH,
} from "./header.ts";
import { writeEntry } from "./refcounts.ts";
import type { Qcow2Driver } from "./driver.ts";

const V3_HINT = "(use version=v3 or greater)";

/** Validates options with QEMU's messages and returns the header of the empty image. */
export function qcow2CreateHeader(o: CreateOptions): Qcow2Header {
  const cs = o.clusterSize ?? 65536;
  const bits = Math.log2(cs);
  if (!Number.isInteger(bits) || bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS) {
    throw new ImageError("Cluster size must be a power of two between 512 and 2048k");
  }
  const v3 = (o.compat ?? "1.1") !== "0.10";
  const refcountBits = o.refcountBits ?? 16;
  const order = Math.log2(refcountBits);
  if (!Number.isInteger(order) || order < 0 || order > 6) {
    throw new ImageError("Refcount width must be a power of two and may not exceed 64 bits");
  }
  if (!v3 && refcountBits !== 16) {
    throw new ImageError(
      `Different refcount widths than 16 bits require compatibility level 1.1 or above ${V3_HINT}`,
    );
  }
  if (!v3 && o.lazyRefcounts) {
    throw new ImageError(`Lazy refcounts only supported with compatibility level 1.1 and above ${V3_HINT}`);
  }
  const zstd = o.compressionType === "zstd";
  if (!v3 && zstd) {
    throw new ImageError(
      `Non-zlib compression type is only supported with compatibility level 1.1 and above ${V3_HINT}`,
    );
  }
  if (o.extendedL2) {
    if (!v3) {
      throw new ImageError(
        `Extended L2 entries are only supported with compatibility level 1.1 and above ${V3_HINT}`,
      );
    }
    if (cs < 16384) {
      throw new ImageError(
        "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes",
      );
    }
  }
  if (o.dataFileRaw && !o.dataFile) throw new ImageError("data-file-raw requires data-file");
  if (o.dataFile && o.backingFile && o.dataFileRaw) {
    throw new ImageError("Backing file and data-file-raw cannot be used at the same time");
  }
  if (o.backingFile && (o.preallocation ?? "off") !== "off" && !o.extendedL2) {
    throw new ImageError(
      "Backing file and preallocation can only be used at the same time if extended_l2 is on",
    );
  }
  if (o.backingFormat && !o.backingFile) {
    throw new ImageError("Backing format cannot be used without backing file");
  }
  let incompat = 0n;
  if (zstd) incompat |= INCOMPAT.compression;
  if (o.extendedL2) incompat |= INCOMPAT.extendedL2;
  if (o.dataFile) {
    if (!v3) {
      throw new ImageError(
        `External data files are only supported with compatibility level 1.1 and above ${V3_HINT}`,
      );
    }
    incompat |= INCOMPAT.dataFile;
  }
  return {
    version: v3 ? 3 : 2,
    backingFileOffset: 0,
    backingFileSize: 0,
    clusterBits: bits,
    size: o.size,
    cryptMethod: 0,
    l1Size: 0,
    l1TableOffset: 0, // placed when the image grows to its size (none for a 0-byte image)
    refcountTableOffset: cs,
    refcountTableClusters: 1,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatibleFeatures: incompat,
    compatibleFeatures: o.lazyRefcounts ? COMPAT_LAZY_REFCOUNTS : 0n,
    autoclearFeatures: o.dataFileRaw ? AUTOCLEAR.dataFileRaw : 0n,
    refcountOrder: order,
    headerLength: v3 ? V3_HEADER_LENGTH : V2_HEADER_LENGTH,
    compressionType: zstd ? 1 : 0,
    extraFields: new Uint8Array(v3 ? V3_HEADER_LENGTH - 105 : 0),
    backingFile: o.backingFile,
    backingFormat: o.backingFile ? o.backingFormat : undefined,
    dataFile: o.dataFile,
    featureNames: new Map(),
    unknownExtensions: [],
  };
}

export function createQcow2(
  path: string,
  o: CreateOptions,
  reopen: (path: string, readOnly: boolean) => Qcow2Driver,
): void {
  // qcow2_co_create_opts() rounds the size up to whole 512-byte sectors (the Formatting line
  // still shows it as given).
  o = { ...o, size: Math.ceil(o.size / 512) * 512 };
  const h = qcow2CreateHeader(o);
  const cs = 2 ** h.clusterBits;
  if (o.dataFile) {
    // The data file is a raw image of the guest size (QEMU creates it through the raw driver).
    // Like QEMU 7.2, by the name as given (relative to the working directory, not the image).
    const data = HostFile.create(o.dataFile);
    try {
      data.truncate(o.size);
      if (o.size > 0) data.pwrite(new Uint8Array(Math.min(o.size, 4096)), 0);
    } finally {
      data.close();
    }
  }
  const file = HostFile.create(path);
  try {
    // As QEMU does, the image is born empty and then grown to its size.
    const head = new Uint8Array(cs);
    head.set(serializeHeader({ ...h, size: 0 }));
    file.pwrite(head, 0);
    const table = new Uint8Array(cs);
    new DataView(table.buffer).setBigUint64(0, BigInt(2 * cs));
    file.pwrite(table, cs);
    const block = new Uint8Array(cs);
    const bv = new DataView(block.buffer);
    const bits = 1 << h.refcountOrder;
    for (let c = 0; c < 3; c++) writeEntry(bv, block, c, bits, 1);
    file.pwrite(block, 2 * cs);
  } finally {
    file.close();
  }
  const driver = reopen(path, false);
  try {
    const l2Entries = cs / (o.extendedL2 ? 16 : 8);
    const l1Size = Math.ceil(o.size / (cs * l2Entries));
    if (l1Size * 8 > 32 << 20) throw new ImageError("Could not resize image: File too large");
    driver.header.size = o.size;
    if (l1Size > 0) driver.replaceL1(new Float64Array(l1Size), new Uint8Array(l1Size));
    else driver.writeHeader();
    const mode = o.preallocation ?? "off";
    if (mode !== "off") driver.preallocate(0, o.size, mode);
    driver.flushMetadata();
  } finally {
    driver.close();
  }
}
