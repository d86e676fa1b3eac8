/**
 * The VMCS region as it lives in guest-physical memory. The SDM leaves the layout after the
 * revision id and abort indicator to the implementation (Vol. 3C, 25.2); here every field has an
 * 8-byte cell at a fixed slot, and the launch state is a dword, so a VMCS survives VMCLEAR,
 * copying and reloading exactly as the SDM's rules require of software that follows them.
 *
 *   0x00  revision identifier (bits 30:0), shadow-VMCS indicator (bit 31)
 *   0x04  VMX-abort indicator
 *   0x08  launch state (0 clear, 1 launched)
 *   0x10  field cells, slot * 8 (low dword, then high dword)
 */
import type { Bus } from "../../devices/bus.ts";
import { lookupField, type VmcsField, WIDTH_16, WIDTH_64 } from "./fields.ts";

export const VMCS_REVISION_OFFSET = 0, VMCS_ABORT_OFFSET = 4, VMCS_LAUNCH_OFFSET = 8;
const CELLS = 0x10;

export const LAUNCH_CLEAR = 0, LAUNCH_LAUNCHED = 1;

/** A VMCS at a guest-physical address, read and written through the bus. */
export class Vmcs {
  constructor(readonly bus: Bus, readonly address: number) {}

  get revision(): number {
    return this.bus.read32(this.address + VMCS_REVISION_OFFSET) >>> 0;
  }

  get launchState(): number {
    return this.bus.read32(this.address + VMCS_LAUNCH_OFFSET);
  }

  set launchState(v: number) {
    this.bus.write32(this.address + VMCS_LAUNCH_OFFSET, v);
  }

  set abortIndicator(v: number) {
    this.bus.write32(this.address + VMCS_ABORT_OFFSET, v);
  }

  /** The low 32 bits of a field (all of it unless 64-bit), zero-extended to the field's width. */
  readLow(f: VmcsField): number {
    const v = this.bus.read32(this.address + CELLS + f.slot * 8);
    return f.width === WIDTH_16 ? v & 0xffff : v >>> 0;
  }

  readHigh(f: VmcsField): number {
    return this.bus.read32(this.address + CELLS + f.slot * 8 + 4) >>> 0;
  }

  /** Writes a whole field from a 32-bit value (the high half of a 64-bit field is cleared). */
  writeLow(f: VmcsField, v: number): void {
    const at = this.address + CELLS + f.slot * 8;
    this.bus.write32(at, f.width === WIDTH_16 ? v & 0xffff : v);
    if (f.width === WIDTH_64) this.bus.write32(at + 4, 0);
  }

  writeHigh(f: VmcsField, v: number): void {
    this.bus.write32(this.address + CELLS + f.slot * 8 + 4, v);
  }

  /** A field by encoding (the code's own accesses: encodings are known to be valid). */
  get(encoding: number): number {
    const hit = lookupField(encoding)!;
    return hit.high ? this.readHigh(hit.field) : this.readLow(hit.field);
  }

  set(encoding: number, v: number): void {
    const hit = lookupField(encoding)!;
    if (hit.high) this.writeHigh(hit.field, v);
    else this.writeLow(hit.field, v);
  }
}
