/**
 * The VMX MSR lists (Intel SDM Vol. 3C, "VM-Exit Controls for MSRs", "VM-Entry Controls for MSRs",
 * "Loading MSRs" at entry, "Saving MSRs" and "Loading MSRs" at exit): arrays of 16-byte entries
 * (MSR index in bits 31:0, reserved bits 63:32, data in bits 127:64) that VM entry writes to MSRs
 * and VM exit stores from or loads into MSRs. The same rules as WRMSR/RDMSR at CPL 0 decide which
 * entries fail, plus the SDM's own exclusions (x2APIC range, SMBASE, SMM monitor control).
 */
import type { Cpu } from "../cpu.ts";
import { CpuFault } from "../faults.ts";
import { knownMsr, readMsr, writeMsr } from "../exec/system.ts";

/** IA32_VMX_MISC[27:25] = 0: at most 512 entries per list. */
export const MSR_LIST_MAX = 512;
const MSR_IA32_SMM_MONITOR_CTL = 0x9b, MSR_IA32_SMBASE = 0x9e;

/**
 * The control check on a list's address (SDM 27.2.1.2/27.2.1.3, VMfailValid 7): with a nonzero
 * count, 16-byte aligned and the whole list below 4 GiB (this CPU's physical-address width).
 */
export function msrListOk(address: number, addressHigh: number, count: number): boolean {
  if (count === 0) return true;
  return (address & 0xf) === 0 && addressHigh === 0 && (address >>> 0) + count * 16 - 1 <= 0xffffffff;
}

function excluded(index: number, high: number): boolean {
  return high !== 0 || (index >>> 8) === 0x8 || index === MSR_IA32_SMM_MONITOR_CTL ||
    index === MSR_IA32_SMBASE;
}

/**
 * What walking a list needs: the list's memory (physical addresses of whoever owns the list) and
 * the MSRs as RDMSR/WRMSR at CPL 0 see them, undefined or false where those would #GP. The CPU
 * walks its lists with itself (`cpuMsrAccess`); an L0 walks an L1's lists in L1 memory with the
 * MSRs of the guest it is switching to (lib/virt/kvm/nested).
 */
export interface MsrListAccess {
  read32(address: number): number;
  write32(address: number, value: number): void;
  readMsr(index: number): bigint | undefined;
  writeMsr(index: number, value: bigint): boolean;
}

/** The CPU's own physical memory and MSRs. */
export function cpuMsrAccess(cpu: Cpu): MsrListAccess {
  const bus = cpu.bus;
  const faults = <T>(fn: () => T, failed: T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof CpuFault) return failed;
      throw e;
    }
  };
  return {
    read32: (a) => bus.read32(a),
    write32: (a, v) => bus.write32(a, v),
    readMsr: (index) => knownMsr(index) ? faults(() => readMsr(cpu, index), undefined) : undefined,
    writeMsr: (index, value) => faults(() => (writeMsr(cpu, index, value), true), false),
  };
}

/**
 * Writes each entry's data to its MSR in order. Returns 0, or the 1-based number of the entry
 * that failed (the exit qualification of a reason-34 entry failure); entries before it stay loaded.
 */
export function loadMsrList(cpu: Cpu | MsrListAccess, address: number, count: number): number {
  const m = "bus" in cpu ? cpuMsrAccess(cpu) : cpu;
  for (let k = 0; k < count; k++) {
    if (k >= MSR_LIST_MAX) return k + 1;
    const at = (address + k * 16) >>> 0;
    const index = m.read32(at) >>> 0, high = m.read32(at + 4);
    if (excluded(index, high)) return k + 1;
    const value = (BigInt(m.read32(at + 12) >>> 0) << 32n) | BigInt(m.read32(at + 8) >>> 0);
    if (!m.writeMsr(index, value)) return k + 1;
  }
  return 0;
}

/** Stores each entry's MSR into its data field; 0, or the 1-based number of the failing entry. */
export function storeMsrList(cpu: Cpu | MsrListAccess, address: number, count: number): number {
  const m = "bus" in cpu ? cpuMsrAccess(cpu) : cpu;
  for (let k = 0; k < count; k++) {
    if (k >= MSR_LIST_MAX) return k + 1;
    const at = (address + k * 16) >>> 0;
    const index = m.read32(at) >>> 0, high = m.read32(at + 4);
    const value = excluded(index, high) ? undefined : m.readMsr(index);
    if (value === undefined) return k + 1;
    m.write32(at + 8, Number(value & 0xffffffffn) | 0);
    m.write32(at + 12, Number((value >> 32n) & 0xffffffffn) | 0);
  }
  return 0;
}
