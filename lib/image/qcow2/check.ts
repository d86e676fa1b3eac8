/**
 * `qemu-img check` for qcow2: rebuilds the reference counts from the metadata (header, active and
 * snapshot L1/L2 trees, snapshot table, refcount table and blocks), compares them with the stored
 * refcounts, then checks the COPIED flags. Messages and repair rules are QEMU's
 * (block/qcow2-refcount.c): `-r leaks` lowers refcounts that are too high, `-r all` also raises
 * refcounts that are too low and fixes COPIED flags; each fixed problem prints `Repairing ...`
 * instead of `ERROR ...`/`Leaked ...`.
 */
import type { CheckResult } from "../block_driver.ts";
import { COMPRESSED_HI, COPIED_HI, entryOffset, type Qcow2Driver, ZERO_LO } from "./driver.ts";
import { INCOMPAT } from "./header.ts";
import { fixCopiedFlags, readL1 } from "./snapshots.ts";
import { bitmapReferences } from "./bitmaps.ts";

const hex = (n: number) => n.toString(16);
/** A 64-bit entry from its halves, in %PRIx64 form. */
const hex64 = (hi: number, lo: number) =>
  hi ? (hi >>> 0).toString(16) + (lo >>> 0).toString(16).padStart(8, "0") : (lo >>> 0).toString(16);

export function checkImage(d: Qcow2Driver, repair?: "leaks" | "all"): CheckResult {
  const cs = d.clusterSize;
  const fixLeaks = repair !== undefined;
  const fixErrors = repair === "all";
  const res: CheckResult = {
    corruptions: 0,
    leaks: 0,
    checkErrors: 0,
    corruptionsFixed: 0,
    leaksFixed: 0,
    totalClusters: Math.ceil(d.size / cs),
    allocatedClusters: 0,
    fragmentedClusters: 0,
    compressedClusters: 0,
    messages: [],
  };
  const say = (m: string) => res.messages.push(m);
  const fileSize = d.file.size();
  const nbClusters = Math.ceil(fileSize / cs);
  let counts = new Uint32Array(Math.max(nbClusters, 1));

  const inc = (offset: number, size: number): void => {
    if (size <= 0) return;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + size - 1) / cs);
    for (let c = first; c <= last; c++) {
      if (c >= nbClusters) {
        say(
          `ERROR: counting reference for region exceeding the end of the file by one cluster or more: ` +
            `offset 0x${hex(offset)} size 0x${hex(size)}`,
        );
        res.corruptions++;
        return;
      }
      if (c >= counts.length) {
        const n = new Uint32Array(c + 1);
        n.set(counts);
        counts = n;
      }
      counts[c]++;
    }
  };

  inc(0, cs);
  let nextContiguous = 0;
  const table = new Uint8Array(cs);
  const tv = new DataView(table.buffer);

  const checkL1 = (l1Offset: number, l1: Float64Array, active: boolean): void => {
    inc(l1Offset, l1.length * 8);
    for (let i = 0; i < l1.length; i++) {
      const l2 = l1[i];
      if (!l2) continue;
      inc(l2, cs);
      if (l2 % cs !== 0) {
        say(`ERROR l2_offset=${hex(l2)}: Table is not cluster aligned; L1 entry corrupted`);
        res.corruptions++;
        continue;
      }
      if (l2 + cs > fileSize) continue;
      d.file.pread(table, l2);
      nextContiguous = 0; // fragmentation is judged within each L2 table, as QEMU does
      for (let j = 0; j < d.l2Entries; j++) {
        const at = j * d.entryBytes;
        const hi = tv.getUint32(at);
        const lo = tv.getUint32(at + 4);
        if (hi & COMPRESSED_HI) {
          const [off, len] = d.compressedExtent(hi, lo);
          if (hi & COPIED_HI) {
            say(`ERROR: coffset=0x${hex(off)}: copied flag must never be set for compressed clusters`);
            res.corruptions++;
          }
          if (d.extendedL2 && (tv.getUint32(at + 8) || tv.getUint32(at + 12))) {
            say(
              `ERROR compressed cluster ${i * d.l2Entries + j} with non-zero subcluster allocation bitmap, ` +
                `entry=0x${hex64(hi, lo)}`,
            );
            res.corruptions++;
          }
          if (active) {
            res.allocatedClusters!++;
            res.compressedClusters!++;
            res.fragmentedClusters!++;
          }
          inc(off, len);
          continue;
        }
        const host = entryOffset(hi, lo);
        if (!host && !(d.data !== d.file && (hi & COPIED_HI))) continue;
        if (active) {
          res.allocatedClusters!++;
          if (nextContiguous && host !== nextContiguous) res.fragmentedClusters!++;
          nextContiguous = host + cs;
        }
        if (host % cs !== 0) {
          say(`ERROR offset=${hex(host)}: Cluster is not properly aligned; L2 entry corrupted`);
          res.corruptions++;
          continue;
        }
        void ZERO_LO;
        // With an external data file the data clusters are not refcounted.
        if (d.data === d.file) inc(host, cs);
      }
    }
  };

  checkL1(d.header.l1TableOffset, d.l1, true);
  for (const sn of d.snapshotList) {
    if (sn.l1TableOffset + sn.l1Size * 8 > fileSize) {
      say(
        `ERROR snapshot ${sn.id} (${sn.name}) l1_offset=${
          hex(sn.l1TableOffset)
        }: L1 table is not within the image file`,
      );
      res.corruptions++;
      continue;
    }
    checkL1(sn.l1TableOffset, readL1(d, sn.l1TableOffset, sn.l1Size), false);
  }
  inc(d.header.snapshotsOffset, d.snapshotsSize);
  if (d.bitmaps.length && d.header.bitmaps) {
    const bm = d.header.bitmaps;
    bitmapReferences(d.file, bm.bitmapDirectoryOffset, bm.bitmapDirectorySize, d.bitmaps, inc);
  }
  inc(d.refs.tableOffset, d.refs.tableClusters * cs);
  const refTable = d.refs.table;
  for (let i = 0; i < refTable.length; i++) {
    const off = refTable[i];
    if (!off) continue;
    if (off % cs !== 0) {
      say(`ERROR refcount block ${i} is not cluster aligned; refcount table entry corrupted`);
      res.corruptions++;
      continue;
    }
    if (off / cs >= nbClusters) {
      say(`ERROR refcount block ${i} is outside image`);
      res.corruptions++;
      continue;
    }
    inc(off, cs);
    if (counts[off / cs] !== 1) {
      say(`ERROR refcount block ${i} refcount=${counts[off / cs]}`);
      res.corruptions++;
    }
  }

  // Compare what the metadata says with what the refcounts say.
  let highest = 0;
  for (let i = 0; i < Math.max(nbClusters, counts.length); i++) {
    const stored = i < refTable.length * d.refs.blockEntries ? safeGet(d, i, res) : 0;
    if (stored < 0) continue;
    const actual = counts[i] ?? 0;
    if (stored > 0 || actual > 0) highest = i;
    if (stored === actual) continue;
    const fixable = (stored > actual && fixLeaks) || (stored < actual && fixErrors);
    say(
      `${
        fixable ? "Repairing" : stored < actual ? "ERROR" : "Leaked"
      } cluster ${i} refcount=${stored} reference=${actual}`,
    );
    if (fixable) {
      d.refs.set(i, actual);
      if (stored < actual) res.corruptionsFixed++;
      else res.leaksFixed++;
    } else if (stored < actual) res.corruptions++;
    else res.leaks++;
  }
  if (fixLeaks) d.refs.flush();

  checkCopied(d, res, fixErrors);
  res.imageEndOffset = (highest + 1) * cs;
  if (fixErrors && res.corruptions === 0 && (d.header.incompatibleFeatures & INCOMPAT.dirty)) {
    d.header.incompatibleFeatures &= ~INCOMPAT.dirty;
    d.writeHeader();
  }
  return res;
}

function safeGet(d: Qcow2Driver, cluster: number, res: CheckResult): number {
  try {
    return d.refs.get(cluster);
  } catch (e) {
    res.messages.push(`Can't get refcount for cluster ${cluster}: ${(e as Error).message}`);
    res.checkErrors++;
    return -1;
  }
}

/** The OFLAG_COPIED pass: COPIED must be set exactly where the refcount is 1. */
function checkCopied(d: Qcow2Driver, res: CheckResult, fix: boolean): void {
  const cs = d.clusterSize;
  const fileSize = d.file.size();
  const table = new Uint8Array(cs);
  const v = new DataView(table.buffer);
  let needFix = false;
  for (let i = 0; i < d.l1.length; i++) {
    const l2 = d.l1[i];
    if (!l2 || l2 % cs !== 0 || l2 + cs > fileSize) continue;
    const rc = d.refs.get(l2 / cs);
    if ((rc === 1) !== (d.l1Copied[i] === 1)) {
      res.messages.push(
        `${fix ? "Repairing" : "ERROR"} OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${
          hex64((d.l1Copied[i] ? COPIED_HI : 0) | Math.floor(l2 / 4294967296), l2 >>> 0)
        } refcount=${rc}`,
      );
      if (fix) res.corruptionsFixed++;
      else res.corruptions++;
      needFix = true;
    }
    d.file.pread(table, l2);
    for (let j = 0; j < d.l2Entries; j++) {
      const at = j * d.entryBytes;
      const hi = v.getUint32(at);
      const lo = v.getUint32(at + 4);
      if (hi & COMPRESSED_HI) continue;
      const host = entryOffset(hi, lo);
      if (!host || host % cs !== 0 || d.data !== d.file) continue;
      const r = d.refs.get(host / cs);
      if ((r === 1) !== ((hi & COPIED_HI) !== 0)) {
        res.messages.push(
          `${fix ? "Repairing" : "ERROR"} OFLAG_COPIED data cluster: l2_entry=${hex64(hi, lo)} refcount=${r}`,
        );
        if (fix) res.corruptionsFixed++;
        else res.corruptions++;
        needFix = true;
      }
    }
  }
  if (fix && needFix) {
    fixCopiedFlags(d);
    d.file.sync();
  }
}
