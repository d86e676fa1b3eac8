/**
 * kvm-ctl: kmod's module tools (modprobe, insmod, rmmod, lsmod, modinfo) and KVM inspection
 * (dmesg, param, status, caps, stat) on the simulated kernel whose state lives in one directory
 * (--root DIR, else KVM_CTL_ROOT, else $XDG_STATE_HOME/qemu-kvm-ts/kvm).
 */
import { LibError } from "../lib/errors.ts";
import { resolveRoot } from "../lib/virt/modules/state.ts";
import { ModuleSystem } from "../lib/virt/modules/system.ts";
import { type Context, err, Exit, out } from "./kvm-ctl/io.ts";
import { modprobe } from "./kvm-ctl/modprobe.ts";
import { insmod } from "./kvm-ctl/insmod.ts";
import { rmmod } from "./kvm-ctl/rmmod.ts";
import { lsmod } from "./kvm-ctl/lsmod.ts";
import { modinfo } from "./kvm-ctl/modinfo.ts";
import { dmesg } from "./kvm-ctl/dmesg.ts";
import { param } from "./kvm-ctl/param.ts";
import { status } from "./kvm-ctl/status.ts";
import { caps } from "./kvm-ctl/caps.ts";
import { stat } from "./kvm-ctl/stat.ts";

type Command = (ctx: Context, argv: string[]) => number;

const reset: Command = (ctx, argv) => {
  if (argv.length) return err("usage: kvm-ctl reset\n"), 1;
  ctx.system().reset();
  return 0;
};

const COMMANDS: Record<string, [Command, string]> = {
  modprobe: [modprobe, "add or remove modules, with dependencies and modprobe.d configuration"],
  insmod: [insmod, "insert one module"],
  rmmod: [rmmod, "remove modules"],
  lsmod: [lsmod, "list loaded modules"],
  modinfo: [modinfo, "show module information"],
  dmesg: [dmesg, "print or clear the kernel log"],
  param: [param, "list, read or write module parameters (sysfs)"],
  status: [status, "is /dev/kvm usable (like kvm-ok)"],
  caps: [caps, "KVM capabilities of the loaded modules"],
  stat: [stat, "KVM statistics (like kvm_stat)"],
  reset: [reset, "forget all kernel state (configuration stays)"],
};

const USAGE = "Usage: kvm-ctl [--root DIR] COMMAND [ARGS...]\n\nCommands:\n" +
  Object.entries(COMMANDS).map(([n, [, d]]) => `  ${n.padEnd(10)}${d}\n`).join("") +
  "\nState: --root DIR, else $KVM_CTL_ROOT, else $XDG_STATE_HOME/qemu-kvm-ts/kvm.\n";

export function main(args: string[]): number {
  let rootFlag: string | undefined;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === "--root" && i + 1 < args.length) rootFlag = args[++i];
    else if (a.startsWith("--root=")) rootFlag = a.slice(7);
    else if (a === "-h" || a === "--help") return out(USAGE), 0;
    else if (a.startsWith("-")) return err(`kvm-ctl: unknown option '${a}'\n${USAGE}`), 1;
    else break;
  }
  const name = args[i];
  const entry = name === undefined ? undefined : COMMANDS[name];
  if (!entry) {
    err(name === undefined ? USAGE : `kvm-ctl: unknown command '${name}'\n${USAGE}`);
    return 1;
  }
  let system: ModuleSystem | undefined;
  const ctx: Context = {
    rootFlag,
    system: () => (system ??= new ModuleSystem(resolveRoot(rootFlag, (n) => Deno.env.get(n)))),
  };
  try {
    return entry[0](ctx, args.slice(i + 1));
  } catch (e) {
    if (e instanceof Exit) return e.code;
    if (e instanceof LibError) {
      err(`kvm-ctl: ${e.message}\n`);
      return 1;
    }
    // The state root itself is unusable (not a directory, no permission): say so, without a trace.
    if (
      e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotADirectory ||
      e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotFound ||
      e instanceof Deno.errors.IsADirectory
    ) {
      err(`kvm-ctl: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(main(Deno.args));
