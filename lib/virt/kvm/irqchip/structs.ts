/**
 * The in-kernel irqchip's structures as include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h
 * lay them out: struct kvm_irqchip (chip_id, pad, a 512-byte union of kvm_pic_state and
 * kvm_ioapic_state), kvm_lapic_state (the 1 KiB APIC register page), kvm_irq_level and
 * kvm_irq_routing_entry. The API takes and returns them as objects with the C field names; the
 * encode/decode helpers give their exact bytes for callers that speak in buffers.
 */
import { ErrnoError } from "../../../errors.ts";

/** kvm_irqchip.chip_id values. */
export const KVM_IRQCHIP_PIC_MASTER = 0, KVM_IRQCHIP_PIC_SLAVE = 1, KVM_IRQCHIP_IOAPIC = 2;
/** KVM_IOAPIC_NUM_PINS */
export const KVM_IOAPIC_NUM_PINS = 24;
/** KVM_APIC_REG_SIZE: sizeof(struct kvm_lapic_state). */
export const KVM_APIC_REG_SIZE = 0x400;
/** kvm_irq_routing_entry.type values. */
export const KVM_IRQ_ROUTING_IRQCHIP = 1, KVM_IRQ_ROUTING_MSI = 2;
/** KVM_MAX_IRQ_ROUTES: GSIs and routing entries per VM. */
export const KVM_MAX_IRQ_ROUTES = 4096;

/** struct kvm_pic_state: one 8259, sixteen bytes in this order. */
export const KVM_PIC_STATE_FIELDS = [
  "last_irr",
  "irr",
  "imr",
  "isr",
  "priority_add",
  "irq_base",
  "read_reg_select",
  "poll",
  "special_mask",
  "init_state",
  "auto_eoi",
  "rotate_on_auto_eoi",
  "special_fully_nested_mode",
  "init4",
  "elcr",
  "elcr_mask",
] as const;
export type KvmPicState = Record<(typeof KVM_PIC_STATE_FIELDS)[number], number>;

/** struct kvm_ioapic_state: base_address, ioregsel, id, irr, pad, redirtbl[24] (u64 each). */
export interface KvmIoapicState {
  base_address: bigint;
  ioregsel: number;
  id: number;
  irr: number;
  redirtbl: bigint[];
}

/** struct kvm_irqchip: which chip, and its state (pic for the 8259s, ioapic for the IOAPIC). */
export interface KvmIrqchip {
  chip_id: number;
  pic?: KvmPicState;
  ioapic?: KvmIoapicState;
}

/** struct kvm_irq_level (KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS): irq is the GSI; status is the result. */
export interface KvmIrqLevel {
  irq: number;
  level: number;
  status?: number;
}

/** struct kvm_irq_routing_entry, for the two entry types x86 routes. */
export type KvmIrqRoutingEntry =
  | { gsi: number; type: typeof KVM_IRQ_ROUTING_IRQCHIP; flags: number; irqchip: number; pin: number }
  | {
    gsi: number;
    type: typeof KVM_IRQ_ROUTING_MSI;
    flags: number;
    address_lo: number;
    address_hi: number;
    data: number;
  }
  | { gsi: number; type: number; flags: number };

/** sizeof(struct kvm_irqchip): 8 bytes of header and the 512-byte union. */
export const KVM_IRQCHIP_SIZE = 520;
const UNION = 8;

/** struct kvm_irqchip as bytes. */
export function encodeIrqchip(chip: KvmIrqchip): Uint8Array {
  const out = new Uint8Array(KVM_IRQCHIP_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, chip.chip_id, true);
  if (chip.pic) KVM_PIC_STATE_FIELDS.forEach((f, i) => out[UNION + i] = chip.pic![f]);
  if (chip.ioapic) {
    const s = chip.ioapic;
    view.setBigUint64(UNION, s.base_address, true);
    view.setUint32(UNION + 8, s.ioregsel, true);
    view.setUint32(UNION + 12, s.id, true);
    view.setUint32(UNION + 16, s.irr, true);
    s.redirtbl.forEach((e, i) => view.setBigUint64(UNION + 24 + 8 * i, e, true));
  }
  return out;
}

/** struct kvm_irqchip from bytes: the union is read as the chip_id says. */
export function decodeIrqchip(bytes: Uint8Array): KvmIrqchip {
  if (bytes.length < KVM_IRQCHIP_SIZE) throw new ErrnoError("EFAULT");
  const view = new DataView(bytes.buffer, bytes.byteOffset, KVM_IRQCHIP_SIZE);
  const chip_id = view.getUint32(0, true);
  if (chip_id === KVM_IRQCHIP_PIC_MASTER || chip_id === KVM_IRQCHIP_PIC_SLAVE) {
    const pic = Object.fromEntries(KVM_PIC_STATE_FIELDS.map((f, i) => [f, bytes[UNION + i]])) as KvmPicState;
    return { chip_id, pic };
  }
  if (chip_id === KVM_IRQCHIP_IOAPIC) {
    return {
      chip_id,
      ioapic: {
        base_address: view.getBigUint64(UNION, true),
        ioregsel: view.getUint32(UNION + 8, true),
        id: view.getUint32(UNION + 12, true),
        irr: view.getUint32(UNION + 16, true),
        redirtbl: Array.from(
          { length: KVM_IOAPIC_NUM_PINS },
          (_, i) => view.getBigUint64(UNION + 24 + 8 * i, true),
        ),
      },
    };
  }
  return { chip_id };
}

/** kvm_pit_state2.flags: the HPET's legacy replacement owns IRQ0, so the PIT's channel 0 is silent. */
export const KVM_PIT_FLAGS_HPET_LEGACY = 0x1;
/** sizeof(struct kvm_pit_state2): three 24-byte channels, flags and nine reserved u32. */
export const KVM_PIT_STATE2_SIZE = 112;
/** kvm_pit_channel_state.mode of a channel that holds no count (kvm_pit_reset's "disabled"). */
export const KVM_PIT_MODE_DISABLED = 0xff;

/** struct kvm_pit_channel_state: the byte-or-smaller fields, in this order after the u32 count. */
export const KVM_PIT_CHANNEL_FIELDS = [
  "count",
  "latched_count",
  "count_latched",
  "status_latched",
  "status",
  "read_state",
  "write_state",
  "write_latch",
  "rw_mode",
  "mode",
  "bcd",
  "gate",
] as const;
/** struct kvm_pit_channel_state; count_load_time is the kernel's ktime (ns) of the last count load. */
export type KvmPitChannelState = Record<(typeof KVM_PIT_CHANNEL_FIELDS)[number], number> & {
  count_load_time: bigint;
};

/** struct kvm_pit_state2 (KVM_GET_PIT2, KVM_SET_PIT2). */
export interface KvmPitState2 {
  channels: KvmPitChannelState[];
  flags: number;
}
