/**
 * System instructions: flag manipulation and PUSHF/POPF with the IOPL/VM rules, descriptor-table
 * loads and stores, LLDT/LTR/SLDT/STR, control and debug registers, CPUID, RDTSC/RDPMC,
 * RDMSR/WRMSR, SYSENTER/SYSEXIT, LAR/LSL/VERR/VERW/ARPL, and the FPU escapes (delegated).
 */
import { virtualCliSti, vmePopf, vmePushf } from "../vme.ts";
import type { Cpu } from "../cpu.ts";
import { CpuFault, GP, NM, NP, UD } from "../faults.ts";
import { arithFlags, FOP_NONE, getCF, getZF, readEflags } from "../flags.ts";
import type { Handler } from "../insn.ts";
import { cpuid } from "../models.ts";
import { fxrstorXmm, fxsaveXmm } from "../simd/fxsave.ts";
import { isVmxMsr, vmxCr0Fault, vmxCr4Fault, vmxReadMsr, vmxWriteMsr } from "../vmx/hooks.ts";
import {
  vmxCpuid,
  vmxCr0Shadowed,
  vmxDescriptorTable,
  vmxInvlpg,
  vmxMonitor,
  vmxMovDr,
  vmxMovFromCr,
  vmxMovToCr,
  vmxMsr,
  vmxMwait,
  vmxPause,
  vmxRdpmc,
  vmxRdtsc,
} from "../vmx/intercepts.ts";
import { desc, markAccessed, protectedMode, readDescriptor, setSegment } from "../segmentation.ts";
import {
  AC,
  ARITH_FLAGS,
  CR0_EM,
  CR0_MP,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR4_PGE,
  CR4_PSE,
  CR4_TSD,
  CS,
  DF,
  ID,
  IF,
  IOPL,
  LDTR,
  NT,
  RF,
  SEG_P,
  SS,
  TF,
  TR,
  VM,
  ZF,
} from "../state.ts";

/** Writes EFLAGS bits under `mask` (the rest are kept). Bit 1 stays set, reserved bits stay clear. */
export function writeEflags(cpu: Cpu, value: number, mask: number): void {
  const old = readEflags(cpu);
  const v = ((old & ~mask) | (value & mask) | 2) & 0x3f7fd7;
  cpu.fAux = v & ARITH_FLAGS;
  cpu.fOp = FOP_NONE;
  cpu.eflags = v & ~ARITH_FLAGS;
}

function flagOp(f: (cpu: Cpu) => void): Handler {
  return (cpu) => f(cpu);
}

export const clcHandler = flagOp((c) => writeEflags(c, 0, 1));
export const stcHandler = flagOp((c) => writeEflags(c, 1, 1));
export const cmcHandler = flagOp((c) => writeEflags(c, getCF(c) ^ 1, 1));
export const cldHandler = flagOp((c) => (c.eflags &= ~DF));
export const stdHandler = flagOp((c) => (c.eflags |= DF));

function iopl(cpu: Cpu): number {
  return (cpu.eflags >> 12) & 3;
}

export const cliHandler: Handler = (cpu) => {
  if (virtualCliSti(cpu, false)) return;
  if ((protectedMode(cpu) && cpu.cpl > iopl(cpu)) || ((cpu.eflags & VM) && iopl(cpu) < 3)) {
    throw new CpuFault(GP, 0);
  }
  cpu.eflags &= ~IF;
};

export const stiHandler: Handler = (cpu) => {
  if (virtualCliSti(cpu, true)) return;
  if ((protectedMode(cpu) && cpu.cpl > iopl(cpu)) || ((cpu.eflags & VM) && iopl(cpu) < 3)) {
    throw new CpuFault(GP, 0);
  }
  if (!(cpu.eflags & IF)) cpu.intShadow = 1;
  cpu.eflags |= IF;
};

export const sahfHandler: Handler = (cpu) => writeEflags(cpu, (cpu.regs[0] >> 8) & 0xd5, 0xd5);
export const lahfHandler: Handler = (cpu) => cpu.setReg(0, 4, (arithFlags(cpu) & 0xd5) | 2);

export const pushfHandler: Handler = (cpu, i) => {
  if (vmePushf(cpu, i.opsize32 ? 2 : 1)) return;
  if ((cpu.eflags & VM) && iopl(cpu) < 3) throw new CpuFault(GP, 0);
  // VM and RF read as 0 in the pushed image.
  cpu.push(i.opsize32 ? 2 : 1, readEflags(cpu) & ~(VM | RF));
};

export const popfHandler: Handler = (cpu, i) => {
  const size = i.opsize32 ? 2 : 1;
  if (vmePopf(cpu, size)) return;
  if ((cpu.eflags & VM) && iopl(cpu) < 3) throw new CpuFault(GP, 0);
  const v = cpu.pop(size);
  let mask = 0x8d5 | TF | DF | NT | AC | ID;
  if (!protectedMode(cpu) && !(cpu.eflags & VM)) mask |= IOPL | IF;
  else if (cpu.eflags & VM) mask |= IF;
  else {
    if (cpu.cpl === 0) mask |= IOPL;
    if (cpu.cpl <= iopl(cpu)) mask |= IF;
  }
  if (size === 1) mask &= 0xffff;
  writeEflags(cpu, v, mask);
};

// ---- descriptor tables ----

function requireCpl0(cpu: Cpu): void {
  if (cpu.cpl !== 0 || (cpu.eflags & VM)) throw new CpuFault(GP, 0);
}

export const sdtHandler: Handler = (cpu, i) => {
  if (cpu.vmxNonRoot) vmxDescriptorTable(cpu, i, false, i.arg);
  const lin = cpu.ea(i);
  const limit = i.arg === 0 ? cpu.gdtLimit : cpu.idtLimit;
  const base = i.arg === 0 ? cpu.gdtBase : cpu.idtBase;
  cpu.probeWrite(lin, 6);
  cpu.wr16(lin, limit);
  // A 16-bit SGDT stores 24 bits of base; the P6 writes the high byte as 0 (QEMU stores all 32).
  cpu.wr32((lin + 2) | 0, i.opsize32 ? base : base & 0xffffff);
};

export const ldtHandler: Handler = (cpu, i) => {
  requireCpl0(cpu);
  if (cpu.vmxNonRoot) vmxDescriptorTable(cpu, i, false, 2 + i.arg);
  const lin = cpu.ea(i);
  const limit = cpu.rd16(lin);
  let base = cpu.rd32((lin + 2) | 0);
  if (!i.opsize32) base &= 0xffffff;
  if (i.arg === 0) {
    cpu.gdtBase = base;
    cpu.gdtLimit = limit;
  } else {
    cpu.idtBase = base;
    cpu.idtLimit = limit;
  }
};

function requireProtected(cpu: Cpu): void {
  if (!protectedMode(cpu)) throw new CpuFault(UD);
}

export const sldtHandler: Handler = (cpu, i) => {
  requireProtected(cpu);
  if (cpu.vmxNonRoot) vmxDescriptorTable(cpu, i, true, 0);
  if (i.mod === 3) cpu.setReg(i.opsize32 ? 2 : 1, i.rm, cpu.segSel[LDTR]);
  else cpu.wr16(cpu.ea(i), cpu.segSel[LDTR]);
};

export const strHandler: Handler = (cpu, i) => {
  requireProtected(cpu);
  if (cpu.vmxNonRoot) vmxDescriptorTable(cpu, i, true, 1);
  if (i.mod === 3) cpu.setReg(i.opsize32 ? 2 : 1, i.rm, cpu.segSel[TR]);
  else cpu.wr16(cpu.ea(i), cpu.segSel[TR]);
};

export const lldtHandler: Handler = (cpu, i) => {
  requireProtected(cpu);
  requireCpl0(cpu);
  if (cpu.vmxNonRoot) vmxDescriptorTable(cpu, i, true, 2);
  const sel = cpu.readE(i, 1);
  if ((sel & ~3) === 0) {
    cpu.segSel[LDTR] = sel;
    cpu.segRights[LDTR] = 0;
    cpu.segBase[LDTR] = 0;
    cpu.segLimit[LDTR] = 0;
    return;
  }
  if ((sel & 4) || !readDescriptor(cpu, sel)) throw new CpuFault(GP, sel & 0xfffc);
  if ((desc.hi & 0x1f00) !== 0x0200) throw new CpuFault(GP, sel & 0xfffc);
  if (!(desc.hi & SEG_P)) throw new CpuFault(NP, sel & 0xfffc);
  setSegment(cpu, LDTR, sel, desc.lo, desc.hi);
};

export const ltrHandler: Handler = (cpu, i) => {
  requireProtected(cpu);
  requireCpl0(cpu);
  if (cpu.vmxNonRoot) vmxDescriptorTable(cpu, i, true, 3);
  const sel = cpu.readE(i, 1);
  if ((sel & ~3) === 0 || (sel & 4) || !readDescriptor(cpu, sel)) throw new CpuFault(GP, sel & 0xfffc);
  const type = (desc.hi >> 8) & 0x1f;
  if (type !== 1 && type !== 9) throw new CpuFault(GP, sel & 0xfffc);
  if (!(desc.hi & SEG_P)) throw new CpuFault(NP, sel & 0xfffc);
  desc.hi |= 0x200; // busy
  cpu.sysWrite32(desc.addr + 4, desc.hi);
  setSegment(cpu, TR, sel, desc.lo, desc.hi);
};

export const smswHandler: Handler = (cpu, i) => {
  // In VMX non-root operation the host-owned bits read from the CR0 read shadow (SDM 26.3).
  const cr0 = cpu.vmxNonRoot ? vmxCr0Shadowed(cpu) : cpu.cr[0];
  if (i.mod === 3) cpu.setReg(i.opsize32 ? 2 : 1, i.rm, cr0);
  else cpu.wr16(cpu.ea(i), cr0);
};

export const lmswHandler: Handler = (cpu, i) => {
  requireCpl0(cpu);
  const v = cpu.readE(i, 1);
  // LMSW sets PE but never clears it; it touches only PE, MP, EM, TS.
  setCr0(cpu, (cpu.cr[0] & ~0xe) | (v & 0xf) | (cpu.cr[0] & CR0_PE));
};

export const cltsHandler: Handler = (cpu) => {
  requireCpl0(cpu);
  cpu.cr[0] &= ~CR0_TS;
};

export function setCr0(cpu: Cpu, v: number): void {
  if ((v & CR0_PG) && !(v & CR0_PE)) throw new CpuFault(GP, 0);
  // The SDM's #GP for NW without CD is not raised: QEMU 7.2 accepts it (tests/guests/cpu/exceptions).
  const old = cpu.cr[0];
  cpu.cr[0] = v | 0x10; // ET is hardwired on P6
  if ((old ^ v) & (CR0_PG | CR0_PE | 0x10000)) {
    cpu.flushTlb();
    cpu.codeSegmentChanged();
  }
}

export const movfromcrHandler: Handler = (cpu, i) => {
  requireCpl0(cpu);
  if (i.reg === 1 || i.reg > 4) throw new CpuFault(UD);
  cpu.regs[i.rm] = cpu.vmxNonRoot ? vmxMovFromCr(cpu, i.reg, i.rm) : cpu.cr[i.reg];
};

export const movtocrHandler: Handler = (cpu, i) => {
  requireCpl0(cpu);
  const v = cpu.vmxNonRoot ? vmxMovToCr(cpu, i.reg, cpu.regs[i.rm], i.rm) : cpu.regs[i.rm];
  switch (i.reg) {
    case 0:
      if (vmxCr0Fault(cpu, v)) throw new CpuFault(GP, 0);
      setCr0(cpu, v);
      break;
    case 2:
      cpu.cr[2] = v;
      break;
    case 3:
      // All of it, as QEMU keeps it: PAE takes the PDPT address from bits 31:5.
      cpu.cr[3] = v;
      cpu.flushTlb();
      break;
    case 4:
      if ((v & ~0x26ff) || vmxCr4Fault(cpu, v)) throw new CpuFault(GP, 0);
      if ((cpu.cr[4] ^ v) & (CR4_PSE | CR4_PGE | 0x20)) cpu.flushTlb();
      cpu.cr[4] = v;
      break;
    default:
      throw new CpuFault(UD);
  }
  cpu.breakBlock = true;
};

export const movfromdrHandler: Handler = (cpu, i) => {
  requireCpl0(cpu);
  if (cpu.vmxNonRoot) vmxMovDr(cpu, i.reg, true, i.rm);
  let r = i.reg;
  if (r === 4 || r === 5) r += 2;
  cpu.regs[i.rm] = cpu.dr[r];
};

export const movtodrHandler: Handler = (cpu, i) => {
  requireCpl0(cpu);
  if (cpu.vmxNonRoot) vmxMovDr(cpu, i.reg, false, i.rm);
  let r = i.reg;
  if (r === 4 || r === 5) r += 2;
  cpu.dr[r] = r === 6 ? cpu.regs[i.rm] | 0xffff0ff0 : r === 7 ? (cpu.regs[i.rm] | 0x400) : cpu.regs[i.rm];
};

export const invlpgHandler: Handler = (cpu, i) => {
  requireCpl0(cpu);
  if (cpu.vmxNonRoot) vmxInvlpg(cpu, cpu.ea(i));
  cpu.flushPage(cpu.ea(i));
};

// ---- identification, time, MSRs ----

export const cpuidHandler: Handler = (cpu) => {
  if (cpu.vmxNonRoot) vmxCpuid(cpu);
  const r = cpuid(cpu.model, cpu.regs[0], cpu.regs[1]);
  cpu.regs[0] = r[0];
  cpu.regs[3] = r[1];
  cpu.regs[1] = r[2];
  cpu.regs[2] = r[3];
};

export function tsc(cpu: Cpu): bigint {
  return BigInt(Math.floor(cpu.bus.nowNs())) + cpu.tscOffset;
}

export const rdtscHandler: Handler = (cpu) => {
  if ((cpu.cr[4] & CR4_TSD) && cpu.cpl !== 0) throw new CpuFault(GP, 0);
  if (cpu.vmxNonRoot) vmxRdtsc(cpu);
  const t = tsc(cpu);
  cpu.regs[0] = Number(t & 0xffffffffn) | 0;
  cpu.regs[2] = Number((t >> 32n) & 0xffffffffn) | 0;
};

export const rdpmcHandler: Handler = (cpu) => {
  if (cpu.cpl !== 0 && !(cpu.cr[4] & 0x100)) throw new CpuFault(GP, 0);
  if (cpu.vmxNonRoot) vmxRdpmc(cpu);
  if ((cpu.regs[1] >>> 0) > 1) throw new CpuFault(GP, 0);
  cpu.regs[0] = 0;
  cpu.regs[2] = 0;
};

export const MSR_TSC = 0x10, MSR_APIC_BASE = 0x1b, MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175;
export const MSR_SYSENTER_EIP = 0x176, MSR_PAT = 0x277, MSR_MTRR_DEF_TYPE = 0x2ff;

/** MSRs this CPU knows (anything else #GPs): plain storage apart from the TSC. */
export function knownMsr(n: number): boolean {
  return n === MSR_TSC || n === MSR_APIC_BASE || (n >= 0x174 && n <= 0x176) || n === MSR_PAT ||
    n === 0xfe || (n >= 0x200 && n <= 0x20f) || n === 0x250 || n === 0x258 || n === 0x259 ||
    (n >= 0x268 && n <= 0x26f) || n === MSR_MTRR_DEF_TYPE || n === 0x17 || n === 0x8b || n === 0x3a ||
    (n >= 0x179 && n <= 0x17b) || (n >= 0x400 && n <= 0x413) || isVmxMsr(n);
}

export function readMsr(cpu: Cpu, n: number): bigint {
  if (n === MSR_TSC) return tsc(cpu) & 0xffffffffffffffffn;
  if (isVmxMsr(n)) return vmxReadMsr(cpu, n);
  if (n === MSR_PAT && !cpu.msrs.has(n)) return 0x0007040600070406n;
  if (n === 0xfe) return 0x508n; // MTRRcap: 8 variable ranges, fixed ranges, WC
  return cpu.msrs.get(n) ?? 0n;
}

export const rdmsrHandler: Handler = (cpu) => {
  if (cpu.cpl !== 0) throw new CpuFault(GP, 0);
  const n = cpu.regs[1] >>> 0;
  if (cpu.vmxNonRoot) vmxMsr(cpu, n, false);
  if (!knownMsr(n)) throw new CpuFault(GP, 0);
  const v = readMsr(cpu, n);
  cpu.regs[0] = Number(v & 0xffffffffn) | 0;
  cpu.regs[2] = Number(v >> 32n) | 0;
};

export const wrmsrHandler: Handler = (cpu) => {
  if (cpu.cpl !== 0) throw new CpuFault(GP, 0);
  const n = cpu.regs[1] >>> 0;
  if (cpu.vmxNonRoot) vmxMsr(cpu, n, true);
  writeMsr(cpu, n, (BigInt(cpu.regs[2] >>> 0) << 32n) | BigInt(cpu.regs[0] >>> 0));
};

/** WRMSR's effect after its privilege check (also the VMX MSR-load lists): #GP where WRMSR faults. */
export function writeMsr(cpu: Cpu, n: number, v: bigint): void {
  if (!knownMsr(n) || n === 0xfe) throw new CpuFault(GP, 0);
  // QEMU 7.2's TCG keeps a written TSC aside and goes on reading the clock; so do we.
  if (n === MSR_TSC) cpu.msrs.set(n, v);
  else if (isVmxMsr(n)) vmxWriteMsr(cpu, n, v);
  else cpu.msrs.set(n, v);
}

// ---- SYSENTER / SYSEXIT (flat segments derived from IA32_SYSENTER_CS) ----

function flatSegment(cpu: Cpu, seg: number, sel: number, code: boolean, dpl: number): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = 0;
  cpu.segLimit[seg] = -1;
  cpu.segRights[seg] = 0x00c09100 | (dpl << 13) | (code ? 0xa00 : 0x200);
  cpu.segmentLoaded(seg);
  if (seg === SS) cpu.stack32 = true;
}

export const sysenterHandler: Handler = (cpu) => {
  const cs = Number(readMsr(cpu, MSR_SYSENTER_CS) & 0xffffn);
  if (!protectedMode(cpu) || (cs & 0xfffc) === 0) throw new CpuFault(GP, 0);
  cpu.eflags &= ~(VM | IF | RF);
  flatSegment(cpu, CS, cs & 0xfffc, true, 0);
  flatSegment(cpu, SS, (cs + 8) & 0xfffc, false, 0);
  cpu.codeSegmentChanged();
  cpu.regs[4] = Number(readMsr(cpu, MSR_SYSENTER_ESP) & 0xffffffffn) | 0;
  cpu.eip = Number(readMsr(cpu, MSR_SYSENTER_EIP) & 0xffffffffn) | 0;
};

export const sysexitHandler: Handler = (cpu) => {
  const cs = Number(readMsr(cpu, MSR_SYSENTER_CS) & 0xffffn);
  if (!protectedMode(cpu) || cpu.cpl !== 0 || (cs & 0xfffc) === 0) throw new CpuFault(GP, 0);
  flatSegment(cpu, CS, ((cs + 16) & 0xfffc) | 3, true, 3);
  flatSegment(cpu, SS, ((cs + 24) & 0xfffc) | 3, false, 3);
  cpu.codeSegmentChanged();
  cpu.regs[4] = cpu.regs[1];
  cpu.eip = cpu.regs[2];
};

// ---- descriptor queries ----

function setZf(cpu: Cpu, on: boolean): void {
  cpu.fAux = (arithFlags(cpu) & ~ZF) | (on ? ZF : 0);
  cpu.fOp = FOP_NONE;
}

/** Whether the selector's descriptor is visible at CPL/RPL for LAR/LSL/VERR/VERW. */
function visible(cpu: Cpu, sel: number): boolean {
  if ((sel & ~3) === 0 || !readDescriptor(cpu, sel)) return false;
  const hi = desc.hi;
  const dpl = (hi >> 13) & 3;
  const conformingCode = (hi & 0x1c00) === 0x1c00;
  return conformingCode || (dpl >= cpu.cpl && dpl >= (sel & 3));
}

const LAR_SYSTEM_OK = new Set([1, 2, 3, 4, 5, 9, 0xb, 0xc]);
const LSL_SYSTEM_OK = new Set([1, 2, 3, 9, 0xb]);

export function larlslHandler(isLsl: number): Handler {
  return (cpu, i) => {
    requireProtected(cpu);
    const sel = cpu.readE(i, 1);
    let ok = visible(cpu, sel);
    if (ok && !(desc.hi & 0x1000)) ok = (isLsl ? LSL_SYSTEM_OK : LAR_SYSTEM_OK).has((desc.hi >> 8) & 0xf);
    setZf(cpu, ok);
    if (!ok) return;
    if (isLsl) {
      const raw = (desc.hi & 0xf0000) | (desc.lo & 0xffff);
      cpu.setReg(i.size, i.reg, desc.hi & 0x800000 ? (raw << 12) | 0xfff : raw);
    } else {
      cpu.setReg(i.size, i.reg, desc.hi & 0x00f0ff00);
    }
  };
}

export function verrwHandler(write: number): Handler {
  return (cpu, i) => {
    requireProtected(cpu);
    const sel = cpu.readE(i, 1);
    let ok = visible(cpu, sel) && (desc.hi & 0x1000) !== 0;
    if (ok) {
      const code = (desc.hi & 0x800) !== 0, rw = (desc.hi & 0x200) !== 0;
      ok = write ? !code && rw : !code || rw;
      if (code && !write && (desc.hi & 0x400) === 0) {
        const dpl = (desc.hi >> 13) & 3;
        ok = rw && dpl >= cpu.cpl && dpl >= (sel & 3);
      }
    }
    setZf(cpu, ok);
  };
}

export const arplHandler: Handler = (cpu, i) => {
  requireProtected(cpu);
  const dst = cpu.readE(i, 1);
  const src = cpu.getReg(1, i.reg);
  if ((dst & 3) < (src & 3)) {
    cpu.writeE(i, 1, (dst & ~3) | (src & 3));
    setZf(cpu, true);
  } else {
    setZf(cpu, false);
  }
};

// ---- misc ----

/**
 * MONITOR and MWAIT (CPUID.1:ECX.MONITOR): #UD without the feature or above CPL 0, #GP(0) for
 * MWAIT extensions other than "interrupt as break event" (ECX bit 0). MONITOR arms the address
 * range; MWAIT returns at once, which the SDM allows (a wake-up may come from any event), so the
 * waiting itself is HLT's job. In VMX non-root operation either may exit.
 */
export const monitorHandler: Handler = (cpu) => {
  if (!(cpuid(cpu.model, 1, 0)[2] & 8) || cpu.cpl > 0) throw new CpuFault(UD, 0);
  if (cpu.vmxNonRoot) vmxMonitor(cpu);
  monitorArmed.add(cpu);
};

export const mwaitHandler: Handler = (cpu) => {
  if (!(cpuid(cpu.model, 1, 0)[2] & 8) || cpu.cpl > 0) throw new CpuFault(UD, 0);
  if (cpu.regs[1] & ~1) throw new CpuFault(GP, 0);
  if (cpu.vmxNonRoot) vmxMwait(cpu, monitorArmed.has(cpu));
  monitorArmed.delete(cpu);
};

/** CPUs whose monitoring hardware MONITOR armed (MWAIT disarms it). */
const monitorArmed = new WeakSet<Cpu>();

/** NOP and its relatives; PAUSE (F3 90) is a NOP that may exit in VMX non-root operation. */
export const nopHandler: Handler = (cpu, i) => {
  if (cpu.vmxNonRoot && i.rep === 1 && i.entry?.opcode === 0x90) vmxPause(cpu);
};
export const ud2Handler: Handler = () => {
  throw new CpuFault(UD);
};

/** x87 escapes: #NM when CR0.EM or CR0.TS, else the FPU (if none is attached, #NM as with no FPU). */
export const fpuHandler: Handler = (cpu, i) => {
  if (cpu.cr[0] & (CR0_EM | CR0_TS)) throw new CpuFault(NM);
  if (!cpu.fpu) throw new CpuFault(NM);
  cpu.fpu.execute(cpu, i);
};

export const fwaitHandler: Handler = (cpu) => {
  if ((cpu.cr[0] & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) throw new CpuFault(NM);
  cpu.fpu?.wait(cpu);
};

export const fxsaveHandler: Handler = (cpu, i) => {
  if (cpu.cr[0] & CR0_EM) throw new CpuFault(UD);
  if (cpu.cr[0] & CR0_TS) throw new CpuFault(NM);
  if (cpu.ea(i) & 15) throw new CpuFault(GP, 0);
  if (!cpu.fpu) throw new CpuFault(UD);
  cpu.fpu.fxsave(cpu, i);
  fxsaveXmm(cpu, cpu.ea(i));
};

export const fxrstorHandler: Handler = (cpu, i) => {
  if (cpu.cr[0] & CR0_EM) throw new CpuFault(UD);
  if (cpu.cr[0] & CR0_TS) throw new CpuFault(NM);
  if (cpu.ea(i) & 15) throw new CpuFault(GP, 0);
  if (!cpu.fpu) throw new CpuFault(UD);
  cpu.fpu.fxrstor(cpu, i);
  fxrstorXmm(cpu, cpu.ea(i));
};

export { getZF, markAccessed };
