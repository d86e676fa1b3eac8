/** `kvm-ctl modinfo`: kmod's tools/modinfo.c over the module table's metadata. */
import { type ModuleSpec } from "../../lib/virt/modules/table.ts";
import { lookup, modulePath } from "../../lib/virt/modules/probe.ts";
import { readConfig } from "../../lib/virt/modules/config.ts";
import { findModule } from "../../lib/virt/modules/table.ts";
import type { ModuleSystem } from "../../lib/virt/modules/system.ts";
import { getoptLong, longTable } from "./getopt.ts";
import { type Context, err, KMOD_VERSION, KmodLog, out } from "./io.ts";
import { isModuleFilename, moduleFromFile } from "./module_file.ts";

const LONG = longTable([
  ["author", "a"],
  ["description", "d"],
  ["license", "l"],
  ["parameters", "p"],
  ["filename", "n"],
  ["null", "0"],
  ["modname", "m"],
  ["field", "F", true],
  ["set-version", "k", true],
  ["basedir", "b", true],
  ["version", "V"],
  ["help", "h"],
]);

const HELP = `Usage:
\tmodinfo [options] <modulename|filename> [args]
Options:
\t-a, --author                Print only 'author'
\t-d, --description           Print only 'description'
\t-l, --license               Print only 'license'
\t-p, --parameters            Print only 'parm'
\t-n, --filename              Print only 'filename'
\t-0, --null                  Use \\0 instead of \\n
\t-m, --modname               Handle argument as module name instead of alias or filename
\t-F, --field=FIELD           Print only provided FIELD
\t-k, --set-version=VERSION   Use VERSION instead of \`uname -r\`
\t-b, --basedir=DIR           Use DIR as filesystem root for /lib/modules
\t-V, --version               Show version
\t-h, --help                  Show this help
`;

const FIELD_OPTIONS: Record<string, string> = {
  a: "author",
  d: "description",
  l: "license",
  p: "parm",
  n: "filename",
};

/** The .modinfo section as key/value pairs, in the order modinfo prints them. */
function infoList(system: ModuleSystem, spec: ModuleSpec): [string, string][] {
  const info: [string, string][] = [
    ["license", spec.license],
    ...(spec.author ? [["author", spec.author] as [string, string]] : []),
    ["description", spec.description],
    ["srcversion", spec.srcversion],
    ...spec.aliases.map((a): [string, string] => ["alias", a]),
    ["depends", spec.depends.join(",")],
    ["retpoline", "Y"],
    ["intree", "Y"],
    ["name", spec.name],
    ["vermagic", `${system.host.release} SMP preempt mod_unload modversions `],
  ];
  for (const p of spec.params) {
    if (p.hidden) continue;
    if (p.desc) info.push(["parm", `${p.name}:${p.desc}`]);
    info.push(["parmtype", `${p.name}:${p.type}`]);
  }
  return info;
}

/** Parameter lines (`name:desc (type)`, `name:type` or `name:desc`), one per parameter. */
function params(spec: ModuleSpec): { name: string; desc?: string; type: string }[] {
  return spec.params.filter((p) => !p.hidden).map((p) => ({ name: p.name, desc: p.desc, type: p.type }));
}

function modinfoDo(system: ModuleSystem, spec: ModuleSpec, field: string | undefined, sep: string): void {
  const filename = modulePath(system, spec);
  if (field === "filename") return out(filename + sep);
  let text = field === undefined ? `${"filename:".padEnd(16)}${filename}${sep}` : "";
  if (field === "parm") {
    for (const p of params(spec)) {
      text += p.desc === undefined ? `${p.name}: (${p.type})${sep}` : `${p.name}:${p.desc} (${p.type})${sep}`;
    }
    return out(text);
  }
  for (const [key, value] of infoList(system, spec)) {
    if (field !== undefined) {
      if (key === field) text += value + sep;
    } else if (key === "parm" || key === "parmtype") continue;
    else if (sep === "\0") text += `${key}=${value}${sep}`;
    else text += `${key}:${"".padEnd(15 - Math.min(15, key.length))}${value}${sep}`;
  }
  if (field === undefined) {
    for (const p of params(spec)) {
      text += `${"parm:".padEnd(16)}${p.name}:${
        p.desc === undefined ? p.type : `${p.desc} (${p.type})`
      }${sep}`;
    }
  }
  out(text);
}

export function modinfo(ctx: Context, argv: string[]): number {
  const parsed = getoptLong("modinfo", argv, "adlpn0mF:k:b:Vh", LONG);
  if (!parsed.ok) {
    err(parsed.message);
    return 1;
  }
  const log = new KmodLog("modinfo");
  let field: string | undefined, sep = "\n", byName = false;
  let root: string | undefined, kversion: string | undefined;
  for (const { key, arg } of parsed.options) {
    if (FIELD_OPTIONS[key]) field = FIELD_OPTIONS[key];
    else if (key === "F") field = arg;
    else if (key === "0") sep = "\0";
    else if (key === "m") byName = true;
    else if (key === "k") kversion = arg;
    else if (key === "b") root = arg;
    else if (key === "h") return out(HELP), 0;
    else if (key === "V") return out(KMOD_VERSION), 0;
  }
  if (parsed.operands.length === 0) return log.error("missing module or filename.\n"), 1;
  const system = ctx.system();
  let usable = true;
  if (root !== undefined || kversion !== undefined) {
    usable = `${root ?? ""}/lib/modules/${kversion ?? system.host.release}`.replace(/\/+/g, "/") ===
      `/lib/modules/${system.host.release}`;
  }
  // modinfo reads no configuration (kmod_new with a null config), so only the index aliases apply.
  const noConfig = readConfig(system.root, []);
  let status = 0;
  for (const name of parsed.operands) {
    if (byName) {
      const spec = usable ? findModule(name) : undefined;
      if (!spec) {
        log.error(`Module name ${name} not found.\n`);
        status = 1;
      } else modinfoDo(system, spec, field, sep);
    } else if (usable && isModuleFilename(name) && name.includes("/") && moduleFromFile(system, name)) {
      modinfoDo(system, moduleFromFile(system, name)!, field, sep);
    } else {
      const list = usable ? lookup(noConfig, name) : [];
      if (list.length === 0) {
        log.error(`Module ${name} not found.\n`);
        status = 1;
      }
      for (const { spec } of list) modinfoDo(system, spec, field, sep);
    }
  }
  return status;
}
