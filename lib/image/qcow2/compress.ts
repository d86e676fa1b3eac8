/**
 * qcow2 cluster compression: compression_type 0 is raw deflate (RFC 1951, no zlib header, 4 KiB
 * window as QEMU uses), 1 is zstd, both through node:zlib. A compressed cluster sits in
 * 512-byte-sector granules that may hold the start of the next compressed cluster, so reading one
 * must stop where its stream ends: inflate ignores trailing bytes on its own, and for zstd the
 * frame's length is found by walking its block headers (node's zstd refuses trailing bytes).
 *
 * node:zlib is loaded on demand (loadCodecs), not imported: loading Deno's Node layer is most of
 * the start-up time of a metadata-only `qemu-img check` or `info`. The registry (formats.ts) loads
 * it for library users; qemu-img loads it for the subcommands that move guest data.
 */
import type * as Zlib from "node:zlib";
import { ImageError } from "../block_driver.ts";

export const COMPRESSION_ZLIB = 0;
export const COMPRESSION_ZSTD = 1;
export const COMPRESSION_NAMES = ["zlib", "zstd"] as const;

let zlib: typeof Zlib | undefined;

/** Loads the codecs; the compress and decompress functions below need it done first. */
export async function loadCodecs(): Promise<void> {
  zlib ??= await import("node:zlib");
}

function codecs(): typeof Zlib {
  if (!zlib) throw new ImageError("Compressed clusters need the codecs loaded (loadCodecs) first");
  return zlib;
}

/**
 * Compresses one cluster with QEMU's settings: raw deflate with a 4 KiB window (-12), the default
 * level and memLevel 9; zstd at its default level. Returns undefined when the result would not
 * fit in `limit` bytes (by default, be smaller than the cluster), in which case QEMU (and we)
 * store the cluster uncompressed.
 */
export function compressCluster(
  type: number,
  data: Uint8Array,
  limit = data.length - 1,
): Uint8Array | undefined {
  const z = codecs();
  // One output chunk that holds any result (node's default is 16 KiB chunks, then a concatenation):
  // less garbage per cluster, which is what bounds a compressing thread's memory.
  const chunkSize = data.length + 1024;
  const out = type === COMPRESSION_ZSTD
    ? z.zstdCompressSync(data, { pledgedSrcSize: data.length, chunkSize } as Zlib.ZstdOptions)
    : z.deflateRawSync(data, {
      windowBits: 12,
      memLevel: 9,
      level: z.constants.Z_DEFAULT_COMPRESSION,
      chunkSize,
    });
  return out.length <= limit ? new Uint8Array(out.buffer, out.byteOffset, out.length) : undefined;
}

/** The part of node:zlib's stream handle that ClusterCompressor drives (Node's zlib binding). */
interface ZlibHandle {
  reset(): void;
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
}

/**
 * Compresses cluster after cluster on one thread without garbage: one zlib/zstd stream, reset per
 * cluster, writing straight into the caller's buffer (a result that does not fit there does not
 * compress). Each compressSync call allocates a stream and its output chunks, and a
 * thread compressing a 1 GiB image that way carries some 40 MB (2 MiB clusters: much more) of
 * garbage between collections; the compression workers use this instead. The stream handle is
 * node:zlib's internal binding, so where it is missing this falls back to compressCluster.
 */
export class ClusterCompressor {
  #handle: ZlibHandle | undefined;
  #state: Uint32Array | undefined;
  #finish: number;

  constructor(readonly type: number) {
    const z = codecs();
    const stream = (type === COMPRESSION_ZSTD ? z.createZstdCompress() : z.createDeflateRaw({
      windowBits: 12,
      memLevel: 9,
      level: z.constants.Z_DEFAULT_COMPRESSION,
    })) as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array };
    if (typeof stream._handle?.writeSync === "function" && stream._writeState instanceof Uint32Array) {
      this.#handle = stream._handle;
      this.#state = stream._writeState;
    }
    this.#finish = type === COMPRESSION_ZSTD ? z.constants.ZSTD_e_end : z.constants.Z_FINISH;
  }

  /** Compresses data into out; the compressed length, or -1 when it would not fit in out. */
  compressInto(data: Uint8Array, out: Uint8Array): number {
    if (!this.#handle || !this.#state) {
      const packed = compressCluster(this.type, data, out.length);
      if (!packed) return -1;
      out.set(packed);
      return packed.length;
    }
    this.#handle.reset();
    this.#handle.writeSync(this.#finish, data, 0, data.length, out, 0, out.length);
    // [avail_out, avail_in] after the call: room left and all input taken means the stream ended.
    const [availOut, availIn] = this.#state;
    return availOut > 0 && availIn === 0 ? out.length - availOut : -1;
  }
}

/** Decompresses a compressed cluster's bytes into `out` (exactly one cluster). */
export function decompressCluster(type: number, src: Uint8Array, out: Uint8Array): void {
  const z = codecs();
  let result: Uint8Array;
  try {
    if (type === COMPRESSION_ZSTD) {
      result = z.zstdDecompressSync(src.subarray(0, zstdFrameLength(src)));
    } else {
      result = z.inflateRawSync(src, { finishFlush: z.constants.Z_SYNC_FLUSH });
    }
  } catch (e) {
    throw new ImageError(`Could not decompress cluster: ${(e as Error).message}`, { cause: e });
  }
  if (result.length < out.length) {
    throw new ImageError("Could not decompress cluster: stream ended early");
  }
  out.set(result.subarray(0, out.length));
}

/** The length of the zstd frame at the start of src (RFC 8878 section 3.1.1). */
export function zstdFrameLength(src: Uint8Array): number {
  if (src.length < 6 || src[0] !== 0x28 || src[1] !== 0xb5 || src[2] !== 0x2f || src[3] !== 0xfd) {
    throw new ImageError("Could not decompress cluster: not a zstd frame");
  }
  const fhd = src[4];
  const single = (fhd >> 5) & 1;
  const fcsSize = [single, 2, 4, 8][fhd >> 6];
  const dictSize = [0, 1, 2, 4][fhd & 3];
  let off = 5 + (single ? 0 : 1) + dictSize + fcsSize;
  for (;;) {
    if (off + 3 > src.length) throw new ImageError("Could not decompress cluster: truncated zstd frame");
    const header = src[off] | (src[off + 1] << 8) | (src[off + 2] << 16);
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    off += 3 + (type === 1 ? 1 : size);
    if (header & 1) break;
  }
  if (fhd & 4) off += 4;
  if (off > src.length) throw new ImageError("Could not decompress cluster: truncated zstd frame");
  return off;
}
