/**
 * `-d int`: QEMU 7.2's interrupt log (target/i386 seg_helper.c and excp_helper.c), built on the
 * CPU's delivery observer. Per event, as QEMU prints them:
 *
 * - `check_exception old: 0x.. new 0x..` when an exception is raised (in any mode): `old` is the
 *   contributory, page-fault or double-fault exception whose delivery was under way (0xffffffff
 *   if none), `new` the raised vector before the double-fault rules turn it into #DF;
 * - `Servicing hardware INT=0x..` for an interrupt from the PIC/APIC (not for NMI);
 * - in protected mode, the summary line (`i=1` for INT n, INT3 and INTO, reported at the
 *   instruction's own address) followed by the register dump.
 *
 * Not reproduced: the dump's CCS/CCD/CCO line (QEMU's translator-internal lazy-flags state, which
 * has no counterpart here) and the SMM lines SeaBIOS causes under QEMU.
 */
import {
  type Cpu,
  type DeliveryObserver,
  EV_EXCEPTION,
  EV_EXTERNAL,
  EV_SOFTWARE,
  faults,
  observeDeliveries,
} from "../../lib/cpu/mod.ts";
import { dumpCpuState } from "../../lib/virt/machine/cpu_dump.ts";

const hex = (v: number, width: number) => (v >>> 0).toString(16).padStart(width, "0");

export function logInterrupts(cpu: Cpu, write: (text: string) => void): () => void {
  let count = 0;
  /** QEMU's env->old_exception: set by contributory, #PF and #DF, -1 once a delivery succeeds. */
  let old = -1;
  /** The fault that broke the previous delivery: the next exception QEMU raised as that vector. */
  let raised: number | undefined;
  const checkException = (vector: number) =>
    write(`check_exception old: 0x${hex(old, 1)} new 0x${vector.toString(16)}\n`);

  const observer: DeliveryObserver = {
    delivering(cpu, vector, kind, _hasCode, code) {
      if (raised === undefined) old = -1;
      if (kind === EV_EXCEPTION) {
        const raw = raised ?? vector;
        checkException(raw);
        if (faults.CONTRIBUTORY.has(raw) || vector === faults.PF || vector === faults.DF) old = vector;
      } else if (kind === EV_EXTERNAL && !(vector === faults.NMI && cpu.nmiBlocked)) {
        write(`Servicing hardware INT=0x${hex(vector, 2)}\n`);
      }
      raised = undefined;
      if (!(cpu.cr[0] & 1)) return;
      const software = kind === EV_SOFTWARE;
      // QEMU reports a software interrupt at the INT instruction; EIP is past it by now.
      const eip = software ? cpu.insnEip : cpu.eip, next = cpu.eip;
      const cs = cpu.segSel[1];
      const tail = vector === faults.PF
        ? ` CR2=${hex(cpu.cr[2], 8)}`
        : ` env->regs[R_EAX]=${hex(cpu.regs[0], 8)}`;
      cpu.eip = eip;
      try {
        write(
          `${String(count++).padStart(6)}: v=${hex(vector, 2)} e=${hex(code, 4)} i=${software ? 1 : 0} ` +
            `cpl=${cpu.cpl} IP=${hex(cs, 4)}:${hex(eip, 8)} pc=${hex(cpu.segBase[1] + eip, 8)} ` +
            `SP=${hex(cpu.segSel[2], 4)}:${hex(cpu.regs[4], 8)}${tail}\n${dumpCpuState(cpu)}`,
        );
      } finally {
        cpu.eip = next;
      }
    },
    failed(_cpu, vector, kind, faultVector) {
      raised = faultVector;
      // A fault delivering #DF is a triple fault: QEMU still logs the check before resetting.
      if (kind === EV_EXCEPTION && vector === faults.DF) checkException(faultVector);
    },
  };
  return observeDeliveries(cpu, observer);
}
