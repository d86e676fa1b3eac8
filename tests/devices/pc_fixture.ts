/** A whole PC's worth of devices on one Bus and manual clock, for the robustness and savevm tests. */
import { type AccessSize, Bus } from "../../lib/devices/bus.ts";
import { BufferBackend } from "../../lib/devices/chardev.ts";
import { VirtualClock } from "../../lib/devices/clock.ts";
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
import { Hpet } from "../../lib/devices/hpet.ts";
import { IrqLine, IsaIrqRouter } from "../../lib/devices/irq.ts";
import type { BlockDriver } from "../../lib/image/block_driver.ts";

/** An in-memory disk: the robustness test is about the device, not the image layer. */
export function memoryDisk(size: number, data = new Uint8Array(size)): BlockDriver {
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

/** The devices of a PC; `disks` gives the hard disk's and the CD's contents (copied). */
export function pc(disks: { hd?: Uint8Array; cd?: Uint8Array } = {}) {
  const bus = new Bus({ ramSize: 4 << 20 });
  const clock = new VirtualClock({ source: "manual" });
  bus.nowNs = clock.nowNs;
  const pic = new PicPair(bus);
  const lapic = new LocalApic(bus, clock);
  lapic.install(pic);
  const ioapic = new IoApic(bus, lapic);
  const isa = new IsaIrqRouter(pic, ioapic);
  const hpet = new Hpet(bus, clock, isa);
  const pit = new Pit(bus, clock, new IrqLine(hpet.legacyGate, 0));
  const portB = new PortB(bus, pit);
  const rtc = new Rtc(bus, clock, new IrqLine(hpet.legacyGate, 8));
  const serial = new BufferBackend();
  const uart1 = new Uart(bus, clock, 0x3f8, isa.line(4), serial);
  const uart2 = new Uart(bus, clock, 0x2f8, isa.line(3), new BufferBackend());
  const kbc = new I8042(bus, isa.line(1), isa.line(12));
  const port92 = new Port92(bus);
  new PostPort(bus);
  new DebugCon(bus, new BufferBackend());
  new IsaDebugExit(bus, 0xf4, 4);
  const fwCfg = new FwCfg(bus);
  fwCfg.addFile("etc/e820", new Uint8Array(20));
  const host = new PciHost(bus);
  const piix3 = new Piix3(isa);
  host.setIrqSink(piix3);
  const i440fx = new I440fx(bus);
  host.add(i440fx, 0);
  host.add(piix3, 1, 0);
  const ide = new PiixIde(bus, { irq14: isa.line(14), irq15: isa.line(15) });
  host.add(ide, 1, 1);
  ide.channels[0].attach(0, new IdeDrive({ driver: memoryDisk(1 << 20, disks.hd?.slice()) }));
  ide.channels[1].attach(
    0,
    new IdeDrive({ kind: "cdrom", driver: memoryDisk(64 * 2048, disks.cd?.slice()) }, 2),
  );
  const pm = new AcpiPm(bus, clock, isa.line(9));
  host.add(pm, 1, 3);
  pm.programLikeSeaBios();
  ide.programLikeSeaBios();
  return {
    bus,
    clock,
    serial,
    devices: {
      host,
      pic,
      pit,
      portB,
      rtc,
      uart1,
      uart2,
      kbc,
      port92,
      fwCfg,
      i440fx,
      piix3,
      ide,
      pm,
      lapic,
      ioapic,
      hpet,
    },
  };
}

/** A small deterministic PRNG (xorshift32), so a failure replays. */
export function rng(seed: number) {
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
const MMIO = [0xfee00000, 0xfec00000, 0xfed00000];
const SIZES: AccessSize[] = [1, 2, 4];

/**
 * Drives n random port/MMIO accesses and time steps; returns every value read (and the INTR line
 * after each step), so two PCs given the same traffic can be compared.
 */
export function traffic(bus: Bus, clock: VirtualClock, seed: number, n: number, log?: string[]): number[] {
  const r = rng(seed);
  const seen: number[] = [];
  for (let i = 0; i < n; i++) {
    const size = SIZES[Math.floor(r() * 3)];
    const value = Math.floor(r() * 0x100000000) >>> 0;
    const x = r();
    if (x < 0.45) {
      const port = PORTS[Math.floor(r() * PORTS.length)];
      log?.push(`${seen.length} out${size} ${port.toString(16)} ${value.toString(16)}`);
      bus.out(port, size, value);
    } else if (x < 0.9) {
      const port = PORTS[Math.floor(r() * PORTS.length)];
      log?.push(`${seen.length} in${size} ${port.toString(16)}`);
      seen.push(bus.in(port, size));
    } else if (x < 0.95) {
      const base = MMIO[Math.floor(r() * MMIO.length)] + (Math.floor(r() * 0x100) << 4);
      log?.push(`${seen.length} mmio ${base.toString(16)}`);
      if (r() < 0.5) bus.write32(base, value);
      else seen.push(bus.read32(base));
    } else {
      const ns = Math.floor(r() * 2e6);
      log?.push(`${seen.length} run ${ns}`);
      clock.run(ns);
    }
    if (bus.resetRequested) bus.resetRequested = false;
    if (bus.interruptController && bus.intr && r() < 0.5) seen.push(bus.interruptController.acknowledge());
    seen.push(bus.intr ? 1 : 0);
  }
  return seen;
}
