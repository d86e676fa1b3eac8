/**
 * `-d`/`-D`: QEMU's debug log. Items the board can see from outside the CPU are written here:
 * cpu_reset (the register dump before each reset), guest_errors and unimp (reserved for devices
 * that report them). The log goes to the -D file, or stderr.
 */
import type { Cpu } from "../../lib/cpu/cpu.ts";
import type { MachineConfig } from "../../lib/virt/machine/config.ts";
import type { Pc } from "../../lib/virt/machine/pc.ts";
import { dumpCpuState } from "../../lib/virt/machine/cpu_dump.ts";

export function installLogging(pc: Pc, cpu: Cpu, config: MachineConfig, file?: Deno.FsFile): void {
  if (!config.log.size) return;
  const encoder = new TextEncoder();
  const write = (text: string) => (file ?? Deno.stderr).writeSync(encoder.encode(text));
  if (config.log.has("cpu_reset")) {
    pc.onReset = () => write(`CPU Reset (CPU 0)\n${dumpCpuState(cpu)}`);
  }
}
