/**
 * The simulated /dev/kvm as a process opens it (qemu-system -accel kvm): opening fails with ENOENT
 * unless kvm and a vendor module are loaded; an open handle holds a reference on the vendor module
 * (lsmod shows it used, rmmod refuses) until close(); a handle whose process died is treated as
 * closed. As in Linux 6.1, the owner of /dev/kvm's file operations and of every VM's module
 * reference (kvm_chardev_ops.owner) is the vendor module, so neither fds nor VMs count on kvm
 * itself: kvm's "Used by" is only kvm_intel's dependency (irqbypass's only kvm's). The
 * handle keeps its holder lock (liveness.ts) while open, reads the modules' current parameters,
 * and publishes the VM's statistics (vm_stats.ts) without a state transaction.
 */
import { ErrnoError } from "../../errors.ts";
import { findModule, findParam } from "./table.ts";
import { paramAsNumber } from "./params.ts";
import { acquireHolderLock, removeHandleFiles } from "./liveness.ts";
import { isExitReasonName, isStatName, type StatName } from "./stats.ts";
import { defaultEnv, type EnvLookup, ModuleSystem } from "./system.ts";
import { resolveRoot } from "./state.ts";
import { DebugfsWriter, type VmStats, writeVmStats } from "./vm_stats.ts";

export interface DevKvmOptions {
  /** State root; defaults as kvm-ctl resolves it (KVM_CTL_ROOT, then XDG_STATE_HOME). */
  root?: string;
  env?: EnvLookup;
}

export interface KvmStatsUpdate {
  /** Cumulative counters of this VM (summed over its vCPUs), by debugfs name. */
  stats?: Partial<Record<StatName, number>>;
  /** Cumulative VM exits by reason name (e.g. "HLT", "IO_INSTRUCTION"; see VMX_EXIT_REASONS). */
  exitReasons?: Record<string, number>;
  vcpus?: number;
}

export class DevKvm {
  readonly #system: ModuleSystem;
  readonly #id: number;
  readonly #lock: Deno.FsFile;
  readonly #stats: VmStats = { stats: {}, exitReasons: {}, vcpus: 0 };
  readonly #debugfs: DebugfsWriter;
  /** The vendor module this handle holds: "kvm_intel" or "kvm_amd". */
  readonly vendor: string;
  #open = true;

  private constructor(system: ModuleSystem, id: number, vendor: string, lock: Deno.FsFile) {
    this.#system = system;
    this.#id = id;
    this.vendor = vendor;
    this.#lock = lock;
    this.#debugfs = new DebugfsWriter(system.root, id, Deno.pid);
  }

  /** open("/dev/kvm", O_RDWR). Throws ErrnoError ENOENT when the modules are not loaded. */
  static open(options: DevKvmOptions = {}): DevKvm {
    const env = options.env ?? defaultEnv;
    const system = new ModuleSystem(options.root ?? resolveRoot(undefined, env), env);
    let lock: Deno.FsFile | undefined;
    // The lock is taken before the state that lists the handle is written, so no reader can
    // find the handle without its holder.
    const handle = system.modify((k) => {
      const h = k.openDevKvm(Deno.pid);
      lock = acquireHolderLock(system.root, h.id);
      return h;
    });
    return new DevKvm(system, handle.id, handle.modules[handle.modules.length - 1], lock!);
  }

  /** The state root this handle lives in. */
  get root(): string {
    return this.#system.root;
  }

  /** The current sysfs text of a parameter of kvm or the vendor module (writable ones may change). */
  param(module: "kvm" | "vendor" | string, name: string): string {
    const modName = module === "vendor" ? this.vendor : module;
    const spec = findModule(modName);
    const loaded = this.#system.snapshot().loaded(spec?.name ?? modName);
    if (!spec || !loaded || !findParam(spec, name)) throw new ErrnoError("ENOENT");
    return loaded.params[name];
  }

  /** A parameter as a number: Y/N read as 1/0 (nested, ept, ignore_msrs, halt_poll_ns, ...). */
  paramNumber(module: "kvm" | "vendor" | string, name: string): number {
    return paramAsNumber(this.param(module, name));
  }

  /** Every parameter of kvm and of the vendor module, by module. */
  params(): { kvm: Record<string, string>; vendor: Record<string, string> } {
    const k = this.#system.snapshot();
    return { kvm: { ...k.loaded("kvm")?.params }, vendor: { ...k.loaded(this.vendor)?.params } };
  }

  /**
   * Publishes this VM's statistics: its own file, where `kvm-ctl stat` and the state's views read
   * them, and the debugfs files under sys/kernel/debug/kvm (`<pid>-<id>/` and the totals) that
   * changed. Values are cumulative. No lock and no transaction: a few small files are written, so
   * a VM can call it every second or so for as long as it runs.
   */
  updateStats(update: KvmStatsUpdate): void {
    if (!this.#open) throw new ErrnoError("EBADF");
    for (const name of Object.keys(update.stats ?? {})) {
      if (!isStatName(name)) throw new ErrnoError("EINVAL", `unknown KVM statistic '${name}'`);
    }
    for (const name of Object.keys(update.exitReasons ?? {})) {
      if (!isExitReasonName(name)) throw new ErrnoError("EINVAL", `bad exit reason name '${name}'`);
    }
    Object.assign(this.#stats.stats, update.stats);
    Object.assign(this.#stats.exitReasons, update.exitReasons);
    if (update.vcpus !== undefined) this.#stats.vcpus = update.vcpus;
    try {
      writeVmStats(this.#system.root, this.#id, this.#stats);
    } catch (e) {
      // `kvm-ctl reset` under a running VM: the kernel state forgot this handle, publish nowhere.
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    this.#debugfs.publish(this.#stats);
  }

  /** close(): drops the references and the handle's files. Safe to call twice. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    try {
      this.#system.modify((k) => {
        k.closeDevKvm(this.#id);
        removeHandleFiles(this.#system.root, this.#id);
      });
    } finally {
      this.#lock.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
