/**
 * Test harness for VMX unit tests: a minimal machine whose CPU reports VMX, in flat 32-bit
 * protected mode with identity 4 MiB paging and CR0.NE (what VMXON's CR0_FIXED0 asks), a GDT and
 * an IDT whose 32 exception stubs store their vector at VECTOR_AT and halt. `exec` runs a few
 * hand-encoded instructions followed by HLT and reports the vector taken (or -1) and EFLAGS.
 */
import { createMinimalMachine } from "../../../lib/virt/machine/minimal.ts";
import { MODELS, withFeatures } from "../../../lib/cpu/models.ts";
import type { Cpu } from "../../../lib/cpu/cpu.ts";
import type { Bus } from "../../../lib/devices/bus.ts";
import assert from "node:assert/strict";
import { currentVmcs, F, type Vmcs, VMCS_REVISION } from "../../../lib/cpu/vmx/mod.ts";

export const CODE = 0x1000, GDT = 0x2000, IDT = 0x3000, STUBS = 0x4000, VECTOR_AT = 0x5000;
export const PAGE_DIR = 0x10000;
/** Scratch memory for operands and VMCS regions. */
export const DATA = 0x20000;

export interface Machine {
  cpu: Cpu;
  bus: Bus;
}

export function vmxMachine(vmx = true): Machine {
  const { cpu, bus } = createMinimalMachine({ ramSize: 4 << 20 });
  if (vmx) cpu.model = withFeatures(MODELS.qemu32, { vmx: true });
  bus.write32(GDT + 8, 0x0000ffff);
  bus.write32(GDT + 12, 0x00cf9a00);
  bus.write32(GDT + 16, 0x0000ffff);
  bus.write32(GDT + 20, 0x00cf9200);
  for (let v = 0; v < 32; v++) {
    const stub = STUBS + v * 16;
    // mov byte [VECTOR_AT], v ; hlt
    [0xc6, 0x05, VECTOR_AT & 0xff, (VECTOR_AT >> 8) & 0xff, 0, 0, v, 0xf4].forEach((b, k) =>
      bus.write8(stub + k, b)
    );
    bus.write32(IDT + v * 8, (8 << 16) | (stub & 0xffff));
    bus.write32(IDT + v * 8 + 4, (stub & 0xffff0000) | 0x8e00);
  }
  for (let k = 0; k < 1024; k++) bus.write32(PAGE_DIR + k * 4, (k << 22) | 0x83);
  cpu.enterFlat32(CODE, { esp: 0x9000 }, { base: GDT, limit: 23, cs: 8, ds: 0x10 });
  cpu.idtBase = IDT;
  cpu.idtLimit = 32 * 8 - 1;
  cpu.cr[3] = PAGE_DIR;
  cpu.cr[4] = 0x10; // PSE
  cpu.cr[0] |= 0x80000020; // PG, NE
  cpu.flushTlb();
  return { cpu, bus };
}

export interface ExecResult {
  /** Exception vector delivered, or -1. */
  vector: number;
  /** CF, PF, AF, ZF, SF, OF after the code. */
  flags: number;
}

/** Runs `code` at CODE followed by HLT. */
export function exec(m: Machine, code: number[]): ExecResult {
  const { cpu, bus } = m;
  bus.write8(VECTOR_AT, 0xff);
  [...code, 0xf4].forEach((b, k) => bus.write8(CODE + k, b));
  cpu.flushCode();
  cpu.eip = CODE;
  cpu.halted = false;
  cpu.run(1000);
  const v = bus.read8(VECTOR_AT);
  return { vector: v === 0xff ? -1 : v, flags: cpu.eflagsValue & 0x8d5 };
}

// ---- encoders for the instructions the tests use (32-bit operands, absolute addresses) ----

const le32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
const REG: Record<string, number> = { eax: 0, ecx: 1, edx: 2, ebx: 3 };

export const asm = {
  mov: (r: string, imm: number) => [0xb8 + REG[r], ...le32(imm)],
  wrmsr: () => [0x0f, 0x30],
  rdmsr: () => [0x0f, 0x32],
  movCr4Eax: () => [0x0f, 0x22, 0xe0],
  movCr0Eax: () => [0x0f, 0x22, 0xc0],
  vmxon: (addr: number) => [0xf3, 0x0f, 0xc7, 0x35, ...le32(addr)],
  vmclear: (addr: number) => [0x66, 0x0f, 0xc7, 0x35, ...le32(addr)],
  vmptrld: (addr: number) => [0x0f, 0xc7, 0x35, ...le32(addr)],
  vmptrst: (addr: number) => [0x0f, 0xc7, 0x3d, ...le32(addr)],
  /** vmread dst, fieldReg */
  vmread: (dst: string, field: string) => [0x0f, 0x78, 0xc0 | (REG[field] << 3) | REG[dst]],
  /** vmwrite fieldReg, src */
  vmwrite: (field: string, src: string) => [0x0f, 0x79, 0xc0 | (REG[field] << 3) | REG[src]],
  vmcall: () => [0x0f, 0x01, 0xc1],
  vmlaunch: () => [0x0f, 0x01, 0xc2],
  vmresume: () => [0x0f, 0x01, 0xc3],
  vmxoff: () => [0x0f, 0x01, 0xc4],
};

/** Writes a 64-bit little-endian value (as two dwords) to physical memory. */
export function poke64(m: Machine, at: number, low: number, high = 0): void {
  m.bus.write32(at, low);
  m.bus.write32(at + 4, high);
}

// ---- a VMCS ready to launch a flat 32-bit guest ----

export const VMXON_REGION = DATA + 0x1000, VMCS_A = DATA + 0x2000, OPERAND = DATA;
export const GUEST_CODE = 0x6000, GUEST_STACK = 0x8000, HOST_STACK = 0x9000;

/** VMX on, a clear current VMCS at VMCS_A with a flat 32-bit guest and host that passes every entry check. */
export function setup(): { m: Machine; vmcs: Vmcs } {
  const m = vmxMachine();
  m.bus.write32(VMXON_REGION, VMCS_REVISION);
  m.bus.write32(VMCS_A, VMCS_REVISION);
  poke64(m, OPERAND, VMXON_REGION);
  poke64(m, OPERAND + 8, VMCS_A);
  const r = exec(m, [
    ...asm.mov("ecx", 0x3a),
    ...asm.mov("eax", 5),
    ...asm.mov("edx", 0),
    ...asm.wrmsr(),
    ...asm.mov("eax", 0x2010),
    ...asm.movCr4Eax(),
    ...asm.vmxon(OPERAND),
    ...asm.vmclear(OPERAND + 8),
    ...asm.vmptrld(OPERAND + 8),
  ]);
  assert.deepEqual(r, { vector: -1, flags: 0 });
  // The test plays the VMM's VMWRITEs on the processor's copy of the active VMCS (SDM 25.11:
  // software must not write an active VMCS in memory).
  const vmcs = currentVmcs(m.cpu);
  const { cpu } = m;
  vmcs.set(F.PIN_BASED_VM_EXEC_CONTROL, 0x16);
  vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL, 0x04006172 | (1 << 7) | (1 << 24));
  vmcs.set(F.VM_EXIT_CONTROLS, 0x00036dfb);
  vmcs.set(F.VM_ENTRY_CONTROLS, 0x000011fb);
  for (
    const [host, guest] of [[F.HOST_CR0, F.GUEST_CR0], [F.HOST_CR3, F.GUEST_CR3], [F.HOST_CR4, F.GUEST_CR4]]
  ) {
    const n = host === F.HOST_CR0 ? 0 : host === F.HOST_CR3 ? 3 : 4;
    vmcs.set(host, cpu.cr[n]);
    vmcs.set(guest, cpu.cr[n]);
  }
  vmcs.set(F.HOST_CS_SELECTOR, 8);
  for (const f of [F.HOST_SS_SELECTOR, F.HOST_DS_SELECTOR, F.HOST_ES_SELECTOR]) vmcs.set(f, 0x10);
  vmcs.set(F.HOST_TR_SELECTOR, 0x18);
  vmcs.set(F.HOST_GDTR_BASE, GDT);
  vmcs.set(F.HOST_IDTR_BASE, IDT);
  vmcs.set(F.HOST_RSP, HOST_STACK);
  for (const s of ["ES", "SS", "DS", "FS", "GS"]) {
    vmcs.set(F[`GUEST_${s}_SELECTOR`], 0x10);
    vmcs.set(F[`GUEST_${s}_LIMIT`], -1);
    vmcs.set(F[`GUEST_${s}_AR_BYTES`], 0xc093);
  }
  vmcs.set(F.GUEST_CS_SELECTOR, 8);
  vmcs.set(F.GUEST_CS_LIMIT, -1);
  vmcs.set(F.GUEST_CS_AR_BYTES, 0xc09b);
  vmcs.set(F.GUEST_LDTR_AR_BYTES, 0x10000);
  vmcs.set(F.GUEST_TR_SELECTOR, 0x18);
  vmcs.set(F.GUEST_TR_LIMIT, 0x67);
  vmcs.set(F.GUEST_TR_AR_BYTES, 0x8b);
  vmcs.set(F.GUEST_GDTR_BASE, GDT);
  vmcs.set(F.GUEST_GDTR_LIMIT, 23);
  vmcs.set(F.GUEST_IDTR_BASE, IDT);
  vmcs.set(F.GUEST_IDTR_LIMIT, 32 * 8 - 1);
  vmcs.set(F.GUEST_DR7, 0x400);
  vmcs.set(F.GUEST_RSP, GUEST_STACK);
  vmcs.set(F.GUEST_RIP, GUEST_CODE);
  vmcs.set(F.GUEST_RFLAGS, 2);
  vmcs.set(F.VMCS_LINK_POINTER, -1);
  vmcs.set(F.VMCS_LINK_POINTER + 1, -1);
  return { m, vmcs };
}

/**
 * Puts guest code in place and runs VMLAUNCH (from the code's start) or VMRESUME (where the guest
 * left off); the host resumes at the trailing HLT.
 */
export function enter(m: Machine, vmcs: Vmcs, guest: number[], resume = false) {
  guest.forEach((b, k) => m.bus.write8(GUEST_CODE + k, b));
  const code = resume ? asm.vmresume() : asm.vmlaunch();
  if (!resume) {
    vmcs.set(F.GUEST_RIP, GUEST_CODE);
    vmcs.set(F.GUEST_RSP, GUEST_STACK);
  }
  vmcs.set(F.HOST_RIP, CODE + code.length);
  return exec(m, code);
}
