/**
 * The AML encoder and what the DSDT builds with it: package lengths in their 1-3 byte forms, name
 * strings, EISA IDs and IRQ descriptors as ASL compilers emit them, and PCI0's _PRT routing slot s,
 * pin p to link (s + p - 1) & 3 with the PIIX4 PM function (slot 1, INTA) on LNKS, as QEMU's DSDT does.
 */
import assert from "node:assert/strict";
import { eisaId, extendedIrq, int, nameString, pkgLength } from "../../lib/devices/aml.ts";
import { amlPciPrt } from "../../lib/devices/acpi_pci_links.ts";

Deno.test("aml: PkgLength counts itself, in one to three bytes", () => {
  assert.deepEqual(pkgLength(5), [6]);
  assert.deepEqual(pkgLength(0x3e), [0x3f]);
  assert.deepEqual(pkgLength(0x3f), [0x41, 0x04]); // 0x41 = 2 bytes, low nibble 1; 0x41 total
  assert.deepEqual(pkgLength(0x1000), [0x83, 0x00, 0x01]); // 0x1003 total
});

Deno.test("aml: name strings, integers, EISA IDs and the extended IRQ descriptor", () => {
  assert.deepEqual(nameString("LNKA"), [0x4c, 0x4e, 0x4b, 0x41]);
  assert.deepEqual(nameString("\\_SB_"), [0x5c, 0x5f, 0x53, 0x42, 0x5f]);
  assert.deepEqual(nameString("\\_SB_.PCI0.ISA_.PRQ0").slice(0, 3), [0x5c, 0x2f, 4]);
  assert.deepEqual(int(0), [0x00]);
  assert.deepEqual(int(1), [0x01]);
  assert.deepEqual(int(0x80), [0x0a, 0x80]);
  assert.deepEqual(int(0x1ffff), [0x0c, 0xff, 0xff, 0x01, 0x00]);
  assert.deepEqual(eisaId("PNP0C0F"), [0x0c, 0x41, 0xd0, 0x0c, 0x0f]);
  assert.deepEqual(eisaId("PNP0103"), [0x0c, 0x41, 0xd0, 0x01, 0x03]);
  // Interrupt (ResourceConsumer, Level, ActiveHigh, Shared) { 5, 10, 11 }
  assert.deepEqual(extendedIrq([5, 10, 11]), [0x89, 14, 0, 0x09, 3, 5, 0, 0, 0, 10, 0, 0, 0, 11, 0, 0, 0]);
});

Deno.test("aml: PCI0._PRT routes every slot's pins to LNKA-LNKD, slot 1 INTA to LNKS", () => {
  const prt = amlPciPrt();
  const text = String.fromCharCode(...prt);
  assert.equal(text.slice(1, 5), "_PRT");
  assert.equal(prt[5], 0x12); // PackageOp
  const links = [...text.matchAll(/LNK([A-DS])/g)].map((m) => m[1]);
  assert.equal(links.length, 128);
  const expect = (
    slot: number,
    pin: number,
  ) => (slot === 1 && pin === 0 ? "S" : "ABCD"[(slot + pin - 1) & 3]);
  for (let slot = 0; slot < 32; slot++) {
    for (let pin = 0; pin < 4; pin++) {
      assert.equal(links[slot * 4 + pin], expect(slot, pin), `slot ${slot} pin ${pin}`);
    }
  }
});
