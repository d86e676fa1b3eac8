/** `kvm-ctl dmesg`: the simulated kernel log, with util-linux dmesg's -c, -C and -t. */
import { getoptLong, longTable } from "./getopt.ts";
import { type Context, err, out } from "./io.ts";

const LONG = longTable([["read-clear", "c"], ["clear", "C"], ["notime", "t"], ["help", "h"]]);

const HELP = `
Usage:
 dmesg [options]

Display or control the kernel ring buffer.

Options:
 -C, --clear                 clear the kernel ring buffer
 -c, --read-clear            read and clear all messages
 -t, --notime                don't show any timestamp with messages
 -h, --help                  display this help
`;

export function dmesg(ctx: Context, argv: string[]): number {
  const parsed = getoptLong("dmesg", argv, "cCth", LONG);
  if (!parsed.ok) {
    err(parsed.message + "Try 'dmesg --help' for more information.\n");
    return 1;
  }
  const keys = new Set(parsed.options.map((o) => o.key));
  if (keys.has("h")) return out(HELP), 0;
  if (parsed.operands.length) {
    err(`dmesg: bad usage\nTry 'dmesg --help' for more information.\n`);
    return 1;
  }
  const store = ctx.system().store;
  if (keys.has("C")) {
    store.withLock(() => store.clearLog());
    return 0;
  }
  const lines = keys.has("c")
    ? store.withLock(() => {
      const l = store.readLog();
      store.clearLog();
      return l;
    })
    : store.readLog();
  out(lines.map((l) => (keys.has("t") ? l.replace(/^\[[^\]]*\] /, "") : l) + "\n").join(""));
  return 0;
}
