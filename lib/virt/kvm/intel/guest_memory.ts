/**
 * Guest memory as kvm_intel's emulator reaches it (kvm_read_guest_virt / kvm_write_guest_virt):
 * a guest-linear address through the guest's own 2-level paging (when CR0.PG is on) to a
 * guest-physical address, then through the memory slots to the user buffer. Writes tell the
 * emulated CPU, whose decoded-code cache must see them (Bus.dmaWritten).
 */
import type { VmxVcpu } from "./vcpu.ts";

const PAGE = 4096;
const PTE_P = 1, PTE_A = 0x20, PTE_D = 0x40, PTE_PS = 0x80;

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

/** Guest-linear to guest-physical for the current guest, setting A (and D on writes); undefined if not mapped. */
export function guestTranslate(v: VmxVcpu, lin: number, write: boolean): number | undefined {
  lin >>>= 0;
  // The guest's own CR0 and CR3 (under shadow paging the VMCS holds the shadow's).
  if (!(v.guestCr(0) & 0x80000000)) return lin;
  const pdeAt = ((v.guestCr3() & 0xfffff000) | ((lin >>> 22) << 2)) >>> 0;
  const pde = read32(v, pdeAt);
  if (pde === undefined || !(pde & PTE_P)) return undefined;
  if ((pde & PTE_PS) && (v.guestCr(4) & 0x10)) {
    write32(v, pdeAt, pde | PTE_A | (write ? PTE_D : 0));
    return ((pde & 0xffc00000) | (lin & 0x3fffff)) >>> 0;
  }
  const pteAt = ((pde & 0xfffff000) | ((lin >>> 10) & 0xffc)) >>> 0;
  const pte = read32(v, pteAt);
  if (pte === undefined || !(pte & PTE_P)) return undefined;
  write32(v, pdeAt, pde | PTE_A);
  write32(v, pteAt, pte | PTE_A | (write ? PTE_D : 0));
  return ((pte & 0xfffff000) | (lin & 0xfff)) >>> 0;
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
