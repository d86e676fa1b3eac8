/**
 * Entering a kernel directly, in the CPU state a BIOS plus QEMU's linuxboot/multiboot option ROM
 * would leave: flat 4 GiB code and data segments, protection on, paging off, interrupts off. The
 * state goes in through Cpu.snapshot()/restore(), the CPU's public way to set a whole state.
 */
import type { Cpu } from "../../cpu/mod.ts";
import type { Bus } from "../../devices/bus.ts";

/**
 * Code: type 0xA (execute/read), S, P, D/B, G; data: type 3 (read/write, accessed). These are the
 * descriptor caches QEMU's option ROMs leave, as `-d int` shows them.
 */
const FLAT_CODE_RIGHTS = 0xcf9a00;
const FLAT_DATA_RIGHTS = 0xcf9300;

export interface Flat32Entry {
  eip: number;
  /** EAX ECX EDX EBX ESP EBP ESI EDI, missing ones 0. */
  regs: Partial<Record<"eax" | "ecx" | "edx" | "ebx" | "esp" | "ebp" | "esi" | "edi", number>>;
  codeSelector: number;
  dataSelector: number;
  /** Where the GDT with those two descriptors sits in guest memory (written here). */
  gdtAddress: number;
}

const REG_INDEX = { eax: 0, ecx: 1, edx: 2, ebx: 3, esp: 4, ebp: 5, esi: 6, edi: 7 } as const;

/** Writes a flat GDT and puts the CPU at `eip` in 32-bit protected mode. */
export function enterFlat32(cpu: Cpu, bus: Bus, entry: Flat32Entry): void {
  const entries = Math.max(entry.codeSelector, entry.dataSelector) / 8 + 1;
  const gdt = new Uint8Array(entries * 8);
  const view = new DataView(gdt.buffer);
  const descriptor = (selector: number, rights: number) => {
    // limit 0xFFFFF (4 GiB with G), base 0: low dword limit 15:0, high dword rights and limit 19:16.
    view.setUint32(selector, 0x0000ffff, true);
    view.setUint32(selector + 4, rights | 0x000f0000, true);
  };
  descriptor(entry.codeSelector, FLAT_CODE_RIGHTS);
  descriptor(entry.dataSelector, FLAT_DATA_RIGHTS);
  bus.writeBytes(entry.gdtAddress, gdt);

  const s = cpu.snapshot() as Record<string, unknown> & {
    regs: number[];
    segSel: number[];
    segBase: number[];
    segLimit: number[];
    segRights: number[];
    cr: number[];
  };
  s.regs = s.regs.map(() => 0);
  for (const [name, value] of Object.entries(entry.regs)) {
    s.regs[REG_INDEX[name as keyof typeof REG_INDEX]] = value | 0;
  }
  s.eip = entry.eip;
  s.eflags = 2;
  s.flags = [0, 2, 0, 0, 0, 0];
  for (let seg = 0; seg < 6; seg++) {
    const code = seg === 1;
    s.segSel[seg] = code ? entry.codeSelector : entry.dataSelector;
    s.segBase[seg] = 0;
    s.segLimit[seg] = -1;
    s.segRights[seg] = code ? FLAT_CODE_RIGHTS : FLAT_DATA_RIGHTS;
  }
  s.gdt = [entry.gdtAddress, gdt.length - 1];
  // Protection on, paging off, and caches on (SeaBIOS clears CD and NW): CR0 = PE | ET.
  s.cr[0] = 0x11;
  s.cpl = 0;
  s.code32 = true;
  s.stack32 = true;
  s.halted = false;
  s.intShadow = 0;
  cpu.restore(s);
}
