/** MUL, IMUL (one, two and three operands), DIV, IDIV, with #DE on zero divisors and overflow. */
import { CpuFault, DE } from "../faults.ts";
import { setRes } from "../flags.ts";
import type { Handler } from "../insn.ts";
import { CF, OF } from "../state.ts";

/** High 32 bits of the unsigned 64-bit product a*b (a, b as uint32). */
export function mulHigh(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const t = al * bl;
  const m = ah * bl + al * bh + Math.floor(t / 65536);
  return (ah * bh + Math.floor(m / 65536)) >>> 0;
}

export const mulHandler: Handler = (cpu, i) => {
  const size = i.size;
  const src = cpu.readE(i, size);
  const r = cpu.regs;
  if (size === 0) {
    const p = (r[0] & 0xff) * src;
    r[0] = (r[0] & ~0xffff) | p;
    setRes(cpu, 0, p, p > 0xff ? CF | OF : 0);
  } else if (size === 1) {
    const p = (r[0] & 0xffff) * src;
    r[0] = (r[0] & ~0xffff) | (p & 0xffff);
    r[2] = (r[2] & ~0xffff) | (p >>> 16);
    setRes(cpu, 1, p, p > 0xffff ? CF | OF : 0);
  } else {
    const a = r[0] >>> 0, b = src >>> 0;
    const hi = mulHigh(a, b);
    r[0] = Math.imul(a, b);
    r[2] = hi;
    setRes(cpu, 2, r[0], hi !== 0 ? CF | OF : 0);
  }
};

/** Signed a*b -> [low, high] as int32 (a, b int32). */
function imul32(a: number, b: number): [number, number] {
  let hi = mulHigh(a >>> 0, b >>> 0);
  if (a < 0) hi -= b >>> 0;
  if (b < 0) hi -= a >>> 0;
  return [Math.imul(a, b), hi | 0];
}

export const imul1Handler: Handler = (cpu, i) => {
  const size = i.size;
  const r = cpu.regs;
  if (size === 0) {
    const p = ((r[0] << 24) >> 24) * ((cpu.readE(i, 0) << 24) >> 24);
    r[0] = (r[0] & ~0xffff) | (p & 0xffff);
    setRes(cpu, 0, p, p !== (p << 24) >> 24 ? CF | OF : 0);
  } else if (size === 1) {
    const p = ((r[0] << 16) >> 16) * ((cpu.readE(i, 1) << 16) >> 16);
    r[0] = (r[0] & ~0xffff) | (p & 0xffff);
    r[2] = (r[2] & ~0xffff) | ((p >> 16) & 0xffff);
    setRes(cpu, 1, p, p !== (p << 16) >> 16 ? CF | OF : 0);
  } else {
    const [lo, hi] = imul32(r[0], cpu.readE(i, 2));
    r[0] = lo;
    r[2] = hi;
    setRes(cpu, 2, lo, hi !== (lo >> 31) ? CF | OF : 0);
  }
};

/** IMUL r, r/m (, imm): truncated signed product. */
export function imulNHandler(threeOperands: boolean): Handler {
  return (cpu, i) => {
    const size = i.size;
    const a = cpu.readE(i, size);
    const b = threeOperands ? i.imm : cpu.getReg(size, i.reg);
    if (size === 1) {
      const p = ((a << 16) >> 16) * ((b << 16) >> 16);
      cpu.setReg(1, i.reg, p);
      setRes(cpu, 1, p, p !== (p << 16) >> 16 ? CF | OF : 0);
    } else {
      const [lo, hi] = imul32(a, b);
      cpu.setReg(2, i.reg, lo);
      setRes(cpu, 2, lo, hi !== (lo >> 31) ? CF | OF : 0);
    }
  };
}

export const divHandler: Handler = (cpu, i) => {
  const size = i.size;
  const d = cpu.readE(i, size) >>> 0;
  if (d === 0) throw new CpuFault(DE);
  const r = cpu.regs;
  if (size === 0) {
    const n = r[0] & 0xffff;
    const q = Math.floor(n / d);
    if (q > 0xff) throw new CpuFault(DE);
    r[0] = (r[0] & ~0xffff) | ((n % d) << 8) | q;
  } else if (size === 1) {
    const n = ((r[2] & 0xffff) << 16 | (r[0] & 0xffff)) >>> 0;
    const q = Math.floor(n / d);
    if (q > 0xffff) throw new CpuFault(DE);
    r[0] = (r[0] & ~0xffff) | q;
    r[2] = (r[2] & ~0xffff) | (n % d);
  } else {
    const hi = r[2] >>> 0, lo = r[0] >>> 0;
    if (hi === 0) {
      r[0] = Math.floor(lo / d);
      r[2] = lo % d;
      return;
    }
    if (hi >= d) throw new CpuFault(DE);
    const n = (BigInt(hi) << 32n) | BigInt(lo);
    const bd = BigInt(d);
    r[0] = Number(n / bd) | 0;
    r[2] = Number(n % bd) | 0;
  }
};

export const idivHandler: Handler = (cpu, i) => {
  const size = i.size;
  const r = cpu.regs;
  if (size === 0) {
    const d = (cpu.readE(i, 0) << 24) >> 24;
    if (d === 0) throw new CpuFault(DE);
    const n = (r[0] << 16) >> 16;
    const q = Math.trunc(n / d);
    if (q > 127 || q < -128) throw new CpuFault(DE);
    r[0] = (r[0] & ~0xffff) | (((n % d) & 0xff) << 8) | (q & 0xff);
  } else if (size === 1) {
    const d = (cpu.readE(i, 1) << 16) >> 16;
    if (d === 0) throw new CpuFault(DE);
    const n = (r[2] << 16) | (r[0] & 0xffff);
    const q = Math.trunc(n / d);
    if (q > 32767 || q < -32768) throw new CpuFault(DE);
    r[0] = (r[0] & ~0xffff) | (q & 0xffff);
    r[2] = (r[2] & ~0xffff) | ((n % d) & 0xffff);
  } else {
    const d = cpu.readE(i, 2);
    if (d === 0) throw new CpuFault(DE);
    const n = (BigInt(r[2]) << 32n) | BigInt(r[0] >>> 0);
    const bd = BigInt(d);
    const q = n / bd;
    if (q > 0x7fffffffn || q < -0x80000000n) throw new CpuFault(DE);
    r[0] = Number(q);
    r[2] = Number(n % bd);
  }
};
