/**
 * The VMCS region as it lives in guest-physical memory, and the copy of it the processor keeps
 * while it is active. The SDM leaves the layout after the revision id and abort indicator to the
 * implementation (Vol. 3C, 25.2); here every field has an 8-byte cell at a fixed slot, and the
 * launch state is a dword, so a VMCS survives VMCLEAR, copying and reloading exactly as the SDM's
 * rules require of software that follows them.
 *
 *   0x00  revision identifier (bits 30:0), shadow-VMCS indicator (bit 31)
 *   0x04  VMX-abort indicator
 *   0x08  launch state (0 clear, 1 launched)
 *   0x10  field cells, slot * 8 (low dword, then high dword)
 *
 * SDM 25.11: a processor may keep an active VMCS's data on chip, and software must not read or
 * write an active VMCS in memory; VMCLEAR writes the data back. Here `activate()` loads the cells
 * into a typed array that every field access then uses (no Bus access per VMREAD/VMWRITE), and
 * `writeBack()` (VMCLEAR, VMXOFF, a snapshot) puts them into memory again. The cache also tracks
 * which field groups an access changed, so VM entry can skip checks whose inputs are unchanged.
 */
import type { Bus } from "../../devices/bus.ts";
import {
  F,
  FIELDS,
  lookupField,
  TYPE_CONTROL,
  TYPE_HOST,
  type VmcsField,
  WIDTH_16,
  WIDTH_64,
} from "./fields.ts";

export const VMCS_REVISION_OFFSET = 0, VMCS_ABORT_OFFSET = 4, VMCS_LAUNCH_OFFSET = 8;
const CELLS = 0x10;

export const LAUNCH_CLEAR = 0, LAUNCH_LAUNCHED = 1;

/**
 * The field groups whose changes VM entry watches (`Vmcs.changed`): the controls (without the
 * entry's event-injection fields, which change at nearly every entry and are checked every
 * time), the host-state area, and the guest state the entry checks examine that a VM exit saves
 * back unchanged as long as the guest does not reload it (control registers, segments,
 * descriptor-table limits, the VMCS link pointer).
 */
export const CHANGED_CONTROLS = 1, CHANGED_HOST = 2, CHANGED_GUEST_SEGMENTS = 4;

const ENTRY_EVENT = [F.VM_ENTRY_INTR_INFO_FIELD, F.VM_ENTRY_EXCEPTION_ERROR_CODE, F.VM_ENTRY_INSTRUCTION_LEN];
const SEGMENT_STATE =
  /^GUEST_(CR0|CR4|(ES|CS|SS|DS|FS|GS|LDTR|TR)_(SELECTOR|BASE|LIMIT|AR_BYTES)|GDTR_LIMIT|IDTR_LIMIT)$/;

/** Each field's group bit, by slot (0: a group no entry check skips on). */
const GROUP = Uint8Array.from(
  FIELDS,
  (f) =>
    f.type === TYPE_CONTROL && !ENTRY_EVENT.includes(f.encoding)
      ? CHANGED_CONTROLS
      : f.type === TYPE_HOST
      ? CHANGED_HOST
      : SEGMENT_STATE.test(f.name) || f.name === "VMCS_LINK_POINTER"
      ? CHANGED_GUEST_SEGMENTS
      : 0,
);

/** A VMCS at a guest-physical address, read and written through the bus or its active copy. */
export class Vmcs {
  /** The on-chip copy of the cells (2 dwords a field) while active; undefined: memory is the VMCS. */
  cells: Int32Array | undefined = undefined;
  #launch = LAUNCH_CLEAR;
  /**
   * CHANGED_* bits: a write changed a field of that group since entry.ts last cleared them (after
   * a VM entry whose checks all passed). All set while the VMCS is only in memory.
   */
  changed = -1;

  constructor(readonly bus: Bus, readonly address: number) {}

  /** Loads the region into the on-chip copy (VMPTRLD makes a VMCS active). */
  activate(): this {
    if (this.cells) return this;
    const cells = new Int32Array(FIELDS.length * 2);
    for (let k = 0; k < cells.length; k++) cells[k] = this.bus.read32(this.address + CELLS + k * 4);
    this.#launch = this.bus.read32(this.address + VMCS_LAUNCH_OFFSET);
    this.cells = cells;
    this.changed = -1;
    return this;
  }

  /** Writes the on-chip copy back into the region; `keep` leaves it active (a snapshot). */
  writeBack(keep = false): void {
    const cells = this.cells;
    if (!cells) return;
    for (let k = 0; k < cells.length; k++) this.bus.write32(this.address + CELLS + k * 4, cells[k]);
    this.bus.write32(this.address + VMCS_LAUNCH_OFFSET, this.#launch);
    if (keep) return;
    this.cells = undefined;
    this.changed = -1;
  }

  get revision(): number {
    return this.bus.read32(this.address + VMCS_REVISION_OFFSET) >>> 0;
  }

  get launchState(): number {
    return this.cells ? this.#launch : this.bus.read32(this.address + VMCS_LAUNCH_OFFSET);
  }

  set launchState(v: number) {
    if (this.cells) this.#launch = v;
    else this.bus.write32(this.address + VMCS_LAUNCH_OFFSET, v);
  }

  /** The VMX-abort indicator is written to the region in memory (SDM 28.7). */
  set abortIndicator(v: number) {
    this.bus.write32(this.address + VMCS_ABORT_OFFSET, v);
  }

  /** The low 32 bits of a field (all of it unless 64-bit), zero-extended to the field's width. */
  readLow(f: VmcsField): number {
    const cells = this.cells;
    const v = cells ? cells[f.slot * 2] : this.bus.read32(this.address + CELLS + f.slot * 8);
    return f.width === WIDTH_16 ? v & 0xffff : v >>> 0;
  }

  readHigh(f: VmcsField): number {
    const cells = this.cells;
    return (cells ? cells[f.slot * 2 + 1] : this.bus.read32(this.address + CELLS + f.slot * 8 + 4)) >>> 0;
  }

  /** Writes a whole field from a 32-bit value (the high half of a 64-bit field is cleared). */
  writeLow(f: VmcsField, v: number): void {
    const value = f.width === WIDTH_16 ? v & 0xffff : v | 0;
    const cells = this.cells;
    if (cells) {
      const at = f.slot * 2;
      if (cells[at] !== value || (f.width === WIDTH_64 && cells[at + 1] !== 0)) this.changed |= GROUP[f.slot];
      cells[at] = value;
      if (f.width === WIDTH_64) cells[at + 1] = 0;
      return;
    }
    const at = this.address + CELLS + f.slot * 8;
    this.bus.write32(at, value);
    if (f.width === WIDTH_64) this.bus.write32(at + 4, 0);
  }

  writeHigh(f: VmcsField, v: number): void {
    const cells = this.cells;
    if (cells) {
      if (cells[f.slot * 2 + 1] !== (v | 0)) this.changed |= GROUP[f.slot];
      cells[f.slot * 2 + 1] = v;
      return;
    }
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
