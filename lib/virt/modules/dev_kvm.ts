/**
 * The simulated /dev/kvm as a process opens it (qemu-system -accel kvm): opening fails with ENOENT
 * unless kvm and a vendor module are loaded; an open handle holds a reference on the vendor module
 * (lsmod shows it used, rmmod refuses) until close(); a handle whose process died is treated as
 * closed. As in Linux 6.1, the owner of /dev/kvm's file operations and of every VM's module
 * reference (kvm_chardev_ops.owner) is the vendor module, so neither fds nor VMs count on kvm
 * itself: kvm's "Used by" is only kvm_intel's dependency (irqbypass's only kvm's). The
 * handle reads the modules' current parameters and publishes the VM's statistics to debugfs.
 */
import { ErrnoError } from "../../errors.ts";
import { findModule, findParam } from "./table.ts";
import { paramAsNumber } from "./params.ts";
import { ownStartTime } from "./liveness.ts";
import { isExitReasonName, isStatName, type StatName } from "./stats.ts";
import { defaultEnv, type EnvLookup, ModuleSystem } from "./system.ts";
import { resolveRoot } from "./state.ts";

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
  /** The vendor module this handle holds: "kvm_intel" or "kvm_amd". */
  readonly vendor: string;
  #open = true;

  private constructor(system: ModuleSystem, id: number, vendor: string) {
    this.#system = system;
    this.#id = id;
    this.vendor = vendor;
  }

  /** open("/dev/kvm", O_RDWR). Throws ErrnoError ENOENT when the modules are not loaded. */
  static open(options: DevKvmOptions = {}): DevKvm {
    const env = options.env ?? defaultEnv;
    const system = new ModuleSystem(options.root ?? resolveRoot(undefined, env), env);
    const start = ownStartTime();
    const handle = system.modify((k) => k.openDevKvm(Deno.pid, start));
    return new DevKvm(system, handle.id, handle.modules[handle.modules.length - 1]);
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
   * Publishes this VM's statistics to sys/kernel/debug/kvm (totals and `<pid>-<id>/`), where
   * `kvm-ctl stat` reads them. Values are cumulative; each call takes the state lock, so call it
   * a few times a second at most (e.g. on a timer and at exit).
   */
  updateStats(update: KvmStatsUpdate): void {
    if (!this.#open) throw new ErrnoError("EBADF");
    for (const name of Object.keys(update.stats ?? {})) {
      if (!isStatName(name)) throw new ErrnoError("EINVAL", `unknown KVM statistic '${name}'`);
    }
    for (const name of Object.keys(update.exitReasons ?? {})) {
      if (!isExitReasonName(name)) throw new ErrnoError("EINVAL", `bad exit reason name '${name}'`);
    }
    this.#system.modify((k) => {
      const h = k.state.handles.find((x) => x.id === this.#id);
      if (!h) throw new ErrnoError("EBADF");
      Object.assign(h.stats, update.stats);
      Object.assign(h.exitReasons, update.exitReasons);
      if (update.vcpus !== undefined) h.vcpus = update.vcpus;
    }, { checkLiveness: false });
  }

  /** close(): drops the references. Safe to call twice. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#system.modify((k) => k.closeDevKvm(this.#id));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
