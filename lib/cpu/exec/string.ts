/**
 * String instructions (MOVS CMPS STOS LODS SCAS INS OUTS) with REP/REPE/REPNE. A repeated
 * instruction runs to completion inside one handler call, updating ECX/ESI/EDI per element so a
 * fault in the middle restarts it with the remaining count, as on hardware. It retires as one
 * instruction.
 */
import type { Cpu } from "../cpu.ts";
import { alu, OP_CMP } from "./alu.ts";
import type { Handler, Insn } from "../insn.ts";
import { DF, ES } from "../state.ts";
import { checkIo } from "./io.ts";
import { vmxIo } from "../vmx/intercepts.ts";
import { segAddress } from "../segcheck.ts";

function step(cpu: Cpu, i: Insn): number {
  const bytes = 1 << i.size;
  return cpu.eflags & DF ? -bytes : bytes;
}

/** Reads index register r (ESI/EDI) by the address size. */
function idx(cpu: Cpu, i: Insn, r: number): number {
  return i.adsize32 ? cpu.regs[r] : cpu.regs[r] & 0xffff;
}

/** Linear address of the source element DS:[eSI] (or its override), segment checks included. */
function src(cpu: Cpu, i: Insn): number {
  return segAddress(cpu, i.seg, idx(cpu, i, 6), 1 << i.size, false);
}

/** Linear address of the destination element ES:[eDI], checked for a write or a read. */
function dst(cpu: Cpu, i: Insn, write = true): number {
  return segAddress(cpu, ES, idx(cpu, i, 7), 1 << i.size, write);
}

function advance(cpu: Cpu, i: Insn, r: number, d: number): void {
  if (i.adsize32) cpu.regs[r] = (cpu.regs[r] + d) | 0;
  else cpu.regs[r] = (cpu.regs[r] & ~0xffff) | ((cpu.regs[r] + d) & 0xffff);
}

function count(cpu: Cpu, i: Insn): number {
  return i.adsize32 ? cpu.regs[1] >>> 0 : cpu.regs[1] & 0xffff;
}

function decCount(cpu: Cpu, i: Insn): void {
  if (i.adsize32) cpu.regs[1] = (cpu.regs[1] - 1) | 0;
  else cpu.regs[1] = (cpu.regs[1] & ~0xffff) | ((cpu.regs[1] - 1) & 0xffff);
}

export const movsHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size;
  const sBase = cpu.segBase[i.seg], dBase = cpu.segBase[ES];
  if (!i.rep) {
    cpu.wr(size, dst(cpu, i), cpu.rd(size, src(cpu, i)));
    advance(cpu, i, 6, d);
    advance(cpu, i, 7, d);
    return;
  }
  const bulk = d > 0 && i.adsize32 && (cpu.segFlat[i.seg] & cpu.segFlat[ES]) !== 0;
  while (count(cpu, i) !== 0) {
    if (bulk && bulkMovs(cpu, size, sBase, dBase)) continue;
    cpu.wr(size, dst(cpu, i), cpu.rd(size, src(cpu, i)));
    advance(cpu, i, 6, d);
    advance(cpu, i, 7, d);
    decCount(cpu, i);
  }
};

/** Elements that fit in the current page of both source and destination (forward, 32-bit). */
function pageRun(cpu: Cpu, size: number, a: number, b: number): number {
  const left = Math.min(0x1000 - (a & 0xfff), 0x1000 - (b & 0xfff)) >> size;
  return Math.min(left, cpu.regs[1] >>> 0);
}

/** A debugger watches the page: its accesses must go one by one through the reporting slow path. */
const watched = (cpu: Cpu, lin: number): boolean => cpu.watchPages?.has(lin >>> 12) === true;

/**
 * REP MOVS over plain RAM a page run at a time (copyWithin), when source and destination do
 * not overlap within the run; false when the element loop must take it (MMIO, code, overlap).
 */
function bulkMovs(cpu: Cpu, size: number, sBase: number, dBase: number): boolean {
  const src = (sBase + cpu.regs[6]) | 0, dst = (dBase + cpu.regs[7]) | 0;
  if (watched(cpu, src) || watched(cpu, dst)) return false;
  const n = pageRun(cpu, size, src, dst);
  if (n < 4) return false;
  const s = cpu.hostRead(src);
  if (s < 0) return false;
  const t = cpu.hostWrite(dst);
  if (t < 0) return false;
  const bytes = n << size;
  if (t > s && t < s + bytes) return false;
  cpu.mem.copyWithin(t, s, s + bytes);
  cpu.regs[6] = (cpu.regs[6] + bytes) | 0;
  cpu.regs[7] = (cpu.regs[7] + bytes) | 0;
  cpu.regs[1] = (cpu.regs[1] - n) | 0;
  return true;
}

/** REP STOSB/STOSD over plain RAM a page run at a time. */
function bulkStos(cpu: Cpu, size: number, dBase: number, v: number): boolean {
  const dst = (dBase + cpu.regs[7]) | 0;
  if (watched(cpu, dst)) return false;
  const n = pageRun(cpu, size, dst, dst);
  if (n < 4) return false;
  const t = cpu.hostWrite(dst);
  if (t < 0) return false;
  const bytes = n << size;
  if (size === 0) cpu.mem.fill(v & 0xff, t, t + bytes);
  else if (size === 1) { for (let k = 0; k < bytes; k += 2) cpu.view.setUint16(t + k, v, true); }
  else for (let k = 0; k < bytes; k += 4) cpu.view.setInt32(t + k, v, true);
  cpu.regs[7] = (cpu.regs[7] + bytes) | 0;
  cpu.regs[1] = (cpu.regs[1] - n) | 0;
  return true;
}

export const stosHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size;
  const v = cpu.getReg(size, 0), dBase = cpu.segBase[ES];
  if (!i.rep) {
    cpu.wr(size, dst(cpu, i), v);
    advance(cpu, i, 7, d);
    return;
  }
  const bulk = d > 0 && i.adsize32 && cpu.segFlat[ES] !== 0;
  while (count(cpu, i) !== 0) {
    if (bulk && bulkStos(cpu, size, dBase, v)) continue;
    cpu.wr(size, dst(cpu, i), v);
    advance(cpu, i, 7, d);
    decCount(cpu, i);
  }
};

export const lodsHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size;
  if (!i.rep) {
    cpu.setReg(size, 0, cpu.rd(size, src(cpu, i)));
    advance(cpu, i, 6, d);
    return;
  }
  while (count(cpu, i) !== 0) {
    cpu.setReg(size, 0, cpu.rd(size, src(cpu, i)));
    advance(cpu, i, 6, d);
    decCount(cpu, i);
  }
};

export const cmpsHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size;
  do {
    if (i.rep && count(cpu, i) === 0) return;
    const a = cpu.rd(size, src(cpu, i));
    const b = cpu.rd(size, dst(cpu, i, false));
    alu(cpu, OP_CMP, size, a, b);
    advance(cpu, i, 6, d);
    advance(cpu, i, 7, d);
    if (!i.rep) return;
    decCount(cpu, i);
  } while ((cpu.fRes === 0) === (i.rep === 1));
};

export const scasHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size;
  const a = cpu.getReg(size, 0);
  do {
    if (i.rep && count(cpu, i) === 0) return;
    alu(cpu, OP_CMP, size, a, cpu.rd(size, dst(cpu, i, false)));
    advance(cpu, i, 7, d);
    if (!i.rep) return;
    decCount(cpu, i);
  } while ((cpu.fRes === 0) === (i.rep === 1));
};

export const insHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size;
  const port = cpu.regs[2] & 0xffff;
  checkIo(cpu, port, 1 << size);
  if (cpu.vmxNonRoot) vmxIo(cpu, port, 1 << size);
  do {
    if (i.rep && count(cpu, i) === 0) return;
    const lin = dst(cpu, i);
    cpu.probeWrite(lin, 1 << size);
    cpu.wr(size, lin, cpu.bus.in(port, (1 << size) as 1 | 2 | 4));
    advance(cpu, i, 7, d);
    if (!i.rep) return;
    decCount(cpu, i);
  } while (true);
};

export const outsHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size;
  const port = cpu.regs[2] & 0xffff;
  checkIo(cpu, port, 1 << size);
  if (cpu.vmxNonRoot) vmxIo(cpu, port, 1 << size);
  do {
    if (i.rep && count(cpu, i) === 0) return;
    cpu.bus.out(port, (1 << size) as 1 | 2 | 4, cpu.rd(size, src(cpu, i)) >>> 0);
    advance(cpu, i, 6, d);
    if (!i.rep) return;
    decCount(cpu, i);
  } while (true);
};
