/**
 * Persistent dirty bitmaps (the bitmaps extension): the bitmap directory is parsed so `info` can
 * report the bitmaps and `check` can count the clusters they own. We do not maintain bitmap
 * contents: before our first write to an image, every bitmap is flagged in_use (QEMU's own
 * "inconsistent" marker), so no tool trusts a bitmap our writes made stale, while its clusters
 * stay accounted for.
 *
 * Directory entry: bitmap_table_offset u64, bitmap_table_size u32, flags u32 (bit 0 in_use,
 * bit 1 auto, bit 2 extra_data_compatible), type u8, granularity_bits u8, name_size u16,
 * extra_data_size u32, extra data, name, padding to 8 bytes. A table entry holds a data cluster
 * offset in bits 9-55.
 */
import { ImageError } from "../block_driver.ts";
import type { HostFile } from "../host_file.ts";

export const BME_FLAG_IN_USE = 1;
export const BME_FLAG_AUTO = 2;

export interface BitmapEntry {
  /** Offset of the entry inside the directory (for rewriting its flags). */
  entryOffset: number;
  tableOffset: number;
  tableSize: number;
  flags: number;
  granularityBits: number;
  name: string;
}

const MAX_DIRECTORY = 64 << 20;

export function readBitmapDirectory(
  file: HostFile,
  offset: number,
  size: number,
  count: number,
): BitmapEntry[] {
  if (size > MAX_DIRECTORY) throw new ImageError("Bitmap directory is too large");
  const buf = new Uint8Array(size);
  file.pread(buf, offset);
  const v = new DataView(buf.buffer);
  const out: BitmapEntry[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 24 > size) throw new ImageError("Bitmap directory is invalid");
    const nameSize = v.getUint16(off + 18);
    const extra = v.getUint32(off + 20);
    const len = 24 + extra + nameSize;
    if (off + len > size) throw new ImageError("Bitmap directory is invalid");
    out.push({
      entryOffset: off,
      tableOffset: Number(v.getBigUint64(off)),
      tableSize: v.getUint32(off + 8),
      flags: v.getUint32(off + 12),
      granularityBits: buf[off + 17],
      name: new TextDecoder().decode(buf.subarray(off + 24 + extra, off + len)),
    });
    off += (len + 7) & ~7;
  }
  return out;
}

/** Calls `ref(offset, bytes)` for the directory, each bitmap table and each data cluster. */
export function bitmapReferences(
  file: HostFile,
  dirOffset: number,
  dirSize: number,
  entries: BitmapEntry[],
  ref: (offset: number, bytes: number) => void,
): void {
  ref(dirOffset, dirSize);
  for (const e of entries) {
    ref(e.tableOffset, e.tableSize * 8);
    const table = new Uint8Array(e.tableSize * 8);
    file.pread(table, e.tableOffset);
    const v = new DataView(table.buffer);
    for (let i = 0; i < e.tableSize; i++) {
      const hi = v.getUint32(i * 8) & 0x00ffffff;
      const lo = v.getUint32(i * 8 + 4) & ~0x1ff;
      const off = hi * 4294967296 + (lo >>> 0);
      if (off) ref(off, 1);
    }
  }
}

/** The `bitmaps` list of `info`'s format-specific data, in QEMU's key order. */
export function bitmapInfo(entries: BitmapEntry[]): Record<string, unknown>[] {
  return entries.map((e) => {
    const flags: string[] = [];
    if (e.flags & BME_FLAG_IN_USE) flags.push("in-use");
    if (e.flags & BME_FLAG_AUTO) flags.push("auto");
    return { flags, name: e.name, granularity: 2 ** e.granularityBits };
  });
}

/** Sets in_use on every bitmap, in place in the directory. */
export function markBitmapsInUse(file: HostFile, dirOffset: number, entries: BitmapEntry[]): void {
  const b = new Uint8Array(4);
  const v = new DataView(b.buffer);
  for (const e of entries) {
    if (e.flags & BME_FLAG_IN_USE) continue;
    e.flags |= BME_FLAG_IN_USE;
    v.setUint32(0, e.flags);
    file.pwrite(b, dirOffset + e.entryOffset + 12);
  }
}
