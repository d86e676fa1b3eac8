/** `qemu-img compare`: img_compare() with its exit statuses (0 same, 1 differ, 2 open error, 4 read error). */
import type { BlockDriver } from "../../../lib/image/block_driver.ts";
import { LibError } from "../../../lib/errors.ts";
import { compareImages } from "../../../lib/image/ops/compare.ts";
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, parseCommand } from "../command.ts";
import { openImage } from "../images.ts";
import { Progress } from "../progress.ts";
import { CommandError, errorReport, UsageError, writeOut } from "../report.ts";
import { CACHE_MODES } from "./convert.ts";

export function compare(argv: string[]): number {
  const opts = parseCommand(argv, ":hf:F:T:pqsU", [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE]);
  if (opts.operands.length !== 2) throw new UsageError("Expecting two image file names");
  const cache = opts.get("T");
  if (cache !== undefined && !CACHE_MODES.includes(cache)) {
    throw new CommandError(`Invalid source cache option: ${cache}`);
  }
  const quiet = opts.has("q");
  const [name1, name2] = opts.operands;
  const fmt1 = opts.get("f");
  const fmt2 = opts.get("F") ?? fmt1;
  let a: BlockDriver | undefined;
  let b: BlockDriver | undefined;
  try {
    try {
      a = openImage(name1, { format: fmt1, readOnly: true, forceShare: opts.has("U") });
      b = openImage(name2, { format: fmt2, readOnly: true, forceShare: opts.has("U") });
    } catch (e) {
      if (e instanceof CommandError) {
        errorReport(e.message);
        return 2;
      }
      throw e;
    }
    const progress = opts.has("p") && !quiet ? new Progress() : undefined;
    progress?.start();
    let result;
    try {
      result = compareImages(a, b, {
        strict: opts.has("s"),
        onProgress: progress ? (f) => progress.update(f * 100) : undefined,
      });
    } catch (e) {
      if (e instanceof LibError) {
        errorReport(`Error while reading: ${e.message}`);
        return 4;
      }
      throw e;
    }
    // The real tool ends the progress line after its verdict.
    if (!quiet) writeOut(result.lines.map((l) => l + "\n").join(""));
    progress?.end();
    return result.status;
  } finally {
    a?.close();
    b?.close();
  }
}
