/**
 * The engine of `qemu-img compare`: walks both images by block status, skips ranges both report
 * as zero, reads and compares the rest in 2 MiB chunks, and checks that whatever only one image
 * has allocated reads as zeros. Mismatches are located to the 512-byte sector, as QEMU reports them.
 */
import type { BlockDriver } from "../block_driver.ts";
import { CHUNK } from "./convert.ts";
import { ScanBuffer, SECTOR } from "./zero.ts";

export interface CompareResult {
  /** 0 identical, 1 different (QEMU's exit statuses). */
  status: 0 | 1;
  /** The lines the real tool prints on stdout, in order. */
  lines: string[];
}

export function compareImages(
  a: BlockDriver,
  b: BlockDriver,
  options: { strict?: boolean; onProgress?: (fraction: number) => void } = {},
): CompareResult {
  const lines: string[] = [];
  const size1 = a.size;
  const size2 = b.size;
  const total = Math.min(size1, size2);
  const base = Math.max(size1, size2);
  if (options.strict && size1 !== size2) {
    return { status: 1, lines: ["Strict mode: Image size mismatch!"] };
  }
  const buf1 = new ScanBuffer(CHUNK);
  const buf2 = new ScanBuffer(CHUNK);
  let offset = 0;
  while (offset < total) {
    const s1 = a.blockStatus(offset, size1 - offset);
    const s2 = b.blockStatus(offset, size2 - offset);
    let chunk = Math.min(s1.length, s2.length);
    // Strict mode compares the whole status word, which includes whether a host offset is known.
    if (
      options.strict &&
      (s1.present !== s2.present || s1.zero !== s2.zero || s1.data !== s2.data ||
        (s1.hostOffset === undefined) !== (s2.hostOffset === undefined))
    ) {
      lines.push(`Strict mode: Offset ${offset} block status mismatch!`);
      return { status: 1, lines };
    }
    if (s1.zero && s2.zero) {
      // Both read as zeros.
    } else if (s1.present === s2.present) {
      if (s1.present) {
        chunk = Math.min(chunk, CHUNK);
        a.read(offset, buf1.bytes.subarray(0, chunk));
        b.read(offset, buf2.bytes.subarray(0, chunk));
        const at = firstDifferentSector(buf1, buf2, chunk);
        if (at >= 0) {
          lines.push(`Content mismatch at offset ${offset + at}!`);
          return { status: 1, lines };
        }
      }
    } else {
      chunk = Math.min(chunk, CHUNK);
      const at = firstNonZeroSector(s1.present ? a : b, offset, chunk, buf1);
      if (at >= 0) {
        lines.push(`Content mismatch at offset ${offset + at}!`);
        return { status: 1, lines };
      }
    }
    offset += chunk;
    options.onProgress?.(offset / base);
  }
  if (size1 !== size2) {
    lines.push("Warning: Image size mismatch!");
    const over = size1 > size2 ? a : b;
    while (offset < base) {
      const s = over.blockStatus(offset, base - offset);
      let chunk = s.length;
      if (s.present && !s.zero) {
        chunk = Math.min(chunk, CHUNK);
        const at = firstNonZeroSector(over, offset, chunk, buf1);
        if (at >= 0) {
          lines.push(`Content mismatch at offset ${offset + at}!`);
          return { status: 1, lines };
        }
      }
      offset += chunk;
      options.onProgress?.(offset / base);
    }
  }
  lines.push("Images are identical.");
  return { status: 0, lines };
}

/** compare_buffers(): the start of the first differing sector, or -1. */
function firstDifferentSector(x: ScanBuffer, y: ScanBuffer, length: number): number {
  const wx = x.words;
  const wy = y.words;
  const words = length >>> 2;
  for (let i = 0; i < words; i++) {
    if (wx[i] !== wy[i]) return (i << 2) - ((i << 2) % SECTOR);
  }
  for (let i = words << 2; i < length; i++) {
    if (x.bytes[i] !== y.bytes[i]) return i - (i % SECTOR);
  }
  return -1;
}

/** find_nonzero() after reading: the start of the first sector holding a non-zero byte, or -1. */
function firstNonZeroSector(bs: BlockDriver, offset: number, length: number, buf: ScanBuffer): number {
  bs.read(offset, buf.bytes.subarray(0, length));
  for (let i = 0; i < length; i += SECTOR) {
    const end = Math.min(i + SECTOR, length);
    if (!buf.isZero(i, end - (end % 4)) || buf.bytes.subarray(end - (end % 4), end).some((v) => v !== 0)) {
      return i;
    }
  }
  return -1;
}
