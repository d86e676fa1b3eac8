/**
 * What every subcommand shares: its option table (the getopt string and long options as the
 * real qemu-img declares them), the parsed options, and the `--output` and `-h` handling.
 */
import { getoptLong, type LongOption, type ParsedOption } from "./getopt.ts";
import { CommandError, UsageError } from "./report.ts";

export type Command = (argv: string[]) => number | Promise<number>;

/** Thrown by `-h`: the entry point prints the help text and exits 0. */
export class HelpRequested extends Error {}

export const HELP: LongOption = { name: "help", arg: "none", key: "h" };
export const FORCE_SHARE: LongOption = { name: "force-share", arg: "none", key: "U" };
export const OBJECT: LongOption = { name: "object", arg: "required", key: "object" };
export const IMAGE_OPTS: LongOption = { name: "image-opts", arg: "none", key: "image-opts" };
export const OUTPUT: LongOption = { name: "output", arg: "required", key: "output" };
export const FORMAT: LongOption = { name: "format", arg: "required", key: "f" };

export class Options {
  constructor(readonly list: ParsedOption[], readonly operands: string[]) {}
  has(key: string): boolean {
    return this.list.some((o) => o.key === key);
  }
  /** The last value given for key, as the real tool's `case` overwrites. */
  get(key: string): string | undefined {
    let v: string | undefined;
    for (const o of this.list) if (o.key === key) v = o.value;
    return v;
  }
  all(key: string): string[] {
    return this.list.filter((o) => o.key === key).map((o) => o.value ?? "");
  }
}

/** getopt_long plus the options every command treats alike (-h, --object, --image-opts). */
export function parseCommand(argv: string[], shortopts: string, longopts: LongOption[]): Options {
  const { options, operands } = getoptLong(argv, shortopts, longopts);
  // The real tool acts on each option as getopt returns it, so -h wins only if it comes first
  // among options that fail; a later bad option has already thrown above.
  if (options.some((o) => o.key === "h")) throw new HelpRequested();
  if (options.some((o) => o.key === "image-opts")) {
    throw new CommandError("--image-opts is not supported by qemu-kvm-ts");
  }
  if (options.some((o) => o.key === "object")) {
    throw new CommandError("--object is not supported by qemu-kvm-ts");
  }
  return new Options(options, operands);
}

export type OutputFormat = "human" | "json";

/** `--output=human|json`. */
export function outputFormat(opts: Options): OutputFormat {
  const v = opts.get("output");
  if (v === undefined || v === "human") return "human";
  if (v === "json") return "json";
  throw new CommandError("--output must be used with human or json as argument.");
}

/** Exactly one operand, or the real tool's usage error. */
export function oneFilename(opts: Options): string {
  if (opts.operands.length !== 1) throw new UsageError("Expecting one image file name");
  return opts.operands[0];
}
