/**
 * A compression worker: Deno runs node:zlib's deflate and zstd on the calling thread (its async
 * API included), so the convert engine spreads clusters over a pool of these to use every core.
 * The first message maps the pool's shared slots; each later one names a slot whose input this
 * worker compresses into the slot's output area, answering with the length (-1: does not fit).
 */
import { ClusterCompressor, loadCodecs } from "../qcow2/compress.ts";

interface Init {
  type: number;
  clusterSize: number;
  inputs: SharedArrayBuffer;
  outputs: SharedArrayBuffer;
}

interface Job {
  id: number;
  slot: number;
  length: number;
  limit: number;
}

/** The worker's global scope, typed as a worker's (Deno types `self` as a window). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent<Init | Job>) => void;
  postMessage(message: unknown): void;
};

// The handler is in place before the codecs load, so no message can arrive unhandled; each waits
// for them (in arrival order: promise reactions run first-in first-out).
const ready = loadCodecs();
let pool: Init | undefined;
let compressor: ClusterCompressor | undefined;

scope.onmessage = async (e: MessageEvent<Init | Job>) => {
  await ready;
  if ("inputs" in e.data) {
    pool = e.data;
    compressor = new ClusterCompressor(pool.type);
    return;
  }
  const { id, slot, length, limit } = e.data;
  const cs = pool!.clusterSize;
  const input = new Uint8Array(pool!.inputs, slot * cs, length);
  const output = new Uint8Array(pool!.outputs, slot * cs, limit);
  scope.postMessage({ id, length: compressor!.compressInto(input, output) });
};
