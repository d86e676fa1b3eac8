/** ALU instructions: the eight two-operand operations, TEST, INC/DEC, NOT/NEG, CMPXCHG, XADD. */
import type { Cpu } from "../cpu.ts";
import { FOP_ADC, FOP_ADD, FOP_DEC, FOP_INC, FOP_RES, FOP_SBB, FOP_SUB, getCF, SIZE_MASK } from "../flags.ts";
import type { Handler, Insn } from "../insn.ts";

export const OP_ADD = 0, OP_OR = 1, OP_ADC = 2, OP_SBB = 3, OP_AND = 4, OP_SUB = 5, OP_XOR = 6, OP_CMP = 7;

/** Computes `dst op src` at a size, records the flags, returns the result (masked). */
export function alu(s: Cpu, op: number, size: number, dst: number, src: number): number {
  const mask = SIZE_MASK[size];
  dst &= mask;
  src &= mask;
  let res: number;
  let fop: number;
  switch (op) {
    case OP_ADD:
      res = (dst + src) & mask;
      fop = FOP_ADD;
      break;
    case OP_OR:
      res = dst | src;
      fop = FOP_RES;
      s.fAux = 0;
      break;
    case OP_ADC: {
      const cin = getCF(s);
      res = (dst + src + cin) & mask;
      fop = FOP_ADC;
      s.fAux = cin;
      break;
    }
    case OP_SBB: {
      const cin = getCF(s);
      res = (dst - src - cin) & mask;
      fop = FOP_SBB;
      s.fAux = cin;
      break;
    }
    case OP_AND:
      res = dst & src;
      fop = FOP_RES;
      s.fAux = 0;
      break;
    case OP_XOR:
      res = dst ^ src;
      fop = FOP_RES;
      s.fAux = 0;
      break;
    default:
      res = (dst - src) & mask;
      fop = FOP_SUB;
  }
  s.fOp = fop;
  s.fSize = size;
  s.fDst = dst;
  s.fSrc = src;
  s.fRes = res;
  return res;
}

/** Applies `f(old)` to the E operand, probing a memory destination for write first. */
function rmwE(cpu: Cpu, i: Insn, size: number, f: (cpu: Cpu, v: number) => number): void {
  if (i.mod === 3) {
    cpu.setReg(size, i.rm, f(cpu, cpu.getReg(size, i.rm)));
  } else {
    const lin = cpu.ea(i);
    cpu.probeWrite(lin, 1 << size);
    cpu.wr(size, lin, f(cpu, cpu.rd(size, lin)));
  }
}

export function aluHandler(form: string, op: number): Handler {
  const write = op !== OP_CMP;
  switch (form) {
    case "EG":
      return (cpu, i) => {
        const size = i.size;
        if (i.mod === 3) {
          const r = alu(cpu, op, size, cpu.getReg(size, i.rm), cpu.getReg(size, i.reg));
          if (write) cpu.setReg(size, i.rm, r);
        } else {
          const lin = cpu.ea(i);
          if (write) cpu.probeWrite(lin, 1 << size);
          const r = alu(cpu, op, size, cpu.rd(size, lin), cpu.getReg(size, i.reg));
          if (write) cpu.wr(size, lin, r);
        }
      };
    case "EI":
      return (cpu, i) => {
        const size = i.size;
        if (i.mod === 3) {
          const r = alu(cpu, op, size, cpu.getReg(size, i.rm), i.imm);
          if (write) cpu.setReg(size, i.rm, r);
        } else {
          const lin = cpu.ea(i);
          if (write) cpu.probeWrite(lin, 1 << size);
          const r = alu(cpu, op, size, cpu.rd(size, lin), i.imm);
          if (write) cpu.wr(size, lin, r);
        }
      };
    case "GE":
      return (cpu, i) => {
        const size = i.size;
        const r = alu(cpu, op, size, cpu.getReg(size, i.reg), cpu.readE(i, size));
        if (write) cpu.setReg(size, i.reg, r);
      };
    default: // GI: AL/eAX, imm
      return (cpu, i) => {
        const size = i.size;
        const r = alu(cpu, op, size, cpu.getReg(size, 0), i.imm);
        if (write) cpu.setReg(size, 0, r);
      };
  }
}

export function testHandler(form: string): Handler {
  if (form === "EG") {
    return (cpu, i) => void alu(cpu, OP_AND, i.size, cpu.readE(i, i.size), cpu.getReg(i.size, i.reg));
  }
  if (form === "EI") return (cpu, i) => void alu(cpu, OP_AND, i.size, cpu.readE(i, i.size), i.imm);
  return (cpu, i) => void alu(cpu, OP_AND, i.size, cpu.getReg(i.size, 0), i.imm);
}

function inc(cpu: Cpu, v: number): number {
  const cf = getCF(cpu);
  const size = cpu.fSizeNext;
  const res = (v + 1) & SIZE_MASK[size];
  cpu.fOp = FOP_INC;
  cpu.fAux = cf;
  cpu.fSize = size;
  cpu.fDst = v & SIZE_MASK[size];
  cpu.fSrc = 1;
  cpu.fRes = res;
  return res;
}

function dec(cpu: Cpu, v: number): number {
  const cf = getCF(cpu);
  const size = cpu.fSizeNext;
  const res = (v - 1) & SIZE_MASK[size];
  cpu.fOp = FOP_DEC;
  cpu.fAux = cf;
  cpu.fSize = size;
  cpu.fDst = v & SIZE_MASK[size];
  cpu.fSrc = 1;
  cpu.fRes = res;
  return res;
}

export function incdecHandler(isDec: number): Handler {
  const f = isDec ? dec : inc;
  return (cpu, i) => {
    cpu.fSizeNext = i.size;
    rmwE(cpu, i, i.size, f);
  };
}

export const notHandler: Handler = (cpu, i) => rmwE(cpu, i, i.size, (_c, v) => ~v);

export const negHandler: Handler = (cpu, i) => {
  cpu.fSizeNext = i.size;
  rmwE(cpu, i, i.size, (c, v) => alu(c, OP_SUB, c.fSizeNext, 0, v));
};

export const cmpxchgHandler: Handler = (cpu, i) => {
  const size = i.size;
  if (i.mod === 3) {
    const dst = cpu.getReg(size, i.rm);
    alu(cpu, OP_CMP, size, cpu.getReg(size, 0), dst);
    if (cpu.fRes === 0) cpu.setReg(size, i.rm, cpu.getReg(size, i.reg));
    else cpu.setReg(size, 0, dst);
  } else {
    const lin = cpu.ea(i);
    cpu.probeWrite(lin, 1 << size);
    const dst = cpu.rd(size, lin);
    alu(cpu, OP_CMP, size, cpu.getReg(size, 0), dst);
    // The destination is always written (the old value when the comparison fails).
    if (cpu.fRes === 0) cpu.wr(size, lin, cpu.getReg(size, i.reg));
    else {
      cpu.wr(size, lin, dst);
      cpu.setReg(size, 0, dst);
    }
  }
};

export const xaddHandler: Handler = (cpu, i) => {
  const size = i.size;
  const src = cpu.getReg(size, i.reg);
  if (i.mod === 3) {
    const dst = cpu.getReg(size, i.rm);
    const r = alu(cpu, OP_ADD, size, dst, src);
    cpu.setReg(size, i.reg, dst);
    cpu.setReg(size, i.rm, r);
  } else {
    const lin = cpu.ea(i);
    cpu.probeWrite(lin, 1 << size);
    const dst = cpu.rd(size, lin);
    const r = alu(cpu, OP_ADD, size, dst, src);
    cpu.wr(size, lin, r);
    cpu.setReg(size, i.reg, dst);
  }
};

export { rmwE };
