/**
 * Hardware task switching (SDM Vol. 3A, 7.3): JMP/CALL to a TSS or task gate, task gates in the
 * IDT, and IRET with NT set, for 32-bit TSSs (types 9/11) and the 80286's 16-bit TSSs (types 1/3,
 * SDM 7.6). The outgoing state goes to the current TSS in its own format, busy bits and the back
 * link follow the SDM's table for each reason, CR0.TS is set, and the incoming state is loaded
 * with its segment checks raising #TS/#NP in the new task's context, as is the #GP(0) for an EIP
 * beyond the new CS limit. DR7's local breakpoint enables are cleared.
 *
 * A 16-bit TSS holds no CR3, FS, GS or upper halves: CR3 stays, FS and GS become null, and the
 * upper halves of EFLAGS and the general registers keep their values (the SDM leaves the
 * registers' upper halves unspecified; QEMU 7.2 keeps them, and so do we).
 */
import { CpuFault, GP, NP, TS } from "./faults.ts";
import { readEflags } from "./flags.ts";
import type { Cpu } from "./cpu.ts";
import { desc, loadSegmentReal, readDescriptor, setSegment } from "./segmentation.ts";
import { CR0_TS, CS, LDTR, NT, SEG_P, SS, TR, VM } from "./state.ts";
import { writeEflags } from "./exec/system.ts";
import { vmxTaskSwitch } from "./vmx/intercepts.ts";

/** DR7's L0-L3 and LE bits. */
const DR7_LOCAL = 0x155;

export const TASK_JMP = 0, TASK_CALL = 1, TASK_IRET = 2, TASK_INT = 3;

function setBusy(cpu: Cpu, sel: number, busy: boolean): void {
  const addr = (cpu.gdtBase + (sel & ~7) + 4) | 0;
  const hi = cpu.sysRead32(addr);
  cpu.sysWrite32(addr, busy ? hi | 0x200 : hi & ~0x200);
}

/** Where a TSS format keeps each field (SDM Figures 7-2 and 7-10); segments in ES..GS order. */
interface TssLayout {
  size: number;
  limit: number;
  eip: number;
  eflags: number;
  regs: number;
  segs: number;
  segCount: number;
  ldt: number;
}
const TSS32: TssLayout = {
  size: 2,
  limit: 0x67,
  eip: 0x20,
  eflags: 0x24,
  regs: 0x28,
  segs: 0x48,
  segCount: 6,
  ldt: 0x60,
};
const TSS16: TssLayout = {
  size: 1,
  limit: 0x2b,
  eip: 0x0e,
  eflags: 0x10,
  regs: 0x12,
  segs: 0x22,
  segCount: 4,
  ldt: 0x2a,
};

/** Supervisor access to a TSS field of `size` (1: word, 2: dword), whatever the CPL. */
function tssRead(cpu: Cpu, lin: number, size: number): number {
  const cpl = cpu.cpl;
  cpu.cpl = 0;
  try {
    return size === 2 ? cpu.rd32(lin | 0) : cpu.rd16(lin | 0);
  } finally {
    cpu.cpl = cpl;
  }
}
function tssWrite(cpu: Cpu, lin: number, size: number, v: number): void {
  const cpl = cpu.cpl;
  cpu.cpl = 0;
  try {
    if (size === 2) cpu.wr32(lin | 0, v);
    else cpu.wr16(lin | 0, v);
  } finally {
    cpu.cpl = cpl;
  }
}

export function taskSwitch(cpu: Cpu, sel: number, reason: number, hasCode: boolean, code: number): void {
  if (cpu.vmxNonRoot) vmxTaskSwitch(cpu, sel, reason);
  if ((sel & 4) || (sel & ~7) === 0 || !readDescriptor(cpu, sel)) throw new CpuFault(GP, sel & 0xfffc);
  const lo = desc.lo, hi = desc.hi;
  const type = (hi >> 8) & 0x1f;
  const wantBusy = reason === TASK_IRET;
  if ((type & 0x15) !== 1 || ((type & 2) !== 0) !== wantBusy) {
    throw new CpuFault(reason === TASK_IRET ? TS : GP, sel & 0xfffc);
  }
  if (!(hi & SEG_P)) throw new CpuFault(NP, sel & 0xfffc);
  const into = type & 8 ? TSS32 : TSS16;
  const newBase = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
  const rawLimit = (hi & 0xf0000) | (lo & 0xffff);
  const newLimit = hi & 0x800000 ? (rawLimit << 12) | 0xfff : rawLimit;
  if (newLimit < into.limit) throw new CpuFault(TS, sel & 0xfffc);
  const oldType = (cpu.segRights[TR] >> 8) & 0xf;
  if ((oldType & 5) !== 1) throw new CpuFault(GP, 0);
  const from = oldType & 8 ? TSS32 : TSS16;

  // Save the outgoing task in its TSS's format.
  const old = cpu.segBase[TR];
  let flags = readEflags(cpu);
  if (reason === TASK_IRET) flags &= ~NT;
  tssWrite(cpu, old + from.eip, from.size, cpu.eip);
  tssWrite(cpu, old + from.eflags, from.size, flags);
  for (let r = 0; r < 8; r++) tssWrite(cpu, old + from.regs + (r << from.size), from.size, cpu.regs[r]);
  for (let s = 0; s < from.segCount; s++) tssWrite(cpu, old + from.segs + (s << from.size), 1, cpu.segSel[s]);
  if (reason === TASK_JMP || reason === TASK_IRET) setBusy(cpu, cpu.segSel[TR], false);

  // Read the incoming task before committing to it.
  const field = (off: number) => tssRead(cpu, newBase + off, into.size);
  const cr3 = into === TSS32 ? field(0x1c) : cpu.cr[3];
  const eip = field(into.eip);
  let eflags = field(into.eflags);
  const regs = Array.from({ length: 8 }, (_, r) => field(into.regs + (r << into.size)));
  const sels = Array.from(
    { length: 6 },
    (_, s) => s < into.segCount ? tssRead(cpu, newBase + into.segs + (s << into.size), 1) : 0,
  );
  const ldt = tssRead(cpu, newBase + into.ldt, 1);
  if (reason === TASK_CALL || reason === TASK_INT) {
    tssWrite(cpu, newBase, 1, cpu.segSel[TR]);
    eflags |= NT;
  }
  if (into === TSS16) {
    // Upper halves are not in a 16-bit TSS: they stay as they were.
    eflags = (flags & ~0xffff) | (eflags & 0xffff);
    for (let r = 0; r < 8; r++) regs[r] = (cpu.regs[r] & ~0xffff) | regs[r];
  }
  if (reason !== TASK_IRET) {
    setBusy(cpu, sel, true);
    readDescriptor(cpu, sel);
  }
  setSegment(cpu, TR, sel, desc.lo, desc.hi | (reason !== TASK_IRET ? 0x200 : 0));
  cpu.cr[0] |= CR0_TS;
  if ((cpu.cr[0] & (1 << 31)) && into === TSS32) {
    cpu.cr[3] = cr3;
    cpu.flushTlb();
  }
  cpu.eip = eip;
  // From here faults belong to the new task (SDM Table 7-1): they report its EIP.
  cpu.insnEip = eip;
  cpu.taskCommitted = true;
  // The local breakpoint enables (L0-L3) and LE are per task (SDM Vol. 3A, 17.2.4).
  cpu.dr[7] &= ~DR7_LOCAL;
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
        cpu.segmentLoaded(s);
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
  if ((eip >>> 0) > (cpu.segLimit[CS] >>> 0)) throw new CpuFault(GP, 0);
  if (hasCode) cpu.push(into.size, code);
}
