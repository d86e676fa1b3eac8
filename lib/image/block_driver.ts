/**
 * The BlockDriver seam: everything that touches a disk image (qemu-img, the IDE device, savevm)
 * goes through this interface, so a format is one driver beside the others. The interface is
 * synchronous on purpose: the emulated disk controller answers inside the CPU loop, and qemu-img
 * overlaps its CPU-heavy work (compression) outside the driver, not inside it.
 */
import { LibError } from "../errors.ts";

/** An image could not be opened, created, read or written; `message` is the real tool's wording. */
export class ImageError extends LibError {}

/** What one extent of the guest-visible disk is, as `qemu-img map` reports it. */
export interface BlockStatus {
  /** The extent starts at the offset asked for and is at most the length asked for. */
  offset: number;
  length: number;
  /** Allocated in this image or somewhere in its backing chain. */
  present: boolean;
  /** Reads as zeros. */
  zero: boolean;
  /** Holds data (rather than a zero flag or nothing). */
  data: boolean;
  /** Depth in the backing chain of the layer that answered (0 = this image). */
  depth: number;
  /** Where the bytes sit in `filename`, when they sit there uncompressed. */
  hostOffset?: number;
  filename?: string;
  compressed?: boolean;
}

export interface SnapshotInfo {
  id: string;
  name: string;
  vmStateSize: number;
  dateSec: number;
  dateNsec: number;
  vmClockNs: number;
  /** Guest instruction count, or undefined when icount was off (stored as -1). */
  icount?: number;
}

/** What `qemu-img info` shows; the CLI gives it QEMU's key order. */
export interface ImageInfo {
  format: string;
  filename: string;
  virtualSize: number;
  /** Bytes the file occupies on the host disk. */
  actualSize: number;
  clusterSize?: number;
  dirty: boolean;
  encrypted?: boolean;
  backingFilename?: string;
  fullBackingFilename?: string;
  backingFormat?: string;
  snapshots: SnapshotInfo[];
  /** The `format-specific` object, with QEMU's key names in QEMU's order. */
  formatSpecific?: { type: string; data: Record<string, unknown> };
}

/** What `qemu-img check` reports, field for field. */
export interface CheckResult {
  corruptions: number;
  leaks: number;
  checkErrors: number;
  corruptionsFixed: number;
  leaksFixed: number;
  imageEndOffset?: number;
  totalClusters?: number;
  allocatedClusters?: number;
  fragmentedClusters?: number;
  compressedClusters?: number;
  /** The per-problem lines the real tool prints on stderr, e.g. `Leaked cluster 5 refcount=1 reference=0`. */
  messages: string[];
  /**
   * The check stopped (e.g. a repair that needs a refcount rebuild under `-r leaks`): error_report()
   * lines to print after the messages, then `Check failed: <reason>`.
   */
  failed?: { reports: string[]; reason: string };
}

export type Preallocation = "off" | "metadata" | "falloc" | "full";

/** `qemu-img create -o` options, by QEMU's option names. Unset means the format's default. */
export interface CreateOptions {
  size: number;
  backingFile?: string;
  backingFormat?: string;
  clusterSize?: number;
  compat?: "0.10" | "1.1";
  compressionType?: "zlib" | "zstd";
  dataFile?: string;
  dataFileRaw?: boolean;
  extendedL2?: boolean;
  lazyRefcounts?: boolean;
  preallocation?: Preallocation;
  refcountBits?: number;
}

export interface OpenOptions {
  readOnly?: boolean;
  /** Open the backing chain too (default true); false gives `qemu-img rebase -u` style access. */
  openBacking?: boolean;
  /**
   * Opened for `qemu-img check` (QEMU's BDRV_O_CHECK): a dirty (lazy_refcounts) image is not
   * repaired at open, so that `check -r` itself repairs and reports it, and an image marked
   * corrupt still opens read-write for `check -r`.
   */
  forCheck?: boolean;
  /**
   * QEMU's BDRV_O_UNMAP (discard=unmap), which `qemu-img commit` opens its images with: guest
   * discards and unmapping zero writes free clusters and punch them out of the host file.
   */
  unmap?: boolean;
  /**
   * `-U`/force-share: lock nothing that stops other processes, and open even when they hold the
   * image (QEMU's force-share=on; read-only opens only).
   */
  forceShare?: boolean;
  /**
   * Lock as a descriptor of its own: this process's other opens of the file conflict with this
   * one as another process's would. QEMU opens every image node with its own descriptor, so
   * `convert -n` onto its own source is refused there; our other self-opens (a chain and its base
   * in `commit`) stand for what QEMU holds as one node and keep sharing.
   */
  againstOwn?: boolean;
}

/** How `qemu-img resize` grows or shrinks an image. */
export interface ResizeOptions {
  /** How the grown part is allocated (default off). */
  preallocation?: Preallocation;
  /** Allow the size to go down (`--shrink`). */
  shrink?: boolean;
}

export interface BlockDriver {
  readonly format: string;
  readonly filename: string;
  /** Guest-visible size in bytes. */
  readonly size: number;
  readonly readOnly: boolean;
  /** The opened backing image, if the chain was opened. */
  readonly backing?: BlockDriver;

  read(offset: number, buf: Uint8Array): void;
  write(offset: number, buf: Uint8Array): void;
  writeZeroes(offset: number, length: number, options?: { mayUnmap?: boolean }): void;
  discard(offset: number, length: number): void;
  flush(): void;
  blockStatus(offset: number, length: number): BlockStatus;
  info(): ImageInfo;
  check(repair?: "leaks" | "all"): CheckResult;
  /** Changes the guest-visible size (`qemu-img resize`). */
  resize?(size: number, options?: ResizeOptions): void;
  close(): void;

  // Optional operations qemu-img needs (cli/qemu-img, lib/image/ops); a format without one
  // answers as QEMU does for a driver without the callback (e.g. "Operation not supported").
  /** Internal snapshots (`qemu-img snapshot -c/-a/-d`); `idOrName` matches the id first, then the name. */
  snapshotCreate?(name: string, time: { dateSec: number; dateNsec: number }): void;
  snapshotApply?(idOrName: string): void;
  snapshotDelete?(idOrName: string): void;
  /**
   * bdrv_snapshot_load_tmp (`convert -l`, `measure -l`): a read-only image reads as the snapshot
   * found by id and/or name until it is closed; its size stays the active layer's.
   */
  snapshotLoadTemporary?(id: string | undefined, name: string | undefined): void;
  /**
   * Rewrites the backing file name and format in the header (`rebase`, `commit`); the open
   * backing chain is not changed. undefined removes the backing file.
   */
  changeBackingFile?(filename: string | undefined, format: string | undefined): void;
  /** Drops every allocation of this layer so it reads through to its backing file (`commit` without -d). */
  makeEmpty?(): void;
  /** `qemu-img amend -o`: the options given, by CreateOptions name. */
  amend?(options: Partial<CreateOptions>): void;
  /** Cluster size and algorithm for writeCompressed, when the format supports compression. */
  readonly compression?: { clusterSize: number; type: "zlib" | "zstd" };
  /**
   * Writes one whole cluster (at a cluster-aligned guest offset, `data` uncompressed) whose
   * compressed form the caller may have produced already (raw deflate or a zstd frame), so
   * compression can run off the driver's thread; null stores it uncompressed, undefined lets
   * the driver compress.
   */
  writeCompressed?(offset: number, data: Uint8Array, compressed?: Uint8Array | null): void;
}
