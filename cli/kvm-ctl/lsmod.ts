/** `kvm-ctl lsmod`: kmod 31's tools/lsmod.c over the simulated /proc/modules. It takes no arguments. */
import { findModule } from "../../lib/virt/modules/table.ts";
import { type Context, err, out } from "./io.ts";

export function lsmod(ctx: Context, argv: string[]): number {
  if (argv.length) return err("Usage: lsmod\n"), 1;
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
