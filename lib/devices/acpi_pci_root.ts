/**
 * AML for the DSDT's PCI root bridge, `\_SB.PCI0` (PNP0A03) with the windows it decodes. With ACPI
 * present Linux finds PCI root buses only through the DSDT (it skips its legacy bus probe), so
 * without this device a kernel given our tables would see no PCI devices at all, the IDE
 * controller included. The windows follow QEMU's pc: bus 0-255, I/O around the 0xCF8 config
 * ports, the VGA window and the 32-bit hole from the end of low RAM to below the IOAPIC.
 */
import { type Aml, buffer, device, eisaId, int, ioPorts, name, scope } from "./aml.ts";

const le = (v: number, bytes: number) => Array.from({ length: bytes }, (_, i) => (v / 2 ** (8 * i)) & 0xff);

/** Word address space descriptor (bus number or I/O range), min/max fixed. */
function wordSpace(type: number, typeFlags: number, min: number, max: number): number[] {
  return [
    0x88,
    ...le(13, 2),
    type,
    0x0c,
    typeFlags,
    ...le(0, 2),
    ...le(min, 2),
    ...le(max, 2),
    ...le(0, 2),
    ...le(max - min + 1, 2),
  ];
}

/** DWord memory range descriptor, read-write, min/max fixed. */
function dwordMemory(min: number, max: number): number[] {
  return [
    0x87,
    ...le(23, 2),
    0,
    0x0c,
    0x01,
    ...le(0, 4),
    ...le(min, 4),
    ...le(max, 4),
    ...le(0, 4),
    ...le(max - min + 1, 4),
  ];
}

/**
 * `Scope (\_SB) { Device (PCI0) { _HID PNP0A03, _UID 0, _CRS, children }, siblings }` for a hole
 * from `memStart`: `children` go inside PCI0 (its _PRT, the ISA bridge), `siblings` after it in \_SB.
 */
export function amlPciRoot(memStart: number, children: Aml = [], siblings: Aml = []): Uint8Array {
  const crs = [
    ...wordSpace(2, 0, 0, 0xff),
    ...ioPorts(0xcf8, 1, 8),
    ...wordSpace(1, 0x03, 0x0000, 0x0cf7),
    ...wordSpace(1, 0x03, 0x0d00, 0xffff),
    ...dwordMemory(0x000a0000, 0x000bffff),
    ...dwordMemory(memStart, 0xfebfffff),
    0x79,
    0x00, // EndTag
  ];
  const pci0 = device(
    "PCI0",
    name("_HID", eisaId("PNP0A03")),
    name("_UID", int(0)),
    name("_CRS", buffer(crs)),
    children,
  );
  return Uint8Array.from(scope("\\_SB_", pci0, siblings));
}
