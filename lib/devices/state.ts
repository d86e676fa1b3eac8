/**
 * Device state for savevm/loadvm: each device lists the fields that make up its guest-visible
 * state, and these helpers turn them into plain JSON values and back (typed arrays as number
 * arrays). Timers are not saved as such: a device re-arms them from its restored registers, and
 * the machine restores the virtual clock first (`VirtualClock.restore`), so saved virtual
 * timestamps mean the same thing after loadvm. The interrupt controllers (IOAPIC, local APIC, then
 * the PIC) are restored after every other device: devices re-drive their IRQ lines when they load,
 * and that must not register as a new edge in a controller's restored state.
 */
import { LibError } from "../errors.ts";

export type StateValue = number | boolean | string | null | StateValue[] | { [key: string]: StateValue };
export type DeviceState = { [key: string]: StateValue };

/** A device whose state can be saved and restored. */
export interface Stateful {
  saveState(): DeviceState;
  loadState(state: DeviceState): void;
}

/** A saved state does not fit the device (another version, another configuration). */
export class DeviceStateError extends LibError {}

function toValue(v: unknown): StateValue {
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(toValue);
  if (v === undefined) return null;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "string" || v === null) return v;
  throw new DeviceStateError(`unsaveable field value ${String(v)}`);
}

export function saveFields(obj: object, fields: readonly string[]): DeviceState {
  const o = obj as Record<string, unknown>;
  const out: DeviceState = {};
  for (const f of fields) out[f] = toValue(o[f]);
  return out;
}

export function loadFields(obj: object, fields: readonly string[], state: DeviceState): void {
  const o = obj as Record<string, unknown>;
  for (const f of fields) {
    if (!(f in state)) throw new DeviceStateError(`missing field ${f}`);
    const v = state[f];
    const cur = o[f];
    if (ArrayBuffer.isView(cur)) {
      const arr = cur as unknown as {
        length: number;
        set(a: ArrayLike<number>): void;
        fill(n: number): void;
      };
      if (!Array.isArray(v) || v.length !== arr.length) throw new DeviceStateError(`bad array for ${f}`);
      arr.set(v as number[]);
    } else if (Array.isArray(cur)) {
      if (!Array.isArray(v)) throw new DeviceStateError(`bad list for ${f}`);
      cur.length = 0;
      cur.push(...v);
    } else {
      o[f] = v === null && cur === undefined ? undefined : v;
    }
  }
}

/** Reads a nested device state (a sub-object of a saved state). */
export function sub(state: DeviceState, key: string): DeviceState {
  const v = state[key];
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new DeviceStateError(`missing state ${key}`);
  }
  return v;
}

/** Reads a list of nested states. */
export function subList(state: DeviceState, key: string, length: number): DeviceState[] {
  const v = state[key];
  if (!Array.isArray(v) || v.length !== length) throw new DeviceStateError(`missing state list ${key}`);
  return v as DeviceState[];
}
