/**
 * SMBIOS (DMI) tables as QEMU 7.2's pc-i440fx-7.2 hands them to the firmware through fw_cfg
 * (`etc/smbios/smbios-tables` and the 2.8 entry point template `etc/smbios/smbios-anchor`, whose
 * checksums and table address the firmware fills), and what SeaBIOS makes of them in memory: its own
 * type 0 (BIOS information) in front, the entry point in the F-segment. Linux reads the result for
 * "DMI: QEMU Standard PC (i440FX + PIIX, 1996), BIOS ..." and dmidecode shows the same tables.
 *
 * Handles, string order and field values follow QEMU's for a machine with one CPU socket and RAM
 * below 16 GiB (one DIMM); the CPU's signature is its CPUID leaf 1 EAX/EDX.
 */
import { checksum } from "./acpi_tables.ts";

export interface SmbiosOptions {
  /** Guest RAM in bytes (-m). */
  ramSize: number;
  /** RAM mapped below 4 GiB (the rest sits above 4 GiB). */
  ramBelow4g: number;
  /** CPUID.1 EAX and EDX: the processor ID of the type 4 table. */
  cpuid1Eax: number;
  cpuid1Edx: number;
  cpus?: number;
  /** QEMU's machine version string (type 1 and 3 "version"). */
  machineVersion?: string;
}

export interface SmbiosBlobs {
  /** `etc/smbios/smbios-tables`: the structures, types 1-127, without a type 0. */
  tables: Uint8Array;
  /** `etc/smbios/smbios-anchor`: the 31-byte 2.8 entry point with zero checksums and address. */
  anchor: Uint8Array;
}

const MANUFACTURER = "QEMU";
const PRODUCT = "Standard PC (i440FX + PIIX, 1996)";
const MACHINE_VERSION = "pc-i440fx-7.2";
/** What Debian 12's SeaBIOS (1.16.2) puts in the type 0 it adds. */
const SEABIOS_VENDOR = "SeaBIOS";
const SEABIOS_VERSION = "1.16.2-debian-1.16.2-1";
const SEABIOS_DATE = "04/01/2014";
/** QEMU's nominal CPU speed in the type 4 table, MHz. */
const CPU_SPEED_MHZ = 2000;
const KIB = 1024;
const MIB = 1024 * 1024;
const GIB_4 = 0x1_0000_0000;
const ANCHOR_LENGTH = 0x1f;

/** One structure: the formatted area (type, length and handle are filled in) and its strings. */
function structure(type: number, handle: number, body: number[], strings: string[] = []): Uint8Array {
  const head = [type, 4 + body.length, handle & 0xff, handle >> 8, ...body];
  const text = strings.length ? strings.map((s) => s + "\0").join("") + "\0" : "\0\0";
  return Uint8Array.from([...head, ...new TextEncoder().encode(text)]);
}

const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const zeros = (n: number) => new Array<number>(n).fill(0);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** QEMU's structures, in its order. */
function structures(o: SmbiosOptions): Uint8Array[] {
  const version = o.machineVersion ?? MACHINE_VERSION;
  const cpus = o.cpus ?? 1;
  const ramKib = Math.floor(o.ramSize / KIB);
  // Type 1, system: manufacturer, product, version; no serial; UUID all zero without -uuid;
  // wake-up type "power switch".
  const system = structure(0x01, 0x0100, [1, 2, 3, 0, ...zeros(16), 0x06, 0, 0], [
    MANUFACTURER,
    PRODUCT,
    version,
  ]);
  // Type 3, chassis "other", states "safe", security "unknown".
  const chassis = structure(
    0x03,
    0x0300,
    [1, 0x01, 2, 0, 0, 0x03, 0x03, 0x03, 0x02, ...zeros(4), 0, 0, 0, 0, 0],
    [MANUFACTURER, version],
  );
  // Type 4, one per socket: "CPU n", central processor, family "other", CPUID signature, 2000 MHz,
  // populated and enabled, no caches, one core and thread each.
  const processors = Array.from({ length: cpus }, (_, n) =>
    structure(0x04, 0x0400 + n, [
      1,
      0x03,
      0x01,
      2,
      ...u32(o.cpuid1Eax),
      ...u32(o.cpuid1Edx),
      3,
      0,
      ...u16(0),
      ...u16(CPU_SPEED_MHZ),
      ...u16(CPU_SPEED_MHZ),
      0x41,
      0x01,
      ...u16(0xffff),
      ...u16(0xffff),
      ...u16(0xffff),
      0,
      0,
      0,
      1,
      1,
      1,
      ...u16(0x02),
      ...u16(0x01),
    ], [`CPU ${n}`, MANUFACTURER, version]));
  // Type 16, the memory array: system memory, multi-bit ECC, capacity in KiB, one device.
  const array = structure(0x10, 0x1000, [
    0x01,
    0x03,
    0x06,
    ...u32(ramKib),
    ...u16(0xfffe),
    ...u16(1),
    ...zeros(8),
  ]);
  // Type 17, the one DIMM: size in MiB, form factor DIMM, type RAM, detail "other".
  const dimm = structure(0x11, 0x1100, [
    ...u16(0x1000),
    ...u16(0xfffe),
    ...u16(0xffff),
    ...u16(0xffff),
    ...u16(Math.floor(o.ramSize / MIB)),
    0x09,
    0,
    1,
    0,
    0x07,
    ...u16(0x0002),
    ...u16(0),
    2,
    0,
    0,
    0,
    0,
    ...u32(0),
    ...u16(0),
    ...u16(0),
    ...u16(0),
    ...u16(0),
  ], ["DIMM 0", MANUFACTURER]);
  // Type 19, one per RAM range: start and end in KiB, array 0x1000, partition width 1.
  const ranges: [number, number][] = [[0, o.ramBelow4g]];
  if (o.ramSize > o.ramBelow4g) ranges.push([GIB_4, o.ramSize - o.ramBelow4g]);
  const mapped = ranges.map(([start, length], i) =>
    structure(0x13, 0x1300 + i, [
      ...u32(start / KIB),
      ...u32((start + length) / KIB - 1),
      ...u16(0x1000),
      1,
      ...zeros(16),
    ])
  );
  const boot = structure(0x20, 0x2000, [...zeros(6), 0]); // type 32: no errors
  const end = structure(0x7f, 0x7f00, []);
  return [system, chassis, ...processors, array, dimm, ...mapped, boot, end];
}

/** The 2.8 entry point for `count` structures totalling `length` bytes at `address`. */
function entryPoint(
  length: number,
  count: number,
  maxSize: number,
  address: number,
  sealed: boolean,
): Uint8Array {
  const ep = Uint8Array.from([
    ...new TextEncoder().encode("_SM_"),
    0,
    ANCHOR_LENGTH,
    2,
    8,
    ...u16(maxSize),
    0,
    ...zeros(5),
    ...new TextEncoder().encode("_DMI_"),
    0,
    ...u16(length),
    ...u32(address),
    ...u16(count),
    0x28,
  ]);
  if (sealed) {
    ep[0x15] = checksum(ep, 0x10, ANCHOR_LENGTH);
    ep[0x04] = checksum(ep, 0, ANCHOR_LENGTH);
  }
  return ep;
}

/** What QEMU puts in fw_cfg. */
export function buildSmbios(o: SmbiosOptions): SmbiosBlobs {
  const list = structures(o);
  const tables = concat(list);
  const maxSize = Math.max(...list.map((s) => s.length));
  return { tables, anchor: entryPoint(tables.length, list.length, maxSize, 0, false) };
}

/** SeaBIOS's type 0: its vendor, version and date; BIOS segment 0xE800, 64 KiB ROM. */
function seabiosType0(): Uint8Array {
  return structure(0x00, 0x0000, [
    1,
    2,
    ...u16(0xe800),
    3,
    0,
    0x08,
    ...zeros(7),
    0x00,
    0x04,
    0,
    0,
    0xff,
    0xff,
  ], [SEABIOS_VENDOR, SEABIOS_VERSION, SEABIOS_DATE]);
}

/**
 * The tables as SeaBIOS installs QEMU's: its type 0 first, then QEMU's structures, at `tableAddress`,
 * and a sealed entry point for the F-segment.
 */
export function seabiosSmbios(
  blobs: SmbiosBlobs,
  tableAddress: number,
): { entry: Uint8Array; tables: Uint8Array } {
  const type0 = seabiosType0();
  const tables = concat([type0, blobs.tables]);
  const anchor = new DataView(blobs.anchor.buffer, blobs.anchor.byteOffset);
  const count = anchor.getUint16(0x1c, true) + 1;
  const maxSize = Math.max(anchor.getUint16(0x08, true), type0.length);
  return { entry: entryPoint(tables.length, count, maxSize, tableAddress, true), tables };
}
