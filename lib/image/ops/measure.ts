/**
 * The engine of `qemu-img measure`: how big a new image would be, by QEMU's formulas
 * (qcow2_measure, qcow2_calc_prealloc_size, qcow2_refcount_metadata_size, raw_measure), counting
 * the source's data clusters from block status.
 */
import type { BlockDriver, CreateOptions } from "../block_driver.ts";
import { ImageError } from "../block_driver.ts";

export interface MeasureResult {
  required: number;
  fullyAllocated: number;
  /** Present when both formats support persistent bitmaps (qcow2 v3 from qcow2 v3). */
  bitmaps?: number;
}

const divUp = (a: number, b: number) => Math.ceil(a / b);
const roundUp = (a: number, b: number) => divUp(a, b) * b;

/** The fixed point where refcount blocks and table cover every cluster, themselves included. */
export function refcountMetadataSize(clusters: number, clusterSize: number, refcountOrder: number): number {
  const perTableCluster = clusterSize / 8;
  const perBlock = (clusterSize * 8) / (1 << refcountOrder);
  let table = 0;
  let blocks = 0;
  let n = 0;
  let last;
  do {
    last = n;
    blocks = divUp(clusters + table + blocks, perBlock);
    table = divUp(blocks, perTableCluster);
    n = clusters + blocks + table;
  } while (n !== last);
  return (blocks + table) * clusterSize;
}

/** Size of a fully preallocated qcow2 image of `size` bytes: header, L2s, L1, refcounts, data. */
export function qcow2PreallocSize(
  size: number,
  clusterSize: number,
  refcountOrder: number,
  extendedL2: boolean,
): number {
  const aligned = roundUp(size, clusterSize);
  const l2e = extendedL2 ? 16 : 8;
  let meta = clusterSize;
  const nl2e = roundUp(aligned / clusterSize, clusterSize / l2e);
  meta += nl2e * l2e;
  const nl1e = roundUp((nl2e * l2e) / clusterSize, clusterSize / 8);
  meta += nl1e * 8;
  meta += refcountMetadataSize((meta + aligned) / clusterSize, clusterSize, refcountOrder);
  return meta + aligned;
}

/** Bytes of the source holding data, each extent rounded out to whole clusters as qcow2_measure counts them. */
function dataBytes(src: BlockDriver, clusterSize: number): number {
  // Without SEEK_DATA, a raw file with every block allocated is all data, as the real tool sees it.
  const rawFull = src.format === "raw" && !src.backing && src.info().actualSize >= src.size;
  let required = 0;
  for (let offset = 0, pnum = 0; offset < src.size; offset += pnum) {
    if (rawFull) {
      pnum = roundUp(src.size, clusterSize) - offset;
      required += pnum;
      continue;
    }
    const s = src.blockStatus(offset, src.size - offset);
    pnum = s.length;
    if (!s.zero && s.data && s.present) {
      pnum = roundUp(offset + pnum, clusterSize) - offset;
      required += (offset % clusterSize) + pnum;
    }
  }
  return required;
}

export function measure(
  format: string,
  options: Partial<CreateOptions>,
  src: BlockDriver | undefined,
): MeasureResult {
  if (format === "raw") {
    const required = src ? src.size : roundUp(options.size ?? 0, 512);
    return { required, fullyAllocated: required };
  }
  if (format !== "qcow2") throw new ImageError(`Format driver '${format}' does not support measure`);
  const clusterSize = options.clusterSize ?? 65536;
  const extendedL2 = options.extendedL2 ?? false;
  const refcountBits = options.refcountBits ?? 16;
  const v3 = (options.compat ?? "1.1") === "1.1";
  const prealloc = options.preallocation ?? "off";
  let virtualSize = roundUp(options.size ?? 0, clusterSize);
  const l2Entry = extendedL2 ? 16 : 8;
  if (divUp(virtualSize / clusterSize, clusterSize / l2Entry) * 8 > 32 << 20) {
    throw new ImageError("The image size is too large (try using a larger cluster size)");
  }
  // Without a source only preallocated data counts; metadata is in fully-allocated already.
  let required = prealloc === "falloc" || prealloc === "full" ? virtualSize : 0;
  if (src) {
    virtualSize = roundUp(src.size, clusterSize);
    required = prealloc === "off" || prealloc === "metadata" ? dataBytes(src, clusterSize) : virtualSize;
  }
  const fullyAllocated = qcow2PreallocSize(virtualSize, clusterSize, Math.log2(refcountBits), extendedL2);
  const result: MeasureResult = { required: fullyAllocated - virtualSize + required, fullyAllocated };
  // bdrv_supports_persistent_dirty_bitmap(): a qcow2 source of version 3 (compat=1.1) only.
  if (v3 && src && src.format === "qcow2" && src.info().formatSpecific?.data.compat === "1.1") {
    result.bitmaps = 0;
  }
  return result;
}
