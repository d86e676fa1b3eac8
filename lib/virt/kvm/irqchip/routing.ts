/**
 * GSI routing of the in-kernel irqchip (virt/kvm/irqchip.c, arch/x86/kvm/irq_comm.c): which chip
 * pins, or which MSI, a GSI raised with KVM_IRQ_LINE reaches. KVM_CREATE_IRQCHIP installs Linux's
 * default table (GSI 0-15 to the PIC pin and the IOAPIC pin of the same number, 16-23 to the IOAPIC
 * only); KVM_SET_GSI_ROUTING replaces it whole, with kvm_set_routing_entry's checks.
 */
import { ErrnoError } from "../../../errors.ts";
import {
  KVM_IOAPIC_NUM_PINS,
  KVM_IRQ_ROUTING_IRQCHIP,
  KVM_IRQ_ROUTING_MSI,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_MAX_IRQ_ROUTES,
  type KvmIrqRoutingEntry,
} from "./structs.ts";

/** Where one GSI goes: a PIC input (0-15 across the pair), an IOAPIC pin, or an MSI message. */
export type Route =
  | { kind: "pic"; pin: number }
  | { kind: "ioapic"; pin: number }
  | { kind: "msi"; address: number; data: number };

const PIC_PINS = 16;

/** kvm_setup_default_irq_routing */
export function defaultRouting(): Map<number, Route[]> {
  const table = new Map<number, Route[]>();
  for (let gsi = 0; gsi < KVM_IOAPIC_NUM_PINS; gsi++) {
    const routes: Route[] = gsi < PIC_PINS ? [{ kind: "pic", pin: gsi }] : [];
    routes.push({ kind: "ioapic", pin: gsi });
    table.set(gsi, routes);
  }
  return table;
}

/** KVM_SET_GSI_ROUTING: the new table, or EINVAL as kvm_set_irq_routing refuses. */
export function buildRouting(entries: readonly KvmIrqRoutingEntry[], flags = 0): Map<number, Route[]> {
  if (entries.length > KVM_MAX_IRQ_ROUTES || flags) throw new ErrnoError("EINVAL");
  const table = new Map<number, Route[]>();
  /** Per GSI, the irqchips it is wired to already ("msi" for an MSI entry). */
  const wired = new Map<number, Set<number | "msi">>();
  for (const e of entries) {
    if (e.gsi >>> 0 >= KVM_MAX_IRQ_ROUTES || e.flags) throw new ErrnoError("EINVAL");
    let route: Route;
    if (e.type === KVM_IRQ_ROUTING_IRQCHIP && "irqchip" in e) {
      if (e.irqchip === KVM_IRQCHIP_PIC_MASTER || e.irqchip === KVM_IRQCHIP_PIC_SLAVE) {
        if (e.pin >>> 0 >= PIC_PINS / 2) throw new ErrnoError("EINVAL");
        route = { kind: "pic", pin: e.pin + (e.irqchip === KVM_IRQCHIP_PIC_SLAVE ? 8 : 0) };
      } else if (e.irqchip === KVM_IRQCHIP_IOAPIC) {
        if (e.pin >>> 0 >= KVM_IOAPIC_NUM_PINS) throw new ErrnoError("EINVAL");
        route = { kind: "ioapic", pin: e.pin };
      } else throw new ErrnoError("EINVAL");
    } else if (e.type === KVM_IRQ_ROUTING_MSI && "data" in e) {
      // Only 32-bit message addresses reach an xAPIC.
      route = { kind: "msi", address: e.address_lo >>> 0, data: e.data >>> 0 };
    } else throw new ErrnoError("EINVAL");
    // setup_routing_entry: a GSI reaches each irqchip once, and an MSI GSI nothing else.
    const chip = route.kind === "msi" ? "msi" : (e as { irqchip: number }).irqchip;
    const seen = wired.get(e.gsi) ?? new Set();
    if (seen.has(chip) || seen.has("msi") || (chip === "msi" && seen.size)) throw new ErrnoError("EINVAL");
    seen.add(chip);
    wired.set(e.gsi, seen);
    table.set(e.gsi, [...(table.get(e.gsi) ?? []), route]);
  }
  return table;
}
