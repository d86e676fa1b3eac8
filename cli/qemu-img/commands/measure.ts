/** `qemu-img measure`: img_measure() over lib/image/ops/measure. */
import type { BlockDriver } from "../../../lib/image/block_driver.ts";
import { LibError } from "../../../lib/errors.ts";
import { measure as measureEngine } from "../../../lib/image/ops/measure.ts";
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, OUTPUT, outputFormat, parseCommand } from "../command.ts";
import { formatNames, openImage } from "../images.ts";
import { parseCreateOpts, toCreateOptions } from "../qemu_opts.ts";
import { loadSnapshotParam, parseSnapshotParam, type SnapshotParam } from "../snapshot_param.ts";
import { toQemuJson } from "../qjson.ts";
import { CommandError, writeOut } from "../report.ts";
import { cvtnum } from "../size.ts";

export function measure(argv: string[]): number {
  const opts = parseCommand(argv, ":hf:O:o:l:", [
    HELP,
    IMAGE_OPTS,
    OBJECT,
    OUTPUT,
    { name: "size", arg: "required", key: "size" },
    FORCE_SHARE,
  ]);
  let imgSize: number | undefined;
  let snapshot: SnapshotParam | undefined;
  let snapshotOpts: SnapshotParam | undefined;
  for (const o of opts.list) {
    if (o.key === "size") imgSize = cvtnum("image size", o.value!);
    else if (o.key === "l") {
      const p = parseSnapshotParam(o.value!);
      if ("idOrName" in p) snapshot = p;
      else snapshotOpts = p;
    }
  }
  const output = outputFormat(opts);
  if (opts.operands.length > 1) throw new CommandError("At most one filename argument is allowed.");
  const filename = opts.operands[0];
  if (filename === undefined && (opts.has("f") || opts.has("l"))) {
    throw new CommandError("--image-opts, -f, and -l require a filename argument.");
  }
  if (filename !== undefined && imgSize !== undefined) {
    throw new CommandError("--size N cannot be used together with a filename.");
  }
  if (filename === undefined && imgSize === undefined) {
    throw new CommandError("Either --size N or one filename must be specified.");
  }
  let src: BlockDriver | undefined;
  try {
    if (filename !== undefined) {
      src = openImage(filename, { format: opts.get("f"), readOnly: true, forceShare: opts.has("U") });
      // img_measure() prefers the snapshot.id/name form when both forms were given.
      const param = snapshotOpts ?? snapshot;
      if (param) loadSnapshotParam(src, param);
    }
    const outFmt = opts.get("O") ?? "raw";
    if (!formatNames().includes(outFmt)) throw new CommandError(`Unknown file format '${outFmt}'`);
    const parsed = parseCreateOpts(outFmt, opts.all("o").join(","));
    const size = imgSize ?? (parsed.given.size !== undefined ? Number(parsed.given.size) : 0);
    const info = measureEngine(outFmt, toCreateOptions(outFmt, parsed, size), src);
    if (output === "json") {
      writeOut(
        toQemuJson({
          required: info.required,
          "fully-allocated": info.fullyAllocated,
          bitmaps: info.bitmaps,
        }) + "\n",
      );
    } else {
      writeOut(`required size: ${info.required}\nfully allocated size: ${info.fullyAllocated}\n`);
      if (info.bitmaps !== undefined) writeOut(`bitmaps size: ${info.bitmaps}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof LibError) throw new CommandError(e.message);
    throw e;
  } finally {
    src?.close();
  }
}
