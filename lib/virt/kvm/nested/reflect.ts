/**
 * Which exits of L2 L1 asked for (Linux's nested_vmx_l1_wants_exit): the same rules the CPU
 * applies to a VMCS, applied to vmcs12's controls, bitmaps and masks (read from L1 memory). An
 * exit only L0 caused (its interrupts, its own I/O or HLT interception) stays in L0.
 */
import {
  CPU_CR3_LOAD_EXITING,
  CPU_CR3_STORE_EXITING,
  CPU_HLT_EXITING,
  CPU_INTR_WINDOW_EXITING,
  CPU_INVLPG_EXITING,
  CPU_MONITOR_EXITING,
  CPU_MOV_DR_EXITING,
  CPU_MWAIT_EXITING,
  CPU_NMI_WINDOW_EXITING,
  CPU_PAUSE_EXITING,
  CPU_RDPMC_EXITING,
  CPU_RDTSC_EXITING,
  CPU_UNCOND_IO_EXITING,
  CPU_USE_IO_BITMAPS,
  CPU_USE_MSR_BITMAPS,
  PIN_NMI_EXITING,
  PIN_PREEMPTION_TIMER,
} from "../../../cpu/vmx/capabilities.ts";
import { exits as X, F, type PendingExit, type Vmcs } from "../../../cpu/vmx/mod.ts";
import type { L0Vcpu } from "../intel/nested_seam.ts";
import { gpr, read32 } from "./l1.ts";

const PF = 14, NMI_TYPE = 2;
const EXIT_MWAIT = 36, EXIT_MONITOR = 39, EXIT_PAUSE = 40;

function bit(vcpu: L0Vcpu, base: number, index: number): boolean {
  const at = (base & ~0xfff) + (index >> 3);
  return ((read32(vcpu, at & ~3) >>> ((at & 3) * 8 + (index & 7))) & 1) === 1;
}

export function l1WantsExit(vcpu: L0Vcpu, v12: Vmcs, exit: PendingExit): boolean {
  const pin = v12.get(F.PIN_BASED_VM_EXEC_CONTROL), proc = v12.get(F.CPU_BASED_VM_EXEC_CONTROL);
  const q = exit.qualification;
  switch (exit.reason) {
    case X.EXIT_EXCEPTION_NMI: {
      if (((exit.interruptionInfo >> 8) & 7) === NMI_TYPE) return (pin & PIN_NMI_EXITING) !== 0;
      const vector = exit.interruptionInfo & 0xff;
      const set = ((v12.get(F.EXCEPTION_BITMAP) >>> vector) & 1) === 1;
      if (vector !== PF) return set;
      const match = (exit.interruptionError & v12.get(F.PAGE_FAULT_ERROR_CODE_MASK)) ===
        v12.get(F.PAGE_FAULT_ERROR_CODE_MATCH);
      return match === set;
    }
    case X.EXIT_EXTERNAL_INTERRUPT:
      return false; // L0's own interrupts (its timer, its signals)
    case X.EXIT_TRIPLE_FAULT:
    case X.EXIT_TASK_SWITCH: // always L1's (nested_vmx_l1_wants_exit)
    case X.EXIT_CPUID:
      return true;
    case X.EXIT_INTERRUPT_WINDOW:
      return (proc & CPU_INTR_WINDOW_EXITING) !== 0;
    case X.EXIT_NMI_WINDOW:
      return (proc & CPU_NMI_WINDOW_EXITING) !== 0;
    case X.EXIT_HLT:
      return (proc & CPU_HLT_EXITING) !== 0;
    case X.EXIT_INVLPG:
      return (proc & CPU_INVLPG_EXITING) !== 0;
    case X.EXIT_RDPMC:
      return (proc & CPU_RDPMC_EXITING) !== 0;
    case X.EXIT_RDTSC:
      return (proc & CPU_RDTSC_EXITING) !== 0;
    case X.EXIT_DR_ACCESS:
      return (proc & CPU_MOV_DR_EXITING) !== 0;
    case EXIT_MWAIT:
      return (proc & CPU_MWAIT_EXITING) !== 0;
    case EXIT_MONITOR:
      return (proc & CPU_MONITOR_EXITING) !== 0;
    case EXIT_PAUSE:
      return (proc & CPU_PAUSE_EXITING) !== 0;
    case X.EXIT_PREEMPTION_TIMER:
      return (pin & PIN_PREEMPTION_TIMER) !== 0;
    case X.EXIT_CR_ACCESS: {
      const cr = q & 0xf, type = (q >> 4) & 3;
      if (cr === 3) return (proc & (type === 0 ? CPU_CR3_LOAD_EXITING : CPU_CR3_STORE_EXITING)) !== 0;
      if (type !== 0 || (cr !== 0 && cr !== 4)) return true;
      const value = gpr(vcpu, (q >> 8) & 0xf);
      const mask = v12.get(cr === 0 ? F.CR0_GUEST_HOST_MASK : F.CR4_GUEST_HOST_MASK);
      const shadow = v12.get(cr === 0 ? F.CR0_READ_SHADOW : F.CR4_READ_SHADOW);
      return ((value ^ shadow) & mask) !== 0;
    }
    case X.EXIT_IO_INSTRUCTION: {
      if (!(proc & CPU_USE_IO_BITMAPS)) return (proc & CPU_UNCOND_IO_EXITING) !== 0;
      const port = q >>> 16, size = (q & 7) + 1;
      if (port + size > 0x10000) return true;
      for (let p = port; p < port + size; p++) {
        if (bit(vcpu, v12.get(p & 0x8000 ? F.IO_BITMAP_B : F.IO_BITMAP_A), p & 0x7fff)) return true;
      }
      return false;
    }
    case X.EXIT_RDMSR:
    case X.EXIT_WRMSR: {
      if (!(proc & CPU_USE_MSR_BITMAPS)) return true;
      const msr = gpr(vcpu, 1) >>> 0, high = msr >= 0xc0000000 && msr <= 0xc0001fff;
      if (msr > 0x1fff && !high) return true;
      const base = v12.get(F.MSR_BITMAP) + (exit.reason === X.EXIT_WRMSR ? 0x800 : 0) + (high ? 0x400 : 0);
      return bit(vcpu, base, msr & 0x1fff);
    }
    default:
      // The VMX instructions, VMCALL, and whatever else only L1's configuration can cause.
      return true;
  }
}
