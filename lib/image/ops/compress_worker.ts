/**
 * A compression worker: Deno runs node:zlib's deflate and zstd on the calling thread (its async
 * API included), so the convert engine spreads clusters over a pool of these to use every core.
 * Each message carries one cluster, transferred not copied; the reply transfers it back with its
 * compressed form, or null when that would not fit in `limit` bytes.
 */
import { compressCluster, loadCodecs } from "../qcow2/compress.ts";

interface Job {
  id: number;
  type: number;
  input: ArrayBuffer;
  length: number;
  limit: number;
}

/** The worker's global scope, typed as a worker's (Deno types `self` as a window). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent<Job>) => void;
  postMessage(message: unknown, transfer: Transferable[]): void;
};

await loadCodecs();

scope.onmessage = (e: MessageEvent<Job>) => {
  const { id, type, input, length, limit } = e.data;
  const out = compressCluster(type, new Uint8Array(input, 0, length), limit);
  if (!out) {
    scope.postMessage({ id, input, output: null }, [input]);
    return;
  }
  const output = (out.buffer as ArrayBuffer).slice(out.byteOffset, out.byteOffset + out.length);
  scope.postMessage({ id, input, output }, [input, output]);
};
