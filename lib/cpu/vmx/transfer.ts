/**
 * Processor state moving at VM entry and VM exit (Intel SDM Vol. 3C: "Loading Guest State",
 * "Saving Guest State", "Loading Host State"). This CPU has no Intel 64, so natural-width fields
 * are 32 bits and the host is always a 32-bit protected-mode host.
 */
import type { Cpu } from "../cpu.ts";
import { ARITH_FLAGS, CS, DS, ES, FS, GS, LDTR, SEG_DB, SS, TR } from "../state.ts";
import { F } from "./fields.ts";
import { loadSegments, saveSegments } from "./segments.ts";
import type { Vmcs } from "./vmcs.ts";
import { enterGuestTlb, enterRootTlb } from "./tlb.ts";

export const ACTIVITY_ACTIVE = 0, ACTIVITY_HLT = 1;
/** Interruptibility state: blocking by NMI (virtual-NMI blocking under "virtual NMIs"; SDM Table 25-3). */
export const BLOCKING_BY_NMI = 8;
const MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176;

function setEflags(cpu: Cpu, v: number): void {
  cpu.eflags = (v & ~ARITH_FLAGS) | 2;
  cpu.setArithFlags(v & ARITH_FLAGS);
}

/**
 * After segments and control registers changed wholesale: modes and CPL. The TLB context was
 * switched before (tlb.ts), so the CPL's user/supervisor view is checked against the new one.
 */
function modesChanged(cpu: Cpu): void {
  cpu.stack32 = (cpu.segRights[SS] & SEG_DB) !== 0;
  cpu.codeSegmentChanged();
  cpu.breakBlock = true;
}

export function loadGuestState(cpu: Cpu, vmcs: Vmcs): void {
  cpu.cr[0] = vmcs.get(F.GUEST_CR0);
  cpu.cr[3] = vmcs.get(F.GUEST_CR3);
  cpu.cr[4] = vmcs.get(F.GUEST_CR4);
  cpu.dr[7] = vmcs.get(F.GUEST_DR7);
  loadSegments(cpu, vmcs);
  cpu.gdtBase = vmcs.get(F.GUEST_GDTR_BASE);
  cpu.gdtLimit = vmcs.get(F.GUEST_GDTR_LIMIT);
  cpu.idtBase = vmcs.get(F.GUEST_IDTR_BASE);
  cpu.idtLimit = vmcs.get(F.GUEST_IDTR_LIMIT);
  cpu.msrs.set(MSR_SYSENTER_CS, BigInt(vmcs.get(F.GUEST_SYSENTER_CS)));
  cpu.msrs.set(MSR_SYSENTER_ESP, BigInt(vmcs.get(F.GUEST_SYSENTER_ESP)));
  cpu.msrs.set(MSR_SYSENTER_EIP, BigInt(vmcs.get(F.GUEST_SYSENTER_EIP)));
  cpu.regs[4] = vmcs.get(F.GUEST_RSP);
  cpu.eip = vmcs.get(F.GUEST_RIP);
  setEflags(cpu, vmcs.get(F.GUEST_RFLAGS));
  cpu.halted = vmcs.get(F.GUEST_ACTIVITY_STATE) === ACTIVITY_HLT;
  // Blocking by STI or by MOV SS (interruptibility bits 0 and 1) covers the first instruction.
  const interruptibility = vmcs.get(F.GUEST_INTERRUPTIBILITY_INFO);
  cpu.intShadow = interruptibility & 3 ? 1 : 0;
  cpu.nmiBlocked = (interruptibility & BLOCKING_BY_NMI) !== 0;
  enterGuestTlb(cpu, vmcs);
  modesChanged(cpu);
}

export function saveGuestState(cpu: Cpu, vmcs: Vmcs): void {
  vmcs.set(F.GUEST_CR0, cpu.cr[0]);
  vmcs.set(F.GUEST_CR3, cpu.cr[3]);
  vmcs.set(F.GUEST_CR4, cpu.cr[4]);
  vmcs.set(F.GUEST_DR7, cpu.dr[7]);
  saveSegments(cpu, vmcs);
  vmcs.set(F.GUEST_GDTR_BASE, cpu.gdtBase);
  vmcs.set(F.GUEST_GDTR_LIMIT, cpu.gdtLimit);
  vmcs.set(F.GUEST_IDTR_BASE, cpu.idtBase);
  vmcs.set(F.GUEST_IDTR_LIMIT, cpu.idtLimit);
  vmcs.set(F.GUEST_SYSENTER_CS, Number(cpu.msrs.get(MSR_SYSENTER_CS) ?? 0n) | 0);
  vmcs.set(F.GUEST_SYSENTER_ESP, Number(cpu.msrs.get(MSR_SYSENTER_ESP) ?? 0n) | 0);
  vmcs.set(F.GUEST_SYSENTER_EIP, Number(cpu.msrs.get(MSR_SYSENTER_EIP) ?? 0n) | 0);
  vmcs.set(F.GUEST_RSP, cpu.regs[4]);
  vmcs.set(F.GUEST_RIP, cpu.eip);
  vmcs.set(F.GUEST_RFLAGS, cpu.eflagsValue);
  vmcs.set(F.GUEST_ACTIVITY_STATE, cpu.halted ? ACTIVITY_HLT : ACTIVITY_ACTIVE);
  vmcs.set(F.GUEST_INTERRUPTIBILITY_INFO, (cpu.intShadow ? 1 : 0) | (cpu.nmiBlocked ? BLOCKING_BY_NMI : 0));
  vmcs.set(F.GUEST_PENDING_DBG_EXCEPTIONS, 0);
}

/** Descriptor rights (state.ts layout) of the flat segments a VM exit loads. */
const HOST_CODE = 0x00c09b00, HOST_DATA = 0x00c09300, HOST_TSS = 0x00008b00;

export function loadHostState(cpu: Cpu, vmcs: Vmcs): void {
  cpu.cr[0] = vmcs.get(F.HOST_CR0);
  cpu.cr[3] = vmcs.get(F.HOST_CR3);
  cpu.cr[4] = vmcs.get(F.HOST_CR4);
  cpu.dr[7] = 0x400;
  cpu.msrs.set(MSR_SYSENTER_CS, BigInt(vmcs.get(F.HOST_IA32_SYSENTER_CS)));
  cpu.msrs.set(MSR_SYSENTER_ESP, BigInt(vmcs.get(F.HOST_IA32_SYSENTER_ESP)));
  cpu.msrs.set(MSR_SYSENTER_EIP, BigInt(vmcs.get(F.HOST_IA32_SYSENTER_EIP)));
  const selectors: [number, number][] = [
    [ES, F.HOST_ES_SELECTOR],
    [CS, F.HOST_CS_SELECTOR],
    [SS, F.HOST_SS_SELECTOR],
    [DS, F.HOST_DS_SELECTOR],
    [FS, F.HOST_FS_SELECTOR],
    [GS, F.HOST_GS_SELECTOR],
    [TR, F.HOST_TR_SELECTOR],
  ];
  for (const [seg, field] of selectors) {
    const sel = vmcs.get(field);
    cpu.segSel[seg] = sel;
    cpu.segBase[seg] = 0;
    cpu.segLimit[seg] = -1;
    cpu.segRights[seg] = seg === CS ? HOST_CODE : sel === 0 ? 0 : HOST_DATA;
  }
  cpu.segBase[FS] = vmcs.get(F.HOST_FS_BASE);
  cpu.segBase[GS] = vmcs.get(F.HOST_GS_BASE);
  cpu.segBase[TR] = vmcs.get(F.HOST_TR_BASE);
  cpu.segLimit[TR] = 0x67;
  cpu.segRights[TR] = HOST_TSS;
  cpu.segSel[LDTR] = 0;
  cpu.segRights[LDTR] = 0;
  cpu.gdtBase = vmcs.get(F.HOST_GDTR_BASE);
  cpu.gdtLimit = 0xffff;
  cpu.segmentsLoaded();
  cpu.idtBase = vmcs.get(F.HOST_IDTR_BASE);
  cpu.idtLimit = 0xffff;
  cpu.regs[4] = vmcs.get(F.HOST_RSP);
  cpu.eip = vmcs.get(F.HOST_RIP);
  setEflags(cpu, 2);
  cpu.halted = false;
  cpu.intShadow = 0;
  enterRootTlb(cpu);
  modesChanged(cpu);
}
