/** Local APIC (timer, TPR, EOI, self-IPI, LINT0 ExtINT, relocation) and IOAPIC delivery, through MMIO. */
import assert from "node:assert/strict";
import { Bus } from "../../lib/devices/bus.ts";
import { VirtualClock } from "../../lib/devices/clock.ts";
import { IsaIrqRouter } from "../../lib/devices/irq.ts";
import { PicPair } from "../../lib/devices/pic.ts";
import { LocalApic } from "../../lib/devices/apic.ts";
import { IoApic } from "../../lib/devices/ioapic.ts";

const APIC = 0xfee00000, IOAPIC = 0xfec00000;

function setup() {
  const bus = new Bus({ ramSize: 1 << 20 });
  const clock = new VirtualClock({ source: "manual" });
  bus.nowNs = clock.nowNs;
  const pic = new PicPair(bus);
  const lapic = new LocalApic(bus, clock);
  lapic.install(pic);
  const ioapic = new IoApic(bus, lapic);
  const isa = new IsaIrqRouter(pic, ioapic);
  bus.write32(APIC + 0xf0, 0x1ff); // software enable, spurious vector 0xff
  return { bus, clock, pic, lapic, ioapic, isa };
}

const isrBit = (bus: Bus, v: number) => (bus.read32(APIC + 0x100 + (v >> 5) * 0x10) >>> (v & 31)) & 1;

Deno.test("lapic: ID, version, SVR; TPR masks by priority class; EOI clears the highest ISR", () => {
  const { bus, lapic } = setup();
  assert.equal(bus.read32(APIC + 0x20), 0);
  assert.equal(bus.read32(APIC + 0x30), 0x00050014);
  // Self-IPIs through the ICR shorthand: vectors 0x41 and 0x62.
  bus.write32(APIC + 0x80, 0x50); // TPR class 5 blocks 0x41
  bus.write32(APIC + 0x300, 0x40041);
  bus.write32(APIC + 0x300, 0x40062);
  assert.equal(bus.intr, true);
  assert.equal(lapic.acknowledge(), 0x62);
  assert.equal(bus.read32(APIC + 0xa0), 0x60); // PPR = ISR class
  assert.equal(bus.intr, false);
  bus.write32(APIC + 0xb0, 0);
  assert.equal(isrBit(bus, 0x62), 0);
  assert.equal(bus.intr, false); // 0x41 still below TPR
  bus.write32(APIC + 0x80, 0x00);
  assert.equal(bus.intr, true);
  assert.equal(lapic.acknowledge(), 0x41);
  assert.equal(isrBit(bus, 0x41), 1);
  bus.write32(APIC + 0xb0, 0);
  // Physical destination IPI to our own ID works too; to another ID it goes nowhere.
  bus.write32(APIC + 0x310, 0x01000000);
  bus.write32(APIC + 0x300, 0x00000070);
  assert.equal(bus.intr, false);
  bus.write32(APIC + 0x310, 0x00000000);
  bus.write32(APIC + 0x300, 0x00000070);
  assert.equal(lapic.acknowledge(), 0x70);
});

Deno.test("lapic: timer one-shot and periodic with the divide configuration, current count", () => {
  const { bus, clock, lapic } = setup();
  bus.write32(APIC + 0x3e0, 0x3); // divide by 16
  bus.write32(APIC + 0x320, 0x00030); // one-shot, vector 0x30
  bus.write32(APIC + 0x380, 1000); // 16 us
  clock.run(8000);
  const cur = bus.read32(APIC + 0x390);
  assert.ok(cur >= 499 && cur <= 501, `${cur}`);
  assert.equal(bus.intr, false);
  clock.run(9000);
  assert.equal(bus.intr, true);
  assert.equal(bus.read32(APIC + 0x390), 0);
  assert.equal(lapic.acknowledge(), 0x30);
  bus.write32(APIC + 0xb0, 0);
  clock.run(100000);
  assert.equal(bus.intr, false); // one-shot fired once
  // Periodic, divide by 1: 100 interrupts in 100 periods.
  bus.write32(APIC + 0x3e0, 0xb);
  bus.write32(APIC + 0x320, 0x20031);
  bus.write32(APIC + 0x380, 999); // 1 us period
  let n = 0;
  for (let i = 0; i < 100; i++) {
    clock.run(1000);
    if (bus.intr) {
      assert.equal(lapic.acknowledge(), 0x31);
      bus.write32(APIC + 0xb0, 0);
      n++;
    }
  }
  assert.equal(n, 100);
  // Masking the LVT stops delivery.
  bus.write32(APIC + 0x320, 0x30031);
  clock.run(5000);
  assert.equal(bus.intr, false);
});

Deno.test("lapic: LINT0 ExtINT passes the 8259's vector; hardware disable bypasses and relocation moves MMIO", () => {
  const { bus, lapic, isa } = setup();
  // PIC vectors at 0x20; the APIC's LINT0 is masked at reset, so the PIC does not reach the CPU.
  for (
    const [p, v] of [
      [0x20, 0x11],
      [0x21, 0x20],
      [0x21, 4],
      [0x21, 1],
      [0xa0, 0x11],
      [0xa1, 0x28],
      [0xa1, 2],
      [0xa1, 1],
    ]
  ) {
    bus.out(p, 1, v);
  }
  bus.out(0x21, 1, 0);
  isa.setIrq(1, true);
  assert.equal(bus.intr, false);
  bus.write32(APIC + 0x350, 0x700); // LINT0 ExtINT, unmasked
  assert.equal(bus.intr, true);
  assert.equal(lapic.acknowledge(), 0x21);
  bus.out(0x20, 1, 0x20);
  // Globally disabled: MMIO gone (unassigned memory reads 0, as on QEMU), PIC straight through.
  lapic.setBaseMsr(0xfee00000);
  assert.equal(bus.read32(APIC + 0x30), 0);
  isa.setIrq(1, false);
  isa.setIrq(1, true);
  assert.equal(bus.intr, true);
  assert.equal(lapic.acknowledge(), 0x21);
  bus.out(0x20, 1, 0x20);
  // Re-enabled at a new base.
  lapic.setBaseMsr(0xfed00000 | 0x900);
  assert.equal(bus.read32(0xfed00030), 0x00050014);
  assert.equal(bus.read32(APIC + 0x30), 0);
});

Deno.test("ioapic: version, edge delivery from ISA IRQ0 on pin 2, level with remote IRR and EOI broadcast", () => {
  const { bus, lapic, isa } = setup();
  bus.write32(IOAPIC, 0x01);
  assert.equal(bus.read32(IOAPIC + 0x10), 0x00170020);
  const rte = (pin: number, lo: number, hi = 0) => {
    bus.write32(IOAPIC, 0x10 + 2 * pin + 1);
    bus.write32(IOAPIC + 0x10, hi);
    bus.write32(IOAPIC, 0x10 + 2 * pin);
    bus.write32(IOAPIC + 0x10, lo);
  };
  const readRte = (pin: number) => (bus.write32(IOAPIC, 0x10 + 2 * pin), bus.read32(IOAPIC + 0x10));
  assert.equal(readRte(2), 0x10000); // masked at reset
  rte(2, 0x40); // edge, fixed, vector 0x40, physical dest 0
  isa.setIrq(0, true);
  assert.equal(lapic.acknowledge(), 0x40);
  bus.write32(APIC + 0xb0, 0);
  isa.setIrq(0, true); // no new edge
  assert.equal(bus.intr, false);
  isa.setIrq(0, false);
  isa.setIrq(0, true);
  assert.equal(lapic.acknowledge(), 0x40);
  bus.write32(APIC + 0xb0, 0);
  // Level-triggered pin 11: remote IRR holds it until the EOI broadcast; still high -> again.
  rte(11, 0x8051);
  isa.setIrq(11, true);
  assert.equal(readRte(11) & 0x4000, 0x4000);
  assert.equal(lapic.acknowledge(), 0x51);
  assert.equal((bus.read32(APIC + 0x180 + (0x51 >> 5) * 0x10) >>> (0x51 & 31)) & 1, 1); // TMR
  assert.equal(bus.intr, false);
  bus.write32(APIC + 0xb0, 0);
  assert.equal(bus.intr, true); // line still high: delivered again
  assert.equal(lapic.acknowledge(), 0x51);
  isa.setIrq(11, false);
  bus.write32(APIC + 0xb0, 0);
  assert.equal(readRte(11) & 0x4000, 0);
  assert.equal(bus.intr, false);
  // Masked pins hold their level; unmasking delivers.
  rte(4, 0x18060);
  isa.setIrq(4, true);
  assert.equal(bus.intr, false);
  rte(4, 0x8060);
  assert.equal(lapic.acknowledge(), 0x60);
  // A destination that is not this CPU is not delivered.
  rte(5, 0x61, 0x05000000);
  isa.setIrq(5, true);
  assert.equal(lapic.irr[3] & 2, 0);
});
