/**
 * How insmod, rmmod and modinfo name a module file: the simulated path under
 * /lib/modules/<release>/, or its file name (kvm-intel.ko, kvm-intel.ko.zst), or — kvm-ctl's
 * convenience, since no .ko exists on disk — the bare module name.
 */
import { findModule, MODULES, type ModuleSpec } from "../../lib/virt/modules/table.ts";
import { modulePath } from "../../lib/virt/modules/probe.ts";
import type { ModuleSystem } from "../../lib/virt/modules/system.ts";

const KMOD_EXT = /\.ko(\.(gz|xz|zst))?$/;

export function isModuleFilename(name: string): boolean {
  return KMOD_EXT.test(name);
}

/** path_to_modname: the file's base name without extension, `-` folded to `_`. */
export function pathToModname(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1).replace(KMOD_EXT, "").replaceAll("-", "_");
}

export function moduleFromFile(system: ModuleSystem, arg: string): ModuleSpec | undefined {
  if (arg.includes("/")) {
    const spec = MODULES.find((m) => modulePath(system, m) === arg);
    if (spec) return spec;
    // A relative path into the module tree ("kernel/arch/x86/kvm/kvm.ko.zst") names the same file.
    return MODULES.find((m) =>
      m.file === arg || modulePath(system, m).endsWith("/" + arg.replace(/^\.\//, ""))
    );
  }
  if (isModuleFilename(arg)) {
    const spec = findModule(pathToModname(arg));
    return spec && spec.file.slice(spec.file.lastIndexOf("/") + 1).startsWith(arg) ? spec : undefined;
  }
  return findModule(arg);
}
