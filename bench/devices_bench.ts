/**
 * Device-level speed, without a CPU: how fast the IDE bus master moves a disk image into guest
 * memory (the path of issue 5's 64 MiB DMA benchmark, beside a plain host read of the same file),
 * and the cost of the interrupt path (PIT IRQ0 -> PIC -> acknowledge -> EOI) and of UART output.
 */
import { Bus } from "../lib/devices/bus.ts";
import { NullBackend } from "../lib/devices/chardev.ts";
import { VirtualClock } from "../lib/devices/clock.ts";
import { IrqLine, IsaIrqRouter } from "../lib/devices/irq.ts";
import { PicPair } from "../lib/devices/pic.ts";
import { Pit } from "../lib/devices/pit.ts";
import { Uart } from "../lib/devices/uart.ts";
import { PciHost } from "../lib/devices/pci.ts";
import { PiixIde } from "../lib/devices/piix_ide.ts";
import { IdeDrive } from "../lib/devices/ide.ts";
import { openImage } from "../lib/image/formats.ts";

const MIB = 1 << 20;
const DISK = 64 * MIB;

/** The disk as qemu-system opens it: lib/image's raw driver, read-only. */
const rawDriver = (path: string) => openImage(path, { format: "raw", readOnly: true });

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

const path = Deno.makeTempFileSync({ suffix: ".raw" });
{
  const f = Deno.openSync(path, { write: true });
  const chunk = new Uint8Array(MIB).map((_, i) => i & 0xff);
  for (let i = 0; i < DISK / MIB; i++) f.writeSync(chunk);
  f.close();
}

// Plain host read of the file in the same 128 KiB pieces.
const hostMs = time(() => {
  const d = rawDriver(path);
  const buf = new Uint8Array(128 * 1024);
  for (let o = 0; o < DISK; o += buf.length) d.read(o, buf);
  d.close();
});

// READ DMA (LBA28, 256 sectors per command) into a 2-PRD table, as a guest driver would.
const bus = new Bus({ ramSize: 32 * MIB });
const host = new PciHost(bus);
const ide = new PiixIde(bus, { irq14: new IrqLine(undefined, 14), irq15: new IrqLine(undefined, 15) });
host.add(ide, 1, 1);
ide.programLikeSeaBios();
bus.out(0xcf8, 4, 0x80000904);
bus.out(0xcfc, 2, 0x0105);
const driver = rawDriver(path);
ide.channels[0].attach(0, new IdeDrive({ driver }));
bus.write32(0x1000, 0x100000);
bus.write32(0x1004, 0x10000);
bus.write32(0x1008, 0x110000);
bus.write32(0x100c, 0x80000000 | 0x10000);
bus.out(0xc044, 4, 0x1000);
const dmaMs = time(() => {
  for (let lba = 0; lba < DISK / 512; lba += 256) {
    bus.out(0x1f6, 1, 0xe0 | (lba >>> 24));
    bus.out(0x1f2, 1, 0);
    bus.out(0x1f3, 1, lba & 0xff);
    bus.out(0x1f4, 1, lba >> 8 & 0xff);
    bus.out(0x1f5, 1, lba >> 16 & 0xff);
    bus.out(0x1f7, 1, 0xc8);
    bus.out(0xc040, 1, 0x09);
    bus.in(0xc042, 1);
    bus.out(0xc042, 1, 0x04);
    bus.out(0xc040, 1, 0x00);
    bus.in(0x1f7, 1);
  }
});
driver.close();
Deno.removeSync(path);

// IRQ0 at 1 kHz for 100 virtual seconds: timer callback, PIC, INTA, EOI.
const irqBus = new Bus({ ramSize: MIB });
const clock = new VirtualClock({ source: "manual" });
irqBus.nowNs = clock.nowNs;
const pic = new PicPair(irqBus);
pic.install();
const isa = new IsaIrqRouter(pic);
new Pit(irqBus, clock, isa.line(0));
for (const [p, v] of [[0x20, 0x11], [0x21, 0x08], [0x21, 4], [0x21, 1]]) irqBus.out(p, 1, v);
irqBus.out(0x43, 1, 0x34);
irqBus.out(0x40, 1, 1193 & 0xff);
irqBus.out(0x40, 1, 1193 >> 8);
let irqs = 0;
const irqMs = time(() => {
  for (let i = 0; i < 100_000; i++) {
    clock.run(1e6);
    if (irqBus.intr) {
      pic.acknowledge();
      irqBus.out(0x20, 1, 0x20);
      irqs++;
    }
  }
});

// UART: 4 MiB through THR to a null backend, polling LSR like a guest.
const uartBus = new Bus({ ramSize: MIB });
new Uart(uartBus, new VirtualClock({ source: "manual" }), 0x3f8, isa.line(4), new NullBackend());
const uartMs = time(() => {
  for (let i = 0; i < 4 * MIB; i++) {
    while (!(uartBus.in(0x3fd, 1) & 0x20));
    uartBus.out(0x3f8, 1, i & 0xff);
  }
});

const rows = [
  [
    "IDE bus-master READ DMA, 64 MiB raw",
    `${(DISK / MIB / (dmaMs / 1000)).toFixed(0)} MiB/s`,
    `${dmaMs.toFixed(0)} ms`,
  ],
  [
    "host read of the same file (reference)",
    `${(DISK / MIB / (hostMs / 1000)).toFixed(0)} MiB/s`,
    `${hostMs.toFixed(0)} ms`,
  ],
  [
    "PIT IRQ0 -> PIC -> INTA -> EOI",
    `${(irqs / (irqMs / 1000) / 1e6).toFixed(2)} M irq/s`,
    `${irqMs.toFixed(0)} ms`,
  ],
  [
    "UART THR output (LSR poll + out)",
    `${(4 / (uartMs / 1000)).toFixed(1)} MiB/s`,
    `${uartMs.toFixed(0)} ms`,
  ],
];
console.log("| Device path | Rate | Time |\n| --- | --- | --- |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
