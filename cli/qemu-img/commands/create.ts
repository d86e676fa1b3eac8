/** `qemu-img create`: img_create() and bdrv_img_create(), in their order of checks. */
import { formattingLine } from "../../../lib/image/create_options.ts";
import { HELP, OBJECT, parseCommand } from "../command.ts";
import { createImage, formatNames, openImage } from "../images.ts";
import { createHelp, parseCreateOpts, toCreateOptions, wantsHelp } from "../qemu_opts.ts";
import { CommandError, UsageError, writeOut } from "../report.ts";
import { cvtnum } from "../size.ts";

/** The backing file's path as the image will resolve it: relative to the image's directory. */
export function backingPath(imageFilename: string, backing: string): string {
  // path_combine(): no normalisation, so `sub/../base.qcow2` stays as written.
  if (backing.startsWith("/")) return backing;
  const slash = imageFilename.lastIndexOf("/");
  return slash < 0 ? backing : imageFilename.slice(0, slash + 1) + backing;
}

export function create(argv: string[]): number {
  const opts = parseCommand(argv, ":F:b:f:ho:qu", [HELP, OBJECT]);
  const fmt = opts.get("f") ?? "raw";
  const options = opts.all("o").join(",");
  const quiet = opts.has("q");
  const filename = opts.operands[0];
  if (options && wantsHelp(options)) {
    if (!formatNames().includes(fmt)) throw new CommandError(`Unknown file format '${fmt}'`);
    writeOut(createHelp(fmt, filename !== undefined));
    return 0;
  }
  if (filename === undefined) throw new UsageError("Expecting image file name");
  let imgSize: number | undefined;
  if (opts.operands.length > 1) imgSize = cvtnum("image size", opts.operands[1]);
  if (opts.operands.length > 2) throw new UsageError(`Unexpected argument: ${opts.operands[2]}`);

  try {
    imgCreate(filename, fmt, {
      backingFile: opts.get("b"),
      backingFormat: opts.get("F"),
      options,
      size: imgSize,
      noBacking: opts.has("u"),
      quiet,
    });
  } catch (e) {
    if (e instanceof CommandError && !e.message.startsWith(`${filename}: `)) {
      throw new CommandError(`${filename}: ${e.message}`, e.status, e.newline);
    }
    throw e;
  }
  return 0;
}

export interface ImgCreateRequest {
  backingFile?: string;
  backingFormat?: string;
  options?: string;
  size?: number;
  noBacking?: boolean;
  quiet?: boolean;
}

/** bdrv_img_create(): settles size and backing, prints the Formatting line, creates. */
export function imgCreate(filename: string, fmt: string, req: ImgCreateRequest): void {
  if (!formatNames().includes(fmt)) throw new CommandError(`Unknown file format '${fmt}'`);
  const parsed = parseCreateOpts(fmt, req.options);
  const given = parsed.given;
  if (given.size === undefined) {
    if (req.size !== undefined) given.size = String(req.size);
  } else if (req.size !== undefined) {
    throw new CommandError("The image size must be specified only once");
  }
  const hasBacking = fmt !== "raw";
  if (req.backingFile !== undefined) {
    if (!hasBacking) throw new CommandError(`Backing file not supported for file format '${fmt}'`);
    given.backing_file = req.backingFile;
  }
  if (req.backingFormat !== undefined) {
    if (!hasBacking) throw new CommandError(`Backing file format not supported for file format '${fmt}'`);
    given.backing_fmt = req.backingFormat;
  }
  const backing = given.backing_file;
  if (backing !== undefined) {
    if (backing === filename) {
      throw new CommandError("Error: Trying to create an image with the same filename as the backing file");
    }
    if (backing === "") throw new CommandError("Expected backing file name, got empty string");
  }
  if (backing !== undefined && !req.noBacking) {
    let bs;
    try {
      bs = openImage(backingPath(filename, backing), { format: given.backing_fmt, readOnly: true });
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      // img_open's prefix is not part of bdrv_open's own message.
      const inner = e.message.replace(/^Could not open '[^']*': (?=Could not open)/, "");
      throw new CommandError(`${inner}\nCould not open backing image.`);
    }
    try {
      if (given.backing_fmt === undefined) {
        throw new CommandError(
          `Backing file specified without backing format\nDetected format of ${bs.format}.`,
          1,
          false,
        );
      }
      if (given.size === undefined) given.size = String(bs.size);
    } finally {
      bs.close();
    }
  } else if (backing !== undefined && given.backing_fmt === undefined) {
    throw new CommandError("Backing file specified without backing format");
  }
  if (given.size === undefined) throw new CommandError("Image creation needs a size parameter");
  if (!req.quiet) writeOut(formattingLine(filename, fmt, given) + "\n");
  createImage(filename, fmt, toCreateOptions(fmt, parsed, Number(given.size)));
}
