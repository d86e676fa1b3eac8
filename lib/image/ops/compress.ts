/**
 * Cluster compression for qcow2 targets on a pool of workers: Deno runs node:zlib on the calling
 * thread even through its async API, so parallelism needs Workers. The main thread only reads,
 * dispatches and writes; each job goes to the worker with the fewest clusters queued. A worker is
 * a whole V8 isolate with its own Node layer (10 to 20 MB), so the pool is small: one worker a
 * core, at most four (QEMU's qcow2 compresses on up to four threads too). The settings are QEMU's
 * (qcow2/compress.ts); output that would not fit in `limit` bytes comes back as null and the
 * caller stores the cluster uncompressed, as QEMU does.
 */
import { COMPRESSION_NAMES } from "../qcow2/compress.ts";

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

interface Job {
  length: number;
  worker: number;
  resolve: (r: Compressed) => void;
  reject: (e: Error) => void;
}

/** One worker a core, at most four. */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

export class CompressorPool {
  #workers: Worker[] = [];
  /** Clusters queued on each worker. */
  #load: number[] = [];
  #jobs = new Map<number, Job>();
  #failed: Error | undefined;
  #next = 0;
  readonly #type: number;

  constructor(type: CompressionType, readonly size = defaultPoolSize()) {
    this.#type = COMPRESSION_NAMES.indexOf(type);
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./compress_worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e: MessageEvent<Reply>) => {
        const { id, input, output } = e.data;
        const job = this.#jobs.get(id)!;
        this.#jobs.delete(id);
        this.#load[job.worker]--;
        job.resolve({
          input: new Uint8Array(input, 0, job.length),
          output: output ? new Uint8Array(output) : null,
        });
      };
      w.onerror = (e) => {
        // A dead worker must fail the copy, not leave it waiting for ever.
        e.preventDefault();
        this.#failed = new Error(`compression worker failed: ${e.message}`);
        for (const job of this.#jobs.values()) job.reject(this.#failed);
        this.#jobs.clear();
      };
      this.#workers.push(w);
      this.#load.push(0);
    }
  }

  /** Clusters handed out and not yet back. */
  get inFlight(): number {
    return this.#jobs.size;
  }

  /**
   * Compresses `input` (whose whole buffer is transferred: the caller must not touch it until
   * the promise resolves and hands it back).
   */
  compress(input: Uint8Array, limit: number): Promise<Compressed> {
    const id = this.#next++;
    const buffer = input.buffer as ArrayBuffer;
    return new Promise((resolve, reject) => {
      if (this.#failed) return reject(this.#failed);
      let worker = 0;
      for (let i = 1; i < this.#load.length; i++) if (this.#load[i] < this.#load[worker]) worker = i;
      this.#load[worker]++;
      this.#jobs.set(id, { length: input.length, worker, resolve, reject });
      this.#workers[worker].postMessage(
        { id, type: this.#type, input: buffer, length: input.length, limit },
        [buffer],
      );
    });
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }
}
