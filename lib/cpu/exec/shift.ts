/**
 * Shifts and rotates (ROL ROR RCL RCR SHL SHR SAL SAR, SHLD, SHRD) with the flag results QEMU's
 * TCG produces for counts other than 1 (where the SDM leaves OF undefined).
 */
import type { Cpu } from "../cpu.ts";
import { arithFlags, FOP_NONE, getCF, setRes, SIGN_SHIFT, SIZE_MASK } from "../flags.ts";
import type { Handler, Insn } from "../insn.ts";
import { CF, OF } from "../state.ts";

const BITS = [8, 16, 32];

/** Shift/rotate `dst` by `count` (already masked to 5 bits). Returns the result. */
export function shift(s: Cpu, op: number, size: number, dst: number, count: number): number {
  const mask = SIZE_MASK[size];
  const bits = BITS[size];
  const top = SIGN_SHIFT[size];
  dst &= mask;
  if (count === 0) return dst;
  switch (op) {
    case 0: { // ROL
      const n = count & (bits - 1);
      const res = n ? ((dst << n) | (dst >>> (bits - n))) & mask : dst;
      const cf = res & 1;
      const of = ((res >>> top) ^ res) & 1;
      s.fAux = (arithFlags(s) & ~(CF | OF)) | cf | (of << 11);
      s.fOp = FOP_NONE;
      return res;
    }
    case 1: { // ROR
      const n = count & (bits - 1);
      const res = n ? ((dst >>> n) | (dst << (bits - n))) & mask : dst;
      const cf = (res >>> top) & 1;
      const of = ((res >>> top) ^ (res >>> (top - 1))) & 1;
      s.fAux = (arithFlags(s) & ~(CF | OF)) | cf | (of << 11);
      s.fOp = FOP_NONE;
      return res;
    }
    case 2: { // RCL through CF: a (bits+1)-bit rotation
      const n = count % (bits + 1);
      if (n === 0) return dst;
      const cin = getCF(s);
      if (size === 2) {
        const d = dst >>> 0;
        const res = ((d << n) | (cin << (n - 1)) | (n === 1 ? 0 : d >>> (33 - n))) | 0;
        const cf = (d >>> (32 - n)) & 1;
        const of = ((dst ^ res) >>> 31) & 1;
        s.fAux = (arithFlags(s) & ~(CF | OF)) | cf | (of << 11);
        s.fOp = FOP_NONE;
        return res;
      }
      // 8 and 16 bits: the (bits+1)-bit rotation is exact in doubles.
      const wide = dst + cin * 2 ** bits;
      const rot = (wide * 2 ** n + Math.floor(wide / 2 ** (bits + 1 - n))) % 2 ** (bits + 1);
      const res = (rot % 2 ** bits) & mask;
      const cf = Math.floor(rot / 2 ** bits) & 1;
      const of = ((dst ^ res) >>> top) & 1;
      s.fAux = (arithFlags(s) & ~(CF | OF)) | cf | (of << 11);
      s.fOp = FOP_NONE;
      return res;
    }
    case 3: { // RCR
      const n = count % (bits + 1);
      if (n === 0) return dst;
      const cin = getCF(s);
      if (size === 2) {
        const d = dst >>> 0;
        const res = ((d >>> n) | (cin << (32 - n)) | (n === 1 ? 0 : d << (33 - n))) | 0;
        const cf = (d >>> (n - 1)) & 1;
        const of = ((dst ^ res) >>> 31) & 1;
        s.fAux = (arithFlags(s) & ~(CF | OF)) | cf | (of << 11);
        s.fOp = FOP_NONE;
        return res;
      }
      const wide = dst + cin * 2 ** bits;
      const rot = (Math.floor(wide / 2 ** n) + (wide % 2 ** n) * 2 ** (bits + 1 - n)) % 2 ** (bits + 1);
      const res = (rot % 2 ** bits) & mask;
      const cf = Math.floor(rot / 2 ** bits) & 1;
      const of = ((dst ^ res) >>> top) & 1;
      s.fAux = (arithFlags(s) & ~(CF | OF)) | cf | (of << 11);
      s.fOp = FOP_NONE;
      return res;
    }
    case 4:
    case 6: { // SHL/SAL
      const pre = count > 31 ? 0 : (dst << (count - 1)) & mask;
      const res = count >= 32 ? 0 : (dst << count) & mask;
      const cf = (pre >>> top) & 1;
      const of = ((pre ^ res) >>> top) & 1;
      setRes(s, size, res, cf | (of << 11));
      return res;
    }
    case 5: { // SHR
      const pre = dst >>> (count - 1);
      const res = count >= 32 ? 0 : (dst >>> count) & mask;
      const of = ((pre ^ res) >>> top) & 1;
      setRes(s, size, res, (pre & 1) | (of << 11));
      return res;
    }
    default: { // SAR
      const signed = (dst << (32 - bits)) >> (32 - bits);
      const pre = signed >> (count - 1);
      const res = (signed >> count) & mask;
      const of = (((pre ^ res) & mask) >>> top) & 1;
      setRes(s, size, res, (pre & 1) | (of << 11));
      return res;
    }
  }
}

function count(cpu: Cpu, i: Insn, form: string): number {
  if (form === "E1") return 1;
  if (form === "ECL") return cpu.regs[1] & 31;
  return i.imm & 31;
}

export function shiftHandler(form: string, op: number): Handler {
  return (cpu, i) => {
    const n = count(cpu, i, form);
    const size = i.size;
    if (i.mod === 3) {
      cpu.setReg(size, i.rm, shift(cpu, op, size, cpu.getReg(size, i.rm), n));
    } else {
      const lin = cpu.ea(i);
      cpu.probeWrite(lin, 1 << size);
      const v = cpu.rd(size, lin);
      if (n !== 0) cpu.wr(size, lin, shift(cpu, op, size, v, n));
    }
  };
}

/** SHLD/SHRD. 16-bit counts above 16 shift the 48-bit A:B:A pattern (Intel, as QEMU does). */
function doubleShift(s: Cpu, left: boolean, size: number, dst: number, src: number, n: number): number {
  if (n === 0) return dst;
  let res: number, cf: number, pre: number;
  if (size === 2) {
    const d = dst >>> 0, r = src >>> 0;
    if (left) {
      res = ((d << n) | (n === 0 ? 0 : r >>> (32 - n))) | 0;
      // QEMU derives CF/OF from the destination alone shifted by n-1.
      pre = (d << (n - 1)) | 0;
      cf = (d >>> (32 - n)) & 1;
    } else {
      res = ((d >>> n) | (r << (32 - n))) | 0;
      pre = (d >>> (n - 1)) | 0;
      cf = (d >>> (n - 1)) & 1;
    }
  } else {
    const d = dst & 0xffff, r = src & 0xffff;
    if (left) {
      const wide = d * 2 ** 32 + r * 2 ** 16 + d;
      res = Math.floor((wide * 2 ** n) / 2 ** 32) % 65536;
      pre = Math.floor((wide * 2 ** (n - 1)) / 2 ** 32) % 65536;
      cf = Math.floor(wide / 2 ** (48 - n)) & 1;
    } else {
      const wide = d * 2 ** 32 + r * 2 ** 16 + d;
      res = Math.floor(wide / 2 ** n) % 65536;
      // QEMU (i386 target) takes CF and OF from the 32-bit B:A shifted by n-1, without the upper A.
      pre = (((r << 16) | d) >>> (n - 1)) & 0xffff;
      cf = pre & 1;
    }
  }
  const top = SIGN_SHIFT[size];
  const of = (((pre ^ res) & SIZE_MASK[size]) >>> top) & 1;
  setRes(s, size, res, cf | (of << 11));
  return res;
}

export function shldHandler(form: string, left: boolean): Handler {
  return (cpu, i) => {
    const n = (form === "EGCL" ? cpu.regs[1] : i.imm) & 31;
    const size = i.size;
    const src = cpu.getReg(size, i.reg);
    if (i.mod === 3) {
      cpu.setReg(size, i.rm, doubleShift(cpu, left, size, cpu.getReg(size, i.rm), src, n));
    } else {
      const lin = cpu.ea(i);
      cpu.probeWrite(lin, 1 << size);
      const v = cpu.rd(size, lin);
      if (n !== 0) cpu.wr(size, lin, doubleShift(cpu, left, size, v, src, n));
    }
  };
}
