/**
 * QEMU's firmware configuration device (fw_cfg) at the x86 ports: selector 0x510 (16-bit write),
 * data 0x511 (byte reads), and the DMA interface at 0x514-0x51B (big-endian guest-physical address
 * of an FWCfgDmaAccess; writing the low half starts the transfer). Items are numbered by the keys
 * of QEMU's docs/specs/fw_cfg.txt; named files live in the file directory (key 0x19), sorted by
 * name as QEMU 7.2 keeps them, with selector keys from 0x20 in that order.
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import type { DeviceState, Stateful } from "./state.ts";

/** The well-known selector keys. */
export const FwCfgKey = {
  SIGNATURE: 0x00,
  ID: 0x01,
  UUID: 0x02,
  RAM_SIZE: 0x03,
  NOGRAPHIC: 0x04,
  NB_CPUS: 0x05,
  MACHINE_ID: 0x06,
  KERNEL_ADDR: 0x07,
  KERNEL_SIZE: 0x08,
  KERNEL_CMDLINE: 0x09,
  INITRD_ADDR: 0x0a,
  INITRD_SIZE: 0x0b,
  BOOT_DEVICE: 0x0c,
  NUMA: 0x0d,
  BOOT_MENU: 0x0e,
  MAX_CPUS: 0x0f,
  KERNEL_ENTRY: 0x10,
  KERNEL_DATA: 0x11,
  INITRD_DATA: 0x12,
  CMDLINE_ADDR: 0x13,
  CMDLINE_SIZE: 0x14,
  CMDLINE_DATA: 0x15,
  SETUP_ADDR: 0x16,
  SETUP_SIZE: 0x17,
  SETUP_DATA: 0x18,
  FILE_DIR: 0x19,
  FILE_FIRST: 0x20,
  ACPI_TABLES: 0x8000,
  SMBIOS_ENTRIES: 0x8001,
  IRQ0_OVERRIDE: 0x8002,
  E820_TABLE: 0x8003,
  HPET: 0x8004,
} as const;

export const FW_CFG_IO_BASE = 0x510;
export const FW_CFG_DMA_IO_BASE = 0x514;
const ENTRY_MASK = 0x3fff;
const ARCH_LOCAL = 0x8000;
const ID_TRADITIONAL = 0x01, ID_DMA = 0x02;
const DMA_ERROR = 0x01, DMA_READ = 0x02, DMA_SKIP = 0x04, DMA_SELECT = 0x08, DMA_WRITE = 0x10;
/** "QEMU CFG", what a read of the DMA address register returns. */
const DMA_SIGNATURE = new TextEncoder().encode("QEMU CFG");
const FILE_NAME_MAX = 56;
const DMA_ZERO_CHUNK = new Uint8Array(0x10000);

export interface FwCfgItem {
  data: Uint8Array;
  /** DMA writes are allowed into this item (QEMU's allow_write). */
  writable?: boolean;
  /** Called when the item is selected, before any byte is read (QEMU's select callback). */
  onSelect?: () => void;
  /** Called after a DMA write into the item. */
  onWrite?: (offset: number, length: number) => void;
}

/** One e820 entry as SeaBIOS reads "etc/e820": le64 address, le64 length, le32 type. */
export interface E820Entry {
  address: number;
  length: number;
  /** 1 RAM, 2 reserved, 3 ACPI, 4 NVS. */
  type: number;
}

export function e820Bytes(entries: E820Entry[]): Uint8Array {
  const out = new Uint8Array(entries.length * 20);
  const v = new DataView(out.buffer);
  entries.forEach((e, i) => {
    v.setBigUint64(i * 20, BigInt(e.address), true);
    v.setBigUint64(i * 20 + 8, BigInt(e.length), true);
    v.setUint32(i * 20 + 16, e.type, true);
  });
  return out;
}

export function le16(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, v >> 8 & 0xff]);
}
export function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}
export function le64(v: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
}

export interface FwCfgOptions {
  /** Offer the DMA interface (QEMU's pc does; default true). */
  dma?: boolean;
}

export class FwCfg implements PortDevice, Stateful {
  private readonly items = new Map<number, FwCfgItem>();
  private readonly files = new Map<string, FwCfgItem>();
  private current: FwCfgItem | undefined;
  private currentKey = 0;
  private offset = 0;
  /** The DMA address register, as the 8 big-endian bytes the guest writes. */
  private readonly dmaAddr = new Uint8Array(8);
  readonly dmaEnabled: boolean;

  constructor(private readonly bus: Bus, options: FwCfgOptions = {}) {
    this.dmaEnabled = options.dma ?? true;
    this.addItem(FwCfgKey.SIGNATURE, new TextEncoder().encode("QEMU"));
    this.addItem(FwCfgKey.ID, le32(ID_TRADITIONAL | (this.dmaEnabled ? ID_DMA : 0)));
    this.addItem(FwCfgKey.UUID, new Uint8Array(16));
    this.rebuildDirectory();
    bus.registerPorts(FW_CFG_IO_BASE, 2, this);
    if (this.dmaEnabled) bus.registerPorts(FW_CFG_DMA_IO_BASE, 8, this);
  }

  /** The numbered items QEMU's pc machine always provides, from the machine's configuration. */
  setMachineInfo(
    info: { ramSize: number; nbCpus?: number; maxCpus?: number; nographic?: boolean; bootMenu?: boolean },
  ): void {
    this.addItem(FwCfgKey.RAM_SIZE, le64(info.ramSize));
    this.addItem(FwCfgKey.NB_CPUS, le16(info.nbCpus ?? 1));
    this.addItem(FwCfgKey.MAX_CPUS, le16(info.maxCpus ?? info.nbCpus ?? 1));
    this.addItem(FwCfgKey.NOGRAPHIC, le16(info.nographic ? 1 : 0));
    this.addItem(FwCfgKey.BOOT_MENU, le16(info.bootMenu ? 1 : 0));
    this.addItem(FwCfgKey.IRQ0_OVERRIDE, le32(1));
  }

  addItem(key: number, data: Uint8Array, options: Omit<FwCfgItem, "data"> = {}): void {
    this.items.set(key, { data, ...options });
  }

  addI16(key: number, v: number): void {
    this.addItem(key, le16(v));
  }
  addI32(key: number, v: number): void {
    this.addItem(key, le32(v));
  }
  addI64(key: number, v: number | bigint): void {
    this.addItem(key, le64(v));
  }

  /** Adds or replaces a named file ("etc/e820", "bootorder", "genroms/linuxboot_dma.bin", ...). */
  addFile(name: string, data: Uint8Array, options: Omit<FwCfgItem, "data"> = {}): void {
    if (new TextEncoder().encode(name).length >= FILE_NAME_MAX) {
      throw new RangeError(`fw_cfg file name too long: ${name}`);
    }
    this.files.set(name, { data, ...options });
    this.rebuildDirectory();
  }

  /** The selector key a file currently has (files are renumbered in name order as they are added). */
  fileKey(name: string): number | undefined {
    const names = [...this.files.keys()].sort(compareNames);
    const i = names.indexOf(name);
    return i < 0 ? undefined : FwCfgKey.FILE_FIRST + i;
  }

  item(key: number): FwCfgItem | undefined {
    return this.items.get(key);
  }

  /** Items for `-kernel` through SeaBIOS's linuxboot/multiboot option ROMs, as QEMU's x86 loader sets them. */
  setKernel(k: {
    kernelAddr?: number;
    kernel?: Uint8Array;
    setupAddr?: number;
    setup?: Uint8Array;
    initrdAddr?: number;
    initrd?: Uint8Array;
    cmdlineAddr?: number;
    cmdline?: string;
    entry?: number;
  }): void {
    const k32 = (key: number, v: number | undefined) => v !== undefined && this.addI32(key, v);
    k32(FwCfgKey.KERNEL_ADDR, k.kernelAddr);
    k32(FwCfgKey.SETUP_ADDR, k.setupAddr);
    k32(FwCfgKey.INITRD_ADDR, k.initrdAddr);
    k32(FwCfgKey.CMDLINE_ADDR, k.cmdlineAddr);
    k32(FwCfgKey.KERNEL_ENTRY, k.entry);
    if (k.kernel) {
      this.addI32(FwCfgKey.KERNEL_SIZE, k.kernel.length);
      this.addItem(FwCfgKey.KERNEL_DATA, k.kernel);
    }
    if (k.setup) {
      this.addI32(FwCfgKey.SETUP_SIZE, k.setup.length);
      this.addItem(FwCfgKey.SETUP_DATA, k.setup);
    }
    if (k.initrd) {
      this.addI32(FwCfgKey.INITRD_SIZE, k.initrd.length);
      this.addItem(FwCfgKey.INITRD_DATA, k.initrd);
    }
    if (k.cmdline !== undefined) {
      const bytes = new TextEncoder().encode(k.cmdline + "\0");
      this.addI32(FwCfgKey.CMDLINE_SIZE, bytes.length);
      this.addItem(FwCfgKey.CMDLINE_DATA, bytes);
    }
  }

  private rebuildDirectory(): void {
    const names = [...this.files.keys()].sort(compareNames);
    const dir = new Uint8Array(4 + names.length * 64);
    const v = new DataView(dir.buffer);
    v.setUint32(0, names.length);
    const enc = new TextEncoder();
    names.forEach((name, i) => {
      const f = this.files.get(name)!;
      const at = 4 + i * 64;
      v.setUint32(at, f.data.length);
      v.setUint16(at + 4, FwCfgKey.FILE_FIRST + i);
      dir.set(enc.encode(name), at + 8);
      this.items.set(FwCfgKey.FILE_FIRST + i, f);
    });
    for (let k = FwCfgKey.FILE_FIRST + names.length; this.items.has(k); k++) this.items.delete(k);
    this.items.set(FwCfgKey.FILE_DIR, { data: dir });
  }

  reset(): void {
    this.select(FwCfgKey.SIGNATURE);
    this.dmaAddr.fill(0);
  }

  /** The selection and read position; the items themselves come from the machine's configuration. */
  saveState(): DeviceState {
    return { key: this.currentKey, offset: this.offset, dmaAddr: Array.from(this.dmaAddr) };
  }

  loadState(state: DeviceState): void {
    this.currentKey = Number(state.key);
    this.current = this.items.get(this.currentKey);
    this.offset = Number(state.offset);
    if (Array.isArray(state.dmaAddr)) this.dmaAddr.set(state.dmaAddr as number[]);
  }

  select(key: number): void {
    this.offset = 0;
    this.currentKey = key & (ENTRY_MASK | ARCH_LOCAL);
    this.current = this.items.get(this.currentKey);
    this.current?.onSelect?.();
  }

  private readByte(): number {
    const item = this.current;
    if (!item || this.offset >= item.data.length) return 0;
    return item.data[this.offset++];
  }

  portRead(port: number, size: AccessSize): number {
    if (port === FW_CFG_IO_BASE + 1) {
      // Wider reads return the bytes most-significant first, as QEMU's fw_cfg_data_read does.
      let v = 0;
      for (let i = 0; i < size; i++) v = (v << 8) | this.readByte();
      return v >>> 0;
    }
    if (port >= FW_CFG_DMA_IO_BASE) {
      const at = port - FW_CFG_DMA_IO_BASE;
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = (v << 8) | (DMA_SIGNATURE[at + i] ?? 0);
      return v >>> 0;
    }
    return 0;
  }

  portWrite(port: number, size: AccessSize, value: number): void {
    if (port === FW_CFG_IO_BASE) {
      this.select(value & 0xffff);
      return;
    }
    if (port === FW_CFG_IO_BASE + 1) return; // data-port writes were removed in QEMU 2.4
    const at = port - FW_CFG_DMA_IO_BASE;
    for (let i = 0; i < size && at + i < 8; i++) this.dmaAddr[at + i] = value >>> (8 * i) & 0xff;
    if (at === 4 && size === 4) this.dmaTransfer();
  }

  private dmaTransfer(): void {
    const a = new DataView(this.dmaAddr.buffer);
    const desc = a.getUint32(0) * 0x100000000 + a.getUint32(4);
    this.dmaAddr.fill(0);
    const hdr = new Uint8Array(16);
    this.bus.readBytes(desc, hdr);
    const h = new DataView(hdr.buffer);
    let control = h.getUint32(0);
    const length = h.getUint32(4);
    const address = Number(h.getBigUint64(8));
    if (control & DMA_SELECT) this.select(control >>> 16);
    let status = 0;
    if (control & (DMA_READ | DMA_WRITE | DMA_SKIP)) {
      const read = (control & DMA_READ) !== 0;
      const write = !read && (control & DMA_WRITE) !== 0;
      const item = this.current;
      const available = item ? Math.max(0, item.data.length - this.offset) : 0;
      const n = Math.min(length, available);
      if (read) {
        // The item's bytes, then zeros for the rest of the buffer, in bounded chunks.
        if (n) this.bus.writeBytes(address, item!.data.subarray(this.offset, this.offset + n));
        for (let done = n; done < length; done += DMA_ZERO_CHUNK.length) {
          this.bus.writeBytes(
            address + done,
            DMA_ZERO_CHUNK.subarray(0, Math.min(DMA_ZERO_CHUNK.length, length - done)),
          );
        }
      } else if (write) {
        if (!item?.writable || n < length) {
          status |= DMA_ERROR;
        } else {
          const buf = new Uint8Array(n);
          this.bus.readBytes(address, buf);
          item.data.set(buf, this.offset);
          item.onWrite?.(this.offset, n);
        }
      }
      this.offset += n;
    }
    control = status;
    const done = new Uint8Array(4);
    new DataView(done.buffer).setUint32(0, control);
    this.bus.writeBytes(desc, done);
  }
}

/** QEMU sorts the directory with strcmp. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
