/**
 * The qcow2 refcount structures: the in-memory refcount table, a bounded write-back cache of
 * refcount blocks, refcount get/set at every width (1-64 bits; sub-byte entries LSB first), and
 * cluster allocation.
 *
 * Crash ordering: increments may be written early (a crash then leaves a leak, which
 * `check -r leaks` repairs), but decrements must not reach the disk before the L2/L1 entries that
 * dropped the reference. So frees go to a pending list that the driver applies only after it has
 * written the referencing tables (`applyPendingFrees`).
 *
 * A cluster whose refcount drops to zero is punched out of the host file (HostFile.punchHole)
 * when the reason it was freed passes discards down, as QEMU's qcow2 decides with its
 * discard_passthrough table (DiscardType). Punches are queued, adjacent ones merged, and done
 * before any allocation could hand the cluster out again.
 *
 * New refcount blocks describe themselves when they can (a block placed inside the range it
 * covers counts itself), and a refcount table that overflows moves to the end of the file with
 * the blocks that cover its new clusters, before the header points at it.
 */
import { ImageError } from "../block_driver.ts";
import type { HostFile } from "../host_file.ts";

/**
 * Why clusters are freed, QEMU's enum qcow2_discard_type: "never" for clusters replaced by a
 * write, "always" for those a shrink or a repair drops, "request" for guest discards and unmapping
 * zero writes, "snapshot" for snapshot deletes, reverts and emptying, "other" for metadata moved
 * elsewhere.
 */
export type DiscardType = "never" | "always" | "request" | "snapshot" | "other";

/**
 * QEMU 7.2's defaults for which frees reach the host file: pass-discard-request follows the
 * image's discard=unmap (BDRV_O_UNMAP, which `qemu-img commit` sets), pass-discard-snapshot is on,
 * pass-discard-other off.
 */
export function discardPassthrough(unmap: boolean): Record<DiscardType, boolean> {
  return { never: false, always: true, request: unmap, snapshot: true, other: false };
}

/** Bytes of refcount blocks the cache keeps (at least 4 blocks) before writing back the least recently used. */
const CACHE_BYTES = 4 << 20;

export class Refcounts {
  readonly clusterSize: number;
  readonly bits: number;
  /** Entries per refcount block. */
  readonly blockEntries: number;
  readonly blockShift: number;
  readonly maxRefcount: number;
  table: Float64Array;
  tableOffset: number;
  tableClusters: number;
  /** First cluster index that may be free; allocation scans from here. */
  freeHint = 0;
  /** Cluster index past every cluster known in use (so beyond it everything is free). */
  endCluster: number;
  #cache = new Map<number, { offset: number; data: Uint8Array; view: DataView; dirty: boolean }>();
  #pendingFrees: number[] = [];
  #pendingTypes: DiscardType[] = [];
  /** Which frees punch the host file (discardPassthrough()). */
  passDiscard: Record<DiscardType, boolean> = discardPassthrough(false);
  /** The queued punch, [start, end) in clusters; empty when start === end. */
  #discardStart = 0;
  #discardEnd = 0;
  /** Called with the new table offset and clusters once a moved table is on disk. */
  onTableMoved: (offset: number, clusters: number) => void = () => {};
  /**
   * Called with each run about to be allocated; throws when it would land on live metadata (the
   * refcounts lied: a corrupt image). The driver installs QEMU's overlap check here.
   */
  overlapCheck: (cluster: number, n: number, appending: boolean) => void = () => {};
  /**
   * Called before an allocation while frees are pending: the driver writes the tables that
   * dropped the references and applies the frees, so the space is reused at once, as QEMU's
   * immediate frees (ordered by its cache dependencies) let it be.
   */
  beforeAlloc: () => void = () => {};
  /** Set for lazy_refcounts: dirty blocks are written only on flush, never for ordering. */
  lazy = false;
  /** Byte offset in the current compressed-data cluster where the next compressed cluster may go. */
  freeByteOffset = 0;

  constructor(
    readonly file: HostFile,
    readonly clusterBits: number,
    refcountOrder: number,
    tableOffset: number,
    tableClusters: number,
  ) {
    this.clusterSize = 1 << clusterBits; // an integer V8 keeps unboxed, unlike 2 ** clusterBits
    this.bits = 1 << refcountOrder;
    this.blockEntries = (this.clusterSize * 8) / this.bits;
    this.blockShift = Math.log2(this.blockEntries);
    this.maxRefcount = this.bits === 64 ? Number.MAX_SAFE_INTEGER : 2 ** this.bits - 1;
    this.tableOffset = tableOffset;
    this.tableClusters = tableClusters;
    const raw = new Uint8Array(tableClusters * this.clusterSize);
    file.pread(raw, tableOffset);
    const v = new DataView(raw.buffer);
    this.table = new Float64Array(raw.length / 8);
    // Only up to the last entry in use: a table is mostly empty, and the native search (a builtin
    // callback runs no JavaScript) spares an 8192-round loop that V8 would compile mid-run.
    const used = Math.ceil((new Int32Array(raw.buffer).findLastIndex(Boolean) + 1) / 2);
    for (let i = 0; i < used; i++) {
      // REFT_OFFSET_MASK: the low 9 bits are reserved and ignored (check reports them).
      this.table[i] = (v.getUint32(i * 8) & 0x00ffffff) * 2 ** 32 + ((v.getUint32(i * 8 + 4) & ~0x1ff) >>> 0);
    }
    this.endCluster = Math.ceil(file.size() / this.clusterSize);
  }

  /** The refcount block for a block index, or undefined when the table has no block there. */
  #block(index: number) {
    // Sequential access (allocation, check) hits the same block again and again.
    if (index === this.#lastIndex && this.#last) return this.#last;
    let entry = this.#cache.get(index);
    if (entry) {
      this.#cache.delete(index);
      this.#cache.set(index, entry);
      this.#lastIndex = index;
      this.#last = entry;
      return entry;
    }
    if (index >= this.table.length) return undefined;
    const offset = this.table[index];
    if (!offset) return undefined;
    if (offset % this.clusterSize !== 0) {
      throw new ImageError(`Refblock offset ${hex(offset)} unaligned (reftable index: ${hex(index)})`);
    }
    const data = new Uint8Array(this.clusterSize);
    this.file.pread(data, offset);
    entry = { offset, data, view: new DataView(data.buffer), dirty: false };
    this.#insert(index, entry);
    this.#lastIndex = index;
    this.#last = entry;
    return entry;
  }

  #lastIndex = -1;
  #last: { offset: number; data: Uint8Array; view: DataView; dirty: boolean } | undefined;

  #insert(index: number, entry: { offset: number; data: Uint8Array; view: DataView; dirty: boolean }): void {
    this.#cache.set(index, entry);
    const max = Math.max(4, CACHE_BYTES / this.clusterSize);
    if (this.#cache.size > max) {
      for (const [i, e] of this.#cache) {
        if (this.#cache.size <= max) break;
        if (e.dirty) this.file.pwrite(e.data, e.offset);
        this.#cache.delete(i);
        if (i === this.#lastIndex) this.#last = undefined;
      }
    }
  }

  /**
   * Refcount block `index` as stored (through the cache), or undefined when the table has none
   * there (every refcount it would hold is 0); throws as get() does when it cannot be read. For
   * walks over every refcount (check), which read the entries with readEntry().
   */
  blockAt(index: number): { view: DataView; data: Uint8Array } | undefined {
    return this.#block(index);
  }

  get(cluster: number): number {
    const blk = this.#block(Math.floor(cluster / this.blockEntries));
    if (!blk) return 0;
    return readEntry(blk.view, blk.data, cluster % this.blockEntries, this.bits);
  }

  /** Sets a refcount, creating the refcount block (and growing the table) when needed. */
  set(cluster: number, value: number): void {
    if (value < 0 || value > this.maxRefcount) {
      throw new ImageError(`Refcount overflow: cluster ${cluster} would get refcount ${value}`);
    }
    const index = Math.floor(cluster / this.blockEntries);
    let blk = this.#block(index);
    if (!blk) {
      if (value === 0) return;
      this.#createBlock(index);
      blk = this.#block(index)!;
    }
    writeEntry(blk.view, blk.data, cluster % this.blockEntries, this.bits, value);
    blk.dirty = true;
    if (value > 0 && cluster >= this.endCluster) this.endCluster = cluster + 1;
    if (value === 0 && cluster < this.freeHint) this.freeHint = cluster;
  }

  add(cluster: number, delta: number): number {
    const v = this.get(cluster) + delta;
    this.set(cluster, v);
    return v;
  }

  /**
   * Allocates n contiguous clusters (refcount 1) and returns the byte offset of the first. As in
   * QEMU, the run is chosen first and refcount blocks it needs are placed after it.
   */
  alloc(n: number): number {
    if (this.#pendingFrees.length) this.beforeAlloc();
    const start = this.#findFree(n, this.freeHint);
    this.overlapCheck(start, n, start >= this.endCluster);
    this.freeHint = start + n; // as QEMU's free_cluster_index: holes left behind come back when freed
    if (start + n > this.endCluster) this.endCluster = start + n;
    const first = Math.floor(start / this.blockEntries);
    const last = Math.floor((start + n - 1) / this.blockEntries);
    for (let b = first; b <= last; b++) if (!this.#block(b)) this.#createBlock(b);
    for (let c = start; c < start + n; c++) this.set(c, 1);
    return start * this.clusterSize;
  }

  /**
   * Allocates `len` bytes for a compressed cluster, packing several into one host cluster as
   * QEMU does; every host cluster the bytes touch gets one reference.
   */
  allocBytes(len: number): number {
    if (this.#pendingFrees.length) this.beforeAlloc();
    const cs = this.clusterSize;
    const off = this.freeByteOffset;
    if (off % cs !== 0 && (off % cs) + len <= cs) {
      this.add(Math.floor(off / cs), 1);
      this.freeByteOffset = off + len;
      return off;
    }
    if (off % cs !== 0) {
      // Like QEMU, spill into the following clusters when they are free, so no tail is wasted.
      const cur = Math.floor(off / cs);
      const more = Math.ceil((len - (cs - (off % cs))) / cs);
      if (this.#runFree(cur + 1, more)) {
        this.#take(cur + 1, more);
        this.add(cur, 1);
        this.freeByteOffset = off + len;
        return off;
      }
    }
    const start = this.alloc(Math.ceil(len / cs));
    this.freeByteOffset = start + len;
    return start;
  }

  /** Takes the free clusters [start, start+n) (refcount 1), as alloc does once it chose them. */
  #take(start: number, n: number): void {
    this.overlapCheck(start, n, start >= this.endCluster);
    const hint = this.freeHint;
    // New refcount blocks must not land in the run, which is not counted yet.
    this.freeHint = Math.max(hint, start + n);
    if (start + n > this.endCluster) this.endCluster = start + n;
    const first = Math.floor(start / this.blockEntries);
    const last = Math.floor((start + n - 1) / this.blockEntries);
    for (let b = first; b <= last; b++) if (!this.#block(b)) this.#createBlock(b);
    for (let c = start; c < start + n; c++) this.set(c, 1);
    if (hint < start) this.freeHint = hint;
  }

  #runFree(start: number, n: number): boolean {
    this.processDiscards();
    for (let c = start; c < start + n; c++) if (this.get(c) !== 0) return false;
    return true;
  }

  #findFree(n: number, from: number): number {
    this.processDiscards();
    let start = from;
    for (let c = from;; c++) {
      if (c >= this.endCluster && c >= start) return start;
      if (this.get(c) !== 0) start = c + 1;
      else if (c - start + 1 === n) return start;
    }
  }

  /** Creates refcount block `index`, placed at the first free cluster. */
  #createBlock(index: number): void {
    if (index >= this.table.length) this.#growTable(index + 1);
    if (this.table[index]) return;
    // The block takes the first free cluster (QEMU's order); when that cluster lies outside the
    // block's own range, the block covering it is created next, after it.
    const cluster = this.#findFree(1, this.freeHint);
    this.freeHint = cluster + 1;
    if (cluster >= this.endCluster) this.endCluster = cluster + 1;
    const home = Math.floor(cluster / this.blockEntries);
    if (home !== index && !this.#block(home)) this.#createBlock(home);
    const data = new Uint8Array(this.clusterSize);
    const entry = { offset: cluster * this.clusterSize, data, view: new DataView(data.buffer), dirty: true };
    if (Math.floor(cluster / this.blockEntries) === index) {
      writeEntry(entry.view, data, cluster % this.blockEntries, this.bits, 1);
    } else {
      this.set(cluster, 1);
    }
    if (cluster >= this.endCluster) this.endCluster = cluster + 1;
    // The block reaches the disk before the table entry that makes it live.
    this.file.pwrite(data, entry.offset);
    entry.dirty = false;
    this.#insert(index, entry);
    this.table[index] = entry.offset;
    this.#writeTableEntry(index);
  }

  #writeTableEntry(index: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(this.table[index]));
    this.file.pwrite(b, this.tableOffset + index * 8);
  }

  /** Moves the refcount table to the end of the file with room for at least `minEntries` blocks. */
  #growTable(minEntries: number): void {
    const cs = this.clusterSize;
    let entries = Math.max(minEntries, Math.ceil(this.table.length * 1.5));
    const start = Math.max(this.endCluster, Math.ceil(this.file.size() / cs));
    let tableClusters = 0;
    const newBlocks: number[] = [];
    for (;;) {
      tableClusters = Math.ceil((entries * 8) / cs);
      newBlocks.length = 0;
      // Blocks that must be created to count the table and the new blocks themselves.
      let nb = 0;
      for (;;) {
        newBlocks.length = 0;
        const last = start + tableClusters + nb - 1;
        for (let b = Math.floor(start / this.blockEntries); b <= Math.floor(last / this.blockEntries); b++) {
          if (b >= this.table.length || !this.table[b]) newBlocks.push(b);
        }
        if (newBlocks.length === nb) break;
        nb = newBlocks.length;
      }
      const maxBlock = newBlocks.length ? newBlocks[newBlocks.length - 1] : 0;
      if (maxBlock < entries) break;
      entries = maxBlock + 1;
    }
    entries = (tableClusters * cs) / 8;
    if (tableClusters * cs > 8 << 20) throw new ImageError("Refcount table too large");
    const table = new Float64Array(entries);
    table.set(this.table);
    // Write the new blocks, each counting the clusters of the table and of the blocks in its range.
    const blockStart = start + tableClusters;
    newBlocks.forEach((b, i) => {
      const data = new Uint8Array(cs);
      const entry = { offset: (blockStart + i) * cs, data, view: new DataView(data.buffer), dirty: true };
      table[b] = entry.offset;
      this.#insert(b, entry);
    });
    const oldTable = this.table;
    const oldOffset = this.tableOffset;
    const oldClusters = this.tableClusters;
    this.table = table;
    for (let c = start; c < blockStart + newBlocks.length; c++) this.set(c, 1);
    this.flush();
    const raw = new Uint8Array(tableClusters * cs);
    const v = new DataView(raw.buffer);
    for (let i = 0; i < entries; i++) v.setBigUint64(i * 8, BigInt(table[i]));
    this.file.pwrite(raw, start * cs);
    this.tableOffset = start * cs;
    this.tableClusters = tableClusters;
    this.onTableMoved(this.tableOffset, tableClusters);
    void oldTable;
    // qcow2_grow_reftable() frees the old table as QCOW2_DISCARD_OTHER.
    for (let c = 0; c < oldClusters; c++) this.freeNow(oldOffset / cs + c, "other");
  }

  /** Drops one reference now (only for clusters no table on disk refers to any more). */
  freeNow(cluster: number, type: DiscardType): void {
    if (this.add(cluster, -1) === 0) this.discardFreed(cluster, type);
  }

  /**
   * A cluster whose refcount just became zero: punched out of the host file when frees of this
   * type pass discards down (update_refcount_discard()).
   */
  discardFreed(cluster: number, type: DiscardType): void {
    if (!this.passDiscard[type]) return;
    if (this.#discardStart !== this.#discardEnd) {
      if (cluster === this.#discardEnd) return void this.#discardEnd++;
      if (cluster === this.#discardStart - 1) return void this.#discardStart--;
      this.processDiscards();
    }
    this.#discardStart = cluster;
    this.#discardEnd = cluster + 1;
  }

  /** Punches the queued range (qcow2_process_discards()). */
  processDiscards(): void {
    if (this.#discardStart === this.#discardEnd) return;
    const cs = this.clusterSize;
    this.file.punchHole(this.#discardStart * cs, (this.#discardEnd - this.#discardStart) * cs);
    this.#discardStart = this.#discardEnd = 0;
  }

  /** Drops one reference to each of n clusters once the referencing tables are on disk. */
  freeLater(offset: number, n: number, type: DiscardType): void {
    for (let i = 0; i < n; i++) {
      this.#pendingFrees.push(offset / this.clusterSize + i);
      this.#pendingTypes.push(type);
    }
  }

  /** Drops the references to the host clusters a compressed cluster's bytes touch. */
  freeCompressedLater(offset: number, length: number, type: DiscardType): void {
    const cs = this.clusterSize;
    for (let c = Math.floor(offset / cs); c <= Math.floor((offset + length - 1) / cs); c++) {
      this.#pendingFrees.push(c);
      this.#pendingTypes.push(type);
    }
  }

  get pendingFreeCount(): number {
    return this.#pendingFrees.length;
  }

  get hasPendingFrees(): boolean {
    return this.#pendingFrees.length > 0;
  }

  applyPendingFrees(): void {
    const types = this.#pendingTypes;
    this.#pendingFrees.forEach((c, i) => this.freeNow(c, types[i]));
    this.#pendingFrees.length = 0;
    types.length = 0;
    this.processDiscards();
  }

  /** Writes every dirty refcount block. */
  flush(): void {
    this.processDiscards();
    for (const e of this.#cache.values()) {
      if (e.dirty) {
        this.file.pwrite(e.data, e.offset);
        e.dirty = false;
      }
    }
  }

  /** Forgets cached blocks (after the on-disk structures were rebuilt behind the cache). */
  dropCache(): void {
    this.#cache.clear();
    this.#last = undefined;
  }
}

export function readEntry(view: DataView, data: Uint8Array, i: number, bits: number): number {
  switch (bits) {
    case 16:
      return view.getUint16(i * 2);
    case 8:
      return data[i];
    case 32:
      return view.getUint32(i * 4);
    case 64:
      return view.getUint32(i * 8) * 2 ** 32 + view.getUint32(i * 8 + 4);
    default: {
      const bit = i * bits;
      return (data[bit >>> 3] >>> (bit & 7)) & ((1 << bits) - 1);
    }
  }
}

export function writeEntry(view: DataView, data: Uint8Array, i: number, bits: number, value: number): void {
  switch (bits) {
    case 16:
      return view.setUint16(i * 2, value);
    case 8:
      data[i] = value;
      return;
    case 32:
      return view.setUint32(i * 4, value);
    case 64:
      view.setUint32(i * 8, Math.floor(value / 2 ** 32));
      view.setUint32(i * 8 + 4, value >>> 0);
      return;
    default: {
      const bit = i * bits;
      const mask = ((1 << bits) - 1) << (bit & 7);
      data[bit >>> 3] = (data[bit >>> 3] & ~mask) | ((value << (bit & 7)) & mask);
    }
  }
}

/** printf's %#x: 0x before the digits, except for 0. */
export function hex(n: number): string {
  return n ? "0x" + n.toString(16) : "0";
}
