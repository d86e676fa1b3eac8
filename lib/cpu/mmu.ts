/**
 * Linear memory as the CPU sees it: the software TLB, the page walk (page_walk.ts: 32-bit and PAE
 * paging, #PF with CR2 and the error code) and the memory accessors the handlers use. A TLB entry maps a linear page to a RAM page of `bus.memory`; MMIO, ROM writes and pages
 * holding decoded code take the slow path, which is where writes to code invalidate the decoded
 * blocks (self-modifying code).
 *
 * The TLB is two direct tables indexed by linear page number (read, write). Entries are the host
 * page number + 1 (0 = miss). A list of filled entries makes a flush proportional to its use.
 *
 * VMX tags cached translations (Intel SDM Vol. 3C, "Caching Translation Information"): linear
 * mappings by VPID, combined guest-linear to host-physical mappings by VPID and EP4TA. Each tag has
 * a TLB of its own (TLB_CONTEXTS at most, the least recently used one recycled), so a VM entry or
 * exit with VPIDs switches tables instead of flushing. Outside VMX the one context is tag 0.
 */
import type { Bus } from "../devices/bus.ts";
import { CpuFault, PF } from "./faults.ts";
import { CpuState, CR0_PG } from "./state.ts";
import { ACC_READ, ACC_WRITE, pageWalk, type PagingMemory, type PagingRegs, walked } from "./page_walk.ts";

const TLB_PAGES = 1 << 20;
const TLB_LIST = 4096;
/** Translation contexts with a TLB of their own (VMX root, a guest, a nested guest, one spare). */
const TLB_CONTEXTS = 4;
/** Tag bits above the VPID: EP4TA page number + 1 for combined mappings, 0 for linear ones. */
const EP4TA_SHIFT = 2 ** 16;

/** The tag of a translation context: a VPID, and the EPT PML4 address when EPT is in use. */
export function tlbTag(vpid: number, ep4ta?: number): number {
  return (vpid & 0xffff) + (ep4ta === undefined ? 0 : ((ep4ta >>> 12) + 1) * EP4TA_SHIFT);
}

/** The VPID of a TLB tag. */
export function tagVpid(tag: number): number {
  return tag % EP4TA_SHIFT;
}

/** True when a TLB tag holds combined mappings made under this EP4TA. */
export function tagUsesEpt(tag: number, ep4ta: number): boolean {
  return Math.floor(tag / EP4TA_SHIFT) === (ep4ta >>> 12) + 1;
}

/** The tables of a TLB that has never been filled: all misses, never written. */
const NO_ENTRIES = new Int32Array(TLB_PAGES);

/** One translation context's TLB. */
class Tlb {
  /** The read and write tables (NO_ENTRIES until the first fill: 8 MiB a context is not free). */
  r = NO_ENTRIES;
  w = NO_ENTRIES;
  readonly list = new Int32Array(TLB_LIST);
  count = 0;
  /** The user/supervisor view the entries were filled for (flushed when it changes under paging). */
  user = false;
  /** Linear pages whose instruction fetch passed the EPT execute check (lib/cpu/vmx/ept.ts). */
  readonly fetchable = new Set<number>();
  /** Use order for recycling. */
  used = 0;
  constructor(public tag: number) {}

  /** Gives the context tables of its own before its first entry is written. */
  allocate(): void {
    this.r = new Int32Array(TLB_PAGES);
    this.w = new Int32Array(TLB_PAGES);
  }

  flush(): void {
    if (this.r === NO_ENTRIES) return this.fetchable.clear();
    if (this.count > TLB_LIST) {
      this.r.fill(0);
      this.w.fill(0);
    } else {
      for (let k = 0; k < this.count; k++) {
        const p = this.list[k];
        this.r[p] = 0;
        this.w[p] = 0;
      }
    }
    this.count = 0;
    this.fetchable.clear();
  }

  /** Drops the write entries that map a host page (it now holds code: writes must see that). */
  dropWrites(host: number): void {
    if (this.r === NO_ENTRIES) return;
    if (this.count > TLB_LIST) return this.flush();
    for (let k = 0; k < this.count; k++) {
      const p = this.list[k];
      if (this.w[p] === host + 1) this.w[p] = 0;
    }
  }

  flushPage(lin: number): void {
    if (this.r === NO_ENTRIES) return void this.fetchable.delete(lin >>> 12);
    this.r[lin >>> 12] = 0;
    this.w[lin >>> 12] = 0;
    this.fetchable.delete(lin >>> 12);
  }
}

/** Access kinds for translate(). */
export { ACC_EXEC, ACC_READ, ACC_WRITE } from "./page_walk.ts";

export class Mmu extends CpuState {
  readonly bus: Bus;
  readonly mem: Uint8Array;
  readonly view: DataView;
  /** The current context's TLB (`tlbR`/`tlbW` are its tables, read by compiled blocks). */
  tlb = new Tlb(0);
  tlbR = this.tlb.r;
  tlbW = this.tlb.w;
  private readonly tlbs: Tlb[] = [this.tlb];
  private tlbClock = 0;
  /**
   * Per host page, which 128-byte chunks hold decoded code (bit n = bytes n*128..n*128+127). Writes
   * to a page with code take the slow path, and only writes that hit a marked chunk drop blocks, so
   * data next to code does not cost a re-decode.
   */
  readonly codeMask = new Uint32Array(TLB_PAGES);

  constructor(bus: Bus) {
    super();
    this.bus = bus;
    this.mem = bus.u8;
    this.view = bus.view;
    bus.onMapChange(() => this.flushAllTlbs());
  }

  /**
   * Debugger watchpoints (gdb's rwatch/awatch through lib/virt/monitor): data accesses to these
   * linear pages are never cached in the TLB, so they all take the slow path, which reports them
   * to `onWatchedAccess`. Costs nothing on the fast path; flush the TLB after changing the set.
   */
  watchPages?: Set<number>;
  onWatchedAccess?: (lin: number, bytes: number, write: boolean) => void;

  /** Bumped whenever a linear-to-code mapping may change: cached block links are then stale. */
  codeGen = 0;

  /** Flushes the current context's TLB (MOV to CR3, paging mode changes). */
  flushTlb(): void {
    this.codeGen++;
    this.tlb.flush();
  }

  /** INVLPG: drops one linear page of the current context. */
  flushPage(lin: number): void {
    this.codeGen++;
    this.tlb.flushPage(lin);
  }

  /** Flushes every context (the physical memory map or what is code changed, reset). */
  flushAllTlbs(): void {
    this.codeGen++;
    for (const t of this.tlbs) t.flush();
  }

  /** A host page now holds decoded code: its write entries go in every context (writes to code are slow). */
  codeMapped(host: number): void {
    for (const t of this.tlbs) t.dropWrites(host);
  }

  /**
   * Drops the entries of every context whose tag `which` selects: all of them, or only the page of
   * `lin` when given (INVVPID, INVEPT, VM entries and exits without VPIDs).
   */
  invalidateTlbs(which: (tag: number) => boolean, lin?: number): void {
    this.codeGen++;
    for (const t of this.tlbs) {
      if (!which(t.tag)) continue;
      if (lin === undefined) t.flush();
      else t.flushPage(lin);
    }
  }

  /**
   * Makes the context with this tag current (VM entry and exit), recycling the least used one. The
   * caller then checks the CPL against the context's user/supervisor view (privilegeChanged).
   */
  selectTlb(tag: number): void {
    let t = this.tlb;
    if (t.tag !== tag) {
      this.codeGen++;
      const found = this.tlbs.find((x) => x.tag === tag);
      if (found) t = found;
      else if (this.tlbs.length < TLB_CONTEXTS) this.tlbs.push(t = new Tlb(tag));
      else {
        t = this.tlbs.reduce((a, b) => (b.used < a.used ? b : a));
        t.flush();
        t.tag = tag;
      }
      this.tlb = t;
      this.tlbR = t.r;
      this.tlbW = t.w;
    }
    t.used = ++this.tlbClock;
  }

  /** Called when CPL crosses between user and supervisor: TLB entries carry the old view. */
  privilegeChanged(): void {
    const user = this.cpl === 3;
    if (user !== this.tlb.user) {
      this.tlb.user = user;
      if (this.cr[0] & CR0_PG) this.flushTlb();
    }
  }

  /** Overridden by the Cpu: drops decoded blocks overlapping [offset, offset+length) of a host page. */
  codeWritten(_hostPage: number, _offset: number, _length: number): void {}

  /**
   * VMX non-root operation with EPT (lib/cpu/vmx/ept.ts): the guest walk with every guest-physical
   * address through EPT replaces the walk below. Undefined otherwise; tested on TLB misses only.
   */
  eptWalk: ((lin: number, access: number, user: boolean) => number) | undefined = undefined;
  /** With EPT: the execute-permission check of an instruction fetch at `lin` (throws the exit). */
  eptFetch: ((lin: number) => void) | undefined = undefined;

  /** The CPU's paging registers and memory as the one guest walk (page_walk.ts) reads them. */
  readonly #pagingRegs: PagingRegs = { cr0: 0, cr3: 0, cr4: 0, nxe: false };
  readonly #pagingMemory: PagingMemory = {
    entryAddress: (gpa) => gpa,
    read32: (at) => this.bus.read32(at),
    write32: (at, value) => this.bus.write32(at, value),
    pageFault: (lin, errorCode) => {
      this.pfLinear = lin | 0;
      throw new CpuFault(PF, errorCode);
    },
  };

  /** The paging registers for a walk of the current context (no EFER: NX is not offered). */
  pagingRegs(): PagingRegs {
    const r = this.#pagingRegs;
    r.cr0 = this.cr[0];
    r.cr3 = this.cr[3];
    r.cr4 = this.cr[4];
    return r;
  }

  /** Linear to physical address, walking the page tables; throws #PF. */
  translate(lin: number, access: number, user = this.cpl === 3): number {
    if (this.eptWalk) return this.eptWalk(lin, access, user);
    if (!(this.cr[0] & CR0_PG)) return lin >>> 0;
    pageWalk(this.#pagingMemory, this.pagingRegs(), lin, access, user);
    return walked.gpa;
  }

  /**
   * The linear address of the last #PF raised. CR2 takes it only when the fault is delivered
   * (Cpu.exception): a #PF that causes a VM exit leaves CR2 alone (SDM Vol. 3C, 28.1).
   */
  pfLinear = 0;

  /**
   * Fills the TLB for a linear page and returns the host page (>= 0), or -1 when the page is not
   * plain RAM for this access (MMIO, hole, ROM write, code page write).
   */
  private fill(lin: number, access: number): number {
    const phys = (this.translate(lin, access) & this.bus.a20Mask) >>> 0;
    const ppn = phys >>> 12;
    const host = this.bus.pageMap[ppn];
    if (host < 0) return -1;
    const lpn = lin >>> 12;
    // System accesses run with CPL forced to 0; they must not leave supervisor entries behind.
    const tlb = this.tlb;
    const cache = (this.cpl === 3) === tlb.user && !this.watchPages?.has(lpn);
    if (cache && tlb.r === NO_ENTRIES) {
      tlb.allocate();
      this.tlbR = tlb.r;
      this.tlbW = tlb.w;
    }
    if (access === ACC_WRITE) {
      if (this.bus.pageReadOnly[ppn]) return -1;
      // Pages with decoded code get a negative entry: writes check the code map first (wrSlow).
      if (cache) tlb.w[lpn] = this.codeMask[host] ? -(host + 1) : host + 1;
    } else if (cache) {
      tlb.r[lpn] = host + 1;
    }
    if (cache) {
      if (tlb.count < TLB_LIST) tlb.list[tlb.count] = lpn;
      tlb.count++;
    }
    return host;
  }

  /** Host offset of a byte of RAM for reading code or data; -1 if it is not RAM. */
  hostRead(lin: number): number {
    const e = this.tlbR[lin >>> 12];
    if (e) return ((e - 1) << 12) | (lin & 0xfff);
    const host = this.fill(lin, ACC_READ);
    return host < 0 ? -1 : (host << 12) | (lin & 0xfff);
  }

  /**
   * Host offset of a byte of plain RAM writable at `lin` (no code on its page), or -1. May raise
   * #PF like a write would; used by bulk string operations.
   */
  hostWrite(lin: number): number {
    let e = this.tlbW[lin >>> 12];
    if (e === 0) {
      const host = this.fill(lin, ACC_WRITE);
      if (host < 0 || this.codeMask[host]) return -1;
      return (host << 12) | (lin & 0xfff);
    }
    if (e < 0 || this.codeMask[e - 1]) return -1;
    e = e - 1;
    return (e << 12) | (lin & 0xfff);
  }

  // ---- data accessors (linear addresses) ----

  rd8(lin: number): number {
    const e = this.tlbR[lin >>> 12];
    if (e) return this.mem[((e - 1) << 12) | (lin & 0xfff)];
    return this.rdSlow(lin, 0);
  }

  rd16(lin: number): number {
    const e = this.tlbR[lin >>> 12];
    if (e && (lin & 0xfff) < 0xfff) return this.view.getUint16(((e - 1) << 12) | (lin & 0xfff), true);
    return this.rdSlow(lin, 1);
  }

  rd32(lin: number): number {
    const e = this.tlbR[lin >>> 12];
    if (e && (lin & 0xfff) < 0xffd) return this.view.getInt32(((e - 1) << 12) | (lin & 0xfff), true);
    return this.rdSlow(lin, 2);
  }

  rd(size: number, lin: number): number {
    return size === 2 ? this.rd32(lin) : size === 1 ? this.rd16(lin) : this.rd8(lin);
  }

  wr8(lin: number, v: number): void {
    const e = this.tlbW[lin >>> 12];
    if (e > 0) this.mem[((e - 1) << 12) | (lin & 0xfff)] = v;
    else this.wrSlow(lin, 0, v);
  }

  wr16(lin: number, v: number): void {
    const e = this.tlbW[lin >>> 12];
    if (e > 0 && (lin & 0xfff) < 0xfff) this.view.setUint16(((e - 1) << 12) | (lin & 0xfff), v, true);
    else this.wrSlow(lin, 1, v);
  }

  wr32(lin: number, v: number): void {
    const e = this.tlbW[lin >>> 12];
    if (e > 0 && (lin & 0xfff) < 0xffd) this.view.setInt32(((e - 1) << 12) | (lin & 0xfff), v, true);
    else this.wrSlow(lin, 2, v);
  }

  wr(size: number, lin: number, v: number): void {
    if (size === 2) this.wr32(lin, v);
    else if (size === 1) this.wr16(lin, v);
    else this.wr8(lin, v);
  }

  /**
   * Checks that [lin, lin+bytes) is writable before a read-modify-write touches it, so a faulting
   * write leaves registers and flags as they were.
   */
  probeWrite(lin: number, bytes: number): void {
    if (!this.tlbW[lin >>> 12]) this.translate(lin, ACC_WRITE);
    const last = (lin + bytes - 1) | 0;
    if ((last ^ lin) & ~0xfff && !this.tlbW[last >>> 12]) this.translate(last, ACC_WRITE);
  }

  private rdSlow(lin: number, size: number): number {
    const bytes = 1 << size;
    if (this.watchPages?.has(lin >>> 12)) this.onWatchedAccess?.(lin, bytes, false);
    if ((lin & 0xfff) + bytes > 0x1000) {
      let v = 0;
      for (let k = 0; k < bytes; k++) v |= this.rdByte((lin + k) | 0) << (k * 8);
      return size === 2 ? v : v & 0xffff;
    }
    const host = this.fill(lin, ACC_READ);
    if (host >= 0) {
      const off = (host << 12) | (lin & 0xfff);
      return size === 0
        ? this.mem[off]
        : size === 1
        ? this.view.getUint16(off, true)
        : this.view.getInt32(off, true);
    }
    const phys = (this.translate(lin, ACC_READ) & this.bus.a20Mask) >>> 0;
    return size === 0 ? this.bus.read8(phys) : size === 1 ? this.bus.read16(phys) : this.bus.read32(phys) | 0;
  }

  private rdByte(lin: number): number {
    const e = this.tlbR[lin >>> 12];
    if (e) return this.mem[((e - 1) << 12) | (lin & 0xfff)];
    return this.rdSlow(lin, 0);
  }

  private wrSlow(lin: number, size: number, v: number): void {
    const bytes = 1 << size;
    if (this.watchPages?.has(lin >>> 12)) this.onWatchedAccess?.(lin, bytes, true);
    if ((lin & 0xfff) + bytes > 0x1000) {
      this.probeWrite(lin, bytes);
      for (let k = 0; k < bytes; k++) this.wrSlow((lin + k) | 0, 0, v >>> (k * 8));
      return;
    }
    const e = this.tlbW[lin >>> 12];
    const host = e < 0 ? -e - 1 : this.fill(lin, ACC_WRITE);
    if (host >= 0) {
      const off = (host << 12) | (lin & 0xfff);
      if (size === 0) this.mem[off] = v;
      else if (size === 1) this.view.setUint16(off, v, true);
      else this.view.setInt32(off, v, true);
      if (this.codeMask[host]) this.codeWritten(host, lin & 0xfff, bytes);
      return;
    }
    const phys = (this.translate(lin, ACC_WRITE) & this.bus.a20Mask) >>> 0;
    if (size === 0) this.bus.write8(phys, v & 0xff);
    else if (size === 1) this.bus.write16(phys, v & 0xffff);
    else this.bus.write32(phys, v >>> 0);
    const page = this.bus.pageMap[phys >>> 12];
    if (page >= 0 && this.codeMask[page]) this.codeWritten(page, phys & 0xfff, bytes);
  }
}
