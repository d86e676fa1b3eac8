/** What a VM shares with its vCPUs (kept apart from vm.ts so the two files do not import each other). */
import type { VendorBackend, VendorParams } from "./backend.ts";
import type { MemorySlots } from "./memory.ts";
import type { MsrTable } from "./msrs.ts";
import type { KernelIrqchip } from "./irqchip/irqchip.ts";

export interface VmInternals {
  readonly memory: MemorySlots;
  readonly params: VendorParams;
  readonly msrTable: MsrTable;
  readonly backend?: VendorBackend;
  readonly irqchip: boolean;
  /** The in-kernel PIC, IOAPIC and local APIC after KVM_CREATE_IRQCHIP. */
  readonly kernelIrqchip?: KernelIrqchip;
  readonly closed: boolean;
  /** The vendor module this VM pins. */
  readonly vendor: string;
  /** The simulated host's clock in ns. */
  readonly hostNowNs: () => number;
  printk(line: string): void;
  /** printk under kvm_pr_unimpl's pr_err_ratelimited (kvm_msr_ignored_check's reports). */
  printkRatelimited(line: string): void;
  publishStats(): void;
}
