/**
 * The MMX/SSE/SSE2 rows of the 0F opcode map, in opcodes.ts's row format. One row per opcode:
 * the mandatory prefix (none, 66, F3, F2) picks the instruction at execution (exec.ts), so the
 * mnemonic here is the no-prefix one. ARG is the opcode's second byte. x = MMX or XMM register.
 */
const PLAIN = [
  "10 movups",
  "11 movups Ex,Gx",
  "12 movlps",
  "13 movlps Ex,Gx",
  "14 unpcklps",
  "15 unpckhps",
  "16 movhps",
  "17 movhps Ex,Gx",
  "28 movaps",
  "29 movaps Ex,Gx",
  "2A cvtpi2ps",
  "2B movntps Ex,Gx",
  "2C cvttps2pi",
  "2D cvtps2pi",
  "2E ucomiss",
  "2F comiss",
  "50 movmskps",
  "51 sqrtps",
  "54 andps",
  "55 andnps",
  "56 orps",
  "57 xorps",
  "58 addps",
  "59 mulps",
  "5A cvtps2pd",
  "5B cvtdq2ps",
  "5C subps",
  "5D minps",
  "5E divps",
  "5F maxps",
  "70 pshufw Gx,Ex,Ib",
  "74 pcmpeqb",
  "75 pcmpeqw",
  "76 pcmpeqd",
  "77 emms -",
  "7E movd Ex,Gx",
  "7F movq Ex,Gx",
  "C2 cmpps Gx,Ex,Ib",
  "C3 movntil Md,Gd",
  "C4 pinsrw Gx,Ex,Ib",
  "C5 pextrw Gx,Ex,Ib",
  "C6 shufps Gx,Ex,Ib",
  "E7 movntq Ex,Gx",
];
const MMX_NAMES = [
  "punpcklbw punpcklwd punpckldq packsswb pcmpgtb pcmpgtw pcmpgtd packuswb punpckhbw punpckhwd " +
  "punpckhdq packssdw punpcklqdq punpckhqdq movd movq",
  "- psrlw psrld psrlq paddq pmullw movq pmovmskb psubusb psubusw pminub pand paddusb paddusw " +
  "pmaxub pandn",
  "pavgb psraw psrad pavgw pmulhuw pmulhw cvttpd2dq - psubsb psubsw pminsw por paddsb paddsw " +
  "pmaxsw pxor",
  "- psllw pslld psllq pmuludq pmaddwd psadbw maskmovq psubb psubw psubd psubq paddb paddw paddd",
];
const GROUPS = [
  "71/2 psrlw",
  "71/4 psraw",
  "71/6 psllw",
  "72/2 psrld",
  "72/4 psrad",
  "72/6 pslld",
  "73/2 psrlq",
  "73/3 psrldq",
  "73/6 psllq",
  "73/7 pslldq",
];

function rows(): string[] {
  const out: string[] = [];
  const row = (op: string, name: string, operands = "Gx,Ex") =>
    out.push(`0F${op} ${name} ${operands} simd:${parseInt(op.slice(0, 2), 16)}`);
  for (const p of PLAIN) {
    const [op, name, operands] = p.split(" ");
    row(op, name, operands);
  }
  [0x60, 0xd0, 0xe0, 0xf0].forEach((base, k) =>
    MMX_NAMES[k].split(" ").forEach((name, n) => {
      const op = (base + n).toString(16).toUpperCase();
      if (name !== "-" && !(base === 0xe0 && n === 7)) row(op, name);
    })
  );
  for (const g of GROUPS) {
    const [op, name] = g.split(" ");
    row(op, name, "Ex,Ib");
  }
  out.push(
    "0FAE/2 ldmxcsr Md simd:174",
    "0FAE/3 stmxcsr Md simd:174",
    "0FAE/5 lfence Ex simd:174",
    "0FAE/6 mfence Ex simd:174",
    "0FAE/7 sfence Ex simd:174",
  );
  ["prefetchnta", "prefetcht0", "prefetcht1", "prefetcht2", "nop", "nop", "nop", "nop"].forEach((m, n) =>
    out.push(`0F18/${n} ${m} Ex nop`)
  );
  // 0F 19-1E: reserved hint NOPs with a ModRM operand (0F 1F /0 is the CPU area's).
  for (let op = 0x19; op <= 0x1e; op++) out.push(`0F${op.toString(16).toUpperCase()} nop Ex nop`);
  return out;
}

export const SIMD_ROWS: readonly string[] = rows();
