/**
 * Guest memory as kvm_intel's emulator reaches it (kvm_read_guest_virt / kvm_write_guest_virt):
 * a guest-linear address through the guest's own paging (when CR0.PG is on; page_walk.ts) to a
 * guest-physical address, then through the memory slots to the user buffer. Writes tell the
 * emulated CPU, whose decoded-code cache must see them (Bus.dmaWritten).
 */
import {
  ACC_READ,
  ACC_WRITE,
  pageWalk,
  type PagingMemory,
  type PagingRegs,
  walked,
} from "../../../cpu/page_walk.ts";
import { CR0_PG } from "./guest_state.ts";
import type { VmxVcpu } from "./vcpu.ts";

const PAGE = 4096;

/** A 32-bit guest-physical read through the memory slots; undefined where no slot is. */
export function read32(v: VmxVcpu, gpa: number): number | undefined {
  const slot = v.ctx.memory.find(gpa);
  if (!slot) return undefined;
  const o = gpa - slot.gpa;
  const b = slot.bytes;
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** A 32-bit guest-physical write through the memory slots (dropped where no slot is). */
export function write32(v: VmxVcpu, gpa: number, value: number): void {
  const slot = v.ctx.memory.find(gpa);
  if (!slot) return;
  const o = gpa - slot.gpa;
  for (let k = 0; k < 4; k++) slot.bytes[o + k] = (value >>> (8 * k)) & 0xff;
}

/** A #PF the guest's own paging gives (its error code), thrown by GuestTables. */
export class GuestPageFault {
  constructor(readonly errorCode: number) {}
}

/**
 * The current guest's paging structures in guest-physical memory, for the one page walk (page_walk.ts).
 * A walk's #PF is a GuestPageFault unless the caller raises it its own way (the task-switch emulator's).
 */
export class GuestTables implements PagingMemory {
  constructor(
    readonly v: VmxVcpu,
    readonly fault: (lin: number, errorCode: number) => never = (_lin, errorCode) => {
      throw new GuestPageFault(errorCode);
    },
  ) {}
  entryAddress(gpa: number): number {
    return gpa;
  }
  read32(at: number): number {
    return read32(this.v, at) ?? 0;
  }
  write32(at: number, value: number): void {
    write32(this.v, at, value);
  }
  pageFault(lin: number, errorCode: number): never {
    return this.fault(lin, errorCode);
  }
}

/** EFER.NXE. */
const EFER_NXE = 0x800n;

/**
 * The current guest's paging registers as it set them (under shadow paging the VMCS holds the
 * shadow's CR3 and the shadow MMU the PDPTE registers; with EPT the walk reads PDPTEs at CR3).
 */
export function guestPagingRegs(v: VmxVcpu): PagingRegs {
  const shadow = v.currentVmcs === v.vmcs01 ? v.shadow : undefined;
  return {
    cr0: v.guestCr(0),
    cr3: v.guestCr3(),
    cr4: v.guestCr(4),
    nxe: (v.ctx.sregs.efer & EFER_NXE) !== 0n,
    pdptes: shadow?.pdptes,
  };
}

/** Guest-linear to guest-physical for the current guest, setting A (and D on writes); undefined if not mapped. */
export function guestTranslate(v: VmxVcpu, lin: number, write: boolean): number | undefined {
  lin >>>= 0;
  const regs = guestPagingRegs(v);
  if (!(regs.cr0 & CR0_PG)) return lin;
  try {
    pageWalk(new GuestTables(v), regs, lin, write ? ACC_WRITE : ACC_READ, false);
  } catch (e) {
    if (e instanceof GuestPageFault) return undefined;
    throw e;
  }
  return walked.gpa;
}

/** Reads `length` bytes at a guest-linear address; undefined when a page is not RAM. */
export function guestRead(v: VmxVcpu, lin: number, length: number): Uint8Array | undefined {
  const out = new Uint8Array(length);
  for (let i = 0; i < length;) {
    const gpa = guestTranslate(v, lin + i, false);
    const slot = gpa === undefined ? undefined : v.ctx.memory.find(gpa);
    if (gpa === undefined || !slot) return undefined;
    const chunk = Math.min(length - i, PAGE - (gpa % PAGE), slot.gpa + slot.size - gpa);
    out.set(slot.bytes.subarray(gpa - slot.gpa, gpa - slot.gpa + chunk), i);
    i += chunk;
  }
  return out;
}

/** Writes bytes at a guest-linear address; false when a page is not writable RAM. */
export function guestWrite(v: VmxVcpu, lin: number, data: Uint8Array): boolean {
  for (let i = 0; i < data.length;) {
    const gpa = guestTranslate(v, lin + i, true);
    const slot = gpa === undefined ? undefined : v.ctx.memory.find(gpa);
    if (gpa === undefined || !slot || (slot.flags & 2)) return false;
    const chunk = Math.min(data.length - i, PAGE - (gpa % PAGE), slot.gpa + slot.size - gpa);
    slot.bytes.set(data.subarray(i, i + chunk), gpa - slot.gpa);
    v.memoryWritten(gpa, chunk);
    i += chunk;
  }
  return true;
}
