/**
 * The PC's physical memory map as firmware reports it (e820), and the etc/e820 bytes fw_cfg hands
 * SeaBIOS. Conventional memory ends below the EBDA at 639 KiB; 0x9FC00-0xFFFFF is reserved (EBDA,
 * VGA window, option ROMs, BIOS); extended RAM runs from 1 MiB to
 * 128 KiB below the end of RAM, where SeaBIOS keeps its tables. This is the map of QEMU 7.2 with
 * SeaBIOS, so a -kernel guest entered directly sees what it would see after the BIOS.
 */
import { e820Bytes, type E820Entry } from "../../devices/fw_cfg.ts";

export const E820_RAM = 1, E820_RESERVED = 2;
/** SeaBIOS's high zone (ACPI tables, PMM) at the top of low RAM, reserved in the map. */
export const HIGH_ZONE = 0x20000;

/**
 * How QEMU's pc splits RAM around the PCI hole: all of it below 4 GiB up to 0xE0000000 bytes,
 * else 3 GiB below (gigabyte-aligned) and the rest from 4 GiB up.
 */
export function ramBelow4g(ramSize: number): number {
  return ramSize >= 0xe0000000 ? 0xc0000000 : ramSize;
}

/** The map a BIOS would report for `ramSize` bytes of RAM (RAM above 4 GiB included). */
export function pcMemoryMap(ramSize: number): E820Entry[] {
  const map: E820Entry[] = [{ address: 0, length: 0x9fc00, type: E820_RAM }];
  map.push({ address: 0x9fc00, length: 0x400, type: E820_RESERVED });
  map.push({ address: 0xf0000, length: 0x10000, type: E820_RESERVED });
  // SeaBIOS keeps its high zone (ACPI tables, PMM) in the top 128 KiB below the end of RAM.
  const top = ramBelow4g(ramSize);
  if (top > 0x100000 + HIGH_ZONE) {
    map.push({ address: 0x100000, length: top - HIGH_ZONE - 0x100000, type: E820_RAM });
    map.push({ address: top - HIGH_ZONE, length: HIGH_ZONE, type: E820_RESERVED });
  }
  map.push({ address: 0xfffc0000, length: 0x40000, type: E820_RESERVED });
  if (ramSize > top) map.push({ address: 0x100000000, length: ramSize - top, type: E820_RAM });
  return map;
}

/** What QEMU's pc machine puts in fw_cfg's etc/e820: the RAM ranges only (SeaBIOS adds the rest). */
export function pcE820(ramSize: number): Uint8Array {
  const below = ramBelow4g(ramSize);
  const entries = [{ address: 0, length: below, type: E820_RAM }];
  if (ramSize > below) entries.push({ address: 0x100000000, length: ramSize - below, type: E820_RAM });
  return e820Bytes(entries);
}
