/**
 * The qcow2 header (docs/interop/qcow2.txt): the fixed v2/v3 fields, the header extensions that
 * follow at header_length, and the backing file name, all inside cluster 0. Parsing keeps what it
 * does not understand (header bytes past the known fields, unknown extensions) so that rewriting
 * the header preserves them, as the spec requires. Feature bits are bigints: unknown high bits
 * must survive and be judged, not truncated.
 */
import { ImageError } from "../block_driver.ts";

export const QCOW2_MAGIC = 0x514649fb;
export const V2_HEADER_LENGTH = 72;
/** What QEMU 7.2 writes for v3: 104 bytes of fields plus compression_type and its padding. */
export const V3_HEADER_LENGTH = 112;
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
/** QEMU's limits (block/qcow2.h): QCOW_MAX_L1_SIZE and QCOW_MAX_REFTABLE_SIZE, in bytes. */
export const MAX_L1_BYTES = 32 << 20;
export const MAX_REFTABLE_BYTES = 8 << 20;
export const MAX_BACKING_NAME = 1023;

export const INCOMPAT = {
  dirty: 1n << 0n,
  corrupt: 1n << 1n,
  dataFile: 1n << 2n,
  compression: 1n << 3n,
  extendedL2: 1n << 4n,
} as const;
export const KNOWN_INCOMPAT = 0x1fn;
export const COMPAT_LAZY_REFCOUNTS = 1n;
export const AUTOCLEAR = { bitmaps: 1n, dataFileRaw: 2n } as const;
export const KNOWN_AUTOCLEAR = 3n;

export const EXT = {
  end: 0,
  backingFormat: 0xe2792aca,
  featureTable: 0x6803f857,
  cryptoHeader: 0x0537be77,
  bitmaps: 0x23852875,
  dataFile: 0x44415441,
} as const;

/** The feature name table QEMU 7.2 writes, in its order: [type, bit, name]. */
export const FEATURE_NAMES: [number, number, string][] = [
  [0, 0, "dirty bit"],
  [0, 1, "corrupt bit"],
  [0, 2, "external data file"],
  [0, 3, "compression type"],
  [0, 4, "extended L2 entries"],
  [1, 0, "lazy refcounts"],
  [2, 0, "bitmaps"],
  [2, 1, "raw external data"],
];

export interface BitmapsExtension {
  nbBitmaps: number;
  bitmapDirectorySize: number;
  bitmapDirectoryOffset: number;
}

export interface CryptoExtension {
  offset: number;
  length: number;
}

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  /** Header bytes past the fields we know (offset 105 up to header_length), kept verbatim. */
  extraFields: Uint8Array;
  backingFile?: string;
  backingFormat?: string;
  dataFile?: string;
  /** Feature names the image itself declares, keyed `type:bit`. */
  featureNames: Map<string, string>;
  bitmaps?: BitmapsExtension;
  crypto?: CryptoExtension;
  /** Extensions we do not interpret, kept for rewriting. */
  unknownExtensions: { type: number; data: Uint8Array }[];
}

/** Probe score: QEMU's qcow2_probe claims a file with the magic and version >= 2. */
export function probeQcow2(head: Uint8Array): number {
  if (head.length < 8) return 0;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return v.getUint32(0) === QCOW2_MAGIC && v.getUint32(4) >= 2 ? 100 : 0;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();
const encoder = new TextEncoder();

function u64(v: DataView, off: number): number {
  const x = v.getBigUint64(off);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new ImageError("Image field too large");
  return Number(x);
}

/**
 * Parses cluster 0 (or at least the first `header_length` bytes plus extensions). `fileSize` is
 * used to reject tables that lie past the end of the file. Error texts are QEMU's.
 */
export function parseHeader(buf: Uint8Array, fileSize: number): Qcow2Header {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < V2_HEADER_LENGTH || v.getUint32(0) !== QCOW2_MAGIC) {
    throw new ImageError("Image is not in qcow2 format");
  }
  const version = v.getUint32(4);
  if (version < 2 || version > 3) throw new ImageError(`Unsupported qcow2 version ${version}`);
  const clusterBits = v.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new ImageError(`Unsupported cluster size: 2^${clusterBits}`);
  }
  const clusterSize = 1 << clusterBits;
  const h: Qcow2Header = {
    version: version as 2 | 3,
    backingFileOffset: u64(v, 8),
    backingFileSize: v.getUint32(16),
    clusterBits,
    size: u64(v, 24),
    cryptMethod: v.getUint32(32),
    l1Size: v.getUint32(36),
    l1TableOffset: u64(v, 40),
    refcountTableOffset: u64(v, 48),
    refcountTableClusters: v.getUint32(56),
    nbSnapshots: v.getUint32(60),
    snapshotsOffset: u64(v, 64),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: V2_HEADER_LENGTH,
    compressionType: 0,
    extraFields: new Uint8Array(0),
    featureNames: new Map(),
    unknownExtensions: [],
  };
  if (version === 3) {
    if (buf.length < 104) throw new ImageError("qcow2 header too short");
    h.incompatibleFeatures = v.getBigUint64(72);
    h.compatibleFeatures = v.getBigUint64(80);
    h.autoclearFeatures = v.getBigUint64(88);
    h.refcountOrder = v.getUint32(96);
    h.headerLength = v.getUint32(100);
    if (h.headerLength < 104) throw new ImageError("qcow2 header too short");
    if (h.headerLength > clusterSize) throw new ImageError("qcow2 header exceeds cluster size");
    if (h.headerLength > buf.length) throw new ImageError("qcow2 header too short");
    if (h.headerLength > 104) h.compressionType = buf[104];
    if (h.headerLength > 105) h.extraFields = buf.slice(105, h.headerLength);
  }
  if (h.refcountOrder > 6) {
    throw new ImageError("Reference count entry width too large; may not exceed 64 bits");
  }
  if (h.size > Number.MAX_SAFE_INTEGER / 2) throw new ImageError("Image size too large");
  if (h.backingFileOffset > clusterSize) {
    throw new ImageError("Invalid backing file offset");
  }
  if (h.backingFileOffset && h.backingFileSize > MAX_BACKING_NAME) {
    throw new ImageError("Backing file name too long");
  }
  parseExtensions(h, buf, v, h.backingFileOffset || clusterSize);
  if (h.backingFileOffset && h.backingFileSize) {
    if (h.backingFileOffset + h.backingFileSize > buf.length) {
      throw new ImageError("Invalid backing file offset");
    }
    h.backingFile = utf8.decode(buf.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize));
  }
  validateTables(h, fileSize);
  return h;
}

function parseExtensions(h: Qcow2Header, buf: Uint8Array, v: DataView, end: number): void {
  let off = h.headerLength;
  while (off + 8 <= Math.min(end, buf.length)) {
    const type = v.getUint32(off);
    const len = v.getUint32(off + 4);
    off += 8;
    if (type === EXT.end) return;
    if (off + len > Math.min(end, buf.length)) throw new ImageError("Invalid extension length");
    const data = buf.subarray(off, off + len);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    switch (type) {
      case EXT.backingFormat:
        h.backingFormat = latin1.decode(data);
        break;
      case EXT.dataFile:
        h.dataFile = utf8.decode(data);
        break;
      case EXT.featureTable:
        for (let i = 0; i + 48 <= len; i += 48) {
          const name = latin1.decode(data.subarray(i + 2, i + 48)).replace(/\0.*$/s, "");
          h.featureNames.set(`${data[i]}:${data[i + 1]}`, name);
        }
        break;
      case EXT.bitmaps:
        if (len < 24) throw new ImageError("bitmaps_ext: Invalid extension length");
        h.bitmaps = {
          nbBitmaps: dv.getUint32(0),
          bitmapDirectorySize: u64(dv, 8),
          bitmapDirectoryOffset: u64(dv, 16),
        };
        break;
      case EXT.cryptoHeader:
        if (len !== 16) throw new ImageError("CRYPTO header extension size mismatch");
        h.crypto = { offset: u64(dv, 0), length: u64(dv, 8) };
        break;
      default:
        h.unknownExtensions.push({ type, data: data.slice() });
    }
    off += (len + 7) & ~7;
  }
}

/**
 * The sanity checks qcow2_do_open makes on table placement, with its messages. Like QEMU, a table
 * that lies past the end of the file is not refused here (reads there see zeros; check and the
 * corruption guard report it when it matters); the sizes are bounded so memory stays bounded.
 */
function validateTables(h: Qcow2Header, _fileSize: number): void {
  const cs = 2 ** h.clusterBits;
  const aligned = (x: number) => x % cs === 0;
  if (h.refcountTableClusters * cs > MAX_REFTABLE_BYTES) {
    throw new ImageError("Reference count table too large");
  }
  if (!aligned(h.refcountTableOffset)) throw new ImageError("Reference count table offset invalid");
  if (h.l1Size * 8 > MAX_L1_BYTES) throw new ImageError("Active L1 table too large");
  const l2Bits = h.clusterBits - 3 - ((h.incompatibleFeatures & INCOMPAT.extendedL2) ? 1 : 0);
  const needed = Math.ceil(h.size / 2 ** (h.clusterBits + l2Bits));
  if (h.l1Size < needed) throw new ImageError("L1 table is too small");
  if (!aligned(h.l1TableOffset)) throw new ImageError("Active L1 table offset invalid");
  if (h.nbSnapshots > 65536) throw new ImageError("Too many snapshots");
  if (h.nbSnapshots && !aligned(h.snapshotsOffset)) throw new ImageError("Snapshot table offset invalid");
}

function pad8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * Serialises the header, its extensions (in QEMU's order: backing format, data file, crypto,
 * feature table, bitmaps, unknown ones, end) and the backing name into one cluster-0 image.
 * Updates backingFileOffset/backingFileSize in `h`.
 */
export function serializeHeader(h: Qcow2Header): Uint8Array {
  const cs = 2 ** h.clusterBits;
  const buf = new Uint8Array(cs);
  const v = new DataView(buf.buffer);
  const headerLength = h.version === 2 ? V2_HEADER_LENGTH : Math.max(h.headerLength, 104);
  let off = headerLength;
  const ext = (type: number, data: Uint8Array) => {
    if (off + 8 + pad8(data.length) + 8 > cs) {
      throw new ImageError("Header extensions do not fit in one cluster");
    }
    v.setUint32(off, type);
    v.setUint32(off + 4, data.length);
    buf.set(data, off + 8);
    off += 8 + pad8(data.length);
  };
  if (h.backingFormat) ext(EXT.backingFormat, encoder.encode(h.backingFormat));
  if (h.dataFile) ext(EXT.dataFile, encoder.encode(h.dataFile));
  if (h.crypto) {
    const d = new Uint8Array(16);
    const dv = new DataView(d.buffer);
    dv.setBigUint64(0, BigInt(h.crypto.offset));
    dv.setBigUint64(8, BigInt(h.crypto.length));
    ext(EXT.cryptoHeader, d);
  }
  // QEMU 7.2 writes the (optional) feature name table only with clusters above 4 KiB.
  if (h.version === 3 && cs > 4096) ext(EXT.featureTable, featureTable());
  if (h.bitmaps) {
    const d = new Uint8Array(24);
    const dv = new DataView(d.buffer);
    dv.setUint32(0, h.bitmaps.nbBitmaps);
    dv.setBigUint64(8, BigInt(h.bitmaps.bitmapDirectorySize));
    dv.setBigUint64(16, BigInt(h.bitmaps.bitmapDirectoryOffset));
    ext(EXT.bitmaps, d);
  }
  for (const u of h.unknownExtensions) ext(u.type, u.data);
  off += 8; // end-of-extensions marker, all zeros
  if (h.backingFile) {
    const name = encoder.encode(h.backingFile);
    if (name.length > MAX_BACKING_NAME || off + name.length > cs) {
      throw new ImageError("Backing file name too long");
    }
    buf.set(name, off);
    h.backingFileOffset = off;
    h.backingFileSize = name.length;
    off += name.length;
  } else {
    h.backingFileOffset = 0;
    h.backingFileSize = 0;
  }
  v.setUint32(0, QCOW2_MAGIC);
  v.setUint32(4, h.version);
  v.setBigUint64(8, BigInt(h.backingFileOffset));
  v.setUint32(16, h.backingFileSize);
  v.setUint32(20, h.clusterBits);
  v.setBigUint64(24, BigInt(h.size));
  v.setUint32(32, h.cryptMethod);
  v.setUint32(36, h.l1Size);
  v.setBigUint64(40, BigInt(h.l1TableOffset));
  v.setBigUint64(48, BigInt(h.refcountTableOffset));
  v.setUint32(56, h.refcountTableClusters);
  v.setUint32(60, h.nbSnapshots);
  v.setBigUint64(64, BigInt(h.snapshotsOffset));
  if (h.version === 3) {
    v.setBigUint64(72, h.incompatibleFeatures);
    v.setBigUint64(80, h.compatibleFeatures);
    v.setBigUint64(88, h.autoclearFeatures);
    v.setUint32(96, h.refcountOrder);
    v.setUint32(100, headerLength);
    if (headerLength > 104) buf[104] = h.compressionType;
    buf.set(h.extraFields.subarray(0, Math.max(0, headerLength - 105)), 105);
  }
  return buf.subarray(0, off);
}

function featureTable(): Uint8Array {
  const d = new Uint8Array(FEATURE_NAMES.length * 48);
  FEATURE_NAMES.forEach(([type, bit, name], i) => {
    d[i * 48] = type;
    d[i * 48 + 1] = bit;
    d.set(encoder.encode(name), i * 48 + 2);
  });
  return d;
}

/** The names of unknown incompatible bits, as QEMU's "Unsupported IMGFMT feature(s): ..." lists them. */
export function unknownIncompatibleFeatures(h: Qcow2Header): string {
  const names: string[] = [];
  for (let bit = 0n; bit < 64n; bit++) {
    if ((h.incompatibleFeatures & ~KNOWN_INCOMPAT) & (1n << bit)) {
      names.push(
        h.featureNames.get(`0:${bit}`) ?? `Unknown incompatible feature: ${(1n << bit).toString(16)}`,
      );
    }
  }
  return names.join(", ");
}
