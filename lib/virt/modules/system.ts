/**
 * One state root opened for use: the host settings, the store, and transactions over the kernel.
 * `modify` is the only way state changes: lock, read, drop handles of dead processes, run the
 * operation, then persist state, views and kernel log even when the operation failed (a refused
 * load still leaves its dmesg lines, as on a real kernel).
 */
import { join } from "node:path";
import { Kernel } from "./kernel.ts";
import { type HostConfig, readHostConfig } from "./host.ts";
import { KERNEL_LOG, type KernelState, StateStore } from "./state.ts";
import { applyViews, renderViews } from "./views.ts";
import { adoptSysfsWrites } from "./sysfs_writes.ts";
import { HANDLES_DIR } from "./liveness.ts";

export type EnvLookup = (name: string) => string | undefined;

export const defaultEnv: EnvLookup = (name) => Deno.env.get(name);

/** What `reset` removes: everything the kernel writes; host.conf and etc/ (modprobe.d) stay. */
const KERNEL_PATHS = ["state.json", "proc", "sys", "dev", KERNEL_LOG, HANDLES_DIR];

export class ModuleSystem {
  readonly store: StateStore;
  #host: HostConfig | undefined;

  constructor(readonly root: string, private readonly env: EnvLookup = defaultEnv) {
    this.store = new StateStore(root);
  }

  get host(): HostConfig {
    return this.#host ??= readHostConfig(this.root, this.env);
  }

  /**
   * A read-only view of the kernel now; changes made to it are not saved. The first use of a
   * root boots it, so proc/modules and friends exist from then on, as on a running system.
   */
  snapshot(): Kernel {
    if (!this.#stateExists()) this.modify(() => {});
    const kernel = new Kernel(this.store.read(), this.host, this.root);
    // Someone wrote a sysfs file directly: take it in (or put it back) under the lock first.
    if (adoptSysfsWrites(this.root, kernel).length) {
      this.modify(() => {});
      return new Kernel(this.store.read(), this.host, this.root);
    }
    return kernel;
  }

  modify<T>(fn: (kernel: Kernel) => T): T {
    const host = this.host;
    return this.store.withLock(() => {
      const exists = this.#stateExists();
      const state = this.store.read();
      const old = new Kernel(structuredClone(state), host, this.root);
      const before = exists ? renderViews(old) : undefined;
      const kernel = new Kernel(state, host, this.root);
      kernel.shareLiveness(old);
      for (const rel of adoptSysfsWrites(this.root, kernel)) before?.files.delete(rel);
      kernel.pruneDeadHandles();
      let result: T;
      try {
        result = fn(kernel);
      } finally {
        this.#persist(kernel.state, before, kernel);
      }
      return result;
    });
  }

  #stateExists(): boolean {
    try {
      Deno.statSync(this.store.path("state.json"));
      return true;
    } catch {
      return false;
    }
  }

  #persist(state: KernelState, before: ReturnType<typeof renderViews> | undefined, kernel: Kernel): void {
    this.store.writeState(state);
    applyViews(this.root, before, renderViews(kernel));
    this.store.appendLog(kernel.log);
  }

  /** Forgets every loaded module, handle and log line; configuration files stay. */
  reset(): void {
    this.store.withLock(() => {
      for (const rel of KERNEL_PATHS) {
        try {
          Deno.removeSync(join(this.root, rel), { recursive: true });
        } catch { /* already absent */ }
      }
    });
  }
}
