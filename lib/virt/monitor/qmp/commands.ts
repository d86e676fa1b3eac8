/**
 * QMP's commands: one table row per command with its argument schema (QAPI types, optional
 * flags) and its handler. Arguments are checked as QEMU's generated visitors check them, with
 * their texts: "Parameter 'x' is missing", "Parameter 'x' is unexpected", "Invalid parameter type
 * for 'x', expected: string". Replies carry QEMU 7.2's keys in QEMU's order.
 */
import { LibError } from "../../../errors.ts";
import { CommandNotFoundError, DeviceNotFoundError, MonitorError } from "../errors.ts";
import type { Hmp } from "../hmp/hmp.ts";
import type { PcTarget } from "../pc_target.ts";
import type { BlockDevice } from "../target.ts";
import type { VersionInfo } from "../version.ts";
import type { Jobs } from "./jobs.ts";
import type { JsonValue } from "./json_stream.ts";

type ArgType = "str" | "bool" | "int" | "strList";
const TYPE_NAMES: Record<ArgType, string> = {
  str: "string",
  bool: "boolean",
  int: "integer",
  strList: "array",
};

interface ArgSpec {
  type: ArgType;
  optional?: boolean;
}

export interface QmpContext {
  target: PcTarget;
  hmp: Hmp;
  version: VersionInfo;
  /** Whether /dev/kvm could be opened (query-kvm's "present"). */
  kvmPresent: boolean;
  /** QEMU's target name: i386 or x86_64. */
  arch: string;
  threadId: number;
  /** Background jobs (snapshot-save/-load/-delete), shared by every QMP client. */
  jobs: Jobs;
}

type Args = Record<string, JsonValue>;

interface QmpCommand {
  args: Record<string, ArgSpec>;
  run(ctx: QmpContext, args: Args): JsonValue;
}

function blockInfo(d: BlockDevice): JsonValue {
  const driver = d.drive.driver;
  const out: Record<string, JsonValue> = {
    "io-status": "ok",
    device: d.device,
    locked: d.drive.atapi.locked,
    removable: d.removable,
  };
  if (driver && !(d.removable && d.drive.atapi.trayOpen)) {
    const info = driver.info();
    const image: Record<string, JsonValue> = {
      "virtual-size": info.virtualSize,
      filename: info.filename,
    };
    if (info.clusterSize !== undefined) image["cluster-size"] = info.clusterSize;
    image.format = info.format;
    image["actual-size"] = info.actualSize;
    if (info.formatSpecific) image["format-specific"] = info.formatSpecific as unknown as JsonValue;
    image["dirty-flag"] = info.dirty;
    out.inserted = {
      iops_rd: 0,
      detect_zeroes: "off",
      image,
      iops_wr: 0,
      ro: driver.readOnly,
      "node-name": d.nodeName,
      backing_file_depth: 0,
      drv: driver.format,
      iops: 0,
      bps_wr: 0,
      write_threshold: 0,
      encrypted: info.encrypted ?? false,
      bps: 0,
      bps_rd: 0,
      cache: { "no-flush": false, direct: false, writeback: true },
      file: driver.filename,
    };
  }
  out.qdev = d.qdev;
  if (d.removable) out.tray_open = d.drive.atapi.trayOpen;
  out.type = "unknown";
  return out;
}

/** eject and blockdev-change-medium name the drive by legacy id or by qdev id, exactly one of them. */
function deviceArg(args: Args): string {
  const hasDevice = args.device !== undefined, hasId = args.id !== undefined;
  if (hasDevice === hasId) throw new MonitorError("Need exactly one of 'device' and 'id'");
  return (args.device ?? args.id) as string;
}

export const QMP_COMMANDS: Record<string, QmpCommand> = {
  "query-status": {
    args: {},
    run: ({ target }) => ({
      status: target.runState,
      singlestep: false,
      running: target.runState === "running",
    }),
  },
  stop: { args: {}, run: ({ target }) => (target.stop(), {}) },
  cont: {
    args: {},
    run: ({ target }) => {
      if (target.runState === "shutdown") {
        throw new MonitorError("Resetting the Virtual Machine is required");
      }
      target.cont();
      return {};
    },
  },
  system_reset: { args: {}, run: ({ target }) => (target.systemReset("host-qmp-system-reset"), {}) },
  system_powerdown: { args: {}, run: ({ target }) => (target.powerdown(), {}) },
  quit: {
    args: {},
    run: ({ target, jobs }) => {
      target.quit("host-qmp-quit");
      jobs.closeAll();
      return {};
    },
  },
  "query-version": {
    args: {},
    run: ({ version }) => ({
      qemu: { micro: version.micro, minor: version.minor, major: version.major },
      package: version.package,
    }),
  },
  "query-name": {
    args: {},
    run: ({ target }) => (target.name === undefined ? {} : { name: target.name }) as JsonValue,
  },
  "query-kvm": {
    args: {},
    run: ({ target, kvmPresent }) => ({ enabled: target.accel === "kvm", present: kvmPresent }),
  },
  "query-cpus-fast": {
    args: {},
    run: ({ threadId, arch }) => [{
      "thread-id": threadId,
      props: { "core-id": 0, "thread-id": 0, "socket-id": 0 },
      "qom-path": "/machine/unattached/device[0]",
      "cpu-index": 0,
      target: arch,
    }],
  },
  "query-block": { args: {}, run: ({ target }) => target.blockDevices().map(blockInfo) },
  "query-commands": { args: {}, run: () => Object.keys(QMP_COMMANDS).map((name) => ({ name })) },
  eject: {
    args: {
      device: { type: "str", optional: true },
      id: { type: "str", optional: true },
      force: { type: "bool", optional: true },
    },
    run: ({ target }, args) => (target.eject(deviceArg(args), args.force === true), {}),
  },
  "blockdev-change-medium": {
    args: {
      device: { type: "str", optional: true },
      id: { type: "str", optional: true },
      filename: { type: "str" },
      format: { type: "str", optional: true },
      "read-only-mode": { type: "str", optional: true },
    },
    run: ({ target }, args) => {
      const device = deviceArg(args);
      if (!target.blockDevices().some((d) => d.device === device || d.qdev === device)) {
        throw new DeviceNotFoundError(`Device '${device}' not found`);
      }
      const mode = args["read-only-mode"];
      try {
        target.changeMedium(
          device,
          args.filename as string,
          args.format as string | undefined,
          mode === "read-write" ? false : mode === "read-only" ? true : undefined,
        );
      } catch (e) {
        if (e instanceof MonitorError || !(e instanceof LibError)) throw e;
        throw new MonitorError(e.message);
      }
      return {};
    },
  },
  "snapshot-save": {
    args: {
      "job-id": { type: "str" },
      tag: { type: "str" },
      vmstate: { type: "str" },
      devices: { type: "strList" },
    },
    run: ({ target, jobs }, args) => {
      jobs.start(args["job-id"] as string, "snapshot-save", () => {
        target.snapshots.save(args.tag as string, { overwrite: false, ...selection(args) });
      });
      return {};
    },
  },
  "snapshot-load": {
    args: {
      "job-id": { type: "str" },
      tag: { type: "str" },
      vmstate: { type: "str" },
      devices: { type: "strList" },
    },
    run: ({ target, jobs }, args) => {
      jobs.start(
        args["job-id"] as string,
        "snapshot-load",
        () => target.snapshots.load(args.tag as string, selection(args)),
      );
      return {};
    },
  },
  "snapshot-delete": {
    args: { "job-id": { type: "str" }, tag: { type: "str" }, devices: { type: "strList" } },
    run: ({ target, jobs }, args) => {
      jobs.start(
        args["job-id"] as string,
        "snapshot-delete",
        () => target.snapshots.delete(args.tag as string, selection(args)),
      );
      return {};
    },
  },
  "query-jobs": { args: {}, run: ({ jobs }) => jobs.list() },
  "job-dismiss": {
    args: { id: { type: "str" } },
    run: ({ jobs }, args) => (jobs.dismiss(args.id as string), {}),
  },
  "human-monitor-command": {
    args: { "command-line": { type: "str" }, "cpu-index": { type: "int", optional: true } },
    run: ({ hmp }, args) => hmp.execute(args["command-line"] as string).replaceAll("\n", "\r\n"),
  },
  qmp_capabilities: {
    // "enable" (a list of capability names) is checked by the session, which owns negotiation.
    args: {},
    run: () => {
      throw new CommandNotFoundError("Capabilities negotiation is already complete, command ignored");
    },
  },
};

/** The disks a snapshot job names (node names). */
function selection(args: Args): { vmstate?: string; devices?: string[] } {
  return { vmstate: args.vmstate as string | undefined, devices: args.devices as string[] | undefined };
}

function hasType(type: ArgType, v: JsonValue): boolean {
  switch (type) {
    case "str":
      return typeof v === "string";
    case "bool":
      return typeof v === "boolean";
    case "int":
      return typeof v === "number" && Number.isInteger(v);
    case "strList":
      return Array.isArray(v);
  }
}

/** Checks `args` against the command's schema, throwing QEMU's text for the first problem. */
export function checkArgs(command: QmpCommand, args: Args): void {
  for (const key of Object.keys(args)) {
    const spec = command.args[key];
    if (!spec) throw new MonitorError(`Parameter '${key}' is unexpected`);
    const v = args[key];
    if (!hasType(spec.type, v)) {
      throw new MonitorError(`Invalid parameter type for '${key}', expected: ${TYPE_NAMES[spec.type]}`);
    }
    if (spec.type === "strList") {
      const bad = (v as JsonValue[]).findIndex((e) => typeof e !== "string");
      if (bad >= 0) throw new MonitorError(`Invalid parameter type for '${key}[${bad}]', expected: string`);
    }
  }
  for (const [key, spec] of Object.entries(command.args)) {
    if (!spec.optional && args[key] === undefined) throw new MonitorError(`Parameter '${key}' is missing`);
  }
}
