/**
 * The guest page walk, once for everyone who walks a guest's tables: the CPU's MMU (mmu.ts), the
 * CPU's walk under EPT (vmx/ept.ts, every guest-physical address through EPT), kvm_intel's shadow
 * MMU and the debugger. SDM Vol. 3A, 4.3 (32-bit paging: 4 KiB and, with CR4.PSE, 4 MiB pages) and
 * 4.4 (PAE paging: four PDPTEs, 8-byte entries, 2 MiB pages, XD with EFER.NXE).
 *
 * Permission checks, reserved bits and the #PF error code (present, write, user, RSVD, and the
 * instruction-fetch bit under NXE) are decided here; accessed/dirty flags are set in the entries
 * after a successful walk only (what the CPU and KVM's walker show a guest alike). The callers say
 * where an entry lives and how a fault is raised (PagingMemory).
 *
 * PAE PDPTEs come from memory at CR3 on every walk, as QEMU 7.2's TCG reads them, unless the
 * caller holds them in PDPTE registers (`pdptes`, loaded at MOV to CR3 as a real CPU and KVM do).
 * Physical addresses are 32-bit here: entry bits 32-35 (below MAXPHYADDR 36) are not reserved but
 * no memory lies above 4 GiB, and they are dropped.
 */
import { CR0_WP, CR4_PAE, CR4_PSE } from "./state.ts";

/** Access kinds of a walk. */
export const ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2;

export const PTE_P = 1, PTE_W = 2, PTE_U = 4, PTE_A = 0x20, PTE_D = 0x40, PTE_PS = 0x80, PTE_G = 0x100;
/** #PF error-code bits (SDM Vol. 3A, 4.7). */
export const PF_PRESENT = 1, PF_WRITE = 2, PF_USER = 4, PF_RSVD = 8, PF_FETCH = 16;

/** PAE entries' reserved bits above MAXPHYADDR 36 through 62, in the high dword; 63 (XD) without NXE. */
const PAE_RSVD_HIGH = 0x7ffffff0, XD_HIGH = 0x80000000;
/** A PDPTE's reserved low bits (2:1, 8:5), as the CPU and KVM's load_pdptrs check them. */
export const PDPTE_RSVD_LOW = 0x1e6;
/** A 2 MiB page's reserved address bits 20:13. */
const LARGE_PAE_RSVD = 0x1fe000;

/** Where a walk finds the guest's paging entries, and how it ends with a #PF. */
export interface PagingMemory {
  /** Where the entry at guest-physical `gpa` is read and written (EPT translates it, say). */
  entryAddress(gpa: number, lin: number): number;
  read32(at: number): number;
  write32(at: number, value: number): void;
  /** Raises the #PF of `lin` with its error code. */
  pageFault(lin: number, errorCode: number): never;
}

/** The paging registers a walk reads. */
export interface PagingRegs {
  cr0: number;
  cr3: number;
  cr4: number;
  /** EFER.NXE (PAE paging only). */
  nxe: boolean;
  /** PDPTE registers, low and high dwords of the four; without them PDPTEs are read at CR3. */
  pdptes?: Uint32Array;
}

/** A walk's result (reused, as segmentation's `desc` is): valid until the next walk. */
export const walked = {
  /** The guest-physical address `lin` translates to. */
  gpa: 0,
  /** The U/S and R/W bits every level allows (ANDed). */
  perm: 0,
  /** XD on some level (with NXE). */
  xd: false,
  /** The leaf entry's low dword after the walk set its flags (G, D...). */
  leaf: 0,
  /** The page-directory entry's low dword (the leaf itself for a large page). */
  pde: 0,
  /** A 4 MiB or 2 MiB page. */
  large: false,
};

/**
 * Walks the guest's tables for `lin` with paging on (CR0.PG), filling `walked`, or raises the
 * #PF the guest's paging gives this access (`access`: ACC_READ, ACC_WRITE, ACC_EXEC; `user`: CPL 3).
 */
export function pageWalk(
  mem: PagingMemory,
  regs: PagingRegs,
  lin: number,
  access: number,
  user: boolean,
): void {
  lin >>>= 0;
  if (regs.cr4 & CR4_PAE) return paeWalk(mem, regs, lin, access, user);
  const write = access === ACC_WRITE;
  const pdeAt = mem.entryAddress(((regs.cr3 & 0xfffff000) | ((lin >>> 22) << 2)) >>> 0, lin);
  const pde = mem.read32(pdeAt);
  if (!(pde & PTE_P)) fault(mem, regs, lin, 0, access, user);
  walked.pde = pde;
  walked.xd = false;
  if ((pde & PTE_PS) && (regs.cr4 & CR4_PSE)) {
    check(mem, regs, lin, pde, false, access, user);
    return found(mem, pdeAt, pde, ((pde & 0xffc00000) | (lin & 0x3fffff)) >>> 0, pde, true, write);
  }
  const pteAt = mem.entryAddress(((pde & 0xfffff000) | ((lin >>> 10) & 0xffc)) >>> 0, lin);
  const pte = mem.read32(pteAt);
  if (!(pte & PTE_P)) fault(mem, regs, lin, 0, access, user);
  check(mem, regs, lin, pde & pte, false, access, user);
  if (!(pde & PTE_A)) mem.write32(pdeAt, pde | PTE_A);
  found(mem, pteAt, pte, ((pte & 0xfffff000) | (lin & 0xfff)) >>> 0, pde & pte, false, write);
}

function paeWalk(mem: PagingMemory, regs: PagingRegs, lin: number, access: number, user: boolean): void {
  const write = access === ACC_WRITE;
  const rsvdHigh = PAE_RSVD_HIGH | (regs.nxe ? 0 : XD_HIGH);
  const index = lin >>> 30;
  let lo: number, hi: number;
  if (regs.pdptes) {
    lo = regs.pdptes[index * 2];
    hi = regs.pdptes[index * 2 + 1];
  } else {
    const at = mem.entryAddress(((regs.cr3 & ~0x1f) + index * 8) >>> 0, lin);
    lo = mem.read32(at);
    hi = mem.read32(at + 4);
  }
  if (!(lo & PTE_P)) fault(mem, regs, lin, 0, access, user);
  if ((hi & (PAE_RSVD_HIGH | XD_HIGH)) || (lo & PDPTE_RSVD_LOW)) fault(mem, regs, lin, PF_RSVD, access, user);
  const pdeAt = mem.entryAddress(((lo & 0xfffff000) + ((lin >>> 21) & 0x1ff) * 8) >>> 0, lin);
  const pde = mem.read32(pdeAt), pdeHi = mem.read32(pdeAt + 4);
  if (!(pde & PTE_P)) fault(mem, regs, lin, 0, access, user);
  if (pdeHi & rsvdHigh) fault(mem, regs, lin, PF_RSVD, access, user);
  walked.pde = pde;
  if (pde & PTE_PS) {
    if (pde & LARGE_PAE_RSVD) fault(mem, regs, lin, PF_RSVD, access, user);
    const xd = regs.nxe && (pdeHi & XD_HIGH) !== 0;
    check(mem, regs, lin, pde, xd, access, user);
    walked.xd = xd;
    return found(mem, pdeAt, pde, ((pde & 0xffe00000) | (lin & 0x1fffff)) >>> 0, pde, true, write);
  }
  const pteAt = mem.entryAddress(((pde & 0xfffff000) + ((lin >>> 12) & 0x1ff) * 8) >>> 0, lin);
  const pte = mem.read32(pteAt), pteHi = mem.read32(pteAt + 4);
  if (!(pte & PTE_P)) fault(mem, regs, lin, 0, access, user);
  if (pteHi & rsvdHigh) fault(mem, regs, lin, PF_RSVD, access, user);
  const xd = regs.nxe && ((pdeHi | pteHi) & XD_HIGH) !== 0;
  check(mem, regs, lin, pde & pte, xd, access, user);
  if (!(pde & PTE_A)) mem.write32(pdeAt, pde | PTE_A);
  walked.xd = xd;
  found(mem, pteAt, pte, ((pte & 0xfffff000) | (lin & 0xfff)) >>> 0, pde & pte, false, write);
}

/** The walk succeeded: A (and D for a write) in the leaf entry at `at`, and the result. */
function found(
  mem: PagingMemory,
  at: number,
  leaf: number,
  gpa: number,
  perm: number,
  large: boolean,
  write: boolean,
): void {
  const want = leaf | PTE_A | (write ? PTE_D : 0);
  if (want !== leaf) mem.write32(at, want);
  walked.leaf = want;
  walked.gpa = gpa;
  walked.perm = perm;
  walked.large = large;
}

function check(
  mem: PagingMemory,
  regs: PagingRegs,
  lin: number,
  perm: number,
  xd: boolean,
  access: number,
  user: boolean,
): void {
  const write = access === ACC_WRITE;
  const denied = user
    ? !(perm & PTE_U) || (write && !(perm & PTE_W))
    : write && !(perm & PTE_W) && (regs.cr0 & CR0_WP) !== 0;
  if (denied || (xd && access === ACC_EXEC)) fault(mem, regs, lin, PF_PRESENT, access, user);
}

function fault(
  mem: PagingMemory,
  regs: PagingRegs,
  lin: number,
  bits: number,
  access: number,
  user: boolean,
): never {
  // A reserved-bit fault is on a present entry; the fetch bit needs NXE with PAE (SDM 4.7).
  let code = bits | (bits & PF_RSVD ? PF_PRESENT : 0) | (access === ACC_WRITE ? PF_WRITE : 0) |
    (user ? PF_USER : 0);
  if (access === ACC_EXEC && regs.nxe && (regs.cr4 & CR4_PAE)) code |= PF_FETCH;
  return mem.pageFault(lin, code);
}
