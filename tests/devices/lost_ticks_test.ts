/**
 * The PC's lost_tick_policy=delay for IRQ0 (lib/devices/lost_ticks.ts), on the board as pc.ts wires
 * it, with a manual clock: the machine looks at its timers only after ten periods have passed (a
 * host stall), and the CPU, played here by INTA cycles and EOIs on the 8259, must still receive ten
 * ticks, from the PIT and from the HPET's timer 0 under legacy replacement. A masked IRQ0 keeps
 * nothing: unmasking it delivers only the one request its IRR latched, as the hardware does.
 */
import assert from "node:assert/strict";
import { VirtualClock } from "../../lib/devices/clock.ts";
import {
  HPET_CFG_ENABLE,
  HPET_CFG_LEGACY,
  HPET_TN_32BIT,
  HPET_TN_ENABLE,
  HPET_TN_PERIODIC,
  HPET_TN_SETVAL,
} from "../../lib/devices/hpet.ts";
import { PIT_FREQ } from "../../lib/devices/pit.ts";
import { Pc } from "../../lib/virt/machine/pc.ts";

const PIT_DIVISOR = 4773; // 250 Hz
const PIT_PERIOD_NS = PIT_DIVISOR * 1e9 / PIT_FREQ;
const HPET = 0xfed00000;
const HPET_PERIOD_TICKS = 400_000; // 4 ms at the HPET's 100 MHz
const PERIODS = 10;

function board() {
  const clock = new VirtualClock({ source: "manual" });
  const pc = new Pc({ ramSize: 16 << 20, serial: [], clock });
  const bus = pc.bus;
  // The 8259s at vectors 0x20/0x28, cascade on IRQ2, only IRQ0 unmasked.
  for (const [port, bytes] of [[0x20, [0x11, 0x20, 0x04, 0x01]], [0xa0, [0x11, 0x28, 0x02, 0x01]]] as const) {
    for (const b of bytes) bus.out(port + (b === 0x11 ? 0 : 1), 1, b);
  }
  bus.out(0x21, 1, 0xfe);
  bus.out(0xa1, 1, 0xff);
  return { pc, bus, clock };
}

/** What the CPU does with interrupts enabled and a handler that EOIs: the vectors it takes. */
function drain(pc: Pc): number[] {
  const taken: number[] = [];
  while (pc.pic.output && taken.length < 1000) {
    taken.push(pc.pic.acknowledge());
    pc.bus.out(0x20, 1, 0x20);
  }
  return taken;
}

function startPit(pc: Pc): void {
  pc.bus.out(0x43, 1, 0x34); // channel 0, LSB/MSB, mode 2
  pc.bus.out(0x40, 1, PIT_DIVISOR & 0xff);
  pc.bus.out(0x40, 1, PIT_DIVISOR >> 8);
}

Deno.test("lost ticks: ten PIT periods that fall due at once reach the CPU as ten interrupts", () => {
  const { pc, clock } = board();
  startPit(pc);
  // OUT rising as mode 2 is programmed is an edge of its own.
  assert.deepEqual(drain(pc), [0x20]);
  clock.advance(PERIODS * PIT_PERIOD_NS + 1000);
  clock.runDue();
  assert.deepEqual(drain(pc), new Array(PERIODS).fill(0x20));
  // Nothing is kept beyond what fell due: the next tick comes with the next period.
  clock.run(PIT_PERIOD_NS);
  assert.deepEqual(drain(pc), [0x20]);
});

Deno.test("lost ticks: the HPET's periodic timer 0 under legacy replacement keeps its late periods too", () => {
  const { pc, bus, clock } = board();
  // As Linux's hpet_set_periodic: a 32-bit periodic comparator, written twice (start, then period).
  bus.write32(HPET + 0x100, HPET_TN_ENABLE | HPET_TN_PERIODIC | HPET_TN_SETVAL | HPET_TN_32BIT);
  bus.write32(HPET + 0x108, HPET_PERIOD_TICKS);
  bus.write32(HPET + 0x108, HPET_PERIOD_TICKS);
  bus.write32(HPET + 0x10, HPET_CFG_ENABLE | HPET_CFG_LEGACY);
  clock.advance(PERIODS * HPET_PERIOD_TICKS * 10 + 1000);
  clock.runDue();
  assert.deepEqual(drain(pc), new Array(PERIODS).fill(0x20));
});

Deno.test("lost ticks: while the guest masks IRQ0 nothing is kept; unmasking gives the one latched request", () => {
  const { pc, bus, clock } = board();
  bus.out(0x21, 1, 0xff);
  startPit(pc);
  clock.advance(PERIODS * PIT_PERIOD_NS + 1000);
  clock.runDue();
  bus.out(0x21, 1, 0xfe);
  assert.deepEqual(drain(pc), [0x20]);
});
