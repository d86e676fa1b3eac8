/**
 * Test support: boots tests/guests/monitor/counter.bin on the real PC board (lib/virt/machine/pc.ts)
 * the way cli/qemu-system builds it for `-kernel`, attaches the monitors, and runs the board in the
 * background so tests can talk to it over real sockets.
 */
import { join } from "node:path";
import { BufferBackend } from "../../lib/devices/chardev.ts";
import { createVcpu } from "../../lib/virt/accel/tcg.ts";
import { loadKernel } from "../../lib/virt/machine/kernel_loader.ts";
import { Pc, type PcExit } from "../../lib/virt/machine/pc.ts";
import { attachMonitors, type MonitorOptions, type Monitors } from "../../lib/virt/monitor/mod.ts";
import { PROJECT } from "../support/tools.ts";

export const COUNTER_GUEST = join(PROJECT, "tests", "guests", "monitor", "counter.bin");
/** The savevm proof guest: prints "count N" lines forever. */
export const COUNT_PRINT_GUEST = join(PROJECT, "tests", "guests", "monitor", "count_print.bin");
/** Fixed addresses in counter.asm. */
export const STEP_HERE = 0x100200, COUNTER = 0x100400, STOP_FLAG = 0x100404;

export interface TestVm {
  pc: Pc;
  monitors: Monitors;
  serial: BufferBackend;
  /** Resolves with how the board's run ended. */
  exited: Promise<PcExit>;
  dir: string;
  /** Quits the VM if it still runs and closes the listeners. */
  shutdown(): Promise<void>;
}

/** Connects to the n-th QMP (or HMP) server of a VM, unix or TCP. */
export function connectTo(
  server: { address: { kind: string; path?: string; port?: number } },
): Promise<Deno.Conn> {
  const a = server.address;
  return a.kind === "unix"
    ? Deno.connect({ transport: "unix", path: a.path! })
    : Deno.connect({ hostname: "127.0.0.1", port: a.port! });
}

/** QMP on loopback TCP: the unix transport needs a wider Deno permission than the test task grants. */
export const QMP_TCP = "tcp:127.0.0.1:0,server=on,wait=off";

export async function startVm(
  options: MonitorOptions = {},
  setup?: (pc: Pc) => void,
  debugExit = true,
  guest = COUNTER_GUEST,
): Promise<TestVm> {
  const serial = new BufferBackend();
  // Without isa-debug-exit the guest's exit falls through to ACPI S5, a poweroff.
  const isaDebugExit = debugExit ? [{ iobase: 0xf4, iosize: 4 }] : [];
  const pc = new Pc({ ramSize: 32 << 20, serial: [serial], isaDebugExit });
  const vcpu = createVcpu(pc.bus, { cpuModel: "qemu32", cpuFeatures: [] });
  pc.vcpu = vcpu;
  const boot = loadKernel(pc, vcpu, Deno.readFileSync(guest), {
    kernelPath: guest,
    cmdline: "",
    initrds: [],
  });
  pc.onBoot = () => {
    pc.programLikeFirmware();
    boot();
  };
  pc.reset();
  setup?.(pc);
  const dir = Deno.makeTempDirSync({ prefix: "monitor-test-" });
  const resolved = {
    ...options,
    qmp: options.qmp?.map((q) => typeof q === "string" ? q.replace("DIR", dir) : q),
    hmp: options.hmp?.map((q) => typeof q === "string" ? q.replace("DIR", dir) : q),
  };
  const monitors = await attachMonitors(pc, { arch: "i386", ...resolved });
  const exited = pc.run().then((exit) => {
    monitors.machineExited(exit);
    return exit;
  });
  return {
    pc,
    monitors,
    serial,
    exited,
    dir,
    async shutdown() {
      if (monitors.target.runState !== "shutdown") pc.quit();
      await exited;
      monitors.close();
      Deno.removeSync(dir, { recursive: true });
    },
  };
}
