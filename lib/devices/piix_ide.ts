/**
 * The PIIX3 IDE function (PCI 00:01.1, 8086:7010, prog-if 0x80: legacy ports, bus master) with its
 * two channels on the legacy ports and ISA IRQ14/15, and the bus-master DMA engine behind BAR4
 * (16 bytes: per channel command, status and PRD table pointer). A DMA job runs when both the
 * drive has a DMA command and the guest set the start bit; the engine walks the PRD table in guest
 * memory through the Bus (writes via bus.writeBytes, so code caches hear of them), one PRD at a time
 * through a fixed 64 KiB buffer.
 */
import type { AccessSize, Bus, PortDevice } from "./bus.ts";
import type { IrqLine } from "./irq.ts";
import { type DmaEngine, type DmaJob, IdeChannel } from "./ide.ts";
import { movePorts, PCI_STATUS_DEVSEL_MEDIUM, PCI_STATUS_FAST_BACK, PciDevice } from "./pci.ts";
import { type DeviceState, loadFields, saveFields, subList } from "./state.ts";

const BMDMA_STATE = ["cmd", "status", "prdAddr"] as const;

export const BM_CMD_START = 0x01, BM_CMD_READ = 0x08;
export const BM_STATUS_ACTIVE = 0x01, BM_STATUS_ERROR = 0x02, BM_STATUS_INT = 0x04;
const PRD_MAX = 0x10000;
/** A PRD table may not cross a 64 KiB boundary; bound the walk so a bad table cannot loop forever. */
const PRD_TABLE_MAX_ENTRIES = 8192;

/** One channel's bus-master registers. */
export class Bmdma implements DmaEngine {
  cmd = 0;
  status = 0;
  prdAddr = 0;
  private pending: DmaJob | undefined;

  constructor(private readonly bus: Bus, private readonly buffer: Uint8Array) {}

  submit(job: DmaJob): void {
    this.pending = job;
    if (this.cmd & BM_CMD_START) this.run();
  }

  interrupt(): void {
    this.status |= BM_STATUS_INT;
  }

  cancel(): void {
    this.pending = undefined;
    this.status &= ~BM_STATUS_ACTIVE;
  }

  writeCommand(value: number): void {
    const old = this.cmd;
    this.cmd = value & 0x09;
    if (!(value & BM_CMD_START)) {
      // Stopping the engine mid-transfer abandons it, as clearing the start bit does on the PIIX.
      this.status &= ~BM_STATUS_ACTIVE;
      return;
    }
    if (!(old & BM_CMD_START)) {
      this.status |= BM_STATUS_ACTIVE;
      if (this.pending) this.run();
    }
  }

  writeStatus(value: number): void {
    // Bits 5-6 (drive DMA capable) are read/write, INT and ERROR are write-1-to-clear.
    this.status = (value & 0x60) | (this.status & ~(value & 0x06) & 0x87);
  }

  private run(): void {
    const job = this.pending!;
    this.pending = undefined;
    this.status |= BM_STATUS_ACTIVE;
    const entry = new Uint8Array(8);
    const v = new DataView(entry.buffer);
    let pos = 0;
    let prd = this.prdAddr & ~3;
    let endOfTable = false;
    let error: unknown;
    try {
      for (let i = 0; i < PRD_TABLE_MAX_ENTRIES && pos < job.length && !endOfTable; i++, prd += 8) {
        this.bus.readBytes(prd, entry);
        const addr = v.getUint32(0, true) & ~1;
        const len = (v.getUint16(4, true) & 0xfffe) || PRD_MAX;
        endOfTable = (v.getUint32(4, true) & 0x80000000) !== 0;
        const n = Math.min(len, job.length - pos);
        const chunk = this.buffer.subarray(0, n);
        if (job.toMemory) {
          job.transfer(pos, chunk);
          this.bus.writeBytes(addr, chunk);
        } else {
          this.bus.readBytes(addr, chunk);
          job.transfer(pos, chunk);
        }
        pos += n;
        // A PRD left only partly used keeps the engine active (the PIIX's "PRD larger than transfer").
        if (n < len) endOfTable = false;
      }
    } catch (e) {
      error = e;
      this.status |= BM_STATUS_ERROR;
    }
    if (endOfTable || pos < job.length) this.status &= ~BM_STATUS_ACTIVE;
    job.done(pos, error);
  }
}

export interface PiixIdeOptions {
  /** ISA IRQ lines of the primary and secondary channels (14 and 15). */
  irq14: IrqLine;
  irq15: IrqLine;
}

export class PiixIde extends PciDevice implements PortDevice {
  readonly channels: [IdeChannel, IdeChannel];
  readonly bmdma: [Bmdma, Bmdma];
  private bmBase = -1;
  private readonly dmaBuffer = new Uint8Array(PRD_MAX);

  constructor(private readonly bus: Bus, options: PiixIdeOptions) {
    super({
      vendor: 0x8086,
      device: 0x7010,
      revision: 0x00,
      classCode: 0x010180,
      status: PCI_STATUS_FAST_BACK | PCI_STATUS_DEVSEL_MEDIUM,
    });
    this.channels = [
      new IdeChannel(0x1f0, 0x3f6, options.irq14),
      new IdeChannel(0x170, 0x376, options.irq15),
    ];
    this.bmdma = [new Bmdma(bus, this.dmaBuffer), new Bmdma(bus, this.dmaBuffer)];
    this.channels.forEach((ch, i) => {
      ch.dma = this.bmdma[i];
      bus.registerPorts(ch.iobase, 8, ch);
      bus.registerPorts(ch.ctrlbase, 1, ch);
    });
    this.registerBar(4, 16, true);
  }

  override reset(): void {
    for (const ch of this.channels) ch.reset();
    for (const bm of this.bmdma) {
      bm.cmd = 0;
      bm.status = 0;
      bm.prdAddr = 0;
    }
    this.config[0x04] = 0;
    this.config[0x05] = 0;
    this.updateMappings();
  }

  /** Programs the function as SeaBIOS leaves it: BMIDE at 0xC040, IDE decode on, I/O enabled. */
  programLikeSeaBios(bmBase = 0xc040): void {
    this.writeConfig(0x20, 4, bmBase | 1);
    this.writeConfig(0x40, 2, 0x8000);
    this.writeConfig(0x42, 2, 0x8000);
    this.writeConfig(0x04, 2, 0x0103);
  }

  protected override saveExtra(): DeviceState {
    return {
      bmdma: this.bmdma.map((b) => saveFields(b, BMDMA_STATE)),
      channels: this.channels.map((c) => c.saveState()),
    };
  }

  protected override loadExtra(state: DeviceState): void {
    subList(state, "bmdma", 2).forEach((s, i) => {
      this.bmdma[i].cancel();
      loadFields(this.bmdma[i], BMDMA_STATE, s);
    });
    subList(state, "channels", 2).forEach((s, i) => this.channels[i].loadState(s));
  }

  protected override barMoved(n: number, old: number, addr: number): void {
    if (n !== 4) return;
    movePorts(this.bus, old, addr, 16, this);
    this.bmBase = addr;
  }

  portRead(port: number, size: AccessSize): number {
    const off = port - this.bmBase;
    const bm = this.bmdma[off >> 3];
    const r = off & 7;
    if (r >= 4) {
      const v = bm.prdAddr >>> (8 * (r - 4));
      return size === 4 ? v >>> 0 : v & ((1 << (8 * size)) - 1);
    }
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.regByte(bm, r + i);
    return v >>> 0;
  }

  private regByte(bm: Bmdma, r: number): number {
    if (r === 0) return bm.cmd;
    if (r === 2) return bm.status;
    return 0;
  }

  portWrite(port: number, size: AccessSize, value: number): void {
    const off = port - this.bmBase;
    const bm = this.bmdma[off >> 3];
    const r = off & 7;
    if (r >= 4) {
      const shift = 8 * (r - 4);
      const mask = (size === 4 ? 0xffffffff : ((1 << (8 * size)) - 1)) << shift;
      bm.prdAddr = ((bm.prdAddr & ~mask) | ((value << shift) & mask)) >>> 0 & ~3;
      return;
    }
    for (let i = 0; i < size; i++) {
      const b = value >>> (8 * i) & 0xff;
      if (r + i === 0) bm.writeCommand(b);
      else if (r + i === 2) bm.writeStatus(b);
    }
  }
}
