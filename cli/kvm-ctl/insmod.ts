/** `kvm-ctl insmod`: kmod's tools/insmod.c. One file, no dependencies, no configuration. */
import { ErrnoError } from "../../lib/errors.ts";
import { getoptLong, longTable } from "./getopt.ts";
import { type Context, err, KMOD_VERSION, KmodLog, LOG, out } from "./io.ts";
import { optionsFromArray } from "./kmod_util.ts";
import { moduleFromFile } from "./module_file.ts";
import { modulePath } from "../../lib/virt/modules/probe.ts";

const LONG = longTable([
  ["force", "f"],
  ["force-modversion", "force-modversion"],
  ["force-vermagic", "force-vermagic"],
  ["syslog", "s"],
  ["verbose", "v"],
  ["version", "V"],
  ["help", "h"],
]);

const HELP = `Usage:
\tinsmod [options] filename [module options]
Options:
\t-f, --force              DANGEROUS: forces a module load, may cause
\t                         data corruption and crash your machine.
\t                         implies --force-modversion and
\t                         --force-vermagic
\t    --force-modversion   Ignore module's version
\t    --force-vermagic     Ignore module's version magic
\t-s, --syslog             print to syslog, not stderr
\t-v, --verbose            enables more messages
\t-V, --version            show version
\t-h, --help               show this help
`;

/** insmod's mod_strerror: kmod's own words for the errnos init_module returns. */
const MOD_STRERROR: Partial<Record<string, string>> = {
  ENOEXEC: "Invalid module format",
  ENOENT: "Unknown symbol in module",
  ESRCH: "Module has wrong symbol version",
  EINVAL: "Invalid parameters",
};

export function insmod(ctx: Context, argv: string[]): number {
  const parsed = getoptLong("insmod", argv, "fsvVh", LONG);
  if (!parsed.ok) {
    err(parsed.message);
    return 1;
  }
  const log = new KmodLog("insmod");
  let verbose: number = LOG.ERR;
  for (const { key } of parsed.options) {
    if (key === "v") verbose++;
    if (key === "h") return out(HELP), 0;
    if (key === "V") return out(KMOD_VERSION), 0;
  }
  const [filename, ...params] = parsed.operands;
  if (filename === undefined) return log.error("missing filename.\n"), 1;
  if (filename === "-") return log.error("this tool does not support loading from stdin!\n"), 1;
  const opts = optionsFromArray(params);
  log.threshold = verbose;
  const system = ctx.system();
  const spec = moduleFromFile(system, filename);
  if (!spec) return log.error(`could not load module ${filename}: No such file or directory\n`), 1;
  try {
    system.modify((k) => k.initModule(spec, opts));
    return 0;
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    log.printf(LOG.INFO, `Failed to insert module '${modulePath(system, spec)}': ${e.strerror}\n`);
    log.error(`could not insert module ${filename}: ${MOD_STRERROR[e.code] ?? e.strerror}\n`);
    return 1;
  }
}
