/** `qemu-img resize [--shrink] [--preallocation=] FILE [+|-]SIZE`: img_resize(). */
import type { Preallocation } from "../../../lib/image/block_driver.ts";
import { LibError } from "../../../lib/errors.ts";
import { FORMAT, HELP, IMAGE_OPTS, OBJECT, parseCommand } from "../command.ts";
import { withImage } from "../images.ts";
import { CommandError, errorReport, UsageError, writeOut } from "../report.ts";
import { strtosz } from "../size.ts";

const PREALLOC = ["off", "metadata", "falloc", "full"];

export function resize(argv: string[]): number {
  // The size comes off the end first, so `-1G` is never taken for an option.
  if (argv.length < 3) throw new UsageError("Not enough arguments");
  let sizeText = argv[argv.length - 1];
  const opts = parseCommand(argv.slice(0, -1), ":f:hq", [
    HELP,
    OBJECT,
    IMAGE_OPTS,
    FORMAT,
    { name: "preallocation", arg: "required", key: "preallocation" },
    { name: "shrink", arg: "none", key: "shrink" },
  ]);
  let prealloc: Preallocation = "off";
  for (const p of opts.all("preallocation")) {
    if (!PREALLOC.includes(p)) throw new CommandError(`Invalid preallocation mode '${p}'`);
    prealloc = p as Preallocation;
  }
  if (opts.operands.length !== 1) throw new UsageError("Expecting image file name and size");
  let relative = 0;
  if (sizeText[0] === "+") relative = 1;
  else if (sizeText[0] === "-") relative = -1;
  if (relative) sizeText = sizeText.slice(1);
  const n = strtosz(sizeText);
  if (typeof n !== "bigint") {
    throw new CommandError(
      "Parameter 'size' expects a non-negative number below 2^64\n" +
        "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.",
    );
  }
  return withImage(opts.operands[0], { format: opts.get("f"), readOnly: false }, (bs) => {
    const current = bs.size;
    const total = relative ? current + relative * Number(n) : Number(n);
    if (total <= 0) throw new CommandError("New image size must be positive");
    if (total <= current && prealloc !== "off") {
      throw new CommandError("Preallocation can only be used for growing images");
    }
    if (total < current && !opts.has("shrink")) {
      errorReport("Use the --shrink option to perform a shrink operation.");
      errorReport(
        "warning: Shrinking an image will delete all data beyond the shrunken image's end. " +
          "Before performing such an operation, make sure there is no important data there.",
      );
      return 1;
    }
    if (!bs.resize) throw new CommandError("Image format driver does not support resize");
    try {
      bs.resize(total, { preallocation: prealloc, shrink: opts.has("shrink") });
      bs.flush();
    } catch (e) {
      if (e instanceof LibError) throw new CommandError(e.message);
      throw e;
    }
    if (!opts.has("q")) writeOut("Image resized.\n");
    return 0;
  });
}
