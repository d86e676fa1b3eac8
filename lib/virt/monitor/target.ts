/**
 * MonitorTarget: what QMP, the human monitor and the gdb stub need from a running machine. The
 * monitors speak only to this interface; `PcTarget` (pc_target.ts) implements it for the PC board.
 * Run states and event names are QEMU's (qapi/run-state.json), so replies can carry them unchanged.
 */
import type { Cpu } from "../../cpu/cpu.ts";
import type { IdeDrive } from "../../devices/ide.ts";

/** QEMU's RunState values this machine can be in. */
export type RunState =
  | "prelaunch"
  | "running"
  | "paused"
  | "debug"
  | "shutdown"
  | "internal-error"
  | "save-vm"
  | "restore-vm";

/** An asynchronous QMP event: name and data, stamped when emitted. */
export interface MachineEvent {
  event: string;
  data?: Record<string, unknown>;
  /** Host time in microseconds since the epoch. */
  timestampUs: number;
}

/** Why the debugger regained control. */
export type DebugStop =
  | { kind: "breakpoint" }
  | { kind: "step" }
  | { kind: "interrupt" }
  | { kind: "watch"; type: "watch" | "rwatch" | "awatch"; address: number }
  | { kind: "exited"; status: number };

/** A drive as QMP's query-block and HMP's info block present it. */
export interface BlockDevice {
  /** QEMU's legacy drive id: ide0-hd0, ide1-cd0, ... */
  device: string;
  qdev: string;
  /** The block node's name (query-block's node-name; QMP snapshot commands select disks by it). */
  nodeName: string;
  drive: IdeDrive;
  removable: boolean;
  /** Host file name of the inserted medium, if any. */
  filename?: string;
  format?: string;
  readOnly: boolean;
}

export type BreakpointType = "sw" | "hw" | "watch" | "rwatch" | "awatch";

export interface MonitorTarget {
  readonly cpu: Cpu;
  readonly runState: RunState;
  /** -name's guest name, if given. */
  readonly name?: string;
  /** "tcg" or "kvm". */
  readonly accel: string;

  stop(): void;
  cont(): void;
  /** Host-initiated system reset (`reason` is QEMU's ShutdownCause, e.g. host-qmp-system-reset). */
  systemReset(reason: string): void;
  /** The ACPI power button. */
  powerdown(): void;
  /** Ends the run (`reason` as for reset, e.g. host-qmp-quit). */
  quit(reason: string): void;

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: MachineEvent) => void): () => void;

  /** Physical memory access for x/xp/gdb; unmapped bytes read as 0, as the guest sees them. */
  readPhysical(address: number, into: Uint8Array): void;
  writePhysical(address: number, data: Uint8Array): void;
  /** Linear (virtual) to physical through the guest's page tables, without side effects; -1 if unmapped. */
  linearToPhysical(linear: number): number;

  blockDevices(): BlockDevice[];
  /** QMP eject: opens the tray and removes the medium. */
  eject(device: string, force: boolean): void;
  /** QMP blockdev-change-medium / HMP change. */
  changeMedium(device: string, filename: string, format?: string, readOnly?: boolean): void;

  // ---- the debugger's hooks ----
  insertBreakpoint(type: BreakpointType, address: number, length: number): boolean;
  removeBreakpoint(type: BreakpointType, address: number, length: number): boolean;
  /** Executes one instruction (interrupts masked, as QEMU's default gdb single-step) and stops. */
  step(): void;
  /** Told when the VM stops for the debugger (breakpoint, step, watchpoint). */
  onDebugStop?: (why: DebugStop) => void;
}
