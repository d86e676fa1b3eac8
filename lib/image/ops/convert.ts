/**
 * The engine of `qemu-img convert`, generic over BlockDriver. It walks the sources (concatenated
 * in order) extent by extent as block status reports them, so unallocated and zero ranges are
 * never read and, on a target that already reads as zeros, never written. Data is read in chunks
 * of one reused 2 MiB buffer and split into data and zero runs (`-S`). With compression, clusters
 * compress on a pool of workers while reading goes on, and are written in guest order through the
 * driver. Memory is bounded by the buffer plus `parallel` clusters in flight.
 */
import type { BlockDriver } from "../block_driver.ts";
import { ImageError } from "../block_driver.ts";
import { compressionOf } from "./capabilities.ts";
import { type CompressionType, CompressorPool, defaultPoolSize } from "./compress.ts";
import { ScanBuffer } from "./zero.ts";

/**
 * convert_co_write() writes zeros with BDRV_REQ_MAY_UNMAP; it takes effect where the target was
 * opened with BDRV_O_UNMAP, which img_convert() asks for unless `-S 0`.
 */
const UNMAP = { mayUnmap: true };

/** QEMU's IO_BUF_SIZE. */
export const CHUNK = 2 << 20;
/** Bound on the bytes of clusters a compressing convert keeps in flight (twice that in shared memory). */
const IN_FLIGHT_BYTES = 4 << 20;

export interface ConvertRequest {
  sources: BlockDriver[];
  target: BlockDriver;
  /** `-c`: write compressed clusters (the target must support writeCompressed). */
  compress?: boolean;
  /** `-S` in bytes: zero runs at least this long are not written; 0 writes everything. */
  minSparse: number;
  /** The target reads as zeros already (a fresh image, or `--target-is-zero`). */
  targetIsZero: boolean;
  /** `-B`: ranges the source's top layer leaves unallocated stay unallocated in the target. */
  targetHasBacking?: boolean;
  /**
   * Flush the target to stable storage at the end. qemu-img convert writes with cache=unsafe
   * unless `-t` says otherwise, so by default it does not.
   */
  sync?: boolean;
  /** `-m`: how many clusters may be compressing at once. */
  parallel?: number;
  /**
   * Called with the fraction done, 0..1, as QEMU counts it: of the bytes that are copied (data,
   * and zeros too when `minSparse` is 0), found by a first pass over block status.
   */
  onProgress?: (fraction: number) => void;
}

type Kind = "data" | "zero" | "backing";

/** What one source extent is, for the copy loop: QEMU's BLK_DATA, BLK_ZERO or BLK_BACKING_FILE. */
function classify(
  src: BlockDriver,
  offset: number,
  length: number,
  targetHasBacking: boolean,
  exact: boolean,
): { kind: Kind; length: number } {
  // Raw block status scans the data for zeros; the copy loop scans what it reads anyway, so
  // reading once is cheaper than asking first. Progress reporting needs the real extents.
  if (!exact && src.format === "raw" && !src.backing) return { kind: "data", length };
  const s = src.blockStatus(offset, length);
  if (targetHasBacking && (s.depth > 0 || !s.present)) return { kind: "backing", length: s.length };
  if (s.zero) return { kind: "zero", length: s.length };
  if (s.data) return { kind: "data", length: s.length };
  return { kind: targetHasBacking ? "backing" : "zero", length: s.length };
}

export async function convert(req: ConvertRequest): Promise<void> {
  const { target, minSparse } = req;
  const compression = req.compress ? compressionOf(target) : undefined;
  if (req.compress && !compression) {
    throw new ImageError("Compression not supported for this file format");
  }
  const writer = compression
    ? new CompressedWriter(target, compression.type, compression.clusterSize, req.parallel ?? 8)
    : undefined;
  const buf = new ScanBuffer(compression ? Math.max(CHUNK, compression.clusterSize) : CHUNK);
  let dstBase = 0;
  let done = 0;
  const counted = (kind: Kind) => kind === "data" || (minSparse === 0 && kind === "zero");
  let toCopy = 0;
  if (req.onProgress) {
    for (const src of req.sources) {
      for (let offset = 0; offset < src.size;) {
        const c = classify(src, offset, src.size - offset, req.targetHasBacking ?? false, true);
        if (counted(c.kind)) toCopy += c.length;
        offset += c.length;
      }
    }
    req.onProgress(0);
  }
  const exact = req.onProgress !== undefined;
  try {
    await copyAll();
  } catch (e) {
    writer?.abort();
    throw e;
  }
  if (writer) await writer.drain();
  if (req.sync) target.flush();

  async function copyAll(): Promise<void> {
    for (const src of req.sources) {
      let offset = 0;
      while (offset < src.size) {
        const want = Math.min(CHUNK, src.size - offset);
        const { kind, length } = classify(src, offset, want, req.targetHasBacking ?? false, exact);
        const dst = dstBase + offset;
        if (kind === "zero") {
          if (!req.targetIsZero) target.writeZeroes(dst, length, UNMAP);
        } else if (kind === "data") {
          src.read(offset, buf.bytes.subarray(0, length));
          if (writer) await writer.put(dst, buf, length, req.targetIsZero);
          else writeRuns(target, dst, buf, length, minSparse, req.targetIsZero);
        }
        offset += length;
        if (req.onProgress && counted(kind)) {
          done += length;
          req.onProgress(toCopy ? done / toCopy : 1);
        }
      }
      dstBase += src.size;
    }
  }
}

/** Writes buf[0, length) to the target at dst, leaving out zero runs of at least minSparse bytes. */
function writeRuns(
  target: BlockDriver,
  dst: number,
  buf: ScanBuffer,
  length: number,
  minSparse: number,
  targetIsZero: boolean,
): void {
  if (minSparse === 0) {
    target.write(dst, buf.bytes.subarray(0, length));
    return;
  }
  let pos = 0;
  while (pos < length) {
    const run = buf.allocatedRun(pos, length - pos, minSparse);
    if (run.data) target.write(dst + pos, buf.bytes.subarray(pos, pos + run.length));
    else if (!targetIsZero) target.writeZeroes(dst + pos, run.length, UNMAP);
    pos += run.length;
  }
}

/**
 * Compresses clusters on the worker pool, with at most `parallel` in flight, and writes them in
 * guest order. Each cluster is copied into a free slot of the pool's shared memory, since the
 * caller reuses its read buffer once put() returns.
 */
class CompressedWriter {
  #free: number[] = [];
  #queue: { dst: number; slot: number; length: number; result: Promise<number> }[] = [];
  #pool: CompressorPool;

  constructor(
    readonly target: BlockDriver,
    readonly type: CompressionType,
    readonly clusterSize: number,
    parallel: number,
  ) {
    // `-m` clusters in flight (at most IN_FLIGHT_BYTES of them with big clusters), and always
    // enough for every worker to have the next one queued while it works on one.
    const size = defaultPoolSize();
    const slots = Math.max(Math.min(parallel, Math.floor(IN_FLIGHT_BYTES / clusterSize)), 2 * size);
    this.#pool = new CompressorPool(type, clusterSize, slots, size);
    for (let i = slots - 1; i >= 0; i--) this.#free.push(i);
  }

  async put(dst: number, buf: ScanBuffer, length: number, targetIsZero: boolean): Promise<void> {
    const cs = this.clusterSize;
    for (let pos = 0; pos < length; pos += cs) {
      const n = Math.min(cs, length - pos);
      const whole = n - (n % 4);
      if (buf.isZero(pos, pos + whole) && buf.bytes.subarray(pos + whole, pos + n).every((b) => b === 0)) {
        if (!targetIsZero) this.target.writeZeroes(dst + pos, n, UNMAP);
        continue;
      }
      if (this.#free.length === 0) await this.#writeOldest();
      const slot = this.#free.pop()!;
      this.#pool.input(slot).set(buf.bytes.subarray(pos, pos + n));
      // A partial last cluster is written plain: QEMU compresses whole clusters only.
      const result = n < cs ? Promise.resolve(-1) : this.#pool.compress(slot, n, cs - 1);
      this.#queue.push({ dst: dst + pos, slot, length: n, result });
    }
  }

  async #writeOldest(): Promise<void> {
    const item = this.#queue.shift()!;
    const packed = await item.result;
    const input = this.#pool.input(item.slot).subarray(0, item.length);
    if (item.length === this.clusterSize) {
      this.target.writeCompressed!(item.dst, input, packed < 0 ? null : this.#pool.output(item.slot, packed));
    } else this.target.write(item.dst, input);
    this.#free.push(item.slot);
  }

  async drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#writeOldest();
    } finally {
      this.#pool.close();
    }
  }

  /** Stops the workers without writing what is queued (the copy failed). */
  abort(): void {
    this.#pool.close();
  }
}
