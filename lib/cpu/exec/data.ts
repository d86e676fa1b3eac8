/**
 * Data movement: MOV and its extensions, LEA, XCHG, PUSH/POP (registers, segments, all), segment
 * register moves and far-pointer loads, CBW/CWD, XLAT, BSWAP, SETcc/CMOVcc, SALC, BOUND.
 */
import { BR, CpuFault, UD } from "../faults.ts";
import { condition, getCF } from "../flags.ts";
import type { Handler } from "../insn.ts";
import { loadSegment } from "../segmentation.ts";
import { CS, SS } from "../state.ts";
import { checkSegment, segAddress } from "../segcheck.ts";
import type { Cpu } from "../cpu.ts";

export function movHandler(form: string): Handler {
  switch (form) {
    case "EG":
      return (cpu, i) => {
        if (i.size === 2) {
          if (i.mod === 3) cpu.regs[i.rm] = cpu.regs[i.reg];
          else cpu.wr32(cpu.ea(i), cpu.regs[i.reg]);
        } else cpu.writeE(i, i.size, cpu.getReg(i.size, i.reg));
      };
    case "GE":
      return (cpu, i) => {
        if (i.size === 2) cpu.regs[i.reg] = i.mod === 3 ? cpu.regs[i.rm] : cpu.rd32(cpu.ea(i));
        else cpu.setReg(i.size, i.reg, cpu.readE(i, i.size));
      };
    default: // EI
      return (cpu, i) => cpu.writeE(i, i.size, i.imm);
  }
}

export const movzxHandler: Handler = (cpu, i) => {
  const srcSize = i.entry!.operands[1] === "Eb" ? 0 : 1;
  cpu.setReg(i.size, i.reg, cpu.readE(i, srcSize));
};

export const movsxHandler: Handler = (cpu, i) => {
  const v = i.entry!.operands[1] === "Eb" ? (cpu.readE(i, 0) << 24) >> 24 : (cpu.readE(i, 1) << 16) >> 16;
  cpu.setReg(i.size, i.reg, v);
};

export const leaHandler: Handler = (cpu, i) => cpu.setReg(i.size, i.reg, cpu.offset(i));

export const xchgHandler: Handler = (cpu, i) => {
  const size = i.size;
  const a = cpu.getReg(size, i.reg);
  if (i.mod === 3) {
    cpu.setReg(size, i.reg, cpu.getReg(size, i.rm));
    cpu.setReg(size, i.rm, a);
  } else {
    const lin = cpu.ea(i);
    cpu.probeWrite(lin, 1 << size);
    const b = cpu.rd(size, lin);
    cpu.wr(size, lin, a);
    cpu.setReg(size, i.reg, b);
  }
};

export function pushHandler(form: string): Handler {
  if (form === "I") return (cpu, i) => cpu.push(i.size, i.imm);
  return (cpu, i) => {
    // PUSH ESP pushes the value before the push.
    cpu.push(i.size, cpu.readE(i, i.size));
  };
}

export const popHandler: Handler = (cpu, i) => {
  const size = i.size;
  if (i.mod === 3) {
    const v = cpu.pop(size);
    cpu.setReg(size, i.rm, v);
    return;
  }
  // POP to memory: ESP is incremented before the address is computed (SDM POP).
  const saved = cpu.regs[4];
  const v = cpu.pop(size);
  try {
    cpu.writeE(i, size, v);
  } catch (e) {
    cpu.regs[4] = saved;
    throw e;
  }
};

export const pushsegHandler: Handler = (cpu, i) => cpu.push(i.opsize32 ? 2 : 1, cpu.segSel[i.arg]);

export const popsegHandler: Handler = (cpu, i) => {
  const size = i.opsize32 ? 2 : 1;
  const v = cpu.peek(size, 0) & 0xffff;
  loadSegment(cpu, i.arg, v);
  cpu.addSp(size === 2 ? 4 : 2);
  if (i.arg === SS) cpu.intShadow = 1;
  cpu.breakBlock = true;
};

export const movfromsegHandler: Handler = (cpu, i) => {
  if (i.reg > 5) throw new CpuFault(UD);
  const v = cpu.segSel[i.reg];
  if (i.mod === 3) cpu.setReg(i.opsize32 ? 2 : 1, i.rm, v);
  else cpu.wr(1, cpu.ea(i), v);
};

export const movtosegHandler: Handler = (cpu, i) => {
  if (i.reg > 5 || i.reg === CS) throw new CpuFault(UD);
  loadSegment(cpu, i.reg, cpu.readE(i, 1));
  if (i.reg === SS) cpu.intShadow = 1;
  cpu.breakBlock = true;
};

/** LES/LDS/LSS/LFS/LGS: offset then selector from memory. */
export const lfpHandler: Handler = (cpu, i) => {
  const lin = cpu.ea(i);
  const size = i.opsize32 ? 2 : 1;
  const off = cpu.rd(size, lin);
  const sel = cpu.rd16((lin + (size === 2 ? 4 : 2)) | 0);
  loadSegment(cpu, i.arg, sel);
  cpu.setReg(size, i.reg, off);
  if (i.arg === SS) cpu.intShadow = 1;
};

/** The SS offset `delta` bytes from ESP (SP with a 16-bit stack). */
function stackOffset(cpu: Cpu, delta: number): number {
  return cpu.stack32 ? (cpu.regs[4] + delta) | 0 : (cpu.regs[4] + delta) & 0xffff;
}

/**
 * PUSHA/PUSHAD: #SS(0) "if the starting or ending stack address is outside the stack segment
 * limit", so the whole frame is checked before anything is written, and ESP moves only once all
 * eight registers are stored (a page fault part-way leaves ESP as it was).
 */
export const pushaHandler: Handler = (cpu, i) => {
  const size = i.opsize32 ? 2 : 1;
  const bytes = size === 2 ? 4 : 2;
  cpu.checkPushes(8 * bytes);
  for (let r = 0; r < 8; r++) {
    cpu.wr(size, (cpu.segBase[SS] + stackOffset(cpu, -(r + 1) * bytes)) | 0, cpu.regs[r]);
  }
  cpu.addSp(-8 * bytes);
};

/** POPA/POPAD: the whole frame is checked, then read, before any register changes. */
export const popaHandler: Handler = (cpu, i) => {
  const size = i.opsize32 ? 2 : 1;
  const bytes = size === 2 ? 4 : 2;
  if (cpu.segFlat[SS] === 0) checkSegment(cpu, SS, stackOffset(cpu, 0), 8 * bytes, false);
  const v = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let r = 7; r >= 0; r--) v[r] = cpu.peek(size, (7 - r) * bytes);
  for (let r = 0; r < 8; r++) if (r !== 4) cpu.setReg(size, r, v[r]);
  cpu.addSp(8 * bytes);
};

export const cbwHandler: Handler = (cpu, i) => {
  if (i.opsize32) cpu.regs[0] = (cpu.regs[0] << 16) >> 16;
  else cpu.setReg(1, 0, (cpu.regs[0] << 24) >> 24);
};

export const cwdHandler: Handler = (cpu, i) => {
  if (i.opsize32) cpu.regs[2] = cpu.regs[0] >> 31;
  else cpu.setReg(1, 2, (cpu.regs[0] << 16) >> 31);
};

export const xlatHandler: Handler = (cpu, i) => {
  const off = i.adsize32
    ? (cpu.regs[3] + (cpu.regs[0] & 0xff)) | 0
    : (cpu.regs[3] + (cpu.regs[0] & 0xff)) & 0xffff;
  cpu.setReg(0, 0, cpu.rd8(segAddress(cpu, i.seg, off, 1, false)));
};

export const bswapHandler: Handler = (cpu, i) => {
  const v = cpu.regs[i.rm];
  cpu.regs[i.rm] = ((v >>> 24) | ((v >> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)) | 0;
};

export const setccHandler: Handler = (cpu, i) => cpu.writeE(i, 0, condition(cpu, i.arg) ? 1 : 0);

export const cmovccHandler: Handler = (cpu, i) => {
  const v = cpu.readE(i, i.size);
  // The source is read (and may fault) whether or not the move happens.
  if (condition(cpu, i.arg)) cpu.setReg(i.size, i.reg, v);
};

export const salcHandler: Handler = (cpu) => cpu.setReg(0, 0, getCF(cpu) ? 0xff : 0);

export const boundHandler: Handler = (cpu, i) => {
  const lin = cpu.ea(i);
  const size = i.opsize32 ? 2 : 1;
  let idx = cpu.getReg(size, i.reg);
  let lo = cpu.rd(size, lin), hi = cpu.rd(size, (lin + (1 << size)) | 0);
  if (size === 1) {
    idx = (idx << 16) >> 16;
    lo = (lo << 16) >> 16;
    hi = (hi << 16) >> 16;
  }
  if (idx < lo || idx > hi) throw new CpuFault(BR);
};
