/** Decimal adjust instructions: DAA DAS AAA AAS AAM AAD, with QEMU's flag results. */
import type { Cpu } from "../cpu.ts";
import { CpuFault, DE } from "../faults.ts";
import { arithFlags, getAF, getCF, PARITY, setArith, setRes } from "../flags.ts";
import type { Handler } from "../insn.ts";
import { AF, CF, SF, ZF } from "../state.ts";

function szp(v: number): number {
  return (v === 0 ? ZF : 0) | (v & 0x80 ? SF : 0) | PARITY[v];
}

export const daaHandler: Handler = (cpu) => {
  let al = cpu.regs[0] & 0xff;
  const cf = getCF(cpu), af = getAF(cpu);
  const old = al;
  let flags = 0;
  if ((al & 0xf) > 9 || af) {
    al = (al + 6) & 0xff;
    flags |= AF;
  }
  if (old > 0x99 || cf) {
    al = (al + 0x60) & 0xff;
    flags |= CF;
  }
  cpu.setReg(0, 0, al);
  setArith(cpu, flags | szp(al));
};

export const dasHandler: Handler = (cpu) => {
  let al = cpu.regs[0] & 0xff;
  const cf = getCF(cpu), af = getAF(cpu);
  const old = al;
  let flags = 0;
  if ((al & 0xf) > 9 || af) {
    flags |= AF;
    if (al < 6 || cf) flags |= CF;
    al = (al - 6) & 0xff;
  }
  if (old > 0x99 || cf) {
    al = (al - 0x60) & 0xff;
    flags |= CF;
  }
  cpu.setReg(0, 0, al);
  setArith(cpu, flags | szp(al));
};

function asciiAdjust(cpu: Cpu, sub: boolean): void {
  const flags = arithFlags(cpu);
  let al = cpu.regs[0] & 0xff, ah = (cpu.regs[0] >> 8) & 0xff;
  if ((al & 0xf) > 9 || (flags & AF)) {
    // AH also takes the carry/borrow of the 16-bit adjustment (as QEMU computes it).
    if (sub) {
      ah = (ah - 1 - (al < 6 ? 1 : 0)) & 0xff;
      al = (al - 6) & 0xf;
    } else {
      ah = (ah + 1 + (al > 0xf9 ? 1 : 0)) & 0xff;
      al = (al + 6) & 0xf;
    }
    setArith(cpu, flags | CF | AF);
  } else {
    al &= 0xf;
    setArith(cpu, flags & ~(CF | AF));
  }
  cpu.setReg(1, 0, (ah << 8) | al);
}

export const aaaHandler: Handler = (cpu) => asciiAdjust(cpu, false);
export const aasHandler: Handler = (cpu) => asciiAdjust(cpu, true);

export const aamHandler: Handler = (cpu, i) => {
  const base = i.imm & 0xff;
  if (base === 0) throw new CpuFault(DE);
  const al = cpu.regs[0] & 0xff;
  const res = al % base;
  cpu.setReg(1, 0, (Math.floor(al / base) << 8) | res);
  setRes(cpu, 0, res, 0);
};

export const aadHandler: Handler = (cpu, i) => {
  const ax = cpu.regs[0] & 0xffff;
  const al = ((ax >> 8) * (i.imm & 0xff) + (ax & 0xff)) & 0xff;
  cpu.setReg(1, 0, al);
  setRes(cpu, 0, al, 0);
};
