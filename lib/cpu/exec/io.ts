/** IN and OUT with the protected-mode I/O permission checks: IOPL, then the TSS bitmap. */
import type { Cpu } from "../cpu.ts";
import { CpuFault, GP } from "../faults.ts";
import type { Handler } from "../insn.ts";
import { protectedMode } from "../segmentation.ts";
import { TR, VM } from "../state.ts";
import { vmxIo } from "../vmx/intercepts.ts";

/** #GP(0) unless CPL <= IOPL (not in V86) or every bit of the port range is clear in the TSS bitmap. */
export function checkIo(cpu: Cpu, port: number, bytes: number): void {
  const iopl = (cpu.eflags >> 12) & 3;
  if (!(protectedMode(cpu) || (cpu.eflags & VM))) return;
  if (!(cpu.eflags & VM) && cpu.cpl <= iopl) return;
  // 32-bit TSS only; the bitmap base is the word at offset 0x66.
  const type = (cpu.segRights[TR] >> 8) & 0xf;
  const limit = cpu.segLimit[TR] >>> 0;
  if ((type & 9) !== 9 || limit < 0x67) throw new CpuFault(GP, 0);
  const base = cpu.segBase[TR];
  const map = cpu.sysRead32(base + 0x64) >>> 16;
  const at = map + (port >>> 3);
  if (at + 1 > limit) throw new CpuFault(GP, 0);
  const bits = cpu.sysRead32(base + at) & 0xffff;
  if ((bits >>> (port & 7)) & ((1 << bytes) - 1)) throw new CpuFault(GP, 0);
}

export function inHandler(form: string): Handler {
  const fromDx = form.endsWith("DX");
  return (cpu, i) => {
    const port = fromDx ? cpu.regs[2] & 0xffff : i.imm & 0xff;
    const bytes = 1 << i.size;
    checkIo(cpu, port, bytes);
    if (cpu.vmxNonRoot) vmxIo(cpu, port, bytes);
    cpu.setReg(i.size, 0, cpu.bus.in(port, bytes as 1 | 2 | 4));
  };
}

export function outHandler(form: string): Handler {
  const toDx = form.startsWith("DX");
  return (cpu, i) => {
    const port = toDx ? cpu.regs[2] & 0xffff : i.imm & 0xff;
    const bytes = 1 << i.size;
    checkIo(cpu, port, bytes);
    if (cpu.vmxNonRoot) vmxIo(cpu, port, bytes);
    cpu.bus.out(port, bytes as 1 | 2 | 4, cpu.getReg(i.size, 0) >>> 0);
    if (cpu.bus.stopRequested) cpu.breakBlock = true;
  };
}
