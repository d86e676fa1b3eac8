/**
 * What the monitors cost the guest: instructions per second of the counter guest on the PC board
 * with the monitors attached and idle, with a gdb breakpoint set (the CPU then runs one instruction
 * per step so each can be checked), and with a write watchpoint; plus QMP commands handled per
 * second in-process (query-status through the session, without a socket).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BufferBackend } from "../lib/devices/chardev.ts";
import { createVcpu } from "../lib/virt/accel/tcg.ts";
import { loadKernel } from "../lib/virt/machine/kernel_loader.ts";
import { Pc } from "../lib/virt/machine/pc.ts";
import { attachMonitors } from "../lib/virt/monitor/mod.ts";
import { Jobs } from "../lib/virt/monitor/qmp/jobs.ts";
import { QmpSession } from "../lib/virt/monitor/qmp/session.ts";

const guest = join(
  fileURLToPath(new URL(".", import.meta.url)),
  "..",
  "tests",
  "guests",
  "monitor",
  "counter.bin",
);

async function measure(label: string, prepare: (m: Awaited<ReturnType<typeof attachMonitors>>) => void) {
  const pc = new Pc({ ramSize: 32 << 20, serial: [new BufferBackend()] });
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
  const monitors = await attachMonitors(pc, {});
  prepare(monitors);
  const run = pc.run();
  const start = vcpu.instructions, t0 = performance.now();
  await new Promise((r) => setTimeout(r, 1500));
  const ips = (vcpu.instructions - start) / ((performance.now() - t0) / 1000);
  pc.quit();
  await run;
  monitors.close();
  console.log(`| ${label.padEnd(38)} | ${(ips / 1e6).toFixed(2).padStart(8)} |`);
  return monitors;
}

console.log("| counter guest, monitors attached       | M insn/s |");
console.log("| -------------------------------------- | -------- |");
const idle = await measure("idle (no breakpoints)", () => {});
await measure("gdb breakpoint set (never hit)", (m) => m.target.insertBreakpoint("sw", 0x1ff000, 1));
await measure("write watchpoint set (never hit)", (m) => m.target.insertBreakpoint("watch", 0x1ff000, 4));

const lines: string[] = [];
const session = new QmpSession({
  target: idle.target,
  hmp: idle.hmp,
  version: { major: 7, minor: 2, micro: 22, package: "" },
  kvmPresent: false,
  arch: "i386",
  threadId: 1,
  jobs: new Jobs(idle.target),
}, (l) => lines.push(l));
session.receive(`{"execute":"qmp_capabilities"}\n`);
const n = 100_000;
const t0 = performance.now();
for (let i = 0; i < n; i++) session.receive(`{"execute":"query-status","id":${i}}\n`);
const s = (performance.now() - t0) / 1000;
console.log(
  `\nQMP query-status handled in-process: ${(n / s / 1000).toFixed(0)}k commands/s (${
    lines.length - 1
  } replies)`,
);
