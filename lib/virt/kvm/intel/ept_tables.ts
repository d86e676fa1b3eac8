/**
 * kvm_intel's EPT paging structures for a VM (Intel SDM Vol. 3C, "EPT Translation Mechanism"), in
 * its private host memory: a 4-level tree whose leaves map 4 KiB guest-physical pages onto
 * host-physical pages (HostMemory). As Linux's TDP MMU it starts empty and is filled on EPT
 * violations; a change to the memory slots zaps it.
 */
import type { HostMemory } from "./host_memory.ts";
import { PRIVATE_BASE } from "./host_memory.ts";

export const EPT_READ = 1, EPT_WRITE = 2, EPT_EXEC = 4;
/** Memory type WB in bits 5:3 of a leaf. */
const EPT_MT_WB = 6 << 3;
/** EPTP: WB paging-structure memory type, 4-level walk (length - 1 = 3), A/D flags in bit 6. */
const EPTP_WB = 6, EPTP_WALK_4 = 3 << 3, EPTP_AD = 1 << 6;

export class EptTables {
  #pml4 = 0;
  /** Every table page allocated below the PML4, for zapping. */
  #tables: number[] = [];
  /**
   * Called when a present mapping changes or goes: the CPUs' TLBs keep combined mappings made
   * from it (VPID-tagged, not flushed at VM entry), so they must be invalidated, as KVM's
   * kvm_flush_remote_tlbs does with INVEPT.
   */
  readonly #changed: (() => void)[] = [];

  constructor(readonly host: HostMemory, readonly accessedDirty: boolean) {
    this.#pml4 = host.allocPage();
  }

  /** The EPT pointer field value. */
  get eptp(): number {
    return this.#pml4 | EPTP_WB | EPTP_WALK_4 | (this.accessedDirty ? EPTP_AD : 0);
  }

  #read(hpa: number): number {
    return this.host.privateView.getUint32(hpa - PRIVATE_BASE, true);
  }

  #write(hpa: number, v: number): void {
    const view = this.host.privateView;
    view.setUint32(hpa - PRIVATE_BASE, v, true);
    view.setUint32(hpa - PRIVATE_BASE + 4, 0, true);
  }

  /** The leaf entry's host-physical address for a guest page, creating the tables on the way. */
  #leafSlot(gpa: number): number {
    let table = this.#pml4;
    for (let level = 4; level > 1; level--) {
      const shift = 12 + 9 * (level - 1);
      const index = level === 4 ? 0 : Math.floor(gpa / 2 ** shift) & 0x1ff;
      const at = table + index * 8;
      let entry = this.#read(at);
      if ((entry & 7) === 0) {
        const page = this.host.allocPage();
        this.#tables.push(page);
        entry = page | EPT_READ | EPT_WRITE | EPT_EXEC;
        this.#write(at, entry);
      }
      table = (entry & 0xfffff000) >>> 0;
    }
    return table + ((gpa >>> 12) & 0x1ff) * 8;
  }

  /** Hears every change that needs a TLB invalidation (see #changed). */
  onChange(listener: () => void): void {
    this.#changed.push(listener);
  }

  /** Maps a guest page onto a host page with the given R/W/X permissions. */
  map(gpaPage: number, hpaPage: number, perms: number): void {
    const slot = this.#leafSlot(gpaPage), old = this.#read(slot), entry = (hpaPage | EPT_MT_WB | perms) >>> 0;
    this.#write(slot, entry);
    // A new mapping needs no invalidation: nothing was cached for a page that was not present.
    if ((old & 7) !== 0 && old >>> 0 !== entry) { for (const f of this.#changed) f(); }
  }

  /** The permissions a guest page has now (0 when unmapped). */
  perms(gpaPage: number): number {
    return this.#read(this.#leafSlot(gpaPage)) & 7;
  }

  /** Drops every mapping (memory slots changed). */
  zap(): void {
    for (const t of this.#tables) this.host.freePage(t);
    this.#tables = [];
    this.host.privateView.setUint32(this.#pml4 - PRIVATE_BASE, 0, true);
    for (const f of this.#changed) f();
  }
}
