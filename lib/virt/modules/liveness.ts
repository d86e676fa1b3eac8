/**
 * Whether the processes holding /dev/kvm handles still run, asked of no other process (Deno gates
 * /proc behind --allow-all, and spawning a tool to read it costs milliseconds): each open handle
 * keeps an exclusive flock on its own file, `run/kvm/<id>.lock` under the state root, for as long
 * as it is open. The OS drops a flock when the process holding it exits or dies, so a handle is
 * alive exactly while its lock cannot be taken. A flock belongs to an open file, not to a process,
 * so the holder's own process, opening the file again, sees the handle alive too; and a pid the OS
 * reuses cannot pass for the holder.
 */
import { join } from "node:path";
import { ErrnoError } from "../../errors.ts";

/** Per-handle runtime files under the root: `<id>.lock` (liveness) and `<id>.json` (statistics). */
export const HANDLES_DIR = "run/kvm";

export function holderLockPath(root: string, id: number): string {
  return join(root, HANDLES_DIR, `${id}.lock`);
}

/** Takes handle `id`'s lock for this process; keep the file open while the handle is. */
export function acquireHolderLock(root: string, id: number): Deno.FsFile {
  Deno.mkdirSync(join(root, HANDLES_DIR), { recursive: true });
  const file = Deno.openSync(holderLockPath(root, id), { create: true, write: true });
  // Ids only grow, and `kvm-ctl reset` removes the directory: no one else holds this lock.
  if (!file.tryLockSync(true)) {
    file.close();
    throw new ErrnoError("EBUSY", `${holderLockPath(root, id)} is held by another process`);
  }
  return file;
}

/** Drops what a handle left under the root: its lock file and statistics. */
export function removeHandleFiles(root: string, id: number): void {
  for (const name of [`${id}.lock`, `${id}.json`]) {
    try {
      Deno.removeSync(join(root, HANDLES_DIR, name));
    } catch { /* already gone */ }
  }
}

/** Whether handle `id`'s holder still has it open. */
export function holderAlive(root: string, id: number): boolean {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(holderLockPath(root, id), { read: true });
  } catch {
    return false;
  }
  try {
    if (!file.tryLockSync(true)) return true;
    file.unlockSync();
    return false;
  } finally {
    file.close();
  }
}

/** Which of the given holders are alive. */
export function aliveHolders(root: string, holders: readonly { id: number }[]): boolean[] {
  return holders.map((h) => holderAlive(root, h.id));
}
