/**
 * glibc getopt_long as kmod's tools use it: a short-option string ("arw:..."), a long-option
 * table, argument permutation (options may follow operands, `--` ends them), unambiguous
 * prefixes of long options, and glibc's diagnostics on stderr.
 */

export interface LongOption {
  name: string;
  hasArg: boolean;
  /** What the option reports as, e.g. "r" for --remove or "first-time" for long-only ones. */
  key: string;
}

export interface ParsedOption {
  key: string;
  arg?: string;
}

export type GetoptResult =
  | { ok: true; options: ParsedOption[]; operands: string[] }
  | { ok: false; message: string };

/** Parses `argv` (without the program name); `prog` prefixes the glibc messages. */
export function getoptLong(
  prog: string,
  argv: string[],
  shortopts: string,
  longopts: LongOption[],
): GetoptResult {
  const options: ParsedOption[] = [];
  const operands: string[] = [];
  const fail = (message: string): GetoptResult => ({ ok: false, message: `${prog}: ${message}\n` });
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const exact = longopts.find((o) => o.name === name);
      const matches = exact ? [exact] : longopts.filter((o) => o.name.startsWith(name));
      const distinct = matches.filter((o, j) =>
        matches.findIndex((p) => p.key === o.key && p.hasArg === o.hasArg) === j
      );
      if (matches.length === 0) return fail(`unrecognized option '--${name}'`);
      if (distinct.length > 1) {
        return fail(
          `option '--${name}' is ambiguous; possibilities:${matches.map((o) => ` '--${o.name}'`).join("")}`,
        );
      }
      const opt = matches[0];
      if (!opt.hasArg) {
        if (eq >= 0) return fail(`option '--${opt.name}' doesn't allow an argument`);
        options.push({ key: opt.key });
      } else if (eq >= 0) options.push({ key: opt.key, arg: arg.slice(eq + 1) });
      else if (i + 1 < argv.length) options.push({ key: opt.key, arg: argv[++i] });
      else return fail(`option '--${opt.name}' requires an argument`);
      continue;
    }
    if (arg.startsWith("-") && arg !== "-") {
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j];
        const at = c === ":" ? -1 : shortopts.indexOf(c);
        if (at < 0) return fail(`invalid option -- '${c}'`);
        if (shortopts[at + 1] !== ":") {
          options.push({ key: c });
          continue;
        }
        if (j + 1 < arg.length) options.push({ key: c, arg: arg.slice(j + 1) });
        else if (i + 1 < argv.length) options.push({ key: c, arg: argv[++i] });
        else return fail(`option requires an argument -- '${c}'`);
        break;
      }
      continue;
    }
    operands.push(arg);
  }
  return { ok: true, options, operands };
}

/** Long options from a compact table: `["remove", "r"]`, `["wait", "w", true]`. */
export function longTable(rows: [name: string, key: string, hasArg?: boolean][]): LongOption[] {
  return rows.map(([name, key, hasArg]) => ({ name, key, hasArg: !!hasArg }));
}
