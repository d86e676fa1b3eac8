/**
 * The SIMD handler factory bound to the `simd` rows of the opcode map: integer rows (exec.ts)
 * and floating-point rows (float.ts) in one dispatch table.
 */
import type { Handler } from "../insn.ts";
import { aeGroup, simdHandler, TABLE } from "./exec.ts";
import { registerFloat } from "./float.ts";

registerFloat();

/** `simd:OP` rows: 0F AE's group, MOVNTI (a plain store), and the table-driven rest. */
export function simdFactory(op: number): Handler {
  if (op === 0xae) return aeGroup;
  if (op === 0xc3) return (cpu, i) => cpu.wr32(cpu.ea(i), cpu.regs[i.reg]);
  return simdHandler(op, TABLE);
}
