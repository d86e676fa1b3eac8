/**
 * QEMU's kvm-i8259, kvm-ioapic and kvm-apic (`kernel-irqchip=on`, the default under KVM): the
 * interrupt controllers live in the kernel (KVM_CREATE_IRQCHIP), and the board's PicPair, IoApic
 * and LocalApic become user space's copies of their state, as QEMU's kvm_pic_get/put,
 * kvm_ioapic_get/put and kvm_apic_get/put keep them:
 *
 * - `push()` writes the board's copies into the kernel (KVM_SET_IRQCHIP, KVM_SET_LAPIC): before the
 *   first KVM_RUN (so what -kernel's firmware setup programmed counts), after a machine reset and
 *   after loadvm;
 * - `pull()` reads the kernel's chips into the copies (KVM_GET_IRQCHIP, KVM_GET_LAPIC) for savevm
 *   and the monitor's `info pic`.
 *
 * The board's ISA IRQ lines reach the kernel with KVM_IRQ_LINE (GSI = ISA IRQ), and the routing is
 * the one QEMU's kvm_pc_setup_irq_routing installs: GSI 0-15 to the PIC pair, GSI 0 to IOAPIC pin 2
 * (the MADT's override for the PIT) and every other GSI but 2 to its own IOAPIC pin.
 */
import type { IrqSink } from "../../devices/irq.ts";
import type { PicPair } from "../../devices/pic.ts";
import type { IoApic } from "../../devices/ioapic.ts";
import type { LocalApic } from "../../devices/apic.ts";
import {
  KVM_IOAPIC_NUM_PINS,
  KVM_IRQ_ROUTING_IRQCHIP,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_PIC_STATE_FIELDS,
  type KvmIrqRoutingEntry,
  type KvmVcpu,
  type KvmVm,
  PIC_FIELDS as MODEL_FIELD,
} from "../kvm/mod.ts";

/** The board's interrupt controllers and the ISA IRQ fan-out whose sinks become KVM_IRQ_LINE. */
export interface BoardIrqchips {
  pic: PicPair;
  ioapic: IoApic;
  lapic: LocalApic;
  irq: { pic: IrqSink; ioapic?: IrqSink };
}

/** kvm_pc_setup_irq_routing */
function pcRouting(): KvmIrqRoutingEntry[] {
  const route = (gsi: number, irqchip: number, pin: number): KvmIrqRoutingEntry => ({
    gsi,
    type: KVM_IRQ_ROUTING_IRQCHIP,
    flags: 0,
    irqchip,
    pin,
  });
  const out: KvmIrqRoutingEntry[] = [];
  for (let gsi = 0; gsi < 16; gsi++) {
    out.push(route(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi & 7));
  }
  for (let gsi = 0; gsi < KVM_IOAPIC_NUM_PINS; gsi++) {
    if (gsi === 0) out.push(route(0, KVM_IRQCHIP_IOAPIC, 2));
    else if (gsi !== 2) out.push(route(gsi, KVM_IRQCHIP_IOAPIC, gsi));
  }
  return out;
}

/** The kvm_pic_state fields that are 8259 state (elcr_mask is the PIIX's wiring), with the model's names. */
const PIC_FIELDS = KVM_PIC_STATE_FIELDS.filter((f) => f !== "elcr_mask").map((f) =>
  [MODEL_FIELD[f], f] as const
);

export class KvmIrqchipLink {
  constructor(readonly vm: KvmVm, readonly vcpu: KvmVcpu, readonly board: BoardIrqchips) {
    vm.setGsiRouting(pcRouting());
    // The board's devices raise their lines in the kernel from now on.
    const kernel: IrqSink = { setIrq: (gsi, level) => vm.irqLine(gsi, level ? 1 : 0) };
    board.irq.pic = kernel;
    board.irq.ioapic = undefined;
  }

  /** The board's copies into the kernel. */
  push(): void {
    const { pic, ioapic, lapic } = this.board;
    for (const id of [KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE]) {
      const chip = pic.chips[id] as unknown as Record<string, number | boolean>;
      const state = this.vm.getIrqchip({ chip_id: id }).pic!;
      for (const [ours, theirs] of PIC_FIELDS) state[theirs] = Number(chip[ours]);
      this.vm.setIrqchip({ chip_id: id, pic: state });
    }
    const s = ioapic.saveState() as {
      id: number;
      ioregsel: number;
      irr: number;
      rteLo: number[];
      rteHi: number[];
    };
    this.vm.setIrqchip({
      chip_id: KVM_IRQCHIP_IOAPIC,
      ioapic: {
        base_address: BigInt(ioapic.base),
        id: s.id,
        ioregsel: s.ioregsel,
        irr: s.irr,
        redirtbl: s.rteLo.map((lo, i) => (BigInt(s.rteHi[i] >>> 0) << 32n) | BigInt(lo >>> 0)),
      },
    });
    this.vcpu.setLapic(lapic.registerPage());
  }

  /** The kernel's chips into the board's copies. */
  pull(): void {
    const { pic, ioapic, lapic } = this.board;
    const picState = pic.saveState() as { chips: Record<string, number | boolean>[] };
    for (const id of [KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE]) {
      const k = this.vm.getIrqchip({ chip_id: id }).pic!, chip = picState.chips[id];
      for (const [ours, theirs] of PIC_FIELDS) {
        chip[ours] = typeof chip[ours] === "boolean" ? k[theirs] !== 0 : k[theirs];
      }
    }
    pic.loadState(picState);
    const k = this.vm.getIrqchip({ chip_id: KVM_IRQCHIP_IOAPIC }).ioapic!;
    ioapic.loadState({
      ...ioapic.saveState(),
      id: k.id,
      ioregsel: k.ioregsel,
      irr: k.irr,
      rteLo: k.redirtbl.map((e) => Number(e & 0xffffffffn)),
      rteHi: k.redirtbl.map((e) => Number(e >> 32n)),
    });
    lapic.loadRegisterPage(this.vcpu.getLapic());
  }
}
