/**
 * The PC board's state for savevm/loadvm, apart from RAM: the vCPU (Cpu.snapshot), the virtual
 * clock, the A20 gate and every device's saveState (lib/devices/state.ts), plus the list of RAM
 * blocks the stream carries after it (stream.ts). `checkMachineState` refuses a state that does not
 * fit this board before anything changes; `applyMachineState` restores it, and on any failure puts
 * the board back as it was, so a loadvm never leaves a half-restored VM.
 */
import type { Cpu } from "../../cpu/cpu.ts";
import type { DeviceState, Stateful } from "../../devices/state.ts";
import type { Pc } from "../machine/pc.ts";
import { VmStateError } from "./errors.ts";

/** A RAM block as the stream names it. */
export interface RamBlock {
  name: string;
  bytes: Uint8Array;
}

export interface MachineState {
  cpu: Record<string, unknown>;
  clockNs: number;
  a20: boolean;
  devices: Record<string, DeviceState>;
  /** RAM block names and sizes, in stream order. */
  ram: { name: string; size: number }[];
}

/** Restored after every other device: devices re-drive their IRQ lines when they load (state.ts). */
const INTERRUPT_CONTROLLERS = ["ioapic", "lapic", "pic"];

/** The board's devices by the names the state uses, interrupt controllers last. */
function devices(pc: Pc): [string, Stateful][] {
  const list: [string, Stateful][] = [
    ["pci", pc.pci],
    ["i440fx", pc.i440fx],
    ["piix3", pc.piix3],
    ["ide", pc.ide],
    ["acpi", pc.acpi],
    ["hpet", pc.hpet],
    ["pit", pc.pit],
    ["port_b", pc.portB],
    ["rtc", pc.rtc],
    ["i8042", pc.i8042],
    ["port92", pc.port92],
    ["fw_cfg", pc.fwCfg],
    ...pc.uarts.map((u, i): [string, Stateful] => [`serial${i}`, u]),
    ["ioapic", pc.ioapic],
    ["lapic", pc.lapic],
    ["pic", pc.pic],
  ];
  return [
    ...list.filter(([n]) => !INTERRUPT_CONTROLLERS.includes(n)),
    ...list.filter(([n]) => INTERRUPT_CONTROLLERS.includes(n)),
  ];
}

/** Guest memory as the stream carries it: low RAM with the ROM space after it, then RAM above 4 GiB. */
export function ramBlocks(pc: Pc): RamBlock[] {
  const blocks = [{ name: "pc.ram", bytes: new Uint8Array(pc.bus.memory) }];
  if (pc.ramAbove4g) blocks.push({ name: "pc.ram.above-4g", bytes: new Uint8Array(pc.ramAbove4g) });
  return blocks;
}

export function captureMachineState(pc: Pc, cpu: Cpu): MachineState {
  const out: Record<string, DeviceState> = {};
  pc.kernelIrqchip?.pull();
  for (const [name, dev] of devices(pc)) out[name] = dev.saveState();
  return {
    cpu: cpu.snapshot(),
    clockNs: pc.clock.nowNs(),
    a20: pc.bus.a20Mask === 0xffffffff,
    devices: out,
    ram: ramBlocks(pc).map((b) => ({ name: b.name, size: b.bytes.length })),
  };
}

/** Same JSON shape: the same keys at every level, and arrays of fixed length where the current one has it. */
function sameShape(saved: unknown, current: unknown, path: string): void {
  const kind = (v: unknown) => v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
  const k = kind(current);
  // Optional fields are null or a value; lists vary in length.
  if (k === "null" || kind(saved) === "null") return;
  if (kind(saved) !== k) throw new VmStateError(`incompatible state at ${path}`);
  if (k === "object") {
    const a = saved as Record<string, unknown>, b = current as Record<string, unknown>;
    for (const key of Object.keys(b)) {
      if (!(key in a)) throw new VmStateError(`missing state ${path}.${key}`);
      sameShape(a[key], b[key], `${path}.${key}`);
    }
    for (const key of Object.keys(a)) if (!(key in b)) throw new VmStateError(`unknown state ${path}.${key}`);
  }
}

/** Refuses a state that does not fit this board (other devices, RAM size, CPU layout). */
export function checkMachineState(pc: Pc, cpu: Cpu, state: MachineState): void {
  const current = captureMachineState(pc, cpu);
  const ram = JSON.stringify(state.ram), want = JSON.stringify(current.ram);
  if (ram !== want) throw new VmStateError(`RAM layout ${ram} does not match this machine's ${want}`);
  if (typeof state.clockNs !== "number" || typeof state.a20 !== "boolean") {
    throw new VmStateError("incompatible machine state");
  }
  sameShape(state.cpu, current.cpu, "cpu");
  sameShape(state.devices, current.devices, "devices");
}

function apply(pc: Pc, cpu: Cpu, state: MachineState): void {
  pc.clock.restore(state.clockNs);
  pc.bus.setA20(state.a20);
  const saved = state.devices;
  for (const [name, dev] of devices(pc)) dev.loadState(saved[name]);
  cpu.restore(state.cpu);
}

/** Restores CPU, clock and devices; on failure restores `rollback` (the state before) and rethrows. */
export function applyMachineState(pc: Pc, cpu: Cpu, state: MachineState, rollback: MachineState): void {
  try {
    apply(pc, cpu, state);
  } catch (e) {
    apply(pc, cpu, rollback);
    throw e instanceof VmStateError
      ? e
      : new VmStateError(`cannot restore the machine: ${(e as Error).message}`);
  }
}
