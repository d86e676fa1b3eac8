/** `kvm-ctl rmmod`: kmod 31's tools/rmmod.c, with check_module_inuse unless -f. */
import { ErrnoError } from "../../lib/errors.ts";
import { normalizeModuleName } from "../../lib/virt/modules/table.ts";
import { getoptLong, longTable } from "./getopt.ts";
import { type Context, err, KMOD_VERSION, KmodLog, LOG, out } from "./io.ts";
import { isModuleFilename, pathToModname } from "./module_file.ts";

const LONG = longTable([["force", "f"], ["syslog", "s"], ["verbose", "v"], ["version", "V"], ["help", "h"]]);

const HELP = `Usage:
\trmmod [options] modulename ...
Options:
\t-f, --force       forces a module unload and may crash your
\t                  machine. This requires Forced Module Removal
\t                  option in your kernel. DANGEROUS
\t-s, --syslog      print to syslog, not stderr
\t-v, --verbose     enables more messages
\t-V, --version     show version
\t-h, --help        show this help
`;

export function rmmod(ctx: Context, argv: string[]): number {
  // kmod 31 still lists -w in its short options but no longer handles it.
  const parsed = getoptLong("rmmod", argv, "fsvVwh", LONG);
  if (!parsed.ok) {
    err(parsed.message);
    return 1;
  }
  const log = new KmodLog("rmmod");
  let force = false;
  let verbose: number = LOG.ERR;
  for (const { key } of parsed.options) {
    if (key === "f") force = true;
    if (key === "v") verbose++;
    if (key === "h") return out(HELP), 0;
    if (key === "V") return out(KMOD_VERSION), 0;
    if (key === "w") return log.error("unexpected getopt_long() value 'w'.\n"), 1;
  }
  if (parsed.operands.length === 0) return log.error("missing module name.\n"), 1;
  log.threshold = verbose;
  const system = ctx.system();
  let status = 0;
  for (const arg of parsed.operands) {
    const name = arg.includes("/") || isModuleFilename(arg) ? pathToModname(arg) : normalizeModuleName(arg);
    if (!force) {
      const k = system.snapshot();
      if (!k.loaded(name)) {
        log.error(`Module ${name} is not currently loaded\n`);
        status = 1;
        continue;
      }
      const holders = k.holders(name);
      if (holders.length) {
        log.error(`Module ${name} is in use by:${holders.map((h) => " " + h).join("")}\n`);
        status = 1;
        continue;
      }
      if (k.refcnt(name) > 0) {
        log.error(`Module ${name} is in use\n`);
        status = 1;
        continue;
      }
    }
    try {
      system.modify((k) => k.deleteModule(name));
    } catch (e) {
      if (!(e instanceof ErrnoError)) throw e;
      log.error(`could not remove '${name}': ${e.strerror}\n`);
      log.error(`could not remove module ${arg}: ${e.strerror}\n`);
      status = 1;
    }
  }
  return status;
}
