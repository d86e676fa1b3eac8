/** MC146818 RTC/CMOS and 16550A UART through their ports, on a manual virtual clock. */
import assert from "node:assert/strict";
import { Bus } from "../../lib/devices/bus.ts";
import { BufferBackend } from "../../lib/devices/chardev.ts";
import { VirtualClock } from "../../lib/devices/clock.ts";
import { IsaIrqRouter } from "../../lib/devices/irq.ts";
import { PicPair } from "../../lib/devices/pic.ts";
import { Rtc, RtcBaseError, rtcBaseMs } from "../../lib/devices/rtc.ts";
import { Uart } from "../../lib/devices/uart.ts";

function machine() {
  const bus = new Bus({ ramSize: 1 << 20 });
  const clock = new VirtualClock({ source: "manual" });
  bus.nowNs = clock.nowNs;
  const pic = new PicPair(bus);
  pic.install();
  return { bus, clock, pic, isa: new IsaIrqRouter(pic) };
}

const cmos = (bus: Bus, i: number) => (bus.out(0x70, 1, i), bus.in(0x71, 1));
const setCmos = (bus: Bus, i: number, v: number) => (bus.out(0x70, 1, i), bus.out(0x71, 1, v));

Deno.test("rtc: -rtc base=DATE in BCD and binary, 12-hour mode, century, time runs with the clock", () => {
  const { bus, clock, isa } = machine();
  const rtc = new Rtc(bus, clock, isa.line(8), { base: "2006-06-17T16:01:21" });
  assert.deepEqual([0, 2, 4, 6, 7, 8, 9, 0x32].map((i) => cmos(bus, i)), [
    0x21,
    0x01,
    0x16,
    0x07,
    0x17,
    0x06,
    0x06,
    0x20,
  ]);
  clock.run(40e9);
  assert.equal(cmos(bus, 0), 0x01);
  assert.equal(cmos(bus, 2), 0x02);
  setCmos(bus, 0x0b, 0x04); // binary, 12-hour
  assert.equal(cmos(bus, 4), 0x80 | 4); // 4 PM
  assert.equal(cmos(bus, 0), 1);
  // SET freezes the registers for writing; clearing it adopts the written time.
  setCmos(bus, 0x0b, 0x86);
  setCmos(bus, 4, 23);
  setCmos(bus, 2, 59);
  setCmos(bus, 0, 58);
  clock.run(5e9);
  assert.equal(cmos(bus, 0), 58);
  setCmos(bus, 0x0b, 0x06);
  clock.run(3e9);
  assert.equal(rtc.guestDate().toISOString(), "2006-06-18T00:00:01.000Z");
  assert.equal(cmos(bus, 7), 18);
  // NMI mask bit in the index port.
  bus.out(0x70, 1, 0x8f);
  assert.ok(rtc.nmiMasked);
  assert.equal(cmos(bus, 0x0d), 0x80);
});

Deno.test("rtc: update, periodic and alarm interrupts on IRQ8 through register C; UIP before the update", () => {
  const { bus, clock, pic, isa } = machine();
  new Rtc(bus, clock, isa.line(8), { base: "2020-01-01T00:00:00" });
  bus.out(0xa1, 1, 0);
  bus.out(0x21, 1, 0);
  setCmos(bus, 0x0b, 0x12); // UIE
  clock.run(0.5e9);
  assert.equal(bus.intr, false);
  clock.run(0.4999e9);
  assert.equal(cmos(bus, 0x0a) & 0x80, 0x80); // update in progress soon
  clock.run(0.0002e9);
  assert.equal(bus.intr, true);
  assert.equal(pic.acknowledge(), 0); // uninitialised PICs: slave base 0, IRQ8 is its input 0
  assert.equal(cmos(bus, 0x0c) & 0xb0, 0x90); // IRQF|UF (PF runs regardless of PIE)
  assert.equal(cmos(bus, 0x0c), 0x00);
  // Periodic at 1024 Hz (rate 6): 1024 PF interrupts per second.
  setCmos(bus, 0x0b, 0x42);
  let n = 0;
  for (let i = 0; i < 1000; i++) {
    clock.run(1e6);
    if (cmos(bus, 0x0c) & 0x40) n++;
  }
  assert.ok(n >= 1000 && n <= 1001, `${n}`);
  // Alarm at hh:mm:05 with hour/minute "don't care".
  setCmos(bus, 0x0b, 0x22);
  setCmos(bus, 1, 0x05);
  setCmos(bus, 3, 0xc0);
  setCmos(bus, 5, 0xc0);
  cmos(bus, 0x0c);
  let flagsAt = -1;
  for (let s = 0; s < 10 && flagsAt < 0; s++) {
    clock.run(1e9);
    const c = cmos(bus, 0x0c);
    if (c & 0x20) flagsAt = cmos(bus, 0);
  }
  assert.equal(flagsAt, 0x05);
});

Deno.test("rtc: NVRAM memory-size bytes as QEMU's pc machine fills them", () => {
  const { bus, clock, isa } = machine();
  const rtc = new Rtc(bus, clock, isa.line(8));
  rtc.setMemory(128 << 20);
  assert.equal(cmos(bus, 0x15) | (cmos(bus, 0x16) << 8), 640);
  assert.equal(cmos(bus, 0x17) | (cmos(bus, 0x18) << 8), 0xffff); // 127 MiB in KiB, capped at 65535
  assert.equal(cmos(bus, 0x30) | (cmos(bus, 0x31) << 8), 0xffff);
  rtc.setMemory(32 << 20);
  assert.equal(cmos(bus, 0x30) | (cmos(bus, 0x31) << 8), 31 * 1024);
  rtc.setMemory(128 << 20);
  assert.equal(cmos(bus, 0x34) | (cmos(bus, 0x35) << 8), (112 << 20) >> 16);
  assert.equal(cmos(bus, 0x5b) | cmos(bus, 0x5c) | cmos(bus, 0x5d), 0);
  setCmos(bus, 0x40, 0xaa);
  assert.equal(cmos(bus, 0x40), 0xaa);
});

/**
 * Non-zero CMOS bytes 0x00-0x7F as qemu-system-i386 7.2 showed them to a probe guest (-m 128, a
 * 16 MiB disk at ide0, -rtc base=2006-06-17T16:01:21, default boot order "cad"), without the floppy
 * bytes (0x10, and bit 0 of 0x14), which belong to QEMU's floppy controller that our pc lacks.
 */
const QEMU_CMOS: [number, number][] = [
  [0x0, 0x21],
  [0x2, 0x1],
  [0x4, 0x16],
  [0x6, 0x7],
  [0x7, 0x17],
  [0x8, 0x6],
  [0x9, 0x6],
  [0xa, 0x26],
  [0xb, 0x2],
  [0xd, 0x80],
  [0x12, 0xf0],
  [0x14, 0x6],
  [0x15, 0x80],
  [0x16, 0x2],
  [0x17, 0xff],
  [0x18, 0xff],
  [0x19, 0x2f],
  [0x1b, 0x20],
  [0x1d, 0x10],
  [0x1e, 0xff],
  [0x1f, 0xff],
  [0x20, 0xc8],
  [0x21, 0x20],
  [0x23, 0x3f],
  [0x30, 0xff],
  [0x31, 0xff],
  [0x32, 0x20],
  [0x35, 0x7],
  [0x37, 0x20],
  [0x38, 0x30],
  [0x3d, 0x12],
];

Deno.test("rtc: the whole CMOS matches QEMU's pc for the same configuration", () => {
  const { bus, clock, isa } = machine();
  const rtc = new Rtc(bus, clock, isa.line(8), { base: "2006-06-17T16:01:21" });
  rtc.setMemory(128 << 20);
  rtc.setHardDisk(0, { cylinders: 32, heads: 16, sectors: 63 });
  rtc.setBootOrder("cad");
  const got: [number, number][] = [];
  for (let i = 0; i < 128; i++) {
    const v = cmos(bus, i);
    if (v) got.push([i, v]);
  }
  assert.deepEqual(got, QEMU_CMOS);
});

Deno.test("uart: divisor latch, transmit to the backend, THRE interrupt and IIR priorities", () => {
  const { bus, clock, isa } = machine();
  const out = new BufferBackend();
  const uart = new Uart(bus, clock, 0x3f8, isa.line(4), out);
  bus.out(0x3fb, 1, 0x80);
  bus.out(0x3f8, 1, 0x01);
  bus.out(0x3f9, 1, 0x00);
  bus.out(0x3fb, 1, 0x03);
  assert.equal(uart.divider, 1);
  for (const c of "hi\n") bus.out(0x3f8, 1, c.charCodeAt(0));
  assert.equal(out.text(), "hi\n");
  assert.equal(bus.in(0x3fd, 1) & 0x60, 0x60);
  assert.equal(bus.in(0x3fa, 1), 0x01);
  bus.out(0x3f9, 1, 0x02); // THRI: THR is empty, so the interrupt is pending at once
  assert.equal(bus.in(0x3fa, 1), 0x02);
  assert.equal(bus.in(0x3fa, 1), 0x01); // reading IIR cleared it
  bus.out(0x3f8, 1, 0x41);
  assert.equal(bus.in(0x3fa, 1), 0x02);
  // Received data outranks THRE; an overrun (line status) outranks both.
  bus.out(0x3f9, 1, 0x07);
  out.input("x");
  assert.equal(bus.in(0x3fa, 1), 0x04);
  out.input("yz"); // no FIFO: one byte fits, the rest waits in the backend
  assert.equal(uart.canReceive(), 0);
  uart.receive(new Uint8Array([0x7a]));
  assert.equal(bus.in(0x3fa, 1), 0x06);
  assert.equal(bus.in(0x3fd, 1) & 0x03, 0x03);
  assert.equal(bus.in(0x3fa, 1), 0x04);
  assert.equal(bus.in(0x3f8, 1), 0x7a); // without a FIFO the newer character overwrote "x"
});

Deno.test("uart: FIFO trigger level, character timeout, loopback and modem status", () => {
  const { bus, clock, isa } = machine();
  const io = new BufferBackend();
  new Uart(bus, clock, 0x2f8, isa.line(3), io);
  bus.out(0x2fa, 1, 0x87); // FIFO on, clear, trigger 8
  bus.out(0x2f9, 1, 0x01);
  assert.equal(bus.in(0x2fa, 1), 0xc1);
  io.input("abcdefghijklmnopqrst"); // 16 fit, 4 wait
  assert.equal(bus.in(0x2fa, 1), 0xc4);
  let got = "";
  while (bus.in(0x2fd, 1) & 1) got += String.fromCharCode(bus.in(0x2f8, 1));
  assert.equal(got, "abcdefghijklmnopqrst"); // drained FIFO pulled the rest from the backend
  io.input("ab");
  assert.equal(bus.in(0x2fa, 1), 0xc1); // below the trigger level
  clock.run(5e6); // 4 character times at 9600 baud is ~4.2 ms
  assert.equal(bus.in(0x2fa, 1), 0xcc);
  bus.in(0x2f8, 1);
  bus.in(0x2f8, 1);
  assert.equal(bus.in(0x2fa, 1), 0xc1);
  // Loopback: what is sent comes back; MCR outputs appear as MSR inputs.
  bus.out(0x2fc, 1, 0x10 | 0x03);
  bus.out(0x2f8, 1, 0x55);
  assert.equal(bus.in(0x2f8, 1), 0x55);
  assert.equal(bus.in(0x2fe, 1) & 0xf0, 0x30);
  bus.out(0x2fc, 1, 0x10 | 0x0c);
  assert.equal(bus.in(0x2fe, 1) & 0xf0, 0xc0);
  assert.equal(io.text(), "");
  bus.out(0x2ff, 1, 0x5a);
  assert.equal(bus.in(0x2ff, 1), 0x5a);
});

Deno.test("uart: Linux's 8250 autoconfig finds a 16550A (IER probe, loopback MSR test, FIFO bits, no EFR, not a 16750)", () => {
  const { bus, clock, isa } = machine();
  new Uart(bus, clock, 0x3f8, isa.line(4), new BufferBackend());
  const io = (r: number, v?: number): number => {
    if (v === undefined) return bus.in(0x3f8 + r, 1);
    bus.out(0x3f8 + r, 1, v);
    return 0;
  };
  // IER: writes of 0 and 0x0F read back (the port exists).
  io(1, 0);
  assert.equal(io(1) & 0x0f, 0);
  io(1, 0x0f);
  assert.equal(io(1) & 0x0f, 0x0f);
  io(1, 0);
  // Loopback with OUT2|RTS: MSR shows DCD|CTS.
  io(4, 0x10 | 0x0a);
  assert.equal(io(6) & 0xf0, 0x90);
  io(4, 0);
  // FIFO enable: IIR bits 7:6 = 3 means 16550A.
  io(2, 0x01);
  assert.equal(io(2) >> 6, 3);
  // LCR 0xBF: EFR (register 2) does not read 0, so no 16650-family EFR.
  io(3, 0xbf);
  assert.notEqual(io(2), 0);
  io(3, 0);
  // 64-byte FIFO request: IIR bits 7:5 do not read 7, so not a 16750.
  io(2, 0x21);
  assert.notEqual(io(2) >> 5, 7);
  // THRE interrupt test of serial8250_do_startup: enabling THRI with THR empty interrupts at once.
  io(1, 0x02);
  assert.equal(io(2) & 0x0f, 0x02);
});

Deno.test("rtc: -rtc base values: utc, localtime, dates normalised like mktime, and QEMU's error for junk", () => {
  const host = Date.UTC(2024, 0, 2, 3, 4, 5);
  assert.equal(rtcBaseMs("utc", host), host);
  assert.equal(rtcBaseMs(undefined, host), host);
  assert.equal(rtcBaseMs("localtime", host), host - new Date(host).getTimezoneOffset() * 60_000);
  assert.equal(rtcBaseMs("2006-06-17", host), Date.UTC(2006, 5, 17));
  assert.equal(rtcBaseMs("2006-13-01", host), Date.UTC(2007, 0, 1));
  assert.throws(
    () => rtcBaseMs("bogus", host),
    (e: unknown) => e instanceof RtcBaseError && e.message === "invalid datetime format",
  );
});
