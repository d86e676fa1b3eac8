/**
 * `qemu-img amend -f qcow2 -o ...`: changes options of an existing image in place: compat
 * (1.1 -> 0.10 rewrites zero clusters as unallocated or explicit zeros and drops v3-only features;
 * 0.10 -> 1.1 upgrades the header), lazy_refcounts, and size. Options QEMU cannot amend are
 * refused with its messages.
 */
import { ImageError } from "../block_driver.ts";
import { AUTOCLEAR, COMPAT_LAZY_REFCOUNTS, INCOMPAT, V3_HEADER_LENGTH } from "./header.ts";
import { writeEntry } from "./refcounts.ts";
import type { Qcow2Driver } from "./driver.ts";

export interface AmendOptions {
  compat?: "0.10" | "1.1";
  lazyRefcounts?: boolean;
  size?: number;
  clusterSize?: number;
  compressionType?: "zlib" | "zstd";
  extendedL2?: boolean;
  refcountBits?: number;
  backingFile?: string;
  backingFormat?: string;
  preallocation?: string;
  dataFile?: string;
  dataFileRaw?: boolean;
}

export function amendQcow2(d: Qcow2Driver, o: AmendOptions): void {
  const h = d.header;
  if (o.clusterSize !== undefined && o.clusterSize !== d.clusterSize) {
    throw new ImageError("Changing the cluster size is not supported");
  }
  if (o.compressionType !== undefined && (o.compressionType === "zstd" ? 1 : 0) !== h.compressionType) {
    throw new ImageError("Changing the compression type is not supported");
  }
  if (o.extendedL2 !== undefined && o.extendedL2 !== d.extendedL2) {
    throw new ImageError("Toggling extended L2 entries is not supported");
  }
  if (o.preallocation !== undefined) throw new ImageError("Changing the preallocation mode is not supported");
  if (o.dataFile !== undefined) {
    if (!(h.incompatibleFeatures & INCOMPAT.dataFile)) {
      throw new ImageError("data-file can only be set for images that use an external data file");
    }
    h.dataFile = o.dataFile;
  }
  if (o.dataFileRaw !== undefined) {
    if (!(h.incompatibleFeatures & INCOMPAT.dataFile)) {
      throw new ImageError("data-file-raw cannot be set on existing images");
    }
    h.autoclearFeatures = o.dataFileRaw
      ? h.autoclearFeatures | AUTOCLEAR.dataFileRaw
      : h.autoclearFeatures & ~AUTOCLEAR.dataFileRaw;
  }
  if (o.backingFile !== undefined) {
    h.backingFile = o.backingFile || undefined;
    h.backingFormat = o.backingFormat ?? h.backingFormat;
  } else if (o.backingFormat !== undefined) {
    h.backingFormat = o.backingFormat;
  }
  const target = o.compat ?? (h.version >= 3 ? "1.1" : "0.10");
  const lazy = o.lazyRefcounts ?? (h.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n;
  if (target === "0.10") {
    if (lazy && o.lazyRefcounts) {
      throw new ImageError(
        "Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)",
      );
    }
    if (o.refcountBits !== undefined && o.refcountBits !== 16) {
      throw new ImageError(
        "Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)",
      );
    }
    if (h.version >= 3) downgrade(d);
  } else {
    if (h.version < 3) {
      h.version = 3;
      h.headerLength = V3_HEADER_LENGTH;
      h.extraFields = new Uint8Array(V3_HEADER_LENGTH - 105);
    }
    h.compatibleFeatures = lazy
      ? h.compatibleFeatures | COMPAT_LAZY_REFCOUNTS
      : h.compatibleFeatures & ~COMPAT_LAZY_REFCOUNTS;
    d.refs.lazy = lazy;
  }
  d.writeHeader();
  if (o.refcountBits !== undefined && o.refcountBits !== 2 ** h.refcountOrder) {
    changeRefcountWidth(d, o.refcountBits);
  }
  if (o.size !== undefined && o.size !== d.size) d.resize(o.size, { shrink: true });
  d.flush();
}

/** compat=1.1 -> 0.10: v2 has no zero flag, no feature bits and 16-bit refcounts only. */
function downgrade(d: Qcow2Driver): void {
  const h = d.header;
  if (h.refcountOrder !== 4) {
    throw new ImageError("Cannot downgrade an image with a refcount width other than 16 bits");
  }
  if (h.incompatibleFeatures & INCOMPAT.extendedL2) {
    throw new ImageError("Cannot downgrade an image with extended L2 entries");
  }
  if (h.compressionType !== 0) {
    throw new ImageError("Cannot downgrade an image with a non-zlib compression type");
  }
  if (h.incompatibleFeatures & INCOMPAT.dataFile) {
    throw new ImageError("Cannot downgrade an image with a data file");
  }
  // Zero clusters become explicit: unallocated when nothing shows through, zeros written otherwise.
  const cs = d.clusterSize;
  const zero = new Uint8Array(cs);
  for (let l1i = 0; l1i < d.l1.length; l1i++) {
    if (!d.l1[l1i]) continue;
    for (let j = 0; j < d.l2Entries; j++) {
      const t = d.l2Table(d.l1[l1i]);
      const lo = t.view.getUint32(j * 8 + 4);
      const hi = t.view.getUint32(j * 8);
      if (!(lo & 1) || (hi & 0x40000000)) continue;
      const guest = (l1i * d.l2Entries + j) * cs;
      const len = Math.min(cs, d.size - guest);
      const hasOffset = (hi & 0xffffff) !== 0 || (lo & ~0x1ff) !== 0;
      if (!d.backing && !hasOffset) {
        const w = d.l2Table(d.l1[l1i]);
        w.view.setUint32(j * 8 + 4, 0);
        w.dirty = true;
        continue;
      }
      // Write zeros through the normal path (allocates or reuses the cluster), then drop the flag.
      const w = d.l2Table(d.l1[l1i]);
      w.view.setUint32(j * 8 + 4, lo & ~1);
      w.dirty = true;
      if (!hasOffset || !(hi & 0x80000000)) {
        w.view.setUint32(j * 8, 0);
        w.view.setUint32(j * 8 + 4, 0);
        if (hasOffset) d.refs.freeLater((hi & 0xffffff) * 4294967296 + ((lo & ~0x1ff) >>> 0), 1, "other");
      }
      if (len > 0) d.write(guest, zero.subarray(0, len));
    }
  }
  d.flushMetadata();
  h.version = 2;
  h.incompatibleFeatures = 0n;
  h.compatibleFeatures = 0n;
  h.autoclearFeatures = 0n;
  h.headerLength = 72;
  h.extraFields = new Uint8Array(0);
  d.refs.lazy = false;
}

/**
 * refcount_bits=N on an existing image: the refcounts are rewritten at the new width into a new
 * refcount table and blocks at the end of the file (which count themselves), the header is
 * switched to them, and only then are the old table and blocks released.
 */
function changeRefcountWidth(d: Qcow2Driver, bits: number): void {
  const order = Math.log2(bits);
  if (!Number.isInteger(order) || order < 0 || order > 6) {
    throw new ImageError("Refcount width must be a power of two and may not exceed 64 bits");
  }
  const cs = d.clusterSize;
  d.flushMetadata();
  const old = d.refs;
  const oldTable = Float64Array.from(old.table);
  const oldTableOffset = old.tableOffset;
  const oldTableClusters = old.tableClusters;
  const used = Math.max(old.endCluster, Math.ceil(d.file.size() / cs));
  const max = bits === 64 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
  const entries = (cs * 8) / bits;
  // New blocks and table go at the end; they must also count themselves.
  let blocks = 0;
  let tableClusters = 0;
  for (;;) {
    const b = Math.ceil((used + tableClusters + blocks) / entries);
    const t = Math.ceil((b * 8) / cs);
    if (b === blocks && t === tableClusters) break;
    blocks = b;
    tableClusters = t;
  }
  const tableStart = used;
  const blockStart = used + tableClusters;
  const end = blockStart + blocks;
  const table = new Uint8Array(tableClusters * cs);
  const tv = new DataView(table.buffer);
  const block = new Uint8Array(cs);
  const bv = new DataView(block.buffer);
  for (let b = 0; b < blocks; b++) {
    block.fill(0);
    for (let i = 0; i < entries; i++) {
      const c = b * entries + i;
      if (c >= end) break;
      const rc = c >= used ? 1 : old.get(c);
      if (rc > max) {
        throw new ImageError(
          `Cannot decrease refcount entry width to ${bits} bits: Cluster at offset 0x${
            (c * cs).toString(16)
          } has a refcount of ${rc}`,
        );
      }
      if (rc) writeEntry(bv, block, i, bits, rc);
    }
    d.file.pwrite(block, (blockStart + b) * cs);
    tv.setBigUint64(b * 8, BigInt((blockStart + b) * cs));
  }
  d.file.pwrite(table, tableStart * cs);
  d.file.sync();
  d.header.refcountOrder = order;
  d.header.refcountTableOffset = tableStart * cs;
  d.header.refcountTableClusters = tableClusters;
  d.refs = d.loadRefcounts();
  d.writeHeader();
  d.file.sync();
  // The old structures are garbage now: release them under the new counts.
  // qcow2_change_refcount_order() frees them as QCOW2_DISCARD_OTHER: the host file keeps them.
  for (let c = 0; c < oldTableClusters; c++) d.refs.freeNow(oldTableOffset / cs + c, "other");
  for (const off of oldTable) if (off) d.refs.freeNow(off / cs, "other");
  d.refs.flush();
}
