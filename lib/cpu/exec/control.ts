/**
 * Control transfers: near and far JMP/CALL/RET, Jcc, LOOP/JCXZ, ENTER/LEAVE, INT n/INT3/INTO/INT1,
 * IRET, HLT. Far transfers in protected mode check the target descriptor, follow call gates (with
 * the stack switch on a call to an inner level) and hand TSS and task-gate targets to task.ts.
 */
import type { Cpu } from "../cpu.ts";
import { BP, CpuFault, GP, NP, OF as OF_VEC, SS as SS_FAULT, TS, UD } from "../faults.ts";
import { condition, getOF, readEflags } from "../flags.ts";
import type { Handler, Insn } from "../insn.ts";
import { deliver, EV_SOFTWARE, restoreStackState, saveStackState } from "../interrupts.ts";
import { vmeInt, vmeIret } from "../vme.ts";
import { vmxHlt } from "../vmx/intercepts.ts";
import {
  desc,
  loadSegment,
  loadSegmentReal,
  protectedMode,
  readDescriptor,
  setSegment,
  tssStack,
} from "../segmentation.ts";
import {
  AC,
  CR0_PE,
  CS,
  DS,
  ES,
  FS,
  GS,
  ID,
  IF,
  IOPL,
  NT,
  RF,
  SEG_P,
  SS,
  TF,
  VIF,
  VIP,
  VM,
} from "../state.ts";
import { TASK_CALL, TASK_IRET, TASK_JMP, taskSwitch } from "../task.ts";
import { writeEflags } from "./system.ts";
import { checkSegment, segAddress } from "../segcheck.ts";

function target(_cpu: Cpu, i: Insn, t: number): number {
  return i.opsize32 ? t | 0 : t & 0xffff;
}

export const jccHandler: Handler = (cpu, i) => {
  if (condition(cpu, i.arg)) cpu.eip = target(cpu, i, cpu.eip + i.imm);
};

export const jmpHandler: Handler = (cpu, i) => {
  cpu.eip = target(cpu, i, cpu.eip + i.imm);
};

export const jmpindHandler: Handler = (cpu, i) => {
  cpu.eip = cpu.readE(i, i.size);
};

export const callHandler: Handler = (cpu, i) => {
  cpu.push(i.size, cpu.eip);
  cpu.eip = target(cpu, i, cpu.eip + i.imm);
};

export const callindHandler: Handler = (cpu, i) => {
  const t = cpu.readE(i, i.size);
  cpu.push(i.size, cpu.eip);
  cpu.eip = t;
};

export const retHandler: Handler = (cpu, i) => {
  const size = i.opsize32 ? 2 : 1;
  const t = cpu.pop(size);
  if (i.entry!.operands.length) cpu.addSp(i.imm & 0xffff);
  cpu.eip = t;
};

export const loopHandler: Handler = (cpu, i) => {
  let c: number;
  if (i.adsize32) c = cpu.regs[1] = (cpu.regs[1] - 1) | 0;
  else {
    c = (cpu.regs[1] - 1) & 0xffff;
    cpu.regs[1] = (cpu.regs[1] & ~0xffff) | c;
  }
  let take = c !== 0;
  if (i.arg === 0) take &&= !condition(cpu, 4); // LOOPNE: ZF=0
  else if (i.arg === 1) take &&= condition(cpu, 4); // LOOPE: ZF=1
  if (take) cpu.eip = target(cpu, i, cpu.eip + i.imm);
};

export const jcxzHandler: Handler = (cpu, i) => {
  const c = i.adsize32 ? cpu.regs[1] : cpu.regs[1] & 0xffff;
  if (c === 0) cpu.eip = target(cpu, i, cpu.eip + i.imm);
};

export const enterHandler: Handler = (cpu, i) => {
  const size = i.opsize32 ? 2 : 1;
  const bytes = size === 2 ? 4 : 2;
  const level = i.imm2 & 31;
  if (cpu.segFlat[SS] === 0) {
    // The whole new frame must lie within SS (#SS(0)), checked before anything is pushed.
    const low = cpu.regs[4] - bytes * (level + 1) - (i.imm & 0xffff);
    checkSegment(cpu, SS, cpu.stack32 ? low : low & 0xffff, 1, true);
  }
  cpu.push(size, cpu.regs[5]);
  const frame = cpu.stack32 ? cpu.regs[4] : cpu.regs[4] & 0xffff;
  if (level > 0) {
    let bp = cpu.regs[5];
    for (let k = 1; k < level; k++) {
      bp = cpu.stack32 ? (bp - bytes) | 0 : (bp - bytes) & 0xffff;
      cpu.push(size, cpu.rd(size, segAddress(cpu, SS, bp, bytes, false)));
    }
    cpu.push(size, frame);
  }
  cpu.setReg(size, 5, frame);
  cpu.addSp(-(i.imm & 0xffff));
};

export const leaveHandler: Handler = (cpu, i) => {
  const size = i.opsize32 ? 2 : 1;
  if (cpu.stack32) cpu.regs[4] = cpu.regs[5];
  else cpu.regs[4] = (cpu.regs[4] & ~0xffff) | (cpu.regs[5] & 0xffff);
  cpu.setReg(size, 5, cpu.pop(size));
};

// ---- interrupts ----

export const intHandler: Handler = (cpu, i) => {
  const vector = i.imm & 0xff;
  if (vmeInt(cpu, vector)) return;
  if ((cpu.eflags & VM) && ((cpu.eflags >> 12) & 3) < 3) throw new CpuFault(GP, 0);
  deliver(cpu, vector, EV_SOFTWARE, false, 0);
};

export const int3Handler: Handler = (cpu) => deliver(cpu, BP, EV_SOFTWARE, false, 0);

export const intoHandler: Handler = (cpu) => {
  if (getOF(cpu)) deliver(cpu, OF_VEC, EV_SOFTWARE, false, 0);
};

/** INT1/ICEBP: qemu-system-i386 7.2 (TCG) raises #UD for F1, and so do we. */
export const int1Handler: Handler = () => {
  throw new CpuFault(UD);
};

export const hltHandler: Handler = (cpu) => {
  if (cpu.cpl !== 0) throw new CpuFault(GP, 0);
  if (cpu.vmxNonRoot) vmxHlt(cpu);
  cpu.halted = true;
  cpu.breakBlock = true;
};

// ---- far transfers ----

/** Loads CS for a far JMP/CALL/RET at the same privilege (QEMU sets no accessed bit on CS loads). */
function loadCodeSegment(cpu: Cpu, sel: number, lo: number, hi: number, cpl: number): void {
  setSegment(cpu, CS, (sel & 0xfffc) | cpl, lo, hi);
  cpu.codeSegmentChanged();
}

function checkCodeTarget(cpu: Cpu, sel: number): void {
  const hi = desc.hi;
  const dpl = (hi >> 13) & 3;
  const conforming = (hi & 0x400) !== 0;
  if (conforming ? dpl > cpu.cpl : ((sel & 3) > cpu.cpl || dpl !== cpu.cpl)) {
    throw new CpuFault(GP, sel & 0xfffc);
  }
  if (!(hi & SEG_P)) throw new CpuFault(NP, sel & 0xfffc);
}

/** A far JMP or CALL to sel:offset; `call` pushes the return address. */
function farTransfer(cpu: Cpu, i: Insn, sel: number, offset: number, call: boolean): void {
  const size = i.opsize32 ? 2 : 1;
  if (!protectedMode(cpu)) {
    if (call) {
      cpu.checkPushes(2 << size);
      cpu.push(size, cpu.segSel[CS]);
      cpu.push(size, cpu.eip);
    }
    loadSegmentReal(cpu, CS, sel);
    cpu.eip = size === 2 ? offset : offset & 0xffff;
    cpu.breakBlock = true;
    return;
  }
  if ((sel & ~3) === 0) throw new CpuFault(GP, 0);
  if (!readDescriptor(cpu, sel)) throw new CpuFault(GP, sel & 0xfffc);
  const lo = desc.lo, hi = desc.hi;
  if (hi & 0x1000) {
    if (!(hi & 0x800)) throw new CpuFault(GP, sel & 0xfffc);
    checkCodeTarget(cpu, sel);
    if (call) {
      cpu.checkPushes(2 << size);
      cpu.probeWrite((cpu.segBase[SS] + (cpu.regs[4] - 2 * (1 << size))) | 0, 2 << size);
      cpu.push(size, cpu.segSel[CS]);
      cpu.push(size, cpu.eip);
    }
    loadCodeSegment(cpu, sel, lo, hi, cpu.cpl);
    cpu.eip = size === 2 ? offset : offset & 0xffff;
    return;
  }
  const type = (hi >> 8) & 0xf;
  const dpl = (hi >> 13) & 3;
  if (type === 1 || type === 9 || type === 5) {
    if (dpl < cpu.cpl || dpl < (sel & 3)) throw new CpuFault(GP, sel & 0xfffc);
    if (!(hi & SEG_P)) throw new CpuFault(NP, sel & 0xfffc);
    taskSwitch(cpu, type === 5 ? (lo >>> 16) & 0xffff : sel, call ? TASK_CALL : TASK_JMP, false, 0);
    return;
  }
  if (type !== 4 && type !== 0xc) throw new CpuFault(GP, sel & 0xfffc);
  // Call gate.
  if (dpl < cpu.cpl || dpl < (sel & 3)) throw new CpuFault(GP, sel & 0xfffc);
  if (!(hi & SEG_P)) throw new CpuFault(NP, sel & 0xfffc);
  const gate32 = type === 0xc;
  const csSel = (lo >>> 16) & 0xffff;
  const gateOffset = gate32 ? (hi & 0xffff0000) | (lo & 0xffff) : lo & 0xffff;
  const params = hi & 0x1f;
  if ((csSel & ~3) === 0) throw new CpuFault(GP, 0);
  if (!readDescriptor(cpu, csSel)) throw new CpuFault(GP, csSel & 0xfffc);
  const cLo = desc.lo, cHi = desc.hi;
  const cDpl = (cHi >> 13) & 3;
  if ((cHi & 0x1800) !== 0x1800 || cDpl > cpu.cpl) throw new CpuFault(GP, csSel & 0xfffc);
  if (!(cHi & SEG_P)) throw new CpuFault(NP, csSel & 0xfffc);
  const gsize = gate32 ? 2 : 1;
  if (call && !(cHi & 0x400) && cDpl < cpu.cpl) {
    const { ss, esp } = tssStack(cpu, cDpl);
    if ((ss & ~3) === 0) throw new CpuFault(TS, 0);
    if (!readDescriptor(cpu, ss)) throw new CpuFault(TS, ss & 0xfffc);
    const sLo = desc.lo, sHi = desc.hi;
    if ((ss & 3) !== cDpl || ((sHi >> 13) & 3) !== cDpl || (sHi & 0x1a00) !== 0x1200) {
      throw new CpuFault(TS, ss & 0xfffc);
    }
    if (!(sHi & SEG_P)) throw new CpuFault(SS_FAULT, ss & 0xfffc);
    const oldSs = cpu.segSel[SS], oldEsp = cpu.regs[4], oldSsBase = cpu.segBase[SS];
    const oldStack32 = cpu.stack32;
    const args: number[] = [];
    for (let k = params - 1; k >= 0; k--) {
      const off = oldStack32 ? (oldEsp + k * (1 << gsize)) | 0 : (oldEsp + k * (1 << gsize)) & 0xffff;
      args.push(cpu.rd(gsize, (oldSsBase + off) | 0));
    }
    const saved = saveStackState(cpu, false);
    cpu.setCpl(cDpl);
    setSegment(cpu, SS, ss, sLo, sHi);
    cpu.regs[4] = esp;
    try {
      cpu.checkPushes((4 + params) << gsize, ss & 0xfffc);
    } catch (e) {
      restoreStackState(cpu, saved);
      throw e;
    }
    cpu.push(gsize, oldSs);
    cpu.push(gsize, oldEsp);
    for (const a of args) cpu.push(gsize, a);
    cpu.push(gsize, cpu.segSel[CS]);
    cpu.push(gsize, cpu.eip);
    setSegment(cpu, CS, (csSel & 0xfffc) | cDpl, cLo, cHi);
    cpu.codeSegmentChanged();
  } else {
    if (!call && !(cHi & 0x400) && cDpl !== cpu.cpl) throw new CpuFault(GP, csSel & 0xfffc);
    if (call) {
      cpu.checkPushes(2 << gsize);
      cpu.push(gsize, cpu.segSel[CS]);
      cpu.push(gsize, cpu.eip);
    }
    readDescriptor(cpu, csSel);
    loadCodeSegment(cpu, csSel, cLo, cHi, cpu.cpl);
  }
  cpu.eip = gate32 ? gateOffset : gateOffset & 0xffff;
}

export const jmpfarHandler: Handler = (cpu, i) => farTransfer(cpu, i, i.imm2, i.imm, false);
export const callfarHandler: Handler = (cpu, i) => farTransfer(cpu, i, i.imm2, i.imm, true);

function farPointer(cpu: Cpu, i: Insn): [number, number] {
  const lin = cpu.ea(i);
  const size = i.opsize32 ? 2 : 1;
  return [cpu.rd16((lin + (1 << size)) | 0), cpu.rd(size, lin)];
}

export const jmpfarindHandler: Handler = (cpu, i) => {
  const [sel, off] = farPointer(cpu, i);
  farTransfer(cpu, i, sel, off, false);
};

export const callfarindHandler: Handler = (cpu, i) => {
  const [sel, off] = farPointer(cpu, i);
  farTransfer(cpu, i, sel, off, true);
};

/** Checks and loads an outer-level data segment on return; nulls it if the new CPL may not use it. */
function validateOuterSegment(cpu: Cpu, seg: number): void {
  const r = cpu.segRights[seg];
  const dpl = (r >> 13) & 3;
  const conformingCode = (r & 0xc00) === 0xc00;
  if (!conformingCode && dpl < cpu.cpl) {
    // The selector goes null; like QEMU (validate_seg) the cache keeps base, limit and rights
    // but not P, which is what its register dumps show.
    cpu.segSel[seg] = 0;
    cpu.segRights[seg] = r & ~SEG_P;
    cpu.segmentLoaded(seg);
  }
}

/** Far return to sel:offset popped from the stack (RETF and protected-mode IRET share it). */
function farReturn(
  cpu: Cpu,
  size: number,
  sel: number,
  offset: number,
  popBytes: number,
  extra: number,
): void {
  if ((sel & ~3) === 0) throw new CpuFault(GP, 0);
  if (!readDescriptor(cpu, sel)) throw new CpuFault(GP, sel & 0xfffc);
  const lo = desc.lo, hi = desc.hi;
  const rpl = sel & 3;
  const dpl = (hi >> 13) & 3;
  if ((hi & 0x1800) !== 0x1800 || rpl < cpu.cpl) throw new CpuFault(GP, sel & 0xfffc);
  if ((hi & 0x400) ? dpl > rpl : dpl !== rpl) throw new CpuFault(GP, sel & 0xfffc);
  if (!(hi & SEG_P)) throw new CpuFault(NP, sel & 0xfffc);
  const bytes = 1 << size;
  if (rpl === cpu.cpl) {
    cpu.addSp(2 * bytes + extra + popBytes);
    setSegment(cpu, CS, sel, lo, hi);
    cpu.codeSegmentChanged();
    cpu.eip = size === 2 ? offset : offset & 0xffff;
    return;
  }
  // Return to an outer level: ESP and SS follow CS:EIP (and the immediate's bytes).
  const newEsp = cpu.peek(size, 2 * bytes + extra + popBytes);
  const newSs = cpu.peek(size, 3 * bytes + extra + popBytes) & 0xffff;
  if ((newSs & ~3) === 0) throw new CpuFault(GP, 0);
  if (!readDescriptor(cpu, newSs)) throw new CpuFault(GP, newSs & 0xfffc);
  const sLo = desc.lo, sHi = desc.hi;
  if ((newSs & 3) !== rpl || ((sHi >> 13) & 3) !== rpl || (sHi & 0x1a00) !== 0x1200) {
    throw new CpuFault(GP, newSs & 0xfffc);
  }
  if (!(sHi & SEG_P)) throw new CpuFault(SS_FAULT, newSs & 0xfffc);
  readDescriptor(cpu, sel);
  setSegment(cpu, CS, sel, lo, hi);
  cpu.codeSegmentChanged();
  cpu.eip = size === 2 ? offset : offset & 0xffff;
  readDescriptor(cpu, newSs);
  setSegment(cpu, SS, newSs, sLo, sHi);
  if (cpu.stack32) cpu.regs[4] = (newEsp + popBytes) | 0;
  else cpu.regs[4] = (cpu.regs[4] & ~0xffff) | ((newEsp + popBytes) & 0xffff);
  for (const s of [ES, DS, FS, GS]) validateOuterSegment(cpu, s);
}

export const retfHandler: Handler = (cpu, i) => {
  const size = i.opsize32 ? 2 : 1;
  const n = i.entry!.operands.length ? i.imm & 0xffff : 0;
  const offset = cpu.peek(size, 0);
  const sel = cpu.peek(size, 1 << size) & 0xffff;
  if (!protectedMode(cpu)) {
    loadSegmentReal(cpu, CS, sel);
    cpu.eip = size === 2 ? offset : offset & 0xffff;
    cpu.addSp((2 << size) + n);
    cpu.codeSegmentChanged();
    return;
  }
  farReturn(cpu, size, sel, offset, n, 0);
};

export const iretHandler: Handler = (cpu, i) => {
  const size = i.opsize32 ? 2 : 1;
  const bytes = 1 << size;
  cpu.nmiBlocked = false;
  if (!(cpu.cr[0] & CR0_PE)) {
    const eip = cpu.peek(size, 0), cs = cpu.peek(size, bytes) & 0xffff, flags = cpu.peek(size, 2 * bytes);
    cpu.addSp(3 * bytes);
    loadSegmentReal(cpu, CS, cs);
    cpu.eip = size === 2 ? eip : eip & 0xffff;
    const mask = size === 2 ? 0x257fd5 : 0x7fd5;
    writeEflags(cpu, flags, mask);
    cpu.codeSegmentChanged();
    return;
  }
  if (cpu.eflags & VM) {
    if (vmeIret(cpu, size)) return;
    if (((cpu.eflags >> 12) & 3) !== 3) throw new CpuFault(GP, 0);
    const eip = cpu.peek(size, 0), cs = cpu.peek(size, bytes) & 0xffff, flags = cpu.peek(size, 2 * bytes);
    cpu.addSp(3 * bytes);
    loadSegmentReal(cpu, CS, cs);
    cpu.eip = size === 2 ? eip : eip & 0xffff;
    writeEflags(cpu, flags, (size === 2 ? 0x257fd5 : 0x7fd5) & ~IOPL);
    cpu.codeSegmentChanged();
    return;
  }
  if (cpu.eflags & NT) {
    const link = cpu.sysRead32(cpu.segBase[7]) & 0xffff;
    taskSwitch(cpu, link, TASK_IRET, false, 0);
    return;
  }
  const eip = cpu.peek(size, 0), cs = cpu.peek(size, bytes) & 0xffff, flags = cpu.peek(size, 2 * bytes);
  if (size === 2 && (flags & VM) && cpu.cpl === 0) {
    // Return to virtual-8086 mode.
    const esp = cpu.peek(2, 12), ss = cpu.peek(2, 16), es = cpu.peek(2, 20), ds = cpu.peek(2, 24);
    const fs = cpu.peek(2, 28), gs = cpu.peek(2, 32);
    writeEflags(cpu, flags, 0x3f7fd5 | VM);
    for (const [s, v] of [[CS, cs], [SS, ss], [ES, es], [DS, ds], [FS, fs], [GS, gs]] as const) {
      loadSegmentReal(cpu, s, v & 0xffff);
    }
    cpu.regs[4] = esp;
    cpu.eip = eip & 0xffff;
    cpu.codeSegmentChanged();
    return;
  }
  const cpl = cpu.cpl;
  const iopl = (cpu.eflags >> 12) & 3;
  farReturn(cpu, size, cs, eip, 0, bytes);
  // EFLAGS: IOPL only at CPL 0, IF only when CPL <= IOPL; VM/VIF/VIP only from CPL 0 (handled above).
  let mask = TF | 0x8d5 | 0x400 | NT | RF | AC | ID;
  if (cpl === 0) mask |= IOPL | VIF | VIP;
  if (cpl <= iopl) mask |= IF;
  if (size === 1) mask &= 0xffff;
  writeEflags(cpu, flags, mask);
};

export { loadSegment, readEflags };
