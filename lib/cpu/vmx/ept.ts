/**
 * EPT (Intel SDM Vol. 3C, "VMX Support for Address Translation"): while the "enable EPT" control
 * is set, every guest-physical address of the L2 guest, its paging-structure reads included, goes
 * through the 4-level EPT paging structures that EPTP names, with accessed/dirty flags when EPTP
 * bit 6 enables them. A missing permission is an EPT violation (exit 48), a malformed entry an
 * EPT misconfiguration (exit 49), each with the guest-physical address recorded.
 *
 * The core's MMU calls `walk` in place of its own page walk (a field it tests on a TLB miss only),
 * so the TLB then holds guest-linear to host-physical entries, as hardware's combined mappings.
 */
import type { Cpu } from "../cpu.ts";
import { CpuFault, PF } from "../faults.ts";
import { ACC_EXEC, ACC_READ, ACC_WRITE, pageWalk, type PagingMemory, walked } from "../page_walk.ts";
import { CR0_PG } from "../state.ts";
import { VMEXIT_VECTOR } from "./exit.ts";
import { vmxState } from "./state.ts";

export const EXIT_EPT_VIOLATION = 48, EXIT_EPT_MISCONFIG = 49;
const EPT_R = 1, EPT_W = 2, EPT_X = 4, EPT_LARGE = 0x80, EPT_A = 0x100, EPT_D = 0x200;

/** EPTP bit 6: accessed and dirty flags. */
export const EPTP_AD = 1 << 6;

/** True when an EPTP value is one this implementation accepts (entry check, VMfailValid 7). */
export function eptpValid(eptp: number, high: number): boolean {
  const type = eptp & 7, walk = (eptp >> 3) & 7;
  return (type === 0 || type === 6) && walk === 3 && (eptp & 0xf80) === 0 && high === 0;
}

function misconfigured(entry: number, leaf: boolean): boolean {
  if ((entry & (EPT_R | EPT_W)) === EPT_W) return true; // write without read
  if ((entry & 7) === EPT_X) return true; // execute-only is not offered
  if (leaf) {
    const type = (entry >> 3) & 7;
    if (type === 2 || type === 3 || type === 7) return true;
  }
  return false;
}

/** Physical memory as an EPT walk reads it (the CPU's bus, or an L0's view of an L1's tables). */
export interface EptMemory {
  read32(address: number): number;
  write32(address: number, value: number): void;
}

/** The outcome of one EPT translation: the address, or the exit it causes (48 or 49). */
export interface EptTranslation {
  fault: 0 | typeof EXIT_EPT_VIOLATION | typeof EXIT_EPT_MISCONFIG;
  address: number;
  /** R/W/X of every entry used, ANDed (a violation's qualification bits 5:3). */
  rwx: number;
  /** The access counted as a write (a write, or a guest paging-structure access under EPT A/D). */
  asWrite: boolean;
}

/**
 * The 4-level EPT walk (SDM "EPT Translation Mechanism") of `gpa` under `eptp` for one access
 * (ACC_READ, ACC_WRITE or ACC_EXEC); `final` is false for the guest's own paging-structure
 * accesses, which count as writes when EPTP enables accessed/dirty flags. Sets A/D flags only
 * when the translation succeeds.
 */
export function eptTranslate(
  mem: EptMemory,
  eptp: number,
  gpa: number,
  access: number,
  final: boolean,
): EptTranslation {
  const ad = (eptp & EPTP_AD) !== 0;
  const asWrite = access === ACC_WRITE || (ad && !final);
  let table = (eptp & 0xfffff000) >>> 0;
  let rwx = 7;
  const touched: number[] = [];
  // Level 4 (PML4) to 1 (PT); a 32-bit GPA uses PML4 entry 0 and PDPT entries 0-3.
  for (let level = 4; level >= 1; level--) {
    const shift = 12 + 9 * (level - 1);
    const index = level === 4 ? 0 : Math.floor(gpa / 2 ** shift) & 0x1ff;
    const at = table + index * 8;
    const entry = mem.read32(at), high = mem.read32(at + 4);
    if ((entry & 7) === 0) return { fault: EXIT_EPT_VIOLATION, address: 0, rwx: 0, asWrite };
    const large = (level === 2 || level === 3) && (entry & EPT_LARGE) !== 0;
    const leaf = level === 1 || large;
    if (misconfigured(entry, leaf) || (high & 0xfff00000) || (level === 4 && (entry & EPT_LARGE))) {
      return { fault: EXIT_EPT_MISCONFIG, address: 0, rwx, asWrite };
    }
    rwx &= entry & 7;
    touched.push(at);
    if (!leaf) {
      table = (entry & 0xfffff000) >>> 0;
      continue;
    }
    const need = access === ACC_EXEC ? EPT_X : (asWrite ? EPT_W : 0) | (access === ACC_WRITE ? 0 : EPT_R);
    if ((rwx & need) !== need) return { fault: EXIT_EPT_VIOLATION, address: 0, rwx, asWrite };
    if (ad) {
      // Accessed in every entry used, dirty in the leaf for writes (SDM "Accessed and Dirty Flags
      // for EPT"); guest paging-structure accesses count as writes.
      for (const t of touched) {
        const e = mem.read32(t);
        const want = e | EPT_A | (t === at && asWrite ? EPT_D : 0);
        if (want !== e) mem.write32(t, want);
      }
    }
    const size = 2 ** shift;
    return { fault: 0, address: ((entry & ~(size - 1) & 0xfffff000) >>> 0) + (gpa % size), rwx, asWrite };
  }
  throw new Error("unreachable");
}

export class EptWalker {
  constructor(readonly cpu: Cpu, readonly eptp: number) {}

  /**
   * The core's check before it decodes or reuses code at `lin`: instruction fetches need EPT
   * execute permission. Data reads fill the same TLB entries, so the check cannot live there; a
   * page that passed is remembered in the current TLB context until that context's entry for the
   * page goes, as a hardware TLB keeps the permission with the translation.
   */
  readonly fetch = (lin: number): void => {
    const cpu = this.cpu, fetchable = cpu.tlb.fetchable;
    const page = lin >>> 12;
    if (fetchable.has(page)) return;
    this.walk(lin, ACC_EXEC, cpu.cpl === 3);
    fetchable.add(page);
  };

  /**
   * Guest-physical to host-physical for one access (ACC_READ, ACC_WRITE or ACC_EXEC). `lin` is the
   * guest-linear address the access came from; `final` is false for the guest's own
   * paging-structure reads, which count as writes when EPTP enables accessed/dirty flags.
   */
  gpa(gpa: number, access: number, lin: number, final: boolean): number {
    const t = eptTranslate(this.cpu.bus, this.eptp, gpa, access, final);
    if (t.fault === EXIT_EPT_MISCONFIG) return this.misconfig(gpa);
    if (t.fault === EXIT_EPT_VIOLATION) return this.violation(gpa, access, t.asWrite, lin, final, t.rwx);
    return t.address;
  }

  private violation(
    gpa: number,
    access: number,
    asWrite: boolean,
    lin: number,
    final: boolean,
    rwx: number,
  ): never {
    // Qualification (SDM Table 28-7): data read (bit 0), data write (bit 1; with EPT A/D a guest
    // paging-structure read sets both), instruction fetch (bit 2), the ANDed R/W/X of the entries
    // used in 5:3, linear-address valid (bit 7) and whether the access was the translation of it
    // (bit 8).
    const kind = access === ACC_EXEC ? 4 : (access === ACC_READ ? 1 : 0) | (asWrite ? 2 : 0);
    const qualification = kind | (rwx << 3) | (1 << 7) | (final ? 1 << 8 : 0);
    return this.exit(EXIT_EPT_VIOLATION, qualification, gpa, lin);
  }

  private misconfig(gpa: number): never {
    return this.exit(EXIT_EPT_MISCONFIG, 0, gpa, 0);
  }

  private exit(reason: number, qualification: number, gpa: number, lin: number): never {
    const cpu = this.cpu;
    vmxState(cpu).pending = {
      reason,
      qualification,
      instructionLength: 0,
      instructionInfo: 0,
      guestLinear: lin,
      interruptionInfo: 0,
      interruptionError: 0,
      guestPhysical: gpa,
    };
    throw new CpuFault(VMEXIT_VECTOR, 0);
  }

  /** The guest's own tables, reached through EPT (page_walk.ts does the walk). */
  readonly #guestTables: PagingMemory = {
    entryAddress: (gpa, lin) => this.gpa(gpa, ACC_READ, lin, false),
    read32: (at) => this.cpu.bus.read32(at),
    write32: (at, value) => this.cpu.bus.write32(at, value),
    pageFault: (lin, errorCode) => {
      this.cpu.pfLinear = lin | 0;
      throw new CpuFault(PF, errorCode);
    },
  };

  /** The guest's page walk (the one the core's MMU does) with every GPA through EPT. */
  readonly walk = (lin: number, access: number, user: boolean): number => {
    const cpu = this.cpu;
    lin >>>= 0;
    if (!(cpu.cr[0] & CR0_PG)) return this.gpa(lin, access, lin, true);
    pageWalk(this.#guestTables, cpu.pagingRegs(), lin, access, user);
    return this.gpa(walked.gpa, access, lin, true);
  };
}
