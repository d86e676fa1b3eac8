/**
 * Image locking as QEMU 7.2's file driver does it (block/file-posix.c, locking=auto), so that our
 * tools and QEMU's see each other: each open image holds shared OFD locks on single bytes of the
 * file, byte 100+i for each permission i it takes and byte 200+i for each permission it does not
 * share. Opening checks the converse first (byte 200+i for what it takes, 100+i for what it will not
 * share) and refuses with QEMU's words when another process holds one.
 *
 * One process holds one descriptor per file (by device and inode) with the union of what its opens
 * take, as one QEMU process shares one node: our tools open the same file more than once (a chain
 * and its base in `commit`, a new image and its reopening in `create`) and must not refuse
 * themselves.
 */
import { ImageError } from "./block_driver.ts";
import { HostDescriptor } from "./libc.ts";

/** BLK_PERM_* bits, in QEMU's order (the lock byte offsets follow it). */
export const PERM = { consistentRead: 1, write: 2, writeUnchanged: 4, resize: 8 } as const;
const PERM_NAMES = ["consistent read", "write", "write unchanged", "resize"];
const PERM_ALL = 0xf;
const LOCK_PERM_BASE = 100;
const LOCK_SHARED_BASE = 200;

/** What an open takes and what it lets others take, as QEMU's qemu-img and qemu-system ask. */
export interface Permissions {
  perm: number;
  shared: number;
}

/** Read-only: read, and let others read (and write without changing data), not write or resize. */
export const READ_ONLY: Permissions = {
  perm: PERM.consistentRead,
  shared: PERM.consistentRead | PERM.writeUnchanged,
};
/** Read-write: read, write and resize, sharing the same as a reader. */
export const READ_WRITE: Permissions = {
  perm: PERM.consistentRead | PERM.write | PERM.resize,
  shared: PERM.consistentRead | PERM.writeUnchanged,
};
/** `-U`/force-share: read, and share everything. */
export const FORCE_SHARE: Permissions = { perm: PERM.consistentRead, shared: PERM_ALL };

interface FileLocks {
  fd: HostDescriptor;
  holders: Set<Permissions>;
  /** Bytes this process currently has locked. */
  locked: Set<number>;
}

const files = new Map<string, FileLocks>();

/** The bytes a set of holders needs locked. */
function wanted(holders: Iterable<Permissions>): Set<number> {
  const bytes = new Set<number>();
  for (const h of holders) {
    for (let i = 0; i < PERM_NAMES.length; i++) {
      if (h.perm & (1 << i)) bytes.add(LOCK_PERM_BASE + i);
      if (!(h.shared & (1 << i))) bytes.add(LOCK_SHARED_BASE + i);
    }
  }
  return bytes;
}

function apply(f: FileLocks): void {
  const want = wanted(f.holders);
  for (const b of f.locked) if (!want.has(b)) f.fd.lockByte(b, false);
  for (const b of want) if (!f.locked.has(b)) f.fd.lockByte(b, true);
  f.locked = want;
}

/** raw_check_lock_bytes(): the first conflict with the holders of the bytes, in QEMU's order and words. */
function conflict(p: Permissions, locked: (byte: number) => boolean): string | undefined {
  for (let i = 0; i < PERM_NAMES.length; i++) {
    if ((p.perm & (1 << i)) && locked(LOCK_SHARED_BASE + i)) return `Failed to get "${PERM_NAMES[i]}" lock`;
  }
  for (let i = 0; i < PERM_NAMES.length; i++) {
    if (!(p.shared & (1 << i)) && locked(LOCK_PERM_BASE + i)) {
      return `Failed to get shared "${PERM_NAMES[i]}" lock`;
    }
  }
  return undefined;
}

/** A held lock; release() gives its permissions back. */
export interface ImageLock {
  /** The libc descriptor the locks are on, which also answers hole queries. */
  readonly fd?: HostDescriptor;
  release(): void;
}

const NO_LOCK: ImageLock = { release() {} };

/**
 * Takes permissions p on the file at path (identity: its `dev:ino`), or throws QEMU's error and
 * hint naming path. Without libc (no FFI permission) nothing is locked, as on a host without OFD.
 * `againstOwn`: this process's other opens of the file conflict too, as they do in QEMU, where
 * raw_co_create() and every node have a descriptor of their own: creating an image over one
 * that is open (`convert` to its own source) or opening it to write (`convert -n`) is refused.
 */
export function lockImage(path: string, identity: string, p: Permissions, againstOwn = false): ImageLock {
  let f = files.get(identity);
  if (!f) {
    const fd = HostDescriptor.open(path);
    if (!fd) return NO_LOCK;
    f = { fd, holders: new Set(), locked: new Set() };
    files.set(identity, f);
  }
  const file = f;
  const own = againstOwn ? wanted(file.holders) : new Set<number>();
  const holder = { ...p };
  file.holders.add(holder);
  // As QEMU does: lock first, then look for others' locks, so two openers cannot both pass.
  apply(file);
  const problem = conflict(holder, (byte) => own.has(byte) || file.fd.byteLockedByOthers(byte));
  if (problem) {
    release(identity, file, holder);
    throw new ImageError(`${problem}\nIs another process using the image [${path}]?`);
  }
  return { fd: file.fd, release: () => release(identity, file, holder) };
}

function release(identity: string, f: FileLocks, holder: Permissions): void {
  if (!f.holders.delete(holder)) return;
  if (f.holders.size > 0) return apply(f);
  files.delete(identity);
  f.fd.close(); // closing the description drops all its locks
}
