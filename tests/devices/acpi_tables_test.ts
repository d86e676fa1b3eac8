/** The ACPI tables for BIOS-less boots: structure, checksums, and QEMU's FADT and MADT contents. */
import assert from "node:assert/strict";
import { buildAcpiTables } from "../../lib/devices/acpi_tables.ts";

const BASE = 0x07fe0000;

function table(layout: ReturnType<typeof buildAcpiTables>, addr: number): Uint8Array {
  const at = addr - layout.base;
  const len = new DataView(layout.tables.buffer).getUint32(at + 4, true);
  return layout.tables.subarray(at, at + len);
}

const sum = (b: Uint8Array) => b.reduce((a, x) => (a + x) & 0xff, 0);
const dwords = (b: Uint8Array, from: number, to: number) => {
  const v = new DataView(b.buffer, b.byteOffset);
  const out: number[] = [];
  for (let i = from; i < to; i += 4) out.push(v.getUint32(i, true));
  return out;
};

Deno.test("acpi tables: RSDP -> RSDT -> FADT (+FACS, DSDT with \\_S5) and MADT, all checksummed", () => {
  const layout = buildAcpiTables(BASE, { apic: true });
  const { rsdp } = layout;
  assert.equal(new TextDecoder().decode(rsdp.subarray(0, 8)), "RSD PTR ");
  assert.equal(sum(rsdp), 0);
  const rsdt = table(layout, new DataView(rsdp.buffer).getUint32(16, true));
  assert.equal(new TextDecoder().decode(rsdt.subarray(0, 4)), "RSDT");
  assert.equal(sum(rsdt), 0);
  const [fadtAt, madtAt] = dwords(rsdt, 36, rsdt.length);
  const fadt = table(layout, fadtAt);
  assert.equal(fadt.length, 116);
  assert.equal(sum(fadt), 0);
  // FADT bytes 44-115 as qemu-system-i386 7.2 (pc, SeaBIOS) has them.
  assert.deepEqual(dwords(fadt, 44, 116), [
    0x00090001,
    0x000000b2,
    0x0000f0f1,
    0x00000600,
    0x00000000,
    0x00000604,
    0x00000000,
    0x00000000,
    0x00000608,
    0x0000afe0,
    0x00000000,
    0x04000204,
    0x00000004,
    0x0fff0fff,
    0x00000000,
    0x00000000,
    0x00000032,
    0x000080a5,
  ]);
  const [facsAt, dsdtAt] = dwords(fadt, 36, 44);
  assert.equal(facsAt % 64, 0);
  assert.equal(new TextDecoder().decode(layout.tables.subarray(facsAt - BASE, facsAt - BASE + 4)), "FACS");
  const dsdt = table(layout, dsdtAt);
  assert.equal(sum(dsdt), 0);
  assert.deepEqual([...dsdt.subarray(36)], [0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x06, 0x04, 0, 0, 0, 0]);
  const madt = table(layout, madtAt);
  assert.equal(sum(madt), 0);
  // The MADT body QEMU 7.2's pc gives a 1-CPU guest.
  assert.deepEqual(dwords(madt, 36, 120), [
    0xfee00000,
    0x00000001,
    0x00000800,
    0x00000001,
    0x00000c01,
    0xfec00000,
    0x00000000,
    0x00000a02,
    0x00000002,
    0x0a020000,
    0x00050500,
    0x000d0000,
    0x09000a02,
    0x00000009,
    0x0a02000d,
    0x000a0a00,
    0x000d0000,
    0x0b000a02,
    0x0000000b,
    0x0604000d,
    0x010000ff,
  ]);
  // The WAET last, as in QEMU's RSDT: "PM timer good" (one read is enough).
  const waet = table(layout, dwords(rsdt, 36, rsdt.length)[2]);
  assert.equal(new TextDecoder().decode(waet.subarray(0, 4)), "WAET");
  assert.equal(sum(waet), 0);
  assert.deepEqual(dwords(waet, 36, 40), [0x00000002]);
  // Without the APICs there is no MADT: FADT and WAET.
  const pic = buildAcpiTables(BASE);
  const rsdt2 = table(pic, new DataView(pic.rsdp.buffer).getUint32(16, true));
  assert.equal(rsdt2.length, 44);
});

Deno.test("acpi tables: an HPET table between MADT and WAET, as QEMU's pc has it", () => {
  const layout = buildAcpiTables(BASE, { apic: true, hpet: true });
  const rsdt = table(layout, new DataView(layout.rsdp.buffer).getUint32(16, true));
  const hpet = table(layout, dwords(rsdt, 36, rsdt.length)[2]);
  assert.equal(new TextDecoder().decode(hpet.subarray(0, 4)), "HPET");
  assert.equal(hpet.length, 56);
  assert.equal(hpet[8], 1); // revision
  assert.equal(sum(hpet), 0);
  // Event timer block ID, GAS (system memory, widths 0), base 0xFED00000, number 0, min tick 0.
  assert.deepEqual(dwords(hpet, 36, 56), [0x8086a201, 0, 0xfed00000, 0, 0]);
  assert.equal(
    new TextDecoder().decode(table(layout, dwords(rsdt, 36, rsdt.length)[3]).subarray(0, 4)),
    "WAET",
  );
});
