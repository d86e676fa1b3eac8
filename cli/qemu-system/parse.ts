/**
 * qemu-system's command line: walks argv the way QEMU's vl.c does (single-dash long options, also
 * `--opt`; a word without a dash is the first IDE disk), looks each option up in the table of
 * options.ts, and turns it into a MachineConfig. Bad input becomes a CliError with the real tool's
 * words and location prefix; the few options that print and exit (-h, -version, `help` values)
 * come back as a PrintAndExit.
 */
import {
  type CharSpec,
  DEFAULT_RAM_SIZE,
  type DriveConfig,
  type MachineConfig,
} from "../../lib/virt/machine/config.ts";
import { CliError, errorWithHint, type Warn } from "./cli_error.ts";
import { canonicalFeature, CPU_FEATURES, CPU_MODELS } from "./cpu_models.ts";
import { LOG_ITEMS, logUsage } from "./log_items.ts";
import { helpText, lookupOption } from "./options.ts";
import { type OptPair, parseBool, parseNumber, parseOpts } from "./qemu_opts.ts";
import { parseSize, SIZE_HINT } from "./size.ts";
import { QEMU_VERSION, versionLines } from "./version.ts";

export const MACHINE_TYPE = "pc-i440fx-7.2";

export interface PrintAndExit {
  kind: "print";
  stdout: string;
  exitCode: number;
}

export interface Invocation {
  kind: "run";
  config: MachineConfig;
  /** The `-drive ...` text of each drive, for messages about it. */
  driveLocations: string[];
  /** The `-serial ...` text of each serial port, likewise. */
  serialLocations: string[];
  /** `-accel kvm` carries its location into the KVM failure message; -enable-kvm does not. */
  accelLocation?: string;
  /** What lib/virt/monitor listens on: -qmp, -monitor SOCKET, -gdb/-s, and -S. */
  monitors: { qmp: string[]; hmp: string[]; gdb?: string; startPaused: boolean };
  /** -loadvm: the snapshot to restore before the VM starts. */
  loadvm?: string;
}

/** The program-specific bits QEMU derives from its binary: name for messages, default CPU model. */
export interface Program {
  name: string;
  target: "x86_64" | "i386";
}

export function programFor(argv0: string): Program {
  const name = argv0.slice(argv0.lastIndexOf("/") + 1) || "qemu-system-x86_64";
  return { name, target: name.endsWith("i386") ? "i386" : "x86_64" };
}

const IDE_SLOTS = 4;

class Builder {
  readonly config: MachineConfig;
  readonly driveLocations: string[] = [];
  serialSpecs: { spec: string; location: string }[] = [];
  monitorSpec?: { spec: string; location: string };
  readonly monitors: Invocation["monitors"] = { qmp: [], hmp: [], startPaused: false };
  loadvm?: string;
  debugconSpec?: { spec: string; location: string };
  machineOpts: { pairs: OptPair[]; location: string }[] = [];
  accelOpts: { pairs: OptPair[]; location: string }[] = [];
  enableKvm = false;
  cpuText?: string;
  smpText?: string;
  bootText?: string;
  nographic = false;
  nodefaults = false;
  printed?: PrintAndExit;

  constructor(readonly program: Program, readonly warn: Warn) {
    this.config = {
      accel: [],
      cpuModel: program.target === "i386" ? "qemu32" : "qemu64",
      cpuFeatures: [],
      ramSize: DEFAULT_RAM_SIZE,
      drives: [],
      bootOrder: "cad",
      bootMenu: false,
      snapshot: false,
      serial: [],
      isaDebugExit: [],
      nographic: false,
      noReboot: false,
      noShutdown: false,
      log: new Set(),
      rtc: { base: "utc", clock: "host", driftfix: "none" },
    };
  }

  print(stdout: string, exitCode = 0): void {
    this.printed ??= { kind: "print", stdout, exitCode };
  }

  option(name: string, arg: string, location: string): void {
    const c = this.config;
    switch (name) {
      case "h":
        return this.print(helpText(this.program.name, versionLines()));
      case "version":
        return this.print(versionLines().join("\n") + "\n");
      case "machine":
        return void this.machineOpts.push({ pairs: parseOpts(arg, "type", location, this.warn), location });
      case "accel":
        return void this.accelOpts.push({ pairs: parseOpts(arg, "accel", location, this.warn), location });
      case "enable-kvm":
        this.enableKvm = true;
        return;
      case "cpu":
        this.cpuText = arg;
        return;
      case "smp":
        this.smpText = arg;
        return;
      case "m":
        return this.memory(arg, location);
      case "name":
        return this.name(arg, location);
      case "loadvm":
        this.loadvm = arg;
        return;
      case "hda":
        return this.legacyDrive(location.split(" ")[0].replace(/^-+/, ""), arg, location);
      case "cdrom":
        return this.addDrive({ file: arg, media: "cdrom", index: 2 }, location);
      case "drive":
        return this.drive(arg, location);
      case "snapshot":
        c.snapshot = true;
        return;
      case "boot":
        this.bootText = arg;
        return;
      case "rtc":
        return this.rtc(arg, location);
      case "display":
        return this.display(arg, location);
      case "nographic":
        this.nographic = c.nographic = true;
        return;
      case "kernel":
        c.kernel = arg;
        return;
      case "append":
        c.append = arg;
        return;
      case "initrd":
        c.initrd = arg;
        return;
      case "serial":
        return void this.serialSpecs.push({ spec: arg, location });
      case "monitor":
        // A socket gets the human monitor from lib/virt/monitor; stdio-like specs are chardevs.
        if (isSocketSpec(arg)) this.monitors.hmp.push(arg);
        else this.monitorSpec = { spec: arg, location };
        return;
      case "qmp":
        this.monitors.qmp.push(arg);
        return;
      case "gdb":
        this.monitors.gdb = arg;
        return;
      case "s":
        this.monitors.gdb = "tcp::1234";
        return;
      case "S":
        this.monitors.startPaused = true;
        return;
      case "debugcon":
        this.debugconSpec = { spec: arg, location };
        return;
      case "pidfile":
        c.pidfile = arg;
        return;
      case "d":
        return this.log(arg);
      case "D":
        c.logFile = arg;
        return;
      case "bios":
        c.bios = arg;
        return;
      case "no-reboot":
        c.noReboot = true;
        return;
      case "no-shutdown":
        c.noShutdown = true;
        return;
      case "device":
        return this.device(arg, location);
      case "nodefaults":
        this.nodefaults = true;
        return;
    }
    throw new Error(`option -${name} has no handler`);
  }

  memory(arg: string, location: string): void {
    const pairs = parseOpts(arg, "size", location, this.warn);
    for (const { key, value } of pairs) {
      if (key === "size") {
        // A bare number means MiB: QEMU appends the suffix before parsing.
        const text = /[0-9]$/.test(value) ? `${value}M` : value;
        const bytes = parseSize(text, (t) => this.warn(t));
        if (bytes === undefined) {
          throw errorWithHint(
            "Parameter 'size' expects a non-negative number below 2^64",
            SIZE_HINT,
            location,
          );
        }
        // QEMU takes 0 for its default and rounds RAM up to 8 KiB.
        this.config.ramSize = bytes === 0 ? DEFAULT_RAM_SIZE : Math.ceil(bytes / 8192) * 8192;
      } else if (key === "slots" || key === "maxmem") {
        // Memory hotplug: accepted, nothing to plug.
      } else {
        throw new CliError(`Invalid parameter '${key}'`, { location });
      }
    }
  }

  name(arg: string, location: string): void {
    for (const { key, value } of parseOpts(arg, "guest", location, this.warn)) {
      if (key === "guest") this.config.name = value;
      else if (key !== "process" && key !== "debug-threads") {
        throw new CliError(`Invalid parameter '${key}'`, { location });
      }
    }
  }

  legacyDrive(which: string, file: string, location: string): void {
    this.addDrive({ file, media: "disk", index: "abcd".indexOf(which.at(-1)!) }, location);
  }

  drive(arg: string, location: string): void {
    const drive: Partial<DriveConfig> & { unknown?: string } = {};
    let iface = "ide";
    for (const { key, value } of parseOpts(arg, undefined, location, this.warn)) {
      switch (key) {
        case "file":
          drive.file = value;
          break;
        case "format":
          if (value !== "raw" && value !== "qcow2") {
            throw new CliError(`Unknown driver '${value}'`, { location });
          }
          drive.format = value;
          break;
        case "if":
          if (value !== "ide" && value !== "none") {
            throw new CliError(`unsupported bus type '${value}'`, { location });
          }
          iface = value;
          break;
        case "media":
          if (value !== "disk" && value !== "cdrom") {
            throw new CliError(`'${value}' invalid media`, { location });
          }
          drive.media = value;
          break;
        case "index": {
          const index = parseNumber(value);
          if (index === undefined) throw new CliError("Parameter 'index' expects a number", { location });
          drive.index = index;
          break;
        }
        case "snapshot":
        case "readonly": {
          const on = parseBool(value);
          const param = key === "readonly" ? "read-only" : key;
          if (on === undefined) {
            throw new CliError(`Parameter '${param}' expects 'on' or 'off'`, { location });
          }
          if (key === "snapshot") drive.snapshot = on;
          else drive.readOnly = on;
          break;
        }
        case "cache":
          if (!["writeback", "writethrough", "none", "directsync", "unsafe"].includes(value)) {
            throw new CliError("invalid cache option", { location });
          }
          drive.cache = value as DriveConfig["cache"];
          break;
        case "node-name":
          drive.nodeName = value;
          break;
        case "discard":
          // bdrv_parse_discard_flags: off/ignore or on/unmap.
          if (value === "off" || value === "ignore") drive.unmap = false;
          else if (value === "on" || value === "unmap") drive.unmap = true;
          else throw new CliError("Invalid discard option", { location });
          break;
        case "id":
        case "aio":
        case "werror":
        case "rerror":
          break;
        default:
          drive.unknown ??= key;
      }
    }
    if (drive.file === undefined && drive.format === undefined) {
      if (drive.unknown !== undefined) throw new CliError("Must specify either driver or file", { location });
      if ((drive.media ?? "disk") === "disk") throw new CliError("Device needs media, but drive is empty");
    }
    if (drive.unknown !== undefined) {
      throw new CliError(
        `Block format '${drive.format ?? "raw"}' does not support the option '${drive.unknown}'`,
        {
          location,
        },
      );
    }
    this.addDrive({ ...drive, interface: iface as DriveConfig["interface"] }, location);
  }

  addDrive(drive: Partial<DriveConfig>, location: string): void {
    const drives = this.config.drives;
    const iface = drive.interface ?? "ide";
    let index = drive.index;
    if (iface === "ide") {
      if (index === undefined) {
        index = 0;
        while (drives.some((d) => d.interface === "ide" && d.index === index)) index++;
      }
      if (index >= IDE_SLOTS) {
        throw new CliError(`machine type does not support if=ide,bus=${index >> 1},unit=${index & 1}`, {
          location,
        });
      }
      if (drives.some((d) => d.interface === "ide" && d.index === index)) {
        throw new CliError(`drive with bus=${index >> 1}, unit=${index & 1} (index=${index}) exists`, {
          location,
        });
      }
    }
    drives.push({
      file: drive.file ?? "",
      format: drive.format,
      interface: iface,
      media: drive.media ?? "disk",
      index: index ?? drives.length,
      snapshot: drive.snapshot ?? false,
      readOnly: drive.readOnly ?? drive.media === "cdrom",
      cache: drive.cache ?? "writeback",
      nodeName: drive.nodeName,
      unmap: drive.unmap,
    });
    this.driveLocations.push(location);
  }

  rtc(arg: string, location: string): void {
    const rtc = this.config.rtc;
    for (const { key, value } of parseOpts(arg, undefined, location, this.warn)) {
      if (key === "base") {
        if (value === "utc" || value === "localtime") rtc.base = value;
        else {
          const valid = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2}))?$/.exec(value);
          if (!valid) {
            throw errorWithHint(
              "invalid datetime format",
              "valid formats: '2006-06-17T16:01:21' or '2006-06-17'",
            );
          }
          rtc.base = value;
        }
      } else if (key === "clock") {
        if (value !== "host" && value !== "rt" && value !== "vm") {
          throw new CliError(`invalid option value '${value}'`);
        }
        rtc.clock = value;
      } else if (key === "driftfix") {
        if (value !== "none" && value !== "slew") throw new CliError(`invalid option value '${value}'`);
        rtc.driftfix = value;
      } else {
        throw new CliError(`Invalid parameter '${key}'`, { location });
      }
    }
  }

  display(arg: string, location: string): void {
    const [first, ...rest] = parseOpts(arg, "type", location, this.warn);
    if (first.value === "help") return this.print("Available display backend types:\nnone\n");
    if (["gtk", "sdl", "curses", "egl-headless", "spice-app", "dbus", "cocoa", "vnc"].includes(first.value)) {
      throw new CliError(`Display '${first.value}' is not available.`, { location });
    }
    if (first.value !== "none") {
      throw new CliError(`Parameter 'type' does not accept value '${first.value}'`, { location });
    }
    if (rest.length) throw new CliError(`Parameter '${rest[0].key}' is unexpected`, { location });
  }

  log(arg: string): void {
    const items = arg.split(",");
    if (items.some((item) => !LOG_ITEMS.has(item) && !item.startsWith("trace:"))) {
      return this.print(logUsage(), 1);
    }
    for (const item of items) this.config.log.add(item);
  }

  device(arg: string, location: string): void {
    const [driver, ...props] = parseOpts(arg, "driver", location, this.warn);
    if (driver.value === "help") {
      return this.print('Misc devices:\nname "isa-debug-exit", bus ISA\nname "isa-debugcon", bus ISA\n');
    }
    if (driver.value === "isa-debug-exit") {
      const device = { iobase: 0x501, iosize: 2 };
      for (const { key, value } of props) {
        if (key !== "iobase" && key !== "iosize") {
          throw new CliError(`Property 'isa-debug-exit.${key}' not found`, { location });
        }
        const n = parseNumber(value);
        if (n === undefined) throw new CliError(`Parameter '${key}' expects integer`, { location });
        device[key] = n;
      }
      this.config.isaDebugExit.push(device);
      return;
    }
    if (driver.value === "isa-debugcon") {
      let chardev = "";
      for (const { key, value } of props) {
        if (key === "chardev") chardev = value;
        else if (key !== "iobase") {
          throw new CliError(`Property 'isa-debugcon.${key}' not found`, { location });
        }
      }
      throw new CliError(`Property 'isa-debugcon.chardev' can't find value '${chardev}'`, { location });
    }
    throw new CliError(`'${driver.value}' is not a valid device model name`, { location });
  }

  /** Cross-option work QEMU does after parsing: machine, accelerators, CPU, SMP, boot, chardevs. */
  finish(): void {
    const c = this.config;
    let machineIrqchip: string | undefined;
    for (const { pairs } of this.machineOpts) {
      for (const { key, value } of pairs) {
        if (key === "type") {
          if (value === "help") return this.print(machineHelp());
          if (value !== "pc" && value !== MACHINE_TYPE) {
            throw errorWithHint("unsupported machine type", "Use -machine help to list supported machines");
          }
        } else if (key === "kernel-irqchip") {
          // A machine property QEMU hands to the accelerator: only KVM reads (and checks) it.
          machineIrqchip = value;
        } else if (key === "accel") {
          for (const name of value.split(":")) {
            if (name !== "tcg" && name !== "kvm") throw new CliError(`invalid accelerator ${name}`);
            c.accel.push(name);
          }
        } else if (!MACHINE_PROPS.has(key)) {
          throw new CliError(`Property '${MACHINE_TYPE}-machine.${key}' not found`);
        }
      }
    }
    for (const { pairs, location } of this.accelOpts) {
      const [{ value: name }, ...props] = pairs;
      if (name === "help") return this.print("Accelerators supported in QEMU binary:\ntcg\nkvm\n");
      if (name !== "tcg" && name !== "kvm") throw new CliError(`invalid accelerator ${name}`, { location });
      for (const { key, value } of props) {
        if (!ACCEL_PROPS[name].includes(key)) {
          throw new CliError(`Property '${name}-accel.${key}' not found`, { location });
        }
        if (key === "kernel-irqchip") c.kernelIrqchip = kernelIrqchipValue(value, location);
      }
      c.accel.push(name);
      if (name === "kvm") this.accelLocation ??= location;
    }
    if (this.enableKvm) c.accel.push("kvm");
    if (machineIrqchip !== undefined && c.accel.includes("kvm")) {
      c.kernelIrqchip ??= kernelIrqchipValue(machineIrqchip);
    }
    if (c.accel.length === 0) c.accel.push("tcg");
    this.cpu();
    this.smp();
    this.boot();
    if (c.append !== undefined && c.kernel === undefined) {
      throw new CliError("-append only allowed with -kernel option");
    }
    if (c.initrd !== undefined && c.kernel === undefined) {
      throw new CliError("-initrd only allowed with -kernel option");
    }
    this.chardevs();
    // QEMU's pc has an empty CD-ROM drive at ide1-cd0 (secondary master) unless told otherwise.
    if (!this.nodefaults && !c.drives.some((d) => d.interface === "ide" && d.index === 2)) {
      c.drives.push({
        file: "",
        interface: "ide",
        media: "cdrom",
        index: 2,
        snapshot: false,
        readOnly: true,
        cache: "writeback",
      });
      this.driveLocations.push("");
    }
  }

  accelLocation?: string;

  cpu(): void {
    if (this.cpuText === undefined) return;
    const [model, ...features] = this.cpuText.split(",");
    if (model === "help") return this.print(cpuHelp());
    if (!CPU_MODELS.some(([name]) => name === model)) {
      throw new CliError(`unable to find CPU model '${model}'`);
    }
    this.config.cpuModel = model;
    const type = `${model}-${this.program.target}-cpu`;
    for (const feature of features) {
      let name: string;
      let enabled = true;
      const eq = feature.indexOf("=");
      if (feature.startsWith("+") || feature.startsWith("-")) {
        name = feature.slice(1);
        enabled = feature[0] === "+";
      } else if (eq >= 0) {
        name = feature.slice(0, eq);
        const on = parseBool(feature.slice(eq + 1));
        const prop = `${type}.${canonicalFeature(name)}`;
        if (!CPU_FEATURES.has(canonicalFeature(name))) {
          throw new CliError(
            `can't apply global ${prop}=${feature.slice(eq + 1)}: Property '${prop}' not found`,
          );
        }
        if (on === undefined) {
          throw new CliError(
            `can't apply global ${prop}=${feature.slice(eq + 1)}: Parameter '${name}' expects 'on' or 'off'`,
          );
        }
        enabled = on;
      } else {
        name = feature;
      }
      if (!CPU_FEATURES.has(canonicalFeature(name))) {
        throw new CliError(`Property '${type}.${canonicalFeature(name)}' not found`);
      }
      this.config.cpuFeatures.push({ name: canonicalFeature(name), enabled });
    }
  }

  smp(): void {
    if (this.smpText === undefined) return;
    let cpus = 1;
    for (const { key, value } of parseOpts(this.smpText, "cpus", `-smp ${this.smpText}`, this.warn)) {
      if (!["cpus", "maxcpus", "sockets", "dies", "clusters", "cores", "threads"].includes(key)) {
        throw new CliError(`Parameter 'smp.${key}' is unexpected`);
      }
      const n = parseNumber(value);
      if (n === undefined) throw new CliError(`Parameter 'smp.${key}' expects integer`);
      if (n === 0) {
        this.warn(
          "Deprecated CPU topology (considered invalid): CPU topology parameters must be greater than zero",
        );
      } else if (key === "cpus") cpus = n;
    }
    if (cpus > 1) {
      throw new CliError(
        `Invalid SMP CPUs ${cpus}. The max CPUs supported by machine '${MACHINE_TYPE}' is 1`,
      );
    }
  }

  boot(): void {
    if (this.bootText === undefined) return;
    const c = this.config;
    // QEMU checks the parameters first and the drive letters when the machine starts.
    const orders: string[] = [];
    for (const { key, value } of parseOpts(this.bootText, "order", `-boot ${this.bootText}`, this.warn)) {
      if (key === "order" || key === "once") {
        orders.push(value);
        c.bootOrder = value;
      } else if (key === "menu" || key === "strict") {
        const on = parseBool(value);
        if (on === undefined) throw new CliError(`Parameter 'boot.${key}' expects 'on' or 'off'`);
        if (key === "menu") c.bootMenu = on;
      } else if (!["splash", "splash-time", "reboot-timeout"].includes(key)) {
        throw new CliError(`Parameter 'boot.${key}' is unexpected`);
      }
    }
    for (const order of orders) {
      const seen = new Set<string>();
      for (const device of order) {
        if (device < "a" || device > "p") throw new CliError(`Invalid boot device '${device}'`);
        if (seen.has(device)) throw new CliError(`Boot device '${device}' was given twice`);
        seen.add(device);
      }
    }
  }

  /** Serial ports, monitor and debugcon, with QEMU's defaults and its one-user-of-stdio rule. */
  chardevs(): void {
    const c = this.config;
    let stdioUser = false;
    const take = (text: string, location: string, what: string): CharSpec | undefined => {
      const spec = parseCharSpec(text);
      if (spec === "unknown") {
        const driver = text.split(":")[0];
        const second = what === "parse error:" ? `${what} ${text}` : `${what} '${text}'`;
        throw new CliError([{ text: `'${driver}' is not a valid char driver`, location }, {
          text: second,
          location,
        }]);
      }
      if (spec && (spec.kind === "stdio" || spec.kind === "mux-stdio")) {
        if (stdioUser) {
          const error = new CliError([
            { text: "cannot use stdio by multiple character devices", location },
            { text: `${what} '${text}'`, location },
          ]);
          // The monitor got stdio first and had greeted before the serial port failed.
          if (c.monitor) {
            error.stdout = `QEMU ${QEMU_VERSION} monitor - type 'help' for more information\r\n(qemu) `;
          }
          throw error;
        }
        stdioUser = true;
      }
      return spec;
    };
    // The monitor is created before the serial ports, so it is the first to claim stdio.
    let monitor = this.monitorSpec;
    const serialHasMonitor = this.serialSpecs.some(({ spec }) => spec.startsWith("mon:"));
    const socketMonitor = this.monitors.hmp.length > 0;
    if (
      !monitor && !socketMonitor && this.nographic && !this.nodefaults && this.serialSpecs.length &&
      !serialHasMonitor
    ) {
      monitor = { spec: "stdio", location: "" };
    }
    if (monitor) c.monitor = take(monitor.spec, monitor.location, "parse error:");
    if (monitor && c.monitor?.kind === "stdio") c.monitor = { kind: "mux-stdio" };
    const serials = this.serialSpecs.length || this.nodefaults
      ? this.serialSpecs
      : [{ spec: this.nographic ? "mon:stdio" : "null", location: "-serial" }];
    for (const { spec, location } of serials) {
      c.serial.push(
        take(spec, location, "could not connect serial device to character backend") ?? { kind: "null" },
      );
      this.serialLocations.push(location);
      if (spec === "none") c.serial.pop(), this.serialLocations.pop();
    }
    if (this.debugconSpec) {
      c.debugcon = take(this.debugconSpec.spec, this.debugconSpec.location, "invalid character backend");
    }
  }

  serialLocations: string[] = [];
}

/** `unix:PATH[,...]` or `tcp:HOST:PORT[,...]`: a listening socket for a monitor. */
function isSocketSpec(text: string): boolean {
  return text.startsWith("unix:") || text.startsWith("tcp:");
}

/** A chardev string of -serial/-monitor/-debugcon; undefined for `none`, "unknown" for the rest. */
export function parseCharSpec(text: string): CharSpec | undefined | "unknown" {
  if (text === "none") return undefined;
  if (text === "null" || text === "vc" || text.startsWith("vc:")) return { kind: "null" };
  if (text === "stdio") return { kind: "stdio" };
  if (text === "mon:stdio") return { kind: "mux-stdio" };
  if (text.startsWith("file:")) return { kind: "file", path: text.slice(5) };
  return "unknown";
}

const MACHINE_PROPS = new Set([
  "usb",
  "vmport",
  "dump-guest-core",
  "mem-merge",
  "graphics",
  "kernel-irqchip",
  "smm",
  "acpi",
  "hpet",
  "pit",
  "sata",
  "max-ram-below-4g",
]);

/** QEMU's OnOffSplit property. */
function kernelIrqchipValue(value: string, location?: string): "on" | "off" | "split" {
  if (value === "on" || value === "off" || value === "split") return value;
  throw new CliError(`Parameter 'kernel-irqchip' does not accept value '${value}'`, { location });
}

const ACCEL_PROPS: Record<"tcg" | "kvm", string[]> = {
  tcg: ["thread", "tb-size", "split-wx", "one-insn-per-tb"],
  kvm: ["kernel-irqchip", "kvm-shadow-mem", "dirty-ring-size"],
};

function machineHelp(): string {
  return "Supported machines are:\n" +
    "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n" +
    "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n";
}

function cpuHelp(): string {
  const lines = CPU_MODELS.map(([name, description]) => `x86 ${name.padEnd(25)} ${description}`.trimEnd());
  return `Available CPUs:\n${lines.join("\n")}\n`;
}

/** Parses argv (without argv[0]) into a machine to run, or text to print. */
export function parseCommandLine(args: string[], program: Program, warn: Warn): Invocation | PrintAndExit {
  const builder = new Builder(program, warn);
  for (let i = 0; i < args.length && !builder.printed; i++) {
    const word = args[i];
    if (!word.startsWith("-") || word === "-") {
      builder.addDrive({ file: word, media: "disk", index: 0 }, word);
      continue;
    }
    const option = lookupOption(word);
    if (!option) throw new CliError(`${word}: invalid option`);
    if (option.arg && i + 1 >= args.length) throw new CliError(`${word}: requires an argument`);
    const arg = option.arg ? args[++i] : "";
    builder.option(option.name, arg, option.arg ? `${word} ${arg}` : word);
  }
  if (!builder.printed) builder.finish();
  if (builder.printed) return builder.printed;
  return {
    kind: "run",
    config: builder.config,
    driveLocations: builder.driveLocations,
    serialLocations: builder.serialLocations,
    accelLocation: builder.accelLocation,
    monitors: builder.monitors,
    loadvm: builder.loadvm,
  };
}
