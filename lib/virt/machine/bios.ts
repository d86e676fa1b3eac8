/**
 * Firmware placement on the PC, as QEMU's pc_system_firmware_init does it: the whole BIOS image
 * read-only at the top of 4 GiB (where the reset vector lands), and its last 128 KiB aliased at
 * 0xE0000-0xFFFFF (the "isa-bios"). That alias is the ROM side of the i440FX PAM segments: SeaBIOS
 * flips them to RAM, copies itself down and locks them, and a reset flips them back.
 */
import type { Bus } from "../../devices/bus.ts";
import type { I440fx } from "../../devices/i440fx.ts";

const ISA_BIOS_SIZE = 128 << 10;

/** ROM space the Bus must reserve for a BIOS image. */
export function biosRomSpace(image: Uint8Array): number {
  return Math.ceil(image.length / 4096) * 4096;
}

/** Maps the BIOS and records its low alias as the PAM ROM side. */
export function installBios(bus: Bus, i440fx: I440fx, image: Uint8Array): void {
  if (image.length % 4096 !== 0) throw new RangeError("BIOS size must be a multiple of 4 KiB");
  const offset = bus.addRom(0x100000000 - image.length, image);
  const size = Math.min(ISA_BIOS_SIZE, image.length);
  bus.mapRange(0x100000 - size, size, offset + image.length - size, true);
  i440fx.capturePamRom();
}
