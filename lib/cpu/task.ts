/**
 * Hardware task switching (SDM Vol. 3A, 7.3): JMP/CALL to a TSS or task gate, task gates in the
 * IDT, and IRET with NT set. Not yet implemented: every path raises #GP with the selector, which is
 * what a guest sees from a CPU that refuses the switch (documented in the README as missing).
 */
import { CpuFault, GP } from "./faults.ts";
import type { Cpu } from "./cpu.ts";

export const TASK_JMP = 0, TASK_CALL = 1, TASK_IRET = 2, TASK_INT = 3;

export function taskSwitch(_cpu: Cpu, sel: number, _reason: number, _hasCode: boolean, _code: number): void {
  throw new CpuFault(GP, sel & 0xfffc);
}
