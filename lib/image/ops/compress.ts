/**
 * Cluster compression for qcow2 targets, off the main thread: node:zlib's asynchronous deflateRaw
 * and zstdCompress run on the thread pool, so several clusters compress at once while the caller
 * keeps reading. The settings are QEMU's: raw deflate with a 4 KiB window (-12), the default level
 * and memLevel 9; zstd at its default level. Output that would not fit in cluster_size - 1 bytes
 * is reported as incompressible, and the caller stores the cluster uncompressed as QEMU does.
 */
import * as zlib from "node:zlib";

export type CompressionType = "zlib" | "zstd";

const DEFLATE_OPTIONS: zlib.ZlibOptions = {
  windowBits: 12,
  memLevel: 9,
  level: zlib.constants.Z_DEFAULT_COMPRESSION,
};

/** Compresses one cluster; resolves to undefined when the result would not fit in `limit` bytes. */
export function compressCluster(
  type: CompressionType,
  data: Uint8Array,
  limit: number,
): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, out: Uint8Array) => {
      if (err) reject(err);
      else resolve(out.length <= limit ? out : undefined);
    };
    if (type === "zstd") zlib.zstdCompress(data, done);
    else zlib.deflateRaw(data, DEFLATE_OPTIONS, done);
  });
}
