/**
 * getopt_long as glibc runs it for qemu-img: short options clustered (`-qU`), attached or separate
 * arguments (`-oVALUE`, `-o VALUE`), long options with `=` or a separate argument, unambiguous
 * prefixes of long options (`--outp=json`), permutation of operands, and `--`. qemu-img passes an
 * optstring starting with ':' so glibc stays silent and qemu-img words the errors itself; the
 * errors quote `argv[optind - 1]` exactly as glibc leaves it, which is why a bad letter in the
 * middle of a cluster names the previous word.
 */
import { UsageError } from "./report.ts";

export interface LongOption {
  name: string;
  /** "none", "required" or "optional" argument, as in `struct option`. */
  arg: "none" | "required" | "optional";
  /** The key the option is reported under (a short letter or the long name). */
  key: string;
}

export interface ParsedOption {
  key: string;
  value?: string;
}

/** Parses `argv` (which starts with the command name, as qemu-img's sub-main sees it). */
export function getoptLong(
  argv: string[],
  shortopts: string,
  longopts: LongOption[],
  options: { permute?: boolean } = {},
): { options: ParsedOption[]; operands: string[] } {
  const permute = options.permute ?? !shortopts.startsWith("+");
  const spec = shortopts.replace(/^[+:]+/, "");
  const out: ParsedOption[] = [];
  const operands: string[] = [];
  // Words consumed as options, in order: glibc's argv[optind - 1] is the last of these.
  let lastOptionWord = argv[0];
  let i = 1;
  while (i < argv.length) {
    const word = argv[i];
    if (word === "--") {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      if (!permute) {
        operands.push(...argv.slice(i));
        break;
      }
      operands.push(word);
      i++;
      continue;
    }
    if (word.startsWith("--")) {
      const eq = word.indexOf("=");
      const name = word.slice(2, eq < 0 ? undefined : eq);
      const exact = longopts.find((o) => o.name === name);
      const matches = exact ? [exact] : longopts.filter((o) => o.name.startsWith(name));
      const unique = matches.length === 1 || (matches.length > 1 && matches.every((m) =>
          m.key === matches[0].key
        ))
        ? matches[0]
        : undefined;
      i++;
      if (!unique || (unique.arg === "none" && eq >= 0)) {
        throw new UsageError(`unrecognized option '${word}'`);
      }
      if (eq >= 0) {
        out.push({ key: unique.key, value: word.slice(eq + 1) });
      } else if (unique.arg === "required") {
        if (i >= argv.length) throw new UsageError(`missing argument for option '${word}'`);
        out.push({ key: unique.key, value: argv[i++] });
      } else {
        out.push({ key: unique.key });
      }
      lastOptionWord = argv[i - 1];
      continue;
    }
    // A cluster of short options.
    for (let c = 1; c < word.length; c++) {
      const letter = word[c];
      const at = letter === ":" ? -1 : spec.indexOf(letter);
      const last = c === word.length - 1;
      if (at < 0) {
        throw new UsageError(`unrecognized option '${last ? word : lastOptionWord}'`);
      }
      if (spec[at + 1] === ":") {
        const optional = spec[at + 2] === ":";
        if (!last) {
          out.push({ key: letter, value: word.slice(c + 1) });
        } else if (optional) {
          out.push({ key: letter });
        } else if (i + 1 < argv.length) {
          i++;
          out.push({ key: letter, value: argv[i] });
        } else {
          throw new UsageError(`missing argument for option '${word}'`);
        }
        break;
      }
      out.push({ key: letter });
    }
    lastOptionWord = argv[i];
    i++;
  }
  return { options: out, operands };
}
