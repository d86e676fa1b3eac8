/**
 * `-o name=value,...` as QemuOpts parses it against a format's option table (lib/image's
 * create_options.ts): `,,` escapes a comma, `help`/`?` asks for the list, a bare name means
 * `name=on`, sizes take qemu_strtosz() suffixes, and the messages are QemuOpts' own. The result
 * is both the Formatting line's normalised strings and the driver's CreateOptions.
 */
import {
  FILE_PROTOCOL_OPTIONS,
  OPTION_TABLES,
  optionHelp,
  type OptionSpec,
} from "../../lib/image/create_options.ts";
import type { CreateOptions, Preallocation } from "../../lib/image/block_driver.ts";
import { CommandError } from "./report.ts";
import { strtosz } from "./size.ts";

/** Splits a QemuOpts string on unescaped commas into `name[=value]` words. */
export function splitOpts(text: string): string[] {
  const words: string[] = [];
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ",") {
      if (text[i + 1] === ",") {
        cur += ",";
        i++;
        continue;
      }
      words.push(cur);
      cur = "";
      continue;
    }
    cur += text[i];
  }
  words.push(cur);
  return words;
}

/** has_help_option(): whether `-o` asks for the option list. */
export function wantsHelp(text: string): boolean {
  return splitOpts(text).some((w) => w === "help" || w === "?");
}

/** The `-o help` text for a format, with the protocol options when a filename was given. */
export function createHelp(format: string, withFilename: boolean): string {
  const text = optionHelp(format, withFilename);
  return withFilename ? text : `${text}\nThe protocol level may support further options.\n` +
    "Specify the target filename to include those options.\n";
}

export function optionTable(format: string): OptionSpec[] {
  const own = OPTION_TABLES[format]?.options ?? [];
  const names = new Set(own.map((o) => o.name));
  return [...own, ...FILE_PROTOCOL_OPTIONS.filter((o) => !names.has(o.name))];
}

const SIZE_HINT = "\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n" +
  "and exabytes, respectively.";

const BOOL_ON = ["on", "yes", "true", "y"];
const BOOL_OFF = ["off", "no", "false", "n"];

/** Parsed -o options: `given` maps name to the Formatting line's text, in the order given. */
export interface ParsedCreateOpts {
  given: Record<string, string>;
  raw: Record<string, string>;
}

/** qemu_opts_do_parse() for a format; later occurrences override earlier ones. */
export function parseCreateOpts(format: string, text: string | undefined): ParsedCreateOpts {
  const table = optionTable(format);
  const given: Record<string, string> = {};
  const raw: Record<string, string> = {};
  if (text === undefined || text === "") return { given, raw };
  for (const word of splitOpts(text)) {
    if (word === "") continue;
    const eq = word.indexOf("=");
    const name = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? "on" : word.slice(eq + 1);
    const spec = table.find((o) => o.name === name);
    if (!spec) throw new CommandError(`Invalid parameter '${name}'`);
    raw[name] = value;
    given[name] = normalise(spec, value);
  }
  return { given, raw };
}

function normalise(spec: OptionSpec, value: string): string {
  switch (spec.type) {
    case "size": {
      const r = strtosz(value);
      if (typeof r !== "bigint") {
        throw new CommandError(
          `Parameter '${spec.name}' expects a non-negative number below 2^64${SIZE_HINT}`,
        );
      }
      return String(r);
    }
    case "num": {
      const m = /^\s*(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(value);
      if (!m) throw new CommandError(`Parameter '${spec.name}' expects a number`);
      return String(
        BigInt(m[1].startsWith("0") && !/^0[xX]/.test(m[1]) ? "0o" + (m[1].slice(1) || "0") : m[1]),
      );
    }
    case "bool (on/off)":
      if (!BOOL_ON.includes(value) && !BOOL_OFF.includes(value)) {
        throw new CommandError(`Parameter '${spec.name}' expects 'on' or 'off'`);
      }
      return value;
    default:
      return value;
  }
}

function bool(value: string | undefined): boolean | undefined {
  return value === undefined ? undefined : BOOL_ON.includes(value);
}

const PREALLOC: Preallocation[] = ["off", "metadata", "falloc", "full"];

/**
 * The driver's CreateOptions from the parsed -o options, with the checks QEMU makes before the
 * driver sees them (the enum-valued options). `size` is the image size already settled.
 */
export function toCreateOptions(format: string, opts: ParsedCreateOpts, size: number): CreateOptions {
  const g = opts.given;
  const out: CreateOptions = { size };
  if (g.backing_file !== undefined) out.backingFile = g.backing_file;
  if (g.backing_fmt !== undefined) out.backingFormat = g.backing_fmt;
  if (g.cluster_size !== undefined) out.clusterSize = Number(g.cluster_size);
  if (g.compat !== undefined) {
    const compat = ({ "0.10": "0.10", v2: "0.10", "1.1": "1.1", v3: "1.1" } as const)[g.compat];
    if (!compat) throw new CommandError(`Parameter 'version' does not accept value '${g.compat}'`);
    out.compat = compat;
  }
  if (g.compression_type !== undefined) {
    if (g.compression_type !== "zlib" && g.compression_type !== "zstd") {
      throw new CommandError(`Parameter 'compression-type' does not accept value '${g.compression_type}'`);
    }
    out.compressionType = g.compression_type;
  }
  if (g.data_file !== undefined) out.dataFile = g.data_file;
  if (g.data_file_raw !== undefined) out.dataFileRaw = bool(g.data_file_raw);
  if (g.extended_l2 !== undefined) out.extendedL2 = bool(g.extended_l2);
  if (g.lazy_refcounts !== undefined) out.lazyRefcounts = bool(g.lazy_refcounts);
  if (g.refcount_bits !== undefined) out.refcountBits = Number(g.refcount_bits);
  if (g.preallocation !== undefined) {
    if (!(PREALLOC as readonly string[]).includes(g.preallocation)) {
      // The file protocol parses the mode itself (the raw driver then refuses `metadata`).
      throw new CommandError(
        format === "raw"
          ? `invalid parameter value: ${g.preallocation}`
          : `Parameter 'preallocation' does not accept value '${g.preallocation}'`,
      );
    }
    out.preallocation = g.preallocation as Preallocation;
  }
  for (const name of Object.keys(g)) {
    if (name.startsWith("encrypt")) throw new CommandError("Encryption is not supported by qemu-kvm-ts");
  }
  return out;
}
