/**
 * Conversions between the FPU's double registers and the memory formats: m32fp/m64fp (IEEE single
 * and double), m80fp (extended: sign+15-bit exponent, 64-bit significand with explicit integer
 * bit), signed m16/m32/m64 integers and m80bcd. Exceptions found while converting are returned in
 * `convFlags` (FSW bits) so the caller decides between the masked and unmasked response.
 */
import { FSW_DE, FSW_IE, FSW_OE, FSW_PE, FSW_UE } from "./state.ts";
import { errSign, roundInt, toFloat32 } from "./round.ts";

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const f32 = new Float32Array(1);
const u32s = new Uint32Array(f32.buffer);

/** FSW exception bits raised by the last conversion; C1 (rounded up) in `convUp`. */
export let convFlags = 0;
export let convUp = false;

/** The x87 default NaN (QNaN floating-point indefinite): negative, quiet, zero payload. */
export const DEFAULT_NAN: number = new Float64Array(new Uint32Array([0, 0xfff80000]).buffer)[0];

/** Low and high dwords of a double, for NaN payload and sign work. */
export function hiWord(x: number): number {
  f64[0] = x;
  return u32[1];
}
export function loWord(x: number): number {
  f64[0] = x;
  return u32[0];
}
export function fromWords(lo: number, hi: number): number {
  u32[0] = lo;
  u32[1] = hi;
  return f64[0];
}
export function isSignalling(x: number): boolean {
  return x !== x && (hiWord(x) & 0x00080000) === 0;
}
export function quiet(x: number): number {
  f64[0] = x;
  u32[1] |= 0x00080000;
  return f64[0];
}
/** The sign bit (true for -0 and negative NaNs). */
export function signBit(x: number): boolean {
  return (hiWord(x) & 0x80000000) !== 0;
}
export function withSign(x: number, negative: boolean): number {
  f64[0] = x;
  u32[1] = negative ? u32[1] | 0x80000000 : u32[1] & 0x7fffffff;
  return f64[0];
}

/** m32fp to double (exact). Denormal sources raise DE; the SNaN test is the caller's. */
export function fromM32(bits: number): number {
  convFlags = (bits & 0x7f800000) === 0 && (bits & 0x7fffff) !== 0 ? FSW_DE : 0;
  u32s[0] = bits;
  const v = f32[0];
  if (v !== v) {
    // Widen the NaN bit for bit, so a signalling NaN stays signalling.
    return fromWords(bits << 29, (bits & 0x80000000) | 0x7ff00000 | ((bits & 0x7fffff) >>> 3));
  }
  return v;
}

/** m64fp to double (exact). */
export function fromM64(lo: number, hi: number): number {
  convFlags = (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) | lo) !== 0 ? FSW_DE : 0;
  return fromWords(lo, hi);
}

/**
 * m80fp to double: exact when the value fits, else rounded to nearest (or to ±infinity/zero beyond
 * the double range). Pseudo-NaNs, pseudo-infinities and unnormals are invalid operands on a P6:
 * they load as the QNaN indefinite with IE.
 */
export function fromM80(lo: number, hi: number, se: number): number {
  convFlags = 0;
  const negative = (se & 0x8000) !== 0;
  const exp = se & 0x7fff;
  const integer = (hi & 0x80000000) !== 0;
  if (exp === 0x7fff) {
    if (!integer) {
      convFlags = FSW_IE;
      return DEFAULT_NAN;
    }
    if ((hi & 0x7fffffff) === 0 && lo === 0) return negative ? -Infinity : Infinity;
    // NaN: keep the top 52 fraction bits and the quiet bit.
    return fromWords(
      ((hi & 0x7ff) << 21 | lo >>> 11) >>> 0,
      (negative ? 0x80000000 : 0) | 0x7ff00000 | ((hi & 0x7fffffff) >>> 11),
    );
  }
  if (exp !== 0 && !integer) {
    convFlags = FSW_IE;
    return DEFAULT_NAN;
  }
  if (exp === 0 && (hi | lo) !== 0) convFlags = FSW_DE;
  // One rounding to 53 bits (hi * 2^32 is exact), then an exact power-of-two scale unless the value
  // leaves the double range.
  let m = hi * 4294967296 + lo;
  let e = (exp === 0 ? 1 : exp) - 16383 - 63;
  if (m === 0) return negative ? -0 : 0;
  while (e > 0) {
    const s = Math.min(e, 1000);
    m *= 2 ** s;
    e -= s;
  }
  while (e < 0) {
    const s = Math.max(e, -1000);
    m *= 2 ** s;
    e -= s;
  }
  return negative ? -m : m;
}

/** Scratch output of `toM80`: significand low, high dwords and the sign+exponent word. */
export const m80 = new Uint32Array(3);

/** Double to m80fp: always exact. */
export function toM80(x: number): void {
  f64[0] = x;
  const lo = u32[0], hi = u32[1];
  const sign = hi & 0x80000000 ? 0x8000 : 0;
  let e = (hi >>> 20) & 0x7ff;
  const fhi = hi & 0xfffff;
  if (e === 0x7ff) {
    m80[2] = sign | 0x7fff;
    m80[1] = (0x80000000 | fhi << 11 | lo >>> 21) >>> 0;
    m80[0] = (lo << 11) >>> 0;
    return;
  }
  if (e === 0 && (fhi | lo) === 0) {
    m80[0] = m80[1] = 0;
    m80[2] = sign;
    return;
  }
  // Normalise: significand as 1.f with the integer bit explicit.
  let mhi = (0x80000000 | fhi << 11 | lo >>> 21) >>> 0;
  let mlo = (lo << 11) >>> 0;
  if (e === 0) {
    // A double denormal is a normal extended number: shift the leading 1 up to bit 63.
    mhi = (fhi << 11 | lo >>> 21) >>> 0;
    e = 1;
    while ((mhi & 0x80000000) === 0) {
      mhi = (mhi << 1 | mlo >>> 31) >>> 0;
      mlo = (mlo << 1) >>> 0;
      e--;
    }
  }
  m80[0] = mlo;
  m80[1] = mhi;
  m80[2] = sign | (e - 1023 + 16383);
}

/**
 * Double to m32fp bits, rounded per RC. Sets OE/UE/PE in `convFlags`; `unmaskedUnderflow` makes
 * any tiny result signal UE (the unmasked response), as the SDM's underflow rules require.
 */
export function toM32(x: number, rc: number, unmaskedUnderflow: boolean): number {
  convFlags = 0;
  convUp = false;
  if (x !== x) {
    // Narrow NaN bit for bit, quiet bit kept (an SNaN store is the caller's IE case).
    f64[0] = x;
    const hi = u32[1], lo = u32[0];
    return ((hi & 0x80000000) | 0x7f800000 | (hi & 0xfffff) << 3 | lo >>> 29) >>> 0;
  }
  const f = toFloat32(x, rc);
  if (errSign !== 0) {
    convFlags |= FSW_PE;
    convUp = Math.abs(f) > Math.abs(x);
    if (!Number.isFinite(f) || Math.abs(f) > 3.4028234663852886e38 || (Math.abs(x) > 3.4028234663852886e38)) {
      convFlags |= FSW_OE;
    }
  }
  if (x !== 0 && Math.abs(x) < 1.1754943508222875e-38 && (errSign !== 0 || unmaskedUnderflow)) {
    convFlags |= FSW_UE;
  }
  f32[0] = f;
  return u32s[0];
}

/** Double to m64fp: our registers are doubles, so this is exact; tiny values may signal UE. */
export function toM64Underflow(x: number, unmaskedUnderflow: boolean): number {
  return unmaskedUnderflow && x !== 0 && Math.abs(x) < 2.2250738585072014e-308 ? FSW_UE : 0;
}

/**
 * Double to a signed integer of `bits` (16, 32 or 64) rounded per RC (or truncated for FISTTP).
 * Out of range, NaN and infinity give IE and null (the caller stores the integer indefinite when
 * masked). 64-bit results come back as bigint, narrower ones as number.
 */
export function toInt(x: number, rc: number, bits: number): number | bigint | null {
  convFlags = 0;
  convUp = false;
  if (!Number.isFinite(x)) {
    convFlags = FSW_IE;
    return null;
  }
  const r = roundInt(x, rc);
  const limit = 2 ** (bits - 1);
  if (r >= limit || r < -limit) {
    convFlags = FSW_IE;
    return null;
  }
  if (errSign !== 0) {
    convFlags = FSW_PE;
    convUp = Math.abs(r) > Math.abs(x);
  }
  return bits === 64 ? BigInt(r) : r;
}

/**
 * m80bcd (18 packed digits, sign in bit 7 of byte 9) to double; `bytes` holds the 10 bytes. Values
 * above 2^53 round to nearest.
 */
export function fromBcd(bytes: Uint8Array): number {
  let v = 0n;
  for (let i = 8; i >= 0; i--) v = v * 100n + BigInt((bytes[i] >> 4) * 10 + (bytes[i] & 15));
  const n = Number(v);
  return bytes[9] & 0x80 ? -n : n;
}

/** Double to m80bcd per RC into `bytes`; returns false (IE) when it does not fit 18 digits. */
export function toBcd(x: number, rc: number, bytes: Uint8Array): boolean {
  convFlags = 0;
  convUp = false;
  if (!Number.isFinite(x)) {
    convFlags = FSW_IE;
    return false;
  }
  const r = roundInt(x, rc);
  if (Math.abs(r) >= 1e18) {
    convFlags = FSW_IE;
    return false;
  }
  if (errSign !== 0) {
    convFlags = FSW_PE;
    convUp = Math.abs(r) > Math.abs(x);
  }
  let v = BigInt(Math.abs(r));
  for (let i = 0; i < 9; i++) {
    const two = Number(v % 100n);
    v /= 100n;
    bytes[i] = (Math.floor(two / 10) << 4) | (two % 10);
  }
  bytes[9] = signBit(r) ? 0x80 : 0;
  return true;
}

/** The packed-BCD indefinite: FFFF C000 0000 0000 0000 (byte 9 first). */
export function bcdIndefinite(bytes: Uint8Array): void {
  bytes.fill(0);
  bytes[9] = 0xff;
  bytes[8] = 0xff;
  bytes[7] = 0xc0;
}
