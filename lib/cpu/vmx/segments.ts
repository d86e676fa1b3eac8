/**
 * Moving segment registers between the CPU and the VMCS. The VMCS access-rights format (SDM Vol.
 * 3C, Table 25-2) is the descriptor's bits 40-55 with the limit nibble dropped and bit 16 meaning
 * "unusable"; the CPU keeps descriptor bits 8-23 of the high dword in place (state.ts).
 */
import type { Cpu } from "../cpu.ts";
import { F } from "./fields.ts";
import { VM } from "../state.ts";
import type { Vmcs } from "./vmcs.ts";

export const AR_UNUSABLE = 1 << 16;

/** Guest selector/base/limit/AR field encodings for ES CS SS DS FS GS LDTR TR (the CPU's order). */
export const GUEST_SEGMENTS = ["ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR"].map((s) => ({
  selector: F[`GUEST_${s}_SELECTOR`],
  base: F[`GUEST_${s}_BASE`],
  limit: F[`GUEST_${s}_LIMIT`],
  ar: F[`GUEST_${s}_AR_BYTES`],
}));

export function rightsToAr(rights: number, selector: number, seg: number): number {
  // A null selector in ES/DS/FS/GS/LDTR leaves the register unusable (CS, SS and TR never are here).
  if ((selector & ~3) === 0 && seg !== 1 && seg !== 2 && seg !== 7) return AR_UNUSABLE;
  if (!(rights & (1 << 15))) return AR_UNUSABLE | ((rights >> 8) & 0xf0ff);
  // Loading a code or data segment sets its accessed bit on the hardware the VMCS describes; the
  // core, like QEMU's TCG, may leave it clear in CS, which entry checks would reject.
  return ((rights >> 8) & 0xf0ff) | ((rights >> 12) & 1);
}

export function arToRights(ar: number): number {
  return ar & AR_UNUSABLE ? 0 : (ar & 0xf0ff) << 8;
}

/** Access rights of ES..GS in virtual-8086 mode: present, DPL 3, read/write accessed data. */
const AR_V86 = 0xf3;

export function saveSegments(cpu: Cpu, vmcs: Vmcs): void {
  const v86 = (cpu.eflags & VM) !== 0;
  GUEST_SEGMENTS.forEach((f, s) => {
    vmcs.set(f.selector, cpu.segSel[s]);
    vmcs.set(f.base, cpu.segBase[s]);
    vmcs.set(f.limit, cpu.segLimit[s]);
    vmcs.set(f.ar, v86 && s < 6 ? AR_V86 : rightsToAr(cpu.segRights[s], cpu.segSel[s], s));
  });
}

export function loadSegments(cpu: Cpu, vmcs: Vmcs): void {
  GUEST_SEGMENTS.forEach((f, s) => {
    cpu.segSel[s] = vmcs.get(f.selector);
    cpu.segBase[s] = vmcs.get(f.base);
    cpu.segLimit[s] = vmcs.get(f.limit);
    cpu.segRights[s] = arToRights(vmcs.get(f.ar));
  });
  cpu.segmentsLoaded();
}
