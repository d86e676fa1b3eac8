/**
 * A decoded instruction: the small record the decoder produces once per code address and the
 * interpreter (and later a block compiler) executes many times through its handler.
 */
import type { OpcodeEntry } from "./opcodes.ts";
import type { Cpu } from "./cpu.ts";

export type Handler = (cpu: Cpu, i: Insn) => void;

export class Insn {
  h: Handler = () => {};
  entry: OpcodeEntry | undefined = undefined;
  /** Length in bytes, prefixes included. */
  len = 0;
  /** Size of the main operand: 0, 1, 2 for 8, 16, 32 bits. */
  size = 2;
  opsize32 = true;
  adsize32 = true;
  /** Segment register of the memory operand (override or the default for its base). */
  seg = 3;
  segOverride = false;
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  rep = 0;
  lock = false;
  /** ModRM fields; mod is 3 for a register operand (also for Z-encoded registers). */
  mod = 3;
  reg = 0;
  rm = 0;
  /** Memory operand: base and index register (-1 for none), scale shift, displacement. */
  base = -1;
  index = -1;
  scale = 0;
  disp = 0;
  imm = 0;
  imm2 = 0;
  /** The table row's ARG (ALU operation, condition code, segment register...). */
  arg = 0;
  /** What the memory operand's access is, for segment checks (segcheck.ts), once it was needed. */
  segAccess = -1;
}
