/**
 * Port 0x61, "port B" of the PC's system control: bit 0 drives the PIT channel 2 GATE, bit 1 the
 * speaker data enable; reads return those, the DRAM refresh toggle (bit 4, flipping every 15.085 us,
 * which BIOS delay loops count) and channel 2's OUT (bit 5).
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import type { Pit } from "./pit.ts";
import type { DeviceState, Stateful } from "./state.ts";

const REFRESH_PERIOD_NS = 15085;

export class PortB implements PortDevice, Stateful {
  speakerData = false;

  constructor(private readonly bus: Bus, private readonly pit: Pit) {
    bus.registerPorts(0x61, 1, this);
  }

  saveState(): DeviceState {
    return { speakerData: this.speakerData };
  }

  loadState(state: DeviceState): void {
    this.speakerData = state.speakerData === true;
  }

  portRead(_port: number, _size: AccessSize): number {
    const now = this.bus.nowNs();
    const ch2 = this.pit.channels[2];
    const refresh = Math.floor(now / REFRESH_PERIOD_NS) & 1;
    return (ch2.gate ? 1 : 0) | (this.speakerData ? 2 : 0) | (refresh << 4) | (ch2.out(now) ? 0x20 : 0);
  }

  portWrite(_port: number, _size: AccessSize, value: number): void {
    this.speakerData = (value & 2) !== 0;
    this.pit.channels[2].setGate((value & 1) !== 0);
  }
}
