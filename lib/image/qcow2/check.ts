/**
 * `qemu-img check` for qcow2, as qcow2_check_refcounts() does it: count the references the metadata
 * makes (header, active and snapshot L1/L2 trees, snapshot table, bitmaps, refcount table and
 * blocks) into an in-memory refcount table, compare it with the stored refcounts, then check the
 * COPIED flags. Messages and repair rules are QEMU's (block/qcow2-refcount.c): `-r leaks` lowers
 * refcounts that are too high, `-r all` also raises refcounts that are too low and fixes COPIED
 * flags. A used cluster with refcount 0, or a broken refcount table entry or block, cannot be
 * repaired in place: `-r all` then rebuilds the refcount structure from the in-memory table
 * (new refblocks and table in free clusters, then the header), and `-r leaks` refuses.
 */
import type { CheckResult } from "../block_driver.ts";
import { ImageError } from "../block_driver.ts";
import { COMPRESSED_HI, COPIED_HI, entryOffset, type Qcow2Driver } from "./driver.ts";
import { INCOMPAT } from "./header.ts";
import { readEntry, writeEntry } from "./refcounts.ts";
import { fixCopiedFlags, readL1 } from "./snapshots.ts";
import { bitmapReferences } from "./bitmaps.ts";

const hex = (n: number) => n.toString(16);
/** A 64-bit entry from its halves, in %PRIx64 form. */
const hex64 = (hi: number, lo: number) =>
  hi ? (hi >>> 0).toString(16) + (lo >>> 0).toString(16).padStart(8, "0") : (lo >>> 0).toString(16);

/** REFT_RESERVED_MASK: the low 9 bits of a refcount table entry. */
const REFT_RESERVED = 0x1ff;

type Fix = "leaks" | "all" | undefined;

/**
 * The in-memory refcount table (QEMU's IMRT) and the cluster count it covers. 32-bit counts: a
 * cluster cannot be referenced 2^32 times, and integer elements stay unboxed in cold code (a
 * Float64Array element read allocates a heap number until V8 optimizes the loop, which the
 * few-millisecond check never waits for).
 */
class Imrt {
  counts = new Uint32Array(0);
  constructor(public nbClusters: number) {
    this.grow(nbClusters);
  }
  get(c: number): number {
    return c < this.counts.length ? this.counts[c] : 0;
  }
  set(c: number, v: number): void {
    this.grow(c + 1);
    this.counts[c] = v;
  }
  grow(n: number): void {
    if (n <= this.counts.length) return;
    const next = new Uint32Array(Math.max(n, this.counts.length * 2));
    next.set(this.counts);
    this.counts = next;
  }
}

export function checkImage(d: Qcow2Driver, repair?: "leaks" | "all"): CheckResult {
  const cs = d.clusterSize;
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
  const imrt = new Imrt(Math.ceil(d.file.size() / cs));
  const highest = { cluster: 0 };

  let rebuild = calculateRefcounts(d, res, imrt, repair === "all");
  const preCompare = counters(res);
  rebuild = compareRefcounts(d, res, imrt, undefined, highest) || rebuild;

  if (rebuild && repair === "all") {
    const old = counters(res);
    say("Rebuilding refcount structure");
    try {
      rebuildRefcountStructure(d, imrt);
    } catch (e) {
      if (!(e instanceof ImageError)) throw e;
      // QEMU prints the corruption notice (the first one only), then reports the write as failed.
      if (e.message.startsWith("qcow2: ") && !signaled.has(d)) say(e.message);
      signaled.add(d);
      res.failed = { reports: ["ERROR writing refblock: Input/output error"], reason: "Input/output error" };
      return res;
    }
    res.corruptions = 0;
    res.leaks = 0;
    // The old table is gone: count the references again, against the new structure.
    imrt.counts.fill(0);
    let broken = calculateRefcounts(d, res, imrt, false);
    // The old refcount structures are leaks now; any other leak was made by the rebuild.
    const saved = counters(res);
    Object.assign(res, zeroCounters());
    broken = compareRefcounts(d, res, imrt, "leaks", highest) || broken;
    if (broken) say("ERROR rebuilt refcount structure is still broken");
    const freshLeaks = res.leaks;
    Object.assign(res, saved);
    if (res.corruptions < old.corruptions) res.corruptionsFixed += old.corruptions - res.corruptions;
    if (res.leaks < old.leaks) res.leaksFixed += old.leaks - res.leaks;
    res.leaks += freshLeaks;
  } else if (repair) {
    if (rebuild) {
      say("ERROR need to rebuild refcount structures");
      res.checkErrors++;
      res.failed = { reports: [], reason: "Input/output error" };
      return res;
    }
    if (res.leaks || res.corruptions) {
      Object.assign(res, preCompare);
      compareRefcounts(d, res, imrt, repair, highest);
    }
  }

  // check_oflag_copied(): `-r leaks` repairs COPIED too when the refcounts are now sound.
  const soundRefcounts = !res.checkErrors && !res.corruptions && !res.leaks;
  checkCopied(d, res, repair === "all" || (repair === "leaks" && soundRefcounts));
  res.imageEndOffset = (highest.cluster + 1) * cs;
  if (repair === "all" && res.corruptions === 0 && (d.header.incompatibleFeatures & INCOMPAT.dirty)) {
    d.header.incompatibleFeatures &= ~INCOMPAT.dirty;
    d.writeHeader();
  }
  return res;
}

type Counters = Omit<CheckResult, "messages" | "failed">;

function counters(r: CheckResult): Counters {
  const { messages: _m, failed: _f, ...rest } = r;
  return { ...rest };
}

function zeroCounters(): Counters {
  return {
    corruptions: 0,
    leaks: 0,
    checkErrors: 0,
    corruptionsFixed: 0,
    leaksFixed: 0,
    allocatedClusters: 0,
    fragmentedClusters: 0,
    compressedClusters: 0,
  };
}

/** One L2 table being counted by scanL2(), and what it calls back for. */
interface L2Scan {
  /** The table, as 32-bit words (for finding empty entries) and big-endian fields. */
  words: Int32Array;
  view: DataView;
  /** Words per entry: 2, or 4 with extended L2. */
  stride: number;
  cs: number;
  /** The active L1's tables count as allocated (and fragmented); snapshots' do not. */
  active: boolean;
  refcounted: boolean;
  /** The host offset a contiguous next cluster would have (0: none yet). */
  next: number;
  /** Ordinary data clusters of this table that are allocated, and that are fragmented. */
  allocated: number;
  fragmented: number;
  /** Counts one reference to a whole cluster. */
  count(offset: number): void;
  /** Everything but an ordinary data cluster: compressed, unaligned, or no host offset. */
  unusual(l1Index: number, j: number, hi: number, lo: number, host: number): void;
}

/**
 * The entries of one L2 table (check_refcounts_l2()), where check spends its time. The loop is
 * kept to the ordinary case, everything else handed to scan.unusual(), so that the function V8
 * compiles when it tiers the loop up stays small: compiling a big one cost the cold check more
 * than it saved.
 */
function scanL2(scan: L2Scan, l1Index: number, entries: number): void {
  const { words, view, stride, cs, active, refcounted } = scan;
  let allocated = 0;
  let fragmented = 0;
  for (let j = 0; j < entries; j++) {
    if ((words[j * stride] | words[j * stride + 1]) === 0) continue; // empty, in either byte order
    const hi = view.getInt32(j * stride * 4); // signed: the same bits, and no heap number for COPIED
    const lo = view.getUint32(j * stride * 4 + 4);
    const host = entryOffset(hi, lo);
    if ((hi & COMPRESSED_HI) !== 0 || host === 0 || host % cs !== 0) {
      scan.unusual(l1Index, j, hi, lo, host);
      continue;
    }
    if (active) {
      allocated++;
      if (scan.next !== 0 && host !== scan.next) fragmented++;
      scan.next = host + cs;
    }
    if (refcounted) scan.count(host);
  }
  scan.allocated = allocated;
  scan.fragmented = fragmented;
}

/**
 * calculate_refcounts(): every reference the metadata makes, counted into imrt. Returns whether
 * the refcount structure itself is broken (it must be rebuilt).
 */
function calculateRefcounts(d: Qcow2Driver, res: CheckResult, imrt: Imrt, fixErrors: boolean): boolean {
  const cs = d.clusterSize;
  const say = (m: string) => res.messages.push(m);
  let fileSize = d.file.size();
  let rebuild = false;

  /** qcow2_inc_refcounts_imrt(). */
  const inc = (offset: number, size: number): void => {
    if (size <= 0) return;
    // The last cluster may be partly allocated, so up to one cluster past the end is fine.
    if (offset + size - fileSize >= cs) {
      say(
        `ERROR: counting reference for region exceeding the end of the file by one cluster or more: ` +
          `offset 0x${hex(offset)} size 0x${hex(size)}`,
      );
      res.corruptions++;
      return;
    }
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + size - 1) / cs);
    for (let c = first; c <= last; c++) {
      if (c >= imrt.nbClusters) imrt.nbClusters = c + 1;
      imrt.set(c, imrt.get(c) + 1);
    }
  };

  inc(0, cs);
  const table = new Uint8Array(cs);
  const scan: L2Scan = {
    words: new Int32Array(table.buffer),
    view: new DataView(table.buffer),
    stride: d.entryBytes / 4,
    cs,
    active: true,
    refcounted: d.data === d.file, // with an external data file, data clusters are not refcounted
    next: 0,
    allocated: 0,
    fragmented: 0,
    count: (offset) => {
      const c = offset / cs;
      if (offset >= fileSize || c >= imrt.counts.length) return inc(offset, cs);
      if (c >= imrt.nbClusters) imrt.nbClusters = c + 1;
      imrt.counts[c]++;
    },
    unusual: (l1Index, j, hi, lo, host) => {
      const at = j * scan.stride * 4;
      if (hi & COMPRESSED_HI) {
        const [off, len] = d.compressedExtent(hi, lo);
        if (hi & COPIED_HI) {
          say(`ERROR: coffset=0x${hex(off)}: copied flag must never be set for compressed clusters`);
          res.corruptions++;
        }
        if (d.extendedL2 && (scan.view.getUint32(at + 8) || scan.view.getUint32(at + 12))) {
          say(
            `ERROR compressed cluster ${
              l1Index * d.l2Entries + j
            } with non-zero subcluster allocation bitmap, ` +
              `entry=0x${hex64(hi, lo)}`,
          );
          res.corruptions++;
        }
        if (scan.active) {
          res.allocatedClusters!++;
          res.compressedClusters!++;
          res.fragmentedClusters!++;
        }
        inc(off, len);
        return;
      }
      // With an external data file, guest cluster 0 lives at host offset 0: COPIED marks it allocated.
      if (!host && !(d.data !== d.file && (hi & COPIED_HI))) return;
      if (scan.active) {
        res.allocatedClusters!++;
        if (scan.next && host !== scan.next) res.fragmentedClusters!++;
        scan.next = host + cs;
      }
      if (host % cs !== 0) {
        say(`ERROR offset=${hex(host)}: Cluster is not properly aligned; L2 entry corrupted`);
        res.corruptions++;
        return;
      }
      if (scan.refcounted) scan.count(host);
    },
  };
  const checkL1 = (l1Offset: number, l1: Float64Array, active: boolean): void => {
    inc(l1Offset, l1.length * 8);
    for (let i = 0; i < l1.length; i++) {
      const l2 = l1[i];
      if (!l2) continue;
      if (l2 % cs === 0) scan.count(l2);
      else inc(l2, cs);
      if (l2 % cs !== 0) {
        say(`ERROR l2_offset=${hex(l2)}: Table is not cluster aligned; L1 entry corrupted`);
        res.corruptions++;
        continue;
      }
      // As QEMU's read does, a table cut short by the end of the file reads zeros past it.
      if (l2 >= fileSize) continue;
      d.file.pread(table, l2);
      scan.active = active;
      scan.next = 0; // fragmentation is judged within each L2 table, as QEMU does
      scanL2(scan, i, d.l2Entries);
      if (active) {
        res.allocatedClusters! += scan.allocated;
        res.fragmentedClusters! += scan.fragmented;
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

  // check_refblocks(), on the table's raw entries (reserved bits included).
  const raw = new Uint8Array(d.refs.table.length * 8);
  d.file.pread(raw, d.refs.tableOffset);
  const rv = new DataView(raw.buffer);
  const rw = new Int32Array(raw.buffer);
  // Entries past the last one in use are empty and say nothing (see the Refcounts constructor).
  const used = Math.ceil((rw.findLastIndex(Boolean) + 1) / 2);
  for (let i = 0; i < used; i++) {
    if ((rw[i * 2] | rw[i * 2 + 1]) === 0) continue;
    const lo = rv.getUint32(i * 8 + 4);
    const off = (rv.getUint32(i * 8) & 0x00ffffff) * 2 ** 32 + ((lo & ~REFT_RESERVED) >>> 0);
    if (lo & REFT_RESERVED) {
      say(`ERROR refcount table entry ${i} has reserved bits set`);
      res.corruptions++;
      rebuild = true;
      continue;
    }
    if (off % cs !== 0) {
      say(`ERROR refcount block ${i} is not cluster aligned; refcount table entry corrupted`);
      res.corruptions++;
      rebuild = true;
      continue;
    }
    const cluster = off / cs;
    if (cluster >= imrt.nbClusters) {
      res.corruptions++;
      say(`${fixErrors ? "Repairing" : "ERROR"} refcount block ${i} is outside image`);
      if (fixErrors) {
        // Grow the file to hold the block: it reads as zeros, i.e. all refcounts 0.
        d.file.truncate(off + cs);
        fileSize = d.file.size();
        imrt.nbClusters = Math.ceil(fileSize / cs);
        imrt.grow(imrt.nbClusters);
        res.corruptions--;
        res.corruptionsFixed++;
        inc(off, cs);
      }
      continue;
    }
    if (off) {
      inc(off, cs);
      if (imrt.get(cluster) !== 1) {
        say(`ERROR refcount block ${i} refcount=${imrt.get(cluster)}`);
        res.corruptions++;
        rebuild = true;
      }
    }
  }
  return rebuild;
}

/**
 * compare_refcounts(): the stored refcounts against imrt. `fix` repairs what it may; returns
 * whether a used cluster has refcount 0 (only a rebuild can fix that).
 */
function compareRefcounts(
  d: Qcow2Driver,
  res: CheckResult,
  imrt: Imrt,
  fix: Fix,
  highest: { cluster: number },
): boolean {
  let rebuild = false;
  const per = d.refs.blockEntries;
  const bits = d.refs.bits;
  const counts = imrt.counts;
  // One refcount block at a time, its entries read in place, in as few steps per cluster as
  // can be: this loop runs once per cluster of the image.
  for (let start = 0; start < imrt.nbClusters; start += per) {
    const end = Math.min(imrt.nbClusters, start + per);
    const block = storedBlock(d, start / per);
    for (let i = start; i < end; i++) {
      // A block that cannot be read is asked for again per cluster: each gets its error, as in QEMU.
      const stored = block === null
        ? safeGet(d, i, res)
        : block
        ? readEntry(block.view, block.data, i - start, bits)
        : 0;
      if (stored === counts[i]) {
        if (stored > 0) highest.cluster = i;
        continue;
      }
      if (stored < 0) continue;
      highest.cluster = i;
      if (refcountMismatch(d, res, i, stored, counts[i], fix)) rebuild = true;
    }
  }
  if (fix) d.refs.flush();
  return rebuild;
}

/**
 * A cluster whose stored refcount is not the count of its references: reported, and repaired
 * where `fix` allows. Returns true when only a rebuild can repair it (stored 0).
 */
function refcountMismatch(
  d: Qcow2Driver,
  res: CheckResult,
  i: number,
  stored: number,
  actual: number,
  fix: Fix,
): boolean {
  let rebuild = false;
  let fixed: "leak" | "corruption" | undefined;
  if (stored === 0) rebuild = true;
  else if (stored > actual && fix) fixed = "leak";
  else if (stored < actual && fix === "all") fixed = "corruption";
  res.messages.push(
    `${
      fixed ? "Repairing" : stored < actual ? "ERROR" : "Leaked"
    } cluster ${i} refcount=${stored} reference=${actual}`,
  );
  if (fixed) {
    d.refs.set(i, actual);
    // A freed cluster is discarded (QCOW2_DISCARD_ALWAYS): QEMU punches a hole, which reads as
    // zeros; where the hole cannot be punched (no FFI), zeros are written instead.
    if (
      actual === 0 && i * d.clusterSize < d.file.size() &&
      !d.file.punchHole(i * d.clusterSize, d.clusterSize)
    ) {
      d.file.pwrite(
        new Uint8Array(Math.min(d.clusterSize, d.file.size() - i * d.clusterSize)),
        i * d.clusterSize,
      );
    }
    if (fixed === "leak") res.leaksFixed++;
    else res.corruptionsFixed++;
  } else if (stored < actual) res.corruptions++;
  else res.leaks++;
  return rebuild;
}

/**
 * rebuild_refcount_structure(): writes imrt out as new refcount blocks and a new refcount table
 * in clusters imrt has free (or past the end), then points the header at the table. Placing the
 * table changes imrt, so the blocks covering it are written again until nothing moves.
 */
function rebuildRefcountStructure(d: Qcow2Driver, imrt: Imrt): void {
  const cs = d.clusterSize;
  const perBlock = d.refs.blockEntries;
  const bits = d.refs.bits;
  const reftable: number[] = [];
  let entries = 0;
  const block = new Uint8Array(cs);
  const bv = new DataView(block.buffer);

  /** alloc_clusters_imrt(): count free clusters from firstFree.at, else append. */
  const alloc = (count: number, firstFree: { at: number }): number => {
    let cluster = firstFree.at;
    let run = 0;
    let firstGap = true;
    for (; cluster < imrt.nbClusters && run < count; cluster++) {
      if (!imrt.get(cluster)) {
        run++;
        if (firstGap) {
          firstFree.at = cluster;
          firstGap = false;
        }
      } else run = 0;
    }
    if (run < count) {
      imrt.nbClusters = cluster + count - run;
      imrt.grow(imrt.nbClusters);
    }
    cluster -= run;
    for (let i = 0; i < count; i++) imrt.set(cluster + i, 1);
    return cluster * cs;
  };

  /** rebuild_refcounts_write_refblocks(): true when the table had to grow. */
  const writeRefblocks = (first: number, end: number): boolean => {
    const firstFree = { at: 0 };
    let grown = false;
    for (let cluster = first; cluster < end; cluster++) {
      if (!imrt.get(cluster)) continue;
      const index = Math.floor(cluster / perBlock);
      const start = index * perBlock;
      let offset: number;
      if (entries > index && reftable[index]) offset = reftable[index];
      else {
        // Never in a block already written.
        if (firstFree.at < start) firstFree.at = start;
        offset = alloc(1, firstFree);
        if (offset / cs >= end) end = offset / cs + 1;
        if (entries <= index) {
          entries = Math.ceil(((index + 1) * 8) / cs) * (cs / 8);
          for (let i = reftable.length; i < entries; i++) reftable.push(0);
          grown = true;
        }
        reftable[index] = offset;
      }
      const what = d.metadataAt(offset / cs, 1);
      if (what) d.corruption(`Preventing invalid write on metadata (overlaps with ${what})`);
      for (let j = 0; j < perBlock; j++) writeEntry(bv, block, j, bits, imrt.get(start + j));
      d.file.pwrite(block, offset);
      cluster = start + perBlock - 1;
    }
    return grown;
  };

  writeRefblocks(0, imrt.nbClusters);
  let tableOffset: number;
  let tableClusters: number;
  let grown: boolean;
  do {
    tableClusters = Math.ceil((entries * 8) / cs);
    tableOffset = alloc(tableClusters, { at: 0 });
    grown = writeRefblocks(tableOffset / cs, tableOffset / cs + tableClusters);
  } while (grown);

  const raw = new Uint8Array(entries * 8);
  const rv = new DataView(raw.buffer);
  for (let i = 0; i < entries; i++) {
    rv.setUint32(i * 8, Math.floor(reftable[i] / 2 ** 32));
    rv.setUint32(i * 8 + 4, reftable[i] >>> 0);
  }
  d.file.pwrite(raw, tableOffset);
  // Only the two header fields change, written in place as QEMU does, then synced.
  const fields = new Uint8Array(12);
  const fv = new DataView(fields.buffer);
  fv.setUint32(0, Math.floor(tableOffset / 2 ** 32));
  fv.setUint32(4, tableOffset >>> 0);
  fv.setUint32(8, tableClusters);
  d.file.pwrite(fields, 48);
  d.file.sync();
  d.header.refcountTableOffset = tableOffset;
  d.header.refcountTableClusters = tableClusters;
  d.refs = d.loadRefcounts();
}

/** Drivers that reported a corruption already: QEMU signals one per open image, then suppresses. */
const signaled = new WeakSet<Qcow2Driver>();

/** A refcount block as stored; undefined: none (all refcounts 0); null: it cannot be read. */
type StoredBlock = { view: DataView; data: Uint8Array } | undefined | null;

function storedBlock(d: Qcow2Driver, index: number): StoredBlock {
  try {
    return d.refs.blockAt(index);
  } catch (e) {
    if (e instanceof ImageError) return null;
    throw e;
  }
}

/** qcow2_get_refcount() for the compare: a refblock it cannot read is a check error (EIO). */
function safeGet(d: Qcow2Driver, cluster: number, res: CheckResult): number {
  try {
    return d.refs.get(cluster);
  } catch (e) {
    if (!(e instanceof ImageError)) throw e;
    if (!signaled.has(d)) {
      signaled.add(d);
      if (d.readOnly) {
        res.messages.push(
          `qcow2: Image is corrupt: ${e.message}; further non-fatal corruption events will be suppressed`,
        );
      } else {
        try {
          d.corruption(e.message);
        } catch (c) {
          res.messages.push((c as Error).message);
        }
      }
    }
    res.messages.push(`Can't get refcount for cluster ${cluster}: Input/output error`);
    res.checkErrors++;
    return -1;
  }
}

function storedOrUndefined(d: Qcow2Driver, cluster: number): number | undefined {
  try {
    return d.refs.get(cluster);
  } catch (e) {
    if (e instanceof ImageError) return undefined;
    throw e;
  }
}

/**
 * The data entries of one L2 table whose COPIED flag disagrees with their refcount, reported;
 * true when there was one. A small function of its own for the same reason as scanL2().
 */
function copiedMismatches(
  d: Qcow2Driver,
  words: Int32Array,
  view: DataView,
  stride: number,
  entries: number,
  res: CheckResult,
  fix: boolean,
): boolean {
  const cs = d.clusterSize;
  let found = false;
  for (let j = 0; j < entries; j++) {
    if ((words[j * stride] | words[j * stride + 1]) === 0) continue;
    const hi = view.getInt32(j * stride * 4); // signed: the same bits, and no heap number for COPIED
    const lo = view.getUint32(j * stride * 4 + 4);
    if (hi & COMPRESSED_HI) continue;
    const host = entryOffset(hi, lo);
    if (!host || host % cs !== 0) continue;
    const r = storedOrUndefined(d, host / cs);
    if (r === undefined || (r === 1) === ((hi & COPIED_HI) !== 0)) continue;
    res.messages.push(
      `${fix ? "Repairing" : "ERROR"} OFLAG_COPIED data cluster: l2_entry=${hex64(hi, lo)} refcount=${r}`,
    );
    if (fix) res.corruptionsFixed++;
    else res.corruptions++;
    found = true;
  }
  return found;
}

/** The OFLAG_COPIED pass: COPIED must be set exactly where the refcount is 1. */
function checkCopied(d: Qcow2Driver, res: CheckResult, fix: boolean): void {
  const cs = d.clusterSize;
  const table = new Uint8Array(cs);
  const v = new DataView(table.buffer);
  const words = new Int32Array(table.buffer);
  const stride = d.entryBytes / 4;
  const entries = d.l2Entries;
  let needFix = false;
  for (let i = 0; i < d.l1.length; i++) {
    const l2 = d.l1[i];
    // A table past the end of the file is still checked (QEMU does): its refcount is 0 and
    // it reads as zeros.
    if (!l2 || l2 % cs !== 0) continue;
    // An unreadable refcount was reported by the compare already: skip, as QEMU does.
    const rc = storedOrUndefined(d, l2 / cs);
    if (rc === undefined) continue;
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
    if (d.data !== d.file) continue; // data clusters in an external file have no refcounts
    d.file.pread(table, l2);
    if (copiedMismatches(d, words, v, stride, entries, res, fix)) needFix = true;
  }
  if (fix && needFix) {
    fixCopiedFlags(d);
    d.file.sync();
  }
}
