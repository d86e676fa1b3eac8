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
