/**
 * kvm_intel's shadow MMU, used when the module runs with ept=0 (Linux's arch/x86/kvm/mmu
 * "shadow paging", Documentation/virt/kvm/x86/mmu.rst): without EPT the CPU translates the
 * guest's linear addresses straight to host-physical ones through whatever CR3 holds in non-root
 * operation, so CR3 holds a page table L0 builds in its private host memory, mapping
 * guest-linear pages onto the host-physical pages behind the guest's own page tables and the
 * memory slots. The guest's CR3 lives here (`guestCr3`); the guest never sees the shadow.
 *
 * What vmcs01 does for it (vcpu.ts): no EPT and no unrestricted guest; CR0.PG, PE and WP owned
 * by the host (guest/host mask, read shadow holding the guest's values) and forced on while the
 * guest is in protected mode, so real mode still fails the entry as unrestricted_guest=0 does;
 * CR4.PSE/PGE/PAE host-owned (they change how guest tables read); CR3-load and CR3-store exiting,
 * INVLPG exiting, #PF in the exception bitmap (every page fault exits).
 *
 * The shadow has the guest's paging format (Linux's root_role follows the guest's mode):
 * - 32-bit guest paging (and guest paging off): one page directory, the root, and a page table
 *   per 4 MiB region;
 * - PAE guest paging: as Linux's pae_root, a root per guest PDPTE: a shadow PDPT whose entry i
 *   points at shadow page directory i when the guest's PDPTE i is present, and a page table per
 *   2 MiB region, with 8-byte entries; the guest's PDPTEs are loaded into PDPTE registers
 *   (`pdptes`) when it loads CR3 or turns PAE paging on, as the CPU and KVM's load_pdptrs do, and
 *   a reserved bit in a present one makes that MOV #GP.
 * Tables are filled lazily on #PF exits (the faulting page and, as Linux's pte_prefetch does, its
 * accessed neighbours), always with 4 KiB entries (a guest 4 MiB or 2 MiB page is split). With
 * guest paging off (CR0.PG=0 in protected mode) the shadow is an identity map of guest-physical
 * memory, the job of Linux's identity-map page.
 *
 * On a #PF exit L0 walks the guest's tables (lib/cpu/page_walk.ts, the CPU's own walk):
 * - the guest's own rules deny the access: the #PF is reflected (CR2 = the address, error code
 *   from the guest walk, RSVD included), counted as pf_guest;
 * - they allow it: the guest's accessed flags are set (dirty too for a write) and the shadow
 *   entry is made, counted as pf_fixed. A shadow entry is writable only once the guest entry is
 *   dirty, so the first write to a clean page faults and sets D, as the CPU itself would. A
 *   supervisor write the guest allows only because its CR0.WP is 0 gets a writable
 *   supervisor-only entry (the real CR0.WP stays 1), as Linux does.
 * Guest-physical pages with no slot map to an MMIO window (host_memory.ts), so the access ends
 * in the same KVM_EXIT_MMIO as under EPT; writes to READONLY slots go through a window too.
 *
 * Coherence policy: no write protection of guest page tables. The shadow is what the TLB would
 * hold, and the SDM lets software rely only on what a TLB guarantees: a guest that changes a
 * paging entry must INVLPG the address or load CR3 before the change is sure to be seen. So a
 * CR3 load drops every entry but those of global pages (CR4.PGE; in tables whose guest PDE is
 * the same in the new address space), a change of CR0.PG/WP/PE or CR4.PSE/PGE/PAE drops the
 * whole shadow, and INVLPG drops the entry for its page, or the whole region's table when the
 * guest PDE above it is not the one the table was built from (a new page table, a large page).
 * mmu_pte_write therefore stays 0: guest page-table writes are never trapped.
 *
 * Not done: XD under EFER.NXE is honoured in the guest walk (a fetch the guest forbids is
 * reflected) but not kept in shadow entries, so a fetch through an entry already made for data
 * is not stopped (the emulated CPU offers no NX of its own); guest-physical addresses above
 * 4 GiB have no memory.
 */
import { F } from "../../../cpu/vmx/mod.ts";
import { INVVPID_INDIVIDUAL_ADDRESS, INVVPID_SINGLE_CONTEXT, invvpidTlb } from "../../../cpu/vmx/tlb.ts";
import {
  ACC_READ,
  ACC_WRITE,
  pageWalk,
  PDPTE_RSVD_LOW,
  PTE_A,
  PTE_D,
  PTE_G,
  PTE_P,
  PTE_PS,
  PTE_U,
  PTE_W,
  walked,
} from "../../../cpu/page_walk.ts";
import { KVM_MEM_READONLY } from "../constants.ts";
import { GuestPageFault, guestPagingRegs, GuestTables, read32 } from "./guest_memory.ts";
import { CR0_NE, CR0_PE, CR0_PG, CR4_VMXE, guestCr } from "./guest_state.ts";
import { PRIVATE_BASE } from "./host_memory.ts";
import type { VmxVcpu } from "./vcpu.ts";

const PAGE = 4096;
/** A shadow entry's software bit (9, ignored by the CPU): it maps a guest global page. */
const SPTE_GLOBAL = 0x200;
export const CR0_WP = 0x10000;
const CR4_PSE = 0x10, CR4_PAE = 0x20, CR4_PGE = 0x80;
/** The bits the host owns in shadow mode (in the guest/host masks). */
export const SHADOW_CR0_MASK = CR0_NE | CR0_PG | CR0_PE | CR0_WP;
export const SHADOW_CR4_MASK = CR4_VMXE | CR4_PSE | CR4_PGE | CR4_PAE;
/** The #PF error-code bits L0 reads (write, user). */
const PF_WRITE = 2, PF_USER = 4;
/** PDE bits whose change makes a shadow table stale (frame, present, writable, user, size). */
const PDE_IDENTITY = 0xfffff000 | PTE_P | PTE_W | PTE_U | PTE_PS;
/** Entries mapped around a filled one (Linux maps 8; a VM exit costs more here than a walk). */
const PREFETCH = 64;
/** The table-of-a-region key for the identity map (no guest PDE behind it). */
const IDENTITY = -1;
/** A PDPTE's bits above MAXPHYADDR 36 (high dword), reserved as load_pdptrs checks them. */
const PDPTE_RSVD_HIGH = 0xfffffff0 | 0;

/** The two shadow formats: entry size, the region a table covers, entries per table. */
interface Format {
  entryBytes: number;
  regionShift: number;
  entries: number;
}
const LEGACY: Format = { entryBytes: 4, regionShift: 22, entries: 1024 };
const PAE: Format = { entryBytes: 8, regionShift: 21, entries: 512 };

/** What a #PF exit came to. */
export type ShadowFault =
  | { kind: "fixed" }
  | { kind: "guest"; errorCode: number };

/** One shadow page table: where it is, the guest PDE it was built from, its non-global entries. */
interface ShadowTable {
  page: number;
  guestPde: number;
  local: number[];
}

export class ShadowMmu {
  /** The guest's CR3 (the VMCS's GUEST_CR3 holds the shadow root). */
  guestCr3 = 0;
  /** The guest's PDPTE registers (low, high dword of each of the four), loaded with PAE paging. */
  readonly pdptes = new Uint32Array(8);
  /** The 32-bit shadow's page directory. */
  readonly #root: number;
  /** The PAE shadow's PDPT and its four page directories (root per PDPTE). */
  readonly #pdpt: number;
  readonly #pds: number[];
  #format: Format = LEGACY;
  /** Shadow page tables by region index, with the guest PDE each was built from. */
  readonly #tables = new Map<number, ShadowTable>();
  readonly #guestTables: GuestTables;

  constructor(readonly vcpu: VmxVcpu) {
    this.#root = vcpu.host.allocPage();
    this.#pdpt = vcpu.host.allocPage();
    this.#pds = [0, 1, 2, 3].map(() => vcpu.host.allocPage());
    this.#guestTables = new GuestTables(vcpu);
    // New slots: entries may point at pages that are no longer the guest's.
    vcpu.ctx.memory.onChange(() => this.zap());
  }

  // ---- control registers ----

  /** After KVM_SET_SREGS put the guest's CR0/CR3/CR4 into vmcs01 as they are: takes them over. */
  load(): void {
    const v = this.vcpu.vmcs01;
    this.guestCr3 = v.get(F.GUEST_CR3);
    v.set(F.CR0_GUEST_HOST_MASK, SHADOW_CR0_MASK);
    v.set(F.CR4_GUEST_HOST_MASK, SHADOW_CR4_MASK);
    this.#setCr0(v.get(F.CR0_READ_SHADOW));
    this.#setCr4(v.get(F.CR4_READ_SHADOW));
    // __set_sregs loads the PDPTEs of a PAE guest and ignores a bad one.
    if (this.#paePaging()) this.#loadPdptes(this.guestCr3);
    this.zap();
  }

  /**
   * The guest's MOV to CR0 (checked by the caller): read shadow and real CR0, new shadow if paging
   * changed. False (nothing changed) when it turns PAE paging on over a bad PDPTE: #GP.
   */
  setCr0(value: number): boolean {
    const old = this.vcpu.vmcs01.get(F.CR0_READ_SHADOW);
    const pae = (guestCr(this.vcpu.vmcs01, 4) & CR4_PAE) !== 0;
    if (pae && (value & ~old & CR0_PG) && !this.#loadPdptes(this.guestCr3)) return false;
    this.#setCr0(value);
    return true;
  }

  #setCr0(value: number): void {
    const v = this.vcpu.vmcs01, old = v.get(F.CR0_READ_SHADOW);
    v.set(F.CR0_READ_SHADOW, value);
    // Protected mode runs with paging (the shadow's) always on; real mode keeps PE=0, which the
    // entry refuses without unrestricted guest.
    v.set(F.GUEST_CR0, value & CR0_PE ? value | CR0_NE | CR0_PG | CR0_WP : value | CR0_NE);
    if ((old ^ value) & (CR0_PG | CR0_PE | CR0_WP)) this.zap();
  }

  /** MOV to CR4; false (#GP) when, with paging on, a PAE-relevant change meets a bad PDPTE. */
  setCr4(value: number): boolean {
    const old = this.vcpu.vmcs01.get(F.CR4_READ_SHADOW);
    const paging = (guestCr(this.vcpu.vmcs01, 0) & CR0_PG) !== 0;
    if (
      paging && (value & CR4_PAE) && ((old ^ value) & (CR4_PAE | CR4_PSE | CR4_PGE)) &&
      !this.#loadPdptes(this.guestCr3)
    ) {
      return false;
    }
    this.#setCr4(value);
    return true;
  }

  #setCr4(value: number): void {
    const v = this.vcpu.vmcs01, old = v.get(F.CR4_READ_SHADOW);
    v.set(F.CR4_READ_SHADOW, value);
    // The real CR4.PAE is the shadow's format (zap sets it when the guest's paging changes).
    const pae = this.#format === PAE ? CR4_PAE : 0;
    v.set(F.GUEST_CR4, ((value | CR4_VMXE) & ~(CR4_PAE | CR4_PSE | CR4_PGE)) | pae);
    if ((old ^ value) & (CR4_PSE | CR4_PGE | CR4_PAE)) this.zap();
  }

  /**
   * MOV to CR3: a new address space; the TLB (here, the shadow) forgets the old one, except what
   * global pages map (CR4.PGE): tables whose guest PDE is the same in the new space keep their
   * global entries. With guest paging off the identity map does not depend on CR3 at all. Under
   * PAE paging the new PDPTEs are loaded first; false (CR3 unchanged, #GP) when one is bad.
   */
  setCr3(value: number): boolean {
    if (this.#paePaging() && !this.#loadPdptes(value)) return false;
    this.guestCr3 = value;
    const v = this.vcpu.vmcs01;
    if (!(guestCr(v, 0) & CR0_PG)) return true;
    if (!(guestCr(v, 4) & CR4_PGE)) {
      this.zap();
      return true;
    }
    for (const [index, table] of this.#tables) {
      if ((table.guestPde ^ this.#guestPde(index * 2 ** this.#format.regionShift)) & PDE_IDENTITY) {
        this.#dropTable(index);
        continue;
      }
      for (const k of table.local) this.#writeEntry(table.page + k * this.#format.entryBytes, 0);
      table.local = [];
    }
    this.#syncPdpt();
    this.#flush();
    this.vcpu.ctx.stats.count("tlb_flush");
    return true;
  }

  /** Guest PAE paging (CR0.PG and CR4.PAE). */
  #paePaging(): boolean {
    const v = this.vcpu.vmcs01;
    return (guestCr(v, 0) & CR0_PG) !== 0 && (guestCr(v, 4) & CR4_PAE) !== 0;
  }

  /**
   * load_pdptrs: the four PDPTEs at `cr3` (bits 31:5) into the PDPTE registers; false, leaving
   * them, when a present one has a reserved bit (or is not in guest memory).
   */
  #loadPdptes(cr3: number): boolean {
    const next = new Uint32Array(8);
    for (let i = 0; i < 4; i++) {
      const at = ((cr3 & ~0x1f) + i * 8) >>> 0;
      const lo = read32(this.vcpu, at), hi = read32(this.vcpu, at + 4);
      if (lo === undefined || hi === undefined) return false;
      if ((lo & PTE_P) && ((lo & PDPTE_RSVD_LOW) || (hi & PDPTE_RSVD_HIGH))) return false;
      next[i * 2] = lo;
      next[i * 2 + 1] = hi;
    }
    this.pdptes.set(next);
    return true;
  }

  // ---- faults and invalidation ----

  /** A #PF exit at `lin` with the hardware's error code: fill the shadow or reflect the fault. */
  pageFault(lin: number, errorCode: number): ShadowFault {
    lin >>>= 0;
    const write = (errorCode & PF_WRITE) !== 0, user = (errorCode & PF_USER) !== 0;
    let gpa: number, allow = PTE_P | PTE_W | PTE_U, guestPde = IDENTITY;
    if (!(guestCr(this.vcpu.vmcs01, 0) & CR0_PG)) gpa = lin - (lin % PAGE);
    else {
      const walk = this.#walk(lin, write, user);
      if ("errorCode" in walk) {
        this.vcpu.ctx.stats.count("pf_guest");
        return { kind: "guest", errorCode: walk.errorCode };
      }
      ({ gpa, allow, guestPde } = walk);
    }
    this.#map(lin, gpa, allow, write, guestPde);
    this.#prefetch(lin, guestPde);
    this.vcpu.ctx.stats.count("pf_fixed");
    return { kind: "fixed" };
  }

  /** INVLPG: the page's entry goes, or its region's table if the guest PDE above it changed. */
  invlpg(lin: number): void {
    lin >>>= 0;
    this.vcpu.ctx.stats.count("invlpg");
    const f = this.#format, index = lin >>> f.regionShift, table = this.#tables.get(index);
    if (!table) return;
    const pde = (guestCr(this.vcpu.vmcs01, 0) & CR0_PG) ? this.#guestPde(lin) : IDENTITY;
    const large = pde !== IDENTITY && (pde & PTE_PS) !== 0;
    if (large || ((table.guestPde ^ pde) & PDE_IDENTITY)) {
      this.#dropTable(index);
      this.#flush();
      return;
    }
    this.#writeEntry(table.page + ((lin >>> 12) & (f.entries - 1)) * f.entryBytes, 0);
    this.#flush(lin);
  }

  /**
   * Drops every shadow table (kvm_mmu_reset_context / a CR3 switch) and flushes the TLB; the
   * shadow takes the guest's current paging format.
   */
  zap(): void {
    for (const index of [...this.#tables.keys()]) this.#dropTable(index);
    const v = this.vcpu.vmcs01, pae = this.#paePaging();
    this.#format = pae ? PAE : LEGACY;
    v.set(F.GUEST_CR3, pae ? this.#pdpt : this.#root);
    const cr4 = v.get(F.GUEST_CR4) & ~CR4_PAE;
    v.set(F.GUEST_CR4, pae ? cr4 | CR4_PAE : cr4);
    this.#syncPdpt();
    this.#flush();
    this.vcpu.ctx.stats.count("tlb_flush");
  }

  /** The shadow PDPT: entry i points at shadow directory i while the guest's PDPTE i is present. */
  #syncPdpt(): void {
    if (this.#format !== PAE) return;
    for (let i = 0; i < 4; i++) {
      this.#writeEntry(this.#pdpt + i * 8, this.pdptes[i * 2] & PTE_P ? this.#pds[i] | PTE_P : 0);
    }
  }

  /**
   * What the guest's VPID-tagged TLB holds from the shadow goes with it: INVVPID of one address or
   * of the whole context (without a VPID every entry flushes anyway).
   */
  #flush(lin?: number): void {
    const vpid = this.vcpu.vmcs01.get(F.VIRTUAL_PROCESSOR_ID) & 0xffff;
    if (!vpid) return;
    if (lin === undefined) invvpidTlb(this.vcpu.cpu, INVVPID_SINGLE_CONTEXT, vpid, 0);
    else invvpidTlb(this.vcpu.cpu, INVVPID_INDIVIDUAL_ADDRESS, vpid, lin);
  }

  // ---- the guest's tables ----

  /** The low dword of the guest's PDE for `lin` (0 when it has none), read without side effects. */
  #guestPde(lin: number): number {
    const v = this.vcpu;
    if (this.#format === LEGACY) {
      return read32(v, ((this.guestCr3 & 0xfffff000) | ((lin >>> 22) << 2)) >>> 0) ?? 0;
    }
    const pdpte = this.pdptes[(lin >>> 30) * 2];
    if (!(pdpte & PTE_P)) return 0;
    return read32(v, ((pdpte & 0xfffff000) + ((lin >>> 21) & 0x1ff) * 8) >>> 0) ?? 0;
  }

  /**
   * The guest's translation of `lin` for this access, with its A/D flags updated, or the error
   * code of the #PF the guest's own paging raises.
   */
  #walk(
    lin: number,
    write: boolean,
    user: boolean,
  ): { gpa: number; allow: number; guestPde: number } | { errorCode: number } {
    try {
      pageWalk(this.#guestTables, guestPagingRegs(this.vcpu), lin, write ? ACC_WRITE : ACC_READ, user);
    } catch (e) {
      if (e instanceof GuestPageFault) return { errorCode: e.errorCode };
      throw e;
    }
    const { perm, leaf } = walked;
    // Writable in the shadow only once dirty; a supervisor write allowed by CR0.WP=0 alone gets a
    // writable entry the user cannot reach (a user access faults again and is rebuilt).
    let allow = PTE_P | (perm & PTE_U) | this.#global(leaf);
    if ((perm & PTE_W) && (leaf & PTE_D)) allow |= PTE_W;
    else if (write && !user && !(perm & PTE_W)) allow = PTE_P | PTE_W;
    return { gpa: walked.gpa - (walked.gpa % PAGE), allow, guestPde: walked.pde };
  }

  // ---- the shadow's tables ----

  #read(hpa: number): number {
    return this.vcpu.host.privateView.getUint32(hpa - PRIVATE_BASE, true);
  }

  /** A shadow entry (the high dword of an 8-byte one stays 0: host-physical memory is below 4 GiB). */
  #writeEntry(hpa: number, value: number): void {
    this.vcpu.host.privateView.setUint32(hpa - PRIVATE_BASE, value >>> 0, true);
  }

  /** Where the root's entry for a region's table is (the 32-bit directory or a PAE directory). */
  #rootEntry(index: number): number {
    return this.#format === LEGACY ? this.#root + index * 4 : this.#pds[index >> 9] + (index & 0x1ff) * 8;
  }

  /** The shadow entry for `lin`: guest-physical page `gpa` behind it, with the `allow` bits. */
  #map(lin: number, gpa: number, allow: number, write: boolean, guestPde: number): void {
    const v = this.vcpu, f = this.#format, index = lin >>> f.regionShift;
    let table = this.#tables.get(index);
    if (table && ((table.guestPde ^ guestPde) & PDE_IDENTITY)) {
      this.#dropTable(index);
      table = undefined;
    }
    if (!table) {
      table = { page: v.host.allocPage(), guestPde, local: [] };
      this.#tables.set(index, table);
      this.#writeEntry(this.#rootEntry(index), table.page | PTE_P | PTE_W | PTE_U);
      v.ctx.stats.countVm("mmu_cache_miss");
    }
    const slot = v.ctx.memory.find(gpa);
    let hpa: number;
    if (!slot) hpa = v.host.mmioPage(gpa);
    else if (!(slot.flags & KVM_MEM_READONLY)) hpa = v.host.slotPage(slot, gpa);
    else if (write && (allow & PTE_W)) {
      // A write to ROM: emulated through a window (vm.restoreRomPages drops this entry after).
      hpa = v.host.mmioPage(gpa);
      v.romWindows.add(gpa);
    } else {
      hpa = v.host.slotPage(slot, gpa);
      allow &= ~PTE_W;
    }
    const k = (lin >>> 12) & (f.entries - 1);
    this.#writeEntry(table.page + k * f.entryBytes, hpa | allow);
    if (!(allow & SPTE_GLOBAL)) table.local.push(k);
    this.#flush(lin);
  }

  /**
   * pte_prefetch: the neighbours of a filled entry (an aligned group of PREFETCH) that the TLB
   * could hold already, mapped now to save their own exits: RAM pages whose guest entries are
   * present and accessed (never set here), writable only when dirty. A guest that changes such an
   * entry must invalidate it anyway, as for any cached translation.
   */
  #prefetch(lin: number, guestPde: number): void {
    const v = this.vcpu, f = this.#format, table = this.#tables.get(lin >>> f.regionShift)!;
    const identity = guestPde === IDENTITY;
    const large = !identity && (guestPde & PTE_PS) !== 0 &&
      (f === PAE || (guestCr(v.vmcs01, 4) & CR4_PSE) !== 0);
    const regionMask = 2 ** f.regionShift - 1;
    const first = (lin >>> 12) & (f.entries - 1) & ~(PREFETCH - 1);
    for (let k = first; k < first + PREFETCH; k++) {
      const at = table.page + k * f.entryBytes;
      if (this.#read(at) & PTE_P) continue;
      const page = (lin - (lin & regionMask) + k * PAGE) >>> 0;
      let gpa = page, allow = PTE_P | PTE_W | PTE_U;
      if (large) {
        gpa = ((guestPde & ~regionMask) | (page & regionMask)) >>> 0;
        allow = PTE_P | (guestPde & PTE_U) | ((guestPde & PTE_W) && (guestPde & PTE_D) ? PTE_W : 0) |
          this.#global(guestPde);
      } else if (!identity) {
        const pteAt = ((guestPde & 0xfffff000) + k * f.entryBytes) >>> 0;
        const pte = read32(v, pteAt) ?? 0;
        if ((pte & (PTE_P | PTE_A)) !== (PTE_P | PTE_A)) continue;
        // An 8-byte entry with anything in its high dword (XD, reserved bits) waits for its own walk.
        if (f === PAE && read32(v, pteAt + 4) !== 0) continue;
        const perm = guestPde & pte;
        gpa = (pte & 0xfffff000) >>> 0;
        allow = PTE_P | (perm & PTE_U) | ((perm & PTE_W) && (pte & PTE_D) ? PTE_W : 0) | this.#global(pte);
      }
      const slot = v.ctx.memory.find(gpa);
      if (!slot) continue;
      if (slot.flags & KVM_MEM_READONLY) allow &= ~PTE_W;
      this.#writeEntry(at, v.host.slotPage(slot, gpa) | allow);
      if (!(allow & SPTE_GLOBAL)) table.local.push(k);
    }
  }

  /** SPTE_GLOBAL for a guest leaf entry that maps a global page (G with CR4.PGE). */
  #global(leaf: number): number {
    return (leaf & PTE_G) && (guestCr(this.vcpu.vmcs01, 4) & CR4_PGE) ? SPTE_GLOBAL : 0;
  }

  #dropTable(index: number): void {
    const table = this.#tables.get(index)!;
    this.#tables.delete(index);
    this.#writeEntry(this.#rootEntry(index), 0);
    this.vcpu.host.freePage(table.page);
    this.vcpu.ctx.stats.countVm("mmu_shadow_zapped");
  }

  /** Whether `lin` has a shadow entry now (for tests of the coherence policy). */
  mapped(lin: number): boolean {
    const f = this.#format, table = this.#tables.get(lin >>> f.regionShift);
    return !!table &&
      (this.#read(table.page + ((lin >>> 12) & (f.entries - 1)) * f.entryBytes) & PTE_P) !== 0;
  }
}
