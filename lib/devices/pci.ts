/**
 * PCI: configuration mechanism #1 (address at 0xCF8, data at 0xCFC-0xCFF), the bus of functions
 * behind it, and the base class of a function's configuration space. Writes go through per-byte
 * write masks and write-1-to-clear masks as QEMU's pci_default_write_config applies them; BARs are
 * sized by their masks and mapped when the command register enables their space. Port 0xCF9 is the
 * PIIX reset control register. INTx lines go to an IrqSink keyed by (device number, pin).
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import { type DeviceState, DeviceStateError, type Stateful } from "./state.ts";

export const PCI_VENDOR_ID = 0x00, PCI_COMMAND = 0x04, PCI_STATUS = 0x06, PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09, PCI_HEADER_TYPE = 0x0e, PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c, PCI_INTERRUPT_LINE = 0x3c, PCI_INTERRUPT_PIN = 0x3d;
export const PCI_COMMAND_IO = 0x1, PCI_COMMAND_MEMORY = 0x2, PCI_COMMAND_MASTER = 0x4;
export const PCI_COMMAND_SERR = 0x100, PCI_COMMAND_INTX_DISABLE = 0x400;
export const PCI_STATUS_FAST_BACK = 0x80, PCI_STATUS_DEVSEL_MEDIUM = 0x200;
/** QEMU's default subsystem IDs for its devices (Red Hat / Qumranet). */
export const QEMU_SUBSYSTEM_VENDOR = 0x1af4, QEMU_SUBSYSTEM_ID = 0x1100;
const STATUS_W1C = 0xf900;

export interface PciIds {
  vendor: number;
  device: number;
  revision: number;
  /** Class code as 24 bits: base class, subclass, programming interface. */
  classCode: number;
  headerType?: number;
  interruptPin?: number;
  status?: number;
}

export interface BarInfo {
  size: number;
  io: boolean;
  /** Current mapped address, or -1 while unmapped. */
  address: number;
}

/** Something that wants INTx levels from PCI functions (the PIIX3's PIRQ router). */
export interface PciIrqSink {
  setPciIrq(devfn: number, pin: number, level: boolean): void;
}

/** One PCI function's configuration space and BARs. Subclasses add their registers' behaviour. */
export class PciDevice implements Stateful {
  readonly config = new Uint8Array(256);
  readonly wmask = new Uint8Array(256);
  readonly w1cmask = new Uint8Array(256);
  readonly bars: (BarInfo | undefined)[] = new Array(6);
  devfn = -1;
  irqSink: PciIrqSink | undefined;
  private intxLevel = false;

  constructor(ids: PciIds) {
    const c = this.config;
    const v = new DataView(c.buffer);
    v.setUint16(PCI_VENDOR_ID, ids.vendor, true);
    v.setUint16(2, ids.device, true);
    c[PCI_REVISION_ID] = ids.revision;
    c[PCI_CLASS_PROG] = ids.classCode & 0xff;
    c[0x0a] = ids.classCode >> 8 & 0xff;
    c[0x0b] = ids.classCode >> 16 & 0xff;
    c[PCI_HEADER_TYPE] = ids.headerType ?? 0;
    v.setUint16(PCI_STATUS, ids.status ?? 0, true);
    v.setUint16(PCI_SUBSYSTEM_VENDOR_ID, QEMU_SUBSYSTEM_VENDOR, true);
    v.setUint16(0x2e, QEMU_SUBSYSTEM_ID, true);
    c[PCI_INTERRUPT_PIN] = ids.interruptPin ?? 0;
    const cmdMask = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR |
      PCI_COMMAND_INTX_DISABLE;
    this.wmask[PCI_COMMAND] = cmdMask & 0xff;
    this.wmask[PCI_COMMAND + 1] = cmdMask >> 8;
    this.wmask[0x0c] = 0xff; // cache line size
    this.wmask[PCI_INTERRUPT_LINE] = 0xff;
    this.wmask.fill(0xff, 0x40);
    this.w1cmask[PCI_STATUS] = STATUS_W1C & 0xff;
    this.w1cmask[PCI_STATUS + 1] = STATUS_W1C >> 8;
  }

  /** Declares BAR n: its size (a power of two) and space. */
  registerBar(n: number, size: number, io: boolean): void {
    this.bars[n] = { size, io, address: -1 };
    const at = PCI_BASE_ADDRESS_0 + 4 * n;
    const mask = (~(size - 1) & (io ? 0xfffffffc : 0xfffffff0)) >>> 0;
    new DataView(this.config.buffer).setUint32(at, io ? 1 : 0, true);
    new DataView(this.wmask.buffer).setUint32(at, mask, true);
  }

  readConfig(offset: number, size: AccessSize): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.config[(offset + i) & 0xff];
    return v >>> 0;
  }

  writeConfig(offset: number, size: AccessSize, value: number): void {
    const before = this.config.slice(0, 0x40);
    for (let i = 0; i < size; i++) {
      const at = (offset + i) & 0xff;
      const b = value >>> (8 * i) & 0xff;
      const wm = this.wmask[at];
      this.config[at] = (this.config[at] & ~wm) | (b & wm);
      this.config[at] &= ~(b & this.w1cmask[at]);
    }
    if (offset < PCI_BASE_ADDRESS_0 + 24 && offset + size > PCI_COMMAND) {
      const cmdChanged = before[PCI_COMMAND] !== this.config[PCI_COMMAND] ||
        before[PCI_COMMAND + 1] !== this.config[PCI_COMMAND + 1];
      if (cmdChanged || offset + size > PCI_BASE_ADDRESS_0) this.updateMappings();
      if (cmdChanged) this.updateIntx();
    }
    this.configWritten(offset, size);
  }

  get command(): number {
    return this.config[PCI_COMMAND] | (this.config[PCI_COMMAND + 1] << 8);
  }

  /** Recomputes where each BAR is mapped and tells the subclass about changes. */
  updateMappings(): void {
    const cmd = this.command;
    this.bars.forEach((bar, n) => {
      if (!bar) return;
      const raw = new DataView(this.config.buffer).getUint32(PCI_BASE_ADDRESS_0 + 4 * n, true);
      let addr = -1;
      const enabled = bar.io ? cmd & PCI_COMMAND_IO : cmd & PCI_COMMAND_MEMORY;
      if (enabled) {
        const base = (raw & ~(bar.size - 1) & (bar.io ? 0xfffffffc : 0xfffffff0)) >>> 0;
        const last = base + bar.size - 1;
        const limit = bar.io ? 0xffff : 0xfffffffe;
        if (base !== 0 && last > base && last <= limit) addr = base;
      }
      if (addr !== bar.address) {
        const old = bar.address;
        bar.address = addr;
        this.barMoved(n, old, addr);
      }
    });
  }

  /** Drives this function's INTx pin (the one in its interrupt pin register). */
  setIrqLevel(level: boolean): void {
    this.intxLevel = level;
    this.updateIntx();
  }

  private updateIntx(): void {
    const pin = this.config[PCI_INTERRUPT_PIN];
    if (!pin || !this.irqSink) return;
    const level = this.intxLevel && !(this.command & PCI_COMMAND_INTX_DISABLE);
    this.irqSink.setPciIrq(this.devfn, pin - 1, level);
  }

  /** Hook: BAR n moved from old to addr (-1 = unmapped). */
  protected barMoved(_n: number, _old: number, _addr: number): void {}
  /** Hook: bytes [offset, offset+size) of config space were written. */
  protected configWritten(_offset: number, _size: number): void {}

  reset(): void {}

  /** Config space plus whatever a subclass adds (`saveExtra`). */
  saveState(): DeviceState {
    return { config: Array.from(this.config), intx: this.intxLevel, ...this.saveExtra() };
  }

  loadState(state: DeviceState): void {
    const config = state.config;
    if (!Array.isArray(config) || config.length !== 256) throw new DeviceStateError("bad PCI config space");
    this.config.set(config as number[]);
    this.intxLevel = state.intx === true;
    this.loadExtra(state);
    this.updateMappings();
    this.updateIntx();
    this.stateLoaded();
  }

  protected saveExtra(): DeviceState {
    return {};
  }
  protected loadExtra(_state: DeviceState): void {}
  /** Hook: config space was replaced wholesale; re-derive mappings and outputs. */
  protected stateLoaded(): void {}
}

/** Helper for BAR handlers: moves a port range from old to new base on the Bus. */
export function movePorts(bus: Bus, old: number, addr: number, count: number, device: PortDevice): void {
  if (old >= 0) {
    for (let p = old; p < old + count; p++) if (bus.ports[p] === device) bus.ports[p] = undefined;
  }
  if (addr >= 0) bus.registerPorts(addr, count, device);
}

/** The host side of configuration mechanism #1 and bus 0's functions. */
export class PciHost implements PortDevice, Stateful {
  /** The CONFIG_ADDRESS register (0xCF8). */
  configAddress = 0;
  readonly functions: (PciDevice | undefined)[] = new Array(256);
  irqSink: PciIrqSink | undefined;
  /** 0xCF9 reset control register. */
  private rcr = 0;

  constructor(private readonly bus: Bus) {
    bus.registerPorts(0xcf8, 8, this);
    bus.registerPorts(0xcf9, 1, this);
  }

  /** The host side only; each function saves its own configuration space. */
  saveState(): DeviceState {
    return { configAddress: this.configAddress, rcr: this.rcr };
  }

  loadState(state: DeviceState): void {
    this.configAddress = Number(state.configAddress) >>> 0;
    this.rcr = Number(state.rcr) & 0xff;
  }

  /** Plugs a function in at slot.fn of bus 0. */
  add(device: PciDevice, slot: number, fn = 0): void {
    device.devfn = (slot << 3) | fn;
    device.irqSink = this.irqSink;
    this.functions[device.devfn] = device;
  }

  setIrqSink(sink: PciIrqSink): void {
    this.irqSink = sink;
    for (const f of this.functions) if (f) f.irqSink = sink;
  }

  private target(): { dev: PciDevice | undefined; reg: number } | undefined {
    const a = this.configAddress;
    if (!(a & 0x80000000)) return undefined;
    const busNo = a >>> 16 & 0xff;
    return { dev: busNo === 0 ? this.functions[a >>> 8 & 0xff] : undefined, reg: a & 0xfc };
  }

  /** Config read for a devfn on bus 0 (firmware-style access without the ports). */
  configRead(devfn: number, offset: number, size: AccessSize): number {
    const dev = this.functions[devfn];
    if (!dev) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    return dev.readConfig(offset, size);
  }

  configWrite(devfn: number, offset: number, size: AccessSize, value: number): void {
    this.functions[devfn]?.writeConfig(offset, size, value);
  }

  portRead(port: number, size: AccessSize): number {
    if (port === 0xcf8 && size === 4) return this.configAddress;
    if (port === 0xcf9 && size === 1) return this.rcr;
    if (port < 0xcfc) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    const t = this.target();
    if (!t) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    if (!t.dev) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    return t.dev.readConfig(t.reg + (port & 3), size);
  }

  portWrite(port: number, size: AccessSize, value: number): void {
    if (port === 0xcf8 && size === 4) {
      this.configAddress = value >>> 0;
      return;
    }
    if (port === 0xcf9 && size === 1) {
      // Bit 2 (RST_CPU) going high with bit 1 (SYS_RST) or alone resets the machine.
      if (value & 0x04 && !(this.rcr & 0x04)) this.bus.requestReset();
      this.rcr = value & 0x02;
      return;
    }
    if (port < 0xcfc) return;
    const t = this.target();
    t?.dev?.writeConfig(t.reg + (port & 3), size, value);
  }
}
