/**
 * SSE/SSE2 floating point: the PS/SS/PD/SD moves, arithmetic, comparisons and conversions.
 * Doubles are exact in JS; singles round through Math.fround. An operation whose inputs carry a
 * NaN returns the first NaN input quieted and an invalid one the x86 "QNaN indefinite" (negative
 * sign), both by bits, because a JS NaN does not keep its sign or payload. MXCSR's rounding,
 * FTZ/DAZ and exception flags (with #XM/#UD for unmasked ones) come from ieee.ts; every
 * operation builds its result in TEMP and writes it only after ieee.finish().
 */
import { CpuFault, UD } from "../faults.ts";
import { CF, OF, PF, SF, ZF } from "../state.ts";
import { writeEflags } from "../exec/system.ts";
import {
  bitwise,
  type Ctx,
  K_XMM,
  memoryOnly,
  move,
  type Op,
  put,
  regOff,
  S_D,
  S_FULL,
  S_NONE,
  S_Q,
  S_UNALIGNED,
  storeTo,
} from "./exec.ts";
import { TEMP } from "./state.ts";
import { add, div, errSign, mul, sqrt as exactSqrt } from "../fpu/round.ts";
import { begin, finish, IE, operand, round, signal, toInt32, ZE } from "./ieee.ts";

const F32_QUIET = 0x00400000, F32_INDEFINITE = 0xffc00000;
const F64_QUIET_HI = 0x00080000, F64_INDEFINITE_HI = 0xfff80000;

/** Signalling NaN tests on lane bits. */
const snan32 = (bits: number) => (bits & 0x7fc00000) === 0x7f800000 && (bits & 0x3fffff) !== 0;
const snan64 = (hi: number, lo: number) => (hi & 0x7ff80000) === 0x7ff00000 && ((hi & 0x7ffff) | lo) !== 0;
/** Whether lane k at byte offset `at` holds a signalling NaN. */
function laneSnan(c: Ctx, single: boolean, at: number, k: number): boolean {
  const u32 = c.s.u32;
  return single
    ? snan32(u32[(at >> 2) + k])
    : snan64(u32[(at >> 3) * 2 + 2 * k + 1], u32[(at >> 3) * 2 + 2 * k]);
}

type Kind = "add" | "sub" | "mul" | "div" | "sqrt";

/** The exact operation's nearest double (its error sign in round.ts errSign), or NaN for invalid. */
function compute(kind: Kind, a: number, b: number): number {
  switch (kind) {
    case "add":
      return Math.abs(a) === Infinity && b === -a ? NaN : add(a, b);
    case "sub":
      return Math.abs(a) === Infinity && b === a ? NaN : add(a, -b);
    case "mul":
      return mul(a, b);
    case "div":
      if (b === 0 && a === a && a !== 0 && Number.isFinite(a)) {
        signal(ZE);
        return (1 / a > 0) === (1 / b > 0) ? Infinity : -Infinity;
      }
      return div(a, b);
    default:
      return b < 0 ? NaN : exactSqrt(b);
  }
}

/** Whether a result needs rounding: not when it is exact by definition (infinite operands, x/0). */
function rounds(kind: Kind, a: number, b: number): boolean {
  return Number.isFinite(a) && Number.isFinite(b) && !(kind === "div" && b === 0);
}

/** Lane-wise arithmetic: `single` picks f32 lanes, `count` how many lanes (1 for scalar). */
function arith(single: boolean, count: number, kind: Kind): Op {
  return (c) => {
    const s = c.s, mx = s.mxcsr, t = TEMP >> 2;
    begin();
    for (let k = 0; k < count; k++) {
      if (single) {
        const d = (c.d >> 2) + k, r = (c.src >> 2) + k;
        const a = s.f32[d], b = s.f32[r];
        const aNan = kind !== "sqrt" && a !== a;
        if (aNan || b !== b) {
          if ((aNan && snan32(s.u32[d])) || (b !== b && snan32(s.u32[r]))) signal(IE);
          s.u32[t + k] = (aNan ? s.u32[d] : s.u32[r]) | F32_QUIET;
          continue;
        }
        const av = operand(a, true, mx), bv = operand(b, true, mx), v = compute(kind, av, bv);
        if (v !== v) {
          signal(IE);
          s.u32[t + k] = F32_INDEFINITE;
        } else s.f32[t + k] = rounds(kind, av, bv) ? round(v, errSign, true, mx) : v;
      } else {
        const d = (c.d >> 3) + k, r = (c.src >> 3) + k;
        const a = s.f64[d], b = s.f64[r];
        const aNan = kind !== "sqrt" && a !== a;
        if (aNan || b !== b) {
          if ((aNan && laneSnan(c, false, c.d, k)) || (b !== b && laneSnan(c, false, c.src, k))) signal(IE);
          const from = aNan ? d : r;
          s.u32[t + 2 * k] = s.u32[2 * from];
          s.u32[t + 2 * k + 1] = s.u32[2 * from + 1] | F64_QUIET_HI;
          continue;
        }
        const av = operand(a, false, mx), bv = operand(b, false, mx), v = compute(kind, av, bv);
        if (v !== v) {
          signal(IE);
          s.u32[t + 2 * k] = 0;
          s.u32[t + 2 * k + 1] = F64_INDEFINITE_HI;
        } else s.f64[(TEMP >> 3) + k] = rounds(kind, av, bv) ? round(v, errSign, false, mx) : v;
      }
    }
    finish(c);
    s.u8.copyWithin(c.d, TEMP, TEMP + count * (single ? 4 : 8));
  };
}

/** IE for NaN operands (any NaN when `quietToo`, else signalling ones) and DE for denormals. */
function checkOperands(c: Ctx, single: boolean, count: number, quietToo: boolean): void {
  const s = c.s, mx = s.mxcsr;
  begin();
  for (let k = 0; k < count; k++) {
    for (const at of [c.d, c.src]) {
      const v = single ? s.f32[(at >> 2) + k] : s.f64[(at >> 3) + k];
      if (v !== v) {
        if (quietToo || laneSnan(c, single, at, k)) signal(IE);
      } else operand(v, single, mx);
    }
  }
  finish(c);
}

/** MIN/MAX return the source when either input is a NaN or both are zeros (SDM MINPS). */
function minmax(single: boolean, count: number, max: boolean): Op {
  return (c) => {
    checkOperands(c, single, count, true);
    const s = c.s, w = single ? 4 : 8;
    for (let k = 0; k < count; k++) {
      const d = c.d + k * w, r = c.src + k * w;
      const a = single ? s.f32[d >> 2] : s.f64[d >> 3], b = single ? s.f32[r >> 2] : s.f64[r >> 3];
      const keep = max ? a > b : a < b;
      if (!keep) s.u8.copyWithin(d, r, r + w);
    }
  };
}

/** The context `c` with its destination or source offset moved for the call of `f`. */
function redirected(f: Op, c: Ctx, d: number, src: number): void {
  const d0 = c.d, src0 = c.src;
  c.d = d;
  c.src = src;
  try {
    f(c);
  } finally {
    c.d = d0;
    c.src = src0;
  }
}

const CMP: ((a: number, b: number) => boolean)[] = [
  (a, b) => a === b,
  (a, b) => a < b,
  (a, b) => a <= b,
  (a, b) => a !== a || b !== b,
  (a, b) => !(a === b),
  (a, b) => !(a < b),
  (a, b) => !(a <= b),
  (a, b) => a === a && b === b,
];
/** The predicates that signal IE for quiet NaNs too: LT, LE, NLT, NLE. */
const SIGNALLING_CMP = [false, true, true, false, false, true, true, false];
function cmp(single: boolean, count: number): Op {
  return (c) => {
    checkOperands(c, single, count, SIGNALLING_CMP[c.i.imm & 7]);
    const s = c.s, p = CMP[c.i.imm & 7];
    for (let k = 0; k < count; k++) {
      if (single) {
        const d = (c.d >> 2) + k;
        s.u32[d] = p(s.f32[d], s.f32[(c.src >> 2) + k]) ? 0xffffffff : 0;
      } else {
        const d = (c.d >> 3) + k, r = p(s.f64[d], s.f64[(c.src >> 3) + k]) ? 0xffffffff : 0;
        s.u32[2 * d] = s.u32[2 * d + 1] = r;
      }
    }
  };
}

/** COMISS/UCOMISS/COMISD/UCOMISD: ZF, PF, CF as an unsigned compare; OF, SF, AF cleared. */
const comis = (single: boolean, ordered: boolean): Op => (c) => {
  checkOperands(c, single, 1, ordered);
  const s = c.s;
  const a = single ? s.f32[c.d >> 2] : s.f64[c.d >> 3], b = single ? s.f32[c.src >> 2] : s.f64[c.src >> 3];
  const flags = a !== a || b !== b ? ZF | PF | CF : a > b ? 0 : a < b ? CF : ZF;
  writeEflags(c.cpu, flags, ZF | PF | CF | OF | SF | 0x10);
};

const cvtToGpr = (single: boolean, truncate: boolean): Op => (c) => {
  const s = c.s, v = single ? s.f32[c.src >> 2] : s.f64[c.src >> 3];
  begin();
  const r = toInt32(v, s.mxcsr, truncate);
  finish(c);
  c.cpu.setReg(2, c.i.reg, r);
};
const cvtFromGpr = (single: boolean): Op => (c) => {
  const v = c.cpu.readE(c.i, 2);
  begin();
  const r = single ? round(v, 0, true, c.s.mxcsr) : v;
  finish(c);
  if (single) c.s.f32[c.d >> 2] = r;
  else c.s.f64[c.d >> 3] = r;
};

const f32At = (c: Ctx, k: number) => c.s.f32[(c.src >> 2) + k];
const f64At = (c: Ctx, k: number) => c.s.f64[(c.src >> 3) + k];
const i32At = (c: Ctx, k: number) => c.s.i32[(c.src >> 2) + k];
const rounded = (get: (c: Ctx, k: number) => number, truncate: boolean) => (c: Ctx, k: number) =>
  toInt32(get(c, k), c.s.mxcsr, truncate);

/**
 * Lane conversions built in TEMP: `read(k)` gives lane k's value, `write` stores it. Float
 * sources keep NaN payloads (quieted, IE for a signalling one) and signal DE for denormals.
 */
function convert(
  count: number,
  zeroTo: number,
  read: (c: Ctx, k: number) => number,
  kind: "f32" | "f64" | "i32",
): Op {
  const from = read === f32At ? "f32" : read === f64At ? "f64" : "int";
  return (c) => {
    const s = c.s, mx = s.mxcsr;
    begin();
    for (let k = 0; k < count; k++) {
      let v = read(c, k);
      if (v !== v && from !== "int") {
        if (laneSnan(c, from === "f32", c.src, k)) signal(IE);
        nanTo(c, from === "f32", k, kind === "f32");
        continue;
      }
      if (from !== "int") v = operand(v, from === "f32", mx);
      if (kind === "f32") s.f32[(TEMP >> 2) + k] = from === "f32" ? v : round(v, 0, true, mx);
      else if (kind === "f64") s.f64[(TEMP >> 3) + k] = v;
      else s.i32[(TEMP >> 2) + k] = v;
    }
    finish(c);
    const bytes = count * (kind === "f64" ? 8 : 4);
    s.u8.copyWithin(c.d, TEMP, TEMP + bytes);
    if (zeroTo > bytes) s.u8.fill(0, c.d + bytes, c.d + zeroTo);
  };
}

/** Lane k's NaN from the source, quieted and narrowed or widened bit for bit, into TEMP. */
function nanTo(c: Ctx, fromSingle: boolean, k: number, toSingle: boolean): void {
  const u32 = c.s.u32, t = TEMP >> 2;
  let hi: number, lo: number;
  if (fromSingle) {
    const b = u32[(c.src >> 2) + k];
    hi = (b & 0x80000000) | 0x7ff00000 | ((b & 0x7fffff) >>> 3);
    lo = (b & 7) << 29;
  } else {
    hi = u32[(c.src >> 2) + 2 * k + 1];
    lo = u32[(c.src >> 2) + 2 * k];
  }
  hi |= F64_QUIET_HI;
  if (toSingle) u32[t + k] = ((hi & 0x80000000) | 0x7f800000 | ((hi & 0xfffff) << 3) | (lo >>> 29)) >>> 0;
  else {
    u32[t + 2 * k] = lo;
    u32[t + 2 * k + 1] = hi;
  }
}
function unpckps(high: boolean, w: number): Op {
  return (c) => {
    const u8 = c.s.u8, base = high ? 8 : 0;
    for (let k = 0; k < 8; k += w) {
      u8.copyWithin(TEMP + 2 * k, c.d + base + k, c.d + base + k + w);
      u8.copyWithin(TEMP + 2 * k + w, c.src + base + k, c.src + base + k + w);
    }
    u8.copyWithin(c.d, TEMP, TEMP + 16);
  };
}

const shufps: Op = (c) => {
  const u32 = c.s.u32, imm = c.i.imm, d = c.d >> 2, r = c.src >> 2, t = TEMP >> 2;
  u32[t] = u32[d + (imm & 3)];
  u32[t + 1] = u32[d + ((imm >> 2) & 3)];
  u32[t + 2] = u32[r + ((imm >> 4) & 3)];
  u32[t + 3] = u32[r + ((imm >> 6) & 3)];
  u32.copyWithin(d, t, t + 4);
};
const shufpd: Op = (c) => {
  const u32 = c.s.u32, imm = c.i.imm, d = c.d >> 2, r = c.src >> 2, t = TEMP >> 2;
  u32.copyWithin(t, d + (imm & 1) * 2, d + (imm & 1) * 2 + 2);
  u32.copyWithin(t + 2, r + ((imm >> 1) & 1) * 2, r + ((imm >> 1) & 1) * 2 + 2);
  u32.copyWithin(d, t, t + 4);
};

const movmsk = (single: boolean): Op => (c) => {
  if (c.i.mod !== 3) throw new CpuFault(UD);
  const u32 = c.s.u32, r = c.src >> 2;
  c.cpu.setReg(
    2,
    c.i.reg,
    single
      ? (u32[r] >>> 31) | ((u32[r + 1] >>> 31) << 1) | ((u32[r + 2] >>> 31) << 2) | ((u32[r + 3] >>> 31) << 3)
      : (u32[r + 1] >>> 31) | ((u32[r + 3] >>> 31) << 1),
  );
};

/** MOVSS/MOVSD load: from memory the rest is zeroed, from a register it is kept. */
const movScalar = (bytes: number): Op => {
  const fromReg = move(bytes), fromMem = move(bytes, 16);
  return (c) => (c.i.mod === 3 ? fromReg : fromMem)(c);
};
/** MOVLPS/MOVHPS/MOVLPD/MOVHPD loads; the register forms of 0F 12/16 are MOVHLPS/MOVLHPS. */
const movHalf = (toHigh: boolean, pd: boolean): Op => (c) => {
  if (pd && c.i.mod === 3) throw new CpuFault(UD);
  const from = c.i.mod === 3 && !toHigh ? c.src + 8 : c.src;
  c.s.u8.copyWithin(c.d + (toHigh ? 8 : 0), from, from + 8);
};
const storeHalf = (high: boolean): Op => {
  const st = storeTo(8, false);
  return (c) => {
    if (c.i.mod === 3) throw new CpuFault(UD);
    redirected(st, c, c.d + (high ? 8 : 0), c.src);
  };
};

/** CVTPI2PS/CVTPI2PD: two dwords of an MMX register (or m64) to the low lanes of an XMM one. */
const cvtFromMmx = (kind: "f32" | "f64"): Op => {
  const cv = convert(2, kind === "f64" ? 16 : 8, i32At, kind);
  return (c) => {
    redirected(cv, c, c.d, c.i.mod === 3 ? regOff(false, c.i.rm) : c.src);
    if (c.i.mod === 3) c.s.enterMmx(-1);
  };
};
/** CVT(T)PS2PI/CVT(T)PD2PI: two lanes of an XMM register (or memory) to an MMX register. */
const cvtToMmx = (get: (c: Ctx, k: number) => number, truncate: boolean): Op => {
  const cv = convert(2, 8, rounded(get, truncate), "i32");
  return (c) => {
    redirected(cv, c, regOff(false, c.i.reg), c.src);
    c.s.enterMmx(c.i.reg);
  };
};

/** Registers every floating-point row into the dispatch table of exec.ts. */
export function registerFloat(): void {
  const X = K_XMM;
  put(0x10, 0, X, S_UNALIGNED, move(16));
  put(0x10, 1, X, S_UNALIGNED, move(16));
  put(0x10, 2, X, S_D, movScalar(4));
  put(0x10, 3, X, S_Q, movScalar(8));
  put(0x11, 0, X, S_NONE, storeTo(16, false));
  put(0x11, 1, X, S_NONE, storeTo(16, false));
  put(0x11, 2, X, S_NONE, storeTo(4, false));
  put(0x11, 3, X, S_NONE, storeTo(8, false));
  put(0x12, 0, X, S_Q, movHalf(false, false));
  put(0x12, 1, X, S_Q, movHalf(false, true));
  put(0x13, 0, X, S_NONE, storeHalf(false));
  put(0x13, 1, X, S_NONE, storeHalf(false));
  put(0x16, 0, X, S_Q, movHalf(true, false));
  put(0x16, 1, X, S_Q, movHalf(true, true));
  put(0x17, 0, X, S_NONE, storeHalf(true));
  put(0x17, 1, X, S_NONE, storeHalf(true));
  put(0x14, 0, X, S_FULL, unpckps(false, 4));
  put(0x15, 0, X, S_FULL, unpckps(true, 4));
  put(0x14, 1, X, S_FULL, unpckps(false, 8));
  put(0x15, 1, X, S_FULL, unpckps(true, 8));
  for (const pfx of [0, 1]) {
    put(0x28, pfx, X, S_FULL, move(16));
    put(0x29, pfx, X, S_NONE, storeTo(16, true));
    put(0x2b, pfx, X, S_NONE, memoryOnly(storeTo(16, true)));
    put(0x50, pfx, X, S_FULL, movmsk(pfx === 0));
    put(0x54, pfx, X, S_FULL, bitwise.and);
    put(0x55, pfx, X, S_FULL, bitwise.andn);
    put(0x56, pfx, X, S_FULL, bitwise.or);
    put(0x57, pfx, X, S_FULL, bitwise.xor);
    put(0x2e, pfx, X, pfx ? S_Q : S_D, comis(pfx === 0, false));
    put(0x2f, pfx, X, pfx ? S_Q : S_D, comis(pfx === 0, true));
  }
  const OPS: [number, Kind][] = [[0x58, "add"], [0x59, "mul"], [0x5c, "sub"], [0x5e, "div"], [0x51, "sqrt"]];
  // Prefix order: PS (none), PD (66), SS (F3), SD (F2).
  const FORMS: [boolean, number, number][] = [[true, 4, S_FULL], [false, 2, S_FULL], [true, 1, S_D], [
    false,
    1,
    S_Q,
  ]];
  FORMS.forEach(([single, count, src], pfx) => {
    for (const [op, f] of OPS) put(op, pfx, X, src, arith(single, count, f));
    put(0x5d, pfx, X, src, minmax(single, count, false));
    put(0x5f, pfx, X, src, minmax(single, count, true));
    put(0xc2, pfx, X, src, cmp(single, count));
  });
  put(0xc6, 0, X, S_FULL, shufps);
  put(0xc6, 1, X, S_FULL, shufpd);
  put(0x2a, 2, X, S_NONE, cvtFromGpr(true));
  put(0x2a, 3, X, S_NONE, cvtFromGpr(false));
  put(0x2c, 2, X, S_D, cvtToGpr(true, true));
  put(0x2c, 3, X, S_Q, cvtToGpr(false, true));
  put(0x2d, 2, X, S_D, cvtToGpr(true, false));
  put(0x2d, 3, X, S_Q, cvtToGpr(false, false));
  put(0x5a, 0, X, S_Q, convert(2, 16, f32At, "f64"));
  put(0x5a, 1, X, S_FULL, convert(2, 16, f64At, "f32"));
  put(0x5a, 2, X, S_D, convert(1, 0, f32At, "f64"));
  put(0x5a, 3, X, S_Q, convert(1, 0, f64At, "f32"));
  put(0x5b, 0, X, S_FULL, convert(4, 16, i32At, "f32"));
  put(0x5b, 1, X, S_FULL, convert(4, 16, rounded(f32At, false), "i32"));
  put(0x5b, 2, X, S_FULL, convert(4, 16, rounded(f32At, true), "i32"));
  put(0xe6, 1, X, S_FULL, convert(2, 16, rounded(f64At, true), "i32"));
  put(0xe6, 3, X, S_FULL, convert(2, 16, rounded(f64At, false), "i32"));
  put(0xe6, 2, X, S_Q, convert(2, 16, i32At, "f64"));
  put(0x2a, 0, X, S_Q, cvtFromMmx("f32"));
  put(0x2a, 1, X, S_Q, cvtFromMmx("f64"));
  put(0x2c, 0, X, S_Q, cvtToMmx(f32At, true));
  put(0x2d, 0, X, S_Q, cvtToMmx(f32At, false));
  put(0x2c, 1, X, S_FULL, cvtToMmx(f64At, true));
  put(0x2d, 1, X, S_FULL, cvtToMmx(f64At, false));
}
