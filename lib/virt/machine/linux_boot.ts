/**
 * Linux/x86 boot protocol 2.x (Documentation/x86/boot.rst) for `-kernel bzImage` without a BIOS:
 * parses the setup header, loads the protected-mode kernel at 1 MiB, builds the zero page
 * (boot_params) with the board's e820 map, the command line and the initrd placed below
 * initrd_addr_max, and enters through the 32-bit boot protocol (flat segments __BOOT_CS 0x10 and
 * __BOOT_DS 0x18, ESI = boot_params, interrupts off).
 */
import type { E820Entry } from "../../devices/fw_cfg.ts";
import { FLAT_CODE_RIGHTS, FLAT_DATA_RIGHTS } from "../../cpu/segmentation.ts";
import { LibError } from "../../errors.ts";

/** Setup-header fields by offset in the first sectors of the image (and in boot_params). */
export const HDR = {
  SETUP_SECTS: 0x1f1,
  ROOT_FLAGS: 0x1f2,
  SYSSIZE: 0x1f4,
  VID_MODE: 0x1fa,
  BOOT_FLAG: 0x1fe,
  JUMP: 0x200,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  CODE32_START: 0x214,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  HEAP_END_PTR: 0x224,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  CMDLINE_SIZE: 0x238,
} as const;

/** boot_params fields outside the setup header. */
const BP_EXT_MEM_K = 0x002;
const BP_ALT_MEM_K = 0x1e0;
const BP_E820_ENTRIES = 0x1e8;
const BP_E820_TABLE = 0x2d0;
const E820_MAX = 128;
const ZERO_PAGE_SIZE = 4096;

const HDRS_MAGIC = 0x53726448; // "HdrS"
const LOADED_HIGH = 0x01;
const CAN_USE_HEAP = 0x80;

export class LinuxBootError extends LibError {}

export interface SetupHeader {
  /** Boot protocol version, e.g. 0x020f. */
  version: number;
  setupSects: number;
  loadedHigh: boolean;
  code32Start: number;
  initrdAddrMax: number;
  cmdlineSize: number;
  /** Bytes of the real-mode setup (boot sector included). */
  setupSize: number;
  /** End of the header within the image (0x202 + the jump's byte). */
  headerEnd: number;
}

/** Parses the setup header, or returns undefined when the image has no "HdrS" (not a bzImage). */
export function parseSetupHeader(image: Uint8Array): SetupHeader | undefined {
  if (image.length < 0x250) return undefined;
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (v.getUint32(HDR.HEADER, true) !== HDRS_MAGIC) return undefined;
  const version = v.getUint16(HDR.VERSION, true);
  const setupSects = image[HDR.SETUP_SECTS] || 4;
  return {
    version,
    setupSects,
    loadedHigh: (image[HDR.LOADFLAGS] & LOADED_HIGH) !== 0,
    code32Start: v.getUint32(HDR.CODE32_START, true),
    initrdAddrMax: version >= 0x203 ? v.getUint32(HDR.INITRD_ADDR_MAX, true) : 0x37ffffff,
    cmdlineSize: version >= 0x206 ? v.getUint32(HDR.CMDLINE_SIZE, true) : 255,
    setupSize: (setupSects + 1) * 512,
    headerEnd: 0x202 + image[0x201],
  };
}

/** Where things go in guest memory. QEMU's choices for a protocol >= 2.02 kernel. */
export const LINUX_LAYOUT = {
  zeroPage: 0x90000,
  cmdline: 0x20000,
  gdt: 0x8000,
} as const;

/** The 32-bit boot protocol's segments: __BOOT_CS and __BOOT_DS, flat 4 GiB. */
export const LINUX_BOOT_CS = 0x10, LINUX_BOOT_DS = 0x18;
/** A GDT with those two descriptors (the first two unused), for LINUX_LAYOUT.gdt. */
export const LINUX_BOOT_GDT = new Uint8Array(
  Uint32Array.of(0, 0, 0, 0, 0x0000ffff, FLAT_CODE_RIGHTS, 0x0000ffff, FLAT_DATA_RIGHTS).buffer,
);

export interface LinuxImage {
  header: SetupHeader;
  /** boot_params, ready to copy to LINUX_LAYOUT.zeroPage. */
  zeroPage: Uint8Array;
  /** The protected-mode kernel and where it loads. */
  kernel: Uint8Array;
  kernelAddress: number;
  cmdline: Uint8Array;
  initrd?: { address: number; data: Uint8Array };
  entry: number;
}

/** Prepares a bzImage for direct 32-bit entry on a machine with `ramBelow4g` bytes of RAM. */
export function prepareLinux(
  image: Uint8Array,
  options: { cmdline: string; initrd?: Uint8Array; ramBelow4g: number; e820: E820Entry[] },
): LinuxImage {
  const header = parseSetupHeader(image);
  if (!header) throw new LinuxBootError("qemu: invalid kernel header");
  if (header.version < 0x202 || !header.loadedHigh) {
    throw new LinuxBootError("qemu: linux kernel too old to load a ram disk");
  }
  if (header.setupSize > image.length) throw new LinuxBootError("qemu: invalid kernel header");
  const cmdline = new TextEncoder().encode(options.cmdline + "\0");
  if (cmdline.length - 1 > header.cmdlineSize) {
    throw new LinuxBootError("qemu: kernel command line too long");
  }
  const zeroPage = new Uint8Array(ZERO_PAGE_SIZE);
  zeroPage.set(image.subarray(HDR.SETUP_SECTS, header.headerEnd), HDR.SETUP_SECTS);
  const v = new DataView(zeroPage.buffer);
  zeroPage[HDR.TYPE_OF_LOADER] = 0xb0; // QEMU's loader id
  zeroPage[HDR.LOADFLAGS] |= CAN_USE_HEAP;
  v.setUint16(HDR.HEAP_END_PTR, 0xfe00, true);
  v.setUint32(HDR.CMD_LINE_PTR, LINUX_LAYOUT.cmdline, true);
  const extKb = Math.max(0, Math.floor(options.ramBelow4g / 1024) - 1024);
  v.setUint16(BP_EXT_MEM_K, Math.min(extKb, 0xffff), true);
  v.setUint32(BP_ALT_MEM_K, extKb, true);
  const e820 = options.e820.slice(0, E820_MAX);
  zeroPage[BP_E820_ENTRIES] = e820.length;
  e820.forEach((entry, i) => {
    v.setBigUint64(BP_E820_TABLE + i * 20, BigInt(entry.address), true);
    v.setBigUint64(BP_E820_TABLE + i * 20 + 8, BigInt(entry.length), true);
    v.setUint32(BP_E820_TABLE + i * 20 + 16, entry.type, true);
  });

  let initrd: LinuxImage["initrd"];
  if (options.initrd) {
    // Highest page-aligned place below both initrd_addr_max and the end of usable RAM.
    const usableTop = Math.max(
      ...e820.filter((e) => e.type === 1).map((e) => e.address + e.length),
    );
    const max = Math.min(header.initrdAddrMax + 1, usableTop);
    const address = Math.floor((max - options.initrd.length) / 4096) * 4096;
    if (address < 0x100000 + image.length - header.setupSize) {
      throw new LinuxBootError(
        `qemu: initrd is too large, cannot support.(max: ${max - 0x100000}, need ${options.initrd.length})`,
      );
    }
    v.setUint32(HDR.RAMDISK_IMAGE, address, true);
    v.setUint32(HDR.RAMDISK_SIZE, options.initrd.length, true);
    initrd = { address, data: options.initrd };
  }
  return {
    header,
    zeroPage,
    kernel: image.subarray(header.setupSize),
    kernelAddress: 0x100000,
    cmdline,
    initrd,
    entry: 0x100000,
  };
}

/** What QEMU's linuxboot option ROM reads from fw_cfg for a protocol 2.02+ bzImage. */
export interface LinuxFwCfgItems {
  setupAddr: number;
  /** The real-mode setup with the header fields a boot loader fills in. */
  setup: Uint8Array;
  kernelAddr: number;
  kernel: Uint8Array;
  cmdlineAddr: number;
  cmdline: string;
  initrdAddr?: number;
  initrd?: Uint8Array;
}

/** ACPI and SMBIOS room QEMU's pc-i440fx-7.2 keeps free below the end of RAM when placing an initrd. */
const ACPI_DATA_SIZE = 0x20000 + 0x8000;

/**
 * The fw_cfg items for booting a bzImage through SeaBIOS and QEMU's linuxboot option ROM, laid out
 * as QEMU's x86_load_linux does for a high-loaded kernel: setup at 0x10000, command line at 0x20000
 * (heap up to it), the protected-mode kernel at 1 MiB, the initrd as high as initrd_addr_max and
 * the ACPI area allow. The ROM copies them and enters the setup code in real mode.
 */
export function linuxFwCfgItems(
  image: Uint8Array,
  options: { cmdline: string; initrd?: Uint8Array; ramBelow4g: number },
): LinuxFwCfgItems {
  const header = parseSetupHeader(image);
  if (!header) throw new LinuxBootError("qemu: invalid kernel header");
  if (header.version < 0x202 || !header.loadedHigh) {
    throw new LinuxBootError("qemu: linux kernel too old to load a ram disk");
  }
  if (header.setupSize > image.length) throw new LinuxBootError("qemu: invalid kernel header");
  if (new TextEncoder().encode(options.cmdline).length > header.cmdlineSize) {
    throw new LinuxBootError("qemu: kernel command line too long");
  }
  const realAddr = 0x10000, cmdlineAddr = 0x20000;
  const setup = image.slice(0, header.setupSize);
  const v = new DataView(setup.buffer);
  v.setUint32(HDR.CMD_LINE_PTR, cmdlineAddr, true);
  setup[HDR.TYPE_OF_LOADER] = 0xb0;
  setup[HDR.LOADFLAGS] |= CAN_USE_HEAP;
  v.setUint16(HDR.HEAP_END_PTR, cmdlineAddr - realAddr - 0x200, true);
  const items: LinuxFwCfgItems = {
    setupAddr: realAddr,
    setup,
    kernelAddr: 0x100000,
    kernel: image.subarray(header.setupSize),
    cmdlineAddr,
    cmdline: options.cmdline,
  };
  if (options.initrd) {
    let max = header.initrdAddrMax;
    if (max >= options.ramBelow4g - ACPI_DATA_SIZE) max = options.ramBelow4g - ACPI_DATA_SIZE - 1;
    if (options.initrd.length >= max) {
      throw new LinuxBootError(
        `qemu: initrd is too large, cannot support.(max: ${max}, need ${options.initrd.length})`,
      );
    }
    const address = Math.floor((max - options.initrd.length) / 4096) * 4096;
    v.setUint32(HDR.RAMDISK_IMAGE, address, true);
    v.setUint32(HDR.RAMDISK_SIZE, options.initrd.length, true);
    items.initrdAddr = address;
    items.initrd = options.initrd;
  }
  return items;
}
