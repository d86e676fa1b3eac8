/** The virtual clock, the 8259A pair and the 8254 PIT, driven through their ports on a real Bus. */
import assert from "node:assert/strict";
import { Bus } from "../../lib/devices/bus.ts";
import { VirtualClock } from "../../lib/devices/clock.ts";
import { IsaIrqRouter } from "../../lib/devices/irq.ts";
import { PicPair } from "../../lib/devices/pic.ts";
import { Pit } from "../../lib/devices/pit.ts";
import { PortB } from "../../lib/devices/port_b.ts";

function machine() {
  const bus = new Bus({ ramSize: 1 << 20 });
  const clock = new VirtualClock({ source: "manual" });
  bus.nowNs = clock.nowNs;
  const pic = new PicPair(bus);
  pic.install();
  const isa = new IsaIrqRouter(pic);
  return { bus, clock, pic, isa };
}

/** The BIOS's PIC setup: vectors 0x08 and 0x70, cascade on IRQ2, 8086 mode. */
function initPics(bus: Bus, masterBase = 0x08, slaveBase = 0x70): void {
  bus.out(0x20, 1, 0x11);
  bus.out(0x21, 1, masterBase);
  bus.out(0x21, 1, 0x04);
  bus.out(0x21, 1, 0x01);
  bus.out(0xa0, 1, 0x11);
  bus.out(0xa1, 1, slaveBase);
  bus.out(0xa1, 1, 0x02);
  bus.out(0xa1, 1, 0x01);
}

Deno.test("clock: timers fire in deadline order at their deadlines; a host clock never goes back", () => {
  const clock = new VirtualClock({ source: "manual" });
  const fired: string[] = [];
  const a = clock.timer((t) => fired.push(`a@${t}`));
  const b = clock.timer((t) => fired.push(`b@${t}`));
  a.mod(300);
  b.mod(100);
  assert.equal(clock.nextDeadline(), 100);
  clock.run(250);
  assert.deepEqual(fired, ["b@100"]);
  assert.equal(clock.nowNs(), 250);
  assert.ok(clock.warpToNextDeadline());
  assert.deepEqual(fired, ["b@100", "a@300"]);
  assert.equal(clock.warpToNextDeadline(), false);
  const host = new VirtualClock();
  const t0 = host.nowNs();
  host.pause();
  const p = host.nowNs();
  host.resume();
  assert.ok(p >= t0 && host.nowNs() >= p);
  host.advance(5e9);
  assert.ok(host.nowNs() >= p + 5e9);
});

Deno.test("pic: masking, fixed priority, EOI and the INTR line", () => {
  const { bus, pic, isa } = machine();
  initPics(bus);
  bus.out(0x21, 1, 0xfd); // only IRQ1 unmasked
  isa.setIrq(3, true);
  assert.equal(bus.intr, false);
  assert.equal(bus.in(0x20, 1), 0x08); // IRR shows IRQ3 even while masked
  bus.out(0x21, 1, 0x00);
  assert.equal(bus.intr, true);
  isa.setIrq(1, true);
  assert.equal(pic.acknowledge(), 0x09); // IRQ1 beats IRQ3
  bus.out(0x20, 1, 0x0b); // OCW3: read ISR
  assert.equal(bus.in(0x20, 1), 0x02);
  assert.equal(bus.intr, false); // IRQ3 is lower than the IRQ1 in service
  bus.out(0x20, 1, 0x20); // non-specific EOI
  assert.equal(bus.intr, true);
  assert.equal(pic.acknowledge(), 0x0b);
  bus.out(0x20, 1, 0x63); // specific EOI IRQ3
  assert.equal(bus.in(0x20, 1), 0x00);
  assert.equal(bus.intr, false);
});

Deno.test("pic: cascade through IRQ2, slave EOI, and spurious IRQ7/15", () => {
  const { bus, pic, isa } = machine();
  initPics(bus);
  isa.setIrq(14, true);
  assert.equal(bus.intr, true);
  assert.equal(pic.acknowledge(), 0x76);
  bus.out(0xa0, 1, 0x0b);
  bus.out(0x20, 1, 0x0b);
  assert.equal(bus.in(0xa0, 1), 0x40);
  assert.equal(bus.in(0x20, 1), 0x04);
  bus.out(0xa0, 1, 0x20);
  bus.out(0x20, 1, 0x20);
  assert.equal(bus.in(0xa0, 1) | bus.in(0x20, 1), 0);
  // Nothing pending at INTA: the master answers with IRQ7's vector and sets no ISR bit.
  assert.equal(pic.acknowledge(), 0x0f);
  assert.equal(bus.in(0x20, 1), 0);
});

Deno.test("pic: edge vs level (ELCR), rotation, auto-EOI, special mask and poll", () => {
  const { bus, pic, isa } = machine();
  initPics(bus);
  // Edge: a held line interrupts once.
  isa.setIrq(5, true);
  assert.equal(pic.acknowledge(), 0x0d);
  bus.out(0x20, 1, 0x20);
  assert.equal(bus.intr, false);
  isa.setIrq(5, false);
  // Level via ELCR: the held line interrupts again after EOI; IRQ0-2 bits are not settable.
  bus.out(0x4d1, 1, 0xff);
  assert.equal(bus.in(0x4d1, 1), 0xde);
  bus.out(0x4d0, 1, 0xff);
  assert.equal(bus.in(0x4d0, 1), 0xf8);
  isa.setIrq(5, true);
  assert.equal(pic.acknowledge(), 0x0d);
  bus.out(0x20, 1, 0x20);
  assert.equal(bus.intr, true);
  assert.equal(pic.acknowledge(), 0x0d);
  bus.out(0x20, 1, 0x20);
  isa.setIrq(5, false);
  assert.equal(bus.intr, false);
  bus.out(0x4d0, 1, 0);
  // Rotate on non-specific EOI: the serviced IRQ becomes lowest.
  isa.setIrq(3, true);
  isa.setIrq(4, true);
  assert.equal(pic.acknowledge(), 0x0b);
  bus.out(0x20, 1, 0xa0);
  isa.setIrq(3, false);
  isa.setIrq(3, true);
  assert.equal(pic.acknowledge(), 0x0c); // IRQ4 now outranks IRQ3
  bus.out(0x20, 1, 0x20);
  assert.equal(pic.acknowledge(), 0x0b);
  bus.out(0x20, 1, 0x20);
  bus.out(0x20, 1, 0xc7); // set priority: IRQ7 lowest, back to fixed order
  // Poll mode: read gives 0x80|irq and acknowledges.
  isa.setIrq(6, true);
  bus.out(0x20, 1, 0x0c);
  assert.equal(bus.in(0x20, 1), 0x86);
  bus.out(0x20, 1, 0x0b);
  assert.equal(bus.in(0x20, 1), 0x40);
  // Special mask: masking the in-service IRQ6 lets the lower IRQ7 through.
  isa.setIrq(7, true);
  assert.equal(bus.intr, false);
  bus.out(0x20, 1, 0x68);
  bus.out(0x21, 1, 0x40);
  assert.equal(bus.intr, true);
  assert.equal(pic.acknowledge(), 0x0f);
  // Auto-EOI: no ISR bit is left behind.
  bus.out(0x20, 1, 0x11);
  bus.out(0x21, 1, 0x20);
  bus.out(0x21, 1, 0x04);
  bus.out(0x21, 1, 0x03);
  isa.setIrq(1, true);
  assert.equal(pic.acknowledge(), 0x21);
  bus.out(0x20, 1, 0x0b);
  assert.equal(bus.in(0x20, 1), 0);
});

const NS_PER_TICK = 1e9 / 1193182;

Deno.test("pit: mode 2 rate generator drives IRQ0 at the programmed rate over virtual time", () => {
  const { bus, clock, pic, isa } = machine();
  initPics(bus);
  new Pit(bus, clock, isa.line(0));
  bus.out(0x43, 1, 0x34); // ch0, lobyte/hibyte, mode 2
  bus.out(0x40, 1, 0x9c);
  bus.out(0x40, 1, 0x2e); // 11932: ~100 Hz
  let irqs = 0;
  for (let i = 0; i < 1000; i++) {
    clock.run(1e6);
    if (bus.intr) {
      pic.acknowledge();
      bus.out(0x20, 1, 0x20);
      irqs++;
    }
  }
  assert.equal(irqs, 100);
  // The count runs down: latch and read twice.
  bus.out(0x43, 1, 0x00);
  const lo = bus.in(0x40, 1), hi = bus.in(0x40, 1);
  const expected = 11932 - Math.floor(clock.nowNs() / NS_PER_TICK) % 11932;
  assert.ok(Math.abs(((hi << 8) | lo) - expected) <= 1);
});

Deno.test("pit: mode 0 one-shot, read-back status, BCD and port B gate/out", () => {
  const { bus, clock, isa } = machine();
  const pit = new Pit(bus, clock, isa.line(0));
  new PortB(bus, pit);
  bus.out(0x43, 1, 0x30); // ch0 mode 0 binary
  bus.out(0x43, 1, 0xe2); // read-back status of ch0
  assert.equal(bus.in(0x40, 1), 0x70); // OUT low, null count, RW=3, mode 0
  bus.out(0x40, 1, 100);
  bus.out(0x40, 1, 0);
  assert.equal(pit.channels[0].out(clock.nowNs()), false);
  clock.run(99 * NS_PER_TICK);
  bus.out(0x43, 1, 0xe2);
  assert.equal(bus.in(0x40, 1) & 0xc0, 0x00);
  clock.run(2 * NS_PER_TICK);
  bus.out(0x43, 1, 0xe2);
  assert.equal(bus.in(0x40, 1), 0xb0); // OUT high now
  // BCD: 1000 decimal counts down in decimal.
  bus.out(0x43, 1, 0x71); // ch1, word, mode 0, BCD
  bus.out(0x41, 1, 0x00);
  bus.out(0x41, 1, 0x10);
  clock.run(10.2 * NS_PER_TICK);
  bus.out(0x43, 1, 0x40);
  assert.equal(bus.in(0x41, 1) | (bus.in(0x41, 1) << 8), 0x0990);
  // Channel 2 mode 1 waits for the gate; port B bit 5 shows OUT.
  bus.out(0x43, 1, 0xb2); // ch2 word mode 1
  bus.out(0x42, 1, 50);
  bus.out(0x42, 1, 0);
  clock.run(100 * NS_PER_TICK);
  assert.equal(bus.in(0x61, 1) & 0x21, 0x20); // gate low, OUT high (not triggered)
  bus.out(0x61, 1, 1);
  assert.equal(bus.in(0x61, 1) & 0x21, 0x01); // triggered: OUT low
  clock.run(51 * NS_PER_TICK);
  assert.equal(bus.in(0x61, 1) & 0x21, 0x21);
  // The refresh bit toggles every 15 us.
  const r0 = bus.in(0x61, 1) & 0x10;
  clock.run(15085);
  assert.notEqual(bus.in(0x61, 1) & 0x10, r0);
});

Deno.test("pit: a low GATE suspends mode 0 counting and holds mode 2's OUT high; the rising edge reloads mode 2", () => {
  const { bus, clock, isa } = machine();
  const pit = new Pit(bus, clock, isa.line(0));
  new PortB(bus, pit);
  const count = () => (bus.out(0x43, 1, 0x80), bus.in(0x42, 1) | (bus.in(0x42, 1) << 8));
  bus.out(0x61, 1, 0x01); // gate high
  bus.out(0x43, 1, 0xb0); // ch2 mode 0
  bus.out(0x42, 1, 0x00);
  bus.out(0x42, 1, 0x10); // 4096
  clock.run(1000 * NS_PER_TICK);
  const c1 = count();
  assert.ok(Math.abs(c1 - 3096) <= 1, `${c1}`);
  bus.out(0x61, 1, 0x00); // gate low: frozen
  clock.run(2000 * NS_PER_TICK);
  assert.equal(count(), c1);
  bus.out(0x61, 1, 0x01); // resumes from where it stopped
  clock.run(3096 * NS_PER_TICK + 10);
  assert.equal(bus.in(0x61, 1) & 0x20, 0x20); // reached terminal count
  // Mode 2 with GATE low: OUT high, count held; the rising edge reloads.
  bus.out(0x43, 1, 0xb4);
  bus.out(0x42, 1, 100);
  bus.out(0x42, 1, 0);
  bus.out(0x61, 1, 0x00);
  clock.run(99.5 * NS_PER_TICK);
  assert.equal(bus.in(0x61, 1) & 0x20, 0x20);
  bus.out(0x61, 1, 0x01);
  const c2 = count();
  assert.ok(c2 >= 99 && c2 <= 100, `${c2}`);
});
