/**
 * kvm_intel's per-VM state: the host-physical address space (host_memory.ts) built over the first
 * slot buffer user space registers, and the VM's EPT (ept_tables.ts), filled on EPT violations as
 * Linux's TDP MMU does (one fault maps the slot's pages of the whole 2 MiB region) and zapped when
 * the memory slots change.
 */
import type { MemorySlots } from "../memory.ts";
import { EPT_EXEC, EPT_READ, EPT_WRITE, EptTables } from "./ept_tables.ts";
import { HostMemory } from "./host_memory.ts";
import { KVM_MEM_READONLY } from "../constants.ts";
import type { VmxVcpu } from "./vcpu.ts";
import type { VcpuStats } from "../stats.ts";

const PAGE = 4096;
const REGION = 2 << 20;

export class VmxVm {
  readonly host: HostMemory;
  readonly ept: EptTables;

  constructor(readonly memory: MemorySlots, nowNs: () => number, accessedDirty: boolean) {
    // The largest slot's buffer becomes host-physical memory at 0 (normally the only buffer).
    const slots = [...memory.slots].sort((a, b) => b.size - a.size);
    this.host = new HostMemory(slots[0]?.buffer ?? new ArrayBuffer(0), nowNs);
    this.ept = new EptTables(this.host, accessedDirty);
    memory.onChange(() => {
      this.ept.zap();
      this.host.dropWindows();
    });
  }

  /**
   * An EPT violation at `gpa`: maps what is behind it and returns true to re-enter the guest.
   * Slot pages map to their memory (READONLY slots without write permission); a write to a
   * READONLY slot and any page without a slot map to a window, so the access reaches the vCPU.
   */
  eptViolation(vcpu: VmxVcpu, gpa: number, write: boolean, stats: VcpuStats): "mapped" | "mmio-fetch" {
    const page = gpa - (gpa % PAGE);
    const slot = this.memory.find(page);
    stats.count("pf_taken");
    if (!slot) {
      // MMIO windows are not executable: a fetch from them comes back here as a violation.
      if (this.ept.perms(page) !== 0) return "mmio-fetch";
      this.ept.map(page, this.host.mmioPage(page), EPT_READ | EPT_WRITE);
      return "mapped";
    }
    const readOnly = (slot.flags & KVM_MEM_READONLY) !== 0;
    if (readOnly && write) {
      this.ept.map(page, this.host.mmioPage(page), EPT_READ | EPT_WRITE | EPT_EXEC);
      vcpu.romWindows.add(page);
      return "mapped";
    }
    const perms = readOnly ? EPT_READ | EPT_EXEC : EPT_READ | EPT_WRITE | EPT_EXEC;
    const from = Math.max(slot.gpa, page - (page % REGION));
    const to = Math.min(slot.gpa + slot.size, page - (page % REGION) + REGION);
    for (let p = from; p < to; p += PAGE) {
      if (vcpu.romWindows.has(p)) continue;
      this.ept.map(p, this.host.slotPage(slot, p), perms);
    }
    stats.count("pf_fixed");
    return "mapped";
  }

  /** After an emulated write to a READONLY slot: its pages map straight to the slot again. */
  restoreRomPages(vcpu: VmxVcpu): void {
    // Shadow paging mapped the window into its own tables; dropping them all is rare enough here.
    if (vcpu.shadow && vcpu.romWindows.size) vcpu.shadow.zap();
    for (const page of vcpu.romWindows) {
      const slot = this.memory.find(page);
      if (slot) this.ept.map(page, this.host.slotPage(slot, page), EPT_READ | EPT_EXEC);
    }
    vcpu.romWindows.clear();
  }
}
