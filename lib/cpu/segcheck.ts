/**
 * Segment limit and access-rights checks on data accesses (SDM Vol. 3A, 5.3 and 5.4; the "Protected
 * Mode Exceptions" of each instruction in Vol. 2): the slow path behind CpuState.segFlat. Flat
 * segments never come here; the interpreter (cpu.ea, push/pop, string instructions) and compiled
 * blocks call checkSegment only when segFlat[seg] is 0.
 *
 * In protected mode a null (unusable) segment, a write to a code or read-only data segment, or a
 * read of an execute-only code segment raises #GP(0). In every mode the bytes accessed must lie
 * within the limit (expand-down: above it, up to 0xFFFF or, with B set, 0xFFFFFFFF): otherwise
 * #SS(0) through SS and #GP(0) through the others, as in real mode for an access past 0xFFFF.
 *
 * QEMU 7.2's TCG checks none of this on data accesses (tests/guests/cpu/segcheck.asm).
 */
import { CpuFault, GP, SS as SS_FAULT } from "./faults.ts";
import type { Insn } from "./insn.ts";
import type { Mmu } from "./mmu.ts";
import type { OpcodeEntry } from "./opcodes.ts";
import { protectedMode } from "./segmentation.ts";
import { SEG_CODE, SEG_DB, SEG_ED, SEG_P, SEG_W, SS } from "./state.ts";

/** Throws the fault an access of `bytes` at offset `off` of segment `seg` raises, if any. */
export function checkSegment(cpu: Mmu, seg: number, off: number, bytes: number, write: boolean): void {
  if (bytes === 0) return;
  const rights = cpu.segRights[seg];
  if (protectedMode(cpu)) {
    if (!(rights & SEG_P)) throw new CpuFault(GP, 0);
    // Code segments are never writable, and readable only with R; data segments need W to write.
    if (rights & SEG_CODE ? write || !(rights & SEG_W) : write && !(rights & SEG_W)) {
      throw new CpuFault(GP, 0);
    }
  }
  if (!withinLimit(cpu, seg, off, bytes)) throw new CpuFault(seg === SS ? SS_FAULT : GP, 0);
}

/** True if all `bytes` at offset `off` lie within segment `seg`'s limit (expand-down: above it). */
export function withinLimit(cpu: Mmu, seg: number, off: number, bytes: number): boolean {
  const rights = cpu.segRights[seg];
  const first = off >>> 0, last = first + bytes - 1;
  const limit = cpu.segLimit[seg] >>> 0;
  return (rights & (SEG_CODE | SEG_ED)) === SEG_ED
    ? first > limit && last <= (rights & SEG_DB ? 0xffffffff : 0xffff)
    : last <= limit;
}

/** The linear address of an access at `off` in `seg`, checked unless the segment is flat. */
export function segAddress(cpu: Mmu, seg: number, off: number, bytes: number, write: boolean): number {
  if (cpu.segFlat[seg] === 0) checkSegment(cpu, seg, off, bytes, write);
  return (cpu.segBase[seg] + off) | 0;
}

// ---- what an instruction's ModRM memory operand does, from its opcode-table row ----

/** Handlers whose first (memory) operand is only read, or not accessed at all. */
const READS_FIRST = new Set([
  "test",
  "push",
  "callind",
  "jmpind",
  "callfarind",
  "jmpfarind",
  "lldt",
  "ltr",
  "verrw",
  "ldt",
  "lmsw",
  "fxrstor",
  "mul",
  "imul1",
  "div",
  "idiv",
]);
/** Handlers whose operand is an address only (no access to check). */
const NO_ACCESS = new Set(["invlpg", "nop", "lea"]);
/** Bytes of `M` operands without a size letter, by handler. */
const M_BYTES: Record<string, number> = { sdt: 6, ldt: 6, fxsave: 512, fxrstor: 512 };

/** Bytes of an operand's size letter (b w d q v p), or 1 where the table does not say (x: SIMD). */
function sizeLetter(letter: string, opsize32: boolean): number {
  switch (letter) {
    case "b":
      return 1;
    case "w":
      return 2;
    case "d":
      return 4;
    case "q":
      return 8;
    case "v":
      return opsize32 ? 4 : 2;
    case "p":
      return opsize32 ? 6 : 4;
  }
  return 1;
}

/** (bytes << 1 | write) of the memory operand of a row at an operand size. */
function operandAccess(e: OpcodeEntry, opsize32: boolean): number {
  const at = e.operands.findIndex((op) => op[0] === "E" || op[0] === "M" || op[0] === "O");
  if (at < 0 || NO_ACCESS.has(e.handler)) return 0;
  const op = e.operands[at];
  let bytes = op.length > 1 ? sizeLetter(op[1], opsize32) : M_BYTES[e.handler] ?? 1;
  // BOUND's Mq is a pair of operand-size bounds.
  if (e.handler === "bound") bytes = opsize32 ? 8 : 4;
  const readOnly = READS_FIRST.has(e.handler) || (e.handler === "alu" && e.arg === 7) ||
    (e.handler === "bt" && e.arg === 0);
  return (bytes << 1) | (at === 0 && !readOnly ? 1 : 0);
}

/**
 * The checks for instruction `i`'s memory operand at offset `off` (cpu.ea's slow path). Width and
 * direction come from its table row: the first operand is written unless the handler only reads
 * it (CMP, TEST, BT, PUSH, jumps...); a read-modify-write is checked as a write, which also covers
 * the read.
 */
export function checkOperand(cpu: Mmu, i: Insn, off: number): void {
  let access = i.segAccess;
  if (access < 0) {
    if (i.entry === undefined) return;
    i.segAccess = access = operandAccess(i.entry, i.opsize32);
  }
  checkSegment(cpu, i.seg, off, access >> 1, (access & 1) !== 0);
}
