/**
 * Guest exceptions as thrown inside the interpreter. A handler that finds guest nonsense throws a
 * CpuFault; the run loop catches it, rolls EIP back to the faulting instruction and delivers the
 * vector through the IVT/IDT. CpuFault deliberately is not an Error: no stack is captured, so
 * page-fault-heavy guests stay cheap. It never leaves the CPU.
 */

export const DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8;
export const TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19;

/** Exceptions that push an error code (SDM Vol. 3A, 6.13). */
export const HAS_ERROR_CODE = new Set([DF, TS, NP, SS, GP, PF, AC]);

/** Contributory exceptions, for the double-fault rules (SDM Table 6-5). */
export const CONTRIBUTORY = new Set([DE, TS, NP, SS, GP]);

export class CpuFault {
  constructor(readonly vector: number, readonly errorCode = 0) {}
}

export function fault(vector: number, errorCode = 0): never {
  throw new CpuFault(vector, errorCode);
}

/** #GP(code): the commonest fault, spelt once. */
export function gp(errorCode = 0): never {
  throw new CpuFault(GP, errorCode);
}

export function ud(): never {
  throw new CpuFault(UD, 0);
}
