/**
 * Delivery of exceptions and interrupts: through the real-mode IVT, or through IDT interrupt and
 * trap gates with the privilege checks, the stack switch from the TSS and the V86 frame (SDM Vol.
 * 3A, 6.12). Task gates hand over to task.ts.
 */
import { CpuFault, GP, NP, SS as SS_FAULT, TS } from "./faults.ts";
import { readEflags } from "./flags.ts";
import type { Cpu } from "./cpu.ts";
import { desc, loadSegmentReal, readDescriptor, setSegment, tssStack } from "./segmentation.ts";
import { AC, CR0_PE, CS, DS, ES, FS, GS, IF, NT, RF, SEG_P, SS, TF, VM } from "./state.ts";
import { TASK_INT, taskSwitch } from "./task.ts";
import { vmxDelivered, vmxDelivering } from "./vmx/exit.ts";

/** What raised the event: decides the DPL check (software) and EXT bit in error codes. */
export const EV_EXCEPTION = 0, EV_SOFTWARE = 1, EV_EXTERNAL = 2;

/**
 * Watches every event delivery of one CPU (QEMU's `-d int` log is built on it). `delivering` runs
 * first, with the state as the event finds it (EIP as the frame will hold it, halted already
 * cleared); `failed` runs when the delivery itself faults, with the vector of that fault, before
 * the CPU raises it (perhaps as a double fault) or, for a failing #DF, shuts down. A delivery
 * that neither fails nor is followed by `failed` succeeded. Software events (INT n, INT3, INTO)
 * arrive with EIP past the instruction; its own address is in `cpu.insnEip`.
 */
export interface DeliveryObserver {
  delivering(cpu: Cpu, vector: number, kind: number, hasCode: boolean, code: number): void;
  failed(cpu: Cpu, vector: number, kind: number, faultVector: number): void;
}

const observers = new WeakMap<Cpu, DeliveryObserver[]>();
/** How many CPUs have observers: while 0, delivery skips the lookup. */
let observedCpus = 0;

/** Adds an observer to `cpu`; the returned function removes it. */
export function observeDeliveries(cpu: Cpu, observer: DeliveryObserver): () => void {
  let list = observers.get(cpu);
  if (!list) {
    observers.set(cpu, list = []);
    observedCpus++;
  }
  list.push(observer);
  return () => {
    const at = list.indexOf(observer);
    if (at < 0) return;
    list.splice(at, 1);
    if (!list.length && observers.get(cpu) === list) {
      observers.delete(cpu);
      observedCpus--;
    }
  };
}

export function deliver(cpu: Cpu, vector: number, kind: number, hasCode: boolean, code: number): void {
  cpu.halted = false;
  if (cpu.vmxNonRoot) vmxDelivering(cpu, vector, kind, hasCode, code);
  const watching = observedCpus === 0 ? undefined : observers.get(cpu);
  if (watching === undefined) deliverEvent(cpu, vector, kind, hasCode, code);
  else {
    for (const o of watching) o.delivering(cpu, vector, kind, hasCode, code);
    try {
      deliverEvent(cpu, vector, kind, hasCode, code);
    } catch (e) {
      if (e instanceof CpuFault) { for (const o of watching) o.failed(cpu, vector, kind, e.vector); }
      throw e;
    }
  }
  if (cpu.vmxNonRoot) vmxDelivered(cpu);
}

function deliverEvent(cpu: Cpu, vector: number, kind: number, hasCode: boolean, code: number): void {
  if (!(cpu.cr[0] & CR0_PE)) {
    deliverReal(cpu, vector);
    return;
  }
  const ext = kind === EV_EXTERNAL || kind === EV_EXCEPTION ? 1 : 0;
  const gateSel = vector * 8 + 2 + ext;
  if (vector * 8 + 7 > cpu.idtLimit) throw new CpuFault(GP, gateSel);
  const lo = cpu.sysRead32(cpu.idtBase + vector * 8);
  const hi = cpu.sysRead32(cpu.idtBase + vector * 8 + 4);
  const type = (hi >> 8) & 0x1f;
  const dpl = (hi >> 13) & 3;
  if (type !== 5 && type !== 6 && type !== 7 && type !== 0xe && type !== 0xf) throw new CpuFault(GP, gateSel);
  if (kind === EV_SOFTWARE && dpl < cpu.cpl) throw new CpuFault(GP, gateSel);
  if (!(hi & SEG_P)) throw new CpuFault(NP, gateSel);
  if (type === 5) {
    taskSwitch(cpu, (lo >>> 16) & 0xffff, TASK_INT, hasCode, code);
    return;
  }
  const gate32 = (type & 8) !== 0;
  const trap = (type & 1) !== 0;
  const sel = (lo >>> 16) & 0xffff;
  const offset = gate32 ? ((hi & 0xffff0000) | (lo & 0xffff)) : lo & 0xffff;
  if ((sel & ~3) === 0) throw new CpuFault(GP, ext);
  if (!readDescriptor(cpu, sel)) throw new CpuFault(GP, (sel & 0xfffc) + ext);
  const cLo = desc.lo, cHi = desc.hi;
  const cDpl = (cHi >> 13) & 3;
  if (!(cHi & 0x1000) || !(cHi & 0x800) || cDpl > cpu.cpl) throw new CpuFault(GP, (sel & 0xfffc) + ext);
  if (!(cHi & SEG_P)) throw new CpuFault(NP, (sel & 0xfffc) + ext);
  const conforming = (cHi & 0x400) !== 0;
  const oldFlags = readEflags(cpu);
  const v86 = (oldFlags & VM) !== 0;
  const oldCs = cpu.segSel[CS], oldEip = cpu.eip;
  const oldSs = cpu.segSel[SS], oldEsp = cpu.regs[4];
  const saved = saveStackState(cpu, v86);
  try {
    pushFrame();
  } catch (e) {
    // A fault on the new stack is taken with the state the event found (a VM exit in the middle,
    // for a shadow-paging fault, must not see a half-switched stack either).
    restoreStackState(cpu, saved);
    throw e;
  }
  // Flags first: codeSegmentChanged() derives CPL and the code size from EFLAGS.VM.
  cpu.eflags &= ~(TF | NT | RF | VM | (trap ? 0 : IF));
  setSegment(cpu, CS, (sel & 0xfffc) | cpu.cpl, cLo, cHi);
  cpu.codeSegmentChanged();
  cpu.eip = offset;

  function pushFrame(): void {
    if (!conforming && cDpl < cpu.cpl) {
      // Inter-privilege: new stack from the TSS.
      const { ss, esp } = tssStack(cpu, cDpl);
      if ((ss & ~3) === 0) throw new CpuFault(TS, ext);
      if (!readDescriptor(cpu, ss)) throw new CpuFault(TS, (ss & 0xfffc) + ext);
      const sHi = desc.hi;
      if ((ss & 3) !== cDpl || ((sHi >> 13) & 3) !== cDpl || (sHi & 0x1a00) !== 0x1200) {
        throw new CpuFault(TS, (ss & 0xfffc) + ext);
      }
      if (!(sHi & SEG_P)) throw new CpuFault(SS_FAULT, (ss & 0xfffc) + ext);
      const sLo = desc.lo;
      cpu.setCpl(cDpl);
      setSegment(cpu, SS, ss, sLo, sHi);
      cpu.regs[4] = esp;
      const size = gate32 ? 2 : 1;
      // The whole frame must fit the new stack: #SS(new SS) otherwise (and the state is restored).
      cpu.checkPushes(((v86 ? 9 : 5) + (hasCode ? 1 : 0)) << size, (ss & 0xfffc) + ext);
      if (v86) {
        cpu.push(size, cpu.segSel[GS]);
        cpu.push(size, cpu.segSel[FS]);
        cpu.push(size, cpu.segSel[DS]);
        cpu.push(size, cpu.segSel[ES]);
        for (const s of [GS, FS, DS, ES]) {
          cpu.segSel[s] = 0;
          cpu.segBase[s] = 0;
          cpu.segLimit[s] = 0;
          cpu.segRights[s] = 0;
          cpu.segmentLoaded(s);
        }
      }
      cpu.push(size, oldSs);
      cpu.push(size, oldEsp);
    } else {
      if (v86) throw new CpuFault(GP, (sel & 0xfffc) + ext);
      if (!conforming) cDplCheck(cpu, cDpl);
      cpu.checkPushes((3 + (hasCode ? 1 : 0)) << (gate32 ? 2 : 1), ext);
    }
    const size = gate32 ? 2 : 1;
    cpu.push(size, oldFlags);
    cpu.push(size, oldCs);
    cpu.push(size, oldEip);
    if (hasCode) cpu.push(size, code);
  }
}

/** CPL, ESP and the segments a delivery changes before its frame is complete (data ones: V86). */
interface StackState {
  cpl: number;
  esp: number;
  stack32: boolean;
  segs: number[][];
}

const STACK_SEGS = [SS], V86_SEGS = [SS, ES, DS, FS, GS];

export function saveStackState(cpu: Cpu, v86: boolean): StackState {
  const segs = [];
  for (const s of v86 ? V86_SEGS : STACK_SEGS) {
    segs.push([s, cpu.segSel[s], cpu.segBase[s], cpu.segLimit[s], cpu.segRights[s]]);
  }
  return { cpl: cpu.cpl, esp: cpu.regs[4], stack32: cpu.stack32, segs };
}

export function restoreStackState(cpu: Cpu, saved: StackState): void {
  for (const [s, sel, base, limit, rights] of saved.segs) {
    cpu.segSel[s] = sel;
    cpu.segBase[s] = base;
    cpu.segLimit[s] = limit;
    cpu.segRights[s] = rights;
    cpu.segmentLoaded(s);
  }
  cpu.stack32 = saved.stack32;
  cpu.regs[4] = saved.esp;
  if (cpu.cpl !== saved.cpl) cpu.setCpl(saved.cpl);
}

function cDplCheck(cpu: Cpu, dpl: number): void {
  if (dpl !== cpu.cpl) throw new CpuFault(GP, 0);
}

function deliverReal(cpu: Cpu, vector: number): void {
  if (vector * 4 + 3 > cpu.idtLimit) throw new CpuFault(GP, 0);
  const flags = readEflags(cpu);
  cpu.push(1, flags);
  cpu.push(1, cpu.segSel[CS]);
  cpu.push(1, cpu.eip);
  const ip = cpu.rd16(cpu.idtBase + vector * 4);
  const cs = cpu.rd16(cpu.idtBase + vector * 4 + 2);
  loadSegmentReal(cpu, CS, cs);
  cpu.eip = ip;
  cpu.eflags &= ~(TF | IF | AC | RF);
}
