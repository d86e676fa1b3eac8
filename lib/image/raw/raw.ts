/**
 * The raw format: the guest disk is the host file, byte for byte. blockStatus asks the host for
 * holes with SEEK_DATA/SEEK_HOLE, as QEMU does, when libc is reachable (lib/image/libc.ts: Deno's
 * own SeekMode has Start/Current/End only); otherwise it finds them by reading: a run of all-zero
 * 4 KiB blocks is reported as QEMU reports a hole (present, zero, no data), except that a file
 * with no blocks allocated at all is known sparse without reading it. Zero writes and discards
 * reach the file as QEMU's do (fallocate, through HostFile); without FFI, zeros are written and
 * discards do nothing. preallocation=falloc behaves as full (zeros written).
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
} from "../block_driver.ts";
import { HostFile } from "../host_file.ts";

/** Granularity of the zero scan, the page size QEMU's file driver aligns to. */
const SCAN_BLOCK = 4096;
/** How much one blockStatus call reads at most before answering, bounding its cost. */
const SCAN_LIMIT = 16 << 20;

export class RawDriver implements BlockDriver {
  readonly format = "raw";
  readonly backing = undefined;
  #file: HostFile;
  #scan = new Uint8Array(SCAN_BLOCK * 64);
  #size: number;
  #unmap: boolean;

  constructor(file: HostFile, unmap = false) {
    this.#file = file;
    this.#unmap = unmap;
    // QEMU counts a file's length in 512-byte sectors, rounding up; the tail reads as zeros.
    this.#size = roundToSector(file.size());
  }

  /** `opened`: the host file, already open as `options` ask (the registry probed through it). */
  static open(path: string, options: OpenOptions = {}, opened?: HostFile): RawDriver {
    return new RawDriver(
      opened ?? HostFile.open(path, options.readOnly ?? false, options.forceShare, options.againstOwn),
      options.unmap,
    );
  }

  /** Creates a raw image as QEMU does: the file at its size, the first 4 KiB written (QEMU allocates it to probe alignment). */
  static create(path: string, options: CreateOptions): void {
    const file = HostFile.create(path);
    try {
      if (options.backingFile) throw new ImageError("Backing file not supported for file format 'raw'");
      const size = roundToSector(options.size);
      file.truncate(size);
      preallocate(file, 0, size, options.preallocation ?? "off");
    } finally {
      file.close();
    }
  }

  get filename(): string {
    return this.#file.path;
  }
  get size(): number {
    return this.#size;
  }
  get readOnly(): boolean {
    return this.#file.readOnly;
  }
  /** The host file, for the convert engine's direct access. */
  get hostFile(): HostFile {
    return this.#file;
  }

  read(offset: number, buf: Uint8Array): void {
    this.#checkRange(offset, buf.length);
    this.#file.pread(buf, offset);
  }

  write(offset: number, buf: Uint8Array): void {
    this.#checkWritable();
    this.#checkRange(offset, buf.length);
    this.#file.pwrite(buf, offset);
  }

  writeZeroes(offset: number, length: number, options: { mayUnmap?: boolean } = {}): void {
    this.#checkWritable();
    this.#checkRange(offset, length);
    // Past the end of the host file (a sparse tail) the zeros are already there.
    const end = Math.min(offset + length, this.#file.size());
    if (end <= offset) return;
    // handle_aiocb_write_zeroes_unmap(): on an image opened with BDRV_O_UNMAP a hole is punched.
    if (options.mayUnmap && this.#unmap && this.#file.punchHole(offset, end - offset)) return;
    this.#file.writeZeroes(offset, end - offset);
  }

  /** Discards reach the host file (a punched hole) only on an image opened with BDRV_O_UNMAP. */
  discard(offset: number, length: number): void {
    this.#checkWritable();
    this.#checkRange(offset, length);
    if (this.#unmap) this.#file.punchHole(offset, length);
  }

  flush(): void {
    this.#file.sync();
  }

  blockStatus(offset: number, length: number): BlockStatus {
    // A length past the end is clamped (callers walk "to the end" with large lengths).
    this.#checkRange(offset, Math.min(length, this.#size - offset));
    length = Math.min(length, this.#size - offset);
    const fileSize = this.#file.size();
    const status = (len: number, zero: boolean): BlockStatus => ({
      offset,
      length: len,
      present: true,
      zero,
      data: !zero,
      depth: 0,
      hostOffset: offset,
      filename: this.#file.path,
    });
    if (offset >= fileSize || this.#file.allocatedBytes() === 0) return status(length, true);
    // find_allocation(): where the host can say, holes are what SEEK_DATA/SEEK_HOLE say, and data
    // is data even where it holds zeros.
    const data = this.#file.seekHole(offset, "data");
    if (data === "eof") return status(length, true);
    if (data !== undefined && data > offset) return status(Math.min(data - offset, length), true);
    if (data === offset) {
      const hole = this.#file.seekHole(offset, "hole");
      if (typeof hole === "number" && hole > offset) return status(Math.min(hole - offset, length), false);
    }
    // Runs are judged per aligned 4 KiB block, as holes are.
    const limit = Math.min(length, SCAN_LIMIT);
    let pos = offset;
    let zero: boolean | undefined;
    while (pos < offset + limit) {
      const chunk = Math.min(this.#scan.length, offset + limit - pos);
      this.#file.pread(this.#scan.subarray(0, chunk), pos);
      for (let i = 0; i < chunk;) {
        const blockEnd = Math.min(chunk, i + SCAN_BLOCK - ((pos + i) % SCAN_BLOCK));
        const z = isZero(this.#scan, i, blockEnd);
        if (zero === undefined) zero = z;
        else if (z !== zero) return status(pos + i - offset, zero);
        i = blockEnd;
      }
      pos += chunk;
    }
    return status(limit, zero ?? true);
  }

  info(): ImageInfo {
    return {
      format: "raw",
      filename: this.#file.path,
      virtualSize: this.#size,
      actualSize: this.#file.allocatedBytes(),
      dirty: false,
      snapshots: [],
    };
  }

  check(): CheckResult {
    throw new ImageError("This image format does not support checks");
  }

  resize(size: number, options: ResizeOptions = {}): void {
    this.#checkWritable();
    const old = this.#size;
    if (size < old && !options.shrink) {
      throw new ImageError(
        "Use the --shrink option to perform a shrink operation.",
      );
    }
    this.#file.truncate(size);
    if (size > old) preallocate(this.#file, old, size - old, options.preallocation ?? "off");
    this.#size = size;
  }

  close(): void {
    this.#file.close();
  }

  #checkRange(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.#size) {
      throw new ImageError(`Request out of range: offset ${offset} length ${length} size ${this.#size}`);
    }
  }

  #checkWritable(): void {
    if (this.readOnly) throw new ImageError("Block node is read-only");
  }
}

const roundToSector = (n: number) => Math.ceil(n / 512) * 512;

function preallocate(file: HostFile, offset: number, length: number, mode: string): void {
  if (mode === "metadata") {
    throw new ImageError("Unsupported preallocation mode: metadata");
  }
  if (mode === "falloc" || mode === "full") file.fillZeroes(offset, length);
  else if (offset === 0 && length > 0) file.pwrite(new Uint8Array(Math.min(length, SCAN_BLOCK)), 0);
}

/** True when buf[start, end) is all zeros; compares 32 bits at a time where aligned. */
export function isZero(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && (buf.byteOffset + i) % 4 !== 0) if (buf[i++] !== 0) return false;
  const words = (end - i) >>> 2;
  if (words > 0) {
    const w = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let k = 0; k < words; k++) if (w[k] !== 0) return false;
    i += words * 4;
  }
  while (i < end) if (buf[i++] !== 0) return false;
  return true;
}
