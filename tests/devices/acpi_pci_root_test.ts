/**
 * The DSDT's PCI root bridge: the AML lengths nest exactly (a wrong PkgLength makes the kernel's
 * interpreter reject the whole DSDT) and the _CRS template carries QEMU pc's windows.
 */
import assert from "node:assert/strict";
import { amlPciRoot } from "../../lib/devices/acpi_pci_root.ts";

/** Decodes a PkgLength at `at`: [value, bytes used]. */
function pkgLength(b: Uint8Array, at: number): [number, number] {
  const extra = b[at] >> 6;
  if (extra === 0) return [b[at] & 0x3f, 1];
  let v = b[at] & 0x0f;
  for (let i = 1; i <= extra; i++) v |= b[at + i] << (4 + 8 * (i - 1));
  return [v, extra + 1];
}

Deno.test("acpi PCI0: Scope/Device/Buffer lengths nest and _CRS holds the pc windows", () => {
  const aml = amlPciRoot(0x10000000);
  assert.equal(aml[0], 0x10); // ScopeOp
  const [scopeLen] = pkgLength(aml, 1);
  assert.equal(1 + scopeLen, aml.length);
  const text = String.fromCharCode(...aml);
  assert.ok(text.includes("\\_SB_"));
  const dev = text.indexOf("\x5b\x82");
  const [devLen] = pkgLength(aml, dev + 2);
  assert.equal(dev + 2 + devLen, aml.length);
  assert.equal(text.slice(dev + 4, dev + 8), "PCI0");
  assert.deepEqual([...aml.subarray(text.indexOf("_HID") + 4, text.indexOf("_HID") + 9)], [
    0x0c,
    0x41,
    0xd0,
    0x0a,
    0x03,
  ]);
  const buf = text.indexOf("_CRS") + 4;
  assert.equal(aml[buf], 0x11);
  const [bufLen, used] = pkgLength(aml, buf + 1);
  assert.equal(buf + 1 + bufLen, aml.length);
  const size = aml[buf + 1 + used + 1];
  const crs = aml.subarray(buf + 1 + used + 2);
  assert.equal(crs.length, size);
  assert.deepEqual([...crs.subarray(-2)], [0x79, 0x00]);
  // The last window: the 32-bit hole from the end of RAM to 0xFEBFFFFF.
  const v = new DataView(crs.buffer, crs.byteOffset, crs.byteLength);
  const last = crs.length - 2 - 26;
  assert.equal(crs[last], 0x87);
  assert.equal(v.getUint32(last + 10, true), 0x10000000);
  assert.equal(v.getUint32(last + 14, true), 0xfebfffff);
  assert.equal(v.getUint32(last + 22, true), 0xfebfffff - 0x10000000 + 1);
});
