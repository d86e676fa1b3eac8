/**
 * The debugger's view of guest memory: linear to physical through the guest's 32-bit page tables
 * (PSE large pages included) without the side effects of the CPU's own walk (no A/D bits, no CR2,
 * no #PF), as QEMU's cpu_get_phys_page_debug does.
 */
import type { Cpu } from "../../cpu/cpu.ts";
import { CR0_PG, CR4_PAE, CR4_PSE } from "../../cpu/state.ts";
import { PAGE_UNMAPPED } from "../../devices/bus.ts";

const PTE_P = 1, PTE_PS = 0x80;

/** Physical address of `linear`, or -1 when the page is not present (PAE walks are not modelled). */
export function debugTranslate(cpu: Cpu, linear: number): number {
  linear >>>= 0;
  if (!(cpu.cr[0] & CR0_PG)) return (linear & cpu.bus.a20Mask) >>> 0;
  if (cpu.cr[4] & CR4_PAE) return -1;
  const bus = cpu.bus;
  const pde = bus.read32(((cpu.cr[3] & 0xfffff000) | ((linear >>> 22) << 2)) >>> 0);
  if (!(pde & PTE_P)) return -1;
  if ((pde & PTE_PS) && (cpu.cr[4] & CR4_PSE)) return ((pde & 0xffc00000) | (linear & 0x3fffff)) >>> 0;
  const pte = bus.read32(((pde & 0xfffff000) | ((linear >>> 10) & 0xffc)) >>> 0);
  if (!(pte & PTE_P)) return -1;
  return ((pte & 0xfffff000) | (linear & 0xfff)) >>> 0;
}

/**
 * Reads linear memory page by page; false when a page is not present or not backed by RAM, ROM or
 * a device (QEMU's debugger accesses fail there too; the bytes before it are filled).
 */
export function readLinear(cpu: Cpu, linear: number, into: Uint8Array): boolean {
  for (let done = 0; done < into.length;) {
    const at = (linear + done) >>> 0;
    const chunk = Math.min(into.length - done, 0x1000 - (at & 0xfff));
    const phys = debugTranslate(cpu, at);
    if (phys < 0 || cpu.bus.pageMap[phys >>> 12] === PAGE_UNMAPPED) return false;
    cpu.bus.readBytes(phys, into.subarray(done, done + chunk));
    done += chunk;
  }
  return true;
}

/** Writes linear memory (ROM included, as a debugger may patch it); false when a page is unmapped. */
export function writeLinear(cpu: Cpu, linear: number, data: Uint8Array): boolean {
  for (let done = 0; done < data.length;) {
    const at = (linear + done) >>> 0;
    const chunk = Math.min(data.length - done, 0x1000 - (at & 0xfff));
    const phys = debugTranslate(cpu, at);
    if (phys < 0 || cpu.bus.pageMap[phys >>> 12] === PAGE_UNMAPPED) return false;
    cpu.bus.writeBytes(phys, data.subarray(done, done + chunk), true);
    done += chunk;
  }
  return true;
}
