/**
 * Multiboot v1 loader (the `-kernel` path QEMU takes for multiboot images): finds the header in
 * the first 8 KiB, loads an a.out-kludge image (header flag 16) or an ELF32's PT_LOAD segments,
 * places modules page-aligned after the kernel, and builds the multiboot information structure
 * where QEMU's loader puts it: the memory map at 0x9000 and the MBI at 0x9500, with strings and
 * the module list after the modules. Everything is written through the Bus, so code caches see it.
 *
 * It returns the entry state; the caller puts the CPU into 32-bit flat protected mode there
 * (Cpu.enterFlat32) with the registers and flags QEMU's multiboot option ROM leaves: EAX =
 * 0x2BADB002 and EBX = the MBI address as the spec asks, and what the ROM's own code left behind.
 */
import type { Cpu, GeneralRegister } from "../../cpu/mod.ts";
import type { Bus } from "../../devices/bus.ts";
import { LibError } from "../../errors.ts";

export const MULTIBOOT_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
const MBI_ADDR = 0x9500;
/**
 * QEMU 7.2's multiboot option ROM leaves its GDT here (SGDT in a guest shows it): null, flat 32-bit
 * code (0x08), flat data (0x10, accessed), 16-bit code (0x18), 16-bit data (0x20).
 */
export const MULTIBOOT_GDT_BASE = 0xcb2b8;
const GDT: readonly number[] = [
  0,
  0,
  0x0000ffff,
  0x00cf9a00,
  0x0000ffff,
  0x00cf9300,
  0x0000ffff,
  0x00009e00,
  0x0000ffff,
  0x00009200,
];
export const MULTIBOOT_CS = 0x08, MULTIBOOT_DS = 0x10;
/**
 * What QEMU 7.2's multiboot option ROM leaves besides EAX/EBX (seen at the entry in its `-d cpu`
 * log): ECX the entry point it jumped through, EDX the fw_cfg data port 0x511 under the high half
 * of the mem_upper value it computed, EDI 0x1000, SeaBIOS's option-ROM stack and PF from its last
 * comparison. Kernels that do not set up their own state run on these.
 */
const ROM_FW_CFG_DATA = 0x511, ROM_EDI = 0x1000, ROM_ESP = 0x6f08, ROM_EFLAGS = 0x06;
const MMAP_ADDR = 0x9000;

/** The image is not a multiboot kernel, or its header asks for something impossible. */
export class MultibootError extends LibError {}

export interface MultibootModule {
  data: Uint8Array;
  /** The module's string (QEMU passes the -initrd entry as written, path and arguments). */
  cmdline: string;
}

export interface MultibootOptions {
  /** The kernel command line as QEMU builds it: "<kernel path> <-append text>". */
  cmdline?: string;
  modules?: MultibootModule[];
  bootLoaderName?: string;
  /** RAM below 4 GiB in bytes (default: the Bus's RAM size). */
  ramSize?: number;
}

export interface MultibootEntry {
  entry: number;
  /** The general registers at the entry (EAX = the boot loader magic, EBX = the MBI, ...). */
  regs: Record<GeneralRegister, number>;
  eflags: number;
  /** The GDT the loader wrote (CS = MULTIBOOT_CS, other segments MULTIBOOT_DS). */
  gdtBase: number;
  gdtLimit: number;
  /** Highest byte address used by kernel, modules and strings (exclusive). */
  end: number;
}

/** Offset of the multiboot header in the image, or -1. */
export function findMultibootHeader(image: Uint8Array): number {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  for (let off = 0; off + 12 <= Math.min(image.length, 8192); off += 4) {
    if (view.getUint32(off, true) !== MULTIBOOT_MAGIC) continue;
    const flags = view.getUint32(off + 4, true);
    if (((MULTIBOOT_MAGIC + flags + view.getUint32(off + 8, true)) >>> 0) === 0) return off;
  }
  return -1;
}

const pageAlign = (n: number) => Math.ceil(n / 4096) * 4096;

export function loadMultiboot(bus: Bus, image: Uint8Array, options: MultibootOptions = {}): MultibootEntry {
  const hdr = findMultibootHeader(image);
  if (hdr < 0) throw new MultibootError("no multiboot header");
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const u32 = (off: number) => view.getUint32(off, true);
  const flags = u32(hdr + 4);
  let entry: number, end: number;
  if (flags & 0x10000) {
    const headerAddr = u32(hdr + 12), loadAddr = u32(hdr + 16);
    const loadEndAddr = u32(hdr + 20), bssEndAddr = u32(hdr + 24);
    entry = u32(hdr + 28);
    const fileOffset = hdr - (headerAddr - loadAddr);
    if (fileOffset < 0 || headerAddr < loadAddr) {
      throw new MultibootError("invalid multiboot header addresses");
    }
    const loadSize = loadEndAddr ? loadEndAddr - loadAddr : image.length - fileOffset;
    if (fileOffset + loadSize > image.length) {
      throw new MultibootError("kernel does not fit its load addresses");
    }
    bus.writeBytes(loadAddr, image.subarray(fileOffset, fileOffset + loadSize));
    end = loadAddr + loadSize;
    if (bssEndAddr > end) {
      bus.writeBytes(end, new Uint8Array(bssEndAddr - end));
      end = bssEndAddr;
    }
  } else {
    ({ entry, end } = loadElf32(bus, image, view));
  }
  return buildMbi(bus, entry, end, options);
}

function loadElf32(bus: Bus, image: Uint8Array, view: DataView): { entry: number; end: number } {
  if (view.getUint32(0, false) !== 0x7f454c46) {
    throw new MultibootError("multiboot image is neither a.out kludge nor ELF");
  }
  if (image[4] !== 1 || image[5] !== 1) {
    throw new MultibootError("only 32-bit little-endian ELF is supported");
  }
  const phoff = view.getUint32(28, true),
    phentsize = view.getUint16(42, true),
    phnum = view.getUint16(44, true);
  let end = 0;
  for (let k = 0; k < phnum; k++) {
    const ph = phoff + k * phentsize;
    if (view.getUint32(ph, true) !== 1) continue; // PT_LOAD
    const offset = view.getUint32(ph + 4, true), paddr = view.getUint32(ph + 12, true);
    const filesz = view.getUint32(ph + 16, true), memsz = view.getUint32(ph + 20, true);
    if (offset + filesz > image.length) throw new MultibootError("ELF segment beyond end of file");
    bus.writeBytes(paddr, image.subarray(offset, offset + filesz));
    if (memsz > filesz) bus.writeBytes(paddr + filesz, new Uint8Array(memsz - filesz));
    end = Math.max(end, paddr + memsz);
  }
  return { entry: view.getUint32(24, true), end };
}

function buildMbi(bus: Bus, entry: number, kernelEnd: number, options: MultibootOptions): MultibootEntry {
  const ram = options.ramSize ?? bus.ramSize;
  const enc = new TextEncoder();
  let at = pageAlign(kernelEnd);
  const modules = options.modules ?? [];
  const modList: [number, number][] = [];
  for (const m of modules) {
    bus.writeBytes(at, m.data);
    modList.push([at, at + m.data.length]);
    at = pageAlign(at + m.data.length);
  }
  const putString = (s: string): number => {
    const bytes = enc.encode(s + "\0");
    const addr = at;
    bus.writeBytes(addr, bytes);
    at += bytes.length;
    return addr;
  };
  const cmdline = putString(options.cmdline ?? "");
  const loaderName = putString(options.bootLoaderName ?? "qemu");
  const modCmdlines = modules.map((m) => putString(m.cmdline));
  at = (at + 3) & ~3;
  const modsAddr = at;
  const mods = new Uint8Array(16 * modules.length);
  const mv = new DataView(mods.buffer);
  modList.forEach(([start, stop], k) => {
    mv.setUint32(k * 16, start, true);
    mv.setUint32(k * 16 + 4, stop, true);
    mv.setUint32(k * 16 + 8, modCmdlines[k], true);
  });
  bus.writeBytes(modsAddr, mods);
  at += mods.length;

  // Memory map as SeaBIOS reports it through e820 on the PC: low RAM, EBDA, BIOS, high RAM.
  const highEnd = Math.min(ram, 0xe0000000);
  const e820: [number, number, number][] = [
    [0, 0x9fc00, 1],
    [0x9fc00, 0x400, 2],
    [0xf0000, 0x10000, 2],
    [0x100000, highEnd - 0x100000 - 0x20000, 1],
    [highEnd - 0x20000, 0x20000, 2],
    [0xfffc0000, 0x40000, 2],
  ];
  const mmap = new Uint8Array(24 * e820.length);
  const mm = new DataView(mmap.buffer);
  e820.forEach(([base, length, type], k) => {
    mm.setUint32(k * 24, 20, true);
    mm.setUint32(k * 24 + 4, base, true);
    mm.setUint32(k * 24 + 12, length, true);
    mm.setUint32(k * 24 + 20, type, true);
  });
  bus.writeBytes(MMAP_ADDR, mmap);

  const mbi = new Uint8Array(88);
  const v = new DataView(mbi.buffer);
  // flags: mem, boot_device, cmdline, mods, mmap, boot_loader_name
  v.setUint32(0, 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x200, true);
  v.setUint32(4, 0x9fc00 >> 10, true); // mem_lower from the first e820 entry, as QEMU: 639 KiB
  const memUpper = Math.floor((highEnd - 0x100000 - 0x20000) / 1024);
  v.setUint32(8, memUpper, true);
  v.setUint32(12, 0x8000ffff, true);
  v.setUint32(16, cmdline, true);
  v.setUint32(20, modules.length, true);
  v.setUint32(24, modsAddr, true);
  v.setUint32(44, mmap.length, true);
  v.setUint32(48, MMAP_ADDR, true);
  v.setUint32(64, loaderName, true);
  bus.writeBytes(MBI_ADDR, mbi);
  const gdt = new Uint8Array(GDT.length * 4);
  GDT.forEach((w, k) => new DataView(gdt.buffer).setUint32(k * 4, w, true));
  bus.writeBytes(MULTIBOOT_GDT_BASE, gdt, true);
  return {
    entry,
    regs: {
      eax: MULTIBOOT_BOOTLOADER_MAGIC,
      ebx: MBI_ADDR,
      ecx: entry,
      edx: ((memUpper & 0xffff0000) | ROM_FW_CFG_DATA) >>> 0,
      esp: ROM_ESP,
      ebp: 0,
      esi: 0,
      edi: ROM_EDI,
    },
    eflags: ROM_EFLAGS,
    end: at,
    gdtBase: MULTIBOOT_GDT_BASE,
    gdtLimit: gdt.length - 1,
  };
}

/** Puts the CPU at a loaded kernel's entry, in the state QEMU's multiboot option ROM leaves. */
export function enterMultiboot(cpu: Cpu, entry: MultibootEntry): void {
  cpu.enterFlat32(entry.entry, entry.regs, {
    base: entry.gdtBase,
    limit: entry.gdtLimit,
    cs: MULTIBOOT_CS,
    ds: MULTIBOOT_DS,
  }, entry.eflags);
}
