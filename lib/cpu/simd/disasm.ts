/**
 * AT&T text of the MMX/SSE/SSE2 rows as qemu-system-i386 7.2 (capstone) prints them: the mandatory
 * prefix picks the mnemonic, operands are %mmN/%xmmN/general registers by instruction, source
 * first, and CMPxx with a predicate below 8 uses the predicate's pseudo-mnemonic.
 */
import type { Insn } from "../insn.ts";

const F3: Record<number, string> = {
  0x10: "movss",
  0x11: "movss",
  0x2a: "cvtsi2ss",
  0x2c: "cvttss2si",
  0x2d: "cvtss2si",
  0x51: "sqrtss",
  0x58: "addss",
  0x59: "mulss",
  0x5a: "cvtss2sd",
  0x5b: "cvttps2dq",
  0x5c: "subss",
  0x5d: "minss",
  0x5e: "divss",
  0x5f: "maxss",
  0x6f: "movdqu",
  0x70: "pshufhw",
  0x7e: "movq",
  0x7f: "movdqu",
  0xc2: "cmpss",
  0xd6: "movq2dq",
  0xe6: "cvtdq2pd",
};
const F2: Record<number, string> = {
  0x10: "movsd",
  0x11: "movsd",
  0x2a: "cvtsi2sd",
  0x2c: "cvttsd2si",
  0x2d: "cvtsd2si",
  0x51: "sqrtsd",
  0x58: "addsd",
  0x59: "mulsd",
  0x5a: "cvtsd2ss",
  0x5c: "subsd",
  0x5d: "minsd",
  0x5e: "divsd",
  0x5f: "maxsd",
  0x70: "pshuflw",
  0xc2: "cmpsd",
  0xd6: "movdq2q",
  0xe6: "cvtpd2dq",
};
const P66: Record<number, string> = {
  0x2a: "cvtpi2pd",
  0x2c: "cvttpd2pi",
  0x2d: "cvtpd2pi",
  0x5a: "cvtpd2ps",
  0x5b: "cvtps2dq",
  0x6f: "movdqa",
  0x70: "pshufd",
  0x7f: "movdqa",
  0xd6: "movq",
  0xe6: "cvttpd2dq",
  0xe7: "movntdq",
  0xf7: "maskmovdqu",
  0x2e: "ucomisd",
  0x2f: "comisd",
  0x12: "movlpd",
  0x13: "movlpd",
  0x16: "movhpd",
  0x17: "movhpd",
};
const PREDICATES = ["eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord"];
/** Rows whose ModRM reg operand is the destination's store: E is written, G read. */
const STORES = new Set([0x11, 0x13, 0x17, 0x29, 0x2b, 0x7e, 0x7f, 0xd6, 0xe7]);
const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

/** Mnemonic and operands (AT&T order) of a simd row; `mem` is the formatted memory operand. */
export function simdDisasm(i: Insn, pfx: number, mem: string): { name: string; ops: string[] } | undefined {
  const op = i.entry!.opcode & 0xff;
  let name = i.entry!.mnemonic32;
  if (pfx === 1) name = P66[op] ?? (/(ps)$/.test(name) && op !== 0x70 ? name.slice(0, -2) + "pd" : name);
  else if (pfx === 2) name = F3[op];
  else if (pfx === 3) name = F2[op];
  if (!name) return undefined;
  const integer = (op >= 0x60 && op <= 0x7f) || op >= 0xc4 && op !== 0xc6 && op !== 0xe6 || op === 0xd6;
  const mmx = pfx === 0 && integer;
  const vec = (r: number, x = !mmx) => `%${x ? "xmm" : "mm"}${r}`;
  const gp = (r: number) => `%${R32[r]}`;
  const e = i.mod === 3 ? vec(i.rm) : mem;
  const imm = `$0x${(i.imm & 0xff).toString(16)}`.replace(/^\$0x([0-9])$/, "$$$1");
  if (op === 0xc2 && (i.imm & 0xff) < 8) {
    return { name: name.replace(/^cmp/, "cmp" + PREDICATES[i.imm & 7]), ops: [e, vec(i.reg)] };
  }
  if (op === 0xd6 && pfx === 2) return { name, ops: [vec(i.rm, false), vec(i.reg, true)] };
  if (op === 0xd6 && pfx === 3) return { name, ops: [vec(i.rm, true), vec(i.reg, false)] };
  if ((op === 0x6e || op === 0x7e) && pfx !== 2) {
    const g = i.mod === 3 ? gp(i.rm) : mem;
    return { name, ops: op === 0x6e ? [g, vec(i.reg)] : [vec(i.reg), g] };
  }
  if (op === 0x7e && pfx === 2) return { name, ops: [e, vec(i.reg)] };
  if (op === 0xc5 || op === 0xd7 || op === 0x50) {
    const ops = [vec(i.rm), gp(i.reg)];
    return { name, ops: op === 0xc5 ? [imm, ...ops] : ops };
  }
  if (op === 0xc4) return { name, ops: [imm, i.mod === 3 ? gp(i.rm) : mem, vec(i.reg)] };
  if (op === 0x77) return { name, ops: [] };
  if (op === 0x2a && pfx < 2) return { name, ops: [i.mod === 3 ? vec(i.rm, false) : mem, vec(i.reg)] };
  if ((op === 0x2c || op === 0x2d) && pfx < 2) return { name, ops: [e, vec(i.reg, false)] };
  if (op === 0x2a && pfx >= 2) {
    // capstone sizes the memory form: cvtsi2ssl.
    return i.mod === 3 ? { name, ops: [gp(i.rm), vec(i.reg)] } : { name: name + "l", ops: [mem, vec(i.reg)] };
  }
  if ((op === 0x2c || op === 0x2d) && pfx >= 2) return { name, ops: [e, gp(i.reg)] };
  if (op >= 0x71 && op <= 0x73) return { name, ops: [imm, vec(i.rm)] };
  if (op === 0x12 && pfx === 0 && i.mod === 3) name = "movhlps";
  if (op === 0x16 && pfx === 0 && i.mod === 3) name = "movlhps";
  const withImm = op === 0x70 || op === 0xc2 || op === 0xc6;
  const ops = STORES.has(op) && !(op === 0x7e && pfx === 2) ? [vec(i.reg), e] : [e, vec(i.reg)];
  return { name, ops: withImm ? [imm, ...ops] : ops };
}
