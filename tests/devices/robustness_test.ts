/**
 * Whatever a guest writes, the devices answer without throwing: random port and MMIO traffic over
 * every device of a PC, with time passing, must never raise a host exception or produce values
 * outside the access width.
 */
import assert from "node:assert/strict";
import { type AccessSize, Bus } from "../../lib/devices/bus.ts";
import { BufferBackend } from "../../lib/devices/chardev.ts";
import { VirtualClock } from "../../lib/devices/clock.ts";
import { IsaIrqRouter } from "../../lib/devices/irq.ts";
import { PicPair } from "../../lib/devices/pic.ts";
import { Pit } from "../../lib/devices/pit.ts";
import { PortB } from "../../lib/devices/port_b.ts";
import { Rtc } from "../../lib/devices/rtc.ts";
import { Uart } from "../../lib/devices/uart.ts";
import { I8042 } from "../../lib/devices/i8042.ts";
import { DebugCon, IsaDebugExit, Port92, PostPort } from "../../lib/devices/legacy_ports.ts";
import { FwCfg } from "../../lib/devices/fw_cfg.ts";
import { PciHost } from "../../lib/devices/pci.ts";
import { I440fx } from "../../lib/devices/i440fx.ts";
import { Piix3 } from "../../lib/devices/piix3.ts";
import { AcpiPm } from "../../lib/devices/acpi_pm.ts";
import { PiixIde } from "../../lib/devices/piix_ide.ts";
import { IdeDrive } from "../../lib/devices/ide.ts";
import { LocalApic } from "../../lib/devices/apic.ts";
import { IoApic } from "../../lib/devices/ioapic.ts";
import type { BlockDriver } from "../../lib/image/block_driver.ts";

/** An in-memory disk: the robustness test is about the device, not the image layer. */
function memoryDisk(size: number): BlockDriver {
  const data = new Uint8Array(size);
  return {
    format: "raw",
    filename: "mem",
    size,
    readOnly: false,
    read: (o, b) => b.set(data.subarray(o, o + b.length)),
    write: (o, b) => data.set(b, o),
    writeZeroes: (o, l) => data.fill(0, o, o + l),
    discard: (o, l) => data.fill(0, o, o + l),
    flush: () => {},
    blockStatus: (offset, length) => ({ offset, length, present: true, zero: false, data: true, depth: 0 }),
    info: () => ({
      format: "raw",
      filename: "mem",
      virtualSize: size,
      actualSize: size,
      dirty: false,
      snapshots: [],
    }),
    check: () => ({
      corruptions: 0,
      leaks: 0,
      checkErrors: 0,
      corruptionsFixed: 0,
      leaksFixed: 0,
      messages: [],
    }),
    close: () => {},
  };
}

function pc() {
  const bus = new Bus({ ramSize: 4 << 20 });
  const clock = new VirtualClock({ source: "manual" });
  bus.nowNs = clock.nowNs;
  const pic = new PicPair(bus);
  const lapic = new LocalApic(bus, clock);
  lapic.install(pic);
  const ioapic = new IoApic(bus, lapic);
  const isa = new IsaIrqRouter(pic, ioapic);
  const pit = new Pit(bus, clock, isa.line(0));
  new PortB(bus, pit);
  new Rtc(bus, clock, isa.line(8));
  const serial = new BufferBackend();
  new Uart(bus, clock, 0x3f8, isa.line(4), serial);
  new Uart(bus, clock, 0x2f8, isa.line(3), new BufferBackend());
  new I8042(bus, isa.line(1), isa.line(12));
  new Port92(bus);
  new PostPort(bus);
  new DebugCon(bus, new BufferBackend());
  new IsaDebugExit(bus, 0xf4, 4);
  new FwCfg(bus).addFile("etc/e820", new Uint8Array(20));
  const host = new PciHost(bus);
  const piix3 = new Piix3(isa);
  host.setIrqSink(piix3);
  host.add(new I440fx(bus), 0);
  host.add(piix3, 1, 0);
  const ide = new PiixIde(bus, { irq14: isa.line(14), irq15: isa.line(15) });
  host.add(ide, 1, 1);
  ide.channels[0].attach(0, new IdeDrive({ driver: memoryDisk(1 << 20) }));
  ide.channels[1].attach(0, new IdeDrive({ kind: "cdrom", driver: memoryDisk(64 * 2048) }, 2));
  const pm = new AcpiPm(bus, clock, isa.line(9));
  host.add(pm, 1, 3);
  pm.programLikeSeaBios();
  ide.programLikeSeaBios();
  return { bus, clock, serial };
}

/** A small deterministic PRNG (xorshift32), so a failure replays. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

const PORTS = [
  0x20,
  0x21,
  0xa0,
  0xa1,
  0x4d0,
  0x4d1,
  0x40,
  0x41,
  0x42,
  0x43,
  0x61,
  0x70,
  0x71,
  0x60,
  0x64,
  0x92,
  0x80,
  0x402,
  0x510,
  0x511,
  0x514,
  0x518,
  0xcf8,
  0xcf9,
  0xcfc,
  0xcfd,
  0xcfe,
  0xcff,
  0x600,
  0x602,
  0x604,
  0x608,
  0xafe0,
  0xb2,
  0xb3,
  0xc040,
  0xc042,
  0xc044,
  0xc048,
  0xc04a,
  0xc04c,
  ...[0x1f0, 0x170, 0x3f8, 0x2f8].flatMap((b) => [0, 1, 2, 3, 4, 5, 6, 7].map((i) => b + i)),
  0x3f6,
  0x376,
];
const MMIO = [0xfee00000, 0xfec00000];
const ITERATIONS = Number(Deno.env.get("ROBUST_ITER") ?? 6000);
const SIZES: AccessSize[] = [1, 2, 4];

Deno.test("devices: random port and MMIO traffic never throws and stays within the access width", () => {
  for (let seed = 1; seed <= 4; seed++) {
    const { bus, clock } = pc();
    const r = rng(seed * 7919);
    for (let i = 0; i < ITERATIONS; i++) {
      const size = SIZES[Math.floor(r() * 3)];
      const value = Math.floor(r() * 0x100000000) >>> 0;
      const x = r();
      if (x < 0.45) {
        bus.out(PORTS[Math.floor(r() * PORTS.length)], size, value);
      } else if (x < 0.9) {
        const v = bus.in(PORTS[Math.floor(r() * PORTS.length)], size);
        assert.ok(
          Number.isInteger(v) && v >= 0 && v <= (size === 4 ? 0xffffffff : (1 << (8 * size)) - 1),
          `${v}`,
        );
      } else if (x < 0.95) {
        const base = MMIO[Math.floor(r() * 2)] + (Math.floor(r() * 0x100) << 4);
        if (r() < 0.5) bus.write32(base, value);
        else assert.ok(bus.read32(base) <= 0xffffffff);
      } else {
        clock.run(Math.floor(r() * 2e6));
      }
      if (bus.resetRequested) bus.resetRequested = false;
      if (bus.interruptController && bus.intr && r() < 0.5) bus.interruptController.acknowledge();
    }
  }
});
