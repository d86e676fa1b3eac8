/**
 * kvm_intel's side of the in-kernel irqchip (lib/virt/kvm/irqchip): port I/O to the PIC served in
 * the kernel (kernel_pio), the choice of what to inject on VM entry (inject_pending_event: a queued
 * NMI, else the chips' interrupt when RFLAGS.IF and the interruptibility state allow it, else an
 * interrupt window), and whether a halted vCPU has something to wake for (kvm_vcpu_has_events).
 */
import { exits as X, F, type Vmcs } from "../../../cpu/vmx/mod.ts";
import type { VcpuIrqchip } from "../irqchip/irqchip.ts";
import type { AccessSize } from "../../../devices/bus.ts";
import type { VmxVcpu } from "./vcpu.ts";

const { INTR_INFO_VALID, INTR_TYPE_EXTERNAL, INTR_TYPE_NMI } = X;
const RFLAGS_IF = 0x200;
/** Interruptibility state: blocking by STI, by MOV SS, by NMI. */
const BLOCKING_STI = 1, BLOCKING_MOV_SS = 2, BLOCKING_NMI = 8;
const NMI_VECTOR = 2;

/** IN/OUT on a port of the in-kernel PIC: done here, and the guest re-entered. */
export function kernelPio(
  v: VmxVcpu,
  chip: VcpuIrqchip,
  port: number,
  size: number,
  input: boolean,
): "reenter" {
  const mask = size === 4 ? -1 : (1 << (8 * size)) - 1;
  if (input) {
    const value = chip.pioRead(port, size as AccessSize);
    v.setGpr(0, (v.gpr(0) & ~mask) | (value & mask));
  } else {
    chip.pioWrite(port, size as AccessSize, v.gpr(0) & mask);
  }
  v.skipInstruction();
  return "reenter";
}

/** Whether the guest can take an external interrupt at this entry. */
export function interruptsOpen(vmcs: Vmcs): boolean {
  return (vmcs.get(F.GUEST_RFLAGS) & RFLAGS_IF) !== 0 &&
    (vmcs.get(F.GUEST_INTERRUPTIBILITY_INFO) & (BLOCKING_STI | BLOCKING_MOV_SS)) === 0;
}

/**
 * The NMI or the irqchip's interrupt for this entry, written to the VM-entry interruption field.
 * `open`: the guest can take an interrupt now. Returns true when an interrupt waits for a window.
 */
export function injectIrqchipEvent(
  v: VmxVcpu,
  chip: VcpuIrqchip | undefined,
  vmcs: Vmcs,
  open: boolean,
): boolean {
  const ctx = v.ctx;
  if (chip) {
    chip.setApicBase(ctx.sregs.apic_base);
    chip.runTimers();
    if (chip.takeNmi()) ctx.nmiPending++;
  }
  const blocking = vmcs.get(F.GUEST_INTERRUPTIBILITY_INFO);
  // process_nmi: two NMIs pending at most, one while the guest handles one (NMIs blocked).
  ctx.nmiPending = Math.min(ctx.nmiPending, blocking & BLOCKING_NMI ? 1 : 2);
  // An NMI waits while the guest blocks NMIs (until its IRET) or after MOV SS.
  if (ctx.nmiPending && !(blocking & (BLOCKING_MOV_SS | BLOCKING_NMI))) {
    vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | NMI_VECTOR);
    ctx.nmiPending--;
    ctx.stats.count("nmi_injections");
    return false;
  }
  if (!chip?.hasInterrupt()) return false;
  if (!open) return true;
  vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | (INTR_TYPE_EXTERNAL << 8) | chip.acknowledge());
  ctx.stats.count("irq_injections");
  return false;
}

/** kvm_vcpu_has_events for a halted vCPU: an NMI, or an interrupt the guest has IF set for. */
export function hasWakeEvent(v: VmxVcpu, chip: VcpuIrqchip): boolean {
  chip.runTimers();
  if (chip.takeNmi()) v.ctx.nmiPending++;
  if (v.ctx.nmiPending) return true;
  return chip.hasInterrupt() && (v.currentVmcs.get(F.GUEST_RFLAGS) & RFLAGS_IF) !== 0;
}
