/**
 * What the board needs from a virtual CPU, whichever accelerator provides it: run a slice, say why
 * it stopped, reset, and expose HLT. lib/cpu's Cpu satisfies it directly (tcg); the kvm vCPU
 * (issue 6) wraps KVM_RUN behind the same shape.
 */

export type VcpuStop = "budget" | "hlt" | "stop" | "shutdown";

export interface Vcpu {
  /** Executes up to `budget` instructions. */
  run(budget: number): VcpuStop;
  reset(): void;
  halted: boolean;
  /** Retired instructions since creation. */
  instructions: number;
}
