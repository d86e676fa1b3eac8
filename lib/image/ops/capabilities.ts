/**
 * The optional BlockDriver operations the engines need, found on a driver whichever of the
 * seam's names it implements (the qcow2 driver predates some of them), with the fallbacks QEMU
 * itself uses: emptying an image is discarding all of it, changing the backing file is an amend.
 */
import type { BlockDriver, CreateOptions } from "../block_driver.ts";
import { ImageError } from "../block_driver.ts";
import type { CompressionType } from "./compress.ts";

interface LegacyNames {
  createSnapshot?(name: string, now?: number): void;
  applySnapshot?(idOrName: string): void;
  deleteSnapshot?(idOrName: string): void;
  compressionType?: number;
  clusterSize?: number;
}

const legacy = (bs: BlockDriver) => bs as BlockDriver & LegacyNames;

export function snapshotCreate(bs: BlockDriver, name: string, nowMs: number): boolean {
  if (bs.snapshotCreate) {
    bs.snapshotCreate(name, { dateSec: Math.floor(nowMs / 1000), dateNsec: (nowMs % 1000) * 1e6 });
  } else if (legacy(bs).createSnapshot) legacy(bs).createSnapshot!(name, nowMs);
  else return false;
  return true;
}

export function snapshotApply(bs: BlockDriver, idOrName: string): boolean {
  const fn = bs.snapshotApply?.bind(bs) ?? legacy(bs).applySnapshot?.bind(bs);
  if (!fn) return false;
  fn(idOrName);
  return true;
}

export function snapshotDelete(bs: BlockDriver, idOrName: string): boolean {
  const fn = bs.snapshotDelete?.bind(bs) ?? legacy(bs).deleteSnapshot?.bind(bs);
  if (!fn) return false;
  fn(idOrName);
  return true;
}

/** Points the header at a new backing file (undefined: none), without touching data. */
export function changeBackingFile(
  bs: BlockDriver,
  filename: string | undefined,
  format: string | undefined,
): void {
  if (bs.changeBackingFile) return bs.changeBackingFile(filename, format);
  if (!bs.amend) throw new ImageError("Operation not supported");
  const change: Partial<CreateOptions> = { backingFile: filename ?? "", backingFormat: format };
  bs.amend(change);
}

/** bdrv_make_empty(): the layer keeps no data of its own afterwards. */
export function makeEmpty(bs: BlockDriver): void {
  if (bs.makeEmpty) return bs.makeEmpty();
  bs.discard(0, bs.size);
}

/** The target's compression settings, when it can store compressed clusters. */
export function compressionOf(bs: BlockDriver): { clusterSize: number; type: CompressionType } | undefined {
  if (!bs.writeCompressed) return undefined;
  if (bs.compression) return bs.compression;
  const l = legacy(bs);
  if (l.clusterSize === undefined || l.compressionType === undefined) return undefined;
  return { clusterSize: l.clusterSize, type: l.compressionType === 1 ? "zstd" : "zlib" };
}
