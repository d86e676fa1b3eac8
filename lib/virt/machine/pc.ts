/**
 * The PC board (`-M pc`, QEMU's pc-i440fx-7.2 as far as this project models it): RAM per `-m`, the
 * legacy devices at their DESIGN.md ports, the virtual clock shared by devices and CPU, and the run
 * loop that slices the CPU by the next timer deadline and idles on HLT until a timer or input.
 *
 * The board never prints: serial output leaves through the CharBackends the caller passes in, and
 * `run()` resolves with how the guest ended; the CLI turns that into QEMU's exit status.
 */
import { AcpiPm } from "../../devices/acpi_pm.ts";
import { LocalApic } from "../../devices/apic.ts";
import { IoApic } from "../../devices/ioapic.ts";
import { Bus } from "../../devices/bus.ts";
import type { CharBackend } from "../../devices/chardev.ts";
import { VirtualClock } from "../../devices/clock.ts";
import { FwCfg, FwCfgKey, le16 } from "../../devices/fw_cfg.ts";
import { I440fx } from "../../devices/i440fx.ts";
import { I8042 } from "../../devices/i8042.ts";
import { DeviceLog } from "../../devices/guest_log.ts";
import { Hpet } from "../../devices/hpet.ts";
import { IrqLine, IsaIrqRouter } from "../../devices/irq.ts";
import { DebugCon, IsaDebugExit, Port92, PostPort } from "../../devices/legacy_ports.ts";
import { PciHost } from "../../devices/pci.ts";
import { PicPair } from "../../devices/pic.ts";
import { IdeDrive } from "../../devices/ide.ts";
import { PiixIde } from "../../devices/piix_ide.ts";
import type { BlockDriver } from "../../image/block_driver.ts";
import { Piix3, PIIX_PIRQC } from "../../devices/piix3.ts";
import { SEABIOS_PIRQ_IRQS } from "../../devices/acpi_pci_links.ts";
import { Pit } from "../../devices/pit.ts";
import { PortB } from "../../devices/port_b.ts";
import { Rtc } from "../../devices/rtc.ts";
import { COM_PORTS, Uart } from "../../devices/uart.ts";
import { UnassignedMmio } from "../../devices/unassigned.ts";
import type { Vcpu } from "../accel/vcpu.ts";
import type { IsaDebugExitConfig, RtcConfig } from "./config.ts";
import { HIGH_ZONE as ACPI_HIGH_ZONE, pcE820, ramBelow4g } from "./e820.ts";
import { buildAcpiTables } from "../../devices/acpi_tables.ts";
import { buildSmbios, seabiosSmbios, type SmbiosBlobs } from "../../devices/smbios.ts";
import { LibError } from "../../errors.ts";
import { InsnRate } from "../insn_rate.ts";

/** Guest RAM could not be allocated (QEMU: `cannot set up guest memory 'pc.ram': ...`). */
export class GuestMemoryError extends LibError {}

/** How a run ended. */
export type PcExit =
  /** A device asked to exit with this status (isa-debug-exit), or the guest powered off (0). */
  | { kind: "shutdown"; status: number; reason: "debug-exit" | "poweroff" }
  /** The guest reset (or triple-faulted) under -no-reboot. */
  | { kind: "reset" }
  /** The host asked to stop (Ctrl-A x, monitor quit, a signal). */
  | { kind: "quit" };

export interface PcOptions {
  ramSize: number;
  /** Serial backends for COM1..COM4; undefined leaves that port out. */
  serial: (CharBackend | undefined)[];
  debugcon?: CharBackend;
  isaDebugExit?: IsaDebugExitConfig[];
  rtc?: RtcConfig;
  noReboot?: boolean;
  noShutdown?: boolean;
  bootMenu?: boolean;
  nographic?: boolean;
  /** Bytes reserved for ROM images after RAM (the BIOS). */
  romSpace?: number;
  /** A manual clock for deterministic tests; the default follows the host. */
  clock?: VirtualClock;
}

export const DEBUGCON_IOBASE = 0xe9;
/** Local APIC register offsets SeaBIOS programs. */
const APIC_SVR = 0xf0, APIC_LVT_LINT0 = 0x350, APIC_LVT_LINT1 = 0x360, APIC_SVR_ENABLE = 0x100;
/**
 * Where SeaBIOS (Debian's 1.16.2, under QEMU 7.2 with -kernel) leaves the RSDP, the SMBIOS entry
 * point and the SMBIOS structures in the F-segment.
 */
const RSDP_ADDRESS = 0xf59d0;
const SMBIOS_ENTRY_ADDRESS = 0xf59f0;
const SMBIOS_TABLE_ADDRESS = 0xf5a10;
/** The 8259s' edge/level control registers (ELCR1, ELCR2). */
const ELCR_PORT = 0x4d0;
const BOOT_DEVICE_CODES: Record<string, number> = { a: 1, b: 1, c: 2, d: 3, n: 4 };
/** Size of one BIOS linker/loader command; an all-zero command is skipped. */
const TABLE_LOADER_ENTRY = 128;

/**
 * A slice: at least MIN_SLICE instructions, at most what runs until the next timer deadline, and
 * at most MAX_SLICE_MS of host time when no timer is due sooner, so input is seen promptly. The
 * bound is in time, not instructions: a fast guest loop then takes few slices, which matters
 * under kvm, where each slice ends KVM_RUN (a signal kick, a VM exit and a re-entry).
 */
const MIN_SLICE = 1_000;
const MAX_SLICE_MS = 4;
/** How often (host ms) the loop yields to the event loop for stdin and signals while busy. */
const YIELD_EVERY_MS = 15;
/** Longest host sleep while halted, so a quit request is never missed for long. */
const MAX_IDLE_MS = 50;
/** A halted guest's sleep ends this much before the deadline, which virtual time then jumps to. */
const EARLY_WAKE_MS = 1;

export class Pc {
  readonly bus: Bus;
  /** RAM mapped from 0 (the rest of -m, if any, would sit above 4 GiB). */
  readonly ramBelow4g: number;
  /** RAM from 4 GiB up: allocated as QEMU does, unreachable without PAE (which lib/cpu lacks). */
  readonly ramAbove4g?: ArrayBuffer;
  readonly clock: VirtualClock;
  readonly pic: PicPair;
  readonly lapic: LocalApic;
  readonly ioapic: IoApic;
  readonly hpet: Hpet;
  readonly pit: Pit;
  readonly portB: PortB;
  readonly rtc: Rtc;
  readonly i8042: I8042;
  readonly port92: Port92;
  readonly post: PostPort;
  readonly fwCfg: FwCfg;
  readonly uarts: Uart[] = [];
  readonly pci: PciHost;
  readonly i440fx: I440fx;
  readonly piix3: Piix3;
  readonly acpi: AcpiPm;
  readonly ide: PiixIde;
  readonly irq: IsaIrqRouter;
  /** The devices' `-d guest_errors` lines (off until `logGuestErrors`). */
  readonly log = new DeviceLog();
  vcpu?: Vcpu;
  /**
   * Under KVM with the in-kernel irqchip, pic/ioapic/lapic are user space's copies of the kernel's
   * chips (QEMU's kvm-i8259...): `pull` refreshes them before anything reads them (savevm, info pic).
   */
  kernelIrqchip?: { pull(): void };
  /** Called before each reset with the CPU (for `-d cpu_reset`). */
  onReset?: () => void;
  /** Restores the boot state after a machine reset (re-entering a -kernel, or the BIOS reset vector). */
  onBoot?: () => void;
  /** QEMU's SMBIOS blobs, once the CPU is known (`installSmbios`). */
  private smbios?: SmbiosBlobs;
  private quitRequested = false;
  private wake?: () => void;
  /** Guest instructions per host ms, measured, to size slices by the next deadline. */
  private readonly rate = new InsnRate(MIN_SLICE);

  constructor(readonly options: PcOptions) {
    // Only RAM below 4 GiB is addressable by our 32-bit (non-PAE) bus; the rest is reported to the
    // firmware and the guest as QEMU does, but nothing can reach it.
    this.ramBelow4g = ramBelow4g(options.ramSize);
    try {
      this.bus = new Bus({ ramSize: this.ramBelow4g, romSpace: options.romSpace ?? 0 });
      // QEMU allocates all of -m up front; RAM above 4 GiB is allocated here too (untouched pages
      // cost nothing), so a size the host cannot provide fails the same way.
      if (options.ramSize > this.ramBelow4g) {
        this.ramAbove4g = new ArrayBuffer(options.ramSize - this.ramBelow4g);
      }
    } catch (e) {
      if (e instanceof RangeError) {
        throw new GuestMemoryError("cannot set up guest memory 'pc.ram': Cannot allocate memory");
      }
      throw e;
    }
    this.clock = options.clock ?? new VirtualClock();
    this.bus.nowNs = this.clock.nowNs;
    const bus = this.bus;
    this.pic = new PicPair(bus);
    // The local APIC sits in front of the CPU with the 8259 pair behind LINT0; ISA IRQs also go to
    // the IOAPIC (IRQ0 on pin 2), as on QEMU's pc.
    this.lapic = new LocalApic(bus, this.clock);
    this.lapic.install(this.pic);
    this.ioapic = new IoApic(bus, this.lapic);
    this.irq = new IsaIrqRouter(this.pic, this.ioapic);
    // The HPET sits between the PIT/RTC and their IRQs: legacy replacement takes IRQ0 and IRQ8 over.
    this.hpet = new Hpet(bus, this.clock, this.irq);
    this.pit = new Pit(bus, this.clock, new IrqLine(this.hpet.legacyGate, 0));
    // IRQ0 ticks the host delivered late, the PIT's or (under legacy replacement) the HPET's, are
    // kept and raised again, not merged (lost_ticks.ts says why); a tick's request counts as
    // waiting only where it can reach the CPU.
    const latched = () => this.irq.latched(0);
    this.pit.delayLostTicks({ unmasked: () => !this.hpet.legacy && this.irq.unmasked(0), latched });
    this.hpet.delayLostTicks({ unmasked: () => this.hpet.legacy && this.irq.unmasked(0), latched });
    this.irq.watchAcknowledge((irq) => {
      if (irq !== 0) return;
      this.pit.acknowledged();
      this.hpet.acknowledged();
    });
    this.portB = new PortB(bus, this.pit);
    this.rtc = new Rtc(bus, this.clock, new IrqLine(this.hpet.legacyGate, 8), { base: options.rtc?.base });
    this.rtc.setMemory(this.ramBelow4g, options.ramSize - this.ramBelow4g, 1);
    this.i8042 = new I8042(bus, this.irq.line(1), this.irq.line(12));
    this.hpet.log = this.i8042.log = this.log;
    this.port92 = new Port92(bus);
    this.post = new PostPort(bus);
    options.serial.slice(0, COM_PORTS.length).forEach((backend, i) => {
      if (!backend) return;
      const { base, irq } = COM_PORTS[i];
      this.uarts.push(new Uart(bus, this.clock, base, this.irq.line(irq), backend));
    });
    // QEMU's -debugcon is an isa-debugcon at its default iobase, 0xE9 (Bochs' port).
    if (options.debugcon) new DebugCon(bus, options.debugcon, DEBUGCON_IOBASE);
    for (const d of options.isaDebugExit ?? []) new IsaDebugExit(bus, d.iobase, d.iosize);
    // PCI 00:00.0 host bridge, 00:01.0 ISA bridge, 00:01.1 IDE, 00:01.3 ACPI PM, as QEMU's pc has them.
    this.pci = new PciHost(bus);
    this.i440fx = new I440fx(bus);
    this.piix3 = new Piix3(this.irq);
    this.acpi = new AcpiPm(bus, this.clock, this.irq.line(9));
    this.pci.setIrqSink(this.piix3);
    this.pci.add(this.i440fx, 0, 0);
    this.pci.add(this.piix3, 1, 0);
    this.ide = new PiixIde(bus, { irq14: this.irq.line(14), irq15: this.irq.line(15) });
    this.pci.add(this.ide, 1, 1);
    this.pci.add(this.acpi, 1, 3);
    this.fwCfg = new FwCfg(bus);
    this.fwCfg.setMachineInfo({
      ramSize: options.ramSize,
      nographic: options.nographic,
      bootMenu: options.bootMenu,
    });
    this.fwCfg.addFile("etc/e820", pcE820(options.ramSize));
    // QEMU hands SeaBIOS its ACPI tables through etc/table-loader, and SeaBIOS then puts the PIIX4
    // PM block at 0x600 (else at 0xB000). We build no ACPI tables yet: an empty loader script gets
    // the same PM placement, and SeaBIOS falls back to its own tables.
    this.fwCfg.addFile("etc/table-loader", new Uint8Array(TABLE_LOADER_ENTRY * 4));
    // Without a display SeaBIOS mirrors its console (banner, boot messages) on COM1, as under QEMU.
    if (options.nographic && this.uarts.length) {
      this.fwCfg.addFile("etc/sercon-port", le16(COM_PORTS[0].base));
    }
  }

  /**
   * QEMU's SMBIOS tables for this machine and a CPU whose CPUID.1 gives eax/edx: as fw_cfg files for
   * a BIOS, and kept for `programLikeFirmware` to install as SeaBIOS would.
   */
  installSmbios(cpuid1Eax: number, cpuid1Edx: number): void {
    this.smbios = buildSmbios({
      ramSize: this.options.ramSize,
      ramBelow4g: this.ramBelow4g,
      cpuid1Eax,
      cpuid1Edx,
    });
    this.fwCfg.addFile("etc/smbios/smbios-tables", this.smbios.tables);
    this.fwCfg.addFile("etc/smbios/smbios-anchor", this.smbios.anchor);
  }

  /** `-d guest_errors`: the devices' complaints go to `write`, and empty addresses get a logger. */
  logGuestErrors(write: (text: string) => void): void {
    this.log.guestErrors = true;
    this.log.write = write;
    new UnassignedMmio(this.bus, this.log);
  }

  /** Asks the run loop to end with `{ kind: "quit" }` (Ctrl-A x, monitor quit). */
  quit(): void {
    this.quitRequested = true;
    this.bus.stopRequested = true;
    this.wake?.();
  }

  /** Input arrived for a device: a halted guest should look again. */
  kick(): void {
    this.wake?.();
  }

  /**
   * `-boot order=`: QEMU writes the first three boot devices to CMOS 0x3D and 0x38 (floppy 1,
   * disk 2, CD-ROM 3, network 4), where SeaBIOS reads the legacy boot order, and the first one to
   * fw_cfg's BOOT_DEVICE item.
   */
  setBootOrder(order: string): void {
    const code = (c: string | undefined) => (c === undefined ? 0 : BOOT_DEVICE_CODES[c] ?? 0);
    const cmos = this.rtc.cmos;
    cmos[0x3d] = (code(order[1]) << 4) | code(order[0]);
    // Low bit set: skip the floppy boot-signature check, as QEMU's default fd_bootchk=on leaves clear.
    cmos[0x38] = code(order[2]) << 4;
    this.fwCfg.addI16(FwCfgKey.BOOT_DEVICE, order.charCodeAt(0) || 0);
  }

  /**
   * FERR# from the x87 (error reporting with CR0.NE clear) drives IRQ13 until the guest writes
   * port 0xF0, as on the PC/AT and in QEMU's pc machine.
   */
  connectFpu(fpu: { onFerr?: () => void }): void {
    const irq13 = this.irq.line(13);
    fpu.onFerr = () => irq13.raise();
    this.bus.registerPorts(0xf0, 1, { portRead: () => 0xff, portWrite: () => irq13.lower() });
  }

  /**
   * Puts a drive at IDE position 0-3 (primary master, primary slave, secondary master, slave); a
   * CD-ROM without a driver is an empty tray.
   */
  attachIde(index: number, media: "disk" | "cdrom", driver?: BlockDriver): void {
    const drive = new IdeDrive({ kind: media, driver }, index);
    this.ide.channels[index >> 1].attach((index & 1) as 0 | 1, drive);
  }

  /**
   * Without a BIOS, leave the chipset as SeaBIOS would: ACPI PM I/O at 0x600 (so S5 is at 0x604),
   * IDE bus-master registers at 0xC040.
   */
  programLikeFirmware(): void {
    this.acpi.programLikeSeaBios(0x600);
    // SeaBIOS steers PIRQA-D to IRQs 10, 10, 11, 11 and makes those level-triggered in the ELCR;
    // the DSDT's interrupt links read the same registers back.
    SEABIOS_PIRQ_IRQS.forEach((irq, pirq) => this.piix3.writeConfig(PIIX_PIRQC + pirq, 1, irq));
    const elcr = SEABIOS_PIRQ_IRQS.reduce((bits, irq) => bits | (1 << irq), 0);
    this.bus.out(ELCR_PORT, 1, elcr & 0xff);
    this.bus.out(ELCR_PORT + 1, 1, elcr >> 8);
    this.installAcpiTables();
    this.ide.programLikeSeaBios(0xc040);
    // SeaBIOS enables the local APIC in virtual-wire mode: LINT0 ExtINT (the 8259), LINT1 NMI.
    const apic = this.lapic.base;
    this.bus.write32(apic + APIC_SVR, this.bus.read32(apic + APIC_SVR) | APIC_SVR_ENABLE);
    this.bus.write32(apic + APIC_LVT_LINT0, 0x8700);
    this.bus.write32(apic + APIC_LVT_LINT1, 0x8400);
  }

  /**
   * The ACPI tables SeaBIOS would have installed from QEMU's: the RSDP in the F-segment, the rest at
   * the bottom of SeaBIOS's high zone (the top 128 KiB of low RAM, which the e820 map reserves); and
   * the SMBIOS tables, which fit in the F-segment after the RSDP.
   */
  private installAcpiTables(): void {
    const layout = buildAcpiTables(this.ramBelow4g - ACPI_HIGH_ZONE, {
      pmBase: 0x600,
      apic: true,
      hpet: true,
      pciMemStart: this.ramBelow4g,
      serialPorts: this.options.serial.slice(0, COM_PORTS.length).flatMap((backend, i) => backend ? [i] : []),
    });
    this.bus.writeBytes(layout.base, layout.tables);
    this.bus.writeBytes(RSDP_ADDRESS, layout.rsdp);
    if (this.smbios) {
      const { entry, tables } = seabiosSmbios(this.smbios, SMBIOS_TABLE_ADDRESS);
      this.bus.writeBytes(SMBIOS_ENTRY_ADDRESS, entry);
      this.bus.writeBytes(SMBIOS_TABLE_ADDRESS, tables);
    }
  }

  /** System reset: CPU and devices back to power-on state, then the boot path again. */
  reset(): void {
    this.onReset?.();
    this.bus.resetRequested = false;
    this.bus.setA20(true);
    this.vcpu?.reset();
    this.lapic.reset();
    this.ioapic.reset();
    this.pic.reset();
    this.hpet.reset();
    this.pit.reset();
    this.i8042.reset();
    this.i440fx.reset();
    this.piix3.reset();
    this.acpi.reset();
    this.ide.reset();
    this.onBoot?.();
  }

  /**
   * Runs the guest until it ends. CPU slices are sized so the next timer deadline falls at a slice
   * boundary; on HLT the loop sleeps on the host until that deadline or until input arrives.
   */
  async run(): Promise<PcExit> {
    const vcpu = this.vcpu;
    if (!vcpu) throw new Error("Pc.run: no vCPU attached");
    const bus = this.bus;
    const clock = this.clock;
    let lastYield = performance.now();
    for (;;) {
      clock.runDue();
      if (bus.stopRequested) {
        const exit = this.takeStop();
        if (exit) return exit;
      }
      if (this.frozen) {
        await this.idle();
        continue;
      }
      const untilNs = clock.nsUntilNextDeadline();
      const sliceMs = Math.min(MAX_SLICE_MS, untilNs / 1e6);
      const budget = this.rate.budgetFor(sliceMs);
      // The budget predicts time from instruction counts, which fails where the CPU meets code it
      // must decode first (far slower): there it also checks the host clock against this.
      bus.sliceEndMs = clock.hostMsAt(clock.nextDeadline());
      const before = vcpu.instructions;
      const started = performance.now();
      const reason = vcpu.run(budget);
      const now = performance.now();
      if (reason === "budget") this.rate.observe(vcpu.instructions - before, now - started);
      if (reason === "shutdown" && !bus.stopRequested) bus.requestReset();
      if (reason === "hlt" && !bus.stopRequested) {
        if (bus.intr || bus.nmi) continue;
        await this.idle();
        lastYield = performance.now();
      } else if (now - lastYield >= YIELD_EVERY_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
    }
  }

  /** Handles a stop request; returns the exit when the run is over, undefined to go on. */
  private takeStop(): PcExit | undefined {
    const bus = this.bus;
    bus.stopRequested = false;
    if (this.quitRequested) return { kind: "quit" };
    const status = bus.shutdownStatus;
    // isa-debug-exit always asks for an odd status; 0 is the ACPI soft-off.
    if (status !== undefined && status !== 0) return { kind: "shutdown", status, reason: "debug-exit" };
    if (status === 0) {
      bus.shutdownStatus = undefined;
      if (!this.options.noShutdown) return { kind: "shutdown", status: 0, reason: "poweroff" };
      // -no-shutdown: the VM stops where it is; only the host can end the run now.
      this.clock.pause();
      this.vcpu!.halted = true;
      this.frozen = true;
    }
    if (bus.resetRequested) {
      if (this.options.noReboot) return { kind: "reset" };
      this.reset();
    }
    return undefined;
  }

  /** Set under -no-shutdown after poweroff: the guest never runs again. */
  private frozen = false;

  /**
   * Sleeps on the host until just before the next timer deadline (or input, or a quit), then moves
   * virtual time exactly to that deadline and fires it. Timers then see the instant they asked
   * for, not a late host time: a PIT mode 2 pulse lasts one 838 ns input clock, and a late look
   * would find OUT already high again and lose the edge. Virtual time runs ahead of the host by at
   * most the early-wake margin per halt, as clock.ts's policy allows; it never goes back.
   */
  private async idle(): Promise<void> {
    const untilNs = this.frozen ? Infinity : this.clock.nsUntilNextDeadline();
    const ms = Math.min(MAX_IDLE_MS, Math.max(0, untilNs / 1e6 - EARLY_WAKE_MS));
    let woken = false;
    if (ms > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        this.wake = () => {
          woken = true;
          done();
        };
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
      this.wake = undefined;
    }
    if (woken || this.frozen || this.bus.stopRequested) return;
    if (this.clock.nsUntilNextDeadline() <= EARLY_WAKE_MS * 1e6) this.clock.warpToNextDeadline();
  }
}
