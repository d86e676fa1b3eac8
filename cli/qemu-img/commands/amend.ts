/** `qemu-img amend -o options`: img_amend() over the driver's amend(). */
import { LibError } from "../../../lib/errors.ts";
import { HELP, IMAGE_OPTS, OBJECT, parseCommand } from "../command.ts";
import { openImage } from "../images.ts";
import { OPTION_TABLES, type OptionSpec } from "../../../lib/image/create_options.ts";
import { parseCreateOpts, toCreateOptions, wantsHelp } from "../qemu_opts.ts";
import { CommandError, UsageError, writeOut } from "../report.ts";
import { checkCacheMode } from "./convert.ts";

/** The qcow2 options amend may change; the rest are creation-only. */
const AMENDABLE = new Set([
  "compat",
  "lazy_refcounts",
  "refcount_bits",
  "size",
  "backing_file",
  "backing_fmt",
  "data_file",
  "data_file_raw",
  "encrypt.iter-time",
]);

/** LUKS keyslot options that exist only for amend (listed, not implemented: we do not encrypt). */
const AMEND_ONLY: OptionSpec[] = [
  { name: "encrypt.keyslot", type: "num", help: "Select a single keyslot to modify explicitly" },
  {
    name: "encrypt.new-secret",
    type: "str",
    help: "New secret to set in the matching keyslots. Empty string to erase",
  },
  { name: "encrypt.old-secret", type: "str", help: "Select all keyslots that match this password" },
  { name: "encrypt.state", type: "str", help: "Select new state of affected keyslots (active/inactive)" },
];

/** print_amend_option_help(). */
function amendHelp(format: string): string {
  if (format !== "qcow2") {
    throw new CommandError(`Format driver '${format}' does not support option amendment`);
  }
  const options = [
    ...(OPTION_TABLES[format]?.options ?? []).filter((o) => AMENDABLE.has(o.name)),
    ...AMEND_ONLY,
  ]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return `Amend options for '${format}':\n` +
    options.map((o) => `  ${`${o.name}=<${o.type}>`.padEnd(22)} - ${o.help}\n`).join("");
}

export function amend(argv: string[]): number {
  const opts = parseCommand(argv, ":ho:f:t:pq", [HELP, OBJECT, IMAGE_OPTS, {
    name: "force",
    arg: "none",
    key: "force",
  }]);
  checkCacheMode(opts.get("t"));
  const options = opts.all("o").join(",");
  if (!options) throw new UsageError("Must specify options (-o)");
  const fmt = opts.get("f");
  const filename = opts.operands.length === 1 ? opts.operands[0] : undefined;
  if (wantsHelp(options) && fmt !== undefined) {
    writeOut(amendHelp(fmt));
    return 0;
  }
  if (filename === undefined) throw new CommandError("Expecting one image file name");
  const bs = openImage(filename, { format: fmt, readOnly: false });
  try {
    if (wantsHelp(options)) {
      writeOut(amendHelp(bs.format));
      return 0;
    }
    if (!bs.amend) throw new CommandError(`Format driver '${bs.format}' does not support option amendment`);
    const parsed = parseCreateOpts(bs.format, options);
    for (const name of Object.keys(parsed.given)) {
      if (!AMENDABLE.has(name)) {
        throw new CommandError(
          `Invalid parameter '${name}'\nThis option is only supported for image creation`,
        );
      }
    }
    const size = parsed.given.size !== undefined ? Number(parsed.given.size) : bs.size;
    const changes: Record<string, unknown> = { ...toCreateOptions(bs.format, parsed, size) };
    if (parsed.given.size === undefined) delete changes.size;
    bs.amend(changes);
    bs.flush();
    return 0;
  } catch (e) {
    if (e instanceof LibError) throw new CommandError(e.message);
    throw e;
  } finally {
    bs.close();
  }
}
