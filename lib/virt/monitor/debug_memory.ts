/**
 * The debugger's view of guest memory: linear to physical through the guest's page tables (the
 * CPU's own walk, lib/cpu/page_walk.ts: 32-bit with PSE, and PAE) without its side effects (no
 * A/D bits, no CR2, no #PF), as QEMU's cpu_get_phys_page_debug does.
 */
import type { Cpu } from "../../cpu/cpu.ts";
import { ACC_READ, pageWalk, type PagingMemory, walked } from "../../cpu/page_walk.ts";
import { CR0_PG } from "../../cpu/state.ts";
import { PAGE_UNMAPPED } from "../../devices/bus.ts";

/** Thrown by the read-only view's page fault: the page is not mapped. */
const NOT_MAPPED = Symbol("not mapped");

/** Physical address of `linear`, or -1 when the page is not present. */
export function debugTranslate(cpu: Cpu, linear: number): number {
  linear >>>= 0;
  if (!(cpu.cr[0] & CR0_PG)) return (linear & cpu.bus.a20Mask) >>> 0;
  const bus = cpu.bus;
  const tables: PagingMemory = {
    entryAddress: (gpa) => gpa,
    read32: (at) => bus.read32(at),
    write32: () => {},
    pageFault: () => {
      throw NOT_MAPPED;
    },
  };
  try {
    pageWalk(tables, cpu.pagingRegs(), linear, ACC_READ, false);
  } catch (e) {
    if (e === NOT_MAPPED) return -1;
    throw e;
  }
  return walked.gpa;
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
