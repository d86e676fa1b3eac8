/** `qemu-img dd bs= count= skip= if= of=`: img_dd(), including its size rule (count counts from 0, not from skip). */
import type { BlockDriver } from "../../../lib/image/block_driver.ts";
import { LibError } from "../../../lib/errors.ts";
import { FORCE_SHARE, HELP, IMAGE_OPTS, parseCommand } from "../command.ts";
import { createImage, formatNames, openImage } from "../images.ts";
import { parseCreateOpts, toCreateOptions } from "../qemu_opts.ts";
import { CommandError, errorReport } from "../report.ts";
import { cvtnum } from "../size.ts";

const INT_MAX = 2147483647n;

export function dd(argv: string[]): number {
  const opts = parseCommand(argv, ":hf:O:U", [HELP, IMAGE_OPTS, FORCE_SHARE]);
  let bsz = 512;
  let count: number | undefined;
  let skip: number | undefined;
  let input: string | undefined;
  let output: string | undefined;
  for (const arg of opts.operands) {
    const eq = arg.indexOf("=");
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? "" : arg.slice(eq + 1);
    if (eq < 0) throw new CommandError(`unrecognized operand ${arg}`);
    const unknown = () => new CommandError(`unrecognized operand ${key}`);
    switch (key) {
      case "bs":
        bsz = cvtnum("bs", value, 1n, INT_MAX);
        break;
      case "count":
        count = cvtnum("count", value);
        break;
      case "skip":
        skip = cvtnum("skip", value);
        break;
      case "if":
        input = value;
        break;
      case "of":
        output = value;
        break;
      default:
        throw unknown();
    }
  }
  if (input === undefined || output === undefined) {
    throw new CommandError("Must specify both input and output files");
  }
  const outFmt = opts.get("O") ?? "raw";
  if (!formatNames().includes(outFmt)) throw new CommandError(`Unknown file format '${outFmt}'`);
  let src: BlockDriver | undefined;
  let dst: BlockDriver | undefined;
  try {
    src = openImage(input, { format: opts.get("f"), readOnly: true, forceShare: opts.has("U") });
    let size = src.size;
    if (count !== undefined && count * bsz < size) size = count * bsz;
    const start = (skip ?? 0) * bsz;
    const beyond = skip !== undefined && size < start;
    const outSize = beyond ? 0 : size - start;
    const parsed = parseCreateOpts(outFmt, undefined);
    try {
      createImage(output, outFmt, toCreateOptions(outFmt, parsed, Math.ceil(outSize / 512) * 512));
    } catch (e) {
      if (e instanceof CommandError) {
        throw new CommandError(
          `${e.message.replace(/^[^:]*: /, `${output}: error while creating output image: `)}`,
        );
      }
      throw e;
    }
    if (beyond) {
      // The real tool reports it and still succeeds, leaving an empty output image.
      errorReport(`${input}: cannot skip to specified offset`);
      return 0;
    }
    dst = openImage(output, { format: outFmt, readOnly: false });
    const buf = new Uint8Array(bsz);
    for (let inPos = start, outPos = 0; inPos < size;) {
      const n = Math.min(bsz, size - inPos);
      src.read(inPos, buf.subarray(0, n));
      dst.write(outPos, buf.subarray(0, n));
      inPos += n;
      outPos += n;
    }
    dst.flush();
    return 0;
  } catch (e) {
    if (e instanceof LibError) throw new CommandError(e.message);
    throw e;
  } finally {
    src?.close();
    dst?.close();
  }
}
