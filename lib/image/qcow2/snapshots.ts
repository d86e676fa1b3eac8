/**
 * Internal snapshots (`qemu-img snapshot -c/-a/-d`). A snapshot is a copy of the active L1 table;
 * taking one adds a reference to every L2 table and data cluster the active L1 reaches (so both
 * trees count in the refcounts, as `check` counts them) and clears COPIED, so later writes
 * copy-on-write. Applying one swaps the trees' references; deleting one drops its references.
 * After either, COPIED is recomputed from the refcounts.
 *
 * Ordering: references are added (and written) before the table that holds them is published,
 * and dropped only after it is unpublished, so a crash leaves leaks, never a dangling reference.
 */
import { ImageError } from "../block_driver.ts";
import { COMPRESSED_HI, COPIED_HI, entryOffset, type Qcow2Driver } from "./driver.ts";
import type { Qcow2Snapshot } from "./snapshot_table.ts";

/** Reads an L1 table from the file as offsets (COPIED dropped). */
export function readL1(d: Qcow2Driver, offset: number, size: number): Float64Array {
  const raw = new Uint8Array(size * 8);
  d.file.pread(raw, offset);
  const v = new DataView(raw.buffer);
  const out = new Float64Array(size);
  for (let i = 0; i < size; i++) out[i] = entryOffset(v.getUint32(i * 8), v.getUint32(i * 8 + 4));
  return out;
}

/**
 * Adds `addend` (+1 or -1) to the refcount of every L2 table and host cluster reachable from an L1
 * table; what drops to zero is freed as QCOW2_DISCARD_SNAPSHOT, so the host file is punched there.
 */
export function updateRefcounts(d: Qcow2Driver, l1: Float64Array, addend: 1 | -1): void {
  const change = (c: number) => addend < 0 ? d.refs.freeNow(c, "snapshot") : void d.refs.add(c, addend);
  const cs = d.clusterSize;
  const table = new Uint8Array(cs);
  const v = new DataView(table.buffer);
  for (let i = 0; i < l1.length; i++) {
    const l2 = l1[i];
    if (!l2) continue;
    if (l2 % cs !== 0) {
      d.corruption(`L2 table offset 0x${l2.toString(16)} unaligned (L1 index: 0x${i.toString(16)})`);
    }
    d.file.pread(table, l2);
    for (let j = 0; j < d.l2Entries; j++) {
      const at = j * d.entryBytes;
      const hi = v.getUint32(at);
      const lo = v.getUint32(at + 4);
      if (hi & COMPRESSED_HI) {
        const [off, len] = d.compressedExtent(hi, lo);
        for (let c = Math.floor(off / cs); c <= Math.floor((off + len - 1) / cs); c++) change(c);
        continue;
      }
      const host = entryOffset(hi, lo);
      if (host) change(host / cs);
    }
    change(l2 / cs);
  }
}

/** Sets COPIED on active L1 entries and on the data entries of active L2 tables exactly where the refcount is 1. */
export function fixCopiedFlags(d: Qcow2Driver): void {
  const cs = d.clusterSize;
  d.dropL2Cache();
  const table = new Uint8Array(cs);
  const v = new DataView(table.buffer);
  for (let i = 0; i < d.l1.length; i++) {
    const l2 = d.l1[i];
    if (!l2) continue;
    const own = d.refs.get(l2 / cs) === 1;
    d.l1Copied[i] = own ? 1 : 0;
    // Shared tables too: COPIED on a data entry means the same to every tree holding the table.
    d.file.pread(table, l2);
    let changed = false;
    for (let j = 0; j < d.l2Entries; j++) {
      const at = j * d.entryBytes;
      const hi = v.getUint32(at);
      const lo = v.getUint32(at + 4);
      if (hi & COMPRESSED_HI) continue;
      const host = entryOffset(hi, lo);
      if (!host) continue;
      const want = d.refs.get(host / cs) === 1;
      if (want !== ((hi & COPIED_HI) !== 0)) {
        v.setUint32(at, want ? (hi | COPIED_HI) >>> 0 : (hi & ~COPIED_HI) >>> 0);
        changed = true;
      }
    }
    if (changed) d.file.pwrite(table, l2);
  }
  d.writeL1();
}

export function findSnapshot(d: Qcow2Driver, idOrName: string): number {
  const byId = d.snapshotList.findIndex((s) => s.id === idOrName);
  return byId >= 0 ? byId : d.snapshotList.findIndex((s) => s.name === idOrName);
}

/**
 * qcow2_snapshot_load_tmp: the read-only driver swaps its active L1 table for the snapshot's, so
 * reads and block status see the snapshot. With both an id and a name, both must match.
 */
export function loadSnapshotTemporary(
  d: Qcow2Driver,
  id: string | undefined,
  name: string | undefined,
): void {
  if (!d.readOnly) throw new ImageError("Device is not readonly");
  const sn = d.snapshotList.find((s) =>
    id !== undefined && name !== undefined
      ? s.id === id && s.name === name
      : id !== undefined
      ? s.id === id
      : s.name === name
  );
  if (!sn) throw new ImageError("Can't find snapshot");
  // Offset and size were validated when the snapshot table was read.
  d.l1 = readL1(d, sn.l1TableOffset, sn.l1Size);
  d.l1Copied = new Uint8Array(sn.l1Size);
  d.dropL2Cache();
}

/** What savevm records beside the disk state (lib/image/qcow2/vmstate.ts); `qemu-img snapshot -c` has none. */
export interface VmStateFields {
  vmStateSize: number;
  vmClockNs: number;
  /** -1: icount off. */
  icount: number;
  dateNsec?: number;
}

export function createSnapshot(d: Qcow2Driver, name: string, now: number, vm?: VmStateFields): void {
  if (d.snapshotList.some((s) => s.name === name)) {
    throw new ImageError(`Could not create snapshot '${name}': File exists`);
  }
  const id = String(d.snapshotList.reduce((m, s) => Math.max(m, Number.parseInt(s.id) || 0), 0) + 1);
  const cs = d.clusterSize;
  const l1 = Float64Array.from(d.l1);
  updateRefcounts(d, l1, 1);
  d.refs.flush();
  const l1Offset = l1.length ? d.refs.alloc(Math.ceil((l1.length * 8) / cs)) : 0;
  d.refs.flush();
  const raw = new Uint8Array(l1.length * 8);
  const v = new DataView(raw.buffer);
  for (let i = 0; i < l1.length; i++) v.setBigUint64(i * 8, BigInt(l1[i]));
  if (raw.length) d.file.pwrite(raw, l1Offset);
  const sn: Qcow2Snapshot = {
    l1TableOffset: l1Offset,
    l1Size: l1.length,
    id,
    name,
    dateSec: Math.floor(now / 1000),
    dateNsec: vm?.dateNsec ?? (now % 1000) * 1e6,
    vmClockNs: vm?.vmClockNs ?? 0,
    vmStateSize: vm?.vmStateSize ?? 0,
    diskSize: d.size,
    icount: vm?.icount ?? 0, // 0 is what `qemu-img snapshot -c` stores (no guest ran)
    unknownExtra: new Uint8Array(0),
  };
  d.snapshotList.push(sn);
  d.writeSnapshotTable();
  fixCopiedFlags(d);
  d.refs.flush();
  d.file.sync();
}

export function applySnapshot(d: Qcow2Driver, idOrName: string): void {
  const index = findSnapshot(d, idOrName);
  if (index < 0) throw new ImageError(`Could not apply snapshot '${idOrName}': No such file or directory`);
  const sn = d.snapshotList[index];
  const snapL1 = readL1(d, sn.l1TableOffset, sn.l1Size);
  updateRefcounts(d, snapL1, 1);
  d.refs.flush();
  const old = Float64Array.from(d.l1);
  const size = Math.max(snapL1.length, d.l1.length);
  const entries = new Float64Array(size);
  entries.set(snapL1);
  if (size === d.l1.length) {
    d.l1 = entries;
    d.l1Copied = new Uint8Array(size);
    d.writeL1();
  } else {
    d.replaceL1(entries, new Uint8Array(size));
  }
  d.header.size = sn.diskSize;
  d.writeHeader();
  d.dropL2Cache();
  updateRefcounts(d, old, -1);
  d.refs.flush();
  fixCopiedFlags(d);
  d.refs.flush();
  d.file.sync();
}

export function deleteSnapshot(d: Qcow2Driver, idOrName: string): void {
  const index = findSnapshot(d, idOrName);
  if (index < 0) throw new ImageError(`Could not delete snapshot '${idOrName}': No such file or directory`);
  const [sn] = d.snapshotList.splice(index, 1);
  d.writeSnapshotTable();
  const l1 = readL1(d, sn.l1TableOffset, sn.l1Size);
  updateRefcounts(d, l1, -1);
  const cs = d.clusterSize;
  for (let c = 0; c < Math.ceil((sn.l1Size * 8) / cs); c++) {
    d.refs.freeNow(sn.l1TableOffset / cs + c, "snapshot");
  }
  d.refs.flush();
  fixCopiedFlags(d);
  d.refs.flush();
  d.file.sync();
}
