/**
 * libkmod's lookup and probe-insert (kmod_module_new_from_lookup,
 * kmod_module_probe_insert_module): resolving a name through config aliases, module names,
 * symbols and the modules' own aliases; building the probe list (dependencies with their
 * softdeps, then the module); and inserting each, running `install` commands in its place.
 * Every insert is its own locked transaction, so an install command may call kvm-ctl itself.
 */
import { ErrnoError } from "../../errors.ts";
import { findModule, MODULES, type ModuleSpec, transitiveDepends } from "./table.ts";
import { fnmatch, installCommand, type ModprobeConfig, moduleOptions, softdepsOf } from "./config.ts";
import { moduleDirectory } from "./host.ts";
import type { ModuleSystem } from "./system.ts";

export interface Resolved {
  spec: ModuleSpec;
  /** Reached through an alias rather than its own name: blacklist applies. */
  viaAlias: boolean;
}

/** kmod_module_new_from_lookup; an empty list means "not found". */
export function lookup(cfg: ModprobeConfig, name: string): Resolved[] {
  const norm = name.replaceAll("-", "_");
  const fromConfig = cfg.aliases.filter(([pattern]) => fnmatch(pattern, norm));
  if (fromConfig.length) {
    return fromConfig.flatMap(([, target]) => findModule(target) ?? []).map((spec) => ({
      spec,
      viaAlias: true,
    }));
  }
  const direct = findModule(norm);
  if (direct) return [{ spec: direct, viaAlias: false }];
  if (name.startsWith("symbol:")) {
    const sym = name.slice(7);
    return MODULES.filter((m) => m.exports.includes(sym)).map((spec) => ({ spec, viaAlias: true }));
  }
  return MODULES.filter((m) => m.aliases.some((a) => fnmatch(a, name))).map((spec) => ({
    spec,
    viaAlias: true,
  }));
}

export function modulePath(system: ModuleSystem, spec: ModuleSpec): string {
  return `${moduleDirectory(system.host)}/${spec.file}`;
}

export interface ProbeFlags {
  ignoreCommand?: boolean;
  ignoreLoaded?: boolean;
  dryRun?: boolean;
  failOnLoaded?: boolean;
  /** modprobe -b: the blacklist applies to the name given, not only to aliases. */
  applyBlacklist?: boolean;
}

export interface ProbeHooks {
  /** modprobe's print_action: `insmod <path> <opts>` or `install <cmd> <opts>`. */
  show?(kind: "insmod" | "install", what: string, options: string): void;
  /** libkmod's log: level and text (with its newline stripped). */
  log(level: "ERROR" | "INFO" | "DEBUG", text: string): void;
}

/** What probeInsert returns when the blacklist stopped it: not an error, nothing loaded. */
export const BLACKLISTED = 1;

interface Entry {
  spec: ModuleSpec;
  ignorecmd: boolean;
}

function probeList(cfg: ModprobeConfig, mod: ModuleSpec, ignorecmd: boolean): [Entry[], Set<string>] {
  const list: Entry[] = [];
  const visited = new Set<string>();
  const required = new Set<string>();
  const softdeps = (name: string) => {
    const { pre, post } = softdepsOf(cfg, name);
    const resolve = (names: string[]) => names.flatMap((n) => lookup(cfg, n).map((r) => r.spec));
    return { pre: resolve(pre), post: resolve(post) };
  };
  const fill = (m: ModuleSpec) => {
    const { pre, post } = softdeps(m.name);
    for (const p of pre) walk(p, false, false);
    list.push({ spec: m, ignorecmd: pre.length > 0 || post.length > 0 });
    for (const p of post) walk(p, false, false);
  };
  const walk = (m: ModuleSpec, req: boolean, ignore: boolean) => {
    if (visited.has(m.name)) return;
    visited.add(m.name);
    // modules.dep lists nearest first; libkmod prepends while parsing, so loads run farthest first.
    const deps = transitiveDepends(m).reverse();
    if (req) [m, ...deps].forEach((d) => required.add(d.name));
    for (const d of deps) fill(d);
    if (ignore) list.push({ spec: m, ignorecmd: true });
    else fill(m);
  };
  walk(mod, true, ignorecmd);
  return [list, required];
}

function substituteOptions(command: string, options: string): string {
  return command.replaceAll("$CMDLINE_OPTS", options);
}

/** Runs an install/remove command through sh with MODPROBE_MODULE set, as system(3) would. */
export function runCommand(system: ModuleSystem, module: string, command: string): number {
  const out = new Deno.Command("sh", {
    args: ["-c", command],
    env: { MODPROBE_MODULE: module, KVM_CTL_ROOT: system.root },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).outputSync();
  return out.code;
}

/**
 * kmod_module_probe_insert_module. Returns 0, or BLACKLISTED; throws ErrnoError for the error
 * modprobe reports (EEXIST only for --first-time on the module itself).
 */
export function probeInsert(
  system: ModuleSystem,
  cfg: ModprobeConfig,
  target: Resolved,
  flags: ProbeFlags,
  extraOptions: string,
  hooks: ProbeHooks,
): number {
  const mod = target.spec;
  const isLoaded = (name: string) => !!system.snapshot().loaded(name);
  if (!flags.ignoreLoaded && isLoaded(mod.name)) {
    if (flags.failOnLoaded) throw new ErrnoError("EEXIST");
    return 0;
  }
  if (cfg.blacklist.includes(mod.name) && (target.viaAlias || flags.applyBlacklist)) return BLACKLISTED;
  const [list, required] = probeList(cfg, mod, !!flags.ignoreCommand);
  let err: ErrnoError | undefined;
  for (const m of list) {
    err = undefined;
    if (!flags.ignoreLoaded && isLoaded(m.spec.name)) err = new ErrnoError("EEXIST");
    else {
      const options = [moduleOptions(cfg, m.spec.name), m.spec === mod ? extraOptions : ""]
        .filter((o) => o !== "").join(" ");
      const cmd = installCommand(cfg, m.spec.name);
      if (cmd !== undefined && !m.ignorecmd) {
        hooks.show?.("install", cmd, options);
        if (!flags.dryRun) {
          const full = substituteOptions(cmd, options);
          const code = runCommand(system, m.spec.name, full);
          if (code !== 0) {
            hooks.log(
              "ERROR",
              `Error running install command '${full}' for module ${m.spec.name}: retcode ${code}`,
            );
            err = new ErrnoError("EINVAL");
          }
        }
      } else {
        const path = modulePath(system, m.spec);
        hooks.show?.("insmod", path, options);
        if (!flags.dryRun) {
          try {
            system.modify((k) => k.initModule(m.spec, options));
          } catch (e) {
            if (!(e instanceof ErrnoError)) throw e;
            hooks.log("INFO", `Failed to insert module '${path}': ${e.strerror}`);
            err = e;
          }
        }
      }
    }
    if (err?.code === "EEXIST" && m.spec === mod && flags.failOnLoaded) throw err;
    if (err && (err.code === "EEXIST" || !required.has(m.spec.name))) err = undefined;
    else if (err) throw err;
  }
  return 0;
}
