/**
 * The host file under an image: positioned reads and writes, size, truncation, allocation
 * accounting and flushing. Every format driver does its I/O through this one class, so
 * errno-to-message translation lives in one place. It uses Deno.FsFile (seek, then read or write)
 * rather than node:fs's pread: loading Deno's Node layer costs some 60 ms of start-up, which is
 * most of what a metadata-only command such as `check` takes, and the extra lseek is noise next
 * to the copies it precedes. Opening takes QEMU's image locks (image_lock.ts) for as long as the
 * file stays open.
 */
import { ImageError } from "./block_driver.ts";
import { HostDescriptor } from "./libc.ts";
import {
  FORCE_SHARE,
  type ImageLock,
  lockImage,
  type Permissions,
  READ_ONLY,
  READ_WRITE,
} from "./image_lock.ts";

/** strerror(3) texts for the codes Deno's errors carry, as QEMU prints them after a file name. */
const STRERROR: Record<string, string> = {
  ENOENT: "No such file or directory",
  EACCES: "Permission denied",
  EISDIR: "Is a directory",
  EROFS: "Read-only file system",
  ENOSPC: "No space left on device",
  EFBIG: "File too large",
  EINVAL: "Invalid argument",
  EIO: "Input/output error",
  ENOTDIR: "Not a directory",
  EPERM: "Operation not permitted",
  EEXIST: "File exists",
  ELOOP: "Too many levels of symbolic links",
};

/** The strerror text for a Deno error, falling back to its message. */
export function strerror(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code && STRERROR[code]) return STRERROR[code];
  if (e instanceof Deno.errors.NotFound) return STRERROR.ENOENT;
  if (e instanceof Deno.errors.PermissionDenied) return STRERROR.EACCES;
  if (e instanceof Deno.errors.IsADirectory) return STRERROR.EISDIR;
  return e instanceof Error ? e.message : String(e);
}

export class HostFile {
  #closed = false;
  #lock: ImageLock | undefined;
  /** The writable libc descriptor fallocate needs; null once it could not be had. */
  #punch: HostDescriptor | null | undefined;
  private constructor(readonly path: string, readonly file: Deno.FsFile, readonly readOnly: boolean) {}

  /**
   * Opens an existing file; the error reads like QEMU's file protocol: `Could not open 'x': <strerror>`,
   * or its lock conflict. forceShare (`-U`) takes no lock that could stop another process.
   */
  static open(path: string, readOnly: boolean, forceShare = false, againstOwn = false): HostFile {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true, write: !readOnly });
    } catch (e) {
      throw new ImageError(`Could not open '${path}': ${strerror(e)}`, { cause: e });
    }
    const st = file.statSync();
    if (st.isDirectory) {
      // QEMU's file protocol refuses what is not a regular file (devices belong to host_device).
      file.close();
      throw new ImageError(`'file' driver requires '${path}' to be a regular file`);
    }
    const host = new HostFile(path, file, readOnly);
    host.#takeLock(readOnly ? (forceShare ? FORCE_SHARE : READ_ONLY) : READ_WRITE, againstOwn);
    return host;
  }

  /**
   * Creates (or truncates) a file for writing, as `qemu-img create` does: locked before it is
   * truncated, so an image in use elsewhere is refused, not destroyed.
   */
  static create(path: string): HostFile {
    let host: HostFile;
    try {
      host = new HostFile(path, Deno.openSync(path, { read: true, write: true, create: true }), false);
    } catch (e) {
      throw new ImageError(`Could not create '${path}': ${strerror(e)}`, { cause: e });
    }
    host.#takeLock(READ_WRITE, true);
    host.truncate(0);
    return host;
  }

  #takeLock(permissions: Permissions, againstOwn = false): void {
    try {
      const st = this.file.statSync();
      this.#lock = lockImage(this.path, `${st.dev}:${st.ino}`, permissions, againstOwn);
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  /**
   * lseek's SEEK_DATA or SEEK_HOLE from pos: the offset, `"eof"` when no data follows pos, or
   * undefined when the host cannot say (no FFI, or a file system without them).
   */
  seekHole(pos: number, what: "data" | "hole"): number | "eof" | undefined {
    return this.#lock?.fd?.seek(pos, what);
  }

  /** Reads buf.length bytes at pos; bytes past the end of the file read as zeros. Returns bytes read from the file. */
  pread(buf: Uint8Array, pos: number): number {
    let done = 0;
    try {
      this.file.seekSync(pos, Deno.SeekMode.Start);
      while (done < buf.length) {
        const n = this.file.readSync(done ? buf.subarray(done) : buf);
        if (n === null || n === 0) break;
        done += n;
      }
    } catch (e) {
      throw new ImageError(`Could not read '${this.path}': ${strerror(e)}`, { cause: e });
    }
    if (done < buf.length) buf.fill(0, done);
    return done;
  }

  pwrite(buf: Uint8Array, pos: number): void {
    if (this.readOnly) throw new ImageError(`Could not write '${this.path}': Bad file descriptor`);
    try {
      this.file.seekSync(pos, Deno.SeekMode.Start);
      let done = 0;
      while (done < buf.length) done += this.file.writeSync(done ? buf.subarray(done) : buf);
    } catch (e) {
      throw new ImageError(`Could not write '${this.path}': ${strerror(e)}`, { cause: e });
    }
  }

  size(): number {
    return this.file.statSync().size;
  }

  /** Bytes the file occupies on the host disk (st_blocks * 512), what `actual-size` reports. */
  allocatedBytes(): number {
    const st = this.file.statSync();
    return st.blocks !== null && st.blocks !== undefined ? st.blocks * 512 : st.size;
  }

  truncate(length: number): void {
    try {
      this.file.truncateSync(length);
    } catch (e) {
      throw new ImageError(`Could not resize '${this.path}': ${strerror(e)}`, { cause: e });
    }
  }

  /**
   * QEMU's discard on a file (raw_co_pdiscard): punches [pos, pos+length) out of the file, which
   * then reads as zeros there and no longer occupies those blocks; the size stays. Returns false
   * where it cannot (no FFI permission for libc, or a file system without hole punching), and the
   * data then stays where it is, as it does under QEMU on such a host.
   */
  punchHole(pos: number, length: number): boolean {
    return length > 0 && (this.#writableDescriptor()?.punchHole(pos, length) ?? false);
  }

  /**
   * QEMU's write-zeroes on a file (handle_aiocb_write_zeroes()): the range reads as zeros, its
   * blocks allocated but unwritten (FALLOC_FL_ZERO_RANGE), or with real zeros written where that
   * is not to be had.
   */
  writeZeroes(pos: number, length: number): void {
    if (length <= 0) return;
    if (this.#writableDescriptor()?.zeroRange(pos, length)) return;
    this.fillZeroes(pos, length);
  }

  #writableDescriptor(): HostDescriptor | undefined {
    if (this.readOnly) return undefined;
    if (this.#punch === undefined) this.#punch = HostDescriptor.open(this.path, true) ?? null;
    return this.#punch ?? undefined;
  }

  /** Writes real zeros over [pos, pos+length), bounded memory; how `preallocation=full` allocates. */
  fillZeroes(pos: number, length: number): void {
    const chunk = new Uint8Array(Math.min(length, 1 << 20));
    while (length > 0) {
      const n = Math.min(length, chunk.length);
      this.pwrite(chunk.subarray(0, n), pos);
      pos += n;
      length -= n;
    }
  }

  sync(): void {
    if (this.readOnly) return;
    this.file.syncDataSync();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.file.close();
    this.#punch?.close();
    this.#lock?.release();
  }
}
