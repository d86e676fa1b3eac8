/**
 * Hardware task switching (SDM Vol. 3A, 7.3) for 32-bit TSSs: JMP/CALL to a TSS or task gate, task
 * gates in the IDT, and IRET with NT set. The outgoing state goes to the current TSS, busy bits
 * and the back link follow the SDM's table for each reason, CR0.TS is set, and the incoming state
 * is loaded with its segment checks raising #TS/#NP in the new task's context. 16-bit TSSs (types
 * 1 and 3) are refused with #GP; no guest this core targets uses them.
 */
import { CpuFault, GP, NP, TS } from "./faults.ts";
import { readEflags } from "./flags.ts";
import type { Cpu } from "./cpu.ts";
import { desc, loadSegmentReal, readDescriptor, setSegment } from "./segmentation.ts";
import { CR0_TS, CS, LDTR, NT, SEG_P, SS, TR, VM } from "./state.ts";
import { writeEflags } from "./exec/system.ts";

export const TASK_JMP = 0, TASK_CALL = 1, TASK_IRET = 2, TASK_INT = 3;

function setBusy(cpu: Cpu, sel: number, busy: boolean): void {
  const addr = (cpu.gdtBase + (sel & ~7) + 4) | 0;
  const hi = cpu.sysRead32(addr);
  cpu.sysWrite32(addr, busy ? hi | 0x200 : hi & ~0x200);
}

export function taskSwitch(cpu: Cpu, sel: number, reason: number, hasCode: boolean, code: number): void {
  if ((sel & 4) || (sel & ~7) === 0 || !readDescriptor(cpu, sel)) throw new CpuFault(GP, sel & 0xfffc);
  const lo = desc.lo, hi = desc.hi;
  const type = (hi >> 8) & 0x1f;
  const wantBusy = reason === TASK_IRET;
  if (type !== (wantBusy ? 0xb : 9)) {
    throw new CpuFault(reason === TASK_IRET ? TS : GP, sel & 0xfffc);
  }
  if (!(hi & SEG_P)) throw new CpuFault(NP, sel & 0xfffc);
  const newBase = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
  const rawLimit = (hi & 0xf0000) | (lo & 0xffff);
  const newLimit = hi & 0x800000 ? (rawLimit << 12) | 0xfff : rawLimit;
  if (newLimit < 0x67) throw new CpuFault(TS, sel & 0xfffc);
  const oldType = (cpu.segRights[TR] >> 8) & 0xf;
  if (oldType !== 0xb && oldType !== 9) throw new CpuFault(GP, 0);

  // Save the outgoing task.
  const old = cpu.segBase[TR];
  let flags = readEflags(cpu);
  if (reason === TASK_IRET) flags &= ~NT;
  cpu.sysWrite32(old + 0x20, cpu.eip);
  cpu.sysWrite32(old + 0x24, flags);
  for (let r = 0; r < 8; r++) cpu.sysWrite32(old + 0x28 + r * 4, cpu.regs[r]);
  for (let s = 0; s < 6; s++) {
    const at = old + 0x48 + s * 4;
    cpu.sysWrite32(at, (cpu.sysRead32(at) & ~0xffff) | cpu.segSel[s]);
  }
  if (reason === TASK_JMP || reason === TASK_IRET) setBusy(cpu, cpu.segSel[TR], false);

  // Read the incoming task before committing to it.
  const r32 = (off: number) => cpu.sysRead32(newBase + off);
  const cr3 = r32(0x1c), eip = r32(0x20);
  let eflags = r32(0x24);
  const regs = Array.from({ length: 8 }, (_, r) => r32(0x28 + r * 4));
  const sels = Array.from({ length: 6 }, (_, s) => r32(0x48 + s * 4) & 0xffff);
  const ldt = r32(0x60) & 0xffff;
  if (reason === TASK_CALL || reason === TASK_INT) {
    cpu.sysWrite32(newBase, (r32(0) & ~0xffff) | cpu.segSel[TR]);
    eflags |= NT;
  }
  if (reason !== TASK_IRET) {
    setBusy(cpu, sel, true);
    readDescriptor(cpu, sel);
  }
  setSegment(cpu, TR, sel, desc.lo, desc.hi | (reason !== TASK_IRET ? 0x200 : 0));
  cpu.cr[0] |= CR0_TS;
  if (cpu.cr[0] & (1 << 31)) {
    cpu.cr[3] = cr3 & 0xfffff018;
    cpu.flushTlb();
  }
  cpu.eip = eip;
  cpu.eflags = 2;
  writeEflags(cpu, eflags, 0x3f7fd5);
  for (let r = 0; r < 8; r++) cpu.regs[r] = regs[r];

  // Segments of the new task; faults from here on belong to it (#TS with the selector).
  if ((ldt & ~3) === 0) {
    cpu.segSel[LDTR] = ldt;
    cpu.segRights[LDTR] = 0;
  } else {
    if ((ldt & 4) || !readDescriptor(cpu, ldt) || ((desc.hi >> 8) & 0x1f) !== 2) {
      throw new CpuFault(TS, ldt & 0xfffc);
    }
    if (!(desc.hi & SEG_P)) throw new CpuFault(TS, ldt & 0xfffc);
    setSegment(cpu, LDTR, ldt, desc.lo, desc.hi);
  }
  if (eflags & VM) {
    for (let s = 0; s < 6; s++) loadSegmentReal(cpu, s, sels[s]);
  } else {
    const cpl = sels[CS] & 3;
    for (const s of [CS, SS, 0, 3, 4, 5]) {
      const v = sels[s];
      if ((v & ~3) === 0) {
        if (s === CS || s === SS) throw new CpuFault(TS, v & 0xfffc);
        cpu.segSel[s] = v;
        cpu.segRights[s] = 0;
        continue;
      }
      if (!readDescriptor(cpu, v) || !(desc.hi & 0x1000)) throw new CpuFault(TS, v & 0xfffc);
      const dpl = (desc.hi >> 13) & 3, code = (desc.hi & 0x800) !== 0;
      if (s === CS && !code) throw new CpuFault(TS, v & 0xfffc);
      if (s === SS && (code || !(desc.hi & 0x200) || dpl !== cpl || (v & 3) !== cpl)) {
        throw new CpuFault(TS, v & 0xfffc);
      }
      if (!(desc.hi & SEG_P)) throw new CpuFault(s === SS ? 12 : NP, v & 0xfffc);
      setSegment(cpu, s, v, desc.lo, desc.hi);
    }
  }
  cpu.codeSegmentChanged();
  if (hasCode) cpu.push(2, code);
}
