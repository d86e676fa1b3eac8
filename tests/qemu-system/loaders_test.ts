/**
 * The -kernel loaders: which loader an image gets, the Linux setup header and zero page built from
 * a synthetic bzImage, and a boot of tests/guests/pc/linux_boot.bin that prints the zero page it
 * was handed. (The multiboot memory map and modules reaching a guest are pc_guests_test.ts's
 * multiboot_info, compared with qemu-system-i386.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pcMemoryMap } from "../../lib/virt/machine/e820.ts";
import { kernelKind } from "../../lib/virt/machine/kernel_loader.ts";
import {
  HDR,
  LinuxBootError,
  linuxFwCfgItems,
  parseSetupHeader,
  prepareLinux,
} from "../../lib/virt/machine/linux_boot.ts";
import { HEADLESS_DEBUG_EXIT, PROJECT, runCli } from "../support/tools.ts";

const GUESTS = join(PROJECT, "tests", "guests");

/** A bzImage-shaped buffer: `setupSects` setup sectors after the boot sector, then `payload`. */
function bzImage(
  options: { version?: number; loadflags?: number; setupSects?: number; payload?: number } = {},
) {
  const setupSects = options.setupSects ?? 4;
  const image = new Uint8Array((setupSects + 1) * 512 + (options.payload ?? 4096));
  const v = new DataView(image.buffer);
  image[HDR.SETUP_SECTS] = setupSects;
  v.setUint16(HDR.BOOT_FLAG, 0xaa55, true);
  image[HDR.JUMP] = 0xeb;
  image[HDR.JUMP + 1] = 0x66; // header ends at 0x268
  v.setUint32(HDR.HEADER, 0x53726448, true);
  v.setUint16(HDR.VERSION, options.version ?? 0x020f, true);
  image[HDR.LOADFLAGS] = options.loadflags ?? 1;
  v.setUint32(HDR.CODE32_START, 0x100000, true);
  v.setUint32(HDR.INITRD_ADDR_MAX, 0x7fffffff, true);
  v.setUint32(HDR.CMDLINE_SIZE, 2047, true);
  image[image.length - 1] = 0x5a; // last payload byte, to see the split
  return image;
}

Deno.test("kernelKind tells multiboot, bzImage and flat images apart", () => {
  assert.equal(kernelKind(Deno.readFileSync(join(GUESTS, "demo", "demo.bin"))), "multiboot");
  assert.equal(kernelKind(bzImage()), "linux");
  assert.equal(kernelKind(Deno.readFileSync(join(GUESTS, "pc", "linux_boot.bin"))), "linux");
  assert.equal(kernelKind(new Uint8Array(4096).fill(0x90)), "flat");
});

Deno.test("the setup header of a synthetic bzImage", () => {
  const header = parseSetupHeader(bzImage({ setupSects: 2 }))!;
  assert.equal(header.version, 0x020f);
  assert.equal(header.setupSects, 2);
  assert.equal(header.setupSize, 3 * 512);
  assert.equal(header.loadedHigh, true);
  assert.equal(header.code32Start, 0x100000);
  assert.equal(header.initrdAddrMax, 0x7fffffff);
  assert.equal(header.cmdlineSize, 2047);
  assert.equal(header.headerEnd, 0x268);
  assert.equal(parseSetupHeader(bzImage({ setupSects: 0 }))!.setupSects, 4, "0 means 4, as boot.rst says");
  assert.equal(parseSetupHeader(new Uint8Array(1024)), undefined);
  assert.equal(parseSetupHeader(bzImage({ version: 0x0202 }))!.initrdAddrMax, 0x37ffffff, "before 2.03");
});

Deno.test("boot_params: loader type, cmdline pointer, e820, memory sizes and the initrd placement", () => {
  const ram = 64 << 20;
  const initrd = new Uint8Array(10_000).fill(7);
  const linux = prepareLinux(bzImage(), {
    cmdline: "console=ttyS0",
    initrd,
    ramBelow4g: ram,
    e820: pcMemoryMap(ram),
  });
  const v = new DataView(linux.zeroPage.buffer);
  assert.equal(linux.zeroPage[HDR.TYPE_OF_LOADER], 0xb0);
  assert.equal(v.getUint32(HDR.CMD_LINE_PTR, true), 0x20000);
  assert.equal(new TextDecoder().decode(linux.cmdline), "console=ttyS0\0");
  assert.equal(v.getUint16(HDR.VERSION, true), 0x020f, "the header is copied");
  assert.equal(linux.zeroPage[0x1e8], 6, "e820_entries");
  assert.equal(v.getUint16(0x002, true), 63 * 1024, "ext_mem_k");
  const address = v.getUint32(HDR.RAMDISK_IMAGE, true);
  assert.equal(v.getUint32(HDR.RAMDISK_SIZE, true), 10_000);
  assert.equal(address % 4096, 0);
  assert.ok(address + 10_000 <= ram - 0x20000, "inside usable RAM, below SeaBIOS's high zone");
  assert.equal(linux.initrd!.address, address);
  assert.equal(linux.kernel.length, 4096);
  assert.equal(linux.kernel.at(-1), 0x5a);
  assert.equal(linux.entry, 0x100000);
});

Deno.test("QEMU's loader messages for kernels it refuses", () => {
  const ram = 16 << 20;
  const e820 = pcMemoryMap(ram);
  assert.throws(
    () => prepareLinux(bzImage({ loadflags: 0 }), { cmdline: "", ramBelow4g: ram, e820 }),
    new LinuxBootError("qemu: linux kernel too old to load a ram disk"),
  );
  assert.throws(
    () => prepareLinux(bzImage(), { cmdline: "x".repeat(3000), ramBelow4g: ram, e820 }),
    new LinuxBootError("qemu: kernel command line too long"),
  );
});

Deno.test("a bzImage entered at its 32-bit entry reads its zero page", async () => {
  const initrd = join(Deno.makeTempDirSync({ prefix: "qemu-system-loaders-" }), "initrd");
  Deno.writeTextFileSync(initrd, "initrd contents\n\0");
  const result = await runCli("qemu-system", [
    "-kernel",
    join(GUESTS, "pc", "linux_boot.bin"),
    "-initrd",
    initrd,
    "-append",
    "console=ttyS0 root=/dev/sda",
    "-m",
    "64",
    ...HEADLESS_DEBUG_EXIT,
  ]);
  assert.equal(
    result.stdout,
    "boot_params at 0x00090000 type_of_loader 0x000000b0\n" +
      "cmdline: console=ttyS0 root=/dev/sda\n" +
      "e820 entries: 0x00000006\n" +
      "  0x00000000 +0x0009fc00 type 00000001\n" +
      "  0x0009fc00 +0x00000400 type 00000002\n" +
      "  0x000f0000 +0x00010000 type 00000002\n" +
      "  0x00100000 +0x03ee0000 type 00000001\n" +
      "  0x03fe0000 +0x00020000 type 00000002\n" +
      "  0xfffc0000 +0x00040000 type 00000002\n" +
      "initrd size 0x00000011 page-aligned 00000000 below max 00000001\n" +
      "initrd: initrd contents\n",
    result.stderr,
  );
  assert.equal(result.code, 1);
});

Deno.test("fw_cfg items for QEMU's linuxboot option ROM: setup header as a boot loader fills it", () => {
  const ram = 64 << 20;
  const items = linuxFwCfgItems(bzImage({ setupSects: 2 }), {
    cmdline: "console=ttyS0",
    initrd: new Uint8Array(5000),
    ramBelow4g: ram,
  });
  const v = new DataView(items.setup.buffer);
  assert.equal(items.setupAddr, 0x10000);
  assert.equal(items.setup.length, 3 * 512);
  assert.equal(items.kernelAddr, 0x100000);
  assert.equal(items.kernel.length, 4096);
  assert.equal(items.cmdlineAddr, 0x20000);
  assert.equal(v.getUint32(HDR.CMD_LINE_PTR, true), 0x20000);
  assert.equal(items.setup[HDR.TYPE_OF_LOADER], 0xb0);
  assert.equal(items.setup[HDR.LOADFLAGS] & 0x81, 0x81, "LOADED_HIGH kept, CAN_USE_HEAP set");
  assert.equal(v.getUint16(HDR.HEAP_END_PTR, true), 0xfe00);
  assert.equal(items.initrdAddr! % 4096, 0);
  assert.ok(items.initrdAddr! + 5000 < ram - 0x28000, "below QEMU's ACPI/SMBIOS area");
  assert.equal(v.getUint32(HDR.RAMDISK_IMAGE, true), items.initrdAddr);
  assert.equal(v.getUint32(HDR.RAMDISK_SIZE, true), 5000);
});
