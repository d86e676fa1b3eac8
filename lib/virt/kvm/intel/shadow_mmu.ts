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
 * The shadow is 2-level 32-bit paging: one page directory (the root, never freed) and a page
 * table per 4 MiB region, filled lazily on #PF exits (the faulting page and, as Linux's
 * pte_prefetch does, its accessed neighbours), always with 4 KiB entries (a guest 4 MiB PSE page
 * is split). With guest paging off (CR0.PG=0 in protected mode) the shadow
 * is an identity map of guest-physical memory, the job of Linux's identity-map page.
 *
 * On a #PF exit L0 walks the guest's tables with the guest's CR0.WP and CR4.PSE:
 * - the guest's own rules deny the access: the #PF is reflected (CR2 = the address, error code
 *   from the guest walk), counted as pf_guest;
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
 * whole shadow, and INVLPG drops the entry for its page, or the whole 4 MiB region's table when
 * the guest PDE above it is not the one the table was built from (a new page table, a 4 MiB
 * page). mmu_pte_write therefore stays
 * 0: guest page-table writes are never trapped.
 *
 * Guest PAE paging is refused: KVM_RUN returns KVM_EXIT_INTERNAL_ERROR while CR4.PAE and CR0.PG
 * are both set.
 */
import { F } from "../../../cpu/vmx/mod.ts";
import { INVVPID_INDIVIDUAL_ADDRESS, INVVPID_SINGLE_CONTEXT, invvpidTlb } from "../../../cpu/vmx/tlb.ts";
import { KVM_MEM_READONLY } from "../constants.ts";
import { read32, write32 } from "./guest_memory.ts";
import { CR0_NE, CR0_PE, CR0_PG, CR4_VMXE, guestCr } from "./guest_state.ts";
import { PRIVATE_BASE } from "./host_memory.ts";
import type { VmxVcpu } from "./vcpu.ts";

const PAGE = 4096;
const PTE_P = 1, PTE_W = 2, PTE_U = 4, PTE_A = 0x20, PTE_D = 0x40, PTE_PS = 0x80, PTE_G = 0x100;
/** A shadow entry's software bit (9, ignored by the CPU): it maps a guest global page. */
const SPTE_GLOBAL = 0x200;
export const CR0_WP = 0x10000;
const CR4_PSE = 0x10, CR4_PAE = 0x20, CR4_PGE = 0x80;
/** The bits the host owns in shadow mode (in the guest/host masks). */
export const SHADOW_CR0_MASK = CR0_NE | CR0_PG | CR0_PE | CR0_WP;
export const SHADOW_CR4_MASK = CR4_VMXE | CR4_PSE | CR4_PGE | CR4_PAE;
/** The #PF error-code bits L0 reads (present, write, user). */
const PF_PRESENT = 1, PF_WRITE = 2, PF_USER = 4;
/** PDE bits whose change makes a shadow table stale (frame, present, writable, user, size). */
const PDE_IDENTITY = 0xfffff000 | PTE_P | PTE_W | PTE_U | PTE_PS;
/** Entries mapped around a filled one (Linux maps 8; a VM exit costs more here than a walk). */
const PREFETCH = 64;
/** The table-of-a-region key for the identity map (no guest PDE behind it). */
const IDENTITY = -1;

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
  readonly #root: number;
  /** Shadow page tables by page-directory index, with the guest PDE each was built from. */
  readonly #tables = new Map<number, ShadowTable>();

  constructor(readonly vcpu: VmxVcpu) {
    this.#root = vcpu.host.allocPage();
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
    this.setCr0(v.get(F.CR0_READ_SHADOW));
    this.setCr4(v.get(F.CR4_READ_SHADOW));
    v.set(F.GUEST_CR3, this.#root);
    this.zap();
  }

  /** The guest's MOV to CR0 (checked by the caller): read shadow and real CR0, new shadow if paging changed. */
  setCr0(value: number): void {
    const v = this.vcpu.vmcs01, old = v.get(F.CR0_READ_SHADOW);
    v.set(F.CR0_READ_SHADOW, value);
    // Protected mode runs with paging (the shadow's) always on; real mode keeps PE=0, which the
    // entry refuses without unrestricted guest.
    v.set(F.GUEST_CR0, value & CR0_PE ? value | CR0_NE | CR0_PG | CR0_WP : value | CR0_NE);
    if ((old ^ value) & (CR0_PG | CR0_PE | CR0_WP)) this.zap();
  }

  setCr4(value: number): void {
    const v = this.vcpu.vmcs01, old = v.get(F.CR4_READ_SHADOW);
    v.set(F.CR4_READ_SHADOW, value);
    v.set(F.GUEST_CR4, (value | CR4_VMXE) & ~(CR4_PAE | CR4_PSE | CR4_PGE));
    if ((old ^ value) & (CR4_PSE | CR4_PGE | CR4_PAE)) this.zap();
  }

  /**
   * MOV to CR3: a new address space; the TLB (here, the shadow) forgets the old one, except what
   * global pages map (CR4.PGE): tables whose guest PDE is the same in the new space keep their
   * global entries. With guest paging off the identity map does not depend on CR3 at all.
   */
  setCr3(value: number): void {
    this.guestCr3 = value;
    const v = this.vcpu.vmcs01;
    if (!(guestCr(v, 0) & CR0_PG)) return;
    if (!(guestCr(v, 4) & CR4_PGE)) return this.zap();
    for (const [index, table] of this.#tables) {
      if ((table.guestPde ^ this.#guestPde(index << 22).pde) & PDE_IDENTITY) {
        this.#dropTable(index);
        continue;
      }
      for (const k of table.local) this.#write(table.page + k * 4, 0);
      table.local = [];
    }
    this.#flush();
    this.vcpu.ctx.stats.count("tlb_flush");
  }

  /** Guest paging this MMU cannot shadow (PAE): the run stops with an internal error. */
  unsupported(): boolean {
    const v = this.vcpu.vmcs01;
    return (v.get(F.CR0_READ_SHADOW) & CR0_PG) !== 0 && (v.get(F.CR4_READ_SHADOW) & CR4_PAE) !== 0;
  }

  // ---- faults and invalidation ----

  /** A #PF exit at `lin` with the hardware's error code: fill the shadow or reflect the fault. */
  pageFault(lin: number, errorCode: number): ShadowFault {
    lin >>>= 0;
    const write = (errorCode & PF_WRITE) !== 0, user = (errorCode & PF_USER) !== 0;
    const vmcs = this.vcpu.vmcs01;
    const cr0 = guestCr(vmcs, 0);
    let gpa: number, allow = PTE_P | PTE_W | PTE_U, guestPde = IDENTITY;
    if (!(cr0 & CR0_PG)) gpa = lin - (lin % PAGE);
    else {
      const walk = this.#walk(lin, write, user, (cr0 & CR0_WP) !== 0);
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
    const index = lin >>> 22, table = this.#tables.get(index);
    if (!table) return;
    const pde = (guestCr(this.vcpu.vmcs01, 0) & CR0_PG) ? this.#guestPde(lin).pde : IDENTITY;
    const large = pde !== IDENTITY && (pde & PTE_PS) !== 0;
    if (large || ((table.guestPde ^ pde) & PDE_IDENTITY)) {
      this.#dropTable(index);
      this.#flush();
      return;
    }
    this.#write(table.page + ((lin >>> 12) & 0x3ff) * 4, 0);
    this.#flush(lin);
  }

  /** Drops every shadow table (kvm_mmu_reset_context / a CR3 switch) and flushes the TLB. */
  zap(): void {
    for (const index of [...this.#tables.keys()]) this.#dropTable(index);
    this.#flush();
    this.vcpu.ctx.stats.count("tlb_flush");
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

  #guestPde(lin: number): { pdeAt: number; pde: number } {
    const pdeAt = ((this.guestCr3 & 0xfffff000) | ((lin >>> 22) << 2)) >>> 0;
    return { pdeAt, pde: read32(this.vcpu, pdeAt) ?? 0 };
  }

  /**
   * The guest's translation of `lin` for this access, with its A/D flags updated, or the error
   * code of the #PF the guest's own paging raises.
   */
  #walk(
    lin: number,
    write: boolean,
    user: boolean,
    wp: boolean,
  ): { gpa: number; allow: number; guestPde: number } | { errorCode: number } {
    const v = this.vcpu;
    const fault = (present: number) => ({
      errorCode: present | (write ? PF_WRITE : 0) | (user ? PF_USER : 0),
    });
    const { pdeAt, pde } = this.#guestPde(lin);
    if (!(pde & PTE_P)) return fault(0);
    const large = (pde & PTE_PS) !== 0 && (guestCr(v.vmcs01, 4) & CR4_PSE) !== 0;
    let leafAt = pdeAt, leaf = pde, perm = pde, gpa: number;
    if (large) gpa = ((pde & 0xffc00000) | (lin & 0x3ff000)) >>> 0;
    else {
      leafAt = ((pde & 0xfffff000) | ((lin >>> 10) & 0xffc)) >>> 0;
      leaf = read32(v, leafAt) ?? 0;
      if (!(leaf & PTE_P)) return fault(0);
      perm = pde & leaf;
      gpa = (leaf & 0xfffff000) >>> 0;
    }
    if (user ? !(perm & PTE_U) || (write && !(perm & PTE_W)) : write && !(perm & PTE_W) && wp) {
      return fault(PF_PRESENT);
    }
    if (!large && !(pde & PTE_A)) write32(v, pdeAt, pde | PTE_A);
    const want = leaf | PTE_A | (write ? PTE_D : 0);
    if (want !== leaf) write32(v, leafAt, want);
    // Writable in the shadow only once dirty; a supervisor write allowed by CR0.WP=0 alone gets a
    // writable entry the user cannot reach (a user access faults again and is rebuilt).
    let allow = PTE_P | (perm & PTE_U) | this.#global(leaf);
    if ((perm & PTE_W) && (want & PTE_D)) allow |= PTE_W;
    else if (write && !user && !(perm & PTE_W)) allow = PTE_P | PTE_W;
    return { gpa, allow, guestPde: pde };
  }

  // ---- the shadow's tables ----

  #read(hpa: number): number {
    return this.vcpu.host.privateView.getUint32(hpa - PRIVATE_BASE, true);
  }

  #write(hpa: number, value: number): void {
    this.vcpu.host.privateView.setUint32(hpa - PRIVATE_BASE, value >>> 0, true);
  }

  /** The shadow entry for `lin`: guest-physical page `gpa` behind it, with the `allow` bits. */
  #map(lin: number, gpa: number, allow: number, write: boolean, guestPde: number): void {
    const v = this.vcpu, index = lin >>> 22;
    let table = this.#tables.get(index);
    if (table && ((table.guestPde ^ guestPde) & PDE_IDENTITY)) {
      this.#dropTable(index);
      table = undefined;
    }
    if (!table) {
      table = { page: v.host.allocPage(), guestPde, local: [] };
      this.#tables.set(index, table);
      this.#write(this.#root + index * 4, table.page | PTE_P | PTE_W | PTE_U);
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
    this.#write(table.page + ((lin >>> 12) & 0x3ff) * 4, hpa | allow);
    if (!(allow & SPTE_GLOBAL)) table.local.push((lin >>> 12) & 0x3ff);
    this.#flush(lin);
  }

  /**
   * pte_prefetch: the neighbours of a filled entry (an aligned group of PREFETCH) that the TLB
   * could hold already, mapped now to save their own exits: RAM pages whose guest entries are
   * present and accessed (never set here), writable only when dirty. A guest that changes such an
   * entry must invalidate it anyway, as for any cached translation.
   */
  #prefetch(lin: number, guestPde: number): void {
    const v = this.vcpu, table = this.#tables.get(lin >>> 22)!;
    const identity = guestPde === IDENTITY;
    const large = !identity && (guestPde & PTE_PS) !== 0 && (guestCr(v.vmcs01, 4) & CR4_PSE) !== 0;
    const first = (lin >>> 12) & 0x3ff & ~(PREFETCH - 1);
    for (let k = first; k < first + PREFETCH; k++) {
      const at = table.page + k * 4;
      if (this.#read(at) & PTE_P) continue;
      const page = ((lin & 0xffc00000) | (k << 12)) >>> 0;
      let gpa = page, allow = PTE_P | PTE_W | PTE_U;
      if (large) {
        gpa = ((guestPde & 0xffc00000) | (page & 0x3ff000)) >>> 0;
        allow = PTE_P | (guestPde & PTE_U) | ((guestPde & PTE_W) && (guestPde & PTE_D) ? PTE_W : 0) |
          this.#global(guestPde);
      } else if (!identity) {
        const pte = read32(v, ((guestPde & 0xfffff000) | (k << 2)) >>> 0) ?? 0;
        if ((pte & (PTE_P | PTE_A)) !== (PTE_P | PTE_A)) continue;
        const perm = guestPde & pte;
        gpa = (pte & 0xfffff000) >>> 0;
        allow = PTE_P | (perm & PTE_U) | ((perm & PTE_W) && (pte & PTE_D) ? PTE_W : 0) | this.#global(pte);
      }
      const slot = v.ctx.memory.find(gpa);
      if (!slot) continue;
      if (slot.flags & KVM_MEM_READONLY) allow &= ~PTE_W;
      this.#write(at, v.host.slotPage(slot, gpa) | allow);
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
    this.#write(this.#root + index * 4, 0);
    this.vcpu.host.freePage(table.page);
    this.vcpu.ctx.stats.countVm("mmu_shadow_zapped");
  }

  /** Whether `lin` has a shadow entry now (for tests of the coherence policy). */
  mapped(lin: number): boolean {
    const table = this.#tables.get(lin >>> 22);
    return !!table && (this.#read(table.page + ((lin >>> 12) & 0x3ff) * 4) & PTE_P) !== 0;
  }
}
