/**
 * The human monitor (HMP): one command line in, QEMU's text out. Commands are a table of name,
 * aliases, argument synopsis and help, as QEMU's hmp-commands.hx; `execute` is what both the
 * interactive monitor and QMP's human-monitor-command call. Output uses "\n"; transports that
 * talk to a terminal turn it into "\r\n" as QEMU's monitor_puts does.
 */
import { LibError } from "../../../errors.ts";
import { MonitorError } from "../errors.ts";
import type { PcTarget } from "../pc_target.ts";
import { DEFAULT_VERSION, type VersionInfo } from "../version.ts";
import {
  infoBlock,
  infoCpus,
  infoIrq,
  infoKvm,
  infoMtree,
  infoName,
  infoPic,
  infoRegisters,
  infoSnapshots,
  infoVersion,
  statusLine,
} from "./info.ts";
import { sendkeyBytes } from "./keys.ts";
import { DumpDefaults, xCommand } from "./memory_dump.ts";

interface HmpCommand {
  names: string[];
  params: string;
  help: string;
  run(hmp: Hmp, args: string): string;
}

interface InfoCommand {
  name: string;
  help: string;
  run(hmp: Hmp): string;
}

/** Thrown for a command's bad arguments: QEMU adds `Try "help CMD" for more information`. */
class UsageError extends MonitorError {}

const INFO: InfoCommand[] = [
  { name: "block", help: "show the block devices", run: (h) => infoBlock(h.target) },
  { name: "cpus", help: "show infos for each CPU", run: (h) => infoCpus(h.threadId) },
  { name: "irq", help: "show the interrupts statistics (if available)", run: (h) => infoIrq(h.target) },
  { name: "kvm", help: "show KVM information", run: (h) => infoKvm(h.target) },
  { name: "mtree", help: "show memory tree", run: (h) => infoMtree(h.target) },
  { name: "name", help: "show the current VM name", run: (h) => infoName(h.target) },
  { name: "pic", help: "show PIC state", run: (h) => infoPic(h.target) },
  { name: "registers", help: "show the cpu registers", run: (h) => infoRegisters(h.target) },
  { name: "snapshots", help: "show the currently saved VM snapshots", run: (h) => infoSnapshots(h.target) },
  { name: "status", help: "show the current VM status (running|paused)", run: (h) => statusLine(h.target) },
  { name: "version", help: "show the version of QEMU", run: (h) => infoVersion(h.version) },
];

const COMMANDS: HmpCommand[] = [
  {
    names: ["help", "?"],
    params: "[cmd]",
    help: "show the help",
    run: (_h, args) => help(args.trim()),
  },
  {
    names: ["info"],
    params: "[subcommand]",
    help: "show various information about the system state",
    run: (h, args) => {
      const name = args.trim();
      const cmd = INFO.find((i) => i.name === name);
      if (!cmd) return INFO.map((i) => `info ${i.name}  -- ${i.help}\n`).join("");
      return cmd.run(h);
    },
  },
  { names: ["stop", "s"], params: "", help: "stop emulation", run: (h) => (h.target.stop(), "") },
  { names: ["cont", "c"], params: "", help: "resume emulation", run: (h) => (h.target.cont(), "") },
  {
    names: ["system_reset"],
    params: "",
    help: "reset the system",
    run: (h) => (h.target.systemReset("host-qmp-system-reset"), ""),
  },
  {
    names: ["system_powerdown"],
    params: "",
    help: "send system power down event",
    run: (h) => (h.target.powerdown(), ""),
  },
  {
    names: ["quit", "q"],
    params: "",
    help: "quit the emulator",
    run: (h) => (h.target.quit("host-qmp-quit"), ""),
  },
  {
    names: ["x"],
    params: "/fmt addr",
    help: "virtual memory dump starting at 'addr'",
    run: (h, args) => usage(() => xCommand(h.target, h.dumpDefaults, args, false)),
  },
  {
    names: ["xp"],
    params: "/fmt addr",
    help: "physical memory dump starting at 'addr'",
    run: (h, args) => usage(() => xCommand(h.target, h.dumpDefaults, args, true)),
  },
  {
    names: ["sendkey"],
    params: "keys [hold_ms]",
    help: "send keys to the VM (e.g. 'sendkey ctrl-alt-f1', default hold time=100 ms)",
    run: (h, args) => {
      const keys = args.trim().split(/\s+/)[0];
      if (!keys) throw new UsageError("missing keys");
      const r = sendkeyBytes(keys.split("-"), h.target.pc.i8042.scancodeSet);
      if ("bad" in r) return `invalid parameter: ${r.bad}\n`;
      h.target.pc.i8042.keyboardInput(r.bytes);
      h.target.pc.kick();
      return "";
    },
  },
  {
    names: ["eject"],
    params: "[-f] device",
    help: "eject a removable medium (use -f to force it)",
    run: (h, args) => {
      const words = args.trim().split(/\s+/).filter(Boolean);
      const force = words[0] === "-f";
      if (force) words.shift();
      if (!words[0]) throw new UsageError("Parameter 'device' is missing");
      h.target.eject(words[0], force);
      return "";
    },
  },
  {
    names: ["change"],
    params: "device filename [format [read-only-mode]]",
    help: "change a removable medium, optional format",
    run: (h, args) => {
      const [device, filename, format, mode] = args.trim().split(/\s+/).filter(Boolean);
      if (!device || !filename) throw new UsageError("Parameter 'target' is missing");
      h.target.changeMedium(device, filename, format, mode === "read-write" ? false : undefined);
      return "";
    },
  },
  {
    names: ["savevm"],
    params: "tag",
    help: "save a VM snapshot. If no tag is provided, a new snapshot is created",
    run: (h, args) => {
      h.target.snapshots.save(args.trim() || undefined, { overwrite: true });
      return "";
    },
  },
  {
    names: ["loadvm"],
    params: "tag",
    help: "restore a VM snapshot from its tag",
    run: (h, args) => (h.target.snapshots.load(snapshotTag("loadvm", args)), ""),
  },
  {
    names: ["delvm"],
    params: "tag",
    help: "delete a VM snapshot from its tag",
    run: (h, args) => (h.target.snapshots.delete(snapshotTag("delvm", args)), ""),
  },
];

/** The required tag argument of loadvm and delvm (QEMU's "s" argument type). */
function snapshotTag(command: string, args: string): string {
  const tag = args.trim().split(/\s+/)[0];
  if (!tag) throw new UsageError(`${command}: string expected`);
  return tag;
}

function usage(f: () => string): string {
  try {
    return f();
  } catch (e) {
    if (e instanceof MonitorError && !(e instanceof UsageError)) throw new UsageError(e.message);
    throw e;
  }
}

function help(name: string): string {
  const list = name ? COMMANDS.filter((c) => c.names.includes(name)) : COMMANDS;
  return list.map((c) => `${c.names.join("|")} ${c.params} -- ${c.help}\n`).join("");
}

export interface HmpOptions {
  version?: VersionInfo;
  /** What `info cpus` calls the vCPU's host thread. */
  threadId?: number;
}

export class Hmp {
  readonly dumpDefaults = new DumpDefaults();
  readonly version: VersionInfo;
  readonly threadId: number;

  constructor(readonly target: PcTarget, options: HmpOptions = {}) {
    this.version = options.version ?? DEFAULT_VERSION;
    this.threadId = options.threadId ?? Deno.pid;
  }

  /** Runs one command line and returns what the monitor prints for it (errors included). */
  execute(line: string): string {
    const trimmed = line.trim();
    if (!trimmed) return "";
    const m = /^(\S+?)(\/.*|\s.*)?$/.exec(trimmed)!;
    const name = m[1];
    const args = m[2] ?? "";
    const cmd = COMMANDS.find((c) => c.names.includes(name));
    if (!cmd) return `unknown command: '${name}'\n`;
    try {
      return cmd.run(this, args);
    } catch (e) {
      if (e instanceof UsageError) return `${e.message}\nTry "help ${cmd.names[0]}" for more information\n`;
      if (e instanceof MonitorError) return `Error: ${e.message}\n`;
      if (e instanceof LibError) return `Error: ${e.message}\n`;
      throw e;
    }
  }
}
