/**
 * The x86 instruction decoder: prefixes, the opcode map of opcodes.ts, ModRM/SIB in 16- and
 * 32-bit addressing, displacements and immediates, into an Insn record. It reads code bytes
 * through a callback so the caller decides how fetches translate (TLB, faults).
 */
import { Insn } from "./insn.ts";
import { MAP, type OpcodeEntry, REG_FORMS } from "./opcodes.ts";
import { DS, SS } from "./state.ts";

/** Raised when the bytes are no instruction (#UD) or longer than 15 bytes (#GP). */
export class DecodeError {
  constructor(
    readonly vector: number,
    /** The bytes read before the decoder gave up. */
    readonly length = 0,
    /**
     * No opcode-map row at all (QEMU's translator calls this an unknown opcode and logs it under
     * `-d unimp`), as opposed to a known instruction in a form that does not exist.
     */
    readonly unknown = false,
  ) {}
}

/** UD2's row (0F 0B), whose handler raises #UD. */
export const UD2_ROW = MAP[0x10b] as OpcodeEntry;

/** What bytes that are no instruction stand for in a block: UD2 over the `length` bytes read. */
export function undefinedInstruction(length: number, bind: (e: OpcodeEntry) => Insn["h"]): Insn {
  const i = new Insn();
  i.entry = UD2_ROW;
  i.arg = UD2_ROW.arg;
  i.len = length;
  i.h = bind(UD2_ROW);
  return i;
}

/** The instructions LOCK may prefix (SDM Vol. 2, LOCK), when their destination is in memory. */
const LOCKABLE = new Set(["alu", "incdec", "not", "neg", "bt", "xchg", "xadd", "cmpxchg", "cmpxchg8b"]);
const ALU_CMP = 7, BT_TEST = 0;

/** LOCK anywhere else is #UD: other instructions, register destinations, CMP and BT. */
function lockable(e: OpcodeEntry, i: Insn): boolean {
  if (!LOCKABLE.has(e.handler) || i.mod === 3) return false;
  const first = e.operands[0]?.[0];
  if (first !== "E" && first !== "M") return false;
  return !(e.handler === "alu" && e.arg === ALU_CMP) && !(e.handler === "bt" && e.arg === BT_TEST);
}

const BASE16 = [3, 3, 5, 5, 6, 7, 5, 3];
const INDEX16 = [6, 7, 6, 7, -1, -1, -1, -1];

/** Size letter of an operand to the main operand size (0/1/2), or -1 for "not sized". */
function operandSize(op: string, opsize32: boolean): number {
  if (op === "AL" || op === "CL") return 0;
  if (op === "eAX") return opsize32 ? 2 : 1;
  if (op === "DX" || op === "1" || op[0] === "I" || op[0] === "J" || op === "Ap") return -1;
  if (op === "ES" || op === "CS" || op === "SS" || op === "DS" || op === "FS" || op === "GS") return -1;
  const letter = op[op.length - 1];
  if (letter === "b") return 0;
  if (letter === "w") return 1;
  if (letter === "d" || letter === "q") return 2;
  if (letter === "v") return opsize32 ? 2 : 1;
  return -1;
}

export function mainSize(e: OpcodeEntry, opsize32: boolean): number {
  for (const op of e.operands) {
    const s = operandSize(op, opsize32);
    if (s >= 0) return s;
  }
  return opsize32 ? 2 : 1;
}

/**
 * Decodes one instruction. `fetch(n)` returns the n-th code byte from the instruction's start.
 * `bind` turns the matched row into the handler stored in the record.
 */
export function decode(
  fetch: (n: number) => number,
  code32: boolean,
  bind: (e: OpcodeEntry) => Insn["h"],
): Insn {
  const i = new Insn();
  let pos = 0;
  let opsize32 = code32, adsize32 = code32;
  let b = fetch(pos++);
  let seg = -1;
  for (;;) {
    if (b === 0x66) opsize32 = !code32;
    else if (b === 0x67) adsize32 = !code32;
    else if (b === 0xf3) i.rep = 1;
    else if (b === 0xf2) i.rep = 2;
    else if (b === 0xf0) i.lock = true;
    else if (b === 0x26) seg = 0;
    else if (b === 0x2e) seg = 1;
    else if (b === 0x36) seg = 2;
    else if (b === 0x3e) seg = 3;
    else if (b === 0x64) seg = 4;
    else if (b === 0x65) seg = 5;
    else break;
    if (pos >= 15) throw new DecodeError(13);
    b = fetch(pos++);
  }
  let opcode = b;
  if (b === 0x0f) opcode = 0x100 + fetch(pos++);
  if (opcode === 0x138) opcode = 0x200 + fetch(pos++);
  const slot = MAP[opcode];
  let modrm = -1;
  let e: OpcodeEntry | undefined;
  if (Array.isArray(slot)) {
    modrm = fetch(pos++);
    e = slot[(modrm >> 3) & 7];
    if (modrm >= 0xc0 && REG_FORMS.has((opcode << 8) | modrm)) e = REG_FORMS.get((opcode << 8) | modrm);
  } else {
    e = slot;
    if (e?.hasModrm) modrm = fetch(pos++);
  }
  if (!e) throw new DecodeError(6, pos, true);
  i.entry = e;
  i.arg = e.arg;
  i.opsize32 = opsize32;
  i.adsize32 = adsize32;
  i.size = mainSize(e, opsize32);
  let defaultSeg = DS;
  if (modrm >= 0) {
    const mod = modrm >> 6, rm = modrm & 7;
    i.mod = mod;
    i.reg = (modrm >> 3) & 7;
    i.rm = rm;
    if (mod !== 3) {
      if (adsize32) {
        let base = rm;
        if (rm === 4) {
          const sib = fetch(pos++);
          i.scale = sib >> 6;
          const index = (sib >> 3) & 7;
          i.index = index === 4 ? -1 : index;
          base = sib & 7;
          if (base === 5 && mod === 0) {
            base = -1;
            i.disp = fetch(pos) | (fetch(pos + 1) << 8) | (fetch(pos + 2) << 16) | (fetch(pos + 3) << 24);
            pos += 4;
          }
        } else if (rm === 5 && mod === 0) {
          base = -1;
          i.disp = fetch(pos) | (fetch(pos + 1) << 8) | (fetch(pos + 2) << 16) | (fetch(pos + 3) << 24);
          pos += 4;
        }
        i.base = base;
        if (base === 4 || base === 5) defaultSeg = SS;
        if (mod === 1) i.disp = (fetch(pos++) << 24) >> 24;
        else if (mod === 2) {
          i.disp = fetch(pos) | (fetch(pos + 1) << 8) | (fetch(pos + 2) << 16) | (fetch(pos + 3) << 24);
          pos += 4;
        }
      } else {
        if (mod === 0 && rm === 6) {
          i.base = -1;
          i.disp = fetch(pos) | (fetch(pos + 1) << 8);
          pos += 2;
        } else {
          i.base = BASE16[rm];
          i.index = INDEX16[rm];
          if (rm === 2 || rm === 3 || rm === 6) defaultSeg = SS;
          if (mod === 1) i.disp = (fetch(pos++) << 24) >> 24;
          else if (mod === 2) {
            i.disp = (fetch(pos) | (fetch(pos + 1) << 8)) << 16 >> 16;
            pos += 2;
          }
        }
      }
    } else if (e.operands.some((o) => o[0] === "M")) {
      throw new DecodeError(6, pos);
    }
  }
  // Operands outside ModRM: Z registers, moffs, immediates.
  let immCount = 0;
  for (const op of e.operands) {
    const k = op[0];
    if (k === "Z") {
      i.mod = 3;
      i.rm = opcode & 7;
    } else if (k === "O") {
      i.mod = 0;
      i.base = -1;
      if (adsize32) {
        i.disp = fetch(pos) | (fetch(pos + 1) << 8) | (fetch(pos + 2) << 16) | (fetch(pos + 3) << 24);
        pos += 4;
      } else {
        i.disp = fetch(pos) | (fetch(pos + 1) << 8);
        pos += 2;
      }
    } else if (k === "I" || k === "J" || op === "Ap") {
      let v: number;
      const t = op.slice(1);
      if (t === "b") v = k === "J" ? (fetch(pos++) << 24) >> 24 : fetch(pos++);
      else if (t === "bs") v = (fetch(pos++) << 24) >> 24;
      else if (t === "w") {
        v = fetch(pos) | (fetch(pos + 1) << 8);
        pos += 2;
      } else if (opsize32) {
        v = fetch(pos) | (fetch(pos + 1) << 8) | (fetch(pos + 2) << 16) | (fetch(pos + 3) << 24);
        pos += 4;
      } else {
        v = fetch(pos) | (fetch(pos + 1) << 8);
        if (k === "J") v = (v << 16) >> 16;
        pos += 2;
      }
      if (immCount++ === 0) i.imm = v;
      else i.imm2 = v;
      if (k === "A") {
        i.imm2 = fetch(pos) | (fetch(pos + 1) << 8);
        pos += 2;
      }
    } else if (op === "AL" || op === "eAX") {
      i.reg = 0;
    }
  }
  if (pos > 15) throw new DecodeError(13);
  if (i.lock && !lockable(e, i)) throw new DecodeError(6, pos);
  i.seg = seg >= 0 ? seg : defaultSeg;
  i.segOverride = seg >= 0;
  i.len = pos;
  i.h = bind(e);
  return i;
}

/**
 * The operand form of a row for handler factories: E (r/m, Z register, moffs), G (ModRM reg or
 * the fixed accumulator), I (immediate), and the literals 1, CL, DX.
 */
export function operandForm(e: OpcodeEntry): string {
  let form = "";
  for (const op of e.operands) {
    const k = op[0];
    if (op === "AL" || op === "eAX") form += "G";
    else if (op === "CL" || op === "DX" || op === "1") form += op;
    else if (k === "E" || k === "Z" || k === "O" || k === "M" || k === "R") form += "E";
    else if (k === "G") form += "G";
    else if (k === "I") form += "I";
    else form += k;
  }
  return form;
}
