/** PCI configuration mechanism #1, the i440FX (PAM), PIIX3 (PIRQ routing) and PIIX4 PM functions. */
import assert from "node:assert/strict";
import { Bus } from "../../lib/devices/bus.ts";
import { VirtualClock } from "../../lib/devices/clock.ts";
import { IsaIrqRouter } from "../../lib/devices/irq.ts";
import { PicPair } from "../../lib/devices/pic.ts";
import { PciHost } from "../../lib/devices/pci.ts";
import { I440fx } from "../../lib/devices/i440fx.ts";
import { Piix3 } from "../../lib/devices/piix3.ts";
import { AcpiPm, PM_TIMER_FREQ } from "../../lib/devices/acpi_pm.ts";

function setup() {
  const bus = new Bus({ ramSize: 8 << 20 });
  const clock = new VirtualClock({ source: "manual" });
  bus.nowNs = clock.nowNs;
  const pic = new PicPair(bus);
  pic.install();
  const isa = new IsaIrqRouter(pic);
  const host = new PciHost(bus);
  const i440fx = new I440fx(bus);
  const piix3 = new Piix3(isa);
  const pm = new AcpiPm(bus, clock, isa.line(9));
  host.setIrqSink(piix3);
  host.add(i440fx, 0, 0);
  host.add(piix3, 1, 0);
  host.add(pm, 1, 3);
  return { bus, clock, pic, isa, host, i440fx, piix3, pm };
}

const cfg = (bus: Bus, devfn: number, reg: number) => {
  bus.out(0xcf8, 4, 0x80000000 | (devfn << 8) | reg);
  return bus.in(0xcfc, 4);
};
const setCfg = (bus: Bus, devfn: number, reg: number, size: 1 | 2 | 4, v: number) => {
  bus.out(0xcf8, 4, 0x80000000 | (devfn << 8) | (reg & 0xfc));
  bus.out(0xcfc + (reg & 3), size, v);
};

Deno.test("pci: IDs, class codes, header types and subsystem IDs as QEMU's pc shows them", () => {
  const { bus } = setup();
  // Dwords 0x00, 0x04, 0x08, 0x0c, 0x2c read from qemu-system-i386 7.2 (command as at reset).
  assert.deepEqual([0x00, 0x08, 0x0c, 0x2c].map((r) => cfg(bus, 0x00, r)), [
    0x12378086,
    0x06000002,
    0x00000000,
    0x11001af4,
  ]);
  assert.deepEqual([0x00, 0x04, 0x08, 0x0c, 0x60].map((r) => cfg(bus, 0x08, r)), [
    0x70008086,
    0x02000007,
    0x06010000,
    0x00800000,
    0x80808080,
  ]);
  assert.deepEqual([0x00, 0x08, 0x2c, 0x3c, 0x40].map((r) => cfg(bus, 0x0b, r)), [
    0x71138086,
    0x06800003,
    0x11001af4,
    0x00000100,
    0x00000001,
  ]);
  assert.equal(cfg(bus, 0x10, 0x00), 0xffffffff); // empty slot
  bus.out(0xcf8, 4, 0x80000004);
  assert.equal(bus.in(0xcf8, 4), 0x80000004);
  assert.equal(bus.in(0xcfe, 2), 0x0000); // i440FX status, upper half of dword 0x04
});

Deno.test("pci: i440FX PAM shadows the BIOS: RAM read-write, copy, then read-only", () => {
  const { bus, i440fx } = setup();
  const bios = new Uint8Array(0x10000).fill(0xbb);
  bus.addRom(0xf0000, bios);
  bus.unmap(0xc0000, 0x20000); // the option-ROM window: nothing there on this board
  assert.equal(bus.read8(0xf1234), 0xbb);
  i440fx.capturePamRom();
  setCfg(bus, 0, 0x59, 1, 0x30);
  assert.equal(i440fx.pamMode(0xf0000), 3);
  assert.equal(bus.read8(0xf1234), 0x00); // RAM now
  bus.write8(0xf1234, 0x42);
  assert.equal(bus.read8(0xf1234), 0x42);
  setCfg(bus, 0, 0x59, 1, 0x10);
  bus.write8(0xf1234, 0x99);
  assert.equal(bus.read8(0xf1234), 0x42); // read-only RAM
  setCfg(bus, 0, 0x59, 1, 0x00);
  assert.equal(bus.read8(0xf1234), 0xbb); // back to the ROM
  // A C-segment pair: 0x5A low nibble is 0xC0000-0xC3FFF, high nibble 0xC4000-0xC7FFF.
  setCfg(bus, 0, 0x5a, 1, 0x03);
  bus.write8(0xc0000, 1);
  bus.write8(0xc4000, 1);
  assert.equal(bus.read8(0xc0000), 1);
  assert.equal(bus.read8(0xc4000), 0); // the ROM side: nothing, which reads 0 as on QEMU
});

Deno.test("pci: PIIX3 PIRQ routing steers slot INTx to the programmed ISA IRQ, wire-ORed", () => {
  const { bus, piix3, pic } = setup();
  // Slot 3 INTA -> PIRQ (0 + 3 - 1) & 3 = C; slot 2 INTB -> PIRQ C too.
  setCfg(bus, 0x08, 0x62, 1, 0x0b);
  piix3.setPciIrq(3 << 3, 0, true);
  assert.equal(pic.chips[1].irr & 0x08, 0x08);
  bus.out(0x4d1, 1, 0x08); // level-triggered IRQ11
  piix3.setPciIrq(2 << 3, 1, true);
  piix3.setPciIrq(3 << 3, 0, false);
  assert.equal(pic.chips[1].irr & 0x08, 0x08); // still held by slot 2
  piix3.setPciIrq(2 << 3, 1, false);
  assert.equal(pic.chips[1].irr & 0x08, 0);
  setCfg(bus, 0x08, 0x62, 1, 0x80);
  piix3.setPciIrq(3 << 3, 0, true);
  assert.equal(pic.chips[1].irr & 0x08, 0); // disabled route
});

Deno.test("acpi pm: PMBA and PMREGMISC map the block; PM timer; S5 via SLP_EN; ACPI enable via 0xB2", () => {
  const { bus, clock, pm } = setup();
  assert.equal(bus.in(0x608, 4), 0xffffffff); // not enabled yet
  setCfg(bus, 0x0b, 0x40, 4, 0x601);
  setCfg(bus, 0x0b, 0x80, 1, 0x01);
  assert.equal(cfg(bus, 0x0b, 0x40), 0x601);
  const t0 = bus.in(0x608, 4);
  clock.run(1e6);
  const t1 = bus.in(0x608, 4);
  assert.ok(Math.abs(((t1 - t0) & 0xffffff) - PM_TIMER_FREQ / 1000) <= 1);
  // The timer overflow (bit 23) sets TMR_STS; with TMR_EN it raises the SCI on IRQ9.
  bus.out(0x602, 2, 0x0001);
  clock.run((0x800000 / PM_TIMER_FREQ) * 1e9 + 1e6);
  assert.equal(bus.in(0x600, 2) & 1, 1);
  assert.equal(pm.pm1Sts & 1, 1);
  bus.out(0x600, 2, 0x0001);
  assert.equal(bus.in(0x600, 2) & 1, 0);
  assert.equal(bus.in(0x604, 2) & 1, 0);
  bus.out(0xb2, 1, 0xf1);
  assert.equal(bus.in(0x604, 2) & 1, 1);
  assert.equal(bus.shutdownStatus, undefined);
  bus.out(0x604, 2, 0x2000);
  assert.equal(bus.shutdownStatus, 0);
});

Deno.test("acpi pm: programLikeSeaBios gives the config SeaBIOS leaves (dumped from QEMU 7.2)", () => {
  const { bus, pm } = setup();
  pm.programLikeSeaBios();
  assert.deepEqual(
    [0x04, 0x3c, 0x40, 0x58, 0x5c, 0x60, 0x64, 0x80, 0x90, 0xd0].map((r) => cfg(bus, 0x0b, r)),
    [
      0x02800103,
      0x00000109,
      0x00000601,
      0x02000000,
      0x90000000,
      0x60000000,
      0x08000000,
      0x00000001,
      0x00000701,
      0x00090000,
    ],
  );
  bus.out(0x604, 2, 0x2000);
  assert.equal(bus.shutdownStatus, 0);
});
