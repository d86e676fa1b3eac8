/**
 * The DSDT's ISA devices against QEMU 7.2's own DSDT (tests/golden/pc/qemu_dsdt.aml, recorded by
 * record_qemu_dsdt.ts from a Linux guest under qemu-system-i386): keyboard, mouse, parallel port,
 * COM1 and RTC are byte for byte QEMU's objects; the floppy controller is QEMU's without the drive
 * child FLPA (we have no drive). Also: one COMn per serial port, in the ISA bridge, in QEMU's order.
 */
import assert from "node:assert/strict";
import { amlIsaDevices } from "../../lib/devices/acpi_isa.ts";
import { buildAcpiTables } from "../../lib/devices/acpi_tables.ts";
import { ioPorts, irqNoFlags } from "../../lib/devices/aml.ts";
import { QEMU_DSDT_GOLDEN } from "./record_qemu_dsdt.ts";

interface AmlDevice {
  name: string;
  /** The whole Device term. */
  bytes: Uint8Array;
  /** After the PkgLength: the name and the body. */
  body: Uint8Array;
}

/** Every `Device (NAME) {...}` term whose NameSeg matches, anywhere in `aml`. */
function findDevices(aml: Uint8Array, name: RegExp): AmlDevice[] {
  const found: AmlDevice[] = [];
  for (let at = 0; at + 8 < aml.length; at++) {
    if (aml[at] !== 0x5b || aml[at + 1] !== 0x82) continue;
    const lead = aml[at + 2], extra = lead >> 6;
    let length = extra ? lead & 0x0f : lead & 0x3f;
    for (let k = 0; k < extra; k++) length |= aml[at + 3 + k] << (4 + 8 * k);
    const start = at + 3 + extra, end = at + 2 + length;
    const seg = String.fromCharCode(...aml.subarray(start, start + 4));
    if (!name.test(seg) || end > aml.length) continue;
    found.push({ name: seg, bytes: aml.subarray(at, end), body: aml.subarray(start, end) });
  }
  return found;
}

const ISA = /^(KBD_|MOU_|FDC0|LPT1|COM\d|RTC_)$/;
const qemu = findDevices(Deno.readFileSync(QEMU_DSDT_GOLDEN), ISA);
const ours = findDevices(Uint8Array.from(amlIsaDevices([0])), ISA);

Deno.test("acpi isa: QEMU's ISA devices, in QEMU's order", () => {
  assert.deepEqual(qemu.map((d) => d.name), ["KBD_", "MOU_", "FDC0", "LPT1", "COM1", "RTC_"]);
  assert.deepEqual(ours.map((d) => d.name), qemu.map((d) => d.name));
});

Deno.test("acpi isa: keyboard, mouse, LPT1, COM1 and RTC are QEMU's objects byte for byte", () => {
  for (const name of ["KBD_", "MOU_", "LPT1", "COM1", "RTC_"]) {
    const a = ours.find((d) => d.name === name)!, b = qemu.find((d) => d.name === name)!;
    assert.deepEqual([...a.bytes], [...b.bytes], name);
  }
});

Deno.test("acpi isa: FDC0 is QEMU's controller without the drive object FLPA", () => {
  const a = ours.find((d) => d.name === "FDC0")!, b = qemu.find((d) => d.name === "FDC0")!;
  assert.deepEqual([...b.body.subarray(0, a.body.length)], [...a.body]);
  assert.deepEqual(findDevices(b.body.subarray(a.body.length), /^FLPA$/).map((d) => d.name), ["FLPA"]);
  assert.deepEqual(findDevices(a.body, /^FLPA$/), []);
});

Deno.test("acpi isa: one COMn per serial port, with its ports and IRQ, inside the ISA bridge", () => {
  const two = findDevices(Uint8Array.from(amlIsaDevices([0, 1])), /^COM\d$/);
  assert.deepEqual(two.map((d) => d.name), ["COM1", "COM2"]);
  const com2 = [...two[1].body];
  const has = (needle: number[]) => com2.some((_, i) => needle.every((v, k) => com2[i + k] === v));
  assert.ok(has(ioPorts(0x2f8, 0, 8)) && has(irqNoFlags(3)));
  assert.deepEqual(findDevices(Uint8Array.from(amlIsaDevices([])), ISA).map((d) => d.name), [
    "KBD_",
    "MOU_",
    "FDC0",
    "LPT1",
    "RTC_",
  ]);
  const layout = buildAcpiTables(0x7fe0000, { pciMemStart: 0x8000000, serialPorts: [0] });
  const bridge = findDevices(layout.tables, /^ISA_$/);
  assert.equal(bridge.length, 1);
  assert.deepEqual(findDevices(bridge[0].body, ISA).map((d) => d.name), qemu.map((d) => d.name));
});
