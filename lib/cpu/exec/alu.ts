/** ALU instructions: the eight two-operand operations, TEST, INC/DEC, NOT/NEG, CMPXCHG, XADD. */
import type { Cpu } from "../cpu.ts";
import {
  arithFlags,
  FOP_ADC,
  FOP_ADD,
  FOP_DEC,
  FOP_INC,
  FOP_RES,
  FOP_SBB,
  FOP_SUB,
  getCF,
  setArith,
  SIZE_MASK,
} from "../flags.ts";
import { ZF } from "../state.ts";
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

type Alu32 = (s: Cpu, dst: number, src: number) => number;

function set32(s: Cpu, fop: number, dst: number, src: number, res: number): number {
  s.fOp = fop;
  s.fSize = 2;
  s.fDst = dst;
  s.fSrc = src;
  s.fRes = res;
  return res;
}

/**
 * 32-bit forms of the eight operations, one small function each, so a handler bound to one
 * operation calls one monomorphic function on its hot (register, 32-bit) path.
 */
const ALU32: readonly Alu32[] = [
  (s, d, x) => set32(s, FOP_ADD, d, x, (d + x) | 0),
  (s, d, x) => {
    s.fAux = 0;
    return set32(s, FOP_RES, d, x, d | x);
  },
  (s, d, x) => {
    const cin = getCF(s);
    s.fAux = cin;
    return set32(s, FOP_ADC, d, x, (d + x + cin) | 0);
  },
  (s, d, x) => {
    const cin = getCF(s);
    s.fAux = cin;
    return set32(s, FOP_SBB, d, x, (d - x - cin) | 0);
  },
  (s, d, x) => {
    s.fAux = 0;
    return set32(s, FOP_RES, d, x, d & x);
  },
  (s, d, x) => set32(s, FOP_SUB, d, x, (d - x) | 0),
  (s, d, x) => {
    s.fAux = 0;
    return set32(s, FOP_RES, d, x, d ^ x);
  },
  (s, d, x) => set32(s, FOP_SUB, d, x, (d - x) | 0),
];

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
  const f32 = ALU32[op];
  switch (form) {
    case "EG":
      return (cpu, i) => {
        const size = i.size;
        if (i.mod === 3 && size === 2) {
          const r = cpu.regs;
          const v = f32(cpu, r[i.rm], r[i.reg]);
          if (write) r[i.rm] = v;
        } else if (i.mod === 3) {
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
        if (i.mod === 3 && size === 2) {
          const r = cpu.regs;
          const v = f32(cpu, r[i.rm], i.imm);
          if (write) r[i.rm] = v;
        } else if (i.mod === 3) {
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
        if (size === 2) {
          const regs = cpu.regs;
          const v = f32(cpu, regs[i.reg], i.mod === 3 ? regs[i.rm] : cpu.rd32(cpu.ea(i)));
          if (write) regs[i.reg] = v;
          return;
        }
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

/** CMPXCHG8B m64: compares EDX:EAX with the quadword; ZF says which way it went. */
export const cmpxchg8bHandler: Handler = (cpu, i) => {
  const lin = cpu.ea(i);
  cpu.probeWrite(lin, 8);
  const lo = cpu.rd32(lin), hi = cpu.rd32((lin + 4) | 0);
  const r = cpu.regs;
  const flags = arithFlags(cpu) & ~ZF;
  if (lo === r[0] && hi === r[2]) {
    cpu.wr32(lin, r[3]);
    cpu.wr32((lin + 4) | 0, r[1]);
    setArith(cpu, flags | ZF);
  } else {
    // The destination is written back unchanged, as the locked cycle does.
    cpu.wr32(lin, lo);
    cpu.wr32((lin + 4) | 0, hi);
    r[0] = lo;
    r[2] = hi;
    setArith(cpu, flags);
  }
};
