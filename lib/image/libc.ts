/**
 * The host's libc through Deno's FFI, for what QEMU's file driver does and Deno's file API cannot:
 * open file description (OFD) byte-range locks (fcntl F_OFD_SETLK/F_OFD_GETLK), which is how QEMU
 * processes see each other's use of an image, lseek's SEEK_DATA/SEEK_HOLE, which find a sparse
 * file's holes without reading it, and fallocate's FALLOC_FL_PUNCH_HOLE, with which QEMU's file
 * driver gives freed clusters back to the host (its discard). Calls work on a descriptor of their own (HostDescriptor) beside
 * the Deno.FsFile that does the I/O: Deno does not expose its file descriptors.
 *
 * libc is loaded only when the process may load it (`--allow-ffi=<the libc path>`, as the deno.json
 * tasks grant); otherwise hostDescriptor() gives undefined, and callers behave as QEMU does on a
 * host without OFD locks, SEEK_DATA or hole punching: no locks, holes found by reading, and
 * discards that leave the file's blocks allocated.
 */

/** Linux's fcntl commands and lock types (the same on x86_64 and aarch64). */
const F_OFD_GETLK = 36;
const F_OFD_SETLK = 37;
const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const SEEK_SET = 0;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_CLOEXEC = 0o2000000;
/** fallocate modes: deallocate a range, leaving the file's size as it is (what QEMU's discard asks). */
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;
const FALLOC_FL_ZERO_RANGE = 0x10;
/** sizeof(struct flock) on 64-bit Linux: l_type, l_whence (short), l_start, l_len (off_t), l_pid. */
const FLOCK_SIZE = 32;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  fallocate: { parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Where Debian-style multiarch systems keep glibc; the deno.json tasks grant exactly these. */
export const LIBC_PATHS = [`/lib/${Deno.build.arch}-linux-gnu/libc.so.6`];

let loaded: Libc | null | undefined;

/** libc's symbols, or null when this process may not (or cannot) load it. */
function libc(): Libc | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (Deno.build.os !== "linux") return loaded;
  for (const path of LIBC_PATHS) {
    try {
      if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") continue;
      loaded = Deno.dlopen(path, SYMBOLS).symbols;
      break;
    } catch {
      // Not there, or not loadable: try the next, else work without.
    }
  }
  return loaded;
}

/** A libc descriptor of a host file: read-only for locks and hole queries, write-only for punching holes. */
export class HostDescriptor {
  #flock = new Uint8Array(FLOCK_SIZE);
  #view = new DataView(this.#flock.buffer);
  private constructor(readonly fd: number, readonly c: Libc) {}

  /** Opens path with libc, or undefined when libc is unavailable or the open fails. */
  static open(path: string, writable = false): HostDescriptor | undefined {
    const c = libc();
    if (!c) return undefined;
    const fd = c.open(new TextEncoder().encode(path + "\0"), (writable ? O_WRONLY : O_RDONLY) | O_CLOEXEC, 0);
    return fd < 0 ? undefined : new HostDescriptor(fd, c);
  }

  #fcntl(cmd: number, type: number, start: number): number {
    const v = this.#view;
    v.setInt16(0, type, true);
    v.setInt16(2, SEEK_SET, true);
    v.setBigInt64(8, BigInt(start), true);
    v.setBigInt64(16, 1n, true);
    v.setInt32(24, 0, true); // l_pid must be 0 for OFD locks
    return this.c.fcntl(this.fd, cmd, this.#flock);
  }

  /** Takes (shared) or drops the one-byte lock at offset; -1 on failure. */
  lockByte(offset: number, locked: boolean): number {
    return this.#fcntl(F_OFD_SETLK, locked ? F_RDLCK : F_UNLCK, offset);
  }

  /** Whether another open file description holds a lock on the byte that an exclusive one would meet. */
  byteLockedByOthers(offset: number): boolean {
    if (this.#fcntl(F_OFD_GETLK, F_WRLCK, offset) < 0) return false;
    return this.#view.getInt16(0, true) !== F_UNLCK;
  }

  /**
   * SEEK_DATA/SEEK_HOLE from pos (inside the file): the next data or hole offset, or `"eof"` when
   * no data follows pos. A failure is taken as ENXIO, the one failure lseek has for such a pos:
   * errno is out of reach, since reading it through its pointer needs FFI access unscoped to libc.
   * (A file system without SEEK_DATA answers as if the whole file were data, as QEMU then assumes.)
   */
  seek(pos: number, what: "data" | "hole"): number | "eof" {
    const r = Number(this.c.lseek(this.fd, BigInt(pos), what === "data" ? SEEK_DATA : SEEK_HOLE));
    return r >= 0 ? r : "eof";
  }

  /**
   * Deallocates [offset, offset+length) (reads as zeros afterwards; the size stays), as QEMU's
   * file driver discards; false when the file system cannot (EOPNOTSUPP) or the descriptor is
   * read-only.
   */
  punchHole(offset: number, length: number): boolean {
    const mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    return this.c.fallocate(this.fd, mode, BigInt(offset), BigInt(length)) === 0;
  }

  /**
   * Makes [offset, offset+length) read as zeros without writing them (the blocks stay allocated,
   * as unwritten extents), as QEMU's file driver writes zeros; false where the file system cannot.
   */
  zeroRange(offset: number, length: number): boolean {
    return this.c.fallocate(
      this.fd,
      FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
      BigInt(offset),
      BigInt(length),
    ) === 0;
  }

  close(): void {
    this.c.close(this.fd);
  }
}
