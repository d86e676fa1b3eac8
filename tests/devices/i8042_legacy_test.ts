/** The i8042 controller, port 0x92, POST, debugcon and isa-debug-exit through the Bus. */
import assert from "node:assert/strict";
import { Bus } from "../../lib/devices/bus.ts";
import { BufferBackend } from "../../lib/devices/chardev.ts";
import { IrqLine, type IrqSink } from "../../lib/devices/irq.ts";
import { I8042 } from "../../lib/devices/i8042.ts";
import { DebugCon, IsaDebugExit, Port92, PostPort } from "../../lib/devices/legacy_ports.ts";
import { keyBytes, keyComboBytes, UnknownKeyError } from "../../lib/devices/keymap.ts";

function setup() {
  const bus = new Bus({ ramSize: 2 << 20 });
  const levels = new Map<number, boolean>();
  const sink: IrqSink = { setIrq: (irq, level) => void levels.set(irq, level) };
  const kbc = new I8042(bus, new IrqLine(sink, 1), new IrqLine(sink, 12));
  return { bus, kbc, levels };
}

function waitRead(bus: Bus): number {
  assert.equal(bus.in(0x64, 1) & 1, 1, "output buffer full");
  return bus.in(0x60, 1);
}

Deno.test("i8042: self-test, interface tests, command byte and the SYS flag", () => {
  const { bus } = setup();
  assert.equal(bus.in(0x64, 1) & 0x04, 0);
  bus.out(0x64, 1, 0xaa);
  assert.equal(waitRead(bus), 0x55);
  assert.equal(bus.in(0x64, 1) & 0x04, 0x04);
  bus.out(0x64, 1, 0xab);
  assert.equal(waitRead(bus), 0x00);
  bus.out(0x64, 1, 0xa9);
  assert.equal(waitRead(bus), 0x00);
  bus.out(0x64, 1, 0x60);
  bus.out(0x60, 1, 0x65);
  bus.out(0x64, 1, 0x20);
  assert.equal(waitRead(bus), 0x65);
  assert.equal(bus.in(0x64, 1) & 1, 0);
});

Deno.test("i8042: A20 through the output port and 0xDD/0xDF; reset by the 0xFE pulse", () => {
  const { bus } = setup();
  bus.write8(0x100000, 0x11);
  bus.write8(0x000000, 0x22);
  bus.out(0x64, 1, 0xd1);
  bus.out(0x60, 1, 0xcd); // A20 off, reset line high
  assert.equal(bus.read8(0x100000), 0x22);
  bus.out(0x64, 1, 0xd0);
  assert.equal(waitRead(bus) & 0x03, 0x01);
  bus.out(0x64, 1, 0xdf);
  assert.equal(bus.read8(0x100000), 0x11);
  assert.equal(bus.resetRequested, false);
  bus.out(0x64, 1, 0xfe);
  assert.equal(bus.resetRequested, true);
});

Deno.test("i8042: keyboard and mouse answers, and IRQ1/IRQ12 follow the buffer's owner", () => {
  const { bus, levels } = setup();
  bus.out(0x60, 1, 0xff);
  assert.equal(levels.get(1), true);
  assert.equal(waitRead(bus), 0xfa);
  assert.equal(waitRead(bus), 0xaa);
  assert.equal(levels.get(1), false);
  bus.out(0x60, 1, 0xf2);
  assert.deepEqual([waitRead(bus), waitRead(bus), waitRead(bus)], [0xfa, 0xab, 0x83]);
  bus.out(0x60, 1, 0xed);
  bus.out(0x60, 1, 0x07);
  assert.deepEqual([waitRead(bus), waitRead(bus)], [0xfa, 0xfa]);
  bus.out(0x64, 1, 0xd4);
  bus.out(0x60, 1, 0xff);
  assert.equal(bus.in(0x64, 1) & 0x21, 0x21);
  assert.equal(levels.get(12), true);
  assert.deepEqual([waitRead(bus), waitRead(bus), waitRead(bus)], [0xfa, 0xaa, 0x00]);
  bus.out(0x64, 1, 0xd4);
  bus.out(0x60, 1, 0xf2);
  assert.deepEqual([waitRead(bus), waitRead(bus)], [0xfa, 0x00]);
  assert.equal(levels.get(12), false);
  bus.out(0x64, 1, 0xd2); // write keyboard output buffer (loop back a byte)
  bus.out(0x60, 1, 0x1c);
  assert.equal(waitRead(bus), 0x1c);
});

Deno.test("port 0x92, POST, debugcon and isa-debug-exit", () => {
  const bus = new Bus({ ramSize: 2 << 20 });
  new Port92(bus);
  const post = new PostPort(bus);
  const con = new BufferBackend();
  new DebugCon(bus, con);
  new IsaDebugExit(bus, 0xf4, 4);
  bus.out(0x92, 1, 0x00);
  assert.equal(bus.a20Mask, 0xffefffff);
  bus.out(0x92, 1, 0x02);
  assert.equal(bus.a20Mask, 0xffffffff);
  assert.equal(bus.in(0x92, 1), 0x02);
  bus.out(0x92, 1, 0x03);
  assert.ok(bus.resetRequested);
  bus.out(0x80, 1, 0x42);
  assert.equal(post.lastCode, 0x42);
  for (const c of "ok") bus.out(0x402, 1, c.charCodeAt(0));
  assert.equal(con.text(), "ok");
  assert.equal(bus.in(0x402, 1), 0xe9);
  bus.out(0xf4, 1, 0x10);
  assert.equal(bus.shutdownStatus, 0x21);
});

Deno.test("i8042: sendkey combos arrive as translated set-1 scancodes with E0 prefixes", () => {
  const { bus, kbc, levels } = setup();
  kbc.keyboardInput(keyComboBytes("ctrl-alt-delete"));
  assert.equal(levels.get(1), true);
  const got: number[] = [];
  while (bus.in(0x64, 1) & 1) got.push(bus.in(0x60, 1));
  assert.deepEqual(got, [0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]);
  assert.deepEqual(keyBytes("a", true), [0x1e]);
  assert.throws(() => keyBytes("nosuchkey", true), UnknownKeyError);
});
