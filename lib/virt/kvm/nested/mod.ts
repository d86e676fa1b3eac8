/**
 * Nested VMX for kvm_intel (`nested=1`): the implementation behind L0's nested seam
 * (../intel/nested_seam.ts). L1's VMX instructions are emulated (instructions.ts) against vmcs12
 * in L1 memory; VMLAUNCH/VMRESUME run L2 on vmcs02 (vmcs02.ts); each exit of L2 is reflected to
 * L1 when vmcs12 asks for it (reflect.ts) and otherwise handled by L0 as its own. EPT violations
 * of L2 under L1's EPT fill EPT02 from EPT12 (the guest-physical mappings L1 set up, composed with
 * L0's memory slots) or are reflected with EPT12's permissions in the qualification.
 */
import { ACC_EXEC, ACC_READ, ACC_WRITE } from "../../../cpu/mmu.ts";
import {
  CPU_ACTIVATE_SECONDARY,
  EXIT_ACK_INTR_ON_EXIT,
  PIN_EXT_INTR_EXITING,
  PIN_NMI_EXITING,
  SEC_ENABLE_EPT,
} from "../../../cpu/vmx/capabilities.ts";
import { EXIT_EPT_MISCONFIG, EXIT_EPT_VIOLATION } from "../../../cpu/vmx/ept.ts";
import { eptTranslate, exits as X, F, type PendingExit, type Vmcs } from "../../../cpu/vmx/mod.ts";
import { registerNestedVmx } from "../intel/nested_seam.ts";
import type { L0Vcpu, NestedVerdict } from "../intel/nested_seam.ts";
import { emulateVmxInstruction, vmcs12 } from "./instructions.ts";
import { L1Fault, read32, write32 } from "./l1.ts";
import { l1WantsExit } from "./reflect.ts";
import { nestedState } from "./state.ts";
import { procControls02, reflectExit } from "./vmcs02.ts";
import { shadowToVmcs12, vmcs12ToShadow } from "./shadow_vmcs.ts";

const EPT_R = 1, EPT_W = 2, NMI_VECTOR = 2;

function l1UsesEpt(v12: Vmcs): boolean {
  return (v12.get(F.CPU_BASED_VM_EXEC_CONTROL) & CPU_ACTIVATE_SECONDARY) !== 0 &&
    (v12.get(F.SECONDARY_VM_EXEC_CONTROL) & SEC_ENABLE_EPT) !== 0;
}

/**
 * An EPT violation of vmcs02 under L1's EPT: walk EPT12 for the L2 guest-physical address. A
 * fault there is L1's (reflected, bits 5:3 from EPT12); a good translation is installed in EPT02
 * (without write permission until a write, so EPT12's dirty flag is set by the write that makes
 * it dirty) and L2 resumes.
 */
function ept02Fault(vcpu: L0Vcpu, v12: Vmcs, exit: PendingExit): NestedVerdict {
  const s = nestedState(vcpu), q = exit.qualification, gpa = exit.guestPhysical ?? 0;
  const access = q & 4 ? ACC_EXEC : q & 2 && q & 0x100 ? ACC_WRITE : ACC_READ;
  const final = (q & 0x100) !== 0;
  const mem = {
    read32: (a: number) => read32(vcpu, a),
    write32: (a: number, v: number) => write32(vcpu, a, v),
  };
  const eptp12 = v12.get(F.EPT_POINTER);
  const t = eptTranslate(mem, eptp12, gpa, access, final);
  if (t.fault === EXIT_EPT_MISCONFIG) {
    reflectExit(vcpu, s, v12, { ...exit, reason: EXIT_EPT_MISCONFIG, qualification: 0 });
    return "handled";
  }
  if (t.fault === EXIT_EPT_VIOLATION) {
    reflectExit(vcpu, s, v12, { ...exit, qualification: (q & ~0x38) | (t.rwx << 3) });
    return "handled";
  }
  const l1Page = t.address - (t.address % 4096);
  const hpa = vcpu.gpaToHpa(l1Page);
  if (hpa === undefined) {
    // L1 maps L2 onto an L1 address with no memory slot: L1's MMIO. EPT02 points the page at
    // L0's MMIO window for that L1 address, so L2's accesses exit to user space as L1's would
    // (EPT misconfiguration exits that l2Exit leaves to L0). Code cannot run from MMIO: a fetch
    // goes to L0's violation handler with the L1 address, which reports the emulation failure.
    if (access === ACC_EXEC) {
      exit.guestPhysical = t.address;
      return "l0";
    }
    s.ept02!.map(gpa - (gpa % 4096), vcpu.host.mmioPage(l1Page), t.rwx & (EPT_R | EPT_W));
    return "handled";
  }
  const ad = (eptp12 & (1 << 6)) !== 0;
  const writable = !ad || access === ACC_WRITE || !final;
  s.ept02!.map(gpa - (gpa % 4096), hpa, writable ? t.rwx : t.rwx & ~EPT_W);
  return "handled";
}

registerNestedVmx({
  vmxInstruction(vcpu, exit) {
    const s = nestedState(vcpu);
    shadowToVmcs12(vcpu, s);
    try {
      if (!emulateVmxInstruction(vcpu, exit)) vcpu.skipInstruction();
    } catch (e) {
      if (!(e instanceof L1Fault)) throw e;
      vcpu.injectException(e.vector, e.errorCode);
    }
    vmcs12ToShadow(vcpu, s);
    return "handled";
  },
  guestMode: (vcpu) => nestedState(vcpu).guestMode,
  procControls02: (vcpu) => procControls02(vmcs12(vcpu, nestedState(vcpu))),
  interruptExitsToL1: (vcpu) =>
    (vmcs12(vcpu, nestedState(vcpu)).get(F.PIN_BASED_VM_EXEC_CONTROL) & PIN_EXT_INTR_EXITING) !== 0,
  nmiExitsToL1: (vcpu) =>
    (vmcs12(vcpu, nestedState(vcpu)).get(F.PIN_BASED_VM_EXEC_CONTROL) & PIN_NMI_EXITING) !== 0,
  exitForNmi(vcpu) {
    const s = nestedState(vcpu), info = X.INTR_INFO_VALID | (X.INTR_TYPE_NMI << 8) | NMI_VECTOR;
    reflectExit(vcpu, s, vmcs12(vcpu, s), X.eventExit(X.EXIT_EXCEPTION_NMI, info), false);
  },
  exitForInterrupt(vcpu, acknowledge) {
    const s = nestedState(vcpu), v12 = vmcs12(vcpu, s);
    const ack = (v12.get(F.VM_EXIT_CONTROLS) & EXIT_ACK_INTR_ON_EXIT) !== 0;
    // Without "acknowledge interrupt on exit" the interruption information is invalid (SDM 27.2.2).
    const info = ack ? X.INTR_INFO_VALID | (X.INTR_TYPE_EXTERNAL << 8) | (acknowledge() & 0xff) : 0;
    reflectExit(vcpu, s, v12, X.eventExit(X.EXIT_EXTERNAL_INTERRUPT, info), false);
  },
  l2Exit(vcpu, exit) {
    const s = nestedState(vcpu), v12 = vmcs12(vcpu, s);
    // EPT02 is L0's and never misconfigured (EPT12's misconfigurations show in ept02Fault's walk):
    // a misconfiguration exit is an access to one of L0's MMIO windows, for L0 to complete.
    if (exit.reason === EXIT_EPT_MISCONFIG) return "l0";
    if (exit.reason === EXIT_EPT_VIOLATION) return l1UsesEpt(v12) ? ept02Fault(vcpu, v12, exit) : "l0";
    if (!l1WantsExit(vcpu, v12, exit)) return "l0";
    reflectExit(vcpu, s, v12, exit);
    return "handled";
  },
});
