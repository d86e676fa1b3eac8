/**
 * A compression worker: Deno runs node:zlib's zstd (and, under load, deflate) on the calling
 * thread, so the convert engine spreads clusters over these workers to use every core. Each
 * message carries one cluster, transferred not copied; the reply transfers it back with its
 * compressed form, or null when that would not fit in `limit` bytes.
 */
import * as zlib from "node:zlib";

interface Job {
  id: number;
  type: "zlib" | "zstd";
  input: ArrayBuffer;
  length: number;
  limit: number;
}

const DEFLATE = { windowBits: 12, memLevel: 9, level: zlib.constants.Z_DEFAULT_COMPRESSION };

/** The worker's global scope, typed as a worker's (Deno types `self` as a window). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent<Job>) => void;
  postMessage(message: unknown, transfer: Transferable[]): void;
};

scope.onmessage = (e: MessageEvent<Job>) => {
  const { id, type, input, length, limit } = e.data;
  const data = new Uint8Array(input, 0, length);
  const out = type === "zstd"
    ? zlib.zstdCompressSync(data, { pledgedSrcSize: length } as zlib.ZstdOptions)
    : zlib.deflateRawSync(data, DEFLATE);
  if (out.length > limit) {
    scope.postMessage({ id, input, output: null }, [input]);
    return;
  }
  const output = (out.buffer as ArrayBuffer).slice(out.byteOffset, out.byteOffset + out.length);
  scope.postMessage({ id, input, output }, [input, output]);
};
