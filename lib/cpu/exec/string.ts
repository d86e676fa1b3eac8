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

function step(cpu: Cpu, i: Insn): number {
  const bytes = 1 << i.size;
  return cpu.eflags & DF ? -bytes : bytes;
}

/** Reads index register r (ESI/EDI) by the address size. */
function idx(cpu: Cpu, i: Insn, r: number): number {
  return i.adsize32 ? cpu.regs[r] : cpu.regs[r] & 0xffff;
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
    cpu.wr(size, (dBase + idx(cpu, i, 7)) | 0, cpu.rd(size, (sBase + idx(cpu, i, 6)) | 0));
    advance(cpu, i, 6, d);
    advance(cpu, i, 7, d);
    return;
  }
  while (count(cpu, i) !== 0) {
    cpu.wr(size, (dBase + idx(cpu, i, 7)) | 0, cpu.rd(size, (sBase + idx(cpu, i, 6)) | 0));
    advance(cpu, i, 6, d);
    advance(cpu, i, 7, d);
    decCount(cpu, i);
  }
};

export const stosHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size;
  const v = cpu.getReg(size, 0), dBase = cpu.segBase[ES];
  if (!i.rep) {
    cpu.wr(size, (dBase + idx(cpu, i, 7)) | 0, v);
    advance(cpu, i, 7, d);
    return;
  }
  while (count(cpu, i) !== 0) {
    cpu.wr(size, (dBase + idx(cpu, i, 7)) | 0, v);
    advance(cpu, i, 7, d);
    decCount(cpu, i);
  }
};

export const lodsHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size, sBase = cpu.segBase[i.seg];
  if (!i.rep) {
    cpu.setReg(size, 0, cpu.rd(size, (sBase + idx(cpu, i, 6)) | 0));
    advance(cpu, i, 6, d);
    return;
  }
  while (count(cpu, i) !== 0) {
    cpu.setReg(size, 0, cpu.rd(size, (sBase + idx(cpu, i, 6)) | 0));
    advance(cpu, i, 6, d);
    decCount(cpu, i);
  }
};

export const cmpsHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size;
  const sBase = cpu.segBase[i.seg], dBase = cpu.segBase[ES];
  do {
    if (i.rep && count(cpu, i) === 0) return;
    const a = cpu.rd(size, (sBase + idx(cpu, i, 6)) | 0);
    const b = cpu.rd(size, (dBase + idx(cpu, i, 7)) | 0);
    alu(cpu, OP_CMP, size, a, b);
    advance(cpu, i, 6, d);
    advance(cpu, i, 7, d);
    if (!i.rep) return;
    decCount(cpu, i);
  } while ((cpu.fRes === 0) === (i.rep === 1));
};

export const scasHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size, dBase = cpu.segBase[ES];
  const a = cpu.getReg(size, 0);
  do {
    if (i.rep && count(cpu, i) === 0) return;
    alu(cpu, OP_CMP, size, a, cpu.rd(size, (dBase + idx(cpu, i, 7)) | 0));
    advance(cpu, i, 7, d);
    if (!i.rep) return;
    decCount(cpu, i);
  } while ((cpu.fRes === 0) === (i.rep === 1));
};

export const insHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size, dBase = cpu.segBase[ES];
  const port = cpu.regs[2] & 0xffff;
  checkIo(cpu, port, 1 << size);
  do {
    if (i.rep && count(cpu, i) === 0) return;
    const lin = (dBase + idx(cpu, i, 7)) | 0;
    cpu.probeWrite(lin, 1 << size);
    cpu.wr(size, lin, cpu.bus.in(port, (1 << size) as 1 | 2 | 4));
    advance(cpu, i, 7, d);
    if (!i.rep) return;
    decCount(cpu, i);
  } while (true);
};

export const outsHandler: Handler = (cpu, i) => {
  const d = step(cpu, i), size = i.size, sBase = cpu.segBase[i.seg];
  const port = cpu.regs[2] & 0xffff;
  checkIo(cpu, port, 1 << size);
  do {
    if (i.rep && count(cpu, i) === 0) return;
    cpu.bus.out(port, (1 << size) as 1 | 2 | 4, cpu.rd(size, (sBase + idx(cpu, i, 6)) | 0) >>> 0);
    advance(cpu, i, 6, d);
    if (!i.rep) return;
    decCount(cpu, i);
  } while (true);
};
