/**
 * Execution of the x87 instructions (ESC opcodes D8-DF) against an FpuState, driven by the opcode
 * table: the pending-exception check of waiting instructions, the instruction/data pointers, the
 * stack fault rules, and the masked and unmasked responses to the six exceptions.
 *
 * Pre-computation exceptions (invalid operation, denormal operand, zero divide) that are unmasked
 * leave the destination and TOP unchanged; post-computation ones (overflow, underflow, precision)
 * still deliver the result. Either way FSW.ES/B are set and the next waiting instruction raises #MF
 * (CR0.NE=1) or asserts FERR# (CR0.NE=0).
 */
import {
  CR0_EM,
  CR0_MP,
  CR0_NE,
  CR0_TS,
  EFLAGS_AF,
  EFLAGS_CF,
  EFLAGS_OF,
  EFLAGS_PF,
  EFLAGS_SF,
  EFLAGS_ZF,
  type FpuHost,
  type FpuInstruction,
} from "./host.ts";
import {
  FpuState,
  FSW_B,
  FSW_C0,
  FSW_C1,
  FSW_C2,
  FSW_C3,
  FSW_CC,
  FSW_DE,
  FSW_ES,
  FSW_EXCEPTIONS,
  FSW_IE,
  FSW_OE,
  FSW_PE,
  FSW_SF,
  FSW_UE,
  FSW_ZE,
  PC_SINGLE,
  RC_CHOP,
  RC_DOWN,
  RC_NEAREST,
  RC_UP,
  W_EMPTY,
  W_FCS,
  W_FDP,
  W_FDS,
  W_FIP,
  W_FOP,
  W_FSW,
  W_TOP,
} from "./state.ts";
import { Op, Operand, x87Form } from "./table.ts";
import * as R from "./round.ts";
import * as F from "./formats.ts";
import { fldenv, frstor, fsave, fstenv } from "./env.ts";

/** What `deviceNotAvailable` is asked about: an ESC opcode, WAIT/FWAIT, or FXSAVE/FXRSTOR. */
export const DNA_ESC = 0, DNA_WAIT = 1, DNA_FXSR = 2;

/**
 * True when the instruction raises #NM (vector 7) before it runs: ESC opcodes and FXSAVE/FXRSTOR
 * with CR0.EM or CR0.TS set, WAIT/FWAIT with both CR0.MP and CR0.TS set. (For FXSAVE/FXRSTOR,
 * CR0.EM=1 is #UD, which the core checks first.)
 */
export function deviceNotAvailable(cr0: number, kind: number): boolean {
  if (kind === DNA_WAIT) return (cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS);
  return (cr0 & (CR0_EM | CR0_TS)) !== 0;
}

// The state and host of the instruction being executed: module variables rather than arguments,
// so the helpers below stay small and nothing is allocated per instruction.
let S: FpuState = new FpuState();
let H: FpuHost;

/** Records exception flags; true when one of them is unmasked (then ES and B are set too). */
function signal(flags: number): boolean {
  S.words[W_FSW] |= flags;
  if (flags & ~S.words[0] & FSW_EXCEPTIONS) {
    S.words[W_FSW] |= FSW_ES | FSW_B;
    return true;
  }
  return false;
}

function unmasked(flags: number): boolean {
  return (flags & ~S.words[0] & FSW_EXCEPTIONS) !== 0;
}

function setC1(on: boolean): void {
  if (on) S.words[W_FSW] |= FSW_C1;
  else S.words[W_FSW] &= ~FSW_C1;
}

function setCC(cc: number): void {
  S.words[W_FSW] = S.words[W_FSW] & ~FSW_CC | cc;
}

/** Stack underflow (reading an empty register): IE+SF with C1=0. True when unmasked (abort). */
function underflow(): boolean {
  setC1(false);
  return signal(FSW_IE | FSW_SF);
}

/** Stack overflow (pushing onto a full register): IE+SF with C1=1. True when unmasked (abort). */
function overflow(): boolean {
  setC1(true);
  return signal(FSW_IE | FSW_SF);
}

/** Pushes v, or handles the overflow; false when an unmasked overflow aborted the instruction. */
function push(v: number): boolean {
  if ((S.words[W_EMPTY] >> ((S.words[W_TOP] - 1) & 7) & 1) === 0) {
    if (overflow()) return false;
    v = F.DEFAULT_NAN;
  }
  S.push(v);
  return true;
}

function rc(): number {
  return (S.words[0] >> 10) & 3;
}

/** A pending unmasked exception at a waiting instruction: #MF, or FERR# in MS-DOS compatibility mode. */
function pending(): void {
  if (H.cr0() & CR0_NE) H.fault(16);
  H.ferr();
}

/** WAIT/FWAIT: checks for a pending unmasked exception. */
export function fwait(state: FpuState, host: FpuHost): void {
  S = state;
  H = host;
  if (S.words[W_FSW] & FSW_ES) pending();
}

// ---- arithmetic -------------------------------------------------------------------------------

/** Set when the last helper met an unmasked pre-computation exception: leave destination and TOP. */
let aborted = false;

function fraction(x: number): number {
  return (F.hiWord(x) & 0xfffff) * 4294967296 + F.loWord(x);
}

/** The x87 NaN propagation rule (SDM table 4-7), quieting signalling NaNs. */
function nanResult(x: number, y: number): number {
  if (x === x) return F.quiet(y);
  if (y === y) return F.quiet(x);
  const sx = F.isSignalling(x), sy = F.isSignalling(y);
  if (sx !== sy) return F.quiet(sx ? y : x);
  return F.quiet(fraction(y) > fraction(x) ? y : x);
}

const K_ADD = 0, K_MUL = 1, K_SUB = 2, K_DIV = 3;

/** x op y with the x87's exceptions, precision control, RC and C1. `pre` carries DE from memory loads. */
function binary(k: number, x: number, y: number, pre: number): number {
  aborted = false;
  let flags = pre;
  if (x !== x || y !== y) {
    if (F.isSignalling(x) || F.isSignalling(y)) flags |= FSW_IE;
    if (signal(flags) && unmasked(flags & (FSW_IE | FSW_DE))) aborted = true;
    return nanResult(x, y);
  }
  const xi = !Number.isFinite(x), yi = !Number.isFinite(y);
  if (
    (k === K_ADD && xi && yi && x !== y) || (k === K_SUB && xi && yi && x === y) ||
    (k === K_MUL && ((xi && y === 0) || (yi && x === 0))) ||
    (k === K_DIV && ((x === 0 && y === 0) || (xi && yi)))
  ) {
    flags |= FSW_IE;
  } else if (k === K_DIV && y === 0 && !xi) {
    flags |= FSW_ZE;
  }
  if (flags) {
    if (signal(flags) && unmasked(flags & (FSW_IE | FSW_DE | FSW_ZE))) {
      aborted = true;
      return 0;
    }
    if (flags & FSW_IE) return F.DEFAULT_NAN;
  }
  let r: number;
  switch (k) {
    case K_ADD:
      r = R.add(x, y);
      break;
    case K_SUB:
      r = R.add(x, -y);
      break;
    case K_MUL:
      r = R.mul(x, y);
      break;
    default:
      r = R.div(x, y);
  }
  return finish(r, R.errSign, !xi && !yi && !(k === K_DIV && y === 0));
}

/**
 * Rounds a nearest-rounded result r (exact value on side `err`) per PC and RC, and raises
 * OE/PE and C1. `finiteInputs` says whether an infinite r means overflow.
 */
function finish(r: number, err: number, finiteInputs: boolean): number {
  const mode = rc();
  const pc = (S.words[0] >> 8) & 3;
  let flags = 0;
  if (!Number.isFinite(r) && finiteInputs) {
    flags = FSW_OE | FSW_PE;
    const max = pc === PC_SINGLE ? (2 - 2 ** -23) * 2 ** 1023 : Number.MAX_VALUE;
    if (mode === RC_CHOP || (mode === RC_DOWN && r > 0) || (mode === RC_UP && r < 0)) {
      r = r > 0 ? max : -max;
      setC1(false);
    } else setC1(true);
    signal(flags);
    return r;
  }
  if (pc === PC_SINGLE && Number.isFinite(r) && r !== 0) {
    // Precision control narrows the significand to 24 bits but keeps the exponent range, so round
    // the significand alone (scaled into [1, 2), where float32 has no overflow or denormals).
    const e = R.exponentOf(r);
    let m = R.scaleB(r, -e);
    const f = R.toFloat32(m, mode);
    if (R.errSign !== 0) {
      // m is not a float32, and m - f dominates the first rounding's error, except when m sits
      // exactly halfway between two floats under round-to-nearest: then that error decides.
      let out = f;
      if (mode === RC_NEAREST && err !== 0) {
        const other = R.nextFloat32(f, m > f ? 1 : -1);
        if (m - f === other - m && (err > 0) === (other > f)) out = other;
      }
      err = Math.sign(m - out);
      m = out;
    } else if (err !== 0) {
      // m is a float32 but the exact value is not: directed modes step one float32 ulp.
      let out = m;
      if (mode === RC_DOWN && err < 0) out = R.nextFloat32(m, -1);
      else if (mode === RC_UP && err > 0) out = R.nextFloat32(m, 1);
      else if (mode === RC_CHOP && (m > 0 ? err < 0 : err > 0)) out = R.nextFloat32(m, m > 0 ? -1 : 1);
      if (out !== m) err = -err;
      m = out;
    }
    r = R.scaleB(m, e);
  } else {
    r = R.direct(r, err, mode);
    err = R.errSign;
  }
  if (err !== 0) {
    setC1(r > 0 ? err < 0 : err > 0);
    signal(FSW_PE);
  } else setC1(false);
  return r;
}

// ---- compares ---------------------------------------------------------------------------------

const CMP_GT = 0, CMP_LT = FSW_C0, CMP_EQ = FSW_C3, CMP_UN = FSW_C3 | FSW_C2 | FSW_C0;

/** Compares x with y: the C3/C2/C0 code, or -1 when an unmasked exception aborts. */
function compare(x: number, y: number, unordered: boolean, pre: number): number {
  let flags = pre;
  let code: number;
  if (x !== x || y !== y) {
    if (!unordered || F.isSignalling(x) || F.isSignalling(y)) flags |= FSW_IE;
    code = CMP_UN;
  } else code = x > y ? CMP_GT : x < y ? CMP_LT : CMP_EQ;
  if (flags && signal(flags) && unmasked(flags)) return -1;
  return code;
}

/** FCOMI-family result into ZF/PF/CF; OF, SF and AF are cleared. */
function setEflagsCompare(code: number): void {
  const v = (code & FSW_C3 ? EFLAGS_ZF : 0) | (code & FSW_C2 ? EFLAGS_PF : 0) |
    (code & FSW_C0 ? EFLAGS_CF : 0);
  H.setEflags(EFLAGS_ZF | EFLAGS_PF | EFLAGS_CF | EFLAGS_OF | EFLAGS_SF | EFLAGS_AF, v);
  setC1(false);
}

// ---- memory operands --------------------------------------------------------------------------

let memFlags = 0;
const bcd = new Uint8Array(10);

/** Reads a memory operand of kind `kind` as a double; DE (or IE for bad m80 encodings) in memFlags. */
function readOperand(kind: number, seg: number, off: number): number {
  let v: number;
  switch (kind) {
    case Operand.M32FP:
      v = F.fromM32(H.read32(seg, off));
      memFlags = F.convFlags;
      return v;
    case Operand.M64FP: {
      const lo = H.read32(seg, off);
      v = F.fromM64(lo, H.read32(seg, (off + 4) >>> 0));
      memFlags = F.convFlags;
      return v;
    }
    case Operand.M80FP: {
      const lo = H.read32(seg, off), hi = H.read32(seg, (off + 4) >>> 0);
      v = F.fromM80(lo >>> 0, hi >>> 0, H.read16(seg, (off + 8) >>> 0));
      memFlags = F.convFlags;
      return v;
    }
    case Operand.M16INT:
      memFlags = 0;
      return H.read16(seg, off) << 16 >> 16;
    case Operand.M32INT:
      memFlags = 0;
      return H.read32(seg, off) | 0;
    case Operand.M64INT: {
      memFlags = 0;
      const lo = H.read32(seg, off) >>> 0;
      return (H.read32(seg, (off + 4) >>> 0) | 0) * 4294967296 + lo;
    }
    default: {
      memFlags = 0;
      for (let i = 0; i < 10; i++) bcd[i] = H.read8(seg, (off + i) >>> 0);
      return F.fromBcd(bcd);
    }
  }
}

const ARITH_KIND = [0, K_ADD, K_MUL, -1, -1, K_SUB, K_SUB, K_DIV, K_DIV];

/**
 * FADD..FDIVR: combines ST(0) with `operand` (a memory value or ST(i)) into ST(dest), then maybe
 * pops. The ModRM reg field fixes the order: SUB and DIV take ST(0) first, SUBR and DIVR second,
 * whichever register is the destination.
 */
function arith(op: number, dest: number, operand: number, pre: number, popAfter: boolean): void {
  const a = S.st(0);
  const reversed = op === Op.SUBR || op === Op.DIVR;
  const r = binary(ARITH_KIND[op], reversed ? operand : a, reversed ? a : operand, pre);
  if (aborted) return;
  S.setSt(dest, r);
  if (popAfter) S.pop();
}

/** Reads ST(0) and ST(i) for a register-form arithmetic op; false (after the stack fault) if one is empty. */
function bothValid(i: number, dest: number, popAfter: boolean): boolean {
  if (!S.isEmpty(0) && !S.isEmpty(i)) return true;
  if (underflow()) return false;
  S.setSt(dest, F.DEFAULT_NAN);
  if (popAfter) S.pop();
  return false;
}

const INT_BITS = [0, 0, 0, 0, 16, 32, 64, 0, 0];

function storeInt(kind: number, seg: number, off: number, value: number | bigint | null): void {
  if (kind === Operand.M16INT) H.write16(seg, off, value === null ? 0x8000 : Number(value) & 0xffff);
  else if (kind === Operand.M32INT) H.write32(seg, off, value === null ? 0x80000000 : Number(value) >>> 0);
  else {
    const v = value === null ? 0x8000000000000000n : BigInt.asUintN(64, value as bigint);
    H.checkStore?.(seg, off, 8);
    H.write32(seg, off, Number(v & 0xffffffffn));
    H.write32(seg, (off + 4) >>> 0, Number(v >> 32n));
  }
}

/** FIST/FISTP/FISTTP. */
function fist(kind: number, seg: number, off: number, popAfter: boolean, chop: boolean): void {
  let value: number | bigint | null = null;
  let flags: number;
  if (S.isEmpty(0)) {
    setC1(false);
    flags = FSW_IE | FSW_SF;
  } else {
    value = F.toInt(S.st(0), chop ? RC_CHOP : rc(), INT_BITS[kind]);
    flags = F.convFlags;
  }
  if (unmasked(flags & FSW_IE)) {
    signal(flags);
    return;
  }
  storeInt(kind, seg, off, value);
  if (flags & FSW_PE) setC1(F.convUp);
  else if (!(flags & FSW_SF)) setC1(false);
  if (flags) signal(flags);
  if (popAfter) S.pop();
}

/** FST/FSTP to memory in m32fp, m64fp or m80fp. */
function fstMemory(kind: number, seg: number, off: number, popAfter: boolean): void {
  let flags = 0;
  let x: number;
  if (S.isEmpty(0)) {
    setC1(false);
    flags = FSW_IE | FSW_SF;
    x = F.DEFAULT_NAN;
  } else x = S.st(0);
  if (kind !== Operand.M80FP && F.isSignalling(x)) {
    flags |= FSW_IE;
    x = F.quiet(x);
  }
  if (kind === Operand.M32FP) {
    const bits = F.toM32(x, rc(), unmasked(FSW_UE));
    flags |= F.convFlags;
    if (unmasked(flags & (FSW_IE | FSW_OE | FSW_UE))) {
      signal(flags);
      return;
    }
    H.write32(seg, off, bits);
    if (F.convFlags & FSW_PE) setC1(F.convUp);
  } else if (kind === Operand.M64FP) {
    flags |= F.toM64Underflow(x, unmasked(FSW_UE));
    if (unmasked(flags & (FSW_IE | FSW_UE))) {
      signal(flags);
      return;
    }
    H.checkStore?.(seg, off, 8);
    H.write32(seg, off, F.loWord(x));
    H.write32(seg, (off + 4) >>> 0, F.hiWord(x));
  } else {
    if (unmasked(flags & FSW_IE)) {
      signal(flags);
      return;
    }
    F.toM80(x);
    H.checkStore?.(seg, off, 10);
    H.write32(seg, off, F.m80[0]);
    H.write32(seg, (off + 4) >>> 0, F.m80[1]);
    H.write16(seg, (off + 8) >>> 0, F.m80[2]);
  }
  if (flags) signal(flags);
  if (popAfter) S.pop();
}

/** FLD from memory: converts (SNaN to QNaN with IE for m32/m64, DE for denormals) and pushes. */
function fldMemory(kind: number, seg: number, off: number): void {
  let v = readOperand(kind, seg, off);
  let flags = memFlags;
  if (kind !== Operand.M80FP && F.isSignalling(v)) {
    flags |= FSW_IE;
    v = F.quiet(v);
  }
  if (flags && signal(flags) && unmasked(flags)) return;
  push(v);
}

function fbstp(seg: number, off: number): void {
  let flags: number;
  let ok = false;
  if (S.isEmpty(0)) {
    setC1(false);
    flags = FSW_IE | FSW_SF;
  } else {
    ok = F.toBcd(S.st(0), rc(), bcd);
    flags = F.convFlags;
  }
  if (unmasked(flags & FSW_IE)) {
    signal(flags);
    return;
  }
  if (!ok) F.bcdIndefinite(bcd);
  H.checkStore?.(seg, off, 10);
  for (let i = 0; i < 10; i++) H.write8(seg, (off + i) >>> 0, bcd[i]);
  if (flags & FSW_PE) setC1(F.convUp);
  if (flags) signal(flags);
  S.pop();
}

// ---- the dispatcher ---------------------------------------------------------------------------

/**
 * Executes one x87 instruction. `opcode` is D8-DF, `modrm` its ModRM byte; for memory forms
 * seg/offset give the effective address (offset already wrapped to the address size).
 */
export function execute(
  state: FpuState,
  host: FpuHost,
  ins: FpuInstruction,
  opcode: number,
  modrm: number,
  seg: number,
  offset: number,
): void {
  S = state;
  H = host;
  const form = x87Form(opcode, modrm);
  if (form.op === Op.UD) host.fault(6);
  if (form.wait && (S.words[W_FSW] & FSW_ES)) pending();
  const memory = modrm < 0xc0;
  if (memory) executeMemory(form.op, form.operand, ins, seg, offset);
  else executeRegister(opcode, form.op, modrm & 7);
  // Recorded once the instruction has run (an FP exception it raised included), so a host fault
  // part-way leaves the pointers naming the previous instruction.
  if (form.recordsIp) {
    S.words[W_FIP] = ins.eip;
    S.words[W_FCS] = ins.cs;
    S.words[W_FOP] = (opcode & 7) << 8 | modrm;
    if (memory) {
      S.words[W_FDP] = offset;
      S.words[W_FDS] = host.selector(seg);
    }
  }
}

function executeMemory(op: number, kind: number, ins: FpuInstruction, seg: number, off: number): void {
  switch (op) {
    case Op.ADD:
    case Op.MUL:
    case Op.SUB:
    case Op.SUBR:
    case Op.DIV:
    case Op.DIVR: {
      const v = readOperand(kind, seg, off);
      if (S.isEmpty(0)) {
        if (!underflow()) S.setSt(0, F.DEFAULT_NAN);
        return;
      }
      arith(op, 0, v, memFlags, false);
      return;
    }
    case Op.COM:
    case Op.COMP: {
      const v = readOperand(kind, seg, off);
      let code: number;
      if (S.isEmpty(0)) {
        if (underflow()) return;
        code = CMP_UN;
      } else {
        code = compare(S.st(0), v, false, memFlags);
        if (code < 0) return;
      }
      setCC(code);
      if (op === Op.COMP) S.pop();
      return;
    }
    case Op.LD:
    case Op.ILD:
    case Op.BLD:
      if (op === Op.LD) fldMemory(kind, seg, off);
      else push(readOperand(kind, seg, off));
      return;
    case Op.ST:
    case Op.STP:
      fstMemory(kind, seg, off, op === Op.STP);
      return;
    case Op.IST:
    case Op.ISTP:
    case Op.ISTTP:
      fist(kind, seg, off, op !== Op.IST, op === Op.ISTTP);
      return;
    case Op.BSTP:
      fbstp(seg, off);
      return;
    case Op.LDCW:
      S.fcw = H.read16(seg, off);
      updateErrorSummary();
      return;
    case Op.STCW:
      H.write16(seg, off, S.fcw);
      return;
    case Op.STSW:
      H.write16(seg, off, S.fsw);
      return;
    case Op.LDENV:
      fldenv(S, H, ins.operand32, seg, off);
      updateErrorSummary();
      return;
    case Op.STENV:
      fstenv(S, H, ins.operand32, seg, off);
      S.fcw = S.fcw | FSW_EXCEPTIONS;
      return;
    case Op.RSTOR:
      frstor(S, H, ins.operand32, seg, off);
      updateErrorSummary();
      return;
    case Op.SAVE:
      fsave(S, H, ins.operand32, seg, off);
      S.init();
      return;
  }
}

/** ES and B follow the unmasked exception flags after FLDCW, FLDENV and FRSTOR. */
function updateErrorSummary(): void {
  if (S.words[W_FSW] & ~S.words[0] & FSW_EXCEPTIONS) S.words[W_FSW] |= FSW_ES | FSW_B;
  else S.words[W_FSW] &= ~(FSW_ES | FSW_B);
}

const CONSTANTS: Record<number, number> = {
  [Op.LD1]: 1,
  [Op.LDL2T]: Math.log2(10),
  [Op.LDL2E]: Math.LOG2E,
  [Op.LDPI]: Math.PI,
  [Op.LDLG2]: Math.log10(2),
  [Op.LDLN2]: Math.LN2,
  [Op.LDZ]: 0,
};

function fcmovCondition(op: number): boolean {
  const f = H.eflags();
  switch (op) {
    case Op.CMOVB:
      return (f & EFLAGS_CF) !== 0;
    case Op.CMOVE:
      return (f & EFLAGS_ZF) !== 0;
    case Op.CMOVBE:
      return (f & (EFLAGS_CF | EFLAGS_ZF)) !== 0;
    case Op.CMOVU:
      return (f & EFLAGS_PF) !== 0;
    case Op.CMOVNB:
      return (f & EFLAGS_CF) === 0;
    case Op.CMOVNE:
      return (f & EFLAGS_ZF) === 0;
    case Op.CMOVNBE:
      return (f & (EFLAGS_CF | EFLAGS_ZF)) === 0;
    default:
      return (f & EFLAGS_PF) === 0;
  }
}

/** FADDP..FDIVRP to the operation they pop after. */
const POPPING_BASE = [Op.ADD, Op.MUL, Op.SUB, Op.SUBR, Op.DIV, Op.DIVR];

function executeRegister(opcode: number, op: number, i: number): void {
  switch (op) {
    case Op.ADD:
    case Op.MUL:
    case Op.SUB:
    case Op.SUBR:
    case Op.DIV:
    case Op.DIVR:
    case Op.ADDP:
    case Op.MULP:
    case Op.SUBP:
    case Op.SUBRP:
    case Op.DIVP:
    case Op.DIVRP: {
      const popAfter = op >= Op.ADDP;
      const base = popAfter ? POPPING_BASE[op - Op.ADDP] : op;
      const dest = opcode === 0xd8 ? 0 : i;
      if (!bothValid(i, dest, popAfter)) return;
      arith(base, dest, S.st(i), 0, popAfter);
      return;
    }
    case Op.COM:
    case Op.COMP:
    case Op.UCOM:
    case Op.UCOMP:
    case Op.COMPP:
    case Op.UCOMPP:
    case Op.COMI:
    case Op.COMIP:
    case Op.UCOMI:
    case Op.UCOMIP: {
      const eflags = op === Op.COMI || op === Op.COMIP || op === Op.UCOMI || op === Op.UCOMIP;
      const unordered = op === Op.UCOM || op === Op.UCOMP || op === Op.UCOMPP || op === Op.UCOMI ||
        op === Op.UCOMIP;
      let code: number;
      if (S.isEmpty(0) || S.isEmpty(i)) {
        if (underflow()) return;
        code = CMP_UN;
      } else {
        code = compare(S.st(0), S.st(i), unordered, 0);
        if (code < 0) return;
      }
      if (eflags) setEflagsCompare(code);
      else setCC(code);
      if (op === Op.COMP || op === Op.UCOMP || op === Op.COMIP || op === Op.UCOMIP) S.pop();
      else if (op === Op.COMPP || op === Op.UCOMPP) S.pop(), S.pop();
      return;
    }
    case Op.LD: {
      if (S.isEmpty(i)) {
        if (underflow()) return;
        push(F.DEFAULT_NAN);
        return;
      }
      push(S.st(i));
      return;
    }
    case Op.ST:
    case Op.STP:
      if (S.isEmpty(0)) {
        if (underflow()) return;
        S.setSt(i, F.DEFAULT_NAN);
      } else S.setSt(i, S.st(0));
      if (op === Op.STP) S.pop();
      return;
    case Op.XCH: {
      if (S.isEmpty(0) || S.isEmpty(i)) {
        if (underflow()) return;
        if (S.isEmpty(0)) S.setSt(0, F.DEFAULT_NAN);
        if (S.isEmpty(i)) S.setSt(i, F.DEFAULT_NAN);
      } else setC1(false);
      const t = S.st(0);
      S.setSt(0, S.st(i));
      S.setSt(i, t);
      return;
    }
    case Op.CMOVB:
    case Op.CMOVE:
    case Op.CMOVBE:
    case Op.CMOVU:
    case Op.CMOVNB:
    case Op.CMOVNE:
    case Op.CMOVNBE:
    case Op.CMOVNU:
      if (S.isEmpty(0) || S.isEmpty(i)) {
        if (underflow()) return;
        S.setSt(0, F.DEFAULT_NAN);
        return;
      }
      if (fcmovCondition(op)) S.setSt(0, S.st(i));
      return;
    case Op.FREE:
      S.free(i);
      return;
    case Op.FREEP:
      S.free(i);
      S.pop();
      return;
    case Op.NOP:
    case Op.NOP287:
      return;
    case Op.CLEX:
      S.words[W_FSW] &= ~(FSW_EXCEPTIONS | FSW_SF | FSW_ES | FSW_B);
      return;
    case Op.INIT:
      S.init();
      return;
    case Op.STSWAX:
      H.setAx(S.fsw);
      return;
    case Op.INCSTP:
      S.words[W_TOP] = (S.words[W_TOP] + 1) & 7;
      setC1(false);
      return;
    case Op.DECSTP:
      S.words[W_TOP] = (S.words[W_TOP] - 1) & 7;
      setC1(false);
      return;
    case Op.LD1:
    case Op.LDL2T:
    case Op.LDL2E:
    case Op.LDPI:
    case Op.LDLG2:
    case Op.LDLN2:
    case Op.LDZ:
      push(CONSTANTS[op]);
      return;
    case Op.XAM:
      xam();
      return;
    default:
      unaryOrTranscendental(op);
  }
}

function xam(): void {
  const x = S.st(0);
  let cc: number;
  if (S.isEmpty(0)) cc = FSW_C3 | FSW_C0;
  else if (x !== x) cc = FSW_C0;
  else if (!Number.isFinite(x)) cc = FSW_C2 | FSW_C0;
  else if (x === 0) cc = FSW_C3;
  else cc = FSW_C2; // double denormals are normal extended numbers
  setCC(cc | (F.signBit(x) ? FSW_C1 : 0));
}

/** ST(0) exists; otherwise the stack fault is handled (masked: ST(0) = indefinite). */
function st0Valid(): boolean {
  if (!S.isEmpty(0)) return true;
  if (!underflow()) S.setSt(0, F.DEFAULT_NAN);
  return false;
}

/** Invalid operation on ST(0)'s operands: IE, and the indefinite unless unmasked. */
function invalid(): boolean {
  return signal(FSW_IE);
}

/** Raises the precision flag (and C1) for a result that is not exact. */
function inexact(up: boolean): void {
  setC1(up);
  signal(FSW_PE);
}

const TWO63 = 9223372036854775808;

function unaryOrTranscendental(op: number): void {
  switch (op) {
    case Op.CHS:
      if (st0Valid()) S.setSt(0, F.withSign(S.st(0), !F.signBit(S.st(0)))), setC1(false);
      return;
    case Op.ABS:
      if (st0Valid()) S.setSt(0, F.withSign(S.st(0), false)), setC1(false);
      return;
    case Op.TST: {
      if (S.isEmpty(0)) {
        if (!underflow()) setCC(CMP_UN);
        return;
      }
      const code = compare(S.st(0), 0, false, 0);
      if (code >= 0) setCC(code);
      return;
    }
    case Op.SQRT: {
      if (!st0Valid()) return;
      const x = S.st(0);
      if (x !== x) return nanUnary(x);
      if (x < 0) return invalidUnary();
      const r = R.sqrt(x);
      S.setSt(0, finish(r, R.errSign, true));
      return;
    }
    case Op.RNDINT: {
      if (!st0Valid()) return;
      const x = S.st(0);
      if (x !== x) return nanUnary(x);
      const r = R.roundInt(x, rc());
      if (R.errSign !== 0) inexact(Math.abs(r) > Math.abs(x));
      S.setSt(0, r);
      return;
    }
    case Op.SCALE:
      return fscale();
    case Op.XTRACT:
      return fxtract();
    case Op.PREM:
    case Op.PREM1:
      return fprem(op === Op.PREM1);
    case Op.SIN:
    case Op.COS:
    case Op.PTAN:
    case Op.SINCOS:
      return trig(op);
    case Op.PATAN:
    case Op.YL2X:
    case Op.YL2XP1:
      return twoOperand(op);
    case Op.F2XM1: {
      if (!st0Valid()) return;
      const x = S.st(0);
      if (x !== x) return nanUnary(x);
      if (x === 0 || x === -Infinity || x === Infinity) {
        S.setSt(0, x === -Infinity ? -1 : x);
        return;
      }
      const r = Math.expm1(x * Math.LN2);
      inexact(false);
      S.setSt(0, r);
      return;
    }
  }
}

function nanUnary(x: number): void {
  if (F.isSignalling(x) && invalid()) return;
  S.setSt(0, F.quiet(x));
}

function invalidUnary(): void {
  if (!invalid()) S.setSt(0, F.DEFAULT_NAN);
}

function fscale(): void {
  if (S.isEmpty(0) || S.isEmpty(1)) {
    if (!underflow()) S.setSt(0, F.DEFAULT_NAN);
    return;
  }
  const x = S.st(0), y = S.st(1);
  if (x !== x || y !== y) {
    const sn = F.isSignalling(x) || F.isSignalling(y);
    if (sn && invalid()) return;
    S.setSt(0, nanResult(x, y));
    return;
  }
  if ((x === 0 && y === Infinity) || (!Number.isFinite(x) && y === -Infinity)) return invalidUnary();
  if (!Number.isFinite(y)) {
    S.setSt(0, y > 0 ? x * Infinity : x * 0);
    return;
  }
  const n = Math.trunc(y);
  const r = R.scaleB(x, n);
  if (!Number.isFinite(r) && Number.isFinite(x)) {
    S.setSt(0, finish(r, 0, true));
    return;
  }
  if (r !== 0 && R.scaleB(r, -n) !== x || (r === 0 && x !== 0)) {
    // Left the double range at the bottom: the result is inexact (tiny).
    signal(FSW_UE | FSW_PE);
  }
  S.setSt(0, r);
}

function fxtract(): void {
  if (S.isEmpty(0)) {
    if (underflow()) return;
    S.setSt(0, F.DEFAULT_NAN);
    push(F.DEFAULT_NAN);
    return;
  }
  if ((S.words[W_EMPTY] >> ((S.words[W_TOP] - 1) & 7) & 1) === 0) {
    if (overflow()) return;
    S.setSt(0, F.DEFAULT_NAN);
    S.push(F.DEFAULT_NAN);
    return;
  }
  const x = S.st(0);
  let exponent: number, significand: number;
  if (x !== x) {
    if (F.isSignalling(x) && invalid()) return;
    exponent = significand = F.quiet(x);
  } else if (x === 0) {
    if (signal(FSW_ZE)) return;
    exponent = -Infinity;
    significand = x;
  } else if (!Number.isFinite(x)) {
    exponent = Infinity;
    significand = x;
  } else {
    exponent = R.exponentOf(x);
    significand = R.scaleB(x, -exponent);
  }
  S.setSt(0, exponent);
  S.push(significand);
}

function fprem(ieee: boolean): void {
  if (S.isEmpty(0) || S.isEmpty(1)) {
    if (!underflow()) S.setSt(0, F.DEFAULT_NAN);
    return;
  }
  const x = S.st(0), y = S.st(1);
  if (x !== x || y !== y) {
    if ((F.isSignalling(x) || F.isSignalling(y)) && invalid()) return;
    S.setSt(0, nanResult(x, y));
    setCC(0);
    return;
  }
  if (y === 0 || !Number.isFinite(x)) {
    setCC(0);
    return invalidUnary();
  }
  if (x === 0 || !Number.isFinite(y)) {
    setCC(0);
    return;
  }
  const d = R.exponentOf(x) - R.exponentOf(y);
  if (d >= 64) {
    // Partial remainder: reduce by y * 2^(d - N) and ask for another pass (C2=1).
    const n = 32 + (d % 32);
    const scaled = R.scaleB(y, d - n);
    S.setSt(0, x % scaled);
    setCC(FSW_C2);
    return;
  }
  let r = x % y;
  // The quotient's low three bits: (x mod 8y - x mod y) / y, all exact in double.
  const y8 = y * 8;
  let q = Number.isFinite(y8) ? Math.round(Math.abs((x % y8) - r) / Math.abs(y)) & 7 : 0;
  if (ieee) {
    const ay = Math.abs(y), ar = Math.abs(r);
    const twice = ar * 2;
    if (twice > ay || (twice === ay && (q & 1) === 1)) {
      r = r > 0 || (r === 0 && x > 0) ? r - ay : r + ay;
      q = (q + 1) & 7;
    }
  }
  if (r === 0) r = F.withSign(0, F.signBit(x));
  S.setSt(0, r);
  setCC((q & 4 ? FSW_C0 : 0) | (q & 2 ? FSW_C3 : 0) | (q & 1 ? FSW_C1 : 0));
}

function trig(op: number): void {
  const pushes = op === Op.PTAN || op === Op.SINCOS;
  if (S.isEmpty(0)) {
    if (underflow()) return;
    S.setSt(0, F.DEFAULT_NAN);
    if (pushes) push(F.DEFAULT_NAN);
    return;
  }
  if (pushes && (S.words[W_EMPTY] >> ((S.words[W_TOP] - 1) & 7) & 1) === 0) {
    if (overflow()) return;
    S.setSt(0, F.DEFAULT_NAN);
    S.push(F.DEFAULT_NAN);
    return;
  }
  const x = S.st(0);
  if (x !== x) {
    if (F.isSignalling(x) && invalid()) return;
    S.setSt(0, F.quiet(x));
    if (pushes) S.push(F.quiet(x));
    return;
  }
  if (!Number.isFinite(x)) {
    if (invalid()) return;
    S.setSt(0, F.DEFAULT_NAN);
    if (pushes) S.push(F.DEFAULT_NAN);
    return;
  }
  if (Math.abs(x) >= TWO63) {
    setCC(FSW_C2);
    return;
  }
  setCC(0);
  if (x === 0 && op !== Op.COS) {
    if (op === Op.PTAN) S.push(1);
    else if (op === Op.SINCOS) S.push(1);
    return;
  }
  switch (op) {
    case Op.SIN:
      S.setSt(0, Math.sin(x));
      break;
    case Op.COS:
      S.setSt(0, Math.cos(x));
      break;
    case Op.PTAN:
      S.setSt(0, Math.tan(x));
      S.push(1);
      break;
    default: {
      const s = Math.sin(x);
      S.setSt(0, s);
      S.push(Math.cos(x));
    }
  }
  inexact(false);
}

function twoOperand(op: number): void {
  if (S.isEmpty(0) || S.isEmpty(1)) {
    if (underflow()) return;
    S.setSt(1, F.DEFAULT_NAN);
    S.pop();
    return;
  }
  const x = S.st(0), y = S.st(1);
  let r: number;
  let flags = 0;
  if (x !== x || y !== y) {
    if (F.isSignalling(x) || F.isSignalling(y)) flags = FSW_IE;
    r = nanResult(x, y);
  } else if (op === Op.PATAN) {
    r = Math.atan2(y, x);
    if (r !== 0) flags = FSW_PE;
  } else if (op === Op.YL2X) {
    // ST(1) * log2(ST(0)): invalid for negative ST(0), 0 * log2(0), inf * log2(1), 0 * log2(inf).
    if (x < 0 || (x === 0 && y === 0) || (x === 1 && !Number.isFinite(y)) || (x === Infinity && y === 0)) {
      flags = FSW_IE;
      r = F.DEFAULT_NAN;
    } else if (x === 0) {
      flags = FSW_ZE;
      r = y > 0 ? -Infinity : Infinity;
    } else {
      const log = Math.log2(x);
      r = y * log;
      // Exact powers of two give exact logarithms; everything else is rounded.
      if (Number.isFinite(r) && !(Number.isInteger(log) && Math.abs(log) < 1100)) flags = FSW_PE;
    }
  } else {
    // FYL2XP1: ST(1) * log2(ST(0) + 1), computed with log1p so small ST(0) keep their precision.
    if (x < -1 || (!Number.isFinite(y) && x === 0)) {
      flags = FSW_IE;
      r = F.DEFAULT_NAN;
    } else {
      r = y * (Math.log1p(x) / Math.LN2);
      if (Number.isFinite(r) && x !== 0) flags = FSW_PE;
    }
  }
  if (flags && signal(flags) && unmasked(flags & (FSW_IE | FSW_ZE))) return;
  if (flags & FSW_PE) setC1(false);
  S.setSt(1, r);
  S.pop();
}
