/**
 * Cluster compression for qcow2 targets, in parallel: workers compress clusters while the main
 * thread reads, writes and compresses its own share (Deno runs node:zlib's zstd on the calling
 * thread, so its async API gives no parallelism). One worker plus the main thread fill the two
 * cores this project targets and keep memory under budget: each worker is a whole V8 isolate
 * (~50 MB). The settings are QEMU's: raw deflate with a 4 KiB window (-12), the default level and
 * memLevel 9; zstd at its default level. Output that would not fit in cluster_size - 1 bytes
 * comes back as null and the caller stores the cluster uncompressed, as QEMU does.
 */
import * as zlib from "node:zlib";

export type CompressionType = "zlib" | "zstd";

export interface Compressed {
  /** The cluster, handed back (its buffer travelled to the worker and back). */
  input: Uint8Array;
  /** Its compressed form, or null when it does not compress enough. */
  output: Uint8Array | null;
}

interface Reply {
  id: number;
  input: ArrayBuffer;
  output: ArrayBuffer | null;
}

const DEFLATE = { windowBits: 12, memLevel: 9, level: zlib.constants.Z_DEFAULT_COMPRESSION };

/** Compresses on this thread; null when the result would not fit in `limit` bytes. */
export function compressSync(type: CompressionType, input: Uint8Array, limit: number): Uint8Array | null {
  const out = type === "zstd"
    ? zlib.zstdCompressSync(input, { pledgedSrcSize: input.length } as zlib.ZstdOptions)
    : zlib.deflateRawSync(input, DEFLATE);
  return out.length > limit ? null : new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export class CompressorPool {
  #workers: Worker[] = [];
  #pending = new Map<number, (r: Compressed) => void>();
  #rejects = new Map<number, (e: Error) => void>();
  #failed: Error | undefined;
  #next = 0;
  #lengths = new Map<number, number>();

  constructor(readonly type: CompressionType, size = 1) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./compress_worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e: MessageEvent<Reply>) => {
        const { id, input, output } = e.data;
        const length = this.#lengths.get(id)!;
        this.#lengths.delete(id);
        const resolve = this.#pending.get(id)!;
        this.#pending.delete(id);
        this.#rejects.delete(id);
        resolve({ input: new Uint8Array(input, 0, length), output: output ? new Uint8Array(output) : null });
      };
      w.onerror = (e) => {
        // A dead worker must fail the copy, not leave it waiting for ever.
        e.preventDefault();
        this.#failed = new Error(`compression worker failed: ${e.message}`);
        for (const reject of this.#rejects.values()) reject(this.#failed);
        this.#pending.clear();
        this.#rejects.clear();
      };
      this.#workers.push(w);
    }
  }

  /**
   * Compresses `input` (whose whole buffer is transferred: the caller must not touch it until
   * the promise resolves and hands it back).
   */
  compress(input: Uint8Array, limit: number): Promise<Compressed> {
    const id = this.#next++;
    const buffer = input.buffer as ArrayBuffer;
    this.#lengths.set(id, input.length);
    return new Promise((resolve, reject) => {
      if (this.#failed) return reject(this.#failed);
      this.#pending.set(id, resolve);
      this.#rejects.set(id, reject);
      this.#workers[id % this.#workers.length].postMessage(
        { id, type: this.type, input: buffer, length: input.length, limit },
        [buffer],
      );
    });
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }
}
