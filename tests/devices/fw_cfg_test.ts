/** fw_cfg through the selector/data ports and through the DMA interface, as SeaBIOS drives them. */
import assert from "node:assert/strict";
import { Bus } from "../../lib/devices/bus.ts";
import { e820Bytes, FwCfg, FwCfgKey } from "../../lib/devices/fw_cfg.ts";

const bswap32 = (v: number) =>
  (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;

function readPort(bus: Bus, key: number, n: number): Uint8Array {
  bus.out(0x510, 2, key);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = bus.in(0x511, 1);
  return out;
}

/** SeaBIOS's qemu_cfg_dma_transfer: a big-endian FWCfgDmaAccess, its address written big-endian. */
function dma(bus: Bus, control: number, length: number, address: number): number {
  const desc = 0x1000;
  const v = new DataView(bus.memory, desc, 16);
  v.setUint32(0, control);
  v.setUint32(4, length);
  v.setBigUint64(8, BigInt(address));
  bus.out(0x514, 4, bswap32(0));
  bus.out(0x518, 4, bswap32(desc));
  return v.getUint32(0);
}

function setup() {
  const bus = new Bus({ ramSize: 1 << 20 });
  const fw = new FwCfg(bus);
  fw.setMachineInfo({ ramSize: 128 << 20, nbCpus: 1 });
  fw.addFile(
    "etc/e820",
    e820Bytes([{ address: 0, length: 0x9fc00, type: 1 }, {
      address: 0x100000,
      length: 127 << 20,
      type: 1,
    }]),
  );
  fw.addFile("bootorder", new TextEncoder().encode("/pci@i0cf8/ide@1,1/drive@0/disk@0\n"));
  fw.addFile("etc/boot-fail-wait", new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  return { bus, fw };
}

Deno.test("fw_cfg: signature, ID with the DMA bit, RAM size and CPU count through the ports", () => {
  const { bus } = setup();
  assert.equal(new TextDecoder().decode(readPort(bus, FwCfgKey.SIGNATURE, 4)), "QEMU");
  assert.deepEqual(readPort(bus, FwCfgKey.ID, 4), new Uint8Array([3, 0, 0, 0]));
  assert.equal(new DataView(readPort(bus, FwCfgKey.RAM_SIZE, 8).buffer).getBigUint64(0, true), 128n << 20n);
  assert.deepEqual(readPort(bus, FwCfgKey.NB_CPUS, 2), new Uint8Array([1, 0]));
  // Reads past an item's end and of a missing item give zeros.
  assert.deepEqual(readPort(bus, FwCfgKey.SIGNATURE, 6).subarray(4), new Uint8Array(2));
  assert.deepEqual(readPort(bus, 0x7777, 2), new Uint8Array(2));
  // The DMA register reads "QEMU CFG".
  const sig = [0x514, 0x518].map((p) => bus.in(p, 4));
  const bytes = new Uint8Array(new Uint32Array(sig).buffer);
  assert.equal(new TextDecoder().decode(bytes), "QEMU CFG");
});

Deno.test("fw_cfg: the file directory is sorted by name and a file reads through the data port", () => {
  const { bus, fw } = setup();
  const count = new DataView(readPort(bus, FwCfgKey.FILE_DIR, 4).buffer).getUint32(0);
  assert.equal(count, 3);
  const dir = readPort(bus, FwCfgKey.FILE_DIR, 4 + 64 * count);
  const dv = new DataView(dir.buffer);
  const entries = [0, 1, 2].map((i) => ({
    size: dv.getUint32(4 + i * 64),
    select: dv.getUint16(8 + i * 64),
    name: new TextDecoder().decode(dir.subarray(12 + i * 64, 12 + i * 64 + 56)).replace(/\0+$/, ""),
  }));
  assert.deepEqual(entries, [
    { size: 34, select: 0x20, name: "bootorder" },
    { size: 4, select: 0x21, name: "etc/boot-fail-wait" },
    { size: 40, select: 0x22, name: "etc/e820" },
  ]);
  assert.equal(fw.fileKey("etc/e820"), 0x22);
  const e820 = new DataView(readPort(bus, 0x22, 40).buffer);
  assert.equal(e820.getBigUint64(28, true), 127n << 20n);
  assert.equal(e820.getUint32(36, true), 1);
});

Deno.test("fw_cfg: DMA select+read into guest memory, skip, and a refused write", () => {
  const { bus, fw } = setup();
  const key = fw.fileKey("bootorder")!;
  const ctl = dma(bus, (key << 16) | 0x08 | 0x02, 16, 0x2000);
  assert.equal(ctl, 0);
  assert.equal(new TextDecoder().decode(bus.u8.subarray(0x2000, 0x2010)), "/pci@i0cf8/ide@1");
  assert.equal(dma(bus, 0x04, 3, 0), 0); // skip ",1/"
  assert.equal(dma(bus, 0x02, 4, 0x3000), 0);
  assert.equal(new TextDecoder().decode(bus.u8.subarray(0x3000, 0x3004)), "driv");
  // Reading past the end zero-fills the rest of the buffer.
  bus.u8.fill(0xaa, 0x4000, 0x4040);
  dma(bus, (FwCfgKey.SIGNATURE << 16) | 0x0a, 8, 0x4000);
  assert.deepEqual([...bus.u8.subarray(0x4000, 0x4009)], [0x51, 0x45, 0x4d, 0x55, 0, 0, 0, 0, 0xaa]);
  assert.equal(dma(bus, (FwCfgKey.SIGNATURE << 16) | 0x18, 4, 0x4000), 1); // not writable: error bit
  // Kernel items for linuxboot.
  fw.setKernel({ cmdline: "console=ttyS0", kernel: new Uint8Array(10), kernelAddr: 0x100000 });
  assert.deepEqual(readPort(bus, FwCfgKey.CMDLINE_SIZE, 4), new Uint8Array([14, 0, 0, 0]));
  assert.equal(new TextDecoder().decode(readPort(bus, FwCfgKey.CMDLINE_DATA, 13)), "console=ttyS0");
});
