/**
 * PIIX IDE through its ports: ATA PIO and bus-master DMA on a raw image file (checked afterwards
 * with the real qemu-img), LBA48 and CHS addressing, and ATAPI on a CD image.
 */
import assert from "node:assert/strict";
import { Bus } from "../../lib/devices/bus.ts";
import { VirtualClock } from "../../lib/devices/clock.ts";
import { IrqLine, type IrqSink } from "../../lib/devices/irq.ts";
import { IdeDrive } from "../../lib/devices/ide.ts";
import { PiixIde } from "../../lib/devices/piix_ide.ts";
import { PciHost } from "../../lib/devices/pci.ts";
import type { BlockDriver } from "../../lib/image/block_driver.ts";
import { createImage, openImage } from "../../lib/image/formats.ts";
import { REAL_QEMU_IMG, skipReason } from "../support/tools.ts";

/** Opens an image through lib/image's registry, as the machine does for -drive. */
function open(path: string, format = "raw", readOnly = false): BlockDriver {
  return openImage(path, { format, readOnly });
}

function imageFile(size: number, fill?: (buf: Uint8Array) => void): string {
  const path = Deno.makeTempFileSync({ suffix: ".img" });
  if (!fill) {
    Deno.truncateSync(path, size);
    return path;
  }
  const buf = new Uint8Array(size);
  fill(buf);
  Deno.writeFileSync(path, buf);
  return path;
}

/**
 * The non-zero words of IDENTIFY DEVICE (16 MiB disk at ide0) and IDENTIFY PACKET DEVICE (CD at
 * ide2) as qemu-system-i386 7.2 returned them to a probe guest booted with -kernel.
 */
const QEMU_IDENTIFY_DISK_16M: [number, number][] = [
  [0, 0x40],
  [1, 0x20],
  [3, 0x10],
  [4, 0x7e00],
  [5, 0x200],
  [6, 0x3f],
  [10, 0x514d],
  [11, 0x3030],
  [12, 0x3030],
  [13, 0x3120],
  [14, 0x2020],
  [15, 0x2020],
  [16, 0x2020],
  [17, 0x2020],
  [18, 0x2020],
  [19, 0x2020],
  [20, 0x3],
  [21, 0x200],
  [22, 0x4],
  [23, 0x322e],
  [24, 0x352b],
  [25, 0x2020],
  [26, 0x2020],
  [27, 0x5145],
  [28, 0x4d55],
  [29, 0x2048],
  [30, 0x4152],
  [31, 0x4444],
  [32, 0x4953],
  [33, 0x4b20],
  [34, 0x2020],
  [35, 0x2020],
  [36, 0x2020],
  [37, 0x2020],
  [38, 0x2020],
  [39, 0x2020],
  [40, 0x2020],
  [41, 0x2020],
  [42, 0x2020],
  [43, 0x2020],
  [44, 0x2020],
  [45, 0x2020],
  [46, 0x2020],
  [47, 0x8010],
  [48, 0x1],
  [49, 0xb00],
  [51, 0x200],
  [52, 0x200],
  [53, 0x7],
  [54, 0x20],
  [55, 0x10],
  [56, 0x3f],
  [57, 0x7e00],
  [59, 0x110],
  [60, 0x8000],
  [62, 0x7],
  [63, 0x7],
  [64, 0x3],
  [65, 0x78],
  [66, 0x78],
  [67, 0x78],
  [68, 0x78],
  [69, 0x4000],
  [80, 0xf0],
  [81, 0x16],
  [82, 0x4021],
  [83, 0x7400],
  [84, 0x4000],
  [85, 0x4021],
  [86, 0x3400],
  [87, 0x4000],
  [88, 0x203f],
  [93, 0x6001],
  [100, 0x8000],
  [106, 0x6000],
  [169, 0x1],
];
const QEMU_IDENTIFY_CDROM: [number, number][] = [
  [0, 0x85c0],
  [10, 0x514d],
  [11, 0x3030],
  [12, 0x3030],
  [13, 0x3320],
  [14, 0x2020],
  [15, 0x2020],
  [16, 0x2020],
  [17, 0x2020],
  [18, 0x2020],
  [19, 0x2020],
  [20, 0x3],
  [21, 0x200],
  [22, 0x4],
  [23, 0x322e],
  [24, 0x352b],
  [25, 0x2020],
  [26, 0x2020],
  [27, 0x5145],
  [28, 0x4d55],
  [29, 0x2044],
  [30, 0x5644],
  [31, 0x2d52],
  [32, 0x4f4d],
  [33, 0x2020],
  [34, 0x2020],
  [35, 0x2020],
  [36, 0x2020],
  [37, 0x2020],
  [38, 0x2020],
  [39, 0x2020],
  [40, 0x2020],
  [41, 0x2020],
  [42, 0x2020],
  [43, 0x2020],
  [44, 0x2020],
  [45, 0x2020],
  [46, 0x2020],
  [48, 0x1],
  [49, 0x300],
  [53, 0x7],
  [62, 0x7],
  [63, 0x7],
  [64, 0x3],
  [65, 0xb4],
  [66, 0xb4],
  [67, 0x12c],
  [68, 0xb4],
  [71, 0x1e],
  [72, 0x1e],
  [80, 0x1e],
  [88, 0x203f],
];

function nonZeroWords(block: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < 256; i++) {
    const w = block[2 * i] | (block[2 * i + 1] << 8);
    if (w) out.push([i, w]);
  }
  return out;
}

function setup(drives: { disk?: BlockDriver; cdrom?: BlockDriver | "empty" }) {
  const bus = new Bus({ ramSize: 4 << 20 });
  const clock = new VirtualClock({ source: "manual" });
  bus.nowNs = clock.nowNs;
  const levels = new Map<number, boolean>();
  const sink: IrqSink = { setIrq: (irq, level) => void levels.set(irq, level) };
  const host = new PciHost(bus);
  const ide = new PiixIde(bus, { irq14: new IrqLine(sink, 14), irq15: new IrqLine(sink, 15) });
  host.add(ide, 1, 1);
  if (drives.disk) ide.channels[0].attach(0, new IdeDrive({ driver: drives.disk }, 0));
  if (drives.cdrom) {
    ide.channels[1].attach(
      0,
      new IdeDrive({ kind: "cdrom", driver: drives.cdrom === "empty" ? undefined : drives.cdrom }, 2),
    );
  }
  // Program BAR4 and enable I/O + bus mastering through config space, as firmware does.
  bus.out(0xcf8, 4, 0x80000920);
  bus.out(0xcfc, 4, 0xc041);
  bus.out(0xcf8, 4, 0x80000904);
  bus.out(0xcfc, 2, 0x0005);
  return { bus, ide, levels };
}

function readWords(bus: Bus, port: number, words: number): Uint8Array {
  const out = new Uint8Array(words * 2);
  const v = new DataView(out.buffer);
  for (let i = 0; i < words; i++) v.setUint16(i * 2, bus.in(port, 2), true);
  return out;
}

function ataString(block: Uint8Array, word: number, words: number): string {
  let s = "";
  for (let i = 0; i < words; i++) s += String.fromCharCode(block[2 * (word + i) + 1], block[2 * (word + i)]);
  return s.trimEnd();
}

Deno.test("ide: IDENTIFY DEVICE gives QEMU's strings, geometry and LBA sizes", () => {
  const path = imageFile(16 << 20);
  const { bus, levels } = setup({ disk: open(path) });
  assert.equal(bus.in(0x1f7, 1), 0x50);
  assert.deepEqual([2, 3, 4, 5].map((r) => bus.in(0x1f0 + r, 1)), [1, 1, 0, 0]); // ATA signature
  bus.out(0x1f6, 1, 0xa0);
  bus.out(0x1f7, 1, 0xec);
  assert.equal(levels.get(14), true);
  assert.equal(bus.in(0x3f6, 1), 0x58); // alt status: DRQ, IRQ still pending
  assert.equal(levels.get(14), true);
  assert.equal(bus.in(0x1f7, 1), 0x58);
  assert.equal(levels.get(14), false);
  const id = readWords(bus, 0x1f0, 256);
  const w = (i: number) => id[2 * i] | (id[2 * i + 1] << 8);
  assert.equal(ataString(id, 27, 20), "QEMU HARDDISK");
  assert.equal(ataString(id, 10, 10), "QM00001");
  assert.equal(ataString(id, 23, 4), "2.5+");
  assert.deepEqual([w(1), w(3), w(6)], [32, 16, 63]);
  assert.equal(w(60) | (w(61) << 16), 32768);
  assert.equal(w(100), 32768);
  assert.equal(w(83) & 0x0400, 0x0400);
  assert.equal(bus.in(0x1f7, 1), 0x50);
  assert.deepEqual(nonZeroWords(id), QEMU_IDENTIFY_DISK_16M);
  // No slave: its status reads 0 and commands to it are dropped, but its task file still latches
  // (SeaBIOS and libata probe with patterns); a channel with no drive at all reads 0 throughout.
  bus.out(0x1f6, 1, 0xb0);
  assert.equal(bus.in(0x1f7, 1), 0);
  bus.out(0x1f2, 1, 0x55);
  assert.equal(bus.in(0x1f2, 1), 0x55);
  assert.equal(bus.in(0x1f6, 1), 0xb0);
  bus.out(0x172, 1, 0x55);
  assert.deepEqual([bus.in(0x172, 1), bus.in(0x177, 1), bus.in(0x376, 1)], [0, 0, 0]);
  Deno.removeSync(path);
});

Deno.test(
  "ide: PIO WRITE/READ SECTORS (LBA28, CHS, MULTIPLE) reach the image; real qemu-img agrees" +
    skipReason(REAL_QEMU_IMG, "qemu-img"),
  async () => {
    const path = imageFile(4 << 20);
    const driver = open(path);
    const { bus } = setup({ disk: driver });
    const pattern = (lba: number, i: number) => (lba * 7 + i) & 0xff;
    // WRITE SECTORS, LBA 100, 2 sectors.
    bus.out(0x1f6, 1, 0xe0);
    bus.out(0x1f2, 1, 2);
    bus.out(0x1f3, 1, 100);
    bus.out(0x1f4, 1, 0);
    bus.out(0x1f5, 1, 0);
    bus.out(0x1f7, 1, 0x30);
    for (let s = 0; s < 2; s++) {
      assert.equal(bus.in(0x1f7, 1) & 0x08, 0x08);
      for (let i = 0; i < 512; i += 2) {
        bus.out(0x1f0, 2, pattern(100 + s, i) | (pattern(100 + s, i + 1) << 8));
      }
    }
    assert.equal(bus.in(0x1f7, 1), 0x50);
    assert.equal(bus.in(0x1f3, 1), 101); // task file left at the last sector
    // READ MULTIPLE with 4-sector blocks, via CHS: LBA 100 = C0 H1 S38 (16 heads, 63 sectors).
    bus.out(0x1f2, 1, 4);
    bus.out(0x1f7, 1, 0xc6); // SET MULTIPLE 4
    assert.equal(bus.in(0x1f7, 1), 0x50);
    bus.out(0x1f6, 1, 0xa1);
    bus.out(0x1f2, 1, 2);
    bus.out(0x1f3, 1, 38);
    bus.out(0x1f4, 1, 0);
    bus.out(0x1f5, 1, 0);
    bus.out(0x1f7, 1, 0xc4);
    const got = readWords(bus, 0x1f0, 512);
    for (let i = 0; i < 1024; i++) assert.equal(got[i], pattern(100 + (i >> 9), i & 511));
    assert.equal(bus.in(0x1f7, 1), 0x50);
    // 32-bit data port reads work too.
    bus.out(0x1f6, 1, 0xe0);
    bus.out(0x1f2, 1, 1);
    bus.out(0x1f3, 1, 101);
    bus.out(0x1f7, 1, 0x20);
    assert.equal(
      bus.in(0x1f0, 4),
      (pattern(101, 0) | pattern(101, 1) << 8 | pattern(101, 2) << 16 | pattern(101, 3) << 24) >>> 0,
    );
    // Out of range: IDNF.
    bus.out(0x1f6, 1, 0xe0);
    bus.out(0x1f2, 1, 1);
    bus.out(0x1f3, 1, 0xff);
    bus.out(0x1f4, 1, 0xff);
    bus.out(0x1f5, 1, 0xff);
    bus.out(0x1f7, 1, 0x20);
    assert.equal(bus.in(0x1f7, 1), 0x41);
    assert.equal(bus.in(0x1f1, 1), 0x10);
    driver.flush();
    driver.close();
    if (REAL_QEMU_IMG) {
      const expected = imageFile(4 << 20, (b) => {
        for (let s = 0; s < 2; s++) {
          for (let i = 0; i < 512; i++) b[(100 + s) * 512 + i] = pattern(100 + s, i);
        }
      });
      const out = await new Deno.Command(REAL_QEMU_IMG, {
        args: ["compare", "-f", "raw", "-F", "raw", path, expected],
      })
        .output();
      assert.equal(new TextDecoder().decode(out.stdout).trim(), "Images are identical.");
      Deno.removeSync(expected);
    }
    Deno.removeSync(path);
  },
);

/** Writes a PRD table at 0x8000 with the given [address, length] entries (the last marked EOT). */
function prdTable(bus: Bus, entries: [number, number][]): void {
  entries.forEach(([addr, len], i) => {
    bus.write32(0x8000 + i * 8, addr);
    bus.write32(0x8000 + i * 8 + 4, (len & 0xffff) | (i === entries.length - 1 ? 0x80000000 : 0));
  });
}

Deno.test(
  "ide: bus-master DMA READ/WRITE DMA EXT (LBA48) through a PRD table; qemu-img sees the writes" +
    skipReason(REAL_QEMU_IMG, "qemu-img"),
  async () => {
    const path = imageFile(8 << 20, (b) => {
      for (let i = 0; i < b.length; i += 512) b[i] = (i / 512) & 0xff;
    });
    const driver = open(path);
    const { bus, ide, levels } = setup({ disk: driver });
    // Fill guest memory with a pattern and WRITE DMA EXT 16 sectors at LBA 0x1000 from two PRDs.
    for (let i = 0; i < 8192; i++) bus.write8(0x100000 + i, (i * 13) & 0xff);
    prdTable(bus, [[0x100000, 4096], [0x101000, 4096]]);
    bus.out(0xc044, 4, 0x8000);
    bus.out(0x1f6, 1, 0x40);
    bus.out(0x1f2, 1, 0); // HOB count
    bus.out(0x1f2, 1, 16);
    bus.out(0x1f3, 1, 0);
    bus.out(0x1f3, 1, 0x00);
    bus.out(0x1f4, 1, 0);
    bus.out(0x1f4, 1, 0x10);
    bus.out(0x1f5, 1, 0);
    bus.out(0x1f5, 1, 0x00);
    bus.out(0x1f7, 1, 0x35);
    assert.equal(bus.in(0x1f7, 1) & 0x08, 0x08); // waiting for the engine
    bus.out(0xc040, 1, 0x01); // start, direction: from memory
    assert.equal(levels.get(14), true);
    assert.equal(bus.in(0xc042, 1) & 0x07, 0x04); // INT set, no longer active
    bus.out(0xc042, 1, 0x04);
    bus.out(0xc040, 1, 0x00);
    assert.equal(bus.in(0x1f7, 1), 0x50);
    // READ DMA 8 sectors from LBA 0x1004 into one PRD bigger than the transfer: stays active.
    prdTable(bus, [[0x200000, 0x2000]]);
    bus.out(0x1f6, 1, 0xe0);
    bus.out(0x1f2, 1, 8);
    bus.out(0x1f3, 1, 0x04);
    bus.out(0x1f4, 1, 0x10);
    bus.out(0x1f5, 1, 0);
    bus.out(0xc040, 1, 0x09); // start first this time, direction: to memory
    bus.out(0x1f7, 1, 0xc8);
    assert.equal(bus.in(0xc042, 1) & 0x07, 0x05);
    bus.out(0xc040, 1, 0x00);
    for (let i = 0; i < 4096; i++) assert.equal(bus.read8(0x200000 + i), ((i + 2048) * 13) & 0xff);
    for (let i = 4096; i < 8192; i += 512) assert.equal(bus.read8(0x200000 + i), ((i + 2048) * 13) & 0xff);
    // Past the written range the image's own marker bytes come back.
    prdTable(bus, [[0x200000, 512]]);
    bus.out(0x1f2, 1, 1);
    bus.out(0x1f3, 1, 0x10);
    bus.out(0xc040, 1, 0x09);
    bus.out(0x1f7, 1, 0xc8);
    bus.out(0xc040, 1, 0x00);
    assert.equal(bus.read8(0x200000), 0x10);
    assert.equal(ide.bmdma[0].prdAddr, 0x8000);
    driver.close();
    if (REAL_QEMU_IMG) {
      const raw = Deno.makeTempFileSync({ suffix: ".raw" });
      const conv = await new Deno.Command(REAL_QEMU_IMG, { args: ["convert", "-O", "raw", path, raw] })
        .output();
      assert.equal(conv.code, 0);
      const data = Deno.readFileSync(raw).subarray(0x1000 * 512, 0x1000 * 512 + 8192);
      for (let i = 0; i < 8192; i++) assert.equal(data[i], (i * 13) & 0xff);
      Deno.removeSync(raw);
    }
    Deno.removeSync(path);
  },
);

/** Sends a 12-byte ATAPI packet on the secondary channel. */
function packet(bus: Bus, cmd: number[], byteLimit = 0xfffe, dma = false): void {
  bus.out(0x176, 1, 0xa0);
  bus.out(0x171, 1, dma ? 1 : 0);
  bus.out(0x174, 1, byteLimit & 0xff);
  bus.out(0x175, 1, byteLimit >> 8);
  bus.out(0x177, 1, 0xa0);
  assert.equal(bus.in(0x177, 1) & 0x08, 0x08);
  assert.equal(bus.in(0x172, 1) & 3, 1); // CoD
  const c = [...cmd, ...new Array(12 - cmd.length).fill(0)];
  for (let i = 0; i < 12; i += 2) bus.out(0x170, 2, c[i] | (c[i + 1] << 8));
}

function pioIn(bus: Bus): Uint8Array {
  const chunks: number[] = [];
  while (bus.in(0x177, 1) & 0x08) {
    assert.equal(bus.in(0x172, 1) & 3, 2); // IO, data
    const n = bus.in(0x174, 1) | (bus.in(0x175, 1) << 8);
    for (let i = 0; i < n; i += 2) {
      const w = bus.in(0x170, 2);
      chunks.push(w & 0xff, w >> 8);
    }
  }
  return Uint8Array.from(chunks);
}

Deno.test("atapi: signature, IDENTIFY PACKET, INQUIRY, READ CAPACITY, READ(10) by PIO and DMA, READ TOC", () => {
  const path = imageFile(300 * 2048, (b) => {
    for (let s = 0; s < 300; s++) b.fill(s & 0xff, s * 2048, s * 2048 + 2048);
  });
  const { bus } = setup({ cdrom: open(path, "raw", true) });
  bus.out(0x176, 1, 0xa0);
  assert.deepEqual([bus.in(0x174, 1), bus.in(0x175, 1)], [0x14, 0xeb]);
  bus.out(0x177, 1, 0xec); // IDENTIFY DEVICE aborts on ATAPI
  assert.equal(bus.in(0x177, 1) & 0x01, 1);
  bus.out(0x177, 1, 0xa1);
  const id = readWords(bus, 0x170, 256);
  assert.equal(id[1] >> 0, 0x85);
  assert.equal(ataString(id, 27, 20), "QEMU DVD-ROM");
  assert.deepEqual(nonZeroWords(id), QEMU_IDENTIFY_CDROM);
  packet(bus, [0x12, 0, 0, 0, 36]);
  const inq = pioIn(bus);
  assert.equal(inq[0], 0x05);
  assert.equal(new TextDecoder().decode(inq.subarray(8, 36)), "QEMU    QEMU DVD-ROM    2.5+");
  assert.equal(bus.in(0x172, 1) & 3, 3);
  packet(bus, [0x25]);
  assert.deepEqual([...pioIn(bus)], [0, 0, 0x01, 0x2b, 0, 0, 0x08, 0]);
  // READ(10) 3 sectors from LBA 5 by PIO with a 2048-byte limit: three DRQ chunks.
  packet(bus, [0x28, 0, 0, 0, 0, 5, 0, 0, 3], 2048);
  const data = pioIn(bus);
  assert.equal(data.length, 3 * 2048);
  assert.deepEqual([data[0], data[2048], data[4096]], [5, 6, 7]);
  // The same by DMA.
  prdTable(bus, [[0x300000, 3 * 2048]]);
  bus.out(0xc04c, 4, 0x8000);
  bus.out(0xc048, 1, 0x09);
  packet(bus, [0x28, 0, 0, 0, 1, 0, 0, 0, 3], 0xfffe, true);
  assert.equal(bus.in(0xc04a, 1) & 0x05, 0x04);
  assert.deepEqual([bus.read8(0x300000), bus.read8(0x300800), bus.read8(0x301000)], [0, 1, 2]);
  assert.equal(bus.in(0x177, 1), 0x50);
  // READ TOC, LBA form: one data track and the lead-out at 300.
  packet(bus, [0x43, 0, 0, 0, 0, 0, 0, 0, 32]);
  assert.deepEqual([...pioIn(bus)], [
    0,
    18,
    1,
    1,
    0,
    0x14,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0x16,
    0xaa,
    0,
    0,
    0,
    1,
    0x2c,
  ]);
  Deno.removeSync(path);
});

Deno.test("atapi: no medium, REQUEST SENSE, eject by START STOP UNIT, locking, media events", () => {
  const path = imageFile(16 * 2048);
  const { bus } = setup({ cdrom: "empty" });
  packet(bus, [0x00]);
  assert.equal(bus.in(0x177, 1) & 0x01, 1);
  assert.equal(bus.in(0x171, 1), 0x20); // sense key NOT READY in the high nibble
  packet(bus, [0x03, 0, 0, 0, 18]);
  const sense = pioIn(bus);
  assert.deepEqual([sense[2], sense[12]], [2, 0x3a]);
  Deno.removeSync(path);
  const path2 = imageFile(16 * 2048);
  const { bus: bus2 } = setup({ cdrom: open(path2, "raw", true) });
  packet(bus2, [0x00]);
  assert.equal(bus2.in(0x177, 1), 0x50);
  packet(bus2, [0x1e, 0, 0, 0, 1]); // lock
  pioIn(bus2);
  packet(bus2, [0x1b, 0, 0, 0, 0x02]); // eject refused while locked
  assert.equal(bus2.in(0x171, 1) >> 4, 2);
  packet(bus2, [0x1e, 0, 0, 0, 0]);
  packet(bus2, [0x1b, 0, 0, 0, 0x02]);
  assert.equal(bus2.in(0x177, 1), 0x50);
  packet(bus2, [0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8]);
  assert.deepEqual([...pioIn(bus2)], [0, 6, 4, 0x10, 3, 1, 0, 0]); // removal, tray open
  packet(bus2, [0x00]);
  assert.equal(bus2.in(0x171, 1) >> 4, 2);
  packet(bus2, [0x1b, 0, 0, 0, 0x03]); // load
  packet(bus2, [0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8]);
  assert.deepEqual([...pioIn(bus2)], [0, 6, 4, 0x10, 2, 2, 0, 0]); // new media, present
  Deno.removeSync(path2);
});

Deno.test(
  "ide: DMA and PIO writes into a qcow2 image through lib/image; the real qemu-img checks and reads them" +
    skipReason(REAL_QEMU_IMG, "qemu-img"),
  async () => {
    const dir = Deno.makeTempDirSync();
    const path = `${dir}/disk.qcow2`;
    createImage(path, "qcow2", { size: 64 << 20 });
    const driver = open(path, "qcow2");
    const { bus } = setup({ disk: driver });
    // 128 sectors by DMA at LBA 2048 (1 MiB in), then one sector by PIO at LBA 100000.
    for (let i = 0; i < 65536; i++) bus.write8(0x100000 + i, (i * 31 + 7) & 0xff);
    prdTable(bus, [[0x100000, 0x10000]]);
    bus.out(0xc044, 4, 0x8000);
    bus.out(0x1f6, 1, 0xe0);
    bus.out(0x1f2, 1, 128);
    bus.out(0x1f3, 1, 0x00);
    bus.out(0x1f4, 1, 0x08);
    bus.out(0x1f5, 1, 0x00);
    bus.out(0x1f7, 1, 0xca);
    bus.out(0xc040, 1, 0x01);
    assert.equal(bus.in(0xc042, 1) & 0x07, 0x04);
    bus.out(0xc040, 1, 0);
    assert.equal(bus.in(0x1f7, 1), 0x50);
    bus.out(0x1f2, 1, 1);
    bus.out(0x1f3, 1, 100000 & 0xff);
    bus.out(0x1f4, 1, (100000 >> 8) & 0xff);
    bus.out(0x1f5, 1, 100000 >> 16);
    bus.out(0x1f7, 1, 0x30);
    for (let i = 0; i < 256; i++) bus.out(0x1f0, 2, 0xbeef);
    assert.equal(bus.in(0x1f7, 1), 0x50);
    bus.out(0x1f7, 1, 0xe7); // FLUSH CACHE
    assert.equal(bus.in(0x1f7, 1), 0x50);
    driver.close();
    if (REAL_QEMU_IMG) {
      const check = await new Deno.Command(REAL_QEMU_IMG, { args: ["check", path] }).output();
      assert.equal(
        check.code,
        0,
        new TextDecoder().decode(check.stdout) + new TextDecoder().decode(check.stderr),
      );
      const raw = `${dir}/disk.raw`;
      const conv = await new Deno.Command(REAL_QEMU_IMG, { args: ["convert", "-O", "raw", path, raw] })
        .output();
      assert.equal(conv.code, 0);
      const f = Deno.openSync(raw);
      const got = new Uint8Array(65536);
      f.seekSync(2048 * 512, Deno.SeekMode.Start);
      f.readSync(got);
      for (let i = 0; i < 65536; i++) assert.equal(got[i], (i * 31 + 7) & 0xff);
      const sector = new Uint8Array(512);
      f.seekSync(100000 * 512, Deno.SeekMode.Start);
      f.readSync(sector);
      f.close();
      assert.deepEqual([sector[0], sector[1], sector[510], sector[511]], [0xef, 0xbe, 0xef, 0xbe]);
    }
    // Our driver reads back what the device wrote, through the device again.
    const again = open(path, "qcow2", true);
    const { bus: bus2 } = setup({ disk: again });
    bus2.out(0x1f6, 1, 0xe0);
    bus2.out(0x1f2, 1, 1);
    bus2.out(0x1f3, 1, 0x01);
    bus2.out(0x1f4, 1, 0x08);
    bus2.out(0x1f5, 1, 0);
    bus2.out(0x1f7, 1, 0x20);
    const w = bus2.in(0x1f0, 2);
    assert.equal(w, ((512 * 31 + 7) & 0xff) | (((513 * 31 + 7) & 0xff) << 8));
    again.close();
    Deno.removeSync(dir, { recursive: true });
  },
);
