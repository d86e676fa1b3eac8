/**
 * ATAPI (SCSI MMC over the IDE PACKET command) for the CD-ROM drive, as QEMU's hw/ide/atapi.c
 * answers: INQUIRY, TEST UNIT READY, REQUEST SENSE, READ CAPACITY, READ(10)/(12), MODE SENSE(10),
 * GET EVENT STATUS NOTIFICATION, START STOP UNIT (eject/load), PREVENT ALLOW MEDIUM REMOVAL,
 * READ TOC, GET CONFIGURATION, MECHANISM STATUS, SEEK, SET CD SPEED. Data goes out by PIO in chunks
 * of the host's byte-count limit (interrupt reason IO) or by bus-master DMA when the packet asked.
 */
import type { IdeChannel, IdeDrive } from "./ide.ts";
import { DRQ_STAT, ERR_STAT, READY_STAT, SEEK_STAT } from "./ide.ts";

export const CD_SECTOR_SIZE = 2048;
export const SENSE_NONE = 0, SENSE_NOT_READY = 2, SENSE_ILLEGAL_REQUEST = 5, SENSE_UNIT_ATTENTION = 6;
export const ASC_ILLEGAL_OPCODE = 0x20, ASC_LOGICAL_BLOCK_OOR = 0x21, ASC_INV_FIELD_IN_CMD_PACKET = 0x24;
export const ASC_MEDIUM_MAY_HAVE_CHANGED = 0x28, ASC_SAVING_PARAMETERS_NOT_SUPPORTED = 0x39;
export const ASC_MEDIUM_NOT_PRESENT = 0x3a, ASC_MEDIA_REMOVAL_PREVENTED = 0x53;
const INT_REASON_CD = 0x01, INT_REASON_IO = 0x02;
/** Discs longer than 80 minutes of CD are DVDs, for the profile and medium type. */
const CD_MAX_SECTORS = 80 * 60 * 75;

/** Per-drive ATAPI state. */
export class AtapiState {
  senseKey = SENSE_NONE;
  asc = 0;
  /** The packet asked for DMA (features bit 0). */
  dma = false;
  byteCountLimit = 0xfffe;
  locked = false;
  trayOpen = false;
  /** Pending media event for GET EVENT STATUS NOTIFICATION (0 none, 1 eject request, 2 new, 3 removal). */
  mediaEvent = 0;
  /** A unit attention is owed after a medium change. */
  unitAttention = false;
  /** Told when the tray opens or closes (QMP's DEVICE_TRAY_MOVED). */
  onTrayMoved?: (open: boolean) => void;
}

/** Commands that need a medium present. */
const CHECK_READY = new Set([0x00, 0x25, 0x28, 0xa8, 0x43, 0x2b, 0xbe, 0xb9, 0x51]);
/** Commands that do not report a pending unit attention. */
const ALLOW_UA = new Set([0x12, 0x03, 0x4a]);

function mediaPresent(d: IdeDrive): boolean {
  return d.driver !== undefined && !d.atapi.trayOpen;
}

function cdSectors(d: IdeDrive): number {
  return d.driver ? Math.floor(d.driver.size / CD_SECTOR_SIZE) : 0;
}

function be16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >> 8 & 0xff;
  b[at + 1] = v & 0xff;
}
function be32(b: Uint8Array, at: number, v: number): void {
  new DataView(b.buffer, b.byteOffset).setUint32(at, v >>> 0);
}
function pad(b: Uint8Array, at: number, len: number, s: string): void {
  const t = s.padEnd(len, " ");
  for (let i = 0; i < len; i++) b[at + i] = t.charCodeAt(i);
}
/** MSF address of an LBA (150 frames of lead-in), with a zero reserved byte first. */
function msf(b: Uint8Array, at: number, lba: number): void {
  const l = lba + 150;
  b[at] = 0;
  b[at + 1] = Math.floor(l / (75 * 60));
  b[at + 2] = Math.floor(l / 75) % 60;
  b[at + 3] = l % 75;
}

export function atapiOk(ch: IdeChannel, d: IdeDrive): void {
  d.error = 0;
  d.status = READY_STAT | SEEK_STAT;
  d.nsector = (d.nsector & ~7) | INT_REASON_IO | INT_REASON_CD;
  ch.raiseIrq();
}

export function atapiError(ch: IdeChannel, d: IdeDrive, senseKey: number, asc: number): void {
  d.error = senseKey << 4;
  d.status = READY_STAT | ERR_STAT;
  d.nsector = (d.nsector & ~7) | INT_REASON_IO | INT_REASON_CD;
  d.atapi.senseKey = senseKey;
  d.atapi.asc = asc;
  d.dataPos = d.dataEnd = 0;
  d.endTransfer = undefined;
  ch.raiseIrq();
}

/**
 * Sends `length` bytes produced by fill(pos, chunk) to the host: by DMA if the packet asked,
 * else by PIO in chunks of the byte-count limit.
 */
function dataIn(
  ch: IdeChannel,
  d: IdeDrive,
  length: number,
  fill: (pos: number, chunk: Uint8Array) => void,
): void {
  if (length === 0) {
    atapiOk(ch, d);
    return;
  }
  if (d.atapi.dma) {
    if (!ch.dma) {
      atapiError(ch, d, SENSE_ILLEGAL_REQUEST, ASC_INV_FIELD_IN_CMD_PACKET);
      return;
    }
    d.status = READY_STAT | SEEK_STAT | DRQ_STAT;
    ch.dma.submit({
      toMemory: true,
      length,
      transfer: fill,
      done: (_moved, error) => error === undefined ? atapiOk(ch, d) : atapiError(ch, d, 3, 0x11),
    });
    return;
  }
  let limit = d.atapi.byteCountLimit;
  if (limit & 1) limit--;
  let pos = 0;
  const next = () => {
    if (pos >= length) {
      d.dataPos = d.dataEnd = 0;
      d.endTransfer = undefined;
      atapiOk(ch, d);
      return;
    }
    const n = Math.min(limit, length - pos, d.ioBuffer.length);
    try {
      fill(pos, d.ioBuffer.subarray(0, n));
    } catch {
      atapiError(ch, d, 3, 0x11); // MEDIUM ERROR, unrecovered read error
      return;
    }
    pos += n;
    d.lcyl = n & 0xff;
    d.hcyl = n >> 8 & 0xff;
    d.nsector = (d.nsector & ~7) | INT_REASON_IO;
    ch.startPio(d, n, next);
    ch.raiseIrq();
  };
  next();
}

/** Sends a reply buffer, cut to the allocation length. */
function reply(ch: IdeChannel, d: IdeDrive, buf: Uint8Array, allocation: number): void {
  const data = buf.subarray(0, Math.min(buf.length, allocation));
  dataIn(ch, d, data.length, (pos, chunk) => chunk.set(data.subarray(pos, pos + chunk.length)));
}

function readSectors(ch: IdeChannel, d: IdeDrive, lba: number, count: number): void {
  if (lba + count > cdSectors(d)) {
    atapiError(ch, d, SENSE_ILLEGAL_REQUEST, ASC_LOGICAL_BLOCK_OOR);
    return;
  }
  const driver = d.driver!;
  const base = lba * CD_SECTOR_SIZE;
  dataIn(ch, d, count * CD_SECTOR_SIZE, (pos, chunk) => driver.read(base + pos, chunk));
}

/** Changes the medium (QMP eject / blockdev-change-medium): raises the media events a guest polls. */
export function changeMedium(d: IdeDrive, driver: IdeDrive["driver"]): void {
  d.driver = driver;
  d.atapi.trayOpen = false;
  d.atapi.mediaEvent = driver ? 2 : 3;
  d.atapi.unitAttention = driver !== undefined;
}

function setTray(d: IdeDrive, open: boolean): void {
  if (d.atapi.trayOpen === open) return;
  d.atapi.trayOpen = open;
  d.atapi.mediaEvent = open ? 3 : (d.driver ? 2 : 0);
  d.atapi.onTrayMoved?.(open);
}

export function atapiPacket(ch: IdeChannel, d: IdeDrive, cmd: Uint8Array): void {
  const op = cmd[0];
  const st = d.atapi;
  if (st.unitAttention && !ALLOW_UA.has(op)) {
    st.unitAttention = false;
    atapiError(ch, d, SENSE_UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED);
    return;
  }
  if (CHECK_READY.has(op) && !mediaPresent(d)) {
    atapiError(ch, d, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
    return;
  }
  const u16 = (at: number) => cmd[at] << 8 | cmd[at + 1];
  const u32 = (at: number) =>
    ((cmd[at] << 24) | (cmd[at + 1] << 16) | (cmd[at + 2] << 8) | cmd[at + 3]) >>> 0;
  switch (op) {
    case 0x00: // TEST UNIT READY
    case 0x2b: // SEEK(10)
    case 0xbb: // SET CD SPEED
      atapiOk(ch, d);
      return;
    case 0x03: { // REQUEST SENSE
      const b = new Uint8Array(18);
      b[0] = 0x70 | 0x80;
      b[2] = st.senseKey;
      b[7] = 10;
      b[12] = st.asc;
      if (st.senseKey === SENSE_UNIT_ATTENTION) st.senseKey = SENSE_NONE;
      reply(ch, d, b, cmd[4]);
      st.senseKey = SENSE_NONE;
      st.asc = 0;
      return;
    }
    case 0x12: { // INQUIRY
      const b = new Uint8Array(36);
      b[0] = 0x05;
      b[1] = 0x80;
      b[3] = 0x21;
      b[4] = 31;
      pad(b, 8, 8, "QEMU");
      pad(b, 16, 16, d.model);
      pad(b, 32, 4, "2.5+");
      reply(ch, d, b, cmd[4]);
      return;
    }
    case 0x1b: { // START STOP UNIT
      const start = cmd[4] & 1, loej = cmd[4] & 2;
      if (loej) {
        if (!start && st.locked) {
          atapiError(ch, d, SENSE_NOT_READY, ASC_MEDIA_REMOVAL_PREVENTED);
          return;
        }
        setTray(d, !start);
      }
      atapiOk(ch, d);
      return;
    }
    case 0x1e: // PREVENT ALLOW MEDIUM REMOVAL
      st.locked = (cmd[4] & 1) !== 0;
      atapiOk(ch, d);
      return;
    case 0x25: { // READ CAPACITY
      const b = new Uint8Array(8);
      be32(b, 0, cdSectors(d) - 1);
      be32(b, 4, CD_SECTOR_SIZE);
      reply(ch, d, b, 8);
      return;
    }
    case 0x28: { // READ(10)
      const count = u16(7);
      if (count === 0) atapiOk(ch, d);
      else readSectors(ch, d, u32(2), count);
      return;
    }
    case 0xa8: { // READ(12)
      const count = u32(6);
      if (count === 0) atapiOk(ch, d);
      else readSectors(ch, d, u32(2), count);
      return;
    }
    case 0x43: { // READ TOC
      const useMsf = (cmd[1] & 2) !== 0;
      const format = cmd[9] >> 6 || (cmd[2] & 0x0f);
      const max = u16(7);
      const b = new Uint8Array(32);
      const addr = (at: number, lba: number) => useMsf ? msf(b, at, lba) : be32(b, at, lba);
      let len: number;
      if (format === 0) {
        const startTrack = cmd[6];
        if (startTrack > 1 && startTrack !== 0xaa) {
          atapiError(ch, d, SENSE_ILLEGAL_REQUEST, ASC_INV_FIELD_IN_CMD_PACKET);
          return;
        }
        b[2] = 1;
        b[3] = 1;
        len = 4;
        if (startTrack <= 1) {
          b[len + 1] = 0x14;
          b[len + 2] = 1;
          addr(len + 4, 0);
          len += 8;
        }
        b[len + 1] = 0x16;
        b[len + 2] = 0xaa;
        addr(len + 4, cdSectors(d));
        len += 8;
      } else if (format === 1) {
        b[2] = 1;
        b[3] = 1;
        b[5] = 0x14;
        b[6] = 1;
        addr(8, 0);
        len = 12;
      } else {
        atapiError(ch, d, SENSE_ILLEGAL_REQUEST, ASC_INV_FIELD_IN_CMD_PACKET);
        return;
      }
      be16(b, 0, len - 2);
      reply(ch, d, b.subarray(0, len), max);
      return;
    }
    case 0x46: { // GET CONFIGURATION: the profile list feature
      const dvd = cdSectors(d) > CD_MAX_SECTORS;
      const b = new Uint8Array(20);
      be32(b, 0, 16);
      if (mediaPresent(d)) be16(b, 6, dvd ? 0x0010 : 0x0008);
      b[10] = 0x03;
      b[11] = 8;
      be16(b, 12, 0x0010);
      b[14] = dvd && mediaPresent(d) ? 1 : 0;
      be16(b, 16, 0x0008);
      b[18] = !dvd && mediaPresent(d) ? 1 : 0;
      reply(ch, d, b, u16(7));
      return;
    }
    case 0x4a: { // GET EVENT STATUS NOTIFICATION (polled only)
      if (!(cmd[1] & 1)) {
        atapiError(ch, d, SENSE_ILLEGAL_REQUEST, ASC_INV_FIELD_IN_CMD_PACKET);
        return;
      }
      const b = new Uint8Array(8);
      if (cmd[4] & 0x10) {
        be16(b, 0, 6);
        b[2] = 0x04;
        b[3] = 0x10;
        b[4] = st.mediaEvent;
        b[5] = (st.trayOpen ? 1 : 0) | (mediaPresent(d) ? 2 : 0);
        st.mediaEvent = 0;
        reply(ch, d, b, u16(7));
      } else {
        be16(b, 0, 2);
        b[2] = 0x80;
        b[3] = 0x10;
        reply(ch, d, b.subarray(0, 4), u16(7));
      }
      return;
    }
    case 0x5a: { // MODE SENSE(10)
      const control = cmd[2] >> 6, page = cmd[2] & 0x3f;
      if (control === 3) {
        atapiError(ch, d, SENSE_ILLEGAL_REQUEST, ASC_SAVING_PARAMETERS_NOT_SUPPORTED);
        return;
      }
      const b = new Uint8Array(28);
      b[2] = 0x70;
      let len: number;
      if (page === 0x01) {
        b[8] = 0x01;
        b[9] = 0x06;
        b[11] = 0x05;
        len = 16;
      } else if (page === 0x2a) {
        b[8] = 0x2a;
        b[9] = 0x12;
        b[10] = 0x3b;
        b[12] = 0x71;
        b[13] = 3 << 5;
        b[14] = (1 << 0) | (1 << 3) | (1 << 5) | (st.locked ? 1 << 1 : 0);
        be16(b, 16, 704);
        b[19] = 2;
        be16(b, 20, 512);
        be16(b, 22, 704);
        len = 28;
      } else {
        atapiError(ch, d, SENSE_ILLEGAL_REQUEST, ASC_INV_FIELD_IN_CMD_PACKET);
        return;
      }
      be16(b, 0, len - 2);
      reply(ch, d, b.subarray(0, len), u16(7));
      return;
    }
    case 0xbd: { // MECHANISM STATUS
      const b = new Uint8Array(8);
      b[5] = 1;
      reply(ch, d, b, u16(8));
      return;
    }
    default:
      atapiError(ch, d, SENSE_ILLEGAL_REQUEST, ASC_ILLEGAL_OPCODE);
  }
}
