/**
 * The engine of safe `qemu-img rebase`: for every range the image leaves to its backing file,
 * compares what the old backing chain and the new one read there, and writes the old contents
 * into the image wherever they differ, so the guest sees the same disk after the switch. Only
 * the differing sectors are written. Then the header names the new backing file.
 */
import type { BlockDriver } from "../block_driver.ts";
import { CHUNK } from "./convert.ts";
import { ScanBuffer, SECTOR } from "./zero.ts";

export interface RebaseRequest {
  image: BlockDriver;
  /** The current backing chain (undefined when the image has none). */
  oldBacking?: BlockDriver;
  /** The new backing chain (undefined to rebase onto nothing). */
  newBacking?: BlockDriver;
  onProgress?: (fraction: number) => void;
}

export function rebaseCopy(req: RebaseRequest): void {
  const { image, oldBacking, newBacking } = req;
  const bufOld = new ScanBuffer(CHUNK);
  const bufNew = new ScanBuffer(CHUNK);
  let offset = 0;
  while (offset < image.size) {
    const s = image.blockStatus(offset, Math.min(CHUNK, image.size - offset));
    const n = s.length;
    if (!(s.present && s.depth === 0)) {
      readBacking(oldBacking, offset, bufOld.bytes.subarray(0, n));
      readBacking(newBacking, offset, bufNew.bytes.subarray(0, n));
      for (let pos = 0; pos < n;) {
        const same = sectorsEqual(bufOld.words, bufNew.words, pos, n);
        let end = pos + SECTOR;
        while (end < n && sectorsEqual(bufOld.words, bufNew.words, end, n) === same) end += SECTOR;
        end = Math.min(end, n);
        if (!same) image.write(offset + pos, bufOld.bytes.subarray(pos, end));
        pos = end;
      }
    }
    offset += n;
    req.onProgress?.(offset / image.size);
  }
}

/** Reads a backing chain, with zeros past its end. */
function readBacking(bs: BlockDriver | undefined, offset: number, out: Uint8Array): void {
  out.fill(0);
  if (!bs || offset >= bs.size) return;
  bs.read(offset, out.subarray(0, Math.min(out.length, bs.size - offset)));
}

function sectorsEqual(a: Int32Array, b: Int32Array, pos: number, limit: number): boolean {
  const end = Math.min(pos + SECTOR, limit) >>> 2;
  for (let i = pos >>> 2; i < end; i++) if (a[i] !== b[i]) return false;
  // A tail shorter than a word: compare through the byte views.
  const tail = Math.min(pos + SECTOR, limit);
  if (tail % 4 !== 0) {
    const ab = new Uint8Array(a.buffer);
    const bb = new Uint8Array(b.buffer);
    for (let i = tail - (tail % 4); i < tail; i++) if (ab[i] !== bb[i]) return false;
  }
  return true;
}
