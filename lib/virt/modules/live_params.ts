/**
 * The writable module parameters (ignore_msrs, report_ignored_msrs, halt_poll_ns...) as a running
 * VM reads them on its hot paths. In Linux a sysfs write stores the value in the module's memory,
 * where the next read finds it. Here the write lands in the state root, in another process, so a
 * VM keeps every parameter of kvm and of its vendor module in memory and reads them all again (one
 * snapshot of the state) only when a use finds them older than REREAD_MS, or when `reread` asks:
 * a guest that meets an unknown MSR thousands of times a second does no file I/O for it, and a
 * write reaches running VMs within REREAD_MS.
 */
import { paramAsNumber } from "./params.ts";

/** How long parameters read from the state root stay in use. */
export const REREAD_MS = 100;

export interface ParamTables {
  kvm: Record<string, string>;
  vendor: Record<string, string>;
}

export class LiveParams {
  #tables: ParamTables | undefined;
  #readAt = -Infinity;

  constructor(
    private readonly read: () => ParamTables,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** A parameter's sysfs text; "kvm" or "vendor" (kvm_intel, kvm_amd) for the module. */
  text(module: keyof ParamTables, name: string): string {
    if (!this.#tables || this.nowMs() - this.#readAt >= REREAD_MS) this.reread();
    return this.#tables![module][name];
  }

  /** A parameter as a number: Y/N read as 1/0. */
  number(module: keyof ParamTables, name: string): number {
    return paramAsNumber(this.text(module, name));
  }

  /** Reads every parameter now (an ioctl from user space wants the values as they are). */
  reread(): void {
    this.#tables = this.read();
    this.#readAt = this.nowMs();
  }
}
