/**
 * The qcow2 BlockDriver: guest reads and writes through the two-level L1/L2 mapping, with
 * copy-on-write of shared clusters and tables, zero clusters (v3), extended L2 subclusters,
 * compressed clusters, backing files, the dirty bit for lazy_refcounts and the corrupt bit.
 *
 * L2 entries are handled as two 32-bit halves (hi, lo) so no BigInt is made per access:
 * hi bit 31 = COPIED, hi bit 30 = compressed, lo bit 0 = reads-as-zero, bits 9-55 = host offset.
 *
 * Crash ordering: guest data is written before the L2 entry that maps it; refcount increments
 * reach the disk before the L2/L1 entries that reference the clusters (flushMetadata writes
 * refcount blocks, then L2 tables, then L1, then applies the decrements those tables made possible,
 * then the header). A process killed at any point leaves at worst leaked clusters, which
 * `check -r leaks` reclaims.
 */
import {
  type BlockDriver,
  type BlockStatus,
  type CheckResult,
  type CreateOptions,
  ImageError,
  type ImageInfo,
  type OpenOptions,
  type ResizeOptions,
  type SnapshotInfo,
} from "../block_driver.ts";
import { HostFile } from "../host_file.ts";
import {
  AUTOCLEAR,
  COMPAT_LAZY_REFCOUNTS,
  INCOMPAT,
  KNOWN_AUTOCLEAR,
  KNOWN_INCOMPAT,
  parseHeader,
  type Qcow2Header,
  serializeHeader,
  unknownIncompatibleFeatures,
  V3_HEADER_LENGTH,
} from "./header.ts";
import { discardPassthrough, type DiscardType, hex, Refcounts } from "./refcounts.ts";
import { compressCluster, COMPRESSION_NAMES, COMPRESSION_ZSTD, decompressCluster } from "./compress.ts";
import {
  parseSnapshotTable,
  type Qcow2Snapshot,
  serializeSnapshotTable,
  snapshotTableLength,
} from "./snapshot_table.ts";
import { checkImage } from "./check.ts";
import * as snapshots from "./snapshots.ts";
import { createQcow2 } from "./create.ts";
import { type AmendOptions, amendQcow2 } from "./amend.ts";
import { type BitmapEntry, bitmapInfo, markBitmapsInUse, readBitmapDirectory } from "./bitmaps.ts";

export const COPIED_HI = 0x80000000;
export const COMPRESSED_HI = 0x40000000;
export const ZERO_LO = 1;
/** Offset bits 9-55 of an entry, from its halves. */
export function entryOffset(hi: number, lo: number): number {
  const high = hi & 0x00ffffff; // zero below 4 GiB, which then needs no floating-point product
  return high ? high * 4294967296 + ((lo & ~0x1ff) >>> 0) : (lo & ~0x1ff) >>> 0;
}

/** Bytes of L2 tables the cache holds (at least 4 tables): 16 MiB maps 128 GiB at 64 KiB clusters. */
const L2_CACHE_BYTES = 16 << 20;
/** Apply pending refcount decrements once this many are waiting. */
const MAX_PENDING_FREES = 4096;

export const enum ClusterType {
  Unallocated,
  Zero,
  Normal,
  Compressed,
}

interface L2Table {
  offset: number;
  data: Uint8Array;
  view: DataView;
  dirty: boolean;
}

export type BackingOpener = (name: string, format: string | undefined, readOnly: boolean) => BlockDriver;

export class Qcow2Driver implements BlockDriver {
  readonly format = "qcow2";
  header: Qcow2Header;
  readonly file: HostFile;
  readonly clusterSize: number;
  readonly clusterBits: number;
  readonly extendedL2: boolean;
  /** Bytes per L2 entry (8, or 16 with extended L2). */
  readonly entryBytes: number;
  readonly l2Entries: number;
  readonly subclusterSize: number;
  refs: Refcounts;
  /** The active L1 table, as raw entries split into offset and COPIED flag. */
  l1: Float64Array;
  l1Copied: Uint8Array;
  snapshotList: Qcow2Snapshot[];
  /** Bytes the snapshot table occupies. */
  snapshotsSize = 0;
  backing?: BlockDriver;
  /** Where guest data lives: the external data file when there is one, else the image file. */
  data: HostFile;
  /** Persistent bitmaps, when the bitmaps extension is present and consistent (autoclear bit 0). */
  bitmaps: BitmapEntry[] = [];
  #l2Cache = new Map<number, L2Table>();
  #l1Dirty = false;
  #headerDirty = false;
  #markedDirty = false;
  #closed = false;
  /** Inside withVmStateArea: requests may reach past the disk's end (savevm's vm-state, vmstate.ts). */
  #vmStateArea = false;
  /** Results of the last lookup (no allocation per lookup). */
  #hi = 0;
  #lo = 0;
  #bmHi = 0;
  #bmLo = 0;
  /** One-cluster scratch buffers and the last decompressed cluster. */
  #cow: Uint8Array;
  #cbuf: Uint8Array;
  #cbufHost = -1;
  #zeroCluster: Uint8Array;

  private constructor(file: HostFile, header: Qcow2Header, readonly openOptions: OpenOptions) {
    this.file = file;
    this.header = header;
    this.clusterBits = header.clusterBits;
    // A shift, not 2 **: sizes that are small integers stay unboxed in V8, where a double field
    // would make every read of it in not-yet-optimized code allocate (check runs only such code).
    this.clusterSize = 1 << header.clusterBits;
    this.extendedL2 = (header.incompatibleFeatures & INCOMPAT.extendedL2) !== 0n;
    this.entryBytes = this.extendedL2 ? 16 : 8;
    this.l2Entries = this.clusterSize / this.entryBytes;
    this.subclusterSize = this.extendedL2 ? this.clusterSize / 32 : this.clusterSize;
    this.refs = this.loadRefcounts();
    const l1Raw = new Uint8Array(header.l1Size * 8);
    file.pread(l1Raw, header.l1TableOffset);
    const v = new DataView(l1Raw.buffer);
    this.l1 = new Float64Array(header.l1Size);
    this.l1Copied = new Uint8Array(header.l1Size);
    for (let i = 0; i < header.l1Size; i++) {
      const hi = v.getUint32(i * 8);
      this.l1[i] = entryOffset(hi, v.getUint32(i * 8 + 4));
      this.l1Copied[i] = hi >>> 31;
    }
    this.snapshotList = [];
    this.data = file;
    this.#cow = new Uint8Array(this.clusterSize);
    this.#cbuf = new Uint8Array(this.clusterSize);
    this.#zeroCluster = new Uint8Array(this.clusterSize);
  }

  static create(path: string, options: CreateOptions): void {
    createQcow2(
      path,
      options,
      (p, ro) => Qcow2Driver.open(p, { readOnly: ro, openBacking: false }, noBacking),
    );
  }

  /** `opened`: the host file, already open as `options` ask (the registry probed through it). */
  static open(
    path: string,
    options: OpenOptions,
    openBacking: BackingOpener,
    opened?: HostFile,
  ): Qcow2Driver {
    const readOnly = options.readOnly ?? false;
    const file = opened ?? HostFile.open(path, readOnly, options.forceShare, options.againstOwn);
    let driver: Qcow2Driver | undefined;
    try {
      const fileSize = file.size();
      // The header, its extensions and the backing name all live in cluster 0: read the field
      // giving its size first, then just that cluster (up to 2 MiB). Past the end of the file it
      // reads as zeros, as QEMU's reads do, so a truncated header fails (or not) as QEMU's does.
      let head = new Uint8Array(512);
      file.pread(head, 0);
      const cb = new DataView(head.buffer).getUint32(20);
      if (cb >= 9 && cb <= 21 && 2 ** cb > head.length) {
        head = new Uint8Array(2 ** cb);
        file.pread(head, 0);
      }
      const header = parseHeader(head, fileSize);
      if (header.incompatibleFeatures & ~KNOWN_INCOMPAT) {
        throw new ImageError(`Unsupported qcow2 feature(s): ${unknownIncompatibleFeatures(header)}`);
      }
      if (header.cryptMethod !== 0) {
        throw new ImageError("Encrypted images are not supported by this qemu-img");
      }

      if ((header.incompatibleFeatures & INCOMPAT.corrupt) && !readOnly && !options.forCheck) {
        throw new ImageError("qcow2: Image is corrupt; cannot be opened read/write");
      }
      if (header.refcountTableClusters === 0 && !options.forCheck) {
        throw new ImageError("Image does not contain a reference count table");
      }
      if ((header.incompatibleFeatures & INCOMPAT.compression) && header.compressionType === 0) {
        throw new ImageError("qcow2: Compression type incompatible feature bit must not be set");
      }
      if (!(header.incompatibleFeatures & INCOMPAT.compression) && header.compressionType !== 0) {
        throw new ImageError("qcow2: Compression type incompatible feature bit must be set");
      }
      if (header.compressionType > 1) {
        throw new ImageError(`qcow2: unknown compression type: ${header.compressionType}`);
      }
      if ((header.incompatibleFeatures & INCOMPAT.extendedL2) && header.clusterBits < 14) {
        throw new ImageError(
          "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes",
        );
      }
      driver = new Qcow2Driver(file, header, options);
      if (header.incompatibleFeatures & INCOMPAT.dataFile) {
        if (!header.dataFile) throw new ImageError("'data-file' is required for this image");
        // QEMU 7.2 opens the data file by its name as stored, relative to the working directory.
        try {
          driver.data = HostFile.open(header.dataFile, readOnly, options.forceShare);
        } catch (e) {
          throw new ImageError(`Could not open data file: ${(e as Error).message}`, { cause: e });
        }
      }
      driver.#loadSnapshots();
      const bm = header.bitmaps;
      if (bm && (header.autoclearFeatures & AUTOCLEAR.bitmaps) && bm.nbBitmaps) {
        driver.bitmaps = readBitmapDirectory(
          file,
          bm.bitmapDirectoryOffset,
          bm.bitmapDirectorySize,
          bm.nbBitmaps,
        );
      }
      if (header.backingFile && options.openBacking !== false) {
        driver.backing = openBacking(header.backingFile, header.backingFormat, true);
      }
      if (!readOnly) driver.#openWritable();
      return driver;
    } catch (e) {
      driver?.backing?.close();
      if (driver && driver.data !== file) driver.data.close();
      file.close();
      throw e;
    }
  }

  #loadSnapshots(): void {
    const h = this.header;
    if (!h.nbSnapshots) return;
    // Entries are variable-length: read generously, bounded by what the file holds.
    // QEMU's QCOW_MAX_SNAPSHOTS_SIZE bounds the table (and our memory) at 64 MiB.
    // (Past the end of the file it reads zeros, as QEMU's reads do.)
    const avail = Math.min(h.nbSnapshots * (40 + 1024 + 65536 * 2 + 8), 64 << 20);
    const buf = new Uint8Array(Math.max(0, avail));
    this.file.pread(buf, h.snapshotsOffset);
    this.snapshotList = parseSnapshotTable(buf, h.nbSnapshots, h.size);
    this.snapshotsSize = snapshotTableLength(this.snapshotList);
    for (const s of this.snapshotList) {
      if (s.l1TableOffset % this.clusterSize !== 0) throw new ImageError("Snapshot L1 table offset invalid");
      if (s.l1Size * 8 > 32 << 20) throw new ImageError("Snapshot L1 table too large");
    }
  }

  /** On a read-write open: repair a dirty image (as QEMU does) and clear unknown autoclear bits. */
  #openWritable(): void {
    const h = this.header;
    if ((h.incompatibleFeatures & INCOMPAT.dirty) && !this.openOptions.forCheck) {
      const result = checkImage(this, "all");
      if (result.failed || result.corruptions > result.corruptionsFixed) {
        throw new ImageError("Could not repair dirty image: Input/output error");
      }
      h.incompatibleFeatures &= ~INCOMPAT.dirty;
      this.writeHeader();
      this.file.sync();
    }
    if (h.autoclearFeatures & ~KNOWN_AUTOCLEAR) {
      h.autoclearFeatures &= KNOWN_AUTOCLEAR;
      this.writeHeader();
    }
  }

  /** The refcount structures as the header describes them, wired to this driver. */
  loadRefcounts(): Refcounts {
    const h = this.header;
    const refs = new Refcounts(
      this.file,
      h.clusterBits,
      h.refcountOrder,
      h.refcountTableOffset,
      h.refcountTableClusters,
    );
    refs.onTableMoved = (offset, clusters) => {
      this.header.refcountTableOffset = offset;
      this.header.refcountTableClusters = clusters;
      this.writeHeader();
    };
    refs.lazy = (h.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n;
    refs.passDiscard = discardPassthrough(this.openOptions.unmap ?? false);
    refs.beforeAlloc = () => this.flushMetadata();
    refs.overlapCheck = (cluster, n, appending) => {
      const what = this.metadataAt(cluster, n, appending);
      if (what) {
        this.corruption(
          `Preventing invalid allocation of ${n} cluster(s) at offset ${hex(cluster * this.clusterSize)} ` +
            `(overlaps with ${what})`,
        );
      }
    };
    return refs;
  }

  get filename(): string {
    return this.file.path;
  }
  get size(): number {
    return this.header.size;
  }
  get readOnly(): boolean {
    return this.file.readOnly;
  }
  get compressionType(): number {
    return this.header.compressionType;
  }
  get corrupt(): boolean {
    return (this.header.incompatibleFeatures & INCOMPAT.corrupt) !== 0n;
  }

  // ---- metadata access -------------------------------------------------------------------------

  /** Writes the header cluster from `header` and the current table positions. */
  writeHeader(): void {
    const h = this.header;
    h.l1Size = this.l1.length;
    h.refcountTableOffset = this.refs.tableOffset;
    h.refcountTableClusters = this.refs.tableClusters;
    h.nbSnapshots = this.snapshotList.length;
    const bytes = serializeHeader(h);
    const cluster = new Uint8Array(this.clusterSize);
    cluster.set(bytes);
    this.file.pwrite(cluster, 0);
    this.#headerDirty = false;
  }

  /** The L2 table at a host offset, through the cache. */
  l2Table(offset: number): L2Table {
    let t = this.#l2Cache.get(offset);
    if (t) {
      this.#l2Cache.delete(offset);
      this.#l2Cache.set(offset, t);
      return t;
    }
    const data = new Uint8Array(this.clusterSize);
    this.file.pread(data, offset);
    t = { offset, data, view: new DataView(data.buffer), dirty: false };
    this.#cacheL2(t);
    return t;
  }

  #cacheL2(t: L2Table): void {
    this.#l2Cache.set(t.offset, t);
    const max = Math.max(4, L2_CACHE_BYTES / this.clusterSize);
    if (this.#l2Cache.size <= max) return;
    for (const [off, e] of this.#l2Cache) {
      if (this.#l2Cache.size <= max) break;
      if (e.dirty) {
        // The refcounts of the clusters it references must be on disk first.
        if (!this.refs.lazy) this.refs.flush();
        this.file.pwrite(e.data, e.offset);
      }
      this.#l2Cache.delete(off);
    }
  }

  /** Forgets cached L2 tables (after check/snapshot code rewrote them on disk). */
  dropL2Cache(): void {
    this.#l2Cache.clear();
  }

  /** Which metadata structure (QEMU's names) clusters [cluster, cluster+n) overlap, if any. */
  metadataAt(cluster: number, n: number, appending = false): string | undefined {
    const cs = this.clusterSize;
    const hits = (offset: number, bytes: number) =>
      bytes > 0 && offset < (cluster + n) * cs && offset + bytes > cluster * cs;
    if (cluster === 0) return "qcow2_header";
    if (hits(this.header.l1TableOffset, this.l1.length * 8)) return "active L1 table";
    if (hits(this.refs.tableOffset, this.refs.tableClusters * cs)) return "refcount table";
    if (hits(this.header.snapshotsOffset, this.snapshotsSize)) return "snapshot table";
    for (const s of this.snapshotList) if (hits(s.l1TableOffset, s.l1Size * 8)) return "inactive L1 table";
    // Past the end of everything in use only tables the checks above cover can lie; the
    // per-entry scans are for runs reusing space inside the image.
    if (appending) return undefined;
    for (let i = 0; i < this.l1.length; i++) if (this.l1[i] && hits(this.l1[i], cs)) return "active L2 table";
    const t = this.refs.table;
    for (let i = 0; i < t.length; i++) if (t[i] && hits(t[i], cs)) return "refcount block";
    return undefined;
  }

  /** Signals inconsistent metadata: sets the corrupt bit (when writable) and throws EIO. */
  corruption(message: string): never {
    if (!this.readOnly && !this.corrupt) {
      this.header.incompatibleFeatures |= INCOMPAT.corrupt;
      try {
        this.writeHeader();
        this.file.sync();
      } catch { /* the error below is what matters */ }
    }
    throw new ImageError(
      `qcow2: Marking image as corrupt: ${message}; further corruption events will be suppressed`,
    );
  }

  #validL2Offset(l2: number, l1Index: number): void {
    if (l2 % this.clusterSize !== 0) {
      this.corruption(`L2 table offset ${hex(l2)} unaligned (L1 index: ${hex(l1Index)})`);
    }
    // A table past the end of the file is not refused: as in QEMU, reading it past the end
    // yields zeros, so its clusters read as unallocated.
  }

  /**
   * Looks up a guest cluster: sets #hi/#lo (and the subcluster bitmap halves) and returns its
   * type. Unallocated when the L1 or L2 entry is empty.
   */
  #lookup(cluster: number): ClusterType {
    const l1Index = Math.floor(cluster / this.l2Entries);
    this.#hi =
      this.#lo =
      this.#bmHi =
      this.#bmLo =
        0;
    if (l1Index >= this.l1.length) return ClusterType.Unallocated;
    const l2 = this.l1[l1Index];
    if (!l2) return ClusterType.Unallocated;
    let t = this.#l2Cache.get(l2);
    if (!t) {
      this.#validL2Offset(l2, l1Index);
      t = this.l2Table(l2);
    }
    const at = (cluster % this.l2Entries) * this.entryBytes;
    const hi = (this.#hi = t.view.getUint32(at));
    const lo = (this.#lo = t.view.getUint32(at + 4));
    if (this.extendedL2) {
      this.#bmHi = t.view.getUint32(at + 8);
      this.#bmLo = t.view.getUint32(at + 12);
    }
    return this.#classify(hi, lo);
  }

  #classify(hi: number, lo: number): ClusterType {
    if (hi & COMPRESSED_HI) return ClusterType.Compressed;
    // With an external data file, guest cluster 0 lives at host offset 0: COPIED marks it allocated.
    const allocated = entryOffset(hi, lo) !== 0 || ((hi & COPIED_HI) !== 0 && this.data !== this.file);
    if (this.extendedL2) return allocated ? ClusterType.Normal : ClusterType.Unallocated;
    if (lo & ZERO_LO) return ClusterType.Zero;
    return allocated ? ClusterType.Normal : ClusterType.Unallocated;
  }

  /** Host byte offset and byte length of the compressed cluster in the last lookup. */
  compressedExtent(hi: number, lo: number): [number, number] {
    const x = 62 - (this.clusterBits - 8);
    const v = (BigInt(hi & 0x3fffffff) << 32n) | BigInt(lo >>> 0);
    const offset = Number(v & ((1n << BigInt(x)) - 1n));
    const sectors = Number(v >> BigInt(x)) + 1;
    return [offset, sectors * 512 - (offset & 511)];
  }

  #checkHost(host: number, cluster: number): void {
    if (host % this.clusterSize !== 0) {
      this.corruption(
        `Cluster allocation offset ${hex(host)} unaligned (guest offset: ${hex(cluster * this.clusterSize)})`,
      );
    }
  }

  // ---- reads -----------------------------------------------------------------------------------

  read(offset: number, buf: Uint8Array): void {
    this.#checkRange(offset, buf.length);
    const cs = this.clusterSize;
    let pos = 0;
    while (pos < buf.length) {
      const guest = offset + pos;
      const cluster = Math.floor(guest / cs);
      const inCluster = guest - cluster * cs;
      let n = Math.min(cs - inCluster, buf.length - pos);
      const type = this.#lookup(cluster);
      if (this.extendedL2 && type !== ClusterType.Compressed) {
        this.#readSubclusters(cluster, inCluster, buf.subarray(pos, pos + n));
      } else if (type === ClusterType.Normal) {
        const host = entryOffset(this.#hi, this.#lo);
        this.#checkHost(host, cluster);
        // Extend over following clusters that continue contiguously on the host: one pread.
        while (pos + n < buf.length && (inCluster + n) % cs === 0) {
          const next = cluster + (inCluster + n) / cs;
          if (this.#lookup(next) !== ClusterType.Normal) break;
          if (entryOffset(this.#hi, this.#lo) !== host - inCluster + (next - cluster) * cs) break;
          n += Math.min(cs, buf.length - pos - n);
        }
        this.data.pread(buf.subarray(pos, pos + n), host + inCluster);
      } else if (type === ClusterType.Compressed) {
        this.#readCompressed(this.#hi, this.#lo);
        buf.set(this.#cbuf.subarray(inCluster, inCluster + n), pos);
      } else if (type === ClusterType.Zero) {
        buf.fill(0, pos, pos + n);
      } else {
        this.#readBacking(guest, buf.subarray(pos, pos + n));
      }
      pos += n;
    }
  }

  #readSubclusters(cluster: number, inCluster: number, out: Uint8Array): void {
    const sc = this.subclusterSize;
    const host = entryOffset(this.#hi, this.#lo);
    const alloc = this.#bmLo >>> 0;
    const zero = this.#bmHi >>> 0;
    let pos = 0;
    while (pos < out.length) {
      const at = inCluster + pos;
      const idx = Math.floor(at / sc);
      const n = Math.min(sc * (idx + 1) - at, out.length - pos);
      if (alloc & (1 << idx)) {
        this.#checkHost(host, cluster);
        this.data.pread(out.subarray(pos, pos + n), host + at);
      } else if (zero & (1 << idx)) {
        out.fill(0, pos, pos + n);
      } else {
        this.#readBacking(cluster * this.clusterSize + at, out.subarray(pos, pos + n));
      }
      pos += n;
    }
  }

  #readCompressed(hi: number, lo: number): void {
    const [host, len] = this.compressedExtent(hi, lo);
    if (host === this.#cbufHost) return;
    const src = new Uint8Array(len);
    this.file.pread(src, host);
    this.#cbufHost = -1;
    decompressCluster(this.header.compressionType, src, this.#cbuf);
    this.#cbufHost = host;
  }

  #readBacking(guest: number, out: Uint8Array): void {
    const b = this.backing;
    if (!b || guest >= b.size) {
      out.fill(0);
      return;
    }
    const n = Math.min(out.length, b.size - guest);
    b.read(guest, out.subarray(0, n));
    if (n < out.length) out.fill(0, n);
  }

  /** Reads guest cluster `cluster` whole into `out`, whatever backs it (for copy-on-write). */
  #readCluster(cluster: number, out: Uint8Array): void {
    const cs = this.clusterSize;
    const len = Math.min(cs, this.size - cluster * cs);
    if (len < cs) out.fill(0, Math.max(0, len));
    if (len > 0) this.read(cluster * cs, out.subarray(0, len));
  }

  // ---- writes ----------------------------------------------------------------------------------

  #beginWrite(): void {
    if (this.readOnly) throw new ImageError("Block node is read-only");
    if (this.corrupt) throw new ImageError("qcow2: Image is corrupt; cannot be written to");
    if (this.refs.lazy && !this.#markedDirty && !(this.header.incompatibleFeatures & INCOMPAT.dirty)) {
      this.header.incompatibleFeatures |= INCOMPAT.dirty;
      this.writeHeader();
      this.file.sync();
    }
    if (!this.#markedDirty && this.bitmaps.length && this.header.bitmaps) {
      markBitmapsInUse(this.file, this.header.bitmaps.bitmapDirectoryOffset, this.bitmaps);
    }
    this.#markedDirty = true;
    this.#cbufHost = -1;
  }

  /**
   * The L2 table for a guest cluster, ready to be modified: allocated when missing, copied when
   * shared with a snapshot (L1 entry without COPIED).
   */
  #l2ForWrite(cluster: number): L2Table {
    const l1Index = Math.floor(cluster / this.l2Entries);
    if (l1Index >= this.l1.length) throw new ImageError("Write beyond the L1 table");
    const old = this.l1[l1Index];
    if (old && this.l1Copied[l1Index]) {
      const t = this.l2Table(old);
      return t;
    }
    if (old) this.#validL2Offset(old, l1Index);
    const offset = this.refs.alloc(1);
    const data = new Uint8Array(this.clusterSize);
    if (old) {
      data.set(this.l2Table(old).data);
      this.refs.freeLater(old, 1, "other"); // l2_allocate() frees the shared table as QCOW2_DISCARD_OTHER
    }
    // The table reaches the disk now: the file then covers it and a crash finds no garbage there.
    this.file.pwrite(data, offset);
    const t = { offset, data, view: new DataView(data.buffer), dirty: false };
    this.#cacheL2(t);
    this.l1[l1Index] = offset;
    this.l1Copied[l1Index] = 1;
    this.#l1Dirty = true;
    return t;
  }

  write(offset: number, buf: Uint8Array): void {
    this.#checkRange(offset, buf.length);
    this.#beginWrite();
    const cs = this.clusterSize;
    let pos = 0;
    while (pos < buf.length) {
      const guest = offset + pos;
      const cluster = Math.floor(guest / cs);
      const inCluster = guest - cluster * cs;
      const n = Math.min(cs - inCluster, buf.length - pos);
      const type = this.#lookup(cluster);
      if (type === ClusterType.Normal && (this.#hi & COPIED_HI)) {
        const host = entryOffset(this.#hi, this.#lo);
        this.#checkHost(host, cluster);
        if (this.extendedL2) {
          // A write in place must also mark its subclusters allocated.
          const mask = subclusterMask(inCluster, n, this.subclusterSize);
          if (((this.#bmLo & mask) >>> 0) !== mask || (this.#bmHi & mask)) {
            this.data.pwrite(buf.subarray(pos, pos + n), host + inCluster);
            this.#fillUnallocatedSubclusters(cluster, host, inCluster, n);
            pos += n;
            continue;
          }
        }
        // Overwrite in place, over every following cluster that is contiguous and owned.
        let len = n;
        while (pos + len < buf.length && (inCluster + len) % cs === 0) {
          const next = cluster + (inCluster + len) / cs;
          if (this.#lookup(next) !== ClusterType.Normal || !(this.#hi & COPIED_HI)) break;
          if (entryOffset(this.#hi, this.#lo) !== host - inCluster + (next - cluster) * cs) break;
          if (this.extendedL2 && (this.#bmLo >>> 0) !== 0xffffffff) break;
          len += Math.min(cs, buf.length - pos - len);
        }
        this.data.pwrite(buf.subarray(pos, pos + len), host + inCluster);
        pos += len;
        continue;
      }
      if (inCluster === 0 && n === cs) {
        pos += this.#writeNewClusters(cluster, buf, pos);
        continue;
      }
      this.#writePartialNew(cluster, inCluster, buf.subarray(pos, pos + n), type);
      pos += n;
    }
    this.#maybeFlushFrees();
  }

  /**
   * Writes as many whole clusters from buf[pos..] as need fresh allocation, in one allocation and
   * one pwrite. Returns the bytes consumed (at least one cluster).
   */
  #writeNewClusters(first: number, buf: Uint8Array, pos: number): number {
    const cs = this.clusterSize;
    let count = 1;
    const maxCount = Math.min(
      Math.floor((buf.length - pos) / cs),
      this.l2Entries - (first % this.l2Entries),
      1024,
    );
    while (count < maxCount) {
      const t = this.#lookup(first + count);
      if (t === ClusterType.Normal && (this.#hi & COPIED_HI)) break;
      count++;
    }
    this.#l2ForWrite(first); // the L2 table comes before its data, as QEMU places them
    const host = this.#allocData(first, count);
    this.data.pwrite(buf.subarray(pos, pos + count * cs), host);
    for (let i = 0; i < count; i++) this.#setEntry(first + i, host + i * cs, 0xffffffff, 0);
    return count * cs;
  }

  /** Copy-on-write of one cluster for a partial write into a cluster this image does not own. */
  #writePartialNew(cluster: number, inCluster: number, data: Uint8Array, type: ClusterType): void {
    const cow = this.#cow;
    if (this.extendedL2 && type === ClusterType.Unallocated) {
      // Only the touched subclusters get allocated; the rest keep reading through.
      const sc = this.subclusterSize;
      const start = Math.floor(inCluster / sc) * sc;
      const end = Math.ceil((inCluster + data.length) / sc) * sc;
      this.#readCluster(cluster, cow);
      cow.set(data, inCluster);
      const host = this.#allocData(cluster, 1);
      this.data.pwrite(cow.subarray(start, end), host + start);
      const mask = subclusterMask(start, end - start, sc);
      this.#lookup(cluster);
      this.#setEntry(cluster, host, (this.#bmLo | mask) >>> 0, (this.#bmHi & ~mask) >>> 0);
      return;
    }
    this.#readCluster(cluster, cow);
    cow.set(data, inCluster);
    const host = this.#allocData(cluster, 1);
    this.data.pwrite(cow, host);
    this.#setEntry(cluster, host, 0xffffffff, 0);
  }

  /** In-place extended-L2 write: subclusters newly allocated get their unwritten parts copied in. */
  #fillUnallocatedSubclusters(cluster: number, host: number, inCluster: number, n: number): void {
    const sc = this.subclusterSize;
    const start = Math.floor(inCluster / sc) * sc;
    const end = Math.ceil((inCluster + n) / sc) * sc;
    const alloc = this.#bmLo >>> 0;
    const zero = this.#bmHi >>> 0;
    // Partial head/tail subclusters that were not allocated take their old content around the write.
    for (const [s, e] of [[start, inCluster], [inCluster + n, end]]) {
      if (e <= s) continue;
      const idx = Math.floor(s / sc);
      if (alloc & (1 << idx)) continue;
      const piece = this.#cow.subarray(0, e - s);
      if (zero & (1 << idx)) piece.fill(0);
      else this.#readBacking(cluster * this.clusterSize + s, piece);
      this.data.pwrite(piece, host + s);
    }
    const mask = subclusterMask(start, end - start, sc);
    this.#lookup(cluster);
    this.#setEntry(cluster, host, (this.#bmLo | mask) >>> 0, (this.#bmHi & ~mask) >>> 0, true);
  }

  /**
   * Points a guest cluster at a newly owned host cluster (COPIED), releasing what the entry held.
   * With extended L2, (alloc, zero) are the subcluster bitmaps.
   */
  #setEntry(cluster: number, host: number, alloc: number, zero: number, keepOld = false): void {
    const t = this.#l2ForWrite(cluster);
    const at = (cluster % this.l2Entries) * this.entryBytes;
    const hi = t.view.getUint32(at);
    const lo = t.view.getUint32(at + 4);
    if (!keepOld) this.#release(hi, lo, "never");
    const allocated = host !== 0 || this.data !== this.file;
    t.view.setUint32(at, allocated ? (COPIED_HI | Math.floor(host / 4294967296)) >>> 0 : 0);
    t.view.setUint32(at + 4, host >>> 0);
    if (this.extendedL2) {
      t.view.setUint32(at + 8, zero >>> 0);
      t.view.setUint32(at + 12, allocated ? alloc >>> 0 : 0);
    }
    t.dirty = true;
  }

  /**
   * Host clusters for guest clusters [cluster, cluster+n): from the refcounted allocator, or with
   * an external data file at the guest offset itself, unrefcounted, as QEMU places them.
   */
  #allocData(cluster: number, n: number): number {
    return this.data === this.file ? this.refs.alloc(n) : cluster * this.clusterSize;
  }

  /**
   * Queues the decrement for whatever host storage an L2 entry referenced; `type` says whether the
   * host file is punched where that frees the cluster (qcow2_free_any_cluster()).
   */
  #release(hi: number, lo: number, type: DiscardType): void {
    if (this.data !== this.file) return;
    if (hi & COMPRESSED_HI) {
      const [off, len] = this.compressedExtent(hi, lo);
      this.refs.freeCompressedLater(off, len, type);
      return;
    }
    const host = entryOffset(hi, lo);
    if (host) this.refs.freeLater(host, 1, type);
  }

  /**
   * Makes a guest cluster read as zeros with a zero flag (zero_in_l2_slice()), or with `unmap`
   * also frees what it held (freed as `type`: a zero write's unmap and a discard differ).
   */
  #setZeroEntry(cluster: number, unmap: boolean, type: DiscardType = "request"): void {
    const t = this.#l2ForWrite(cluster);
    const at = (cluster % this.l2Entries) * this.entryBytes;
    const hi = t.view.getUint32(at);
    const lo = t.view.getUint32(at + 4);
    const host = entryOffset(hi, lo);
    const keep = !unmap && !(hi & COMPRESSED_HI) && host !== 0 && (hi & COPIED_HI) !== 0 && !this.extendedL2;
    if (!keep) this.#release(hi, lo, type);
    if (this.extendedL2) {
      t.view.setUint32(at, 0);
      t.view.setUint32(at + 4, 0);
      t.view.setUint32(at + 8, 0xffffffff);
      t.view.setUint32(at + 12, 0);
    } else {
      t.view.setUint32(at, keep ? hi : 0);
      t.view.setUint32(at + 4, keep ? (lo | ZERO_LO) >>> 0 : ZERO_LO);
    }
    t.dirty = true;
  }

  /** Leaves a guest cluster unallocated (a full discard), freeing what it held as `type`. */
  #unmapCluster(cluster: number, type: DiscardType): void {
    const t = this.#l2ForWrite(cluster);
    const at = (cluster % this.l2Entries) * this.entryBytes;
    this.#release(t.view.getUint32(at), t.view.getUint32(at + 4), type);
    t.data.fill(0, at, at + this.entryBytes);
    t.dirty = true;
  }

  writeZeroes(offset: number, length: number, options: { mayUnmap?: boolean } = {}): void {
    this.#checkRange(offset, length);
    this.#beginWrite();
    const cs = this.clusterSize;
    const v3 = this.header.version >= 3;
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const cluster = Math.floor(pos / cs);
      const inCluster = pos - cluster * cs;
      const n = Math.min(cs - inCluster, end - pos);
      const wholeCluster = inCluster === 0 && (n === cs || pos + n === this.size);
      const type = this.#lookup(cluster);
      // Unallocated without a backing file: it reads as zeros already, but QEMU (zero_in_l2_slice)
      // still records the zeros where the format can: a zero cluster, or zero subclusters, which
      // `map` reports as present. A partial request widens to its whole (sub)cluster, whose rest
      // reads as zeros too.
      const readsZero = type === ClusterType.Unallocated && !this.backing;
      if (!v3 && !this.backing && (wholeCluster || readsZero)) {
        // v2 has no zero flag; without a backing file QEMU discards instead (which leaves the
        // cluster unallocated but allocates its L2 table).
        this.#discardCluster(cluster, "request");
      } else if (readsZero && !this.extendedL2) {
        this.#setZeroEntry(cluster, false);
      } else if (wholeCluster && v3) {
        // BDRV_REQ_MAY_UNMAP counts only on an image opened with BDRV_O_UNMAP, as in QEMU.
        this.#setZeroEntry(cluster, (options.mayUnmap ?? false) && (this.openOptions.unmap ?? false));
      } else if (
        this.extendedL2 && v3 &&
        (readsZero || (inCluster % this.subclusterSize === 0 && n % this.subclusterSize === 0))
      ) {
        const mask = subclusterMask(inCluster, n, this.subclusterSize);
        if (type === ClusterType.Normal && (this.#hi & COPIED_HI)) {
          const host = entryOffset(this.#hi, this.#lo);
          this.#setEntry(cluster, host, (this.#bmLo & ~mask) >>> 0, (this.#bmHi | mask) >>> 0, true);
        } else if (type === ClusterType.Unallocated) {
          const t = this.#l2ForWrite(cluster);
          const at = (cluster % this.l2Entries) * 16;
          t.view.setUint32(at + 8, (t.view.getUint32(at + 8) | mask) >>> 0);
          t.dirty = true;
        } else {
          this.write(pos, this.#zeroCluster.subarray(0, n));
        }
      } else {
        this.write(pos, this.#zeroCluster.subarray(0, n));
      }
      pos += n;
    }
    this.#maybeFlushFrees();
  }

  /**
   * A discard request (qcow2_cluster_discard() without full_discard); `why` is its reason (a
   * guest's by default; savevm's vm-state passes "never"). Only whole clusters are discarded.
   */
  discard(offset: number, length: number, why: DiscardType = "request"): void {
    this.#checkRange(offset, length);
    // bdrv_co_pdiscard() drops requests to an image opened without BDRV_O_UNMAP (discard=ignore,
    // qemu-system's default); the driver's own discards go ahead.
    if (why === "request" && !this.openOptions.unmap) return;
    this.#beginWrite();
    const cs = this.clusterSize;
    let cluster = Math.ceil(offset / cs);
    const endCluster = offset + length === this.size
      ? Math.ceil(this.size / cs)
      : Math.floor((offset + length) / cs);
    for (; cluster < endCluster; cluster++) this.#discardCluster(cluster, why);
    this.#maybeFlushFrees();
  }

  /**
   * discard_in_l2_slice() for one cluster: it must read as zeros afterwards, so it becomes a zero
   * cluster (zero subclusters with extended L2; v2 has neither and just drops it) where a backing
   * file or its own allocation would show otherwise, and is dropped where nothing would. What it
   * held is freed as `why`. Its L2 table is allocated (or copied) first even when nothing
   * changes, as QEMU's get_cluster_table() does.
   */
  #discardCluster(cluster: number, why: DiscardType): void {
    const t = this.#l2ForWrite(cluster);
    const type = this.#lookup(cluster);
    const [hi, lo, bmHi, bmLo] = [this.#hi, this.#lo, this.#bmHi, this.#bmLo];
    const allocated = type === ClusterType.Normal || type === ClusterType.Compressed ||
      (type === ClusterType.Zero && entryOffset(hi, lo) !== 0);
    const zero = this.backing !== undefined || allocated;
    const newLo = zero && !this.extendedL2 && this.v3 ? ZERO_LO : 0;
    const newBmHi = zero && this.extendedL2 ? 0xffffffff : 0;
    if (hi === 0 && lo === newLo && (bmHi >>> 0) === newBmHi && bmLo === 0) return;
    const at = (cluster % this.l2Entries) * this.entryBytes;
    t.view.setUint32(at, 0);
    t.view.setUint32(at + 4, newLo);
    if (this.extendedL2) {
      t.view.setUint32(at + 8, newBmHi);
      t.view.setUint32(at + 12, 0);
    }
    t.dirty = true;
    this.#release(hi, lo, why);
  }

  /**
   * Writes one whole guest cluster whose compressed form was produced elsewhere (`compressed`),
   * or compresses it here when `compressed` is undefined. When compression does not shrink the
   * cluster it is written uncompressed, as QEMU does. The target cluster must not be allocated.
   */
  writeCompressed(offset: number, data: Uint8Array, compressed?: Uint8Array | null): void {
    const cs = this.clusterSize;
    if (offset % cs !== 0 || (data.length !== cs && offset + data.length !== this.size)) {
      throw new ImageError("Compressed writes must be whole clusters");
    }
    this.#checkRange(offset, data.length);
    if (this.data !== this.file) {
      throw new ImageError("Compression is not supported with external data files");
    }
    this.#beginWrite();
    let whole = data;
    if (data.length < cs) {
      whole = this.#cow;
      whole.fill(0);
      whole.set(data);
    }
    const packed = compressed === undefined
      ? compressCluster(this.header.compressionType, whole)
      : compressed;
    if (!packed || packed.length >= cs) {
      this.write(offset, data);
      return;
    }
    const cluster = offset / cs;
    const host = this.refs.allocBytes(packed.length);
    this.file.pwrite(packed, host);
    const t = this.#l2ForWrite(cluster);
    const at = (cluster % this.l2Entries) * this.entryBytes;
    this.#release(t.view.getUint32(at), t.view.getUint32(at + 4), "never");
    const x = 62 - (this.clusterBits - 8);
    const sectors = Math.floor((host + packed.length - 1) / 512) - Math.floor(host / 512);
    const v = (1n << 62n) | (BigInt(sectors) << BigInt(x)) | BigInt(host);
    t.view.setBigUint64(at, v);
    if (this.extendedL2) t.view.setBigUint64(at + 8, 0n);
    t.dirty = true;
    this.#maybeFlushFrees();
  }

  #maybeFlushFrees(): void {
    if (this.refs.pendingFreeCount > MAX_PENDING_FREES) this.flushMetadata();
  }

  // ---- flushing --------------------------------------------------------------------------------

  /** Writes every dirty table in crash-safe order (see the file header). No fdatasync. */
  flushMetadata(): void {
    if (this.readOnly) return;
    this.refs.flush();
    for (const t of this.#l2Cache.values()) {
      if (t.dirty) {
        this.file.pwrite(t.data, t.offset);
        t.dirty = false;
      }
    }
    if (this.#l1Dirty) this.writeL1();
    if (this.refs.hasPendingFrees) {
      this.refs.applyPendingFrees();
      this.refs.flush();
    }
    if (this.#headerDirty) this.writeHeader();
  }

  /** Writes the whole active L1 table at its offset. */
  writeL1(): void {
    const raw = new Uint8Array(this.l1.length * 8);
    const v = new DataView(raw.buffer);
    for (let i = 0; i < this.l1.length; i++) {
      const off = this.l1[i];
      v.setUint32(i * 8, ((this.l1Copied[i] && off ? COPIED_HI : 0) | Math.floor(off / 4294967296)) >>> 0);
      v.setUint32(i * 8 + 4, off >>> 0);
    }
    this.file.pwrite(raw, this.header.l1TableOffset);
    this.#l1Dirty = false;
  }

  markHeaderDirty(): void {
    this.#headerDirty = true;
  }

  flush(): void {
    if (this.readOnly) return;
    this.flushMetadata();
    if (this.data !== this.file) this.data.sync();
    this.file.sync();
  }

  close(): void {
    if (this.#closed) return;
    try {
      if (!this.readOnly && !this.corrupt) {
        this.flushMetadata();
        if (this.header.incompatibleFeatures & INCOMPAT.dirty) {
          // lazy_refcounts: the refcounts were written above, so the image is clean again.
          this.file.sync();
          this.header.incompatibleFeatures &= ~INCOMPAT.dirty;
          this.writeHeader();
        }
      }
    } finally {
      this.#closed = true;
      if (this.data !== this.file) this.data.close();
      this.file.close();
      this.backing?.close();
    }
  }

  // ---- status and info -------------------------------------------------------------------------

  blockStatus(offset: number, length: number): BlockStatus {
    // A length past the end is clamped (callers walk "to the end" with large lengths).
    this.#checkRange(offset, Math.min(length, this.size - offset));
    const cs = this.clusterSize;
    const end = offset + Math.min(length, this.size - offset);
    const first = Math.floor(offset / cs);
    const type = this.#lookup(first);
    let status: BlockStatus;
    const inCluster = offset - first * cs;
    if (this.extendedL2 && type !== ClusterType.Compressed) {
      return this.#subclusterStatus(first, inCluster, end);
    }
    const host = type === ClusterType.Normal ? entryOffset(this.#hi, this.#lo) : 0;
    let pos = Math.min(end, (first + 1) * cs);
    // Extend over clusters of the same kind (and contiguous host placement for data).
    while (pos < end) {
      const c = pos / cs;
      const t = this.#lookup(c);
      if (t !== type) break;
      if (type === ClusterType.Normal && entryOffset(this.#hi, this.#lo) !== host + (c - first) * cs) break;
      pos = Math.min(end, pos + cs);
    }
    const len = pos - offset;
    switch (type) {
      case ClusterType.Normal:
        status = {
          offset,
          length: len,
          present: true,
          zero: false,
          data: true,
          depth: 0,
          hostOffset: host + inCluster,
          filename: this.data.path,
        };
        break;
      case ClusterType.Compressed:
        status = { offset, length: len, present: true, zero: false, data: true, depth: 0, compressed: true };
        break;
      case ClusterType.Zero:
        status = { offset, length: len, present: true, zero: true, data: false, depth: 0 };
        break;
      default:
        status = this.#backingStatus(offset, len);
    }
    return status;
  }

  #subclusterStatus(cluster: number, inCluster: number, end: number): BlockStatus {
    const sc = this.subclusterSize;
    const base = cluster * this.clusterSize;
    const host = entryOffset(this.#hi, this.#lo);
    const kind = (i: number) => ((this.#bmLo >>> i) & 1 ? 2 : (this.#bmHi >>> i) & 1 ? 1 : 0);
    const idx = Math.floor(inCluster / sc);
    const k = kind(idx);
    let stop = (idx + 1) * sc;
    while (stop < this.clusterSize && base + stop < end && kind(stop / sc) === k) stop += sc;
    const offset = base + inCluster;
    const length = Math.min(base + stop, end) - offset;
    if (k === 2) {
      return {
        offset,
        length,
        present: true,
        zero: false,
        data: true,
        depth: 0,
        hostOffset: host + inCluster,
        filename: this.data.path,
      };
    }
    // A subcluster of an allocated cluster has a host offset even when it reads as zeros or is
    // unallocated, and QEMU reports it (BDRV_BLOCK_OFFSET_VALID), unless a backing file answers.
    const mapped = host ? { hostOffset: host + inCluster, filename: this.data.path } : {};
    if (k === 1) return { offset, length, present: true, zero: true, data: false, depth: 0, ...mapped };
    if (!this.backing) {
      return { offset, length, present: false, zero: true, data: false, depth: 0, ...mapped };
    }
    return this.#backingStatus(offset, length);
  }

  #backingStatus(offset: number, length: number): BlockStatus {
    const b = this.backing;
    if (!b || offset >= b.size) {
      return { offset, length, present: false, zero: true, data: false, depth: b ? 1 : 0 };
    }
    const s = b.blockStatus(offset, Math.min(length, b.size - offset));
    return { ...s, depth: s.depth + 1 };
  }

  info(): ImageInfo {
    const h = this.header;
    const v3 = h.version >= 3;
    const data: Record<string, unknown> = { compat: v3 ? "1.1" : "0.10" };
    data["compression-type"] = COMPRESSION_NAMES[h.compressionType] ?? "zlib";
    if (v3) data["lazy-refcounts"] = (h.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n;
    if (this.bitmaps.length) data["bitmaps"] = bitmapInfo(this.bitmaps);
    data["refcount-bits"] = 2 ** h.refcountOrder;
    if (h.incompatibleFeatures & INCOMPAT.dataFile) {
      if (h.dataFile) data["data-file"] = h.dataFile;
      data["data-file-raw"] = (h.autoclearFeatures & AUTOCLEAR.dataFileRaw) !== 0n;
    }
    if (v3) {
      data["corrupt"] = this.corrupt;
      data["extended-l2"] = this.extendedL2;
    }
    const info: ImageInfo = {
      format: "qcow2",
      filename: this.filename,
      virtualSize: h.size,
      actualSize: this.file.allocatedBytes(),
      clusterSize: this.clusterSize,
      dirty: (h.incompatibleFeatures & INCOMPAT.dirty) !== 0n,
      snapshots: this.listSnapshots(),
      formatSpecific: { type: "qcow2", data },
    };
    if (h.backingFile) {
      info.backingFilename = h.backingFile;
      info.fullBackingFilename = this.backing?.filename ?? resolveRelative(this.filename, h.backingFile);
      if (h.backingFormat) info.backingFormat = h.backingFormat;
    }
    return info;
  }

  check(repair?: "leaks" | "all"): CheckResult {
    if (repair && this.readOnly) throw new ImageError("Cannot repair a read-only image");
    if (repair) this.flushMetadata();
    return checkImage(this, repair);
  }

  // ---- snapshots, resize, amend ----------------------------------------------------------------

  listSnapshots(): SnapshotInfo[] {
    return this.snapshotList.map((s) => ({
      id: s.id,
      name: s.name,
      vmStateSize: s.vmStateSize,
      dateSec: s.dateSec,
      dateNsec: s.dateNsec,
      vmClockNs: s.vmClockNs,
      icount: s.icount < 0 ? undefined : s.icount,
    }));
  }

  /** The BlockDriver seam's name for createSnapshot, with QEMU's time split. */
  snapshotCreate(name: string, time: { dateSec: number; dateNsec: number }): void {
    this.createSnapshot(name, time.dateSec * 1000 + Math.floor(time.dateNsec / 1e6));
  }
  snapshotApply(idOrName: string): void {
    this.applySnapshot(idOrName);
  }
  snapshotDelete(idOrName: string): void {
    this.deleteSnapshot(idOrName);
  }
  snapshotLoadTemporary(id: string | undefined, name: string | undefined): void {
    snapshots.loadSnapshotTemporary(this, id, name);
  }

  /** Cluster size and algorithm for writeCompressed (none with an external data file). */
  get compression(): { clusterSize: number; type: "zlib" | "zstd" } | undefined {
    if (this.data !== this.file) return undefined;
    return {
      clusterSize: this.clusterSize,
      type: this.header.compressionType === COMPRESSION_ZSTD ? "zstd" : "zlib",
    };
  }

  /** Rewrites the backing name and format in the header (rebase, commit); the open chain stays. */
  changeBackingFile(filename: string | undefined, format: string | undefined): void {
    this.#beginWrite();
    this.flushMetadata();
    this.header.backingFile = filename || undefined;
    this.header.backingFormat = filename ? format : undefined;
    this.writeHeader();
    this.file.sync();
  }

  /** qcow2_make_empty: every cluster of the active layer becomes unallocated (reads the backing file). */
  makeEmpty(): void {
    this.#beginWrite();
    const l1Clusters = Math.ceil((this.l1.length * 8) / this.clusterSize);
    if (
      this.header.version >= 3 && !this.snapshotList.length && !this.header.bitmaps &&
      3 + l1Clusters <= this.refs.blockEntries && this.data === this.file
    ) {
      return this.#makeCompletelyEmpty(l1Clusters);
    }
    for (let c = 0; c < Math.ceil(this.size / this.clusterSize); c++) {
      const l1Index = Math.floor(c / this.l2Entries);
      if (!this.l1[l1Index]) {
        c = (l1Index + 1) * this.l2Entries - 1;
        continue;
      }
      const type = this.#lookup(c);
      if (type === ClusterType.Unallocated && !(this.extendedL2 && (this.#bmHi | this.#bmLo))) continue;
      this.#unmapCluster(c, "snapshot"); // qcow2_make_empty() discards as QCOW2_DISCARD_SNAPSHOT
    }
    this.flush();
  }

  /**
   * make_completely_empty(), QEMU's fast path: the image is laid out anew as header, refcount
   * table (cluster 1), its one refcount block (cluster 2) and a zeroed L1 table (cluster 3 on),
   * and the file ends there.
   */
  #makeCompletelyEmpty(l1Clusters: number): void {
    const cs = this.clusterSize;
    this.#l2Cache.clear();
    this.file.writeZeroes(cs, (2 + l1Clusters) * cs);
    const entry = new Uint8Array(8);
    new DataView(entry.buffer).setUint32(4, 2 * cs);
    this.file.pwrite(entry, cs);
    this.header.l1TableOffset = 3 * cs;
    this.header.refcountTableOffset = cs;
    this.header.refcountTableClusters = 1;
    this.refs = this.loadRefcounts();
    for (let c = 0; c < 3 + l1Clusters; c++) this.refs.set(c, 1);
    this.refs.flush();
    this.l1.fill(0);
    this.l1Copied.fill(0);
    this.#l1Dirty = false;
    this.writeHeader();
    this.file.truncate((3 + l1Clusters) * cs);
    this.file.sync();
  }

  /** `qemu-img snapshot -c`: records the current disk state under `name` (savevm adds its vm-state fields). */
  createSnapshot(name: string, now = Date.now(), vm?: snapshots.VmStateFields): void {
    if (this.data !== this.file) {
      throw new ImageError("qcow2: Internal snapshots are not supported with an external data file");
    }
    this.#beginWrite();
    this.flushMetadata();
    snapshots.createSnapshot(this, name, now, vm);
  }

  /** `qemu-img snapshot -a`: reverts the disk to a snapshot, by id or name. */
  applySnapshot(idOrName: string): void {
    this.#beginWrite();
    this.flushMetadata();
    snapshots.applySnapshot(this, idOrName);
  }

  /** `qemu-img snapshot -d`. */
  deleteSnapshot(idOrName: string): void {
    this.#beginWrite();
    this.flushMetadata();
    snapshots.deleteSnapshot(this, idOrName);
  }

  /**
   * Runs `fn` with reads, writes and discards allowed past the disk's end, where QEMU's qcow2 driver
   * maps the vm-state of savevm (lib/image/qcow2/vmstate.ts places it and grows the L1 table).
   */
  withVmStateArea<T>(fn: () => T): T {
    this.#vmStateArea = true;
    try {
      return fn();
    } finally {
      this.#vmStateArea = false;
    }
  }

  /** Writes the snapshot table anew and points the header at it. */
  writeSnapshotTable(): void {
    const bytes = serializeSnapshotTable(this.snapshotList).subarray(
      0,
      snapshotTableLength(this.snapshotList),
    );
    const oldOffset = this.header.snapshotsOffset;
    const oldSize = this.snapshotsSize;
    let offset = 0;
    if (bytes.length) {
      const clusters = Math.ceil(bytes.length / this.clusterSize);
      offset = this.refs.alloc(clusters);
      this.refs.flush();
      this.file.pwrite(bytes, offset);
    }
    this.header.snapshotsOffset = offset;
    this.snapshotsSize = bytes.length;
    this.writeHeader();
    if (oldSize) {
      const first = Math.floor(oldOffset / this.clusterSize);
      const last = Math.floor((oldOffset + oldSize - 1) / this.clusterSize);
      for (let c = first; c <= last; c++) this.refs.freeNow(c, "snapshot");
      this.refs.flush();
    }
  }

  /** Replaces the active L1 table (new size or new place), writing it before the header. */
  replaceL1(entries: Float64Array, copied: Uint8Array): void {
    const bytes = entries.length * 8;
    const clusters = Math.max(1, Math.ceil(bytes / this.clusterSize));
    const oldOffset = this.header.l1TableOffset;
    const oldClusters = this.l1.length ? Math.ceil((this.l1.length * 8) / this.clusterSize) : 0;
    const offset = this.refs.alloc(clusters);
    this.refs.flush();
    this.l1 = entries;
    this.l1Copied = copied;
    this.header.l1TableOffset = offset;
    this.writeL1();
    this.writeHeader();
    // qcow2_grow_l1_table() frees the old table as QCOW2_DISCARD_OTHER.
    for (let c = 0; c < oldClusters; c++) this.refs.freeNow(oldOffset / this.clusterSize + c, "other");
    this.refs.flush();
  }

  resize(size: number, options: ResizeOptions = {}): void {
    this.#beginWrite();
    if (this.snapshotList.length && size < this.size) {
      throw new ImageError("Can't resize an image which has snapshots");
    }
    if (size % 512 !== 0) throw new ImageError("The new size must be a multiple of 512");
    const old = this.size;
    if (size < old) {
      if (!options.shrink) throw new ImageError("Use the --shrink option to perform a shrink operation.");
      if (this.header.version < 3 && size % this.clusterSize !== 0) {
        // Discard must take whole clusters; the tail of the last one is left mapped, as in QEMU.
      }
      this.flushMetadata();
      const cs = this.clusterSize;
      const firstGone = Math.ceil(size / cs);
      const keptL1 = Math.ceil(size / (cs * this.l2Entries));
      for (let c = firstGone; c < Math.ceil(old / cs); c++) {
        // QEMU's discard (get_cluster_table) allocates the L2 table of a kept L1 entry it passes.
        if (Math.floor(c / this.l2Entries) < keptL1) this.#l2ForWrite(c);
        const type = this.#lookup(c);
        if (type === ClusterType.Unallocated && !(this.extendedL2 && (this.#bmHi | this.#bmLo))) continue;
        this.#unmapCluster(c, "always"); // the shrink's discard is QCOW2_DISCARD_ALWAYS
      }
      // qcow2_shrink_l1_table(): the L2 tables wholly past the new size are unhooked and freed.
      for (let i = keptL1; i < this.l1.length; i++) {
        const l2 = this.l1[i];
        if (!l2) continue;
        // Its discarded entries reach the disk first, as QEMU writes them before freeing it.
        const t = this.#l2Cache.get(l2);
        if (t?.dirty) this.file.pwrite(t.data, t.offset);
        this.#l2Cache.delete(l2);
        this.l1[i] = 0;
        this.l1Copied[i] = 0;
        this.#l1Dirty = true;
        this.refs.freeLater(l2, 1, "always");
      }
      this.header.size = size;
      this.flushMetadata();
      this.writeHeader();
      // As QEMU's shrink: the file ends after the last cluster still in use.
      const fileSize = this.file.size();
      let last = Math.ceil(fileSize / cs) - 1;
      while (last >= 0 && this.refs.get(last) === 0) last--;
      if ((last + 1) * cs < fileSize) this.file.truncate((last + 1) * cs);
      return;
    }
    const needed = Math.ceil(size / (this.clusterSize * this.l2Entries));
    if (needed > this.l1.length) {
      if (needed * 8 > 32 << 20) throw new ImageError("File too large");
      this.flushMetadata();
      // QEMU grows the L1 to the next power-of-two-ish step; it only has to cover the size.
      const entries = new Float64Array(needed);
      entries.set(this.l1);
      const copied = new Uint8Array(needed);
      copied.set(this.l1Copied);
      this.replaceL1(entries, copied);
    }
    this.header.size = size;
    this.writeHeader();
    const mode = options.preallocation ?? "off";
    if (mode !== "off") this.preallocate(old, size, mode);
    this.flush();
  }

  /** Allocates (and for falloc/full writes) clusters for [from, to) as preallocation does. */
  preallocate(from: number, to: number, mode: string): void {
    const cs = this.clusterSize;
    let cluster = Math.floor(from / cs);
    const end = Math.ceil(to / cs);
    while (cluster < end) {
      const type = this.#lookup(cluster);
      if (type !== ClusterType.Unallocated) {
        cluster++;
        continue;
      }
      let run = 1;
      const maxRun = Math.min(end - cluster, this.l2Entries - (cluster % this.l2Entries));
      while (run < maxRun && this.#lookup(cluster + run) === ClusterType.Unallocated) run++;
      this.#l2ForWrite(cluster);
      const host = this.#allocData(cluster, run);
      const fileEnd = this.data.size();
      if (mode === "falloc" || mode === "full") this.data.fillZeroes(host, run * cs);
      else {
        // Reused clusters may hold old data; fresh ones past the end of the file are zeros.
        if (host < fileEnd && !this.extendedL2) {
          this.data.fillZeroes(host, Math.min(run * cs, fileEnd - host));
        }
        if (host + run * cs > fileEnd) this.data.truncate(host + run * cs);
      }
      for (let i = 0; i < run; i++) {
        this.#setEntry(cluster + i, host + i * cs, 0, this.extendedL2 ? 0xffffffff : 0);
        if (!this.extendedL2 && this.header.version >= 3 && this.backing === undefined) {
          // Allocated but not written: the data reads as zeros, like QEMU's preallocated clusters.
        }
      }
      cluster += run;
    }
    this.flushMetadata();
  }

  amend(options: AmendOptions | Partial<CreateOptions>): void {
    this.#beginWrite();
    this.flushMetadata();
    amendQcow2(this, options);
  }

  #checkRange(offset: number, length: number): void {
    if (offset < 0 || length < 0 || (offset + length > this.size && !this.#vmStateArea)) {
      throw new ImageError(`Request out of range: offset ${offset} length ${length} size ${this.size}`);
    }
  }

  /** For check and snapshot code: whether the header has a v3 layout. */
  get v3(): boolean {
    return this.header.version >= 3;
  }

  /** For create: a v3 header's default length. */
  static readonly defaultHeaderLength = V3_HEADER_LENGTH;
}

function noBacking(): BlockDriver {
  throw new ImageError("backing not opened");
}

function resolveRelative(overlay: string, name: string): string {
  if (name.startsWith("/") || /^[A-Za-z0-9+.-]+:/.test(name)) return name;
  const slash = overlay.lastIndexOf("/");
  return slash < 0 ? name : overlay.slice(0, slash + 1) + name;
}

/** The subcluster bits [start, start+len) covers (start, len in bytes within the cluster). */
export function subclusterMask(start: number, len: number, sc: number): number {
  const first = Math.floor(start / sc);
  const last = Math.floor((start + len - 1) / sc);
  const width = last - first + 1;
  return (width >= 32 ? 0xffffffff : ((1 << width) - 1) << first) >>> 0;
}

export { AUTOCLEAR, COMPRESSION_ZSTD };
