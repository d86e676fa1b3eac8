/**
 * `qemu-img amend -f qcow2 -o ...`: changes options of an existing image in place: compat
 * (1.1 -> 0.10 rewrites zero clusters as unallocated or explicit zeros and drops v3-only features;
 * 0.10 -> 1.1 upgrades the header), lazy_refcounts, and size. Options QEMU cannot amend are
 * refused with its messages.
 */
import { ImageError } from "../block_driver.ts";
import { COMPAT_LAZY_REFCOUNTS, INCOMPAT, V3_HEADER_LENGTH } from "./header.ts";
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
  if (o.dataFile !== undefined) throw new ImageError("Cannot change data-file");
  if (o.refcountBits !== undefined && o.refcountBits !== 2 ** h.refcountOrder) {
    throw new ImageError("Changing the refcount width is not supported by this qemu-img");
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
        "Lazy refcounts only supported with compatibility level 1.1 and above (use version=v3 or greater)",
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
        if (hasOffset) d.refs.freeLater((hi & 0xffffff) * 4294967296 + ((lo & ~0x1ff) >>> 0));
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
