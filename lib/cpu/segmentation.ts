/**
 * Segment register loads with the SDM's checks (Vol. 3A, 5.x and the MOV/POP Sreg pages), and the
 * descriptor-table helpers shared by far transfers, interrupts and LAR/LSL/VERR/VERW.
 */
import { CpuFault, GP, NP, SS as SS_FAULT, TS } from "./faults.ts";
import type { Mmu } from "./mmu.ts";
import { CR0_PE, CS, LDTR, SEG_CODE, SEG_DB, SEG_G, SEG_P, SEG_S, SS, VM } from "./state.ts";

/** Rights of a real-mode or V86 data segment: present, writable, accessed, DPL as given. */
export const REAL_RIGHTS = SEG_P | SEG_S | 0x300;
/**
 * The 4 GiB flat descriptor caches a BIOS leaves for a directly entered kernel (limit 19:16 all
 * ones, as the descriptor's high dword has them): 32-bit execute/read code, and read/write data
 * with the accessed bit, as QEMU's register dump shows them after its option ROMs.
 */
export const FLAT_CODE_RIGHTS = SEG_G | SEG_DB | 0xf0000 | SEG_P | SEG_S | SEG_CODE | 0x200;
export const FLAT_DATA_RIGHTS = SEG_G | SEG_DB | 0xf0000 | SEG_P | SEG_S | 0x300;

export function protectedMode(cpu: Mmu): boolean {
  return (cpu.cr[0] & CR0_PE) !== 0 && (cpu.eflags & VM) === 0;
}

/** Descriptor fields after readDescriptor (kept on an object to avoid allocation). */
export const desc = { lo: 0, hi: 0, addr: 0 };

/**
 * Reads the descriptor a selector names into `desc`, or returns false when the selector is
 * outside its table's limit. System accesses: supervisor, whatever the CPL.
 */
export function readDescriptor(cpu: Mmu, sel: number): boolean {
  let base: number, limit: number;
  if (sel & 4) {
    if (!(cpu.segRights[LDTR] & SEG_P) && cpu.segSel[LDTR] === 0) return false;
    base = cpu.segBase[LDTR];
    limit = cpu.segLimit[LDTR];
  } else {
    base = cpu.gdtBase;
    limit = cpu.gdtLimit;
  }
  if ((sel | 7) > (limit >>> 0)) return false;
  const addr = (base + (sel & ~7)) | 0;
  desc.addr = addr;
  desc.lo = readSys32(cpu, addr);
  desc.hi = readSys32(cpu, addr + 4);
  return true;
}

function readSys32(cpu: Mmu, lin: number): number {
  const cpl = cpu.cpl;
  cpu.cpl = 0;
  try {
    return cpu.rd32(lin);
  } finally {
    cpu.cpl = cpl;
  }
}

export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}

export function descLimit(lo: number, hi: number): number {
  const raw = (hi & 0xf0000) | (lo & 0xffff);
  return hi & SEG_G ? ((raw << 12) | 0xfff) : raw;
}

/** Sets the accessed bit of the descriptor last read, as the CPU does on a load. */
export function markAccessed(cpu: Mmu): void {
  if (!(desc.hi & 0x100)) {
    desc.hi |= 0x100;
    const cpl = cpu.cpl;
    cpu.cpl = 0;
    try {
      cpu.wr32(desc.addr + 4, desc.hi);
    } finally {
      cpu.cpl = cpl;
    }
  }
}

/** Loads a segment register's hidden part from a descriptor. */
export function setSegment(cpu: Mmu, seg: number, sel: number, lo: number, hi: number): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = descBase(lo, hi);
  cpu.segLimit[seg] = descLimit(lo, hi);
  // Limit bits 19:16 stay in place too: QEMU's register dumps show them (x86_cpu_dump_seg_cache).
  cpu.segRights[seg] = hi & 0x00ffff00;
  if (seg === SS) cpu.stack32 = (hi & SEG_DB) !== 0;
  cpu.segmentLoaded(seg);
}

/** Real-mode and V86 semantics: base = selector * 16; the limit stays (unreal mode). */
export function loadSegmentReal(cpu: Mmu, seg: number, sel: number): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = sel << 4;
  if (cpu.eflags & VM) {
    cpu.segLimit[seg] = 0xffff;
    cpu.segRights[seg] = REAL_RIGHTS | 0x6000 | (seg === CS ? SEG_CODE : 0);
    if (seg === SS) cpu.stack32 = false;
  }
  cpu.segmentLoaded(seg);
}

/** MOV/POP/LDS to ES, SS, DS, FS, GS with the protected-mode checks. */
export function loadSegment(cpu: Mmu, seg: number, sel: number): void {
  sel &= 0xffff;
  if (!protectedMode(cpu)) {
    loadSegmentReal(cpu, seg, sel);
    return;
  }
  const rpl = sel & 3, cpl = cpu.cpl;
  if ((sel & ~3) === 0) {
    if (seg === SS) throw new CpuFault(GP, 0);
    cpu.segSel[seg] = sel;
    cpu.segBase[seg] = 0;
    cpu.segLimit[seg] = 0;
    cpu.segRights[seg] = 0;
    cpu.segmentLoaded(seg);
    return;
  }
  if (!readDescriptor(cpu, sel)) throw new CpuFault(GP, sel & 0xfffc);
  const hi = desc.hi;
  const dpl = (hi >> 13) & 3;
  const type = (hi >> 8) & 0xf;
  if (!(hi & SEG_S)) throw new CpuFault(GP, sel & 0xfffc);
  if (seg === SS) {
    if ((type & 0xa) !== 2 || rpl !== cpl || dpl !== cpl) throw new CpuFault(GP, sel & 0xfffc);
    if (!(hi & SEG_P)) throw new CpuFault(SS_FAULT, sel & 0xfffc);
  } else {
    const code = (type & 8) !== 0, readable = (type & 2) !== 0, conforming = (type & 4) !== 0;
    if (code && !readable) throw new CpuFault(GP, sel & 0xfffc);
    if ((!code || !conforming) && (rpl > dpl || cpl > dpl)) throw new CpuFault(GP, sel & 0xfffc);
    if (!(hi & SEG_P)) throw new CpuFault(NP, sel & 0xfffc);
  }
  markAccessed(cpu);
  setSegment(cpu, seg, sel, desc.lo, desc.hi);
}

/** Reads SS:ESP for privilege level `dpl` from the current TSS. */
export function tssStack(cpu: Mmu, dpl: number): { ss: number; esp: number } {
  const tr = 7;
  const type = (cpu.segRights[tr] >> 8) & 0xf;
  const is32 = (type & 8) !== 0;
  const off = is32 ? 4 + dpl * 8 : 2 + dpl * 4;
  const need = is32 ? off + 5 : off + 3;
  if (need > (cpu.segLimit[tr] >>> 0)) throw new CpuFault(TS, cpu.segSel[tr] & 0xfffc);
  const base = cpu.segBase[tr];
  const cpl = cpu.cpl;
  cpu.cpl = 0;
  try {
    if (is32) return { esp: cpu.rd32(base + off), ss: cpu.rd16(base + off + 4) };
    return { esp: cpu.rd16(base + off), ss: cpu.rd16(base + off + 2) };
  } finally {
    cpu.cpl = cpl;
  }
}
