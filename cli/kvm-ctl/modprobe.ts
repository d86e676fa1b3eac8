/**
 * `kvm-ctl modprobe`: kmod's tools/modprobe.c on the simulated kernel. Options, message texts and
 * priorities follow kmod 31; insertion goes through lib's probeInsert (libkmod's half), removal
 * is modprobe's own rmmod_do_module walk (softdeps, holders, the module, unused dependencies).
 */
import { ErrnoError } from "../../lib/errors.ts";
import { type ModprobeConfig, readConfig, removeCommand, softdepsOf } from "../../lib/virt/modules/config.ts";
import { moduleDirectory } from "../../lib/virt/modules/host.ts";
import { lookup, modulePath, probeInsert, type Resolved, runCommand } from "../../lib/virt/modules/probe.ts";
import { MODULES, type ModuleSpec, transitiveDepends } from "../../lib/virt/modules/table.ts";
import type { ModuleSystem } from "../../lib/virt/modules/system.ts";
import { getoptLong, longTable } from "./getopt.ts";
import { type Context, err, Exit, KMOD_VERSION, KmodLog, LOG, out } from "./io.ts";
import { optionsFromArray, symbolCrc } from "./kmod_util.ts";
import { moduleFromFile } from "./module_file.ts";

const SHORT = "arw:RibfDcnC:d:S:sqvVh";
/** kmod 31's long options; the old spellings are plain synonyms there (later kmods warn). */
const LONG = longTable([
  ["all", "a"],
  ["remove", "r"],
  ["remove-dependencies", "remove-holders"],
  ["remove-holders", "remove-holders"],
  ["wait", "w", true],
  ["resolve-alias", "R"],
  ["first-time", "first-time"],
  ["ignore-install", "i"],
  ["ignore-remove", "i"],
  ["use-blacklist", "b"],
  ["force", "f"],
  ["force-modversion", "force-modversion"],
  ["force-vermagic", "force-vermagic"],
  ["show-depends", "D"],
  ["showconfig", "c"],
  ["show-config", "c"],
  ["show-modversions", "show-modversions"],
  ["dump-modversions", "show-modversions"],
  ["show-exports", "show-exports"],
  ["dry-run", "n"],
  ["show", "n"],
  ["config", "C", true],
  ["dirname", "d", true],
  ["set-version", "S", true],
  ["syslog", "s"],
  ["quiet", "q"],
  ["verbose", "v"],
  ["version", "V"],
  ["help", "h"],
]);

const HELP = `Usage:
\tmodprobe [options] [-i] [-b] modulename
\tmodprobe [options] -a [-i] [-b] modulename [modulename...]
\tmodprobe [options] -r [-i] modulename
\tmodprobe [options] -r -a [-i] modulename [modulename...]
\tmodprobe [options] -c
\tmodprobe [options] --dump-modversions filename
Management Options:
\t-a, --all                   Consider every non-argument to
\t                            be a module name to be inserted
\t                            or removed (-r)
\t-r, --remove                Remove modules instead of inserting
\t    --remove-dependencies   Deprecated: use --remove-holders
\t    --remove-holders        Also remove module holders (use together with -r)
\t-w, --wait <MSEC>           When removing a module, wait up to MSEC for
\t                            module's refcount to become 0 so it can be
\t                            removed (use together with -r)
\t    --first-time            Fail if module already inserted or removed
\t-i, --ignore-install        Ignore install commands
\t-i, --ignore-remove         Ignore remove commands
\t-b, --use-blacklist         Apply blacklist to resolved alias.
\t-f, --force                 Force module insertion or removal.
\t                            implies --force-modversions and
\t                            --force-vermagic
\t    --force-modversion      Ignore module's version
\t    --force-vermagic        Ignore module's version magic

Query Options:
\t-R, --resolve-alias         Only lookup and print alias and exit
\t-D, --show-depends          Only print module dependencies and exit
\t-c, --showconfig            Print out known configuration and exit
\t-c, --show-config           Same as --showconfig
\t    --show-modversions      Dump module symbol version and exit
\t    --dump-modversions      Same as --show-modversions
\t    --show-exports          Only print module exported symbol versions and exit

General Options:
\t-n, --dry-run               Do not execute operations, just print out
\t-n, --show                  Same as --dry-run
\t-C, --config=FILE           Use FILE instead of default search paths
\t-d, --dirname=DIR           Use DIR as filesystem root for /lib/modules
\t-S, --set-version=VERSION   Use VERSION instead of \`uname -r\`
\t-s, --syslog                print to syslog, not stderr
\t-q, --quiet                 disable messages
\t-v, --verbose               enables more messages
\t-V, --version               show version
\t-h, --help                  show this help
`;

/** MODPROBE_OPTIONS is split at spaces, with '…' or "…" quoting, and goes before argv. */
function envOptions(value: string | undefined): string[] {
  if (!value) return [];
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|([^ ]+)/g;
  for (const m of value.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]);
  return words;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

class Modprobe {
  /** modprobe.c's own LOG() priority: CRIT, or WARNING with -a. */
  logPriority: number = LOG.CRIT;
  verbose: number = LOG.WARNING;
  doShow = false;
  dryRun = false;
  ignoreLoaded = false;
  lookupOnly = false;
  firstTime = false;
  ignoreCommands = false;
  useBlacklist = false;
  removeHolders = false;
  waitMsec = 0;
  readonly log = new KmodLog("modprobe");
  cfg!: ModprobeConfig;
  /** false when -d/-S point at a module directory other than the simulated one. */
  dirUsable = true;
  dirname = "";

  constructor(readonly system: ModuleSystem) {}

  LOG(msg: string): void {
    this.log.printf(this.logPriority, msg);
  }
  SHOW(text: string): void {
    if (this.doShow || this.verbose > LOG.WARNING) out(text);
  }

  lookup(name: string): Resolved[] {
    return this.dirUsable ? lookup(this.cfg, name) : [];
  }

  /** module_new_from_any: a path names one module file; anything else is looked up. */
  fromAny(name: string): Resolved[] | undefined {
    if (name.startsWith("/") || name.startsWith("./")) {
      const spec = this.dirUsable ? MODULES.find((m) => modulePath(this.system, m) === name) : undefined;
      if (!spec) {
        this.LOG(`Failed to get module from path ${name}: No such file or directory\n`);
        return undefined;
      }
      return [{ spec, viaAlias: false }];
    }
    const list = this.lookup(name);
    if (list.length === 0) {
      this.LOG(`Module ${name} not found in directory ${this.dirname}\n`);
      return undefined;
    }
    return list;
  }

  insmodInsert(target: Resolved, extra: string): boolean {
    const name = target.spec.name;
    if (this.lookupOnly) {
      out(`${name}\n`);
      return true;
    }
    const show = this.doShow || this.verbose > LOG.WARNING;
    try {
      probeInsert(
        this.system,
        this.cfg,
        target,
        {
          ignoreCommand: this.ignoreCommands,
          ignoreLoaded: this.ignoreLoaded,
          dryRun: this.dryRun,
          failOnLoaded: this.firstTime,
          applyBlacklist: this.useBlacklist,
        },
        extra,
        {
          show: show ? (kind, what, options) => out(`${kind} ${what} ${options}\n`) : undefined,
          log: (level, text) => this.log.printf(level === "ERROR" ? LOG.ERR : LOG.INFO, text + "\n"),
        },
      );
      return true;
    } catch (e) {
      if (!(e instanceof ErrnoError)) throw e;
      const why = e.code === "EEXIST"
        ? "Module already in kernel"
        : e.code === "ENOENT"
        ? "Unknown symbol in module, or unknown parameter (see dmesg)"
        : e.strerror;
      this.log.error(`could not insert '${name}': ${why}\n`);
      return false;
    }
  }

  insmod(alias: string, extra: string): boolean {
    const list = this.fromAny(alias);
    if (!list) return false;
    let ok = true;
    for (const target of list) ok = this.insmodInsert(target, extra);
    return ok;
  }

  refcnt(name: string): number | undefined {
    const k = this.system.snapshot();
    return k.loaded(name) ? k.refcnt(name) : undefined;
  }

  /** rmmod_do_remove_module: delete_module, polling while busy when -w was given. */
  removeModule(spec: ModuleSpec): boolean {
    this.SHOW(`rmmod ${spec.name}\n`);
    if (this.dryRun) return true;
    const deadline = Date.now() + this.waitMsec;
    let interval = 1;
    for (;;) {
      try {
        this.system.modify((k) => k.deleteModule(spec.name));
        return true;
      } catch (e) {
        if (!(e instanceof ErrnoError)) throw e;
        if (e.code === "EAGAIN" && this.waitMsec && Date.now() < deadline) {
          sleepMs(Math.min(interval, deadline - Date.now()));
          interval = Math.min(interval * 2, 1000);
          continue;
        }
        // libkmod's message, or modprobe's own after -w gave up: the same words either way.
        this.log.error(`could not remove '${spec.name}': ${e.strerror}\n`);
        return false;
      }
    }
  }

  softdeps(spec: ModuleSpec): { pre: ModuleSpec[]; post: ModuleSpec[] } {
    if (this.ignoreCommands) return { pre: [], post: [] };
    const { pre, post } = softdepsOf(this.cfg, spec.name);
    const resolve = (names: string[]) => names.flatMap((n) => this.lookup(n).map((r) => r.spec));
    return { pre: resolve(pre), post: resolve(post) };
  }

  /** rmmod_do_module: returns false on the errors that stop modprobe -r. */
  rmmodDo(spec: ModuleSpec, removeHolders: boolean): boolean {
    const { pre, post } = this.softdeps(spec);
    const cmd = this.ignoreCommands ? undefined : removeCommand(this.cfg, spec.name);
    if (cmd === undefined && !this.ignoreLoaded && this.refcnt(spec.name) === undefined) {
      if (this.firstTime) {
        this.LOG(`Module ${spec.name} is not in kernel.\n`);
        return false;
      }
      return true;
    }
    for (const m of [...post].reverse()) this.rmmodDo(m, false);
    if (removeHolders) {
      for (const h of [...this.system.snapshot().holders(spec.name)].reverse()) {
        if (!this.rmmodDo(MODULES.find((m) => m.name === h)!, false)) return false;
      }
    }
    if (cmd === undefined && !this.ignoreLoaded && !this.waitMsec && (this.refcnt(spec.name) ?? 0) > 0) {
      this.LOG(`Module ${spec.name} is in use.\n`);
      return false;
    }
    if (cmd === undefined) {
      if (this.refcnt(spec.name) !== undefined && !this.removeModule(spec)) return false;
    } else {
      this.SHOW(`remove ${cmd}\n`);
      if (!this.dryRun && runCommand(this.system, spec.name, cmd) !== 0) {
        this.LOG(`Error running remove command for ${spec.name}\n`);
        return false;
      }
    }
    if (cmd === undefined) {
      for (const dep of transitiveDepends(spec).reverse()) {
        if (this.refcnt(dep.name) === 0) this.removeModule(dep);
      }
    }
    for (const m of [...pre].reverse()) this.rmmodDo(m, false);
    return true;
  }

  rmmod(alias: string): boolean {
    const list = this.lookup(alias);
    if (list.length === 0) {
      this.LOG(`Module ${alias} not found.\n`);
      return false;
    }
    for (const { spec } of list) if (!this.rmmodDo(spec, this.removeHolders)) return false;
    return true;
  }

  showConfig(): void {
    const c = this.cfg;
    const lines: string[] = [
      ...c.blacklist.map((m) => `blacklist ${m}`),
      ...c.install.map(([m, cmd]) => `install ${m} ${cmd}`),
      ...c.remove.map(([m, cmd]) => `remove ${m} ${cmd}`),
      ...c.aliases.map(([a, m]) => `alias ${a} ${m}`),
      ...c.options.map(([m, o]) => `options ${m} ${o}`),
      // softdep_to_char writes the post: part right after the pre: list, with no space between.
      ...c.softdeps.map((s) =>
        `softdep ${s.module} ` + (s.pre.length ? `pre: ${s.pre.join(" ")}` : "") +
        (s.post.length ? `post: ${s.post.join(" ")}` : "")
      ),
    ];
    out(lines.map((l) => l + "\n").join(""));
    out("\n# End of configuration files. Dumping indexes now:\n\n");
    for (const m of MODULES) for (const a of m.aliases) out(`alias ${a} ${m.name}\n`);
    for (const m of MODULES) for (const s of m.exports) out(`alias symbol:${s} ${m.name}\n`);
  }

  /** --show-modversions / --show-exports: `0x<crc>\t<symbol>` per symbol. */
  showSymbols(name: string, which: "imports" | "exports"): boolean {
    const spec = this.dirUsable ? moduleFromFile(this.system, name) : undefined;
    if (!spec || !name.includes("/")) {
      this.LOG(`Module ${name} not found.\n`);
      return false;
    }
    {
      const syms = which === "exports"
        ? spec.exports
        : ["module_layout", ...spec.depends.flatMap((d) => MODULES.find((m) => m.name === d)!.exports)];
      for (const s of syms) out(`0x${symbolCrc(s)}\t${s}\n`);
    }
    return true;
  }
}

export function modprobe(ctx: Context, argv: string[]): number {
  const system = ctx.system();
  const mp = new Modprobe(system);
  const args = [...envOptions(Deno.env.get("MODPROBE_OPTIONS")), ...argv];
  const parsed = getoptLong("modprobe", args, SHORT, LONG);
  if (!parsed.ok) {
    err(parsed.message);
    return 1;
  }
  let useAll = false, doRemove = false, showConfig = false, showModversions = false, showExports = false;
  const configPaths: string[] = [];
  let root: string | undefined, kversion: string | undefined;
  for (const { key, arg } of parsed.options) {
    switch (key) {
      case "a":
        mp.logPriority = LOG.WARNING;
        useAll = true;
        break;
      case "r":
        doRemove = true;
        break;
      case "remove-holders":
        mp.removeHolders = true;
        doRemove = true;
        break;
      case "w": {
        const v = arg!;
        const n = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(v)
          ? Number(v.replace(/^0(?=[0-7])/, "0o"))
          : NaN;
        if (!Number.isFinite(n)) {
          mp.log.error(`unexpected wait value '${v}'.\n`);
          return 1;
        }
        mp.waitMsec = n;
        break;
      }
      case "first-time":
        mp.firstTime = true;
        break;
      case "i":
        mp.ignoreCommands = true;
        break;
      case "b":
        mp.useBlacklist = true;
        break;
      case "D":
        mp.ignoreLoaded = true;
        mp.dryRun = true;
        mp.doShow = true;
        break;
      case "R":
        mp.lookupOnly = true;
        break;
      case "c":
        showConfig = true;
        break;
      case "show-modversions":
        showModversions = true;
        break;
      case "show-exports":
        showExports = true;
        break;
      case "n":
        // kmod 31: a dry run alone prints nothing; -v (or -D) shows the actions.
        mp.dryRun = true;
        break;
      case "C":
        configPaths.push(arg!);
        break;
      case "d":
        root = arg;
        break;
      case "S":
        kversion = arg;
        break;
      case "q":
        mp.verbose = LOG.EMERG;
        break;
      case "v":
        mp.verbose++;
        break;
      case "V":
        out(KMOD_VERSION);
        return 0;
      case "h":
        out(HELP);
        return 0;
        // -f, --force-modversion, --force-vermagic and -s change nothing in the simulation.
    }
  }
  const names = parsed.operands;
  if (!showConfig && names.length === 0) {
    mp.log.error("missing parameters. See -h.\n");
    return 1;
  }
  mp.dirname = moduleDirectory(system.host);
  if (root !== undefined || kversion !== undefined) {
    const wanted = `${root ?? ""}/lib/modules/${kversion ?? system.host.release}`;
    mp.dirUsable = wanted.replace(/\/+/g, "/") === mp.dirname;
    mp.dirname = wanted;
  }
  mp.log.threshold = mp.verbose;
  mp.cfg = readConfig(system.root, configPaths.length ? configPaths : undefined);
  // libkmod logs these while kmod_new() parses the files, before modprobe installs its logger.
  for (const e of mp.cfg.errors) err(e + "\n");
  try {
    let ok: boolean;
    if (showConfig) {
      mp.showConfig();
      ok = true;
    } else if (showModversions) ok = mp.showSymbols(names[0], "imports");
    else if (showExports) ok = mp.showSymbols(names[0], "exports");
    else if (doRemove) ok = names.map((n) => mp.rmmod(n)).every((x) => x);
    else if (useAll) ok = names.map((n) => mp.insmod(n, "")).every((x) => x);
    else ok = mp.insmod(names[0], optionsFromArray(names.slice(1)));
    return ok ? 0 : 1;
  } catch (e) {
    // A FATAL message exits at once; with -q it is suppressed and the failure is returned instead.
    if (e instanceof Exit) return e.code;
    throw e;
  }
}
