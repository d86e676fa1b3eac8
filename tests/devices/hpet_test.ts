// The HPET through the Bus, on a manual virtual clock: registers, counter, comparators, interrupts.
import assert from "node:assert/strict";
import { Bus } from "../../lib/devices/bus.ts";
import { VirtualClock } from "../../lib/devices/clock.ts";
import { Hpet, HPET_BASE } from "../../lib/devices/hpet.ts";
import type { IrqSink } from "../../lib/devices/irq.ts";

const B = HPET_BASE;
const CFG = B + 0x10, ISR = B + 0x20, CNT = B + 0xf0;
const tcfg = (n: number) => B + 0x100 + 0x20 * n;
const tcmp = (n: number) => B + 0x108 + 0x20 * n;

/** Records every level change per GSI, and edges (rising transitions). */
class Recorder implements IrqSink {
  levels = new Map<number, boolean>();
  edges = new Map<number, number>();
  setIrq(irq: number, level: boolean): void {
    if (level && !this.levels.get(irq)) this.edges.set(irq, (this.edges.get(irq) ?? 0) + 1);
    this.levels.set(irq, level);
  }
}

function setup() {
  const bus = new Bus({ ramSize: 1 << 20 });
  const clock = new VirtualClock({ source: "manual" });
  const irq = new Recorder();
  const hpet = new Hpet(bus, clock, irq);
  return { bus, clock, irq, hpet };
}

Deno.test("hpet: capabilities, period and per-timer capabilities as QEMU's pc", () => {
  const { bus } = setup();
  assert.equal(bus.read32(B), 0x8086a201);
  assert.equal(bus.read32(B + 4), 10_000_000);
  for (let n = 0; n < 3; n++) {
    assert.equal(bus.read32(tcfg(n)), 0x30); // periodic-capable, 64-bit
    assert.equal(bus.read32(tcfg(n) + 4), 0x4); // IOAPIC input 2 only
    assert.equal(bus.read32(tcmp(n)), 0xffffffff);
    assert.equal(bus.read32(tcmp(n) + 4), 0xffffffff);
  }
  assert.equal(bus.read8(B + 2), 0x86);
  assert.equal(bus.read16(B + 2), 0x8086);
  // Read-only fields stay put.
  bus.write32(tcfg(0), 0xffffffff);
  assert.equal(bus.read32(tcfg(0)) & 0x30, 0x30);
  assert.equal(bus.read32(tcfg(0)) & (1 << 15), 0);
  bus.write32(B, 0);
  assert.equal(bus.read32(B), 0x8086a201);
});

Deno.test("hpet: main counter counts at 100 MHz only while enabled, writable while halted", () => {
  const { bus, clock } = setup();
  clock.run(1000);
  assert.equal(bus.read32(CNT), 0);
  bus.write32(CNT, 0xfffffff0);
  bus.write32(CNT + 4, 1);
  assert.equal(bus.read32(CNT), 0xfffffff0);
  bus.write32(CFG, 1);
  clock.run(200); // 20 ticks: the low half wraps into the high half
  assert.equal(bus.read32(CNT), 4);
  assert.equal(bus.read32(CNT + 4), 2);
  bus.write32(CNT, 0); // ignored while running
  assert.equal(bus.read32(CNT), 4);
  bus.write32(CFG, 0);
  clock.run(1000);
  assert.equal(bus.read32(CNT), 4);
  assert.equal(bus.read32(CFG), 0);
});

Deno.test("hpet: one-shot edge comparator fires once on its route", () => {
  const { bus, clock, irq } = setup();
  bus.write32(tcfg(2), (2 << 9) | (1 << 2)); // route 2, interrupt enabled, edge
  bus.write32(tcmp(2), 100);
  bus.write32(tcmp(2) + 4, 0);
  bus.write32(CFG, 1);
  clock.run(990);
  assert.equal(irq.edges.get(2) ?? 0, 0);
  clock.run(10);
  assert.equal(irq.edges.get(2), 1);
  assert.equal(bus.read32(ISR), 0); // edge interrupts leave no status
  clock.run(100_000);
  assert.equal(irq.edges.get(2), 1);
});

Deno.test("hpet: level interrupt holds the line and status until the status bit is written", () => {
  const { bus, clock, irq } = setup();
  bus.write32(tcfg(1), (2 << 9) | (1 << 2) | (1 << 1));
  bus.write32(tcmp(1), 50);
  bus.write32(tcmp(1) + 4, 0);
  bus.write32(CFG, 1);
  clock.run(500);
  assert.equal(bus.read32(ISR), 2);
  assert.equal(irq.levels.get(2), true);
  bus.write32(ISR, 1); // another timer's bit: no effect
  assert.equal(bus.read32(ISR), 2);
  bus.write32(ISR, 2);
  assert.equal(bus.read32(ISR), 0);
  assert.equal(irq.levels.get(2), false);
});

Deno.test("hpet: periodic timer with TN_VAL_SET reloads by its period; legacy routes to IRQ0/IRQ8", () => {
  const { bus, clock, irq, hpet } = setup();
  // Legacy replacement: timer 0 drives GSI 0 (IOAPIC pin 2 via the ISA fan-out), timer 1 GSI 8.
  // As Linux programs its periodic clockevent: 32-bit mode, TN_VAL_SET, one comparator write.
  bus.write32(tcfg(0), (1 << 2) | (1 << 3) | (1 << 6) | (1 << 8));
  bus.write32(tcmp(0), 1000); // comparator and period: 10 us
  bus.write32(CFG, 3);
  clock.run(10_000);
  assert.equal(irq.edges.get(0), 1);
  clock.run(30_000);
  assert.equal(irq.edges.get(0), 4);
  assert.equal(bus.read32(tcmp(0)), 5000); // the comparator moves on by the period
  // The PIT and RTC are silenced while legacy replacement is on, and get their lines back after.
  hpet.legacyGate.setIrq(8, true);
  assert.notEqual(irq.levels.get(8), true);
  bus.write32(CFG, 1);
  assert.equal(irq.levels.get(8), true);
  hpet.legacyGate.setIrq(0, true);
  assert.equal(irq.levels.get(0), true);
});

Deno.test("hpet: 32-bit mode truncates the comparator and a one-shot also fires at the counter wrap", () => {
  const { bus, clock, irq } = setup();
  bus.write32(tcfg(2), (2 << 9) | (1 << 2) | (1 << 8));
  bus.write32(tcmp(2) + 4, 5); // ignored in 32-bit mode
  assert.equal(bus.read32(tcmp(2) + 4), 0);
  bus.write32(CNT, 0xffffff00);
  bus.write32(tcmp(2), 0x10);
  bus.write32(CFG, 1);
  clock.run(0xff * 10);
  assert.equal(irq.edges.get(2), 1); // at the wrap
  clock.run(0x11 * 10);
  assert.equal(irq.edges.get(2), 2); // at the comparator
});

Deno.test("hpet: savevm state round-trips and re-arms comparators", () => {
  const a = setup();
  a.bus.write32(tcfg(2), (2 << 9) | (1 << 2) | (1 << 1));
  a.bus.write32(tcmp(2), 300);
  a.bus.write32(tcmp(2) + 4, 0);
  a.bus.write32(CFG, 1);
  a.clock.run(1000);
  const saved = JSON.parse(JSON.stringify(a.hpet.saveState()));
  const b = setup();
  b.clock.restore(a.clock.nowNs());
  b.hpet.loadState(saved);
  assert.equal(b.bus.read32(CNT), 100);
  assert.equal(b.bus.read32(tcfg(2)), a.bus.read32(tcfg(2)));
  b.clock.run(2000);
  assert.equal(b.bus.read32(ISR), 4);
  assert.equal(b.irq.levels.get(2), true);
});
