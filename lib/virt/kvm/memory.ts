/**
 * The VM's memory slots (KVM_SET_USER_MEMORY_REGION) with the checks and errnos of Linux 6.8
 * __kvm_set_memory_region: slot id and address space in the upper half of `slot`, page alignment,
 * no wrap, overlap refused with EEXIST, size 0 deletes (EINVAL if there is nothing to delete), and
 * an existing slot may only move or change LOG_DIRTY_PAGES. "userspace_addr" is the caller's
 * ArrayBuffer (or a view on one) that backs the slot.
 */
import { ErrnoError } from "../../errors.ts";
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, LIMITS } from "./constants.ts";

/** The memory of a process, as KVM sees it through userspace_addr. */
export type UserspaceMemory = ArrayBuffer | ArrayBufferView;

export interface KvmUserspaceMemoryRegion {
  slot: number;
  flags: number;
  guest_phys_addr: number | bigint;
  memory_size: number | bigint;
  /** The host memory behind the slot; its byteOffset must be page aligned, as a mapping's would be. */
  userspace_addr?: UserspaceMemory;
}

export interface MemSlot {
  /** as_id << 16 | id, as given. */
  readonly slot: number;
  flags: number;
  /** Guest physical address (a multiple of 4 KiB) and size in bytes. */
  gpa: number;
  readonly size: number;
  /** The bytes backing the slot, exactly `size` long. */
  readonly bytes: Uint8Array;
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  /** One bit per page, set by writes while LOG_DIRTY_PAGES is on. */
  dirty?: Uint8Array;
}

const PAGE = LIMITS.pageSize;
const VALID_FLAGS = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY;

function u64(v: number | bigint): bigint {
  return BigInt.asUintN(64, BigInt(v));
}

export class MemorySlots {
  /** Per address space, slots sorted by guest address. */
  readonly #spaces: MemSlot[][] = Array.from({ length: LIMITS.addressSpaces }, () => []);
  readonly #listeners: (() => void)[] = [];

  /** Called after every successful change (the vendor code drops its EPT mappings). */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }

  /** All slots of address space 0 (the normal one; 1 is SMM's). */
  get slots(): readonly MemSlot[] {
    return this.#spaces[0];
  }

  set(region: KvmUserspaceMemoryRegion): void {
    const { slot, flags } = region;
    if ((flags & ~VALID_FLAGS) !== 0 || flags < 0) {
      throw new ErrnoError("EINVAL", "invalid memory region flags");
    }
    const asId = slot >>> 16, id = slot & 0xffff;
    if (asId >= LIMITS.addressSpaces || id >= LIMITS.userMemSlots) {
      throw new ErrnoError("EINVAL", "bad slot id");
    }
    const gpa = u64(region.guest_phys_addr), size = u64(region.memory_size);
    if (size % BigInt(PAGE) !== 0n || gpa % BigInt(PAGE) !== 0n) {
      throw new ErrnoError("EINVAL", "memory region not page aligned");
    }
    if (gpa + size > 2n ** 64n - 1n) throw new ErrnoError("EINVAL", "memory region wraps");
    if (size / BigInt(PAGE) > BigInt(LIMITS.maxNrPages)) {
      throw new ErrnoError("EINVAL", "memory region too large");
    }
    const space = this.#spaces[asId];
    const old = space.find((s) => (s.slot & 0xffff) === id);

    if (size === 0n) {
      if (!old) throw new ErrnoError("EINVAL", "no memory slot to delete");
      space.splice(space.indexOf(old), 1);
      this.#changed();
      return;
    }
    const mem = region.userspace_addr;
    const buffer = mem === undefined ? undefined : ArrayBuffer.isView(mem) ? mem.buffer : mem;
    const byteOffset = mem !== undefined && ArrayBuffer.isView(mem) ? mem.byteOffset : 0;
    const available = mem === undefined ? 0 : ArrayBuffer.isView(mem) ? mem.byteLength : mem.byteLength;
    if (buffer === undefined || byteOffset % PAGE !== 0) {
      throw new ErrnoError("EINVAL", "userspace_addr not page aligned");
    }
    // Linux faults the pages in later; an unmapped range is EFAULT at the first access. Ours is known now.
    if (BigInt(available) < size) throw new ErrnoError("EFAULT", "userspace_addr range not mapped");
    if (gpa + size > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ErrnoError("EINVAL", "guest address out of range");
    }

    if (old) {
      if (old.buffer !== buffer || old.byteOffset !== byteOffset || BigInt(old.size) !== size) {
        throw new ErrnoError("EINVAL", "memory slot may only move or change flags");
      }
      if ((old.flags ^ flags) & KVM_MEM_READONLY) throw new ErrnoError("EINVAL", "READONLY cannot change");
      if (BigInt(old.gpa) !== gpa) {
        this.#checkOverlap(space, old, gpa, size);
        old.gpa = Number(gpa);
        space.sort((a, b) => a.gpa - b.gpa);
      }
      this.#setFlags(old, flags);
      this.#changed();
      return;
    }
    this.#checkOverlap(space, undefined, gpa, size);
    const n = Number(size);
    const created: MemSlot = {
      slot,
      flags: 0,
      gpa: Number(gpa),
      size: n,
      bytes: new Uint8Array(buffer, byteOffset, n),
      buffer,
      byteOffset,
    };
    this.#setFlags(created, flags);
    space.push(created);
    space.sort((a, b) => a.gpa - b.gpa);
    this.#changed();
  }

  #checkOverlap(space: MemSlot[], self: MemSlot | undefined, gpa: bigint, size: bigint): void {
    for (const s of space) {
      if (s === self) continue;
      if (gpa < BigInt(s.gpa + s.size) && BigInt(s.gpa) < gpa + size) {
        throw new ErrnoError("EEXIST", "memory region overlaps another slot");
      }
    }
  }

  #setFlags(s: MemSlot, flags: number): void {
    s.flags = flags;
    if (flags & KVM_MEM_LOG_DIRTY_PAGES) s.dirty ??= new Uint8Array(Math.ceil(s.size / PAGE / 8));
    else s.dirty = undefined;
  }

  /** The slot holding a guest physical address in address space 0, or undefined (MMIO). */
  find(gpa: number): MemSlot | undefined {
    const space = this.#spaces[0];
    let lo = 0, hi = space.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, s = space[mid];
      if (gpa < s.gpa) hi = mid - 1;
      else if (gpa >= s.gpa + s.size) lo = mid + 1;
      else return s;
    }
    return undefined;
  }

  get empty(): boolean {
    return this.#spaces[0].length === 0;
  }
}
