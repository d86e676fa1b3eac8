/**
 * The i440FX host bridge (PCI 00:00.0, 8086:1237) with its PAM registers (0x59-0x5F), which decide
 * for each segment of 0xC0000-0xFFFFF whether reads and writes reach RAM or the ROM/PCI side.
 * SeaBIOS turns them to RAM read-write, copies itself down from the high BIOS alias, then locks
 * them read-only: that is what this models, by remapping Bus pages.
 *
 * Attribute per segment (RE = bit 0, WE = bit 1): 3 RAM read-write, 1 RAM read-only, 0 ROM side.
 * Mode 2 (writes to RAM, reads from ROM) cannot be split on one page map; it behaves as mode 0
 * (writes dropped), a deviation nothing we boot relies on.
 */
import { type Bus, PAGE_SHIFT } from "./bus.ts";
import { PciDevice } from "./pci.ts";

export const I440FX_PAM = 0x59;
export const I440FX_SMRAM = 0x72;

/** [register, nibble shift, start, length] of each PAM segment. */
const PAM_SEGMENTS: readonly [number, number, number, number][] = [
  [0x59, 4, 0xf0000, 0x10000],
  ...[0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f].flatMap((reg, i): [number, number, number, number][] => [
    [reg, 0, 0xc0000 + i * 0x8000, 0x4000],
    [reg, 4, 0xc4000 + i * 0x8000, 0x4000],
  ]),
];

const SHADOW_FIRST_PAGE = 0xc0000 >>> PAGE_SHIFT;
const SHADOW_PAGES = 0x40000 >>> PAGE_SHIFT;

export class I440fx extends PciDevice {
  /** What was mapped at 0xC0000-0xFFFFF before any PAM change: the "ROM side". */
  private romPages: Int32Array | undefined;
  private romReadOnly: Uint8Array | undefined;
  private readonly modes = new Int8Array(PAM_SEGMENTS.length).fill(-1);

  constructor(private readonly bus: Bus) {
    super({ vendor: 0x8086, device: 0x1237, revision: 0x02, classCode: 0x060000 });
    this.config[I440FX_SMRAM] = 0x02;
  }

  /**
   * Records the BIOS/option-ROM mappings below 1 MiB as the ROM side. The machine calls this after
   * loading the BIOS; otherwise it happens at the first PAM write.
   */
  capturePamRom(): void {
    this.romPages = this.bus.pageMap.slice(SHADOW_FIRST_PAGE, SHADOW_FIRST_PAGE + SHADOW_PAGES);
    this.romReadOnly = this.bus.pageReadOnly.slice(SHADOW_FIRST_PAGE, SHADOW_FIRST_PAGE + SHADOW_PAGES);
  }

  override reset(): void {
    this.config.fill(0, I440FX_PAM, I440FX_PAM + 7);
    this.config[I440FX_SMRAM] = 0x02;
    this.updatePam();
  }

  protected override stateLoaded(): void {
    this.updatePam();
  }

  protected override configWritten(offset: number, size: number): void {
    if (offset < I440FX_PAM + 7 && offset + size > I440FX_PAM) this.updatePam();
  }

  /** The attribute (0-3) in force for the segment holding phys, for tests and `info mtree`. */
  pamMode(phys: number): number {
    const i = PAM_SEGMENTS.findIndex(([, , start, len]) => phys >= start && phys < start + len);
    return i < 0 ? -1 : this.config[PAM_SEGMENTS[i][0]] >> PAM_SEGMENTS[i][1] & 3;
  }

  private updatePam(): void {
    if (!this.romPages) this.capturePamRom();
    const bus = this.bus;
    const ramPages = bus.ramSize >>> PAGE_SHIFT;
    let changed = false;
    PAM_SEGMENTS.forEach(([reg, shift, start, length], i) => {
      const mode = this.config[reg] >> shift & 3;
      if (mode === this.modes[i]) return;
      this.modes[i] = mode;
      changed = true;
      for (let p = start >>> PAGE_SHIFT; p < (start + length) >>> PAGE_SHIFT; p++) {
        if ((mode === 3 || mode === 1) && p < ramPages) {
          bus.pageMap[p] = p;
          bus.pageReadOnly[p] = mode === 1 ? 1 : 0;
        } else {
          bus.pageMap[p] = this.romPages![p - SHADOW_FIRST_PAGE];
          bus.pageReadOnly[p] = this.romReadOnly![p - SHADOW_FIRST_PAGE];
        }
      }
    });
    // The page entries were rewritten in place; an empty unmap only tells the Bus's map listeners
    // (CPU TLBs, code caches) that pages changed meaning.
    if (changed) bus.unmap(0, 0);
  }
}
