/**
 * SSE/SSE2 floating point: the PS/SS/PD/SD moves, arithmetic, comparisons and conversions.
 * Doubles are exact in JS; singles round through Math.fround. An operation whose inputs carry a
 * NaN returns the first NaN input quieted and an invalid one the x86 "QNaN indefinite" (negative
 * sign), both by bits, because a JS NaN does not keep its sign or payload. MXCSR's rounding
 * control applies to conversions to integers; its exception flags are not raised (not yet done).
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

const F32_QUIET = 0x00400000, F32_INDEFINITE = 0xffc00000;
const F64_QUIET_HI = 0x00080000, F64_INDEFINITE_HI = 0xfff80000;

/** Lane-wise arithmetic: `single` picks f32 lanes, `count` how many lanes (1 for scalar). */
function arith(single: boolean, count: number, f: (a: number, b: number) => number): Op {
  return (c) => {
    const s = c.s;
    for (let k = 0; k < count; k++) {
      if (single) {
        const d = (c.d >> 2) + k, r = (c.src >> 2) + k;
        const a = s.f32[d], b = s.f32[r];
        if (a !== a) s.u32[d] |= F32_QUIET;
        else if (b !== b) s.u32[d] = s.u32[r] | F32_QUIET;
        else {
          const v = Math.fround(f(a, b));
          if (v !== v) s.u32[d] = F32_INDEFINITE;
          else s.f32[d] = v;
        }
      } else {
        const d = (c.d >> 3) + k, r = (c.src >> 3) + k;
        const a = s.f64[d], b = s.f64[r];
        if (a !== a) s.u32[2 * d + 1] |= F64_QUIET_HI;
        else if (b !== b) {
          s.u32[2 * d] = s.u32[2 * r];
          s.u32[2 * d + 1] = s.u32[2 * r + 1] | F64_QUIET_HI;
        } else {
          const v = f(a, b);
          if (v !== v) {
            s.u32[2 * d] = 0;
            s.u32[2 * d + 1] = F64_INDEFINITE_HI;
          } else s.f64[d] = v;
        }
      }
    }
  };
}

/** MIN/MAX return the source when either input is a NaN or both are zeros (SDM MINPS). */
function minmax(single: boolean, count: number, max: boolean): Op {
  return (c) => {
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

const sqrt = (single: boolean, count: number): Op => {
  // SQRT reads only the source: copy it to the destination, then apply arith in place.
  const root = arith(single, count, (a) => a < 0 ? NaN : Math.sqrt(a)), w = single ? 4 : 8;
  return (c) => {
    for (let k = 0; k < count; k++) c.s.u8.copyWithin(c.d + k * w, c.src + k * w, c.src + k * w + w);
    redirected(root, c, c.d, c.d);
  };
};

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
function cmp(single: boolean, count: number): Op {
  return (c) => {
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
const comis = (single: boolean): Op => (c) => {
  const s = c.s;
  const a = single ? s.f32[c.d >> 2] : s.f64[c.d >> 3], b = single ? s.f32[c.src >> 2] : s.f64[c.src >> 3];
  const flags = a !== a || b !== b ? ZF | PF | CF : a > b ? 0 : a < b ? CF : ZF;
  writeEflags(c.cpu, flags, ZF | PF | CF | OF | SF | 0x10);
};

/** Double to int32 by MXCSR.RC (or truncation); out of range and NaN give 0x80000000. */
function toInt(v: number, mxcsr: number, truncate: boolean): number {
  let r: number;
  const rc = truncate ? 3 : (mxcsr >> 13) & 3;
  if (rc === 0) {
    r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r -= 1;
  } else r = rc === 1 ? Math.floor(v) : rc === 2 ? Math.ceil(v) : Math.trunc(v);
  return r >= -2147483648 && r <= 2147483647 ? r : -2147483648;
}

const cvtToGpr = (single: boolean, truncate: boolean): Op => (c) => {
  const s = c.s, v = single ? s.f32[c.src >> 2] : s.f64[c.src >> 3];
  c.cpu.setReg(2, c.i.reg, toInt(v, s.mxcsr, truncate));
};
const cvtFromGpr = (single: boolean): Op => (c) => {
  const v = c.cpu.readE(c.i, 2);
  if (single) c.s.f32[c.d >> 2] = Math.fround(v);
  else c.s.f64[c.d >> 3] = v;
};

/** Lane conversions built in TEMP: `read(k)` gives lane k's value, `write` stores it. */
function convert(
  count: number,
  zeroTo: number,
  read: (c: Ctx, k: number) => number,
  kind: "f32" | "f64" | "i32",
): Op {
  return (c) => {
    const s = c.s;
    for (let k = 0; k < count; k++) {
      const v = read(c, k);
      if (kind === "f32") s.f32[(TEMP >> 2) + k] = Math.fround(v);
      else if (kind === "f64") s.f64[(TEMP >> 3) + k] = v;
      else s.i32[(TEMP >> 2) + k] = v;
    }
    const bytes = count * (kind === "f64" ? 8 : 4);
    s.u8.copyWithin(c.d, TEMP, TEMP + bytes);
    if (zeroTo > bytes) s.u8.fill(0, c.d + bytes, c.d + zeroTo);
  };
}
const f32At = (c: Ctx, k: number) => c.s.f32[(c.src >> 2) + k];
const f64At = (c: Ctx, k: number) => c.s.f64[(c.src >> 3) + k];
const i32At = (c: Ctx, k: number) => c.s.i32[(c.src >> 2) + k];
const rounded = (get: (c: Ctx, k: number) => number, truncate: boolean) => (c: Ctx, k: number) =>
  toInt(get(c, k), c.s.mxcsr, truncate);

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
    put(0x2e, pfx, X, pfx ? S_Q : S_D, comis(pfx === 0));
    put(0x2f, pfx, X, pfx ? S_Q : S_D, comis(pfx === 0));
  }
  const OPS: [number, (a: number, b: number) => number][] = [
    [0x58, (a, b) => a + b],
    [0x59, (a, b) => a * b],
    [0x5c, (a, b) => a - b],
    [0x5e, (a, b) => a / b],
  ];
  // Prefix order: PS (none), PD (66), SS (F3), SD (F2).
  const FORMS: [boolean, number, number][] = [[true, 4, S_FULL], [false, 2, S_FULL], [true, 1, S_D], [
    false,
    1,
    S_Q,
  ]];
  FORMS.forEach(([single, count, src], pfx) => {
    for (const [op, f] of OPS) put(op, pfx, X, src, arith(single, count, f));
    put(0x51, pfx, X, src, sqrt(single, count));
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
