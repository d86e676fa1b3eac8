/** `kvm-ctl insmod`: kmod 31's tools/insmod.c. One file, no dependencies, no configuration. */
import { ErrnoError } from "../../lib/errors.ts";
import { getoptLong, longTable } from "./getopt.ts";
import { type Context, err, KMOD_VERSION, KmodLog, out } from "./io.ts";
import { moduleFromFile } from "./module_file.ts";

/** kmod 31's insmod: -p and -s are accepted and ignored, -f forces; only --version and --help are long. */
const SHORT = "psfVh";
const LONG = longTable([["version", "V"], ["help", "h"]]);

const HELP = `Usage:
\tinsmod [options] filename [args]
Options:
\t-V, --version     show version
\t-h, --help        show this help
`;

/** insmod's mod_strerror: kmod's own words for the errnos init_module returns. */
const MOD_STRERROR: Partial<Record<string, string>> = {
  ENOEXEC: "Invalid module format",
  ENOENT: "Unknown symbol in module",
  ESRCH: "Module has wrong symbol version",
  EINVAL: "Invalid parameters",
};

export function insmod(ctx: Context, argv: string[]): number {
  const parsed = getoptLong("insmod", argv, SHORT, LONG);
  if (!parsed.ok) {
    err(parsed.message);
    return 1;
  }
  const log = new KmodLog("insmod");
  for (const { key } of parsed.options) {
    if (key === "h") return out(HELP), 0;
    if (key === "V") return out(KMOD_VERSION), 0;
  }
  const [filename, ...params] = parsed.operands;
  if (filename === undefined) return log.error("missing filename.\n"), 1;
  if (filename === "-") return log.error("this tool does not support loading from stdin!\n"), 1;
  // kmod 31's insmod joins the arguments as they are (no quoting of values with spaces).
  const opts = params.join(" ");
  const system = ctx.system();
  const spec = moduleFromFile(system, filename);
  if (!spec) return log.error(`could not load module ${filename}: No such file or directory\n`), 1;
  try {
    system.modify((k) => k.initModule(spec, opts));
    return 0;
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    log.error(`could not insert module ${filename}: ${MOD_STRERROR[e.code] ?? e.strerror}\n`);
    return 1;
  }
}
