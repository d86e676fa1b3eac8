/** The Bus: RAM, ROM, MMIO and unmapped pages, the A20 gate, and port dispatch. */
import assert from "node:assert/strict";
import { type AccessSize, Bus } from "../../lib/devices/bus.ts";

Deno.test("bus: RAM reads back little-endian, across page boundaries too", () => {
  const bus = new Bus({ ramSize: 1 << 20 });
  bus.write32(0x1ffe, 0x11223344);
  assert.equal(bus.read8(0x1ffe), 0x44);
  assert.equal(bus.read16(0x2000), 0x1122);
  assert.equal(bus.read32(0x1ffe), 0x11223344);
});

Deno.test("bus: ROM ignores writes, unmapped memory reads 0 as QEMU's unassigned region", () => {
  const bus = new Bus({ ramSize: 1 << 20 });
  bus.addRom(0xfffff000, new Uint8Array(4096).fill(0xea));
  bus.write8(0xfffff010, 0);
  assert.equal(bus.read8(0xfffff010), 0xea);
  assert.equal(bus.read32(0x40000000), 0);
  bus.write32(0x40000000, 1); // dropped, no throw
  assert.equal(bus.read32(0x40000000), 0);
});

Deno.test("bus: MMIO and ports reach their devices with the access width", () => {
  const bus = new Bus({ ramSize: 1 << 20 });
  const seen: string[] = [];
  bus.mapMmio(0xfee00000, 4096, {
    mmioRead: (a: number, s: AccessSize) => (seen.push(`r${s}@${a.toString(16)}`), 0xabcd),
    mmioWrite: (a: number, s: AccessSize, v: number) => void seen.push(`w${s}@${a.toString(16)}=${v}`),
  });
  assert.equal(bus.read32(0xfee00030), 0xabcd);
  bus.write16(0xfee000b0, 7);
  bus.registerPorts(0x3f8, 8, {
    portRead: (p: number, s: AccessSize) => (seen.push(`in${s}@${p.toString(16)}`), 0x60),
    portWrite: (p: number, s: AccessSize, v: number) => void seen.push(`out${s}@${p.toString(16)}=${v}`),
  });
  assert.equal(bus.in(0x3fd, 1), 0x60);
  bus.out(0x3f8, 1, 0x41);
  assert.equal(bus.in(0x1234, 2), 0xffff);
  assert.deepEqual(seen, ["r4@fee00030", "w2@fee000b0=7", "in1@3fd", "out1@3f8=65"]);
});

Deno.test("bus: the A20 gate wraps the 1 MiB boundary and tells listeners", () => {
  const bus = new Bus({ ramSize: 2 << 20 });
  let changes = 0;
  bus.onMapChange(() => changes++);
  bus.write8(0x100005, 0x5a);
  bus.setA20(false);
  assert.equal(bus.read8(0x100005), bus.read8(0x000005));
  bus.setA20(true);
  assert.equal(bus.read8(0x100005), 0x5a);
  assert.equal(changes, 2);
});
