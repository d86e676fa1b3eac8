/**
 * The persistent kernel state and its store. `state.json` under the root is the one source of
 * truth (loaded modules with their parameter values, open /dev/kvm handles with their statistics);
 * the procfs/sysfs/debugfs files beside it are views rendered from it (views.ts). Writers hold an
 * exclusive flock on `<root>/.lock` (released by the OS if the process dies) and replace every
 * file atomically (temporary file + rename), so readers never see a half-written file and
 * concurrent writers never lose an update.
 */
import { dirname, join } from "node:path";
import { findModule } from "./table.ts";
import { StateCorruptError } from "./errors.ts";

export interface LoadedModule {
  name: string;
  /** sysfs text of every parameter. */
  params: Record<string, string>;
}

/**
 * One open simulated /dev/kvm: a process holding references on kvm and its vendor module. Its
 * liveness (liveness.ts) and its VM's statistics (vm_stats.ts) live in files of their own, so
 * neither needs a transaction on this state.
 */
export interface KvmHandle {
  id: number;
  pid: number;
  modules: string[];
}

export interface KernelState {
  version: 1;
  /** Epoch ms of the simulated boot: kernel-log timestamps count from here. */
  boot: number;
  /** Newest first, as /proc/modules lists them. */
  modules: LoadedModule[];
  handles: KvmHandle[];
  nextHandle: number;
}

export const STATE_FILE = "state.json";
export const LOCK_FILE = ".lock";
export const KERNEL_LOG = "var/log/dmesg";
/** Ring-buffer size of the kernel log, in lines. */
const LOG_LINES = 2000;

export function freshState(): KernelState {
  return { version: 1, boot: Date.now(), modules: [], handles: [], nextHandle: 1 };
}

/** `--root` flag > KVM_CTL_ROOT > $XDG_STATE_HOME/qemu-kvm-ts/kvm > ~/.local/state/qemu-kvm-ts/kvm. */
export function resolveRoot(flag: string | undefined, env: (name: string) => string | undefined): string {
  if (flag) return flag;
  const fromEnv = env("KVM_CTL_ROOT");
  if (fromEnv) return fromEnv;
  const xdg = env("XDG_STATE_HOME") || join(env("HOME") ?? "/tmp", ".local", "state");
  return join(xdg, "qemu-kvm-ts", "kvm");
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Checks the parsed file field by field; the first problem found names what is wrong. */
function validate(v: unknown): string | undefined {
  if (!isRecord(v)) return "not a JSON object";
  if (v.version !== 1) return `unknown version ${JSON.stringify(v.version)}`;
  if (typeof v.boot !== "number") return "'boot' is not a number";
  if (typeof v.nextHandle !== "number") return "'nextHandle' is not a number";
  if (!Array.isArray(v.modules)) return "'modules' is not a list";
  const seen = new Set<string>();
  for (const m of v.modules) {
    if (!isRecord(m) || typeof m.name !== "string") return "a module entry has no name";
    const spec = findModule(m.name);
    if (!spec || spec.name !== m.name) return `unknown module '${m.name}'`;
    if (seen.has(m.name)) return `module '${m.name}' listed twice`;
    seen.add(m.name);
    if (!isRecord(m.params)) return `module '${m.name}' has no parameter table`;
    for (const p of spec.params) {
      if (typeof m.params[p.name] !== "string") return `module '${m.name}' lacks parameter '${p.name}'`;
    }
  }
  if (!Array.isArray(v.handles)) return "'handles' is not a list";
  for (const h of v.handles) {
    if (!isRecord(h) || typeof h.id !== "number" || typeof h.pid !== "number" || !Array.isArray(h.modules)) {
      return "a /dev/kvm handle entry is malformed";
    }
  }
  return undefined;
}

/** Writes a file so that readers see either the old or the new content, never a mix. */
export function atomicWrite(path: string, content: string, mode = 0o644): void {
  const tmp = join(dirname(path), `.${path.slice(dirname(path).length + 1)}.${Deno.pid}.tmp`);
  Deno.writeTextFileSync(tmp, content, { mode });
  Deno.chmodSync(tmp, mode);
  Deno.renameSync(tmp, path);
}

export class StateStore {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  path(rel: string): string {
    return join(this.root, rel);
  }

  /** The current state; a missing file is a fresh boot. Needs no lock: the file is replaced atomically. */
  read(): KernelState {
    const file = this.path(STATE_FILE);
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return freshState();
      throw new StateCorruptError(file, e instanceof Error ? e.message : String(e), this.root);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new StateCorruptError(file, `invalid JSON: ${(e as Error).message}`, this.root);
    }
    const problem = validate(parsed);
    if (problem) throw new StateCorruptError(file, problem, this.root);
    return parsed as KernelState;
  }

  /** Runs `fn` holding the lock; the lock is per open file, so it also excludes other processes. */
  withLock<T>(fn: () => T): T {
    Deno.mkdirSync(this.root, { recursive: true });
    const lock = Deno.openSync(this.path(LOCK_FILE), { create: true, write: true });
    try {
      lock.lockSync(true);
      return fn();
    } finally {
      lock.close();
    }
  }

  writeState(state: KernelState): void {
    atomicWrite(this.path(STATE_FILE), JSON.stringify(state, null, 1) + "\n");
  }

  /** Appends kernel-log lines, keeping the last LOG_LINES (the ring buffer). Call under the lock. */
  appendLog(lines: string[]): void {
    if (lines.length === 0) return;
    const file = this.path(KERNEL_LOG);
    Deno.mkdirSync(dirname(file), { recursive: true });
    const old = this.readLog();
    const all = old.concat(lines).slice(-LOG_LINES);
    atomicWrite(file, all.map((l) => l + "\n").join(""));
  }

  readLog(): string[] {
    try {
      return Deno.readTextFileSync(this.path(KERNEL_LOG)).split("\n").filter((l) => l !== "");
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
  }

  clearLog(): void {
    const file = this.path(KERNEL_LOG);
    Deno.mkdirSync(dirname(file), { recursive: true });
    atomicWrite(file, "");
  }
}
