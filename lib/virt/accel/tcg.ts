/**
 * The tcg accelerator: lib/cpu's interpreter runs the guest directly on the board's Bus. (QEMU's
 * name is kept for the command line; there is no code generator behind it.)
 */
import type { Bus } from "../../devices/bus.ts";
import { Cpu, FEATURES, MODELS, withFeatures, X87 } from "../../cpu/mod.ts";
import type { MachineConfig } from "../machine/config.ts";
import type { Vcpu } from "./vcpu.ts";

/** The CPU model a -cpu name runs as: our core is i686-class, so 64-bit-only names fall back to qemu32. */
export function cpuModelFor(name: string): string {
  return name in MODELS ? name : "qemu32";
}

export function createVcpu(bus: Bus, config: Pick<MachineConfig, "cpuModel" | "cpuFeatures">): Cpu & Vcpu {
  const cpu = new Cpu(bus, { model: cpuModelFor(config.cpuModel) });
  cpu.fpu = new X87(cpu);
  // QEMU knows more feature names than our CPUID table models; the others change nothing here.
  const known = config.cpuFeatures.filter((f) => f.name in FEATURES);
  if (known.length) {
    cpu.model = withFeatures(cpu.model, Object.fromEntries(known.map((f) => [f.name, f.enabled])));
  }
  return cpu;
}
