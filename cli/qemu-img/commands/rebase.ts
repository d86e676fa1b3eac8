/** `qemu-img rebase [-u] -b backing [-F fmt]`: img_rebase(), safe by default, header-only with -u. */
import type { BlockDriver } from "../../../lib/image/block_driver.ts";
import { LibError } from "../../../lib/errors.ts";
import { rebaseCopy } from "../../../lib/image/ops/rebase.ts";
import { changeBackingFile } from "../../../lib/image/ops/capabilities.ts";
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, parseCommand } from "../command.ts";
import { openImage } from "../images.ts";
import { Progress } from "../progress.ts";
import { CommandError, UsageError } from "../report.ts";
import { backingPath } from "./create.ts";
import { checkCacheMode } from "./convert.ts";

export function rebase(argv: string[]): number {
  const opts = parseCommand(argv, ":hf:F:b:upt:T:qU", [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE]);
  checkCacheMode(opts.get("t"));
  const srcCache = opts.get("T");
  if (srcCache !== undefined) checkCacheMode(srcCache);
  const unsafe = opts.has("u");
  const newName = opts.get("b");
  let newFmt = opts.get("F");
  const quiet = opts.has("q");
  if (opts.operands.length !== 1) throw new UsageError("Expecting one image file name");
  if (!unsafe && newName === undefined) {
    throw new UsageError("Must specify backing file (-b) or use unsafe mode (-u)");
  }
  const filename = opts.operands[0];
  const image = openImage(filename, {
    format: opts.get("f"),
    readOnly: false,
    openBacking: !unsafe,
    forceShare: opts.has("U"),
  });
  let newBacking: BlockDriver | undefined;
  try {
    const target = newName === "" ? undefined : newName;
    if (!unsafe) {
      if (target !== undefined) {
        try {
          newBacking = openImage(backingPath(filename, target), { format: newFmt, readOnly: true });
        } catch (e) {
          if (!(e instanceof CommandError)) throw e;
          const inner = e.message.replace(/^Could not open '[^']*': /, "");
          throw new CommandError(`Could not open new backing file '${target}': ${inner}`);
        }
      }
      if (target !== undefined && newFmt === undefined) {
        throw new CommandError(
          `Could not change the backing file to '${target}': backing format must be specified`,
        );
      }
      const progress = opts.has("p") && !quiet ? new Progress() : undefined;
      progress?.start();
      rebaseCopy({
        image,
        oldBacking: image.backing,
        newBacking,
        onProgress: progress ? (f) => progress.update(f * 100) : undefined,
      });
      progress?.end();
    } else if (target !== undefined && newFmt === undefined) {
      throw new CommandError(
        `Could not change the backing file to '${target}': backing format must be specified`,
      );
    }
    if (target === undefined) newFmt = undefined;
    changeBackingFile(image, target, newFmt);
    image.flush();
    return 0;
  } catch (e) {
    if (e instanceof LibError) {
      throw new CommandError(`Could not change the backing file to '${newName}': ${e.message}`);
    }
    throw e;
  } finally {
    newBacking?.close();
    image.close();
  }
}
