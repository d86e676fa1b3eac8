/**
 * The small fixed-function ports of a PC: port 0x92 (system control port A: fast A20 and reset),
 * the POST diagnostic port 0x80, QEMU's debugcon (0x402 by default: bytes to a character backend,
 * reads give 0xE9), and isa-debug-exit (a write of v asks the machine to exit with (v << 1) | 1).
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import type { CharBackend } from "./chardev.ts";
import type { DeviceState, Stateful } from "./state.ts";

/** Port 0x92: bit 1 gates A20, a 0->1 write of bit 0 resets the CPU. */
export class Port92 implements PortDevice, Stateful {
  value = 0x02;

  constructor(private readonly bus: Bus) {
    bus.registerPorts(0x92, 1, this);
  }

  portRead(_port: number, _size: AccessSize): number {
    return this.value;
  }

  reset(): void {
    this.value = 0x02;
  }

  saveState(): DeviceState {
    return { value: this.value };
  }

  loadState(state: DeviceState): void {
    this.value = Number(state.value) & 3;
  }

  portWrite(_port: number, _size: AccessSize, value: number): void {
    const old = this.value;
    this.value = value & 0x03;
    this.bus.setA20((value & 2) !== 0);
    if (value & 1 && !(old & 1)) this.bus.requestReset();
  }
}

/** POST codes: remembered for `-d` logging; reads float high. */
export class PostPort implements PortDevice {
  lastCode = 0;
  onCode?: (code: number) => void;

  constructor(bus: Bus) {
    bus.registerPorts(0x80, 1, this);
  }

  portRead(_port: number, _size: AccessSize): number {
    return 0xff;
  }

  portWrite(_port: number, _size: AccessSize, value: number): void {
    this.lastCode = value & 0xff;
    this.onCode?.(this.lastCode);
  }
}

/** QEMU's ISA debugcon: `-debugcon BACKEND`, iobase 0x402, readback 0xE9. */
export class DebugCon implements PortDevice {
  private readonly one = new Uint8Array(1);

  constructor(bus: Bus, public backend: CharBackend, readonly iobase = 0x402, readonly readback = 0xe9) {
    bus.registerPorts(iobase, 1, this);
  }

  portRead(_port: number, _size: AccessSize): number {
    return this.readback;
  }

  portWrite(_port: number, _size: AccessSize, value: number): void {
    this.one[0] = value;
    this.backend.write(this.one);
  }
}

/** `-device isa-debug-exit,iobase=0x501,iosize=0x02` (QEMU's defaults). */
export class IsaDebugExit implements PortDevice {
  constructor(private readonly bus: Bus, readonly iobase = 0x501, readonly iosize = 0x02) {
    bus.registerPorts(iobase, iosize, this);
  }

  portRead(_port: number, size: AccessSize): number {
    return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
  }

  portWrite(_port: number, _size: AccessSize, value: number): void {
    // QEMU passes the written value through exit(), which keeps its low 8 bits.
    this.bus.requestShutdown(((value << 1) | 1) >>> 0);
  }
}
