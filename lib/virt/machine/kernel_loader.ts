/**
 * `-kernel` on the PC: picks the loader by what the image is, as QEMU's x86 loader does: a
 * multiboot v1 header in the first 8 KiB (multiboot.ts), a Linux setup header "HdrS" (bzImage, boot
 * protocol 2.x), and otherwise QEMU's protocol-0 path for old zImages and flat real-mode binaries
 * (setup sectors at 0x90000, the rest at 0x10000, entered in real mode at 9020:0000).
 *
 * Without a BIOS the CPU is put straight into the state the firmware and QEMU's option ROM would
 * leave; the returned function does that again after each machine reset.
 */
import type { Cpu } from "../../cpu/mod.ts";
import { Bus } from "../../devices/bus.ts";
import { LibError } from "../../errors.ts";
import { pcMemoryMap } from "./e820.ts";
import {
  LINUX_BOOT_CS,
  LINUX_BOOT_DS,
  LINUX_BOOT_GDT,
  LINUX_LAYOUT,
  LinuxBootError,
  linuxFwCfgItems,
  parseSetupHeader,
  prepareLinux,
} from "./linux_boot.ts";
import { enterMultiboot, findMultibootHeader, loadMultiboot, MultibootError } from "./multiboot.ts";
import type { Pc } from "./pc.ts";

/** A -kernel problem, with the real tool's message (`qemu: invalid kernel header`). */
export class KernelLoadError extends LibError {}

export interface KernelOptions {
  /** QEMU's multiboot option ROM image (multiboot_dma.bin), for booting through a BIOS. */
  optionRom?: Uint8Array;
  /** The -kernel path as given (multiboot passes it to the guest). */
  kernelPath: string;
  cmdline: string;
  /** `-initrd a,b`: one ramdisk for Linux, modules for multiboot; `entry` is the text as given. */
  initrds: { entry: string; data: Uint8Array }[];
}

export type KernelKind = "multiboot" | "linux" | "flat";

export function kernelKind(image: Uint8Array): KernelKind {
  if (parseSetupHeader(image)) return "linux";
  if (findMultibootHeader(image) >= 0) return "multiboot";
  return "flat";
}

/**
 * With a BIOS, QEMU hands a multiboot kernel to its multiboot option ROM through fw_cfg: the loaded
 * image (kernel, bss, modules, module list and strings) as the "kernel", the multiboot information
 * structure as the "initrd" at 0x9500, and the entry point; the ROM copies them into place, writes
 * the memory map from INT 15h E820 at 0x9000, and jumps. The image is laid out by multiboot.ts on a
 * scratch bus of the same size, so both boot paths place everything alike.
 */
export function multibootForOptionRom(pc: Pc, image: Uint8Array, options: KernelOptions): boolean {
  if (kernelKind(image) !== "multiboot") return false;
  const scratch = new Bus({ ramSize: pc.ramBelow4g, romSpace: 0 });
  let entry;
  try {
    entry = loadMultiboot(scratch, image, {
      cmdline: `${options.kernelPath} ${options.cmdline}`,
      modules: options.initrds.map((m) => ({ data: m.data, cmdline: m.entry })),
      ramSize: pc.ramBelow4g,
    });
  } catch (e) {
    if (e instanceof MultibootError) throw new KernelLoadError(`qemu: ${e.message}`);
    throw e;
  }
  // The image starts at the lowest page multiboot.ts wrote above 1 MiB.
  let start = 0x100000;
  while (start < entry.end && scratch.pageMap[start >>> 12] >= 0 && isZeroPage(scratch, start)) start += 4096;
  const kernel = scratch.u8.slice(start, entry.end);
  const mbi = scratch.u8.slice(entry.regs.ebx, entry.regs.ebx + MBI_SIZE);
  pc.fwCfg.setKernel({
    kernelAddr: start,
    kernel,
    entry: entry.entry,
    initrdAddr: entry.regs.ebx,
    initrd: mbi,
  });
  pc.fwCfg.addFile("genroms/multiboot_dma.bin", options.optionRom!);
  return true;
}

/** The same for a bzImage: QEMU's linuxboot option ROM enters its real-mode setup code. */
export function linuxForOptionRom(pc: Pc, image: Uint8Array, options: KernelOptions): boolean {
  if (kernelKind(image) !== "linux") return false;
  if (options.initrds.length > 1) throw new KernelLoadError("qemu: linux kernel expects a single initrd");
  let items;
  try {
    items = linuxFwCfgItems(image, {
      cmdline: options.cmdline,
      initrd: options.initrds[0]?.data,
      ramBelow4g: pc.ramBelow4g,
    });
  } catch (e) {
    if (e instanceof LinuxBootError) throw new KernelLoadError(e.message);
    throw e;
  }
  pc.fwCfg.setKernel(items);
  pc.fwCfg.addFile("genroms/linuxboot_dma.bin", options.optionRom!);
  return true;
}

const MBI_SIZE = 88;

function isZeroPage(bus: Bus, at: number): boolean {
  const page = bus.u8.subarray(at, at + 4096);
  for (let i = 0; i < page.length; i++) if (page[i]) return false;
  return true;
}

/** Loads the kernel into the PC's memory and returns the CPU entry for (re)boot. */
export function loadKernel(pc: Pc, cpu: Cpu, image: Uint8Array, options: KernelOptions): () => void {
  switch (kernelKind(image)) {
    case "linux":
      return loadLinux(pc, cpu, image, options);
    case "multiboot":
      return loadMultibootKernel(pc, cpu, image, options);
    case "flat":
      return loadFlat(pc, cpu, image, options);
  }
}

function loadLinux(pc: Pc, cpu: Cpu, image: Uint8Array, options: KernelOptions): () => void {
  if (options.initrds.length > 1) throw new KernelLoadError("qemu: linux kernel expects a single initrd");
  let linux;
  try {
    linux = prepareLinux(image, {
      cmdline: options.cmdline,
      initrd: options.initrds[0]?.data,
      ramBelow4g: pc.ramBelow4g,
      e820: pcMemoryMap(pc.options.ramSize),
    });
  } catch (e) {
    if (e instanceof LinuxBootError) throw new KernelLoadError(e.message);
    throw e;
  }
  const bus = pc.bus;
  return () => {
    cpu.reset();
    bus.writeBytes(linux.kernelAddress, linux.kernel);
    bus.writeBytes(LINUX_LAYOUT.zeroPage, linux.zeroPage);
    bus.writeBytes(LINUX_LAYOUT.cmdline, linux.cmdline);
    if (linux.initrd) bus.writeBytes(linux.initrd.address, linux.initrd.data);
    bus.writeBytes(LINUX_LAYOUT.gdt, LINUX_BOOT_GDT);
    cpu.enterFlat32(linux.entry, { esi: LINUX_LAYOUT.zeroPage }, {
      base: LINUX_LAYOUT.gdt,
      limit: LINUX_BOOT_GDT.length - 1,
      cs: LINUX_BOOT_CS,
      ds: LINUX_BOOT_DS,
    });
  };
}

/** QEMU's protocol-0 load: setup at 0x90000, the rest at 0x10000, real-mode entry at 9020:0000. */
function loadFlat(pc: Pc, cpu: Cpu, image: Uint8Array, options: KernelOptions): () => void {
  const setupSects = image.length > 0x1f1 ? image[0x1f1] || 4 : 4;
  const setupSize = (setupSects + 1) * 512;
  if (setupSize > image.length) throw new KernelLoadError("qemu: invalid kernel header");
  if (options.initrds.length) throw new KernelLoadError("qemu: linux kernel too old to load a ram disk");
  const bus = pc.bus;
  return () => {
    bus.writeBytes(0x90000, image.subarray(0, setupSize));
    bus.writeBytes(0x10000, image.subarray(setupSize));
    cpu.reset();
    const s = cpu.snapshot() as Record<string, unknown> & {
      segSel: number[];
      segBase: number[];
      regs: number[];
    };
    for (let seg = 0; seg < 6; seg++) {
      s.segSel[seg] = seg === 1 ? 0x9020 : 0x9000;
      s.segBase[seg] = seg === 1 ? 0x90200 : 0x90000;
    }
    s.regs[4] = 0xfff0;
    s.eip = 0;
    cpu.restore(s);
  };
}

/**
 * Multiboot v1 through multiboot.ts. QEMU passes "<kernel path> <-append>" as the command line and
 * each `-initrd` entry ("path args") as a module's string.
 */
function loadMultibootKernel(pc: Pc, cpu: Cpu, image: Uint8Array, options: KernelOptions): () => void {
  const load = () => {
    try {
      return loadMultiboot(pc.bus, image, {
        cmdline: `${options.kernelPath} ${options.cmdline}`,
        modules: options.initrds.map((m) => ({ data: m.data, cmdline: m.entry })),
        ramSize: pc.ramBelow4g,
      });
    } catch (e) {
      if (e instanceof MultibootError) throw new KernelLoadError(`qemu: ${e.message}`);
      throw e;
    }
  };
  load(); // fail now, not at the first boot
  return () => {
    const entry = load();
    cpu.reset();
    // QEMU's multiboot option ROM leaves its GDT (flat code 0x08, data 0x10) loaded, so a guest
    // may take interrupts before loading its own; multiboot.ts wrote it where QEMU's is.
    enterMultiboot(cpu, entry);
  };
}
