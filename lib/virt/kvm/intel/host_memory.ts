/**
 * The host-physical address space kvm_intel runs a VM's vCPUs in: one Bus (lib/devices/bus.ts)
 * that the emulated CPU executes on, laid out as a Linux host would see it:
 *
 *   0 ..             the memory-slot buffer user space mapped (the "primary" buffer, normally the
 *                    one backing guest RAM): host-physical address = byte offset in the buffer, so
 *                    guest RAM is the very bytes user space reads and writes, at RAM speed.
 *   PRIVATE_BASE ..  kvm_intel's own pages: VMCSs, EPT paging structures, shadow page tables.
 *   WINDOW_BASE ..   one page per guest-physical page that must not be plain RAM to the CPU:
 *                    MMIO (no slot behind it), a write to a READONLY slot being emulated, or a slot
 *                    page from a second user buffer. Every access there calls back into the vCPU,
 *                    which is how the simulated kernel sees the access's size and data (the job
 *                    Linux's x86 instruction emulator does for EPT-misconfig MMIO).
 *
 * The EPT (ept_tables.ts) maps guest-physical pages onto these host-physical pages.
 */
import { type AccessSize, Bus, type MmioDevice, PAGE_SIZE } from "../../../devices/bus.ts";
import type { MemSlot } from "../memory.ts";

export const PRIVATE_BASE = 0xfc000000;
const PRIVATE_PAGES = 8192;
export const WINDOW_BASE = 0xfe000000;
const WINDOW_PAGES = 8192;

/** Who hears accesses to a window page. */
export interface WindowClient {
  windowRead(gpa: number, size: AccessSize): number;
  windowWrite(gpa: number, size: AccessSize, value: number): void;
}

/** kvm_intel's private memory: plain bytes behind the Bus's slow path (only L0 and VMX walks read it). */
class PrivateMemory implements MmioDevice {
  readonly bytes = new Uint8Array(PRIVATE_PAGES * PAGE_SIZE);
  readonly view = new DataView(this.bytes.buffer);
  #next = 0;
  readonly #free: number[] = [];

  /** A zeroed page; returns its host-physical address. */
  alloc(): number {
    const page = this.#free.pop() ?? this.#next++;
    if (page >= PRIVATE_PAGES) throw new RangeError("kvm_intel: out of private pages");
    this.bytes.fill(0, page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    return PRIVATE_BASE + page * PAGE_SIZE;
  }

  free(hpa: number): void {
    this.#free.push((hpa - PRIVATE_BASE) / PAGE_SIZE);
  }

  mmioRead(addr: number, size: AccessSize): number {
    const o = addr - PRIVATE_BASE;
    return size === 4
      ? this.view.getUint32(o, true)
      : size === 2
      ? this.view.getUint16(o, true)
      : this.bytes[o];
  }

  mmioWrite(addr: number, size: AccessSize, value: number): void {
    const o = addr - PRIVATE_BASE;
    if (size === 4) this.view.setUint32(o, value, true);
    else if (size === 2) this.view.setUint16(o, value, true);
    else this.bytes[o] = value;
  }
}

type Window =
  | { kind: "mmio"; gpa: number }
  | { kind: "slot"; gpa: number; bytes: Uint8Array; readOnly: boolean };

/** The window pages: each forwards to the vCPU (MMIO) or to a slot's bytes. */
class Windows implements MmioDevice {
  readonly pages: (Window | undefined)[] = [];
  readonly byGpaPage = new Map<number, number>();
  client: WindowClient | undefined;

  mmioRead(addr: number, size: AccessSize): number {
    const w = this.pages[(addr - WINDOW_BASE) >>> 12]!, off = addr & 0xfff;
    if (w.kind === "slot") return readBytes(w.bytes, off, size);
    return this.client!.windowRead(w.gpa + off, size);
  }

  mmioWrite(addr: number, size: AccessSize, value: number): void {
    const w = this.pages[(addr - WINDOW_BASE) >>> 12]!, off = addr & 0xfff;
    if (w.kind === "slot" && !w.readOnly) writeBytes(w.bytes, off, size, value);
    else this.client!.windowWrite(w.gpa + off, size, value);
  }
}

function readBytes(b: Uint8Array, off: number, size: number): number {
  let v = 0;
  for (let k = 0; k < size; k++) v |= b[off + k] << (8 * k);
  return v >>> 0;
}

function writeBytes(b: Uint8Array, off: number, size: number, value: number): void {
  for (let k = 0; k < size; k++) b[off + k] = (value >>> (8 * k)) & 0xff;
}

export class HostMemory {
  readonly bus: Bus;
  readonly #private = new PrivateMemory();
  readonly #windows = new Windows();
  /** The buffer mapped at host-physical 0. */
  readonly primary: ArrayBufferLike;

  constructor(primary: ArrayBufferLike, nowNs: () => number) {
    this.primary = primary;
    // The Bus takes ArrayBuffer; a SharedArrayBuffer-backed slot would be used the same way.
    this.bus = new Bus({ ramSize: 0, memory: primary as ArrayBuffer });
    this.bus.nowNs = nowNs;
    const direct = Math.min(primary.byteLength, PRIVATE_BASE) & ~(PAGE_SIZE - 1);
    if (direct) this.bus.mapRange(0, direct, 0);
    this.bus.mapMmio(PRIVATE_BASE, PRIVATE_PAGES * PAGE_SIZE, this.#private);
  }

  set client(c: WindowClient) {
    this.#windows.client = c;
  }

  allocPage(): number {
    return this.#private.alloc();
  }

  freePage(hpa: number): void {
    this.#private.free(hpa);
  }

  /** kvm_intel's private bytes, for its own fast reads of its tables (offset = hpa - PRIVATE_BASE). */
  get privateView(): DataView {
    return this.#private.view;
  }

  /**
   * The host-physical page a slot's guest page lives at: its place in the primary buffer, or a
   * window over the slot's bytes when the slot comes from another buffer.
   */
  slotPage(slot: MemSlot, gpaPage: number): number {
    const offset = slot.byteOffset + (gpaPage - slot.gpa);
    if (slot.buffer === this.primary && offset + PAGE_SIZE <= PRIVATE_BASE) return offset;
    return this.#window(gpaPage, () => ({
      kind: "slot",
      gpa: gpaPage,
      bytes: slot.bytes.subarray(gpaPage - slot.gpa, gpaPage - slot.gpa + PAGE_SIZE),
      readOnly: false,
    }));
  }

  /** The window page whose accesses go to the vCPU as MMIO (or emulated ROM writes) for a guest page. */
  mmioPage(gpaPage: number): number {
    return this.#window(gpaPage, () => ({ kind: "mmio", gpa: gpaPage }));
  }

  #window(gpaPage: number, make: () => Window): number {
    const known = this.#windows.byGpaPage.get(gpaPage);
    const want = make();
    if (known !== undefined) {
      const w = this.#windows.pages[known]!;
      if (w.kind === want.kind) return WINDOW_BASE + known * PAGE_SIZE;
      this.#windows.pages[known] = want;
      this.bus.mapMmio(WINDOW_BASE + known * PAGE_SIZE, PAGE_SIZE, this.#windows);
      return WINDOW_BASE + known * PAGE_SIZE;
    }
    const index = this.#windows.pages.length;
    if (index >= WINDOW_PAGES) throw new RangeError("kvm_intel: out of window pages");
    this.#windows.pages.push(want);
    this.#windows.byGpaPage.set(gpaPage, index);
    this.bus.mapMmio(WINDOW_BASE + index * PAGE_SIZE, PAGE_SIZE, this.#windows);
    return WINDOW_BASE + index * PAGE_SIZE;
  }

  /** Forgets the windows (slots changed: what was MMIO may be RAM now). */
  dropWindows(): void {
    this.#windows.pages.length = 0;
    this.#windows.byGpaPage.clear();
    this.bus.unmap(WINDOW_BASE, WINDOW_PAGES * PAGE_SIZE);
  }
}
