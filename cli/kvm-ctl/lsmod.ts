/** `kvm-ctl lsmod`: kmod's tools/lsmod.c over the simulated /proc/modules. */
import { findModule } from "../../lib/virt/modules/table.ts";
import { getoptLong, longTable } from "./getopt.ts";
import { type Context, err, KMOD_VERSION, KmodLog, out } from "./io.ts";

const LONG = longTable([["syslog", "s"], ["verbose", "v"], ["version", "V"], ["help", "h"]]);

const HELP = `Usage:
\tlsmod [options]
Options:
\t-s, --syslog      print to syslog, not stderr
\t-v, --verbose     enables more messages
\t-V, --version     show version
\t-h, --help        show this help
`;

export function lsmod(ctx: Context, argv: string[]): number {
  const parsed = getoptLong("lsmod", argv, "svVh", LONG);
  if (!parsed.ok) {
    err(parsed.message);
    return 1;
  }
  for (const { key } of parsed.options) {
    if (key === "h") return out(HELP), 0;
    if (key === "V") return out(KMOD_VERSION), 0;
  }
  if (parsed.operands.length) return new KmodLog("lsmod").error("too many arguments provided.\n"), 1;
  const k = ctx.system().snapshot();
  let text = "Module                  Size  Used by\n";
  for (const m of k.state.modules) {
    const holders = k.holders(m.name);
    const size = findModule(m.name)!.size.toString().padStart(8, " ");
    text += `${m.name.padEnd(19, " ")} ${size}  ${k.refcnt(m.name)}${
      holders.length ? " " + holders.join(",") : ""
    }\n`;
  }
  out(text);
  return 0;
}
