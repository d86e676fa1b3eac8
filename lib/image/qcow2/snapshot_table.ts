/**
 * The qcow2 internal snapshot table: `nb_snapshots` variable-length entries stored contiguously at
 * `snapshots_offset`, each 8-byte aligned: l1_table_offset, l1_size, id and name lengths, date,
 * vm_clock, vm_state_size, extra data (vm_state_size_large, disk_size, icount in what QEMU 7.2
 * writes), the id string and the name string. Extra data we do not know is kept verbatim.
 */
import { ImageError } from "../block_driver.ts";

export interface Qcow2Snapshot {
  l1TableOffset: number;
  l1Size: number;
  id: string;
  name: string;
  dateSec: number;
  dateNsec: number;
  vmClockNs: number;
  vmStateSize: number;
  /** Guest disk size when the snapshot was taken (extra data), defaults to the image size. */
  diskSize: number;
  /** -1 when icount was off. */
  icount: number;
  /** Extra data past the three fields QEMU 7.2 knows. */
  unknownExtra: Uint8Array;
}

/** QEMU writes 24 bytes of extra data (vm_state_size_large, disk_size, icount). */
const EXTRA_SIZE = 24;
/** QEMU refuses extra data beyond this (QCOW_MAX_SNAPSHOT_EXTRA_DATA). */
const MAX_EXTRA = 1024;
const dec = new TextDecoder();
const enc = new TextEncoder();

export function parseSnapshotTable(buf: Uint8Array, count: number, imageSize: number): Qcow2Snapshot[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Qcow2Snapshot[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 40 > buf.length) throw new ImageError("Failed to read snapshot table");
    const idLen = v.getUint16(off + 12);
    const nameLen = v.getUint16(off + 14);
    const extraSize = v.getUint32(off + 36);
    if (extraSize > MAX_EXTRA) throw new ImageError("Too much extra metadata in snapshot table entry");
    const extra = off + 40;
    const total = 40 + extraSize + idLen + nameLen;
    if (off + total > buf.length) throw new ImageError("Failed to read snapshot table");
    let vmStateSize = v.getUint32(off + 32);
    let diskSize = imageSize;
    let icount = -1;
    if (extraSize >= 8) vmStateSize = Number(v.getBigUint64(extra));
    if (extraSize >= 16) diskSize = Number(v.getBigUint64(extra + 8));
    if (extraSize >= 24) icount = Number(v.getBigInt64(extra + 16));
    out.push({
      l1TableOffset: Number(v.getBigUint64(off)),
      l1Size: v.getUint32(off + 8),
      dateSec: v.getUint32(off + 16),
      dateNsec: v.getUint32(off + 20),
      vmClockNs: Number(v.getBigUint64(off + 24)),
      vmStateSize,
      diskSize,
      icount,
      unknownExtra: buf.slice(extra + Math.min(extraSize, EXTRA_SIZE), extra + extraSize),
      id: dec.decode(buf.subarray(extra + extraSize, extra + extraSize + idLen)),
      name: dec.decode(buf.subarray(extra + extraSize + idLen, off + total)),
    });
    off += (total + 7) & ~7;
  }
  return out;
}

/**
 * The bytes of the table the header's snapshots_size covers: every entry starts 8-byte aligned,
 * but the table ends where its last entry does (qcow2_write_snapshots()), so the file may too.
 */
export function snapshotTableLength(snapshots: Qcow2Snapshot[]): number {
  let length = 0;
  for (const s of snapshots) {
    length = Math.ceil(length / 8) * 8 + 40 + EXTRA_SIZE + s.unknownExtra.length;
    length += enc.encode(s.id).length + enc.encode(s.name).length;
  }
  return length;
}

/** Serialises the table, each entry padded to 8 bytes; snapshotTableLength() of it is on disk. */
export function serializeSnapshotTable(snapshots: Qcow2Snapshot[]): Uint8Array {
  const parts = snapshots.map((s) => {
    const id = enc.encode(s.id);
    const name = enc.encode(s.name);
    const extraSize = EXTRA_SIZE + s.unknownExtra.length;
    const total = 40 + extraSize + id.length + name.length;
    const b = new Uint8Array((total + 7) & ~7);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, BigInt(s.l1TableOffset));
    v.setUint32(8, s.l1Size);
    v.setUint16(12, id.length);
    v.setUint16(14, name.length);
    v.setUint32(16, s.dateSec);
    v.setUint32(20, s.dateNsec);
    v.setBigUint64(24, BigInt(s.vmClockNs));
    v.setUint32(32, s.vmStateSize > 0xffffffff ? 0 : s.vmStateSize);
    v.setUint32(36, extraSize);
    v.setBigUint64(40, BigInt(s.vmStateSize));
    v.setBigUint64(48, BigInt(s.diskSize));
    v.setBigInt64(56, BigInt(s.icount));
    b.set(s.unknownExtra, 64);
    b.set(id, 40 + extraSize);
    b.set(name, 40 + extraSize + id.length);
    return b;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
