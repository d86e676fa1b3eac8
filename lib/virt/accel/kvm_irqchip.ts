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
 *
 * The PIT goes into the kernel too, as QEMU's kvm-pit (KVM_CREATE_PIT2 with flags 0): the board's
 * Pit becomes a copy without a timer or IRQ line, pushed and pulled with KVM_SET/GET_PIT2 like the
 * chips; port 0x61 stays on the board and reads channel 2 from the kernel first, and a write there
 * (channel 2's GATE) goes back with KVM_SET_PIT2, as QEMU's kvm_pit_get_channel_info and
 * kvm_pit_set_gate do; the HPET's legacy replacement reaches the kernel as KVM_PIT_FLAGS_HPET_LEGACY
 * (QEMU's kvm_pit_irq_control).
 */
import type { IrqSink } from "../../devices/irq.ts";
import type { PicPair } from "../../devices/pic.ts";
import type { IoApic } from "../../devices/ioapic.ts";
import type { LocalApic } from "../../devices/apic.ts";
import type { Bus, PortDevice } from "../../devices/bus.ts";
import type { Pit } from "../../devices/pit.ts";
import {
  KVM_IOAPIC_NUM_PINS,
  KVM_IRQ_ROUTING_IRQCHIP,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_PIC_STATE_FIELDS,
  KVM_PIT_FLAGS_HPET_LEGACY,
  type KvmIrqRoutingEntry,
  type KvmVcpu,
  type KvmVm,
  loadPitChannel,
  PIC_FIELDS as MODEL_FIELD,
  pitChannelState,
} from "../kvm/mod.ts";

/** Port B of the PC's system control, in front of PIT channel 2. */
const PORT_B = 0x61;

/** The board's interrupt controllers and the ISA IRQ fan-out whose sinks become KVM_IRQ_LINE. */
export interface BoardIrqchips {
  pic: PicPair;
  ioapic: IoApic;
  lapic: LocalApic;
  irq: { pic: IrqSink; ioapic?: IrqSink };
  /** The PIT, port B (0x61) in front of its channel 2, the HPET for its legacy replacement. */
  pit: Pit;
  portB: PortDevice;
  hpet: { readonly legacy: boolean };
  bus: Bus;
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
    vm.createPit2({ flags: 0 });
    // The kernel's PIT counts and interrupts; the board's keeps state only.
    const ch0 = board.pit.channels[0];
    ch0.timer?.del();
    ch0.timer = ch0.irq = undefined;
    const portB = board.portB;
    board.bus.registerPorts(PORT_B, 1, {
      portRead: (port, size) => {
        this.#pullPit();
        return portB.portRead(port, size);
      },
      portWrite: (port, size, value) => {
        this.#pullPit();
        portB.portWrite(port, size, value);
        this.#pushPit();
      },
    });
  }

  #pitLegacy = false;

  /** KVM_GET_PIT2 into the board's PIT. */
  #pullPit(): void {
    const state = this.vm.getPit2(), now = this.board.bus.nowNs();
    this.board.pit.channels.forEach((ch, i) => {
      loadPitChannel(ch, state.channels[i], now);
      // The kernel's own load time, so the copy's counts and OUT levels match the kernel's.
      ch.countLoadTime = Number(state.channels[i].count_load_time);
    });
  }

  /** The board's PIT into the kernel (KVM_SET_PIT2), with the HPET's legacy replacement as a flag. */
  #pushPit(): void {
    this.#pitLegacy = this.board.hpet.legacy;
    this.vm.setPit2({
      channels: this.board.pit.channels.map(pitChannelState),
      flags: this.#pitLegacy ? KVM_PIT_FLAGS_HPET_LEGACY : 0,
    });
  }

  /** Before KVM_RUN: the HPET entered or left legacy replacement since the kernel last heard. */
  syncHpetLegacy(): void {
    if (this.board.hpet.legacy === this.#pitLegacy) return;
    this.#pullPit();
    this.#pushPit();
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
    this.#pushPit();
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
    this.#pullPit();
  }
}
