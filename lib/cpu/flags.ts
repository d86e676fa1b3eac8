/**
 * Lazy arithmetic flags. Flag-setting instructions only record what they did (fOp, operands,
 * result); CF, PF, AF, ZF, SF and OF are derived when an instruction reads them. Jcc after CMP
 * then costs one comparison instead of six flag computations per ALU instruction.
 *
 * Operands and results are kept as int32 masked to the operation size (8/16-bit values are
 * non-negative; 32-bit values may be negative).
 */
import { AF, ARITH_FLAGS, CF, type CpuState, OF, PF, SF, ZF } from "./state.ts";

/** fAux holds all six flags. */
export const FOP_NONE = 0;
/** ZF, SF, PF from fRes; CF, OF, AF from fAux (logic ops, shifts, multiplies). */
export const FOP_RES = 1;
export const FOP_ADD = 2;
/** ADD with carry in: fAux is the carry in. */
export const FOP_ADC = 3;
export const FOP_SUB = 4;
export const FOP_SBB = 5;
/** ADD of 1 keeping CF: fAux is the kept CF. */
export const FOP_INC = 6;
export const FOP_DEC = 7;

export const SIZE_MASK = [0xff, 0xffff, -1] as const;
export const SIGN_SHIFT = [7, 15, 31] as const;

/** PF for each low byte of a result (set when the number of one bits is even). */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let bits = 0;
  for (let b = i; b; b >>= 1) bits += b & 1;
  PARITY[i] = bits & 1 ? 0 : PF;
}

export function getCF(s: CpuState): number {
  switch (s.fOp) {
    case FOP_ADD:
      return (s.fRes >>> 0) < (s.fDst >>> 0) ? 1 : 0;
    case FOP_ADC:
      return (s.fRes >>> 0) < (s.fDst >>> 0) || (s.fAux !== 0 && s.fRes === s.fDst) ? 1 : 0;
    case FOP_SUB:
      return (s.fDst >>> 0) < (s.fSrc >>> 0) ? 1 : 0;
    case FOP_SBB:
      return (s.fDst >>> 0) < (s.fSrc >>> 0) || (s.fAux !== 0 && s.fDst === s.fSrc) ? 1 : 0;
    case FOP_INC:
    case FOP_DEC:
      return s.fAux & 1;
    default:
      return s.fAux & CF;
  }
}

export function getZF(s: CpuState): number {
  return s.fOp === FOP_NONE ? (s.fAux >> 6) & 1 : s.fRes === 0 ? 1 : 0;
}

export function getSF(s: CpuState): number {
  return s.fOp === FOP_NONE ? (s.fAux >> 7) & 1 : (s.fRes >>> SIGN_SHIFT[s.fSize]) & 1;
}

export function getOF(s: CpuState): number {
  const sh = SIGN_SHIFT[s.fSize];
  switch (s.fOp) {
    case FOP_ADD:
    case FOP_ADC:
    case FOP_INC:
      return (((s.fDst ^ s.fRes) & (s.fSrc ^ s.fRes)) >>> sh) & 1;
    case FOP_SUB:
    case FOP_SBB:
    case FOP_DEC:
      return (((s.fDst ^ s.fSrc) & (s.fDst ^ s.fRes)) >>> sh) & 1;
    default:
      return (s.fAux >> 11) & 1;
  }
}

export function getPF(s: CpuState): number {
  return s.fOp === FOP_NONE ? (s.fAux >> 2) & 1 : PARITY[s.fRes & 0xff] >> 2;
}

export function getAF(s: CpuState): number {
  if (s.fOp >= FOP_ADD) return ((s.fDst ^ s.fSrc ^ s.fRes) >> 4) & 1;
  return (s.fAux >> 4) & 1;
}

/** The six arithmetic flags as EFLAGS bits. */
export function arithFlags(s: CpuState): number {
  if (s.fOp === FOP_NONE) return s.fAux & ARITH_FLAGS;
  return getCF(s) | (getPF(s) << 2) | (getAF(s) << 4) | (getZF(s) << 6) | (getSF(s) << 7) |
    (getOF(s) << 11);
}

/** The whole EFLAGS register. */
export function readEflags(s: CpuState): number {
  return (s.eflags | arithFlags(s)) >>> 0;
}

/** Sets the arithmetic flags from EFLAGS bits (the rest of EFLAGS is the caller's business). */
export function setArith(s: CpuState, bits: number): void {
  s.fOp = FOP_NONE;
  s.fAux = bits & ARITH_FLAGS;
}

/** Records a result whose CF/OF/AF are known now (in `cfOfAf` as EFLAGS bits). */
export function setRes(s: CpuState, size: number, res: number, cfOfAf: number): void {
  s.fOp = FOP_RES;
  s.fSize = size;
  s.fRes = res & SIZE_MASK[size];
  s.fAux = cfOfAf;
}

/** Condition codes 0..15 as used by Jcc, SETcc and CMOVcc (the low nibble of the opcode). */
export function condition(s: CpuState, cc: number): boolean {
  let r: boolean;
  // CMP/SUB at 32 bits: compare the operands directly instead of deriving four flags.
  if (s.fOp === FOP_SUB && s.fSize === 2 && (cc >> 1) !== 0 && (cc >> 1) !== 5) {
    const d = s.fDst, x = s.fSrc;
    switch (cc >> 1) {
      case 1:
        r = (d >>> 0) < (x >>> 0);
        break;
      case 2:
        r = d === x;
        break;
      case 3:
        r = (d >>> 0) <= (x >>> 0);
        break;
      case 4:
        r = s.fRes < 0;
        break;
      case 6:
        r = d < x;
        break;
      default:
        r = d <= x;
    }
    return (cc & 1) ? !r : r;
  }
  switch (cc >> 1) {
    case 0:
      r = getOF(s) === 1;
      break;
    case 1:
      r = getCF(s) === 1;
      break;
    case 2:
      r = getZF(s) === 1;
      break;
    case 3:
      r = getCF(s) === 1 || getZF(s) === 1;
      break;
    case 4:
      r = getSF(s) === 1;
      break;
    case 5:
      r = getPF(s) === 1;
      break;
    case 6:
      r = getSF(s) !== getOF(s);
      break;
    default:
      r = getZF(s) === 1 || getSF(s) !== getOF(s);
  }
  return (cc & 1) ? !r : r;
}

export { AF, CF, OF, PF, SF, ZF };
