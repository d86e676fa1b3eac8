/**
 * `kvm-ctl param MODULE [NAME [VALUE]]`: lists, reads or writes
 * /sys/module/MODULE/parameters/NAME with sysfs's rules (0444 refuses with EACCES, a value the
 * parameter's type rejects fails with EINVAL, an unloaded module has no such file).
 */
import { ErrnoError } from "../../lib/errors.ts";
import { findModule, normalizeModuleName } from "../../lib/virt/modules/table.ts";
import { type Context, err, out } from "./io.ts";

const USAGE = "usage: kvm-ctl param MODULE [NAME [VALUE]]\n";

export function param(ctx: Context, argv: string[]): number {
  if (argv[0] === "-h" || argv[0] === "--help") return out(USAGE), 0;
  if (argv.length < 1 || argv.length > 3) return err(USAGE), 1;
  const [rawModule, name, value] = argv;
  const module = normalizeModuleName(rawModule);
  const sysfs = `/sys/module/${module}/parameters${name === undefined ? "" : "/" + name}`;
  const fail = (e: ErrnoError) => (err(`kvm-ctl: param: ${sysfs}: ${e.strerror}\n`), 1);
  const system = ctx.system();
  const spec = findModule(module);
  const loaded = system.snapshot().loaded(module);
  if (!spec || !loaded || (name !== undefined && !(name in loaded.params))) {
    return fail(new ErrnoError("ENOENT"));
  }
  if (name === undefined) {
    out(spec.params.map((p) => `${p.name}=${loaded.params[p.name]}\n`).join(""));
    return 0;
  }
  if (value === undefined) {
    out(`${loaded.params[name]}\n`);
    return 0;
  }
  try {
    system.modify((k) => k.writeParam(module, name, value));
    return 0;
  } catch (e) {
    if (e instanceof ErrnoError) return fail(e);
    throw e;
  }
}
