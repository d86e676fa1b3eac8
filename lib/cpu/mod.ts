/**
 * The x86 CPU core: state, decoder, interpreter, MMU, FPU plug-in, disassembler. What the
 * machines and accelerators use:
 *
 * - `new Cpu(bus, { model })`, `cpu.run(budget)` -> StopReason, `cpu.instructions` (exact count),
 *   `cpu.reset()`, `cpu.enterFlat32(eip, regs, gdt, eflags)` for loaders, `cpu.snapshot()`/`cpu.restore()`;
 * - `observeDeliveries(cpu, observer)` sees every exception/interrupt delivery (`-d int`);
 * - `cpu.fpu = new X87(cpu)` attaches the x87 FPU (`X87.onFerr` for IRQ13 on the PC);
 * - `disassemble()`/`formatInAsm()` for `-d in_asm`; `MODELS`/`cpuid()`/`withFeatures()` for `-cpu`.
 */
export { Cpu, type CpuOptions, type FpuUnit, type StopReason } from "./cpu.ts";
export { CpuState, GENERAL_REGISTERS, type GeneralRegister } from "./state.ts";
export * as regs from "./state.ts";
export { X87 } from "./x87.ts";
export {
  type DeliveryObserver,
  EV_EXCEPTION,
  EV_EXTERNAL,
  EV_SOFTWARE,
  observeDeliveries,
} from "./interrupts.ts";
export * as faults from "./faults.ts";
export { cpuid, type CpuModel, FEATURES, MODELS, withFeatures } from "./models.ts";
export { disassemble, type Disassembled, formatInAsm } from "./disasm/att.ts";
export { readEflags } from "./flags.ts";
