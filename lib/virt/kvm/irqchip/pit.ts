/**
 * The in-kernel PIT (KVM_CREATE_PIT2): Linux's arch/x86/kvm/i8254.c, built from the project's 8254
 * model (lib/devices/pit.ts) on the in-kernel irqchip's bus and clock, so guest accesses to ports
 * 0x40-0x43 are served by kvm_intel without an exit to user space and channel 0 counts on the
 * kernel clock (an hrtimer). Channel 0 drives GSI 0 through the routing table. Reinjection, on in
 * Linux by default (QEMU's lost_tick_policy=delay): a tick that falls due while the last one still
 * waits in the PIC's or IOAPIC's IRR is kept and raised again when the chips acknowledge IRQ0 (the
 * PIT's irq ack notifier); KVM_REINJECT_CONTROL turns it off. KVM_PIT_FLAGS_HPET_LEGACY silences
 * channel 0 while the HPET owns IRQ0.
 * The speaker port 0x61 stays in user space: QEMU creates the PIT without KVM_PIT_SPEAKER_DUMMY and
 * reads channel 2 with KVM_GET_PIT2.
 */
import { Pit, type PitChannel } from "../../../devices/pit.ts";
import { IrqLine, IsaIrqRouter } from "../../../devices/irq.ts";
import type { TickPath } from "../../../devices/lost_ticks.ts";
import type { KernelIrqchip } from "./irqchip.ts";
import {
  KVM_PIT_CHANNEL_FIELDS,
  KVM_PIT_FLAGS_HPET_LEGACY,
  KVM_PIT_MODE_DISABLED,
  type KvmPitChannelState,
  type KvmPitState2,
} from "./structs.ts";

/** kvm_pit_channel_state field -> the 8254 model's field (booleans there are u8 in the structure). */
export const PIT_CHANNEL_FIELDS: Record<(typeof KVM_PIT_CHANNEL_FIELDS)[number], keyof PitChannel> = {
  count: "count",
  latched_count: "latchedCount",
  count_latched: "countLatched",
  status_latched: "statusLatched",
  status: "status",
  read_state: "readState",
  write_state: "writeState",
  write_latch: "writeLatch",
  rw_mode: "rwMode",
  mode: "mode",
  bcd: "bcd",
  gate: "gate",
};

/** A channel as struct kvm_pit_channel_state has it; one without a count reads as mode 0xff. */
export function pitChannelState(ch: PitChannel): KvmPitChannelState {
  const record = ch as unknown as Record<string, number | boolean>;
  const s = {
    ...Object.fromEntries(KVM_PIT_CHANNEL_FIELDS.map((f) => [f, Number(record[PIT_CHANNEL_FIELDS[f]])])),
    count_load_time: BigInt(Math.round(ch.countLoadTime)),
  } as KvmPitChannelState;
  if (!ch.loaded) s.mode = KVM_PIT_MODE_DISABLED;
  return s;
}

/**
 * kvm_pit_load_count after KVM_SET_PIT2: the channel takes the structure's fields and counts from
 * `now` (count_load_time is the kernel's, not the caller's); mode 0xff leaves it without a count.
 */
export function loadPitChannel(ch: PitChannel, s: KvmPitChannelState, now: number): void {
  const record = ch as unknown as Record<string, number | boolean>;
  for (const f of KVM_PIT_CHANNEL_FIELDS) {
    const field = PIT_CHANNEL_FIELDS[f];
    record[field] = typeof record[field] === "boolean" ? s[f] !== 0 : s[f];
  }
  ch.loaded = s.mode !== KVM_PIT_MODE_DISABLED;
  if (!ch.loaded) ch.mode = 0;
  ch.count = (s.count & 0xffff) || 0x10000;
  ch.countLoadTime = now;
  ch.waitingGate = false;
  ch.gateLowSince = -1;
  ch.update(now);
}

export class KernelPit {
  readonly pit: Pit;
  #flags = 0;

  constructor(readonly chip: KernelIrqchip) {
    const gsi0 = {
      setIrq: (_irq: number, level: boolean) => {
        if (!(this.#flags & KVM_PIT_FLAGS_HPET_LEGACY)) chip.setGsi(0, level);
      },
    };
    this.pit = new Pit(chip.bus, chip.clock, new IrqLine(gsi0, 0));
    // IRQ0 as the chips see it under QEMU's pc routing: PIC pin 0 and IOAPIC pin 2.
    const isa = new IsaIrqRouter(chip.pic, chip.ioapic);
    this.#tickPath = {
      unmasked: () => !(this.#flags & KVM_PIT_FLAGS_HPET_LEGACY) && isa.unmasked(0),
      latched: () => isa.latched(0),
    };
    this.setReinject(true);
    isa.watchAcknowledge((irq) => {
      if (irq === 0) this.pit.acknowledged();
    });
  }

  readonly #tickPath: TickPath;

  /** kvm_pit_set_reinject: keep late ticks (the ack notifier raises them again), or merge them. */
  setReinject(reinject: boolean): void {
    if (reinject) {
      if (!this.pit.channels[0].ticks) this.pit.delayLostTicks(this.#tickPath);
    } else this.pit.channels[0].ticks = undefined;
  }

  /** KVM_GET_PIT2 */
  getState(): KvmPitState2 {
    this.chip.runTimers();
    return { channels: this.pit.channels.map(pitChannelState), flags: this.#flags };
  }

  /** KVM_SET_PIT2 */
  setState(state: KvmPitState2): void {
    this.chip.runTimers();
    this.#flags = state.flags;
    const now = this.chip.clock.nowNs();
    this.pit.channels.forEach((ch, i) => loadPitChannel(ch, state.channels[i], now));
  }
}
