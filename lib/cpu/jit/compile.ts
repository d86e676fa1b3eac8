/**
 * The block compiler: turns a hot decoded block into one JavaScript function (`new Function`) that
 * V8 then compiles to machine code. Common instructions (MOV, the ALU group, TEST, INC/DEC, NOT/NEG,
 * LEA, MOVZX/MOVSX, XCHG, PUSH/POP, shifts, SETcc/CMOVcc, Jcc/JMP/CALL/RET) are inlined with their
 * operand size, registers and addressing resolved at compile time; every other instruction calls its
 * interpreter handler from a call site of its own.
 *
 * The function keeps exactly the interpreter's architectural behaviour (cpu.ts `run`):
 * - lazy flags are stored as the handlers store them; a Jcc after a flag producer of the same block
 *   tests the producer's operands directly instead of deriving flags;
 * - before any instruction that can fault, `insnEip` is set and the retired count is kept, so a
 *   fault leaves EIP at the faulting instruction and the budget counts what retired;
 * - after any instruction that touched memory or ran a handler, `breakBlock` (self-modifying code,
 *   mode changes) ends the block with EIP at the next instruction, as the interpreter does.
 * EIP is relative to the block's entry EIP: a block is cached by physical address and may run at
 * several linear addresses.
 */
import type { Cpu } from "../cpu.ts";
import { OP_ADC, OP_ADD, OP_AND, OP_CMP, OP_OR, OP_SBB, OP_SUB, OP_XOR } from "../exec/alu.ts";
import { shift } from "../exec/shift.ts";
import {
  arithFlags,
  condition,
  FOP_ADC,
  FOP_ADD,
  FOP_DEC,
  FOP_INC,
  FOP_NONE,
  FOP_RES,
  FOP_SBB,
  FOP_SUB,
  getCF,
  PARITY,
} from "../flags.ts";
import { operandForm } from "../decoder.ts";
import type { Insn } from "../insn.ts";
import { checkSegment } from "../segcheck.ts";

/**
 * Runs the block (again while it loops on itself and `left` instructions of budget remain); returns
 * the instructions retired. On a throw, `cpu.jitRetired` holds that count.
 */
export type CompiledBlock = (cpu: Cpu, left: number) => number;

/** What the compiled code may call: passed to the generated factory as `H`. */
const HELPERS = { arithFlags, checkSegment, condition, getCF, shift, PARITY };

const MASK = ["0xff", "0xffff", "-1"];
const SIGN = ["0x80", "0x8000", "-0x80000000"];

/** The flag producer last emitted in this block, while nothing else touched the flags. */
interface Producer {
  fop: number;
  size: number;
  /** Variables holding the operands and the result. */
  d: string;
  x: string;
  v: string;
  /** Boolean expressions of CF and OF where the kind alone does not give them (carry in, shifts). */
  cf?: string;
  of?: string;
  /** FOP_NONE: the variable holding all six flags as EFLAGS bits. */
  all?: string;
}

class Emitter {
  readonly lines: string[] = [];
  /** Factory-scope constants (the Insn records and handlers called). */
  readonly consts: string[] = [];
  flags: Producer | undefined = undefined;

  constructor(readonly insns: Insn[], readonly code32: boolean) {}

  /** EIP of the instruction at byte offset `off` from the block's start. */
  eip(off: number): string {
    if (off === 0) return "e0";
    return this.code32 ? `((e0 + ${off}) | 0)` : `((e0 + ${off}) & 0xffff)`;
  }

  reg(size: number, r: number): string {
    if (size === 2) return `r[${r}]`;
    if (size === 1) return `(r[${r}] & 0xffff)`;
    return r < 4 ? `(r[${r}] & 0xff)` : `((r[${r - 4}] >> 8) & 0xff)`;
  }

  setReg(size: number, r: number, v: string): string {
    if (size === 2) return `r[${r}] = ${v};`;
    if (size === 1) return `r[${r}] = (r[${r}] & ~0xffff) | ((${v}) & 0xffff);`;
    if (r < 4) return `r[${r}] = (r[${r}] & ~0xff) | ((${v}) & 0xff);`;
    return `r[${r - 4}] = (r[${r - 4}] & ~0xff00) | (((${v}) & 0xff) << 8);`;
  }

  /** The offset expression of the memory operand (cpu.offset). */
  offset(i: Insn): string {
    const parts: string[] = [];
    if (i.base >= 0) parts.push(`r[${i.base}]`);
    if (i.index >= 0) parts.push(i.scale ? `(r[${i.index}] << ${i.scale})` : `r[${i.index}]`);
    if (i.disp !== 0 || !parts.length) parts.push(String(i.disp));
    const sum = parts.join(" + ");
    return i.adsize32
      ? (parts.length === 1 && i.base >= 0 && i.index < 0 ? sum : `((${sum}) | 0)`)
      : `((${sum}) & 0xffff)`;
  }

  /**
   * Emits `a<k>`, the linear address of the memory operand for an access of `size` (cpu.ea): a
   * segment that is not flat takes segcheck.ts's limit and rights checks first.
   */
  ea(i: Insn, k: number, size: number, write: boolean): string {
    this.line(`const o${k} = ${this.offset(i)};`);
    this.line(`if (sf[${i.seg}] === 0) H.checkSegment(cpu, ${i.seg}, o${k}, ${1 << size}, ${write});`);
    this.line(`const a${k} = (sb[${i.seg}] + o${k}) | 0;`);
    return `a${k}`;
  }

  readE(i: Insn, size: number, k: number): string {
    if (i.mod === 3) return this.reg(size, i.rm);
    return this.rd(size, this.ea(i, k, size, false));
  }

  /**
   * A read of `size` at the linear address in variable `a`: the TLB hit of mmu.ts rd8/16/32 inline,
   * the accessor itself (page walk, MMIO, page-crossing, faults) otherwise.
   */
  rd(size: number, a: string): string {
    const hit = `(t = tr[${a} >>> 12]) !== 0`, off = `((t - 1) << 12) | (${a} & 0xfff)`;
    if (size === 0) return `(${hit} ? m8[${off}] : cpu.rd8(${a}))`;
    if (size === 1) return `(${hit} && (${a} & 0xfff) < 0xfff ? mv.getUint16(${off}, true) : cpu.rd16(${a}))`;
    return `(${hit} && (${a} & 0xfff) < 0xffd ? mv.getInt32(${off}, true) : cpu.rd32(${a}))`;
  }

  /** A write, as rd(): a positive write-TLB entry is plain RAM without code. */
  wr(size: number, a: string, v: string): string {
    const hit = `(t = tw[${a} >>> 12]) > 0`, off = `((t - 1) << 12) | (${a} & 0xfff)`;
    if (size === 0) return `if (${hit}) m8[${off}] = ${v}; else cpu.wr8(${a}, ${v});`;
    if (size === 1) {
      return `if (${hit} && (${a} & 0xfff) < 0xfff) mv.setUint16(${off}, ${v}, true); else cpu.wr16(${a}, ${v});`;
    }
    return `if (${hit} && (${a} & 0xfff) < 0xffd) mv.setInt32(${off}, ${v}, true); else cpu.wr32(${a}, ${v});`;
  }

  line(s: string): void {
    this.lines.push(s);
  }

  /** Records flags as alu() does; returns the result variable. */
  alu(op: number, size: number, d: string, x: string, k: number): string {
    const m = MASK[size];
    const dv = `d${k}`, xv = `x${k}`, vv = `v${k}`;
    this.line(`const ${dv} = ${d}, ${xv} = ${x};`);
    let res: string, fop: number;
    switch (op) {
      case OP_ADD:
        res = size === 2 ? `(${dv} + ${xv}) | 0` : `(${dv} + ${xv}) & ${m}`;
        fop = FOP_ADD;
        break;
      case OP_OR:
        res = `${dv} | ${xv}`;
        fop = FOP_RES;
        break;
      case OP_AND:
        res = `${dv} & ${xv}`;
        fop = FOP_RES;
        break;
      case OP_XOR:
        res = `${dv} ^ ${xv}`;
        fop = FOP_RES;
        break;
      case OP_ADC:
        this.line(`const c${k} = ${this.cfNow()};`);
        res = `(${dv} + ${xv} + c${k}) & ${m}`;
        fop = FOP_ADC;
        break;
      case OP_SBB:
        this.line(`const c${k} = ${this.cfNow()};`);
        res = `(${dv} - ${xv} - c${k}) & ${m}`;
        fop = FOP_SBB;
        break;
      default: // SUB, CMP
        res = size === 2 ? `(${dv} - ${xv}) | 0` : `(${dv} - ${xv}) & ${m}`;
        fop = FOP_SUB;
    }
    this.line(`const ${vv} = ${res};`);
    const aux = fop === FOP_RES ? "0" : fop === FOP_ADC || fop === FOP_SBB ? `c${k}` : undefined;
    if (aux !== undefined) this.line(`cpu.fAux = ${aux};`);
    this.line(`cpu.fOp = ${fop}; cpu.fSize = ${size}; cpu.fDst = ${dv}; cpu.fSrc = ${xv}; cpu.fRes = ${vv};`);
    this.flags = { fop, size, d: dv, x: xv, v: vv, cf: aux === `c${k}` ? `c${k} !== 0` : undefined };
    return vv;
  }

  /** INC/DEC as alu.ts inc()/dec() record them. */
  incdec(dec: boolean, size: number, d: string, k: number): string {
    const dv = `d${k}`, vv = `v${k}`;
    this.line(`const c${k} = ${this.cfNow()}, ${dv} = ${d};`);
    const res = size === 2
      ? `(${dv} ${dec ? "-" : "+"} 1) | 0`
      : `(${dv} ${dec ? "-" : "+"} 1) & ${MASK[size]}`;
    this.line(`const ${vv} = ${res};`);
    this.line(
      `cpu.fOp = ${dec ? FOP_DEC : FOP_INC}; cpu.fAux = c${k}; cpu.fSize = ${size}; cpu.fDst = ${dv}; ` +
        `cpu.fSrc = 1; cpu.fRes = ${vv};`,
    );
    this.flags = { fop: dec ? FOP_DEC : FOP_INC, size, d: dv, x: "1", v: vv, cf: `c${k} !== 0` };
    return vv;
  }

  /** SHL/SHR/SAR of a 32-bit register by a constant 1..31, recording flags as shift.ts setRes does. */
  shift32(op: string, rm: number, n: number, k: number): void {
    const d = `d${k}`, p = `p${k}`, v = `v${k}`, a = `f${k}`;
    this.line(`const ${d} = r[${rm}], ${p} = ${d} ${op} ${n - 1}, ${v} = (${d} ${op} ${n}) | 0;`);
    const cf = op === "<<" ? `((${p} >>> 31) & 1)` : `(${p} & 1)`;
    this.line(`const ${a} = ${cf} | (((((${p} ^ ${v}) >>> 31) & 1)) << 11);`);
    this.line(`cpu.fOp = ${FOP_RES}; cpu.fSize = 2; cpu.fRes = ${v}; cpu.fAux = ${a};`);
    this.line(`r[${rm}] = ${v};`);
    this.flags = { fop: FOP_RES, size: 2, d, x: "0", v, cf: `(${a} & 1) !== 0`, of: `(${a} & 0x800) !== 0` };
  }

  /** PF|AF|ZF|SF as EFLAGS bits (arithFlags without CF and OF), from the producer when it is known. */
  lowFlags(): string {
    const p = this.flags;
    if (p === undefined) return "(H.arithFlags(cpu) & 0xd4)";
    if (p.all !== undefined) return `(${p.all} & 0xd4)`;
    const { d, x, v, size } = p;
    const sf = size === 2 ? `(${v} < 0 ? 0x80 : 0)` : `((${v} & ${SIGN[size]}) !== 0 ? 0x80 : 0)`;
    // AF: the carry out of bit 3 for additions and subtractions; logic, shifts and IMUL leave it 0.
    const af = p.fop >= FOP_ADD ? `((${d} ^ ${x} ^ ${v}) & 0x10)` : "0";
    return `(H.PARITY[${v} & 0xff] | ${af} | (${v} === 0 ? 0x40 : 0) | ${sf})`;
  }

  /** ROL/ROR of a 32-bit register by a constant 1..31, as shift.ts records it (FOP_NONE). */
  rotate32(left: boolean, rm: number, n: number, k: number): void {
    const d = `d${k}`, v = `v${k}`, a = `f${k}`;
    const res = left ? `(${d} << ${n}) | (${d} >>> ${32 - n})` : `(${d} >>> ${n}) | (${d} << ${32 - n})`;
    this.line(`const ${d} = r[${rm}], ${v} = (${res}) | 0;`);
    const cf = left ? `(${v} & 1)` : `((${v} >>> 31) & 1)`;
    const of = left ? `(((${v} >>> 31) ^ ${v}) & 1)` : `(((${v} >>> 31) ^ (${v} >>> 30)) & 1)`;
    this.line(`const ${a} = ${this.lowFlags()} | ${cf} | (${of} << 11);`);
    this.line(`cpu.fAux = ${a}; cpu.fOp = ${FOP_NONE}; r[${rm}] = ${v};`);
    this.flags = { fop: FOP_NONE, size: 2, d, x: "0", v, all: a };
  }

  /** CF as 0 or 1 (getCF), straight from the producer when it is known. */
  cfNow(): string {
    const cf = this.flags ? condFrom(this.flags, 1) : undefined;
    return cf === undefined ? "H.getCF(cpu)" : `((${cf}) ? 1 : 0)`;
  }

  /** A condition code as a JS boolean expression, direct from the producer when it is known. */
  cond(cc: number): string {
    const p = this.flags;
    const e = p ? condFrom(p, cc >> 1) : undefined;
    if (e === undefined) return `H.condition(cpu, ${cc})`;
    return cc & 1 ? `!(${e})` : `(${e})`;
  }
}

/** Condition `c` (cc >> 1) from a known producer, or undefined when the generic test is simpler. */
function condFrom(p: Producer, c: number): string | undefined {
  if (p.all !== undefined) {
    const bit = (m: number) => `(${p.all} & ${m}) !== 0`;
    const of = bit(0x800), sf = bit(0x80), zf = bit(0x40);
    return [
      of,
      bit(1),
      zf,
      bit(0x41),
      sf,
      bit(4),
      `(${sf}) !== (${of})`,
      `${zf} || ((${sf}) !== (${of}))`,
    ][c];
  }
  const { d, x, v, size } = p;
  const sign = SIGN[size];
  const sf = size === 2 ? `${v} < 0` : `(${v} & ${sign}) !== 0`;
  const zf = `${v} === 0`;
  const pf = `H.PARITY[${v} & 0xff] !== 0`;
  let of = p.of, cf = p.cf;
  const neg = (e: string) => size === 2 ? `(${e}) < 0` : `((${e}) & ${sign}) !== 0`;
  const below = (a: string, b: string) => size === 2 ? `(${a} >>> 0) < (${b} >>> 0)` : `${a} < ${b}`;
  switch (p.fop) {
    case FOP_SUB:
      cf = below(d, x);
      of = neg(`(${d} ^ ${x}) & (${d} ^ ${v})`);
      // Signed and unsigned orders straight from the operands.
      if (c === 3) return size === 2 ? `(${d} >>> 0) <= (${x} >>> 0)` : `${d} <= ${x}`;
      if (c === 6 || c === 7) {
        const sh = size === 2 ? 0 : size === 1 ? 16 : 24;
        const a = sh ? `(${d} << ${sh})` : d, b = sh ? `(${x} << ${sh})` : x;
        return c === 6 ? `${a} < ${b}` : `${a} <= ${b}`;
      }
      break;
    case FOP_SBB:
      cf = `${below(d, x)} || (${p.cf} && ${d} === ${x})`;
      of = neg(`(${d} ^ ${x}) & (${d} ^ ${v})`);
      break;
    case FOP_ADD:
      cf = below(v, d);
      of = neg(`(${d} ^ ${v}) & (${x} ^ ${v})`);
      break;
    case FOP_ADC:
      cf = `${below(v, d)} || (${p.cf} && ${v} === ${d})`;
      of = neg(`(${d} ^ ${v}) & (${x} ^ ${v})`);
      break;
    case FOP_INC:
      of = neg(`(${d} ^ ${v}) & (1 ^ ${v})`);
      break;
    case FOP_DEC:
      of = neg(`(${d} ^ 1) & (${d} ^ ${v})`);
      break;
    case FOP_RES:
      cf ??= "false";
      of ??= "false";
      break;
  }
  switch (c) {
    case 0:
      return of;
    case 1:
      return cf;
    case 2:
      return zf;
    case 3:
      return cf === undefined ? undefined : `(${cf}) || ${zf}`;
    case 4:
      return sf;
    case 5:
      return pf;
    case 6:
      return of === undefined ? undefined : `(${sf}) !== (${of})`;
    default:
      return of === undefined ? undefined : `${zf} || ((${sf}) !== (${of}))`;
  }
}

/** Near branch target from the next EIP (control.ts target()). */
function target(i: Insn, next: string): string {
  return i.opsize32 ? `((${next} + ${i.imm}) | 0)` : `((${next} + ${i.imm}) & 0xffff)`;
}

/**
 * Emits instruction `k` inline; returns false when it has no inline form (the caller then calls its
 * handler). `at`/`next` are its EIP and the next EIP expressions.
 */
function inline(em: Emitter, i: Insn, k: number, at: string, next: string, last: boolean): boolean {
  const e = i.entry!;
  const size = i.size;
  const mem = i.mod !== 3;
  const form = operandForm(e);
  /**
   * Before an instruction that can fault or reach a device: EIP and insnEip as the interpreter has
   * them while an instruction runs (past it, and at it: simulated-KVM MMIO windows tell data accesses
   * from code fetches by them), and the retired count for the fault path.
   */
  const faultable = () => em.line(`cpu.insnEip = ${at}; cpu.eip = ${next}; n = ${k};`);
  /** After a memory access: a write to code (or a device) may have ended the block. */
  const checkBreak = () => {
    if (!last) em.line(`if (cpu.breakBlock) { cpu.eip = ${next}; return done + ${k + 1}; }`);
  };
  switch (e.handler) {
    case "mov": {
      if (size > 2) return false;
      if (form === "EG" || form === "EI") {
        const src = form === "EG"
          ? em.reg(size, i.reg)
          : String(size === 2 ? i.imm | 0 : i.imm & (size ? 0xffff : 0xff));
        if (!mem) em.line(em.setReg(size, i.rm, src));
        else {
          faultable();
          em.line(em.wr(size, em.ea(i, k, size, true), src));
          checkBreak();
        }
        return true;
      }
      if (form === "GE") {
        if (mem) faultable();
        em.line(em.setReg(size, i.reg, em.readE(i, size, k)));
        if (mem) checkBreak();
        return true;
      }
      return false;
    }
    case "movzx":
    case "movsx": {
      const src = e.operands[1] === "Eb" ? 0 : 1;
      if (mem) faultable();
      let v = em.readE(i, src, k);
      if (e.handler === "movsx") v = src === 0 ? `((${v} << 24) >> 24)` : `((${v} << 16) >> 16)`;
      em.line(em.setReg(size, i.reg, v));
      if (mem) checkBreak();
      return true;
    }
    case "lea":
      em.line(em.setReg(size, i.reg, em.offset(i)));
      return true;
    case "alu":
    case "test": {
      const op = e.handler === "test" ? OP_AND : i.arg;
      const write = e.handler === "alu" && op !== OP_CMP;
      const imm = String(i.imm & (size === 2 ? -1 : size ? 0xffff : 0xff));
      if (form === "GI") {
        const v = em.alu(op, size, em.reg(size, 0), imm, k);
        if (write) em.line(em.setReg(size, 0, v));
        return true;
      }
      if (form === "GE") {
        if (mem) faultable();
        const src = em.readE(i, size, k);
        const v = em.alu(op, size, em.reg(size, i.reg), src, k);
        if (write) em.line(em.setReg(size, i.reg, v));
        if (mem) checkBreak();
        return true;
      }
      // EG, EI
      const src = form === "EG" ? em.reg(size, i.reg) : imm;
      if (!mem) {
        const v = em.alu(op, size, em.reg(size, i.rm), src, k);
        if (write) em.line(em.setReg(size, i.rm, v));
        return true;
      }
      faultable();
      em.ea(i, k, size, write);
      if (write) em.line(`cpu.probeWrite(a${k}, ${1 << size});`);
      const v = em.alu(op, size, em.rd(size, `a${k}`), src, k);
      if (write) em.line(em.wr(size, `a${k}`, v));
      checkBreak();
      return true;
    }
    case "incdec": {
      if (!mem) {
        em.line(em.setReg(size, i.rm, em.incdec(i.arg === 1, size, em.reg(size, i.rm), k)));
        return true;
      }
      faultable();
      em.ea(i, k, size, true);
      em.line(`cpu.probeWrite(a${k}, ${1 << size});`);
      const v = em.incdec(i.arg === 1, size, em.rd(size, `a${k}`), k);
      em.line(em.wr(size, `a${k}`, v));
      checkBreak();
      return true;
    }
    case "not":
      if (mem) return false;
      em.line(em.setReg(size, i.rm, `~${em.reg(size, i.rm)}`));
      return true;
    case "neg":
      if (mem) return false;
      em.line(em.setReg(size, i.rm, em.alu(OP_SUB, size, "0", em.reg(size, i.rm), k)));
      return true;
    case "shift": {
      if (mem) return false;
      const count = form === "E1" ? "1" : form === "ECL" ? "(r[1] & 31)" : String(i.imm & 31);
      if (count === "0") return true; // shift() returns dst unchanged and touches no flags
      if (size === 2 && count !== "(r[1] & 31)" && i.arg <= 1) {
        em.rotate32(i.arg === 0, i.rm, Number(count), k);
        return true;
      }
      if (size === 2 && count !== "(r[1] & 31)" && i.arg >= 4) {
        em.shift32(i.arg === 5 ? ">>>" : i.arg === 7 ? ">>" : "<<", i.rm, Number(count), k);
        return true;
      }
      em.line(em.setReg(size, i.rm, `H.shift(cpu, ${i.arg}, ${size}, ${em.reg(size, i.rm)}, ${count})`));
      em.flags = undefined;
      return true;
    }
    case "imul2":
    case "imul3": {
      if (size !== 2) return false;
      if (mem) faultable();
      em.line(
        `const d${k} = ${em.readE(i, 2, k)}, x${k} = ${e.handler === "imul3" ? i.imm | 0 : `r[${i.reg}]`};`,
      );
      em.line(`const v${k} = Math.imul(d${k}, x${k}), f${k} = v${k} !== d${k} * x${k} ? 0x801 : 0;`);
      em.line(`r[${i.reg}] = v${k};`);
      em.line(`cpu.fOp = ${FOP_RES}; cpu.fSize = 2; cpu.fRes = v${k}; cpu.fAux = f${k};`);
      em.flags = {
        fop: FOP_RES,
        size: 2,
        d: `d${k}`,
        x: `x${k}`,
        v: `v${k}`,
        cf: `f${k} !== 0`,
        of: `f${k} !== 0`,
      };
      if (mem) checkBreak();
      return true;
    }
    case "xchg": {
      if (mem) return false;
      em.line(`const t${k} = ${em.reg(size, i.reg)};`);
      em.line(em.setReg(size, i.reg, em.reg(size, i.rm)));
      em.line(em.setReg(size, i.rm, `t${k}`));
      return true;
    }
    case "push": {
      faultable();
      if (form === "I") em.line(`cpu.push(${size}, ${i.imm});`);
      else if (!mem) em.line(`cpu.push(${size}, ${em.reg(size, i.rm)});`);
      else return false;
      checkBreak();
      return true;
    }
    case "pop": {
      if (mem) return false;
      faultable();
      em.line(`const p${k} = cpu.pop(${size});`);
      em.line(em.setReg(size, i.rm, `p${k}`));
      checkBreak();
      return true;
    }
    case "setcc": {
      if (mem) return false;
      em.line(em.setReg(0, i.rm, `${em.cond(i.arg)} ? 1 : 0`));
      return true;
    }
    case "cmovcc": {
      if (mem) faultable();
      const v = em.readE(i, size, k);
      em.line(`const s${k} = ${v};`);
      em.line(`if (${em.cond(i.arg)}) { ${em.setReg(size, i.reg, `s${k}`)} }`);
      if (mem) checkBreak();
      return true;
    }
    case "jcc":
      em.line(`const nx${k} = ${next};`);
      em.line(`cpu.eip = ${em.cond(i.arg)} ? ${target(i, `nx${k}`)} : nx${k};`);
      return true;
    case "jmp":
      em.line(`cpu.eip = ${target(i, next)};`);
      return true;
    case "call":
      faultable();
      em.line(`const nx${k} = ${next};`);
      em.line(`cpu.push(${size}, nx${k});`);
      em.line(`cpu.eip = ${target(i, `nx${k}`)};`);
      return true;
    case "ret": {
      faultable();
      em.line(`const t${k} = cpu.pop(${i.opsize32 ? 2 : 1});`);
      if (e.operands.length) em.line(`cpu.addSp(${i.imm & 0xffff});`);
      em.line(`cpu.eip = t${k};`);
      return true;
    }
    case "nop":
      // PAUSE (F3 90) runs its handler: in VMX non-root operation it may exit.
      return !(i.rep === 1 && e.opcode === 0x90);
  }
  return false;
}

const FLAG_STORE = /^cpu\.(fOp|fSize|fDst|fSrc|fRes|fAux) = /;
/** Code that reads the lazy-flag fields, or may leave the block (fault, handler, breakBlock). */
const OBSERVES = /H\.(getCF|condition|arithFlags|shift)\(|cpu\.insnEip|cpu\.breakBlock/;

/**
 * Removes a lazy-flag field store that a later instruction of the block stores again before anything
 * can see the field: no read of the flags, no fault, no handler, no early exit in between. The fields
 * at every point the state can be observed (block exit, faults, handlers) stay as the interpreter
 * leaves them. `starts[k]` is the first line of instruction k (and `starts[n]` the end).
 */
function dropDeadFlagStores(lines: string[], starts: number[]): void {
  // One statement a line for the flag stores.
  const n = starts.length - 1;
  const code: string[][] = [];
  for (let k = 0; k < n; k++) {
    code.push(
      lines.slice(starts[k], starts[k + 1]).flatMap((l) =>
        FLAG_STORE.test(l) ? l.split("; ").map((st) => st.endsWith(";") ? st : st + ";") : [l]
      ),
    );
  }
  const stores = code.map((c) => new Set(c.filter((l) => FLAG_STORE.test(l)).map((l) => l.slice(0, 9))));
  const observes = code.map((c) => c.some((l) => OBSERVES.test(l)));
  for (let k = 0; k < n; k++) {
    code[k] = code[k].filter((l) => {
      if (!FLAG_STORE.test(l)) return true;
      const field = l.slice(0, 9);
      for (let j = k + 1; j < n; j++) {
        if (observes[j]) return true;
        if (stores[j].has(field)) return false;
      }
      return true;
    });
  }
  const tail = lines.slice(starts[n]);
  lines.length = 0;
  for (const c of code) lines.push(...c);
  lines.push(...tail);
}

/** Handlers that only move control within the block's successors (they set EIP themselves). */
const SETS_EIP = new Set(["jcc", "jmp", "call", "ret"]);

export function compileBlock(insns: Insn[], code32: boolean): CompiledBlock {
  const em = new Emitter(insns, code32);
  let off = 0;
  let eipSet = false;
  let lastAt = "e0";
  const starts: number[] = [];
  for (let k = 0; k < insns.length; k++) {
    const i = insns[k];
    const at = lastAt = em.eip(off);
    off += i.len;
    const next = em.eip(off);
    const last = k === insns.length - 1;
    const mark = em.lines.length;
    starts.push(mark);
    if (inline(em, i, k, at, next, last)) {
      eipSet = SETS_EIP.has(i.entry!.handler);
      continue;
    }
    em.lines.length = mark;
    // The handler sees the interpreter's state: EIP already past the instruction.
    em.consts.push(`const i${k} = I[${k}], h${k} = i${k}.h;`);
    em.line(`cpu.insnEip = ${at}; n = ${k}; cpu.eip = ${next};`);
    em.line(`h${k}(cpu, i${k});`);
    if (!last) em.line(`if (cpu.breakBlock) return done + ${k + 1};`);
    em.flags = undefined;
    eipSet = true;
  }
  if (!eipSet) em.line(`cpu.eip = ${em.eip(off)};`);
  starts.push(em.lines.length);
  dropDeadFlagStores(em.lines, starts);
  // As after the interpreter's last instruction (VM exits between blocks read it).
  em.line(`cpu.insnEip = ${lastAt};`);
  // A block branching back to its own start loops here, for as long as the run loop would pick it
  // again at once: budget left, no event it would take first, not in VMX non-root operation.
  const end = insns[insns.length - 1];
  const selfLoop = (end.entry!.handler === "jcc" || end.entry!.handler === "jmp") && off + end.imm === 0;
  const body = [
    ...em.consts,
    "return function block(cpu, left) {",
    "const r = cpu.regs, sb = cpu.segBase, sf = cpu.segFlat, e0 = cpu.eip, bus = cpu.bus;",
    "const tr = cpu.tlbR, tw = cpu.tlbW, m8 = cpu.mem, mv = cpu.view;",
    "let n = 0, done = 0, t = 0;",
    "try {",
    selfLoop ? "for (;;) {" : "",
    ...em.lines,
    selfLoop
      ? `done += ${insns.length};\n` +
        "if (cpu.eip !== e0 || done >= left || cpu.intShadow !== 0 || cpu.vmxPolls || bus.stopRequested || " +
        "bus.nmi || (bus.intr && (cpu.eflags & 0x200) !== 0)) return done;\n}"
      : "",
    "} catch (e) { cpu.jitRetired = done + n; throw e; }",
    `return ${insns.length};`,
    "};",
  ].join("\n");
  return new Function("I", "H", body)(insns, HELPERS) as CompiledBlock;
}
