/**
 * MXCSR for SSE/SSE2 floating point (SDM Vol. 1, 10.2.3 and 11.5): rounding by RC, flush-to-zero
 * and denormals-are-zero, and the six exception flags. An instruction accumulates the exceptions
 * of its lanes with `signal`, builds its result aside (TEMP) and calls `finish`, which sets the
 * flags in MXCSR and, if any of them is unmasked, raises #XM (CR4.OSXMMEXCPT set) or #UD before
 * the destination is written, as the SDM requires.
 *
 * Where QEMU 7.2's softfloat differs, we follow the SDM (the sse_exc guest's .sdm.txt): QEMU
 * never raises #XM/#UD for unmasked SSE exceptions (it stores the masked result), and it does
 * not set DE for denormal operands.
 *
 * Results are computed as the nearest double with the sign of the exact error (fpu/round.ts),
 * then rounded to the destination format by RC.
 */
import { CpuFault, UD, XM } from "../faults.ts";
import { direct, errSign, nextFloat32 } from "../fpu/round.ts";
import { CR4_OSXMMEXCPT } from "../state.ts";
import type { Ctx } from "./exec.ts";

export const IE = 0x01, DE = 0x02, ZE = 0x04, OE = 0x08, UE = 0x10, PE = 0x20;
const DAZ = 0x40, FTZ = 0x8000;
const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_CHOP = 3;

const MIN_SINGLE = 1.1754943508222875e-38, MAX_SINGLE = 3.4028234663852886e38;
const MIN_DOUBLE = 2.2250738585072014e-308;

/** Exceptions the current instruction has detected so far. */
let pending = 0;

export function begin(): void {
  pending = 0;
}

export function signal(bits: number): void {
  pending |= bits;
}

/** Sets the detected flags in MXCSR; raises #XM/#UD when one of them is unmasked. */
export function finish(c: Ctx): void {
  if (!pending) return;
  const mxcsr = c.s.mxcsr;
  c.s.mxcsr = mxcsr | pending;
  if (pending & ~(mxcsr >> 7) & 0x3f) throw new CpuFault(c.cpu.cr[4] & CR4_OSXMMEXCPT ? XM : UD);
}

const rcOf = (mxcsr: number) => (mxcsr >> 13) & 3;

/** An operand as the operation sees it: denormals become zero under DAZ, or signal DE. */
export function operand(v: number, single: boolean, mxcsr: number): number {
  if (v === 0 || v !== v || Math.abs(v) >= (single ? MIN_SINGLE : MIN_DOUBLE) || !Number.isFinite(v)) {
    return v;
  }
  if (mxcsr & DAZ) return v < 0 ? -0 : 0;
  pending |= DE;
  return v;
}

/**
 * Rounds r (the nearest double to an exact result lying on side `errSign` of it) to single or
 * double precision by MXCSR, signalling OE, UE and PE. `r` is finite or an overflowed infinity.
 */
export function round(r: number, err: number, single: boolean, mxcsr: number): number {
  const rc = rcOf(mxcsr);
  if (r !== r || r === 0 && err === 0) return r;
  const max = single ? MAX_SINGLE : Number.MAX_VALUE;
  let out: number;
  let inexact: boolean;
  if (!Number.isFinite(r) || Math.abs(r) > max) {
    pending |= OE | PE;
    const towardZero = rc === RC_CHOP || (rc === RC_DOWN && r > 0) || (rc === RC_UP && r < 0);
    return towardZero ? (r > 0 ? max : -max) : r > 0 ? Infinity : -Infinity;
  }
  if (single) {
    out = roundSingle(r, err, rc);
    inexact = out !== r || err !== 0;
    if (Math.abs(out) > MAX_SINGLE) {
      pending |= OE | PE;
      return out;
    }
  } else {
    out = direct(r, err, rc);
    inexact = errSign !== 0 || err !== 0;
    if (!Number.isFinite(out)) {
      pending |= OE | PE;
      return out;
    }
  }
  const tiny = single ? tinySingle(r, err, rc) : tinyDouble(r, err, rc);
  if (tiny && (mxcsr & FTZ) && (mxcsr & (UE << 7))) {
    pending |= UE | PE;
    return r < 0 ? -0 : 0;
  }
  if (inexact) pending |= PE;
  if (tiny && (inexact || !(mxcsr & (UE << 7)))) pending |= UE;
  return out;
}

/** r (a double, exact result on side `err` of it) rounded to single precision by RC. */
function roundSingle(r: number, err: number, rc: number): number {
  const out = Math.fround(r);
  // r is a single; the exact value may still lie off it.
  if (out === r) return err !== 0 ? directSingle(out, err, rc) : out;
  const below = r > out ? out : nextFloat32(out, -1), above = r > out ? nextFloat32(out, 1) : out;
  if (rc === RC_NEAREST) {
    const mid = (below + above) / 2;
    return r === mid && err !== 0 ? (err > 0 ? above : below) : out;
  }
  if (rc === RC_DOWN) return below;
  if (rc === RC_UP) return above;
  return r > 0 ? below : above;
}

/**
 * Underflow's tininess is detected after rounding (SDM Vol. 1, 4.9.1.5: "the result of rounding
 * with unbounded exponent" is below the smallest normal), so an exact result just under the
 * smallest normal that rounds up to it is not tiny. Scaling by 2^64 gives the unbounded exponent.
 */
function tinySingle(r: number, err: number, rc: number): boolean {
  if (Math.abs(r) >= MIN_SINGLE) return false;
  return Math.abs(roundSingle(r * 2 ** 64, err, rc)) < MIN_SINGLE * 2 ** 64;
}

/**
 * The same for double results, which arrive already rounded to double with bounded exponent: a
 * denormal is tiny; the smallest normal is tiny when the exact value lay below it and RC rounds
 * toward zero. Round to nearest then depends on the error's size, which only its sign records:
 * we take it as not tiny (the exact value is then within 2^-1075 of the smallest normal).
 */
function tinyDouble(r: number, err: number, rc: number): boolean {
  const a = Math.abs(r);
  if (a < MIN_DOUBLE) return true;
  if (a !== MIN_DOUBLE || err === 0 || (err > 0) === (r > 0)) return false;
  return rc === RC_CHOP || (rc === RC_DOWN && r > 0) || (rc === RC_UP && r < 0);
}

function directSingle(f: number, err: number, rc: number): number {
  if (rc === RC_DOWN && err < 0) return nextFloat32(f, -1);
  if (rc === RC_UP && err > 0) return nextFloat32(f, 1);
  if (rc === RC_CHOP && (f > 0 ? err < 0 : err > 0)) return nextFloat32(f, f > 0 ? -1 : 1);
  return f;
}

/**
 * Float to int32 by RC (or truncation): NaN and out of range give the integer indefinite
 * 0x80000000 with IE; an inexact conversion signals PE.
 */
export function toInt32(v: number, mxcsr: number, truncate: boolean): number {
  if (v !== v) {
    pending |= IE;
    return -2147483648;
  }
  const rc = truncate ? RC_CHOP : rcOf(mxcsr);
  let r: number;
  if (rc === RC_NEAREST) {
    r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r -= 1;
  } else r = rc === RC_DOWN ? Math.floor(v) : rc === RC_UP ? Math.ceil(v) : Math.trunc(v);
  if (r < -2147483648 || r > 2147483647) {
    pending |= IE;
    return -2147483648;
  }
  if (r !== v) pending |= PE;
  return r;
}
