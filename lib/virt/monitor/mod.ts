/**
 * The monitors as one attachable unit: `attachMonitors(pc, options)` wraps the board in a PcTarget
 * and opens the QMP, human-monitor and gdb listeners the command line asked for. The CLI calls it
 * after building the board (vCPU attached, logging installed) and before `pc.run()`, then reports
 * the run's end with `machineExited` and closes everything with `close`.
 */
import type { Pc, PcExit } from "../machine/pc.ts";
import { HmpConsole } from "./hmp/console.ts";
import { Hmp } from "./hmp/hmp.ts";
import { GdbSession } from "./gdb/stub.ts";
import { PcTarget } from "./pc_target.ts";
import type { QmpContext } from "./qmp/commands.ts";
import { Jobs } from "./qmp/jobs.ts";
import { QmpSession } from "./qmp/session.ts";
import { type ListenAddress, parseListenAddress, SocketServer } from "./transport.ts";
import { DEFAULT_VERSION, type VersionInfo } from "./version.ts";

export { MonitorError } from "./errors.ts";
export { HmpConsole } from "./hmp/console.ts";
export { Hmp } from "./hmp/hmp.ts";
export { PcTarget } from "./pc_target.ts";
export { QmpSession } from "./qmp/session.ts";
export type { MonitorTarget } from "./target.ts";
export { type ListenAddress, parseListenAddress, socketChardevAddress } from "./transport.ts";
export { DEFAULT_VERSION, type VersionInfo } from "./version.ts";

export interface MonitorOptions {
  /**
   * -qmp: socket specs such as `unix:/tmp/q.sock,server=on,wait=off`; for -chardev socket + -mon
   * mode=control, the address from socketChardevAddress.
   */
  qmp?: (string | ListenAddress)[];
  /** -monitor with a socket spec (or -mon mode=readline on a socket chardev): the human monitor there. */
  hmp?: (string | ListenAddress)[];
  /** -gdb DEV (`tcp::1234`, `tcp:127.0.0.1:1234`); -s is `tcp::1234`. */
  gdb?: string;
  /** -S: start stopped (query-status says prelaunch) until `cont` or gdb's `c`. */
  startPaused?: boolean;
  /** -name. */
  name?: string;
  /** -drive node-name=, by legacy drive id (ide0-hd0). */
  nodeNames?: Record<string, string>;
  /** The accelerator in use, "tcg" or "kvm". */
  accel?: string;
  /** query-kvm's "present": whether the (simulated) /dev/kvm could be opened. */
  kvmPresent?: boolean;
  /** QEMU's target name: "i386" for qemu-system-i386, "x86_64" otherwise. */
  arch?: string;
  version?: VersionInfo;
}

export interface Monitors {
  readonly target: PcTarget;
  readonly hmp: Hmp;
  /** Bound addresses (a tcp port 0 is resolved to the real port). */
  readonly qmpServers: SocketServer[];
  readonly hmpServers: SocketServer[];
  readonly gdbServer?: SocketServer;
  /** A human monitor for a character stream the CLI owns (-monitor stdio, the mux's Ctrl-A c). */
  console(write: (text: string) => void): HmpConsole;
  /** Tells clients how the run ended (SHUTDOWN event, gdb's W packet). */
  machineExited(exit: PcExit): void;
  close(): void;
}

function toAddress(spec: string | ListenAddress): ListenAddress {
  return typeof spec === "string" ? parseListenAddress(spec) : spec;
}

export async function attachMonitors(pc: Pc, options: MonitorOptions = {}): Promise<Monitors> {
  const target = new PcTarget(pc, {
    startPaused: options.startPaused,
    name: options.name,
    accel: options.accel,
    nodeNames: options.nodeNames,
  });
  const version = options.version ?? DEFAULT_VERSION;
  const hmp = new Hmp(target, { version });
  const ctx: QmpContext = {
    target,
    hmp,
    version,
    kvmPresent: options.kvmPresent ?? false,
    arch: options.arch ?? "x86_64",
    threadId: Deno.pid,
    jobs: new Jobs(target),
  };
  const servers: SocketServer[] = [];
  const qmpServers: SocketServer[] = [];
  const hmpServers: SocketServer[] = [];
  let gdbServer: SocketServer | undefined;
  try {
    for (const spec of options.qmp ?? []) {
      const server = await SocketServer.listen(toAddress(spec), (send) => {
        const session = new QmpSession(ctx, send);
        session.greeting();
        return session;
      });
      servers.push(server);
      qmpServers.push(server);
    }
    for (const spec of options.hmp ?? []) {
      const server = await SocketServer.listen(toAddress(spec), (send) => {
        const console = new HmpConsole(hmp, send);
        console.banner();
        return console;
      });
      servers.push(server);
      hmpServers.push(server);
    }
    if (options.gdb !== undefined) {
      let gdbSession: GdbSession | undefined;
      gdbServer = await SocketServer.listen(parseListenAddress(options.gdb), (send, close) => {
        // One debugger at a time, as QEMU's stub: a second connection is turned away.
        if (gdbSession && !gdbSession.closed) {
          queueMicrotask(close);
          return { receive() {}, close() {}, closed: true };
        }
        gdbSession = new GdbSession(target, send);
        return gdbSession;
      });
      servers.push(gdbServer);
    }
  } catch (e) {
    // All or nothing: a listener that fails (MonitorError with QEMU's bind text) closes the others.
    for (const s of servers) s.close();
    throw e;
  }
  return {
    target,
    hmp,
    qmpServers,
    hmpServers,
    gdbServer,
    console: (write) => new HmpConsole(hmp, write),
    machineExited: (exit) => target.machineExited(exit),
    close: () => {
      for (const s of servers) s.close();
    },
  };
}
