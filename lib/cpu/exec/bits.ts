/** Bit tests and scans: BT/BTS/BTR/BTC (register and immediate offsets), BSF, BSR. */
import type { Cpu } from "../cpu.ts";
import { arithFlags, FOP_NONE, setRes } from "../flags.ts";
import type { Handler } from "../insn.ts";
import { CF } from "../state.ts";
import { segAddress } from "../segcheck.ts";

function setCf(cpu: Cpu, bit: number): void {
  // QEMU leaves the other flags as they were for BT* (Intel documents them undefined).
  cpu.fAux = (arithFlags(cpu) & ~CF) | bit;
  cpu.fOp = FOP_NONE;
}

export function btHandler(form: string, op: number): Handler {
  return (cpu, i) => {
    const size = i.size;
    const bits = size === 2 ? 32 : 16;
    let offset = form === "EI" ? i.imm : cpu.getReg(size, i.reg);
    let lin = 0;
    if (i.mod !== 3) {
      if (form === "EI") lin = cpu.ea(i);
      else {
        // A register bit offset addresses memory beyond the operand (signed): the segment checks
        // apply to the word or dword actually accessed.
        const signed = size === 2 ? offset | 0 : (offset << 16) >> 16;
        const off = cpu.offset(i) + ((signed >> (size === 2 ? 5 : 4)) << (size === 2 ? 2 : 1));
        lin = segAddress(cpu, i.seg, off, 1 << size, op !== 0);
      }
    }
    offset &= bits - 1;
    const v = i.mod === 3 ? cpu.getReg(size, i.rm) : cpu.rd(size, lin);
    const bit = (v >>> offset) & 1;
    if (op !== 0) {
      const m = 1 << offset;
      const nv = op === 1 ? v | m : op === 2 ? v & ~m : v ^ m;
      if (i.mod === 3) cpu.setReg(size, i.rm, nv);
      else cpu.wr(size, lin, nv);
    }
    setCf(cpu, bit);
  };
}

export function bsfHandler(reverse: boolean): Handler {
  return (cpu, i) => {
    const size = i.size;
    const v = cpu.readE(i, size) & (size === 2 ? -1 : 0xffff);
    // QEMU's flags: ZF, SF, PF from the source; the destination is kept when it is zero.
    if (v !== 0) cpu.setReg(size, i.reg, reverse ? 31 - Math.clz32(v) : 31 - Math.clz32(v & -v));
    setRes(cpu, size, v, 0);
  };
}
