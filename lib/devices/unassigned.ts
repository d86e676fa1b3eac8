/**
 * Physical addresses nothing answers, seen by `-d guest_errors`: QEMU logs every access that falls
 * in its unassigned region ("Invalid read at addr ..."), ours maps this device over the bus's empty
 * pages while that item is on, so the access reaches a handler that can log it. The guest sees what
 * it sees without logging: reads return 0, writes vanish (the Bus's empty-page behaviour).
 * Pages that change meaning later (an unmapped APIC page) are filled again on each map change.
 */
import { type AccessSize, type Bus, type MmioDevice, PAGE_SHIFT, PAGE_SIZE, PAGE_UNMAPPED } from "./bus.ts";
import type { DeviceLog } from "./guest_log.ts";

export class UnassignedMmio implements MmioDevice {
  private filling = false;

  constructor(private readonly bus: Bus, private readonly log: DeviceLog) {
    this.fill();
    bus.onMapChange(() => this.fill());
  }

  mmioRead(addr: number, size: AccessSize): number {
    this.log.invalidAccess(addr, size, false);
    return 0;
  }

  mmioWrite(addr: number, size: AccessSize, _value: number): void {
    this.log.invalidAccess(addr, size, true);
  }

  /** Claims every empty page (mapMmio itself reports a map change, hence the guard). */
  private fill(): void {
    if (this.filling) return;
    this.filling = true;
    try {
      const map = this.bus.pageMap;
      for (let page = 0; page < map.length;) {
        if (map[page] !== PAGE_UNMAPPED) {
          page++;
          continue;
        }
        let end = page + 1;
        while (end < map.length && map[end] === PAGE_UNMAPPED) end++;
        this.bus.mapMmio((page << PAGE_SHIFT) >>> 0, (end - page) * PAGE_SIZE, this);
        page = end;
      }
    } finally {
      this.filling = false;
    }
  }
}
