/**
 * Zero detection on I/O buffers, the hot loop of convert, compare and dd. Buffers are scanned
 * through one Int32Array view made once per buffer, never per call, and a run stops at the first
 * non-zero word, so random data costs one word per sector and only zero runs are read in full.
 */

export const SECTOR = 512;

/** A reusable I/O buffer with a 32-bit view for scanning. */
export class ScanBuffer {
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
  constructor(size: number) {
    this.words = new Int32Array(Math.ceil(size / 4));
    this.bytes = new Uint8Array(this.words.buffer, 0, size);
  }

  /** Whether bytes [start, end) are all zero; start and end are multiples of 4. */
  isZero(start: number, end: number): boolean {
    const w = this.words;
    for (let i = start >>> 2, e = end >>> 2; i < e; i++) if (w[i] !== 0) return false;
    return true;
  }

  /**
   * is_allocated_sectors_min() of qemu-img convert, over bytes [start, start+length) in whole
   * sectors: returns the length of the first run and whether it is data. A leading zero run of
   * any length is reported as zero; after data, zero runs shorter than `minSparse` bytes are
   * swallowed into the data run, as QEMU does so small holes do not fragment the target.
   */
  allocatedRun(start: number, length: number, minSparse: number): { length: number; data: boolean } {
    const end = start + length;
    const first = this.#run(start, end);
    if (!first.data) return first;
    let used = first.length;
    let pos = start + first.length;
    const min = Math.min(minSparse, length);
    while (pos < end) {
      const r = this.#run(pos, end);
      pos += r.length;
      if (r.data) used = pos - start;
      else if (r.length >= min) break;
    }
    return { length: used, data: true };
  }

  /** is_allocated_sectors(): the run of sectors sharing the first sector's zero-ness. */
  #run(start: number, end: number): { length: number; data: boolean } {
    const zero = this.isZero(start, Math.min(start + SECTOR, end));
    let pos = start + SECTOR;
    while (pos < end && this.isZero(pos, Math.min(pos + SECTOR, end)) === zero) pos += SECTOR;
    return { length: Math.min(pos, end) - start, data: !zero };
  }
}
