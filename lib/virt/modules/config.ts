/**
 * modprobe.d configuration (modprobe.d(5), libkmod-config.c): the search path under the state
 * root, file shadowing and ordering, line continuation, and the commands kmod 31 knows: alias,
 * blacklist, options, install, remove and softdep (weakdep came later). Module names fold `-` to `_`.
 */
import { basename, join } from "node:path";
import { normalizeModuleName } from "./table.ts";

/** kmod's default directories, in priority order, each taken relative to the state root. */
export const CONFIG_DIRS = [
  "etc/modprobe.d",
  "run/modprobe.d",
  "usr/local/lib/modprobe.d",
  "usr/lib/modprobe.d",
  "lib/modprobe.d",
];

export interface Softdep {
  module: string;
  pre: string[];
  post: string[];
}

export interface ModprobeConfig {
  blacklist: string[];
  install: [string, string][];
  remove: [string, string][];
  aliases: [string, string][];
  options: [string, string][];
  softdeps: Softdep[];
  /** What libkmod logs about the files (bad lines, retired commands), as its default logger prints it. */
  errors: string[];
}

function emptyConfig(): ModprobeConfig {
  return {
    blacklist: [],
    install: [],
    remove: [],
    aliases: [],
    options: [],
    softdeps: [],
    errors: [],
  };
}

const rest = (line: string, words: number): string => line.trim().split(/\s+/).slice(words).join(" ");

/**
 * libkmod's default logger (Debian/Ubuntu build it with debugging on) names its source file and
 * line: these are kmod 31's, where kmod_config_parse reports a line.
 */
const LIBKMOD_ERROR = "libkmod: ERROR ../libkmod/libkmod-config.c";

type Handler = (cfg: ModprobeConfig, words: string[], line: string) => boolean;

/** One entry per command: how many words it needs and where its parts go. */
const COMMANDS: Record<string, Handler> = {
  alias: (c, w) => w.length >= 3 && !!c.aliases.push([normalizeModuleName(w[1]), normalizeModuleName(w[2])]),
  blacklist: (c, w) => w.length >= 2 && !!c.blacklist.push(normalizeModuleName(w[1])),
  options: (c, w, l) => w.length >= 3 && !!c.options.push([normalizeModuleName(w[1]), rest(l, 2)]),
  install: (c, w, l) => w.length >= 3 && !!c.install.push([normalizeModuleName(w[1]), rest(l, 2)]),
  remove: (c, w, l) => w.length >= 3 && !!c.remove.push([normalizeModuleName(w[1]), rest(l, 2)]),
  softdep: (c, w) => {
    if (w.length < 3) return false;
    const dep: Softdep = { module: normalizeModuleName(w[1]), pre: [], post: [] };
    let into: string[] | undefined;
    for (const word of w.slice(2)) {
      if (word === "pre:") into = dep.pre;
      else if (word === "post:") into = dep.post;
      else if (into) into.push(normalizeModuleName(word));
      else return false;
    }
    c.softdeps.push(dep);
    return true;
  },
};

export function parseConfigText(cfg: ModprobeConfig, text: string, filename: string): void {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i];
    while (line.endsWith("\\") && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i];
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const words = trimmed.split(/\s+/);
    const handler = Object.hasOwn(COMMANDS, words[0]) ? COMMANDS[words[0]] : undefined;
    if (words[0] === "include" || words[0] === "config") {
      cfg.errors.push(
        `${LIBKMOD_ERROR}:708 kmod_config_parse: ${filename}: command ${
          words[0]
        } is deprecated and not parsed anymore`,
      );
    } else if (!handler || !handler(cfg, words, trimmed)) {
      cfg.errors.push(
        `${LIBKMOD_ERROR}:712 kmod_config_parse: ${filename} line ${start}: ignoring bad line starting with '${
          words[0]
        }'`,
      );
    }
  }
}

function confFiles(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => !e.isDirectory && e.name.endsWith(".conf")).map((e) =>
      e.name
    );
  } catch {
    return [];
  }
}

/**
 * Reads the configuration: the default directories under `root`, or the `-C` paths given (files
 * or directories, relative to the working directory). A name found earlier shadows later ones;
 * the survivors are read in lexicographic order of their names.
 */
export function readConfig(root: string, overrides?: string[]): ModprobeConfig {
  const cfg = emptyConfig();
  const chosen = new Map<string, string>();
  const sources = overrides ?? CONFIG_DIRS.map((d) => join(root, d));
  for (const src of sources) {
    let isDir = false;
    try {
      isDir = Deno.statSync(src).isDirectory;
    } catch {
      continue;
    }
    const names = isDir ? confFiles(src).map((n) => [n, join(src, n)]) : [[basename(src), src]];
    for (const [name, path] of names) if (!chosen.has(name)) chosen.set(name, path);
  }
  for (const name of [...chosen.keys()].sort()) {
    const path = chosen.get(name)!;
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch {
      continue;
    }
    parseConfigText(cfg, text, path);
  }
  return cfg;
}

/** fnmatch(3) without flags, enough for alias patterns: `*`, `?` and `[...]`. */
export function fnmatch(pattern: string, name: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        re += "[" + pattern.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\") + "]";
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(re + "$", "s").test(name);
}

/** All `options` lines for a module, joined as kmod does. */
export function moduleOptions(cfg: ModprobeConfig, module: string): string {
  return cfg.options.filter(([m]) => m === module).map(([, o]) => o).join(" ");
}

export function installCommand(cfg: ModprobeConfig, module: string): string | undefined {
  return cfg.install.find(([m]) => m === module)?.[1];
}

export function removeCommand(cfg: ModprobeConfig, module: string): string | undefined {
  return cfg.remove.find(([m]) => m === module)?.[1];
}

export function softdepsOf(cfg: ModprobeConfig, module: string): { pre: string[]; post: string[] } {
  const pre: string[] = [];
  const post: string[] = [];
  for (const s of cfg.softdeps) {
    if (s.module === module) {
      pre.push(...s.pre);
      post.push(...s.post);
    }
  }
  return { pre, post };
}
