/**
 * Cluster compression for qcow2 targets on a pool of workers: Deno runs node:zlib on the calling
 * thread even through its async API, so parallelism needs Workers. The main thread only reads,
 * dispatches and writes; each job goes to the worker with the fewest clusters queued.
 *
 * Clusters travel through shared memory: a fixed number of slots, each with an input and an
 * output area of one cluster, in two SharedArrayBuffers every worker maps. The main thread copies
 * a cluster into a free slot, a worker compresses it into the slot's output area and answers with
 * the length, and the main thread writes straight from there. Nothing is allocated per cluster,
 * so memory stays at the slots plus each isolate's fixed cost (a worker is a whole V8 isolate with
 * its own Node layer, 10 to 20 MB): one worker a core, at most four (QEMU's qcow2 compresses on up
 * to four threads too). The settings are QEMU's (qcow2/compress.ts).
 */
import { COMPRESSION_NAMES } from "../qcow2/compress.ts";

export type CompressionType = "zlib" | "zstd";

/** A worker's answer: the compressed length in the slot's output area, or -1 (does not compress). */
interface Reply {
  id: number;
  length: number;
}

interface Job {
  worker: number;
  resolve: (length: number) => void;
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
  readonly #inputs: SharedArrayBuffer;
  readonly #outputs: SharedArrayBuffer;

  constructor(
    type: CompressionType,
    readonly clusterSize: number,
    readonly slots: number,
    readonly size = defaultPoolSize(),
  ) {
    this.#inputs = new SharedArrayBuffer(slots * clusterSize);
    this.#outputs = new SharedArrayBuffer(slots * clusterSize);
    const init = {
      type: COMPRESSION_NAMES.indexOf(type),
      clusterSize,
      inputs: this.#inputs,
      outputs: this.#outputs,
    };
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./compress_worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e: MessageEvent<Reply>) => {
        const job = this.#jobs.get(e.data.id)!;
        this.#jobs.delete(e.data.id);
        this.#load[job.worker]--;
        job.resolve(e.data.length);
      };
      w.onerror = (e) => {
        // A dead worker must fail the copy, not leave it waiting for ever.
        e.preventDefault();
        this.#failed = new Error(`compression worker failed: ${e.message}`);
        for (const job of this.#jobs.values()) job.reject(this.#failed);
        this.#jobs.clear();
      };
      w.postMessage(init);
      this.#workers.push(w);
      this.#load.push(0);
    }
  }

  /** Where the caller puts a cluster to compress. */
  input(slot: number): Uint8Array {
    return new Uint8Array(this.#inputs, slot * this.clusterSize, this.clusterSize);
  }

  /** The compressed bytes of the slot's last job. */
  output(slot: number, length: number): Uint8Array {
    return new Uint8Array(this.#outputs, slot * this.clusterSize, length);
  }

  /**
   * Compresses the first `length` bytes of the slot's input; resolves to the compressed length,
   * or -1 when it would not fit in `limit` bytes. The slot is the caller's until then.
   */
  compress(slot: number, length: number, limit: number): Promise<number> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      if (this.#failed) return reject(this.#failed);
      let worker = 0;
      for (let i = 1; i < this.#load.length; i++) if (this.#load[i] < this.#load[worker]) worker = i;
      this.#load[worker]++;
      this.#jobs.set(id, { worker, resolve, reject });
      this.#workers[worker].postMessage({ id, slot, length, limit });
    });
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }
}
