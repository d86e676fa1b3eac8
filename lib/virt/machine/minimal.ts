/**
 * The minimal test machine: a Bus with RAM (A20 on), COM1's transmit register captured with LSR
 * always ready, isa-debug-exit at 0xF4 (exit status (v << 1) | 1, as QEMU), and the ACPI S5 write
 * to PM1a_CNT at 0x604 ending the run with status 0. It boots a multiboot image and runs the CPU
 * until the guest exits, halts with interrupts off, or the instruction budget is spent.
 */
import { type AccessSize, Bus, type PortDevice } from "../../devices/bus.ts";
import { Cpu } from "../../cpu/cpu.ts";
import { X87 } from "../../cpu/x87.ts";
import { enterMultiboot, loadMultiboot, type MultibootModule } from "./multiboot.ts";

export interface MinimalOptions {
  ramSize?: number;
  maxInstructions?: number;
  cmdline?: string;
  modules?: MultibootModule[];
  /** CPU model (models.ts); default qemu32. */
  cpuModel?: string;
  /** Attach the x87 FPU (default true, as every model here has one). */
  fpu?: boolean;
  /** Block compiler threshold or false (CpuOptions.jit). */
  jit?: number | false;
}

export interface MinimalResult {
  serial: Uint8Array;
  exitStatus: number | undefined;
  /** Instructions the guest retired (exact; REP string instructions count once). */
  instructions: number;
  /** "exit" (isa-debug-exit or S5), "hlt" (halted with nothing to wake it), "budget", "reset". */
  reason: string;
}

const SERIAL_LIMIT = 16 << 20;

class SerialCapture implements PortDevice {
  readonly chunks: number[] = [];
  portRead(port: number): number {
    if (port === 0x3fd) return 0x60; // LSR: THR and transmitter empty
    return 0;
  }
  portWrite(port: number, _size: AccessSize, value: number): void {
    // Bounded: a runaway guest must not take the host's memory with it.
    if (port === 0x3f8 && this.chunks.length < SERIAL_LIMIT) this.chunks.push(value & 0xff);
  }
}

export function createMinimalMachine(
  options: MinimalOptions = {},
): { bus: Bus; cpu: Cpu; serial: SerialCapture } {
  const bus = new Bus({ ramSize: options.ramSize ?? 128 << 20, romSpace: 0 });
  const serial = new SerialCapture();
  bus.registerPorts(0x3f8, 8, serial);
  bus.registerPorts(0xf4, 1, {
    portRead: () => 0xff,
    portWrite: (_p, _s, v) => bus.requestShutdown(((v & 0xff) << 1) | 1),
  });
  bus.registerPorts(0x604, 2, {
    portRead: () => 0,
    portWrite: (_p, _s, v) => {
      if ((v & 0x2000) && ((v >> 10) & 7) === 0) bus.requestShutdown(0);
    },
  });
  const cpu = new Cpu(bus, { model: options.cpuModel, jit: options.jit });
  if (options.fpu !== false) cpu.fpu = new X87(cpu);
  return { bus, cpu, serial };
}

/** A minimal machine with a multiboot image loaded and the CPU at its entry, not yet run. */
export function bootMinimal(
  image: Uint8Array,
  options: MinimalOptions = {},
): { bus: Bus; cpu: Cpu; serial: SerialCapture } {
  const machine = createMinimalMachine(options);
  const boot = loadMultiboot(machine.bus, image, { cmdline: options.cmdline, modules: options.modules });
  enterMultiboot(machine.cpu, boot);
  return machine;
}

export function runMinimal(image: Uint8Array, options: MinimalOptions = {}): MinimalResult {
  const { bus, cpu, serial } = bootMinimal(image, options);
  const max = options.maxInstructions ?? 2_000_000_000;
  let reason = "budget";
  while (cpu.instructions < max) {
    const why = cpu.run(Math.min(max - cpu.instructions, 10_000_000));
    if (bus.shutdownStatus !== undefined) {
      reason = "exit";
      break;
    }
    if (bus.resetRequested) {
      reason = "reset";
      break;
    }
    if (why === "hlt") {
      // Nothing in this machine raises interrupts: a halted CPU stays halted.
      reason = "hlt";
      break;
    }
  }
  return {
    serial: new Uint8Array(serial.chunks),
    exitStatus: bus.shutdownStatus,
    instructions: cpu.instructions,
    reason,
  };
}
