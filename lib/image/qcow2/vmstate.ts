/**
 * The vm-state area that savevm fills in a qcow2 image, placed where QEMU's qcow2 driver places it
 * (qcow2_vm_state_offset): from the first L2-table boundary at or past the disk's end, reached
 * through the same L1/L2 tables as the disk. A snapshot taken after writing it copies the L1 table
 * with those entries, so the vm-state belongs to the snapshot; the active table then drops them, as
 * QEMU discards them, so that later snapshots do not carry (or copy on write) a stale state. The
 * snapshot table entry records the byte count in vm_state_size.
 */
import { ImageError } from "../block_driver.ts";
import type { Qcow2Driver } from "./driver.ts";
import { findSnapshot, readL1 } from "./snapshots.ts";
import type { Qcow2Snapshot } from "./snapshot_table.ts";

/** Guest offset of the vm-state: the disk size rounded up to what one L2 table covers. */
export function vmStateOffset(d: Qcow2Driver, diskSize = d.size): number {
  const coverage = d.clusterSize * d.l2Entries;
  return Math.ceil(diskSize / coverage) * coverage;
}

/** Makes the active L1 table reach guest offset `end` (exclusive), as qcow2_grow_l1_table does. */
function growL1(d: Qcow2Driver, end: number): void {
  const needed = Math.ceil(end / (d.clusterSize * d.l2Entries));
  if (needed <= d.l1.length) return;
  const entries = new Float64Array(needed);
  entries.set(d.l1);
  const copied = new Uint8Array(needed);
  copied.set(d.l1Copied);
  d.flushMetadata();
  d.replaceL1(entries, copied);
}

/** Writes vm-state bytes at `pos` within the area of the active image. */
export function writeVmState(d: Qcow2Driver, pos: number, data: Uint8Array): void {
  if (d.readOnly) throw new ImageError("Block node is read-only");
  const at = vmStateOffset(d) + pos;
  growL1(d, at + data.length);
  d.withVmStateArea(() => d.write(at, data));
}

/** Reads vm-state bytes at `pos` from the active image (what loadvm reads after reverting the disk). */
export function readVmState(d: Qcow2Driver, pos: number, into: Uint8Array): void {
  const at = vmStateOffset(d) + pos;
  d.withVmStateArea(() => d.read(at, into));
}

/** Drops the first `size` bytes of vm-state from the active image (after a snapshot took them, or a failed save). */
export function discardVmState(d: Qcow2Driver, size: number): void {
  const at = vmStateOffset(d);
  const end = Math.min(
    at + Math.ceil(size / d.clusterSize) * d.clusterSize,
    d.l1.length * d.clusterSize * d.l2Entries,
  );
  if (end <= at) return;
  d.withVmStateArea(() => d.discard(at, end - at, "never"));
  d.flush();
}

/** The snapshot called `name` (by name only, as bdrv_snapshot_find matches), or undefined. */
export function snapshotByName(d: Qcow2Driver, name: string): Qcow2Snapshot | undefined {
  return d.snapshotList.find((s) => s.name === name);
}

/**
 * Reads vm-state bytes of a snapshot without reverting the disk to it: the reads go through the
 * snapshot's own L1 table, so loadvm can check a whole state before it changes anything.
 */
export function readSnapshotVmState(d: Qcow2Driver, sn: Qcow2Snapshot, pos: number, into: Uint8Array): void {
  const active = d.l1;
  d.l1 = readL1(d, sn.l1TableOffset, sn.l1Size);
  try {
    const at = vmStateOffset(d, sn.diskSize) + pos;
    d.withVmStateArea(() => d.read(at, into));
  } finally {
    d.l1 = active;
  }
}

export interface VmSnapshotFields {
  vmStateSize: number;
  vmClockNs: number;
  dateSec: number;
  dateNsec: number;
}

/**
 * Takes the snapshot that owns the vm-state just written (`vmStateSize` bytes at the area's start),
 * then drops the vm-state from the active table. With size 0 it is a disk-only snapshot, as
 * savevm takes on every disk but the one holding the state.
 */
export function createVmSnapshot(d: Qcow2Driver, name: string, f: VmSnapshotFields): void {
  d.createSnapshot(name, f.dateSec * 1000, {
    vmStateSize: f.vmStateSize,
    vmClockNs: f.vmClockNs,
    icount: -1,
    dateNsec: f.dateNsec,
  });
  if (f.vmStateSize > 0) discardVmState(d, f.vmStateSize);
}

/** Deletes a snapshot by name (delvm); false when there is none. */
export function deleteSnapshotByName(d: Qcow2Driver, name: string): boolean {
  const sn = snapshotByName(d, name);
  if (!sn) return false;
  d.deleteSnapshot(sn.id);
  return findSnapshot(d, sn.id) < 0;
}
