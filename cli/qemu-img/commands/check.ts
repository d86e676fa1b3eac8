/** `qemu-img check`: img_check(), its human and JSON reports, and its exit statuses 0/1/2/3/63. */
import type { CheckResult } from "../../../lib/image/block_driver.ts";
import { LibError } from "../../../lib/errors.ts";
import {
  FORCE_SHARE,
  FORMAT,
  HELP,
  IMAGE_OPTS,
  OBJECT,
  oneFilename,
  OUTPUT,
  outputFormat,
  parseCommand,
} from "../command.ts";
import { openImage } from "../images.ts";
import { fixed2 } from "../progress.ts";
import { toQemuJson } from "../qjson.ts";
import { CommandError, errorReport, UsageError, writeErr, writeOut } from "../report.ts";

const NOT_SUPPORTED = "This image format does not support checks";

export function check(argv: string[]): number {
  const opts = parseCommand(argv, ":hf:r:T:qU", [
    HELP,
    FORMAT,
    { name: "repair", arg: "required", key: "r" },
    OUTPUT,
    OBJECT,
    IMAGE_OPTS,
    FORCE_SHARE,
  ]);
  let repair: "leaks" | "all" | undefined;
  for (const r of opts.all("r")) {
    if (r !== "leaks" && r !== "all") {
      throw new UsageError(`Unknown option value for -r (expecting 'leaks' or 'all'): ${r}`);
    }
    repair = r;
  }
  const output = outputFormat(opts);
  const filename = oneFilename(opts);
  const quiet = opts.has("q");
  const bs = openImage(filename, {
    format: opts.get("f"),
    readOnly: repair === undefined,
    forCheck: true,
    forceShare: opts.has("U"),
  });
  try {
    let result: CheckResult;
    try {
      result = bs.check(repair);
    } catch (e) {
      if (e instanceof LibError && e.message === NOT_SUPPORTED) {
        errorReport(NOT_SUPPORTED);
        return 63;
      }
      if (e instanceof LibError) throw new CommandError(`Check failed: ${e.message}`);
      throw e;
    }
    for (const m of result.messages) writeErr(m + "\n");
    if (result.failed) {
      for (const r of result.failed.reports) errorReport(r);
      throw new CommandError(`Check failed: ${result.failed.reason}`);
    }
    const fixedLeaks = result.leaksFixed;
    const fixedCorruptions = result.corruptionsFixed;
    if (fixedLeaks || fixedCorruptions) {
      if (output === "human" && !quiet) {
        writeOut(
          "The following inconsistencies were found and repaired:\n\n" +
            `    ${fixedLeaks} leaked clusters\n    ${fixedCorruptions} corruptions\n\n` +
            "Double checking the fixed image now...\n",
        );
      }
      result = bs.check();
      for (const m of result.messages) writeErr(m + "\n");
      result = { ...result, leaksFixed: fixedLeaks, corruptionsFixed: fixedCorruptions };
    }
    if (!quiet) {
      writeOut(
        output === "json" ? toQemuJson(checkQapi(result, filename, bs.format)) + "\n" : checkHuman(result),
      );
    }
    if (result.checkErrors) {
      errorReport("Check failed");
      return 1;
    }
    return result.corruptions ? 2 : result.leaks ? 3 : 0;
  } finally {
    bs.close();
  }
}

/** ImageCheck in QAPI field order; zero counts are absent, as collect_image_check() leaves them. */
export function checkQapi(r: CheckResult, filename: string, format: string) {
  const nz = (n: number | undefined) => (n ? n : undefined);
  return {
    filename,
    format,
    "check-errors": r.checkErrors,
    "image-end-offset": nz(r.imageEndOffset),
    corruptions: nz(r.corruptions),
    leaks: nz(r.leaks),
    "corruptions-fixed": nz(r.corruptionsFixed),
    "leaks-fixed": nz(r.leaksFixed),
    "total-clusters": nz(r.totalClusters),
    "allocated-clusters": nz(r.allocatedClusters),
    "fragmented-clusters": nz(r.fragmentedClusters),
    "compressed-clusters": nz(r.compressedClusters),
  };
}

const pct = (a: number, b: number) => fixed2((a * 100) / b);

/** dump_human_image_check(). */
export function checkHuman(r: CheckResult): string {
  let out = "";
  if (!(r.corruptions || r.leaks || r.checkErrors)) {
    out += "No errors were found on the image.\n";
  } else {
    if (r.corruptions) {
      out += `\n${r.corruptions} errors were found on the image.\n` +
        "Data may be corrupted, or further writes to the image may corrupt it.\n";
    }
    if (r.leaks) {
      out += `\n${r.leaks} leaked clusters were found on the image.\n` +
        "This means waste of disk space, but no harm to data.\n";
    }
    if (r.checkErrors) out += `\n${r.checkErrors} internal errors have occurred during the check.\n`;
  }
  const total = r.totalClusters ?? 0;
  const alloc = r.allocatedClusters ?? 0;
  if (total && alloc) {
    out += `${alloc}/${total} = ${pct(alloc, total)}% allocated, ${pct(r.fragmentedClusters ?? 0, alloc)}% ` +
      `fragmented, ${pct(r.compressedClusters ?? 0, alloc)}% compressed clusters\n`;
  }
  if (r.imageEndOffset) out += `Image end offset: ${r.imageEndOffset}\n`;
  return out;
}
