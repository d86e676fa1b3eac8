/**
 * Builds the PC for a parsed command line and runs it to the end: chardevs, drives, firmware or
 * kernel, the vCPU from the chosen accelerator; then maps how the guest ended to QEMU's exit
 * status (isa-debug-exit's value, 0 for poweroff, quit and -no-reboot resets).
 */
import type { CharBackend } from "../../lib/devices/chardev.ts";
import { createVcpu } from "../../lib/virt/accel/tcg.ts";
import { cpuid } from "../../lib/cpu/models.ts";
import { KvmCpu, KvmGuestError, openKvm } from "../../lib/virt/accel/kvm.ts";
import { AccelInitError } from "../../lib/virt/accel/accel.ts";
import {
  type KernelKind,
  kernelKind,
  KernelLoadError,
  linuxForOptionRom,
  loadKernel,
  multibootForOptionRom,
} from "../../lib/virt/machine/kernel_loader.ts";
import type { AccelName, MachineConfig } from "../../lib/virt/machine/config.ts";
import { GuestMemoryError, Pc } from "../../lib/virt/machine/pc.ts";
import { attachMonitors, MonitorError, type Monitors } from "../../lib/virt/monitor/mod.ts";
import { SnapshotError } from "../../lib/virt/snapshot/errors.ts";
import { biosRomSpace, installBios } from "../../lib/virt/machine/bios.ts";
import { hostStrerror } from "./host_errors.ts";
import { HostChardevs } from "./chardevs.ts";
import { CliError } from "./cli_error.ts";
import { openDrives } from "./drives.ts";
import type { Invocation, Program } from "./parse.ts";
import { type Cleanup, readBios, readKernel, type Reporter } from "./run.ts";
import { installLogging } from "./logging.ts";

export interface RunContext {
  invocation: Invocation;
  program: Program;
  reporter: Reporter;
  cleanup: Cleanup;
  accel: AccelName;
  log?: Deno.FsFile;
}

/** QEMU's default firmware, used when neither -bios nor -kernel is given. */
export const DEFAULT_BIOS = "/usr/share/seabios/bios-256k.bin";
const FALLBACK_BIOS = "/usr/share/seabios/bios.bin";

function defaultBios(): string {
  for (const path of [DEFAULT_BIOS, FALLBACK_BIOS]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* try the next */ }
  }
  return "bios-256k.bin";
}

export async function runMachine(context: RunContext): Promise<number> {
  const { invocation, reporter, cleanup } = context;
  const config: MachineConfig = invocation.config;
  // The chardevs exist before the board; they reach it through this once it does.
  const board: { pc?: Pc } = {};
  const chardevs = new HostChardevs({ quit: () => board.pc?.quit(), kick: () => board.pc?.kick() });
  cleanup.add(() => chardevs.close());

  const serial: (CharBackend | undefined)[] = config.serial.map((spec, i) =>
    chardevs.open(
      spec,
      invocation.serialLocations[i],
      "could not connect serial device to character backend",
      invocation.serialLocations[i].replace(/^-serial /, ""),
    )
  );
  const debugcon = config.debugcon
    ? chardevs.open(config.debugcon, "-debugcon", "invalid character backend", "")
    : undefined;

  const drives = openDrives(
    invocation,
    (lines) => reporter.report(lines.map((text) => ({ text, raw: true }))),
    cleanup,
  );

  const biosPath = config.bios ?? (config.kernel === undefined ? defaultBios() : undefined);
  const bios = biosPath === undefined ? undefined : readBios(biosPath);
  const kernel = config.kernel === undefined ? undefined : readKernel(config.kernel);

  const machine = createPc({
    ramSize: config.ramSize,
    serial,
    debugcon,
    isaDebugExit: config.isaDebugExit,
    rtc: config.rtc,
    noReboot: config.noReboot,
    noShutdown: config.noShutdown,
    bootMenu: config.bootMenu,
    nographic: config.nographic,
    romSpace: bios ? biosRomSpace(bios) : 0,
  });
  board.pc = machine;
  for (const { config: drive, driver } of drives) {
    if (drive.interface === "ide") machine.attachIde(drive.index, drive.media, driver);
  }
  for (const drive of config.drives) {
    if (drive.file === "" && drive.interface === "ide" && drive.media === "cdrom") {
      machine.attachIde(drive.index, "cdrom");
    }
  }
  const vcpu = createAccelVcpu(machine, context);
  machine.vcpu = vcpu;
  const [cpuid1Eax, , , cpuid1Edx] = cpuid(vcpu.model, 1, 0);
  machine.installSmbios(cpuid1Eax, cpuid1Edx);
  if (vcpu.fpu) machine.connectFpu(vcpu.fpu as { onFerr?: () => void });
  installLogging(machine, vcpu, config, context.log);

  if (bios) installBios(machine.bus, machine.i440fx, bios);
  if (kernel) {
    try {
      const initrds = readInitrds(kernelKind(kernel), config.initrd);
      const kernelOptions = { kernelPath: config.kernel!, cmdline: config.append ?? "", initrds };
      const kind = kernelKind(kernel);
      const rom = kind === "multiboot" ? "multiboot_dma.bin" : "linuxboot_dma.bin";
      const optionRom = bios && kind !== "flat" ? readOptionRom(rom) : undefined;
      const viaRom = optionRom !== undefined &&
        (multibootForOptionRom(machine, kernel, { ...kernelOptions, optionRom }) ||
          linuxForOptionRom(machine, kernel, { ...kernelOptions, optionRom }));
      if (viaRom) {
        // SeaBIOS runs QEMU's multiboot or linuxboot option ROM, which enters the kernel.
        machine.onBoot = () => vcpu.reset();
      } else {
        const boot = loadKernel(machine, vcpu, kernel, kernelOptions);
        machine.onBoot = bios ? boot : () => {
          machine.programLikeFirmware();
          boot();
        };
      }
    } catch (e) {
      if (e instanceof KernelLoadError) throw new CliError([{ text: e.message, raw: true }]);
      throw e;
    }
  }
  if (!kernel && bios) machine.onBoot = () => vcpu.reset();
  // QEMU writes the boot order to CMOS when the machine is done, after loading the kernel.
  if (config.bootOrder.length > 3) throw new CliError("Too many boot devices for PC");
  const invalid = [...config.bootOrder].find((c) => !"abcdn".includes(c));
  if (invalid) throw new CliError(`Invalid boot device for PC: '${invalid}'`);
  machine.setBootOrder(config.bootOrder);
  // QEMU's system reset at startup: -d cpu_reset logs it, then firmware or kernel entry.
  machine.reset();

  if (config.monitor?.kind === "mux-stdio" || config.monitor?.kind === "stdio") chardevs.openMonitorStdio();
  const monitors = await openMonitors(machine, context);
  cleanup.add(() => monitors.close());
  if (invocation.loadvm !== undefined) {
    // QEMU loads the snapshot before the VM starts and exits 1 with its message when it cannot.
    try {
      monitors.target.snapshots.load(invocation.loadvm);
    } catch (e) {
      if (e instanceof SnapshotError) throw new CliError(e.message);
      throw e;
    }
  }
  chardevs.attachMonitor((write) => monitors.console(write));

  chardevs.start();
  let exit;
  try {
    exit = await machine.run();
  } catch (e) {
    // QEMU prints these and stops the VM; with nothing left to run, we end the process.
    if (e instanceof KvmGuestError) throw new CliError([{ text: e.message, raw: true }]);
    throw e;
  }
  monitors.machineExited(exit);
  switch (exit.kind) {
    case "shutdown":
      return exit.status & 0xff;
    case "reset":
    case "quit":
      return 0;
  }
}

/**
 * The vCPU of the chosen accelerator: lib/cpu directly (tcg), or a KVM vCPU of the simulated
 * /dev/kvm whose guest TSC runs on the board's clock (kvm). The open VM holds its references on
 * kvm and kvm_intel until the process ends.
 */
function createAccelVcpu(machine: Pc, context: RunContext) {
  const config = context.invocation.config;
  if (config.cpuModel === "host" && context.accel !== "kvm") {
    throw new CliError("CPU model 'host' requires KVM or HVF");
  }
  if (context.accel !== "kvm") return createVcpu(machine.bus, config);
  let kvm;
  try {
    kvm = openKvm({ hostClock: machine.clock.nowNs });
  } catch (e) {
    if (!(e instanceof AccelInitError)) throw e;
    throw new CliError([{ text: e.detail ?? "", raw: true }, {
      text: `failed to initialize kvm: ${e.strerror}`,
    }]);
  }
  // QEMU 7.2's default under KVM: kvm_accel_instance_init allows the kernel irqchip and leaves
  // split to the machine, whose default_kernel_irqchip_split is false on pc: the kernel's PIC,
  // IOAPIC and LAPIC (KVM_CREATE_IRQCHIP).
  const irqchip = config.kernelIrqchip ?? "on";
  if (irqchip === "split") {
    // QEMU asks for KVM_CAP_SPLIT_IRQCHIP, which this kernel does not offer.
    kvm.close();
    throw new CliError("Could not enable split irqchip mode: Invalid argument");
  }
  const vcpu = new KvmCpu(
    machine.bus,
    kvm,
    config,
    irqchip === "on" ? { chips: machine, clock: machine.clock } : undefined,
  );
  machine.kernelIrqchip = vcpu.irqchip;
  context.cleanup.add(() => {
    vcpu.close();
    kvm.close();
  });
  return vcpu;
}

/** Reads the -initrd files, failing with the message QEMU's loader for this kernel kind gives. */
function readInitrds(kind: KernelKind, list: string | undefined): { entry: string; data: Uint8Array }[] {
  if (list === undefined) return [];
  const entries = kind === "multiboot" ? list.split(",") : [list];
  return entries.map((entry) => {
    // A multiboot module is "path args"; a Linux initrd is a path.
    const path = kind === "multiboot" ? entry.split(" ")[0] : entry;
    try {
      return { entry, data: Deno.readFileSync(path) };
    } catch (e) {
      if (kind === "multiboot") throw new CliError(`Failed to open file '${path}'`);
      if (kind === "flat") {
        throw new CliError([{ text: "qemu: linux kernel too old to load a ram disk", raw: true }]);
      }
      throw new CliError([{
        // glib's g_file_get_contents wording, with its "open() failed" in the middle.
        text: `qemu: error reading initrd ${path}: Failed to open file \u201c${path}\u201d: open() failed: ` +
          hostStrerror(e),
        raw: true,
      }]);
    }
  });
}

/** QMP, the human monitor and the gdb stub (lib/virt/monitor), as the command line asked. */
async function openMonitors(pc: Pc, context: RunContext): Promise<Monitors> {
  const { invocation, program, accel } = context;
  try {
    return await attachMonitors(pc, {
      qmp: invocation.monitors.qmp,
      hmp: invocation.monitors.hmp,
      gdb: invocation.monitors.gdb,
      startPaused: invocation.monitors.startPaused,
      name: invocation.config.name,
      nodeNames: Object.fromEntries(
        invocation.config.drives.flatMap((d) =>
          d.nodeName !== undefined && d.interface === "ide"
            ? [[`ide${d.index >> 1}-${d.media === "cdrom" ? "cd" : "hd"}${d.index & 1}`, d.nodeName]]
            : []
        ),
      ),
      accel,
      arch: program.target,
    });
  } catch (e) {
    if (e instanceof MonitorError) throw new CliError(e.message);
    throw e;
  }
}

/** The board, with a RAM allocation failure reported as QEMU reports it. */
function createPc(options: ConstructorParameters<typeof Pc>[0]): Pc {
  try {
    return new Pc(options);
  } catch (e) {
    if (e instanceof GuestMemoryError) throw new CliError(e.message);
    throw e;
  }
}

/** QEMU's option ROMs (Debian's qemu-system-data), or undefined when they are not installed. */
function readOptionRom(name: string): Uint8Array | undefined {
  try {
    return Deno.readFileSync(`/usr/share/qemu/${name}`);
  } catch {
    return undefined;
  }
}
