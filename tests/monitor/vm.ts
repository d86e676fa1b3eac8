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

export async function startVm(
  options: MonitorOptions = {},
  setup?: (pc: Pc) => void,
  ramSize = 32 << 20,
): Promise<TestVm> {
  const serial = new BufferBackend();
  const pc = new Pc({ ramSize, serial: [serial], isaDebugExit: [{ iobase: 0xf4, iosize: 4 }] });
  const vcpu = createVcpu(pc.bus, { cpuModel: "qemu32", cpuFeatures: [] });
  pc.vcpu = vcpu;
  const boot = loadKernel(pc, vcpu, Deno.readFileSync(COUNTER_GUEST), {
    kernelPath: COUNTER_GUEST,
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
    qmp: options.qmp?.map((q) => q.replace("DIR", dir)),
    hmp: options.hmp?.map((q) => q.replace("DIR", dir)),
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
