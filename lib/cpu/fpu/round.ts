/**
 * Exact-error arithmetic on doubles: each x87 operation is computed in double precision and its
 * rounding error recovered exactly (TwoSum, Dekker's TwoProduct), so the FPU can report inexact
 * results (PE), the round-up indicator (C1) and honour RC's directed rounding modes although
 * JavaScript itself only rounds to nearest.
 */
import { RC_CHOP, RC_DOWN, RC_NEAREST, RC_UP } from "./state.ts";

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const f32 = new Float32Array(1);
const u32s = new Uint32Array(f32.buffer);

/** The double next toward +infinity. */
export function nextUp(x: number): number {
  if (x !== x || x === Infinity) return x;
  if (x === 0) return Number.MIN_VALUE;
  f64[0] = x;
  let lo = u32[0], hi = u32[1];
  if (x > 0) {
    lo = (lo + 1) >>> 0;
    if (lo === 0) hi++;
  } else {
    if (lo === 0) hi--;
    lo = (lo - 1) >>> 0;
  }
  u32[0] = lo;
  u32[1] = hi;
  return f64[0];
}

export function nextDown(x: number): number {
  return -nextUp(-x);
}

/** The float32 next to f (a float32 value) in direction dir (+1 or -1). */
export function nextFloat32(f: number, dir: number): number {
  if (f === 0) {
    u32s[0] = dir > 0 ? 1 : 0x80000001;
    return f32[0];
  }
  f32[0] = f;
  u32s[0] += (f > 0) === (dir > 0) ? 1 : -1;
  return f32[0];
}

/**
 * The sign of the rounding error (exact - rounded) recovered by the last helper: -1, 0 or +1.
 * Module state rather than a returned pair keeps the hot path allocation-free.
 */
export let errSign = 0;

/** a + b with its error sign in `errSign`. */
export function add(a: number, b: number): number {
  const s = a + b;
  if (!Number.isFinite(s)) {
    errSign = 0;
    return s;
  }
  const bb = s - a;
  const err = (a - (s - bb)) + (b - bb);
  errSign = err > 0 ? 1 : err < 0 ? -1 : 0;
  return s;
}

const SPLIT = 134217729; // 2^27 + 1

/** The low part of a*b (a*b - fl(a*b) exactly), valid while no partial product overflows. */
function productError(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

/** Scale used to keep Dekker's split inside the double range for huge or tiny operands. */
function safeProductErrorSign(a: number, b: number, p: number): number {
  const ea = Math.abs(a) > 1e150 ? -600 : Math.abs(a) < 1e-150 && a !== 0 ? 600 : 0;
  const eb = Math.abs(b) > 1e150 ? -600 : Math.abs(b) < 1e-150 && b !== 0 ? 600 : 0;
  if (ea === 0 && eb === 0) {
    if (p !== 0 && Math.abs(p) < 1e-290) {
      return Math.sign(productError(a * 2 ** 600, b, p * 2 ** 600));
    }
    return Math.sign(productError(a, b, p));
  }
  const sa = a * 2 ** ea, sb = b * 2 ** eb;
  const sp = p * 2 ** ea * 2 ** eb;
  if (!Number.isFinite(sp) || (sp === 0 && p !== 0)) return 0;
  // p was rounded in the unscaled range; if scaling p back is inexact the comparison is approximate.
  return Math.sign(productError(sa, sb, sp));
}

/** a * b with its error sign in `errSign`. */
export function mul(a: number, b: number): number {
  const p = a * b;
  if (!Number.isFinite(p) || !Number.isFinite(a) || !Number.isFinite(b)) {
    errSign = 0;
    return p;
  }
  if (p === 0) {
    errSign = a === 0 || b === 0 ? 0 : (a > 0) === (b > 0) ? 1 : -1;
    return p;
  }
  errSign = safeProductErrorSign(a, b, p);
  return p;
}

/** a / b with its error sign in `errSign` (the sign of a/b - q). */
export function div(a: number, b: number): number {
  const q = a / b;
  if (!Number.isFinite(q) || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    errSign = 0;
    return q;
  }
  if (q === 0) {
    errSign = a === 0 ? 0 : (a > 0) === (b > 0) ? 1 : -1;
    return q;
  }
  // a/b - q has the sign of (a - q*b)/b; a - q*b = (a - p) - e with p = fl(q*b), e its error.
  const p = q * b;
  const pe = safeProductErrorSign(q, b, p);
  const d = a - p; // exact when the quotient is correctly rounded (Sterbenz-like range)
  const rem = d !== 0 ? Math.sign(d) : -pe;
  errSign = b > 0 ? rem : -rem;
  return q;
}

/** sqrt(a) with its error sign in `errSign`. */
export function sqrt(a: number): number {
  const r = Math.sqrt(a);
  if (!Number.isFinite(r) || r === 0) {
    errSign = 0;
    return r;
  }
  const p = r * r;
  const pe = safeProductErrorSign(r, r, p);
  const d = a - p;
  errSign = d !== 0 ? Math.sign(d) : -pe;
  return r;
}

/**
 * Applies RC to a round-to-nearest result r whose exact value lies on side `err` of it. Returns the
 * directed result; `errSign` then holds the sign of (exact - result).
 */
export function direct(r: number, err: number, rc: number): number {
  errSign = err;
  if (err === 0 || rc === RC_NEAREST) return r;
  let out = r;
  if (rc === RC_DOWN) {
    if (err < 0) out = nextDown(r);
  } else if (rc === RC_UP) {
    if (err > 0) out = nextUp(r);
  } else if (rc === RC_CHOP) {
    if (r > 0 && err < 0) out = nextDown(r);
    else if (r < 0 && err > 0) out = nextUp(r);
    else if (r === 0) out = r;
  }
  if (out !== r) errSign = -err;
  return out;
}

/** Rounds a double to float32 per RC, setting `errSign` to the sign of (x - result). */
export function toFloat32(x: number, rc: number): number {
  let f = Math.fround(x);
  if (f === x || x !== x) {
    errSign = 0;
    return f;
  }
  let err = x > f ? 1 : x < f ? -1 : 0;
  if (!Number.isFinite(f)) {
    // fround overflowed: directed modes that round toward zero stop at the largest float32.
    const max = 3.4028234663852886e38;
    if (rc === RC_CHOP || (rc === RC_DOWN && x > 0) || (rc === RC_UP && x < 0)) {
      f = x > 0 ? max : -max;
      err = x > 0 ? 1 : -1;
    }
    errSign = err;
    return f;
  }
  if (rc === RC_DOWN && err < 0) f = nextFloat32(f, -1), err = 1;
  else if (rc === RC_UP && err > 0) f = nextFloat32(f, 1), err = -1;
  else if (rc === RC_CHOP && (f > 0 ? err < 0 : err > 0)) f = nextFloat32(f, f > 0 ? -1 : 1), err = -err;
  errSign = err;
  return f;
}

/** Rounds to an integer per RC (round-half-even for nearest), setting `errSign`. */
export function roundInt(x: number, rc: number): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 4503599627370496) {
    errSign = 0;
    return x;
  }
  let r: number;
  switch (rc) {
    case RC_DOWN:
      r = Math.floor(x);
      break;
    case RC_UP:
      r = Math.ceil(x);
      break;
    case RC_CHOP:
      r = Math.trunc(x);
      break;
    default: {
      r = Math.floor(x);
      const d = x - r;
      if (d > 0.5 || (d === 0.5 && r % 2 !== 0)) r += 1;
    }
  }
  if (r === 0) r = x < 0 || Object.is(x, -0) ? -0 : 0;
  errSign = x > r ? 1 : x < r ? -1 : 0;
  return r;
}

/** x * 2^n, exact unless the result leaves the double range. */
export function scaleB(x: number, n: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  if (n > 3000) n = 3000;
  if (n < -3000) n = -3000;
  while (n > 1000) x *= 2 ** 1000, n -= 1000;
  while (n < -1000) x *= 2 ** -1000, n += 1000;
  return x * 2 ** n;
}

/** The unbiased binary exponent of a finite non-zero double (floor(log2|x|)), denormals included. */
export function exponentOf(x: number): number {
  f64[0] = x;
  const e = (u32[1] >>> 20) & 0x7ff;
  if (e !== 0) return e - 1023;
  f64[0] = x * 2 ** 64;
  return ((u32[1] >>> 20) & 0x7ff) - 1023 - 64;
}
