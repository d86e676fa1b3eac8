/**
 * The simulated kernel's module syscalls on a KernelState: init_module (dependency symbols,
 * parameter parsing, the vendor modules' hardware checks), delete_module (holders and
 * references), sysfs parameter writes, and the /dev/kvm handles that hold references. Each
 * failure is an ErrnoError with the errno the real syscall returns, and the kernel-log lines the
 * real kernel prints go to `log`.
 */
import { ErrnoError } from "../../errors.ts";
import { findModule, findParam, MODULES, type ModuleSpec } from "./table.ts";
import { parseParamValue, splitOptions } from "./params.ts";
import type { KernelState, KvmHandle, LoadedModule } from "./state.ts";
import { aliveHolders, removeHandleFiles } from "./liveness.ts";
import { readVmStats, type VmStats } from "./vm_stats.ts";
import type { HostConfig } from "./host.ts";

export const VENDOR_MODULES = MODULES.filter((m) => m.vendor).map((m) => m.name);

/** The vendor modules' hardware checks (vmx_init / svm_init in 6.3+), first failing one wins. */
const VENDOR_CHECKS: Record<string, (host: HostConfig) => string | undefined> = {
  intel: (h) =>
    h.cpu !== "intel"
      ? "VMX not supported by CPU 0"
      : !h.virtEnabled
      ? "VMX not enabled (by BIOS) in MSR_IA32_FEAT_CTL on CPU 0"
      : undefined,
  amd: (h) =>
    h.cpu !== "amd"
      ? "CPU 0 isn't AMD or Hygon"
      : !h.virtEnabled
      ? "SVM disabled (by BIOS) in MSR_VM_CR on CPU 0"
      : undefined,
};

export class Kernel {
  /** Kernel-log lines produced by this transaction, already timestamped. */
  readonly log: string[] = [];

  constructor(
    readonly state: KernelState,
    readonly host: HostConfig,
    /** The state root, where each handle's lock and statistics files are. */
    readonly root: string,
    private readonly now = Date.now(),
  ) {}

  printk(text: string): void {
    const us = Math.max(0, this.now - this.state.boot) * 1000 + (this.log.length % 1000);
    const sec = Math.floor(us / 1e6).toString().padStart(5, " ");
    this.log.push(`[${sec}.${(us % 1e6).toString().padStart(6, "0")}] ${text}`);
  }

  loaded(name: string): LoadedModule | undefined {
    return this.state.modules.find((m) => m.name === name);
  }

  /** Liveness of the handles present when first asked; handles opened later are alive. */
  #alive: Map<number, boolean> | undefined;

  /** Takes another Kernel's liveness verdicts (same handles), so a transaction asks once. */
  shareLiveness(from: Kernel): void {
    this.#alive = from.#alive;
  }

  /** Handles whose process still runs; dead holders do not count (pruned on the next write). */
  liveHandles(): KvmHandle[] {
    if (!this.#alive) {
      const verdicts = aliveHolders(this.root, this.state.handles);
      this.#alive = new Map(this.state.handles.map((h, i) => [h.id, verdicts[i]]));
    }
    return this.state.handles.filter((h) => this.#alive!.get(h.id) ?? true);
  }

  /** Loaded modules that depend on `name` (the entries of /sys/module/<name>/holders/). */
  holders(name: string): string[] {
    return this.state.modules
      .filter((m) => findModule(m.name)!.depends.includes(name))
      .map((m) => m.name)
      .sort();
  }

  /** The statistics a handle's VM last published. */
  vmStats(handle: KvmHandle): VmStats {
    return readVmStats(this.root, handle.id);
  }

  refcnt(name: string): number {
    return this.holders(name).length + this.liveHandles().filter((h) => h.modules.includes(name)).length;
  }

  /** init_module(2). */
  initModule(spec: ModuleSpec, options: string): void {
    if (this.loaded(spec.name)) throw new ErrnoError("EEXIST");
    for (const dep of spec.depends) {
      if (!this.loaded(dep)) {
        this.printk(`${spec.name}: Unknown symbol ${spec.importedSymbol} (err -2)`);
        throw new ErrnoError("ENOENT");
      }
    }
    const params: Record<string, string> = Object.fromEntries(spec.params.map((p) => [p.name, p.default]));
    for (const word of splitOptions(options)) {
      const param = findParam(spec, word.name);
      if (!param) {
        this.printk(`${spec.name}: unknown parameter '${word.name}' ignored`);
        continue;
      }
      try {
        params[param.name] = parseParamValue(param, word.value);
      } catch (e) {
        this.printk(`${spec.name}: \`${word.value ?? ""}' invalid for parameter \`${param.name}'`);
        throw e;
      }
    }
    if (spec.vendor) {
      const refusal = VENDOR_CHECKS[spec.vendor](this.host);
      if (refusal) {
        this.printk(`${spec.name}: ${refusal}`);
        throw new ErrnoError("ENOTSUP");
      }
      const other = this.state.modules.find((m) => findModule(m.name)!.vendor);
      if (other) {
        this.printk(`kvm: already loaded vendor module '${other.name}'`);
        throw new ErrnoError("EEXIST");
      }
    }
    for (const msg of spec.loadMessages ?? []) {
      const v = msg.when ? params[msg.when] : "Y";
      if (v !== "N" && v !== "0") this.printk(`${spec.name}: ${msg.text}`);
    }
    this.state.modules.unshift({ name: spec.name, params });
  }

  /** delete_module(2) with O_NONBLOCK; O_TRUNC (force) changes nothing without MODULE_FORCE_UNLOAD. */
  deleteModule(name: string): void {
    const index = this.state.modules.findIndex((m) => m.name === name);
    if (index < 0) throw new ErrnoError("ENOENT");
    if (this.refcnt(name) > 0) throw new ErrnoError("EAGAIN");
    this.state.modules.splice(index, 1);
  }

  /** A write to /sys/module/<module>/parameters/<param>. */
  writeParam(module: string, param: string, value: string): string {
    const spec = findModule(module);
    const p = spec && this.loaded(spec.name) ? findParam(spec, param) : undefined;
    if (!spec || !p) throw new ErrnoError("ENOENT");
    if (p.perm !== 0o644) throw new ErrnoError("EACCES");
    const text = parseParamValue(p, value);
    this.loaded(spec.name)!.params[p.name] = text;
    return text;
  }

  /** The loaded vendor module, if any. */
  vendorModule(): LoadedModule | undefined {
    return this.state.modules.find((m) => findModule(m.name)!.vendor);
  }

  /** open("/dev/kvm"): the node exists only while kvm and a vendor module are loaded. */
  openDevKvm(pid: number): KvmHandle {
    const vendor = this.vendorModule();
    if (!this.loaded("kvm") || !vendor) throw new ErrnoError("ENOENT");
    const handle: KvmHandle = {
      id: this.state.nextHandle++,
      pid,
      // kvm_chardev_ops.owner: the vendor module alone is pinned (kvm only through it).
      modules: [vendor.name],
    };
    this.state.handles.push(handle);
    return handle;
  }

  closeDevKvm(id: number): void {
    this.state.handles = this.state.handles.filter((h) => h.id !== id);
  }

  /** Drops handles of processes that died without closing, and their files; returns how many. */
  pruneDeadHandles(): number {
    const live = new Set(this.liveHandles());
    const dead = this.state.handles.filter((h) => !live.has(h));
    for (const h of dead) removeHandleFiles(this.root, h.id);
    this.state.handles = [...live];
    return dead.length;
  }
}
