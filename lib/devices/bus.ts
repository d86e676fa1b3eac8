/**
 * The Bus: the one object through which the CPU sees memory, I/O ports and interrupts, and through
 * which devices reach guest memory (DMA) and the machine (reset, shutdown). Devices never reach into
 * the CPU and the CPU never knows which device it talks to: both only know this file.
 *
 * Physical memory is one ArrayBuffer holding RAM followed by ROM space. A page table with one entry
 * per 4 KiB physical page (32-bit physical addresses) says where each page lives: at a page of that
 * buffer, at an MMIO handler, or nowhere. A CPU TLB caches linear page -> buffer offset from it.
 */

export type AccessSize = 1 | 2 | 4;

/** A device that answers port I/O. It receives the exact port and width the CPU used. */
export interface PortDevice {
  portRead(port: number, size: AccessSize): number;
  portWrite(port: number, size: AccessSize, value: number): void;
}

/** A device that answers memory-mapped I/O; addr is the full physical address. */
export interface MmioDevice {
  mmioRead(addr: number, size: AccessSize): number;
  mmioWrite(addr: number, size: AccessSize, value: number): void;
}

/** The interrupt controller in front of the CPU's INTR pin (the PIC, or the local APIC). */
export interface InterruptController {
  /** The INTA cycle: the CPU takes the highest-priority pending interrupt and gets its vector. */
  acknowledge(): number;
}

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
const PAGE_COUNT = 1 << (32 - PAGE_SHIFT);

/**
 * pageMap value of a physical page with nothing behind it: reads return 0 and writes vanish, as in
 * QEMU's unassigned memory region (unlike an unassigned I/O port, which reads all ones).
 */
export const PAGE_UNMAPPED = -1;
/** pageMap values at or below this one name MMIO handler number (MMIO_BASE - value). */
export const MMIO_BASE = -2;

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffffffff] as const;

export interface BusOptions {
  /** Guest RAM in bytes; mapped from physical 0 upward except where MMIO or ROM is mapped over it. */
  ramSize: number;
  /** Bytes reserved after RAM for ROM images (BIOS, option ROMs). */
  romSpace?: number;
  /**
   * A caller-owned buffer to use as the memory instead of a new one (romSpace is then ignored):
   * the simulated kvm_intel runs its vCPU on a Bus over the VM's memory-slot buffer, so guest RAM
   * is the very bytes user space mapped into the slots.
   */
  memory?: ArrayBuffer;
}

export class Bus {
  /** RAM and ROM, one buffer: the only guest memory there is. */
  readonly memory: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly view: DataView;
  readonly ramSize: number;
  /** Per physical page: index of a page in `memory` (>= 0), PAGE_UNMAPPED, or an MMIO handler. */
  readonly pageMap: Int32Array = new Int32Array(PAGE_COUNT).fill(PAGE_UNMAPPED);
  /** Per physical page: 1 where writes are ignored (ROM). */
  readonly pageReadOnly: Uint8Array = new Uint8Array(PAGE_COUNT);
  readonly mmioHandlers: MmioDevice[] = [];
  readonly ports: (PortDevice | undefined)[] = new Array(0x10000);

  /** A20 gate: physical addresses are ANDed with this mask. */
  a20Mask = 0xffffffff;
  /** Level of the CPU's INTR pin, driven by the interrupt controller. */
  intr = false;
  /** An NMI is latched for the CPU. */
  nmi = false;
  interruptController: InterruptController | undefined;

  readonly #createdMs = performance.now();
  /**
   * Virtual time in nanoseconds: the one clock the devices' timers and the CPU's TSC share. The
   * machine installs its virtual clock here; the default follows the host's monotonic clock from
   * the bus's creation, so time (and the TSC) starts at 0 with the machine, not with the process.
   */
  nowNs: () => number = () => (performance.now() - this.#createdMs) * 1e6;

  /**
   * Host time (performance.now(), ms) by which the CPU's run loop should give the machine back
   * control even with budget left: its next timer deadline. The CPU looks only where it is slow
   * (decoding code it has not seen), since there instruction counts say nothing about time.
   */
  sliceEndMs = Infinity;

  /** Set when the CPU's run loop must return to the machine soon (a device or signal wants the host). */
  stopRequested = false;
  resetRequested = false;
  /** The status a device asked the machine to exit with (isa-debug-exit), or undefined. */
  shutdownStatus: number | undefined;

  private romUsed = 0;
  private readonly mapListeners: (() => void)[] = [];
  private readonly dmaListeners: ((phys: number, length: number) => void)[] = [];

  constructor(options: BusOptions) {
    const romSpace = options.romSpace ?? 4 << 20;
    if (options.ramSize % PAGE_SIZE !== 0) throw new RangeError("RAM size must be a multiple of 4 KiB");
    this.ramSize = options.ramSize;
    this.memory = options.memory ?? new ArrayBuffer(options.ramSize + romSpace);
    this.u8 = new Uint8Array(this.memory);
    this.view = new DataView(this.memory);
    this.mapRange(0, options.ramSize, 0);
  }

  /** Maps [phys, phys+length) to the buffer at hostOffset (page-aligned values). */
  mapRange(phys: number, length: number, hostOffset: number, readOnly = false): void {
    const first = phys >>> PAGE_SHIFT;
    const count = Math.ceil(length / PAGE_SIZE);
    const hostPage = hostOffset >>> PAGE_SHIFT;
    for (let i = 0; i < count; i++) {
      this.pageMap[first + i] = hostPage + i;
      this.pageReadOnly[first + i] = readOnly ? 1 : 0;
    }
    this.mapChanged();
  }

  /** Copies a ROM image into ROM space and maps it read-only at phys; returns its buffer offset. */
  addRom(phys: number, image: Uint8Array): number {
    const length = Math.ceil(image.length / PAGE_SIZE) * PAGE_SIZE;
    const offset = this.ramSize + this.romUsed;
    if (offset + length > this.memory.byteLength) throw new RangeError("ROM space exhausted");
    this.u8.set(image, offset);
    this.romUsed += length;
    this.mapRange(phys, length, offset, true);
    return offset;
  }

  /** Maps an MMIO handler over [phys, phys+length), page-granular. */
  mapMmio(phys: number, length: number, device: MmioDevice): void {
    let index = this.mmioHandlers.indexOf(device);
    if (index < 0) index = this.mmioHandlers.push(device) - 1;
    const first = phys >>> PAGE_SHIFT;
    const count = Math.ceil(length / PAGE_SIZE);
    for (let i = 0; i < count; i++) this.pageMap[first + i] = MMIO_BASE - index;
    this.mapChanged();
  }

  unmap(phys: number, length: number): void {
    const first = phys >>> PAGE_SHIFT;
    this.pageMap.fill(PAGE_UNMAPPED, first, first + Math.ceil(length / PAGE_SIZE));
    this.mapChanged();
  }

  registerPorts(base: number, count: number, device: PortDevice): void {
    for (let p = base; p < base + count; p++) this.ports[p & 0xffff] = device;
  }

  setA20(enabled: boolean): void {
    const mask = enabled ? 0xffffffff : 0xffefffff;
    if (mask === this.a20Mask) return;
    this.a20Mask = mask;
    this.mapChanged();
  }

  /** Called whenever a physical page changes meaning, so TLBs can be flushed. */
  onMapChange(listener: () => void): void {
    this.mapListeners.push(listener);
  }

  /** Called on every write that does not come from the CPU (DMA, loaders), for code caches. */
  onDmaWrite(listener: (phys: number, length: number) => void): void {
    this.dmaListeners.push(listener);
  }

  // ---- port I/O ----

  in(port: number, size: AccessSize): number {
    const device = this.ports[port & 0xffff];
    return device ? device.portRead(port & 0xffff, size) : ALL_ONES[size];
  }

  out(port: number, size: AccessSize, value: number): void {
    this.ports[port & 0xffff]?.portWrite(port & 0xffff, size, value);
  }

  // ---- physical memory, the slow path (the CPU's TLB handles the fast one) ----

  read8(phys: number): number {
    phys = (phys & this.a20Mask) >>> 0;
    const page = this.pageMap[phys >>> PAGE_SHIFT];
    if (page >= 0) return this.u8[(page << PAGE_SHIFT) | (phys & 0xfff)];
    if (page === PAGE_UNMAPPED) return 0;
    return this.mmioHandlers[MMIO_BASE - page].mmioRead(phys, 1);
  }

  read16(phys: number): number {
    if ((phys & 0xfff) <= 0xffe) {
      const page = this.pageMap[((phys & this.a20Mask) >>> 0) >>> PAGE_SHIFT];
      if (page <= MMIO_BASE) {
        return this.mmioHandlers[MMIO_BASE - page].mmioRead((phys & this.a20Mask) >>> 0, 2);
      }
    }
    return this.read8(phys) | (this.read8(phys + 1) << 8);
  }

  read32(phys: number): number {
    if ((phys & 0xfff) <= 0xffc) {
      const page = this.pageMap[((phys & this.a20Mask) >>> 0) >>> PAGE_SHIFT];
      if (page <= MMIO_BASE) {
        return this.mmioHandlers[MMIO_BASE - page].mmioRead((phys & this.a20Mask) >>> 0, 4) >>> 0;
      }
    }
    return (this.read16(phys) | (this.read16(phys + 2) << 16)) >>> 0;
  }

  write8(phys: number, value: number): void {
    phys = (phys & this.a20Mask) >>> 0;
    const index = phys >>> PAGE_SHIFT;
    const page = this.pageMap[index];
    if (page >= 0) {
      if (!this.pageReadOnly[index]) this.u8[(page << PAGE_SHIFT) | (phys & 0xfff)] = value;
    } else if (page !== PAGE_UNMAPPED) {
      this.mmioHandlers[MMIO_BASE - page].mmioWrite(phys, 1, value & 0xff);
    }
  }

  write16(phys: number, value: number): void {
    if ((phys & 0xfff) <= 0xffe) {
      const page = this.pageMap[((phys & this.a20Mask) >>> 0) >>> PAGE_SHIFT];
      if (page <= MMIO_BASE) {
        this.mmioHandlers[MMIO_BASE - page].mmioWrite((phys & this.a20Mask) >>> 0, 2, value & 0xffff);
        return;
      }
    }
    this.write8(phys, value);
    this.write8(phys + 1, value >>> 8);
  }

  write32(phys: number, value: number): void {
    if ((phys & 0xfff) <= 0xffc) {
      const page = this.pageMap[((phys & this.a20Mask) >>> 0) >>> PAGE_SHIFT];
      if (page <= MMIO_BASE) {
        this.mmioHandlers[MMIO_BASE - page].mmioWrite((phys & this.a20Mask) >>> 0, 4, value >>> 0);
        return;
      }
    }
    this.write16(phys, value);
    this.write16(phys + 2, value >>> 16);
  }

  /** Bulk read for DMA and loaders: goes through the page map, so MMIO and holes behave. */
  readBytes(phys: number, into: Uint8Array): void {
    for (let i = 0; i < into.length;) {
      const addr = ((phys + i) & this.a20Mask) >>> 0;
      const page = this.pageMap[addr >>> PAGE_SHIFT];
      const chunk = Math.min(into.length - i, PAGE_SIZE - (addr & 0xfff));
      if (page >= 0) {
        const start = (page << PAGE_SHIFT) | (addr & 0xfff);
        into.set(this.u8.subarray(start, start + chunk), i);
      } else if (page === PAGE_UNMAPPED) {
        into.fill(0, i, i + chunk); // as read8 does, without a call per byte
      } else {
        for (let j = 0; j < chunk; j++) into[i + j] = this.read8(addr + j);
      }
      i += chunk;
    }
  }

  /** Bulk write for DMA and loaders; tells code caches. ROM pages are skipped unless `force`. */
  writeBytes(phys: number, data: Uint8Array, force = false): void {
    for (let i = 0; i < data.length;) {
      const addr = ((phys + i) & this.a20Mask) >>> 0;
      const index = addr >>> PAGE_SHIFT;
      const page = this.pageMap[index];
      const chunk = Math.min(data.length - i, PAGE_SIZE - (addr & 0xfff));
      if (page >= 0) {
        if (force || !this.pageReadOnly[index]) {
          this.u8.set(data.subarray(i, i + chunk), (page << PAGE_SHIFT) | (addr & 0xfff));
        }
      } else if (page !== PAGE_UNMAPPED) {
        for (let j = 0; j < chunk; j++) this.write8(addr + j, data[i + j]);
      }
      i += chunk;
    }
    this.dmaWritten(phys, data.length);
  }

  /** Tells code caches that [phys, phys+length) changed behind the CPU's back (another writer of the buffer). */
  dmaWritten(phys: number, length: number): void {
    for (const listener of this.dmaListeners) listener(phys, length);
  }

  // ---- signals from devices to the machine ----

  /** Sets the INTR pin level (called by the interrupt controller); the CPU samples it between blocks. */
  setIntr(level: boolean): void {
    this.intr = level;
  }

  raiseNmi(): void {
    this.nmi = true;
  }

  /** A reset line was pulled (i8042 0xFE, port 0x92 bit 0, 0xCF9, triple fault). */
  requestReset(): void {
    this.resetRequested = true;
    this.stopRequested = true;
  }

  /** A device asks the machine to exit with this status (isa-debug-exit, ACPI poweroff). */
  requestShutdown(status: number): void {
    if (this.shutdownStatus === undefined) this.shutdownStatus = status;
    this.stopRequested = true;
  }

  private mapChanged(): void {
    for (const listener of this.mapListeners) listener();
  }
}
