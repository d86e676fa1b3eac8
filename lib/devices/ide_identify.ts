/**
 * The 512-byte IDENTIFY DEVICE and IDENTIFY PACKET DEVICE blocks, word by word as QEMU 7.2's
 * ide_identify/ide_atapi_identify fill them (serial "QM0000n", firmware "2.5+", models
 * "QEMU HARDDISK" and "QEMU DVD-ROM"), and the CHS geometry QEMU guesses for a disk.
 */

export const MAX_MULT_SECTORS = 16;
export const QEMU_FIRMWARE = "2.5+";

export interface Geometry {
  cylinders: number;
  heads: number;
  sectors: number;
}

/** QEMU's default geometry for a disk of this many sectors: 16 heads, 63 sectors, cylinders capped. */
export function guessGeometry(totalSectors: number): Geometry {
  const cylinders = Math.min(Math.max(Math.floor(totalSectors / (16 * 63)), 1), 16383);
  return { cylinders, heads: 16, sectors: 63 };
}

/** ATA strings are stored two characters per word, first character in the high byte, space padded. */
function putString(words: Uint16Array, first: number, count: number, text: string): void {
  const s = text.padEnd(count * 2, " ");
  for (let i = 0; i < count; i++) words[first + i] = (s.charCodeAt(2 * i) << 8) | s.charCodeAt(2 * i + 1);
}

function toBytes(words: Uint16Array): Uint8Array {
  const out = new Uint8Array(512);
  const v = new DataView(out.buffer);
  words.forEach((w, i) => v.setUint16(i * 2, w, true));
  return out;
}

export interface IdentifyParams {
  totalSectors: number;
  geometry: Geometry;
  serial: string;
  model: string;
  multSectors: number;
  writeCache: boolean;
  /** The transfer mode selected by SET FEATURES: 0x0N PIO, 0x2N MWDMA, 0x4N UDMA. */
  xferMode: number;
}

export function identifyDevice(p: IdentifyParams): Uint8Array {
  const w = new Uint16Array(256);
  const { cylinders, heads, sectors } = p.geometry;
  w[0] = 0x0040;
  w[1] = cylinders;
  w[3] = heads;
  w[4] = 512 * sectors;
  w[5] = 512;
  w[6] = sectors;
  putString(w, 10, 10, p.serial);
  w[20] = 3;
  w[21] = 512;
  w[22] = 4;
  putString(w, 23, 4, QEMU_FIRMWARE);
  putString(w, 27, 20, p.model);
  w[47] = 0x8000 | MAX_MULT_SECTORS;
  w[48] = 1; // dword I/O
  w[49] = (1 << 11) | (1 << 9) | (1 << 8); // IORDY, LBA, DMA
  w[51] = 0x200;
  w[52] = 0x200;
  w[53] = 1 | 2 | 4;
  w[54] = cylinders;
  w[55] = heads;
  w[56] = sectors;
  const chs = cylinders * heads * sectors;
  w[57] = chs & 0xffff;
  w[58] = chs >>> 16;
  if (p.multSectors) w[59] = 0x100 | p.multSectors;
  const lba28 = Math.min(p.totalSectors, 0x0fffffff);
  w[60] = lba28 & 0xffff;
  w[61] = lba28 >>> 16;
  w[62] = 0x07;
  w[63] = 0x07 | ((p.xferMode >> 3) === 4 ? 1 << (8 + (p.xferMode & 7)) : 0);
  w[64] = 0x03;
  w[65] = 120;
  w[66] = 120;
  w[67] = 120;
  w[68] = 120;
  w[69] = 1 << 14;
  w[80] = 0xf0;
  w[81] = 0x16;
  w[82] = (1 << 14) | (1 << 5) | 1; // NOP, write cache, SMART
  w[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10); // FLUSH EXT, FLUSH, LBA48
  w[84] = 1 << 14;
  w[85] = (1 << 14) | (p.writeCache ? 1 << 5 : 0) | 1;
  w[86] = (1 << 13) | (1 << 12) | (1 << 10);
  w[87] = 1 << 14;
  w[88] = 0x3f | ((p.xferMode >> 3) === 8 ? 1 << (8 + (p.xferMode & 7)) : 0);
  w[93] = 1 | (1 << 14) | 0x2000;
  const big = BigInt(p.totalSectors);
  for (let i = 0; i < 4; i++) w[100 + i] = Number((big >> BigInt(16 * i)) & 0xffffn);
  w[106] = 0x6000; // one 512-byte logical sector per physical sector
  w[169] = 1; // DATA SET MANAGEMENT TRIM
  return toBytes(w);
}

export function identifyPacketDevice(p: { serial: string; model: string; xferMode: number }): Uint8Array {
  const w = new Uint16Array(256);
  // ATAPI, removable, CD-ROM, 50 us DRQ, 12-byte packets.
  w[0] = (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5);
  putString(w, 10, 10, p.serial);
  w[20] = 3;
  w[21] = 512;
  w[22] = 4;
  putString(w, 23, 4, QEMU_FIRMWARE);
  putString(w, 27, 20, p.model);
  w[48] = 1;
  w[49] = (1 << 9) | (1 << 8); // LBA, DMA
  w[53] = 7;
  w[62] = 7;
  w[63] = 7 | ((p.xferMode >> 3) === 4 ? 1 << (8 + (p.xferMode & 7)) : 0);
  w[64] = 3;
  w[65] = 0xb4;
  w[66] = 0xb4;
  w[67] = 0x12c;
  w[68] = 0xb4;
  w[71] = 30;
  w[72] = 30;
  w[80] = 0x1e;
  w[88] = 0x3f | ((p.xferMode >> 3) === 8 ? 1 << (8 + (p.xferMode & 7)) : 0);
  return toBytes(w);
}
