/**
 * An IDE channel (command block at 0x1F0/0x170, control at 0x3F6/0x376) with a master and a slave
 * drive on BlockDrivers: the ATA task file with LBA28/LBA48 (HOB) and CHS addressing, PIO data
 * transfers through the data port (16 and 32 bit), and DMA jobs handed to the bus-master engine
 * (see piix_ide.ts). The ATA command set is a table below; ATAPI (PACKET) lives in atapi.ts.
 * Commands complete synchronously, so BSY is never seen: a guest polling or waiting for the IRQ
 * both work. Behaviour and reset values follow QEMU 7.2's hw/ide/core.c.
 */
import type { AccessSize, PortDevice } from "./bus.ts";
import type { BlockDriver } from "../image/block_driver.ts";
import type { IrqLine } from "./irq.ts";
import {
  type Geometry,
  guessGeometry,
  identifyDevice,
  identifyPacketDevice,
  MAX_MULT_SECTORS,
} from "./ide_identify.ts";
import { atapiPacket, AtapiState } from "./atapi.ts";
import { type DeviceState, DeviceStateError, loadFields, saveFields, sub, subList } from "./state.ts";

export const ERR_STAT = 0x01, DRQ_STAT = 0x08, SEEK_STAT = 0x10, WRERR_STAT = 0x20, READY_STAT = 0x40;
export const BUSY_STAT = 0x80;
export const ABRT_ERR = 0x04, IDNF_ERR = 0x10, UNC_ERR = 0x40;
const CTRL_NIEN = 0x02, CTRL_SRST = 0x04, CTRL_HOB = 0x80;
export const SECTOR_SIZE = 512;
/** PIO buffer: the largest ATAPI PIO chunk (byte count limit 0xFFFE) rounded up. */
const IO_BUFFER_SIZE = 0x20000;

/** A transfer the bus-master engine carries out: a byte stream between a drive and guest memory. */
export interface DmaJob {
  /** true: device to memory (a read command). */
  toMemory: boolean;
  length: number;
  /** Fills chunk from stream position pos (toMemory) or consumes it (from memory). */
  transfer(pos: number, chunk: Uint8Array): void;
  /** Called once with the bytes moved; short when the PRD table ran out first. */
  done(transferred: number, error?: unknown): void;
}

/** The bus-master side a channel hands DMA jobs to. */
export interface DmaEngine {
  /** Runs the job now if the engine is started, or keeps it until it is. */
  submit(job: DmaJob): void;
  /** The device raised its interrupt (sets the engine's interrupt status bit). */
  interrupt(): void;
  cancel(): void;
}

export type DriveKind = "disk" | "cdrom";

export interface IdeDriveOptions {
  kind?: DriveKind;
  /** The medium; a cdrom may start empty. */
  driver?: BlockDriver;
  serial?: string;
  model?: string;
  geometry?: Geometry;
}

export class IdeDrive {
  readonly kind: DriveKind;
  driver: BlockDriver | undefined;
  serial: string;
  model: string;
  geometry: Geometry;
  /** Sectors per transfer block for READ/WRITE MULTIPLE (0 = not set). */
  multSectors = MAX_MULT_SECTORS;
  writeCache = true;
  /** QEMU reports UDMA mode 5 selected until SET FEATURES says otherwise. */
  xferMode = 0x45;

  // Task file (each drive keeps its own copy; writes go to both, as on the cable).
  feature = 0;
  nsector = 0;
  sector = 0;
  lcyl = 0;
  hcyl = 0;
  hobFeature = 0;
  hobNsector = 0;
  hobSector = 0;
  hobLcyl = 0;
  hobHcyl = 0;
  select = 0xa0;
  status = 0;
  error = 0;
  lba48 = false;

  readonly ioBuffer = new Uint8Array(IO_BUFFER_SIZE);
  dataPos = 0;
  dataEnd = 0;
  /** What happens when the guest has moved the last byte of the current PIO block. */
  endTransfer: (() => void) | undefined;
  /** Remaining sectors of a multi-block PIO command, and where the next block starts. */
  remaining = 0;
  nextLba = 0;
  /** Sectors per DRQ block of the running PIO command. */
  perBlock = 1;
  /** What the running PIO transfer is, so a restored snapshot can carry on with it. */
  pioKind: PioKind = "";
  /** An ATA DMA command waiting for the bus master to start: [toMemory, lba, count], or null. */
  dmaPending: [boolean, number, number] | null = null;
  readonly atapi = new AtapiState();

  constructor(options: IdeDriveOptions = {}, index = 0) {
    this.kind = options.kind ?? "disk";
    this.driver = options.driver;
    this.serial = options.serial ?? `QM0000${index + 1}`;
    this.model = options.model ?? (this.kind === "cdrom" ? "QEMU DVD-ROM" : "QEMU HARDDISK");
    this.geometry = options.geometry ?? guessGeometry(this.totalSectors);
    this.resetRegisters();
  }

  get totalSectors(): number {
    return this.driver ? Math.floor(this.driver.size / SECTOR_SIZE) : 0;
  }

  get isAtapi(): boolean {
    return this.kind === "cdrom";
  }

  /** Puts the power-on signature in the task file (ATA: 01/01/00/00; ATAPI: 14/EB). */
  resetRegisters(): void {
    this.multSectors = MAX_MULT_SECTORS;
    this.nsector = 1;
    this.sector = 1;
    this.feature = 0;
    this.select = 0xa0 | (this.select & 0x10);
    if (this.isAtapi) {
      this.lcyl = 0x14;
      this.hcyl = 0xeb;
      this.status = 0;
    } else {
      this.lcyl = 0;
      this.hcyl = 0;
      this.status = READY_STAT | SEEK_STAT;
    }
    this.error = 1;
    this.dataPos = this.dataEnd = 0;
    this.endTransfer = undefined;
  }

  /** The start sector the task file addresses (LBA48, LBA28 or CHS). */
  taskSector(): number {
    if (this.lba48) {
      return ((this.hobHcyl << 16 | this.hobLcyl << 8 | this.hobSector) * 0x1000000) +
        ((this.hcyl << 16 | this.lcyl << 8 | this.sector) >>> 0);
    }
    if (this.select & 0x40) {
      return ((this.select & 0x0f) << 24 | this.hcyl << 16 | this.lcyl << 8 | this.sector) >>> 0;
    }
    const cyl = this.hcyl << 8 | this.lcyl;
    return (cyl * this.geometry.heads + (this.select & 0x0f)) * this.geometry.sectors + (this.sector - 1);
  }

  /** Writes a sector number back into the task file, as the drive does after a transfer. */
  setTaskSector(n: number): void {
    if (this.lba48) {
      const lo = n % 0x1000000, hi = Math.floor(n / 0x1000000);
      this.sector = lo & 0xff;
      this.lcyl = lo >> 8 & 0xff;
      this.hcyl = lo >> 16 & 0xff;
      this.hobSector = hi & 0xff;
      this.hobLcyl = hi >> 8 & 0xff;
      this.hobHcyl = hi >> 16 & 0xff;
    } else if (this.select & 0x40) {
      this.select = (this.select & 0xf0) | (n >>> 24 & 0x0f);
      this.hcyl = n >> 16 & 0xff;
      this.lcyl = n >> 8 & 0xff;
      this.sector = n & 0xff;
    } else {
      const { heads, sectors } = this.geometry;
      const cyl = Math.floor(n / (heads * sectors));
      const r = n % (heads * sectors);
      this.hcyl = cyl >> 8 & 0xff;
      this.lcyl = cyl & 0xff;
      this.select = (this.select & 0xf0) | (Math.floor(r / sectors) & 0x0f);
      this.sector = r % sectors + 1;
    }
  }

  /** The sector count of the command in the task file (0 means 256, or 65536 for LBA48). */
  taskCount(): number {
    if (this.lba48) return (this.hobNsector << 8 | this.nsector) || 65536;
    return this.nsector || 256;
  }

  identifyBlock(): Uint8Array {
    return this.isAtapi ? identifyPacketDevice(this) : identifyDevice({
      totalSectors: this.totalSectors,
      geometry: this.geometry,
      serial: this.serial,
      model: this.model,
      multSectors: this.multSectors,
      writeCache: this.writeCache,
      xferMode: this.xferMode,
    });
  }
}

type AtaHandler = (ch: IdeChannel, d: IdeDrive) => void;

/**
 * "" none, "read"/"write" ATA sector PIO, "single" a one-block reply, "packet" the ATAPI command
 * bytes, "atapi" an ATAPI data phase.
 */
export type PioKind = "" | "read" | "write" | "single" | "packet" | "atapi";

const DRIVE_STATE = [
  "multSectors",
  "writeCache",
  "xferMode",
  "feature",
  "nsector",
  "sector",
  "lcyl",
  "hcyl",
  "hobFeature",
  "hobNsector",
  "hobSector",
  "hobLcyl",
  "hobHcyl",
  "select",
  "status",
  "error",
  "lba48",
  "dataPos",
  "dataEnd",
  "remaining",
  "nextLba",
  "perBlock",
  "pioKind",
  "dmaPending",
] as const;
const ATAPI_STATE = [
  "senseKey",
  "asc",
  "dma",
  "byteCountLimit",
  "locked",
  "trayOpen",
  "mediaEvent",
  "unitAttention",
] as const;
const CHANNEL_STATE = ["unit", "control", "irqPending"] as const;

/** Properties of the ATA commands: handler and whether the command uses 48-bit addressing. */
interface AtaCommand {
  run: AtaHandler;
  lba48?: boolean;
  /** Allowed on an ATAPI device (others abort with the packet signature in place). */
  atapi?: boolean;
  /** Allowed on a disk. */
  disk?: boolean;
}

export class IdeChannel implements PortDevice {
  readonly drives: [IdeDrive | undefined, IdeDrive | undefined] = [undefined, undefined];
  unit = 0;
  control = 0;
  irqPending = false;
  dma: DmaEngine | undefined;

  /** Register latches for slots without a drive. */
  private readonly emptySlots: [IdeDrive, IdeDrive] = [new IdeDrive({}, 0), new IdeDrive({}, 1)];

  constructor(readonly iobase: number, readonly ctrlbase: number, private readonly irq: IrqLine) {}

  attach(unit: 0 | 1, drive: IdeDrive): void {
    this.drives[unit] = drive;
  }

  get current(): IdeDrive | undefined {
    return this.drives[this.unit];
  }

  reset(): void {
    this.unit = 0;
    this.control = 0;
    for (const d of this.drives) d?.resetRegisters();
    this.irqPending = false;
    this.irq.lower();
    this.dma?.cancel();
  }

  raiseIrq(): void {
    this.irqPending = true;
    this.dma?.interrupt();
    if (!(this.control & CTRL_NIEN)) this.irq.raise();
  }

  private lowerIrq(): void {
    this.irqPending = false;
    this.irq.lower();
  }

  // ---- results ----

  abort(d: IdeDrive): void {
    d.status = READY_STAT | ERR_STAT;
    d.error = ABRT_ERR;
    d.endTransfer = undefined;
    d.dataPos = d.dataEnd = 0;
    this.raiseIrq();
  }

  private fail(d: IdeDrive, error: number): void {
    d.status = READY_STAT | ERR_STAT;
    d.error = error;
    d.endTransfer = undefined;
    d.dataPos = d.dataEnd = 0;
    this.raiseIrq();
  }

  complete(d: IdeDrive): void {
    d.status = READY_STAT | SEEK_STAT;
    d.error = 0;
    this.raiseIrq();
  }

  /** Offers bytes [0, length) of d.ioBuffer to the guest's data-port reads (or writes). */
  startPio(d: IdeDrive, length: number, end: () => void, kind: PioKind = "atapi"): void {
    d.dataPos = 0;
    d.dataEnd = length;
    d.endTransfer = end;
    d.pioKind = kind;
    d.status = READY_STAT | SEEK_STAT | DRQ_STAT;
  }

  private stopPio(d: IdeDrive): void {
    d.dataPos = d.dataEnd = 0;
    d.endTransfer = undefined;
    d.pioKind = "";
    d.status &= ~DRQ_STAT;
  }

  // ---- sector transfers ----

  private checkRange(d: IdeDrive, lba: number, count: number): boolean {
    if (!d.driver || lba + count > d.totalSectors) {
      this.fail(d, IDNF_ERR);
      return false;
    }
    return true;
  }

  /** READ SECTORS / READ MULTIPLE: one block per DRQ, an IRQ before each. */
  pioRead(d: IdeDrive, perBlock: number): void {
    const lba = d.taskSector(), count = d.taskCount();
    if (!this.checkRange(d, lba, count)) return;
    d.nextLba = lba;
    d.remaining = count;
    d.perBlock = perBlock;
    this.pioReadNext(d);
  }

  private pioReadNext(d: IdeDrive): void {
    if (d.remaining === 0) {
      this.stopPio(d);
      d.status = READY_STAT | SEEK_STAT;
      return;
    }
    const n = Math.min(d.perBlock, d.remaining);
    try {
      d.driver!.read(d.nextLba * SECTOR_SIZE, d.ioBuffer.subarray(0, n * SECTOR_SIZE));
    } catch {
      this.fail(d, UNC_ERR);
      return;
    }
    d.nextLba += n;
    d.remaining -= n;
    d.setTaskSector(d.nextLba - 1);
    this.startPio(d, n * SECTOR_SIZE, () => this.pioReadNext(d), "read");
    this.raiseIrq();
  }

  /** WRITE SECTORS / WRITE MULTIPLE: DRQ without IRQ for the first block, IRQ after each block. */
  pioWrite(d: IdeDrive, perBlock: number): void {
    const lba = d.taskSector(), count = d.taskCount();
    if (!this.checkRange(d, lba, count)) return;
    if (d.driver!.readOnly) {
      this.abort(d);
      return;
    }
    d.nextLba = lba;
    d.remaining = count;
    d.perBlock = perBlock;
    this.startPio(d, Math.min(perBlock, count) * SECTOR_SIZE, () => this.pioWriteBlock(d), "write");
  }

  /** The guest filled a block: write it, then ask for the next or finish. */
  private pioWriteBlock(d: IdeDrive): void {
    const n = d.dataEnd / SECTOR_SIZE;
    try {
      d.driver!.write(d.nextLba * SECTOR_SIZE, d.ioBuffer.subarray(0, n * SECTOR_SIZE));
    } catch {
      this.fail(d, UNC_ERR);
      return;
    }
    d.nextLba += n;
    d.remaining -= n;
    d.setTaskSector(d.nextLba - 1);
    if (d.remaining === 0) {
      this.stopPio(d);
      this.complete(d);
      return;
    }
    this.startPio(d, Math.min(d.perBlock, d.remaining) * SECTOR_SIZE, () => this.pioWriteBlock(d), "write");
    this.raiseIrq();
  }

  /** READ/WRITE DMA: status shows DRQ until the bus master moves the data. */
  dmaTransfer(d: IdeDrive, toMemory: boolean): void {
    this.resubmitDma(d, toMemory, d.taskSector(), d.taskCount());
  }

  private resubmitDma(d: IdeDrive, toMemory: boolean, lba: number, count: number): void {
    if (!this.checkRange(d, lba, count)) return;
    if (!toMemory && d.driver!.readOnly) {
      this.abort(d);
      return;
    }
    if (!this.dma) {
      this.abort(d);
      return;
    }
    const base = lba * SECTOR_SIZE;
    const driver = d.driver!;
    d.status = READY_STAT | SEEK_STAT | DRQ_STAT;
    d.dmaPending = [toMemory, lba, count];
    this.dma.submit({
      toMemory,
      length: count * SECTOR_SIZE,
      transfer: (pos, chunk) => toMemory ? driver.read(base + pos, chunk) : driver.write(base + pos, chunk),
      done: (moved, error) => {
        d.dmaPending = null;
        if (error !== undefined) {
          this.fail(d, toMemory ? UNC_ERR : ABRT_ERR);
          return;
        }
        const sectors = Math.floor(moved / SECTOR_SIZE);
        if (sectors) d.setTaskSector(lba + sectors - 1);
        if (moved < count * SECTOR_SIZE) {
          // The PRD table was shorter than the command: QEMU stops without an interrupt.
          d.status = READY_STAT | SEEK_STAT;
          return;
        }
        this.complete(d);
      },
    });
  }

  // ---- the command table ----

  private static readonly commands: Record<number, AtaCommand> = (() => {
    const t: Record<number, AtaCommand> = {};
    const disk = (codes: number[], run: AtaHandler, lba48 = false) => {
      for (const c of codes) t[c] = { run, lba48, disk: true };
    };
    const both = (codes: number[], run: AtaHandler) => {
      for (const c of codes) t[c] = { run, disk: true, atapi: true };
    };
    const mult = (d: IdeDrive) => d.multSectors || 0;
    disk([0xec], (ch, d) => {
      d.ioBuffer.set(d.identifyBlock());
      ch.startPio(d, 512, () => ch.finishPio(d), "single");
      ch.raiseIrq();
    });
    t[0xa1] = {
      atapi: true,
      run: (ch, d) => {
        d.ioBuffer.set(d.identifyBlock());
        ch.startPio(d, 512, () => ch.finishPio(d), "single");
        ch.raiseIrq();
      },
    };
    disk([0x20, 0x21], (ch, d) => ch.pioRead(d, 1));
    disk([0x24], (ch, d) => ch.pioRead(d, 1), true);
    disk([0x30, 0x31], (ch, d) => ch.pioWrite(d, 1));
    disk([0x34], (ch, d) => ch.pioWrite(d, 1), true);
    disk([0xc4], (ch, d) => mult(d) ? ch.pioRead(d, mult(d)) : ch.abort(d));
    disk([0x29], (ch, d) => mult(d) ? ch.pioRead(d, mult(d)) : ch.abort(d), true);
    disk([0xc5], (ch, d) => mult(d) ? ch.pioWrite(d, mult(d)) : ch.abort(d));
    disk([0x39], (ch, d) => mult(d) ? ch.pioWrite(d, mult(d)) : ch.abort(d), true);
    disk([0xc8, 0xc9], (ch, d) => ch.dmaTransfer(d, true));
    disk([0x25], (ch, d) => ch.dmaTransfer(d, true), true);
    disk([0xca, 0xcb], (ch, d) => ch.dmaTransfer(d, false));
    disk([0x35], (ch, d) => ch.dmaTransfer(d, false), true);
    disk([0x06], (ch, d) => ch.dataSetManagement(d), true);
    disk([0x40, 0x41], (ch, d) => ch.verify(d));
    disk([0x42], (ch, d) => ch.verify(d), true);
    disk([0xc6], (ch, d) => {
      const n = d.nsector;
      if (n > MAX_MULT_SECTORS || (n & (n - 1)) !== 0) ch.abort(d);
      else {
        d.multSectors = n;
        ch.complete(d);
      }
    });
    disk([0x91], (ch, d) => {
      // INITIALIZE DEVICE PARAMETERS: the CHS translation the host wants.
      const heads = (d.select & 0x0f) + 1, sectors = d.nsector;
      if (sectors) {
        d.geometry = {
          heads,
          sectors,
          cylinders: Math.min(Math.floor(d.totalSectors / (heads * sectors)), 65535),
        };
      }
      ch.complete(d);
    });
    disk([0xe7, 0xea], (ch, d) => {
      try {
        d.driver?.flush();
      } catch {
        ch.abort(d);
        return;
      }
      ch.complete(d);
    });
    disk([0xf8], (ch, d) => {
      d.setTaskSector(Math.min(d.totalSectors, 0x10000000) - 1);
      ch.complete(d);
    });
    disk([0x27], (ch, d) => {
      d.setTaskSector(d.totalSectors - 1);
      ch.complete(d);
    }, true);
    disk([0x70, ...Array.from({ length: 16 }, (_, i) => 0x10 + i)], (ch, d) => ch.complete(d));
    disk([0xe0, 0xe1, 0xe2, 0xe3, 0xe6], (ch, d) => ch.complete(d));
    disk([0xe5], (ch, d) => {
      d.nsector = 0xff; // CHECK POWER MODE: active
      ch.complete(d);
    });
    both([0xef], (ch, d) => ch.setFeatures(d));
    both([0x00], (ch, d) => ch.abort(d));
    both([0x90], (ch, _d) => {
      // EXECUTE DEVICE DIAGNOSTIC: both drives get their signature; error 1 = passed.
      for (const x of ch.drives) if (x) x.resetRegisters();
      const cur = ch.drives[0] ?? ch.drives[1]!;
      cur.error = 0x01;
      ch.raiseIrq();
    });
    t[0x08] = {
      atapi: true,
      run: (_ch, d) => {
        d.resetRegisters();
        d.error = 0x01;
      },
    };
    t[0xa0] = { atapi: true, run: (ch, d) => ch.packet(d) };
    return t;
  })();

  /** DATA SET MANAGEMENT with TRIM: DMA-out blocks of 8-byte ranges (48-bit LBA, 16-bit count). */
  private dataSetManagement(d: IdeDrive): void {
    if (!(d.feature & 1) || !this.dma || !d.driver || d.driver.readOnly) {
      this.abort(d);
      return;
    }
    const driver = d.driver;
    const blocks = d.taskCount();
    const total = d.totalSectors;
    let bad = false;
    d.status = READY_STAT | SEEK_STAT | DRQ_STAT;
    this.dma.submit({
      toMemory: false,
      length: blocks * SECTOR_SIZE,
      transfer: (_pos, chunk) => {
        const v = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
        for (let i = 0; i + 8 <= chunk.length; i += 8) {
          const count = v.getUint16(i + 6, true);
          if (!count) continue;
          const lba = v.getUint32(i, true) + v.getUint16(i + 4, true) * 0x100000000;
          if (lba + count > total) bad = true;
          else driver.discard(lba * SECTOR_SIZE, count * SECTOR_SIZE);
        }
      },
      done: (_moved, error) => error !== undefined || bad ? this.abort(d) : this.complete(d),
    });
  }

  private verify(d: IdeDrive): void {
    if (this.checkRange(d, d.taskSector(), d.taskCount())) {
      d.setTaskSector(d.taskSector() + d.taskCount() - 1);
      this.complete(d);
    }
  }

  private setFeatures(d: IdeDrive): void {
    switch (d.feature) {
      case 0x02:
        d.writeCache = true;
        break;
      case 0x82:
        d.writeCache = false;
        break;
      case 0x03: { // set transfer mode from the sector count
        const mode = d.nsector;
        const kind = mode >> 3;
        if (![0, 1, 4, 8].includes(kind)) {
          this.abort(d);
          return;
        }
        d.xferMode = mode;
        break;
      }
      case 0x05:
      case 0x85:
      case 0x42:
      case 0xc2:
      case 0x55:
      case 0xaa:
      case 0x66:
      case 0xcc:
      case 0x31:
      case 0x67:
      case 0x96:
      case 0x9a:
      case 0x44:
        break;
      default:
        this.abort(d);
        return;
    }
    this.complete(d);
  }

  /** PACKET: DRQ for the 12 command bytes (interrupt reason CoD), then the ATAPI command. */
  private packet(d: IdeDrive): void {
    d.atapi.dma = (d.feature & 1) !== 0;
    d.atapi.byteCountLimit = (d.hcyl << 8 | d.lcyl) || 0xfffe;
    d.nsector = 0x01; // CoD
    this.startPio(d, 12, () => this.packetReceived(d), "packet");
  }

  private packetReceived(d: IdeDrive): void {
    const cmd = d.ioBuffer.slice(0, 12);
    this.stopPio(d);
    atapiPacket(this, d, cmd);
  }

  /**
   * Channel, drive and ATAPI registers with any PIO block in flight. A transfer resumes where it was,
   * except an ATAPI data phase, which ends at the restored block (the guest's driver times out and
   * retries, as after a lost interrupt).
   */
  saveState(): DeviceState {
    return {
      ...saveFields(this, CHANNEL_STATE),
      // Empty slots too: their task-file latches are guest-visible. Only the live part of the
      // PIO buffer is kept.
      drives: [0, 1].map((i) => {
        const d = this.regs(i);
        const io = Array.from(d.ioBuffer.subarray(0, d.dataEnd));
        return { ...saveFields(d, DRIVE_STATE), io, atapi: saveFields(d.atapi, ATAPI_STATE) };
      }),
    };
  }

  loadState(state: DeviceState): void {
    loadFields(this, CHANNEL_STATE, state);
    subList(state, "drives", 2).forEach((s, i) => {
      const d = this.regs(i);
      loadFields(d, DRIVE_STATE, s);
      if (!Array.isArray(s.io) || s.io.length > d.ioBuffer.length) {
        throw new DeviceStateError("bad IDE buffer");
      }
      d.ioBuffer.set(s.io as number[]);
      loadFields(d.atapi, ATAPI_STATE, sub(s, "atapi"));
      const ends: Record<PioKind, (() => void) | undefined> = {
        "": undefined,
        read: () => this.pioReadNext(d),
        write: () => this.pioWriteBlock(d),
        single: () => this.finishPio(d),
        packet: () => this.packetReceived(d),
        atapi: () => this.finishPio(d),
      };
      d.endTransfer = ends[d.pioKind];
      if (d.dmaPending) {
        // Re-issue the DMA command that was waiting for the bus master.
        const [toMemory, lba, count] = d.dmaPending;
        d.remaining = count;
        this.resubmitDma(d, toMemory, lba, count);
      }
    });
    this.irq.set(this.irqPending && !(this.control & CTRL_NIEN));
  }

  /** Ends a single-block PIO command once the guest read its data. */
  finishPio(d: IdeDrive): void {
    this.stopPio(d);
    d.status = READY_STAT | SEEK_STAT;
  }

  private command(value: number): void {
    const d = this.current;
    // Commands to an absent slave are dropped, as QEMU does.
    if (!d) return;
    const cmd = IdeChannel.commands[value];
    d.lba48 = cmd?.lba48 ?? false;
    if (!cmd || (d.isAtapi ? !cmd.atapi : !cmd.disk)) {
      if (d.isAtapi && value === 0xec) {
        // IDENTIFY DEVICE on ATAPI aborts with the packet signature in the cylinder registers.
        d.lcyl = 0x14;
        d.hcyl = 0xeb;
        d.nsector = 1;
        d.sector = 1;
      }
      this.abort(d);
      return;
    }
    d.error = 0;
    cmd.run(this, d);
  }

  // ---- ports ----

  private dataRead(size: AccessSize): number {
    const d = this.current;
    if (!d || !(d.status & DRQ_STAT) || d.dataPos >= d.dataEnd) return 0;
    const b = d.ioBuffer;
    let v = b[d.dataPos] | (b[d.dataPos + 1] << 8);
    if (size === 4) v = (v | (b[d.dataPos + 2] << 16) | (b[d.dataPos + 3] << 24)) >>> 0;
    d.dataPos += size === 4 ? 4 : 2;
    if (d.dataPos >= d.dataEnd) d.endTransfer?.();
    return size === 1 ? v & 0xff : v;
  }

  private dataWrite(size: AccessSize, value: number): void {
    const d = this.current;
    if (!d || !(d.status & DRQ_STAT) || d.dataPos >= d.dataEnd) return;
    const b = d.ioBuffer;
    b[d.dataPos] = value & 0xff;
    b[d.dataPos + 1] = value >>> 8 & 0xff;
    if (size === 4) {
      b[d.dataPos + 2] = value >>> 16 & 0xff;
      b[d.dataPos + 3] = value >>> 24 & 0xff;
    }
    d.dataPos += size === 4 ? 4 : 2;
    if (d.dataPos >= d.dataEnd) d.endTransfer?.();
  }

  /** The task file of unit i: the drive's, or the latch an empty slot still has on the cable. */
  private regs(i: number): IdeDrive {
    return this.drives[i] ?? this.emptySlots[i];
  }

  /**
   * QEMU's rule for an empty slot: error and status read 0 when the selected drive is absent, the
   * other task-file registers read 0 only when the whole channel is empty, the device register
   * always reads back.
   */
  portRead(port: number, size: AccessSize): number {
    const empty = !this.drives[0] && !this.drives[1];
    if (port === this.ctrlbase) return empty || !this.current ? 0 : this.current.status;
    const reg = port - this.iobase;
    if (reg === 0) return this.dataRead(size);
    const d = this.regs(this.unit);
    const hob = (this.control & CTRL_HOB) !== 0;
    if (reg === 6) return d.select;
    if (empty || (!this.current && (reg === 1 || reg === 7))) {
      if (reg === 7 && this.irqPending) this.lowerIrq();
      return 0;
    }
    switch (reg) {
      case 1:
        return hob ? d.hobFeature : d.error;
      case 2:
        return hob ? d.hobNsector : d.nsector;
      case 3:
        return hob ? d.hobSector : d.sector;
      case 4:
        return hob ? d.hobLcyl : d.lcyl;
      case 5:
        return hob ? d.hobHcyl : d.hcyl;
      case 6:
        return d.select;
      default:
        if (this.irqPending) this.lowerIrq();
        return d.status;
    }
  }

  portWrite(port: number, size: AccessSize, value: number): void {
    if (port === this.ctrlbase) {
      this.writeControl(value & 0xff);
      return;
    }
    const reg = port - this.iobase;
    if (reg === 0) {
      this.dataWrite(size, value);
      return;
    }
    value &= 0xff;
    if (reg === 7) {
      this.command(value);
      return;
    }
    // Task-file writes reach both drives; the previous value moves to the HOB register.
    this.control &= ~CTRL_HOB;
    for (const d of [this.regs(0), this.regs(1)]) {
      switch (reg) {
        case 1:
          d.hobFeature = d.feature;
          d.feature = value;
          break;
        case 2:
          d.hobNsector = d.nsector;
          d.nsector = value;
          break;
        case 3:
          d.hobSector = d.sector;
          d.sector = value;
          break;
        case 4:
          d.hobLcyl = d.lcyl;
          d.lcyl = value;
          break;
        case 5:
          d.hobHcyl = d.hcyl;
          d.hcyl = value;
          break;
        case 6:
          d.select = value | 0xa0;
          break;
      }
    }
    if (reg === 6) this.unit = value >> 4 & 1;
  }

  private writeControl(value: number): void {
    const old = this.control;
    this.control = value;
    if (value & CTRL_SRST && !(old & CTRL_SRST)) {
      this.dma?.cancel();
      for (const d of this.drives) {
        if (!d) continue;
        d.status = BUSY_STAT | SEEK_STAT;
        d.error = 0x01;
      }
    } else if (!(value & CTRL_SRST) && old & CTRL_SRST) {
      for (const d of this.drives) {
        if (!d) continue;
        d.resetRegisters();
        d.atapi.senseKey = 0;
      }
      this.unit = 0;
    }
    // nIEN gates the line, not the pending interrupt.
    if (this.irqPending) this.irq.set(!(value & CTRL_NIEN));
  }
}
