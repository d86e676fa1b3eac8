/**
 * Virtual-8086 mode extensions (CR4.VME) and protected-mode virtual interrupts (CR4.PVI), SDM Vol.
 * 3A 20.3-20.4. When they apply (V86 with IOPL < 3 and VME; CPL 3 in protected mode with IOPL < 3
 * and PVI), the IF-sensitive instructions work on VIF instead of raising #GP for the monitor:
 * CLI/STI (both), and in V86 also the 16-bit PUSHF/POPF/IRET, whose FLAGS image carries VIF in
 * the IF position and IOPL 3. Setting VIF while VIP is pending, or TF from POPF/IRET, raises #GP
 * so the monitor can deliver the pending interrupt. INT n in V86 with VME follows the TSS's
 * interrupt redirection bitmap: a clear bit sends it to the 8086 handler in the IVT.
 *
 * QEMU 7.2's TCG implements none of this (it does not set CPUID.VME even for -cpu pentium, and
 * ignores the two CR4 bits); tests/golden/cpu/vme.sdm.txt records where we follow the SDM instead.
 * Each helper returns false when the extensions do not apply, and the caller goes on with the
 * ordinary rules.
 */
import type { Cpu } from "./cpu.ts";
import { CpuFault, GP } from "./faults.ts";
import { readEflags } from "./flags.ts";
import { loadSegmentReal, protectedMode } from "./segmentation.ts";
import { AC, CR4_PVI, CR4_VME, CS, IF, IOPL, RF, TF, TR, VIF, VIP, VM } from "./state.ts";
import { writeEflags } from "./exec/system.ts";

const iopl = (cpu: Cpu) => (cpu.eflags >> 12) & 3;

/** V86 at IOPL < 3 with CR4.VME: FLAGS images carry VIF. */
function vmeApplies(cpu: Cpu): boolean {
  return (cpu.eflags & VM) !== 0 && iopl(cpu) < 3 && (cpu.cr[4] & CR4_VME) !== 0;
}

/** CLI (`set` false) or STI (`set` true) on VIF, when VME or PVI applies. */
export function virtualCliSti(cpu: Cpu, set: boolean): boolean {
  const pvi = protectedMode(cpu) && cpu.cpl === 3 && iopl(cpu) < 3 && (cpu.cr[4] & CR4_PVI) !== 0;
  if (!pvi && !vmeApplies(cpu)) return false;
  if (!set) cpu.eflags &= ~VIF;
  else if (cpu.eflags & VIP) throw new CpuFault(GP, 0);
  else cpu.eflags |= VIF;
  return true;
}

/** The FLAGS image V86 code sees under VME: IF is VIF, IOPL reads 3. */
function virtualFlags(cpu: Cpu): number {
  const flags = readEflags(cpu) & 0xffff & ~IF;
  return flags | IOPL | (cpu.eflags & VIF ? IF : 0);
}

/** Loads a popped FLAGS image under VME: IF goes to VIF, IOPL stays; #GP for VIP or TF. */
function loadVirtualFlags(cpu: Cpu, image: number): void {
  writeEflags(cpu, image, 0xffff & ~(IF | IOPL));
  cpu.eflags = image & IF ? cpu.eflags | VIF : cpu.eflags & ~VIF;
}

function checkVirtualFlags(cpu: Cpu, image: number): void {
  if (((cpu.eflags & VIP) && (image & IF)) || (image & TF)) throw new CpuFault(GP, 0);
}

/** PUSHF in V86 under VME (32-bit PUSHFD still #GPs). */
export function vmePushf(cpu: Cpu, size: number): boolean {
  if (!vmeApplies(cpu)) return false;
  if (size === 2) throw new CpuFault(GP, 0);
  cpu.push(1, virtualFlags(cpu));
  return true;
}

/** POPF in V86 under VME (32-bit POPFD still #GPs). */
export function vmePopf(cpu: Cpu, size: number): boolean {
  if (!vmeApplies(cpu)) return false;
  if (size === 2) throw new CpuFault(GP, 0);
  const image = cpu.peek(1, 0);
  checkVirtualFlags(cpu, image);
  cpu.addSp(2);
  loadVirtualFlags(cpu, image);
  return true;
}

/** IRET in V86 under VME (32-bit IRETD still #GPs). */
export function vmeIret(cpu: Cpu, size: number): boolean {
  if (!vmeApplies(cpu)) return false;
  if (size === 2) throw new CpuFault(GP, 0);
  const ip = cpu.peek(1, 0), cs = cpu.peek(1, 2), image = cpu.peek(1, 4);
  checkVirtualFlags(cpu, image);
  cpu.addSp(6);
  loadSegmentReal(cpu, CS, cs);
  cpu.eip = ip & 0xffff;
  loadVirtualFlags(cpu, image);
  cpu.codeSegmentChanged();
  return true;
}

/**
 * INT n in V86 with CR4.VME (SDM Table 20-2): a clear bit in the redirection bitmap (the 32
 * bytes below the TSS's I/O map base) runs the 8086 handler from the IVT; a set bit goes to the
 * protected-mode handler at IOPL 3 (returns false) and raises #GP(0) below it.
 */
export function vmeInt(cpu: Cpu, vector: number): boolean {
  if (!(cpu.eflags & VM) || !(cpu.cr[4] & CR4_VME)) return false;
  if (redirectionBit(cpu, vector)) {
    if (iopl(cpu) < 3) throw new CpuFault(GP, 0);
    return false;
  }
  const flags = iopl(cpu) === 3 ? readEflags(cpu) & 0xffff : virtualFlags(cpu);
  cpu.push(1, flags);
  cpu.push(1, cpu.segSel[CS]);
  cpu.push(1, cpu.eip);
  const ip = cpu.rd16(vector * 4), cs = cpu.rd16(vector * 4 + 2);
  // The 8086 handler starts with interrupts (virtually, below IOPL 3) disabled and no trace.
  cpu.eflags &= ~(TF | RF | AC | (iopl(cpu) === 3 ? IF : VIF));
  loadSegmentReal(cpu, CS, cs);
  cpu.eip = ip;
  cpu.codeSegmentChanged();
  return true;
}

function redirectionBit(cpu: Cpu, vector: number): boolean {
  const base = cpu.segBase[TR], limit = cpu.segLimit[TR] >>> 0;
  const type = (cpu.segRights[TR] >> 8) & 0xf;
  if ((type & 9) !== 9 || limit < 0x67) throw new CpuFault(GP, 0);
  const cpl = cpu.cpl;
  cpu.cpl = 0;
  try {
    const at = (cpu.rd16((base + 0x66) | 0) - 32 + (vector >> 3)) >>> 0;
    if (at > limit) throw new CpuFault(GP, 0);
    return ((cpu.rd8((base + at) | 0) >> (vector & 7)) & 1) !== 0;
  } finally {
    cpu.cpl = cpl;
  }
}
