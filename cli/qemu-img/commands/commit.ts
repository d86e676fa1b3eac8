/** `qemu-img commit [-b base] [-d] [-p]`: img_commit() over lib/image/ops/commit. */
import type { BlockDriver } from "../../../lib/image/block_driver.ts";
import { LibError } from "../../../lib/errors.ts";
import { commit as commitEngine } from "../../../lib/image/ops/commit.ts";
import { makeEmpty } from "../../../lib/image/ops/capabilities.ts";
import { HELP, IMAGE_OPTS, OBJECT, oneFilename, parseCommand } from "../command.ts";
import { openImage } from "../images.ts";
import { Progress } from "../progress.ts";
import { CommandError, writeOut } from "../report.ts";
import { cvtnum } from "../size.ts";
import { backingPath } from "./create.ts";
import { checkCacheMode } from "./convert.ts";

export function commit(argv: string[]): number {
  const opts = parseCommand(argv, ":f:ht:b:dpqr:", [HELP, OBJECT, IMAGE_OPTS]);
  checkCacheMode(opts.get("t"));
  const rate = opts.get("r");
  if (rate !== undefined) cvtnum("rate limit", rate);
  const filename = oneFilename(opts);
  const quiet = opts.has("q");
  const baseName = opts.get("b");
  // img_commit() opens with BDRV_O_UNMAP: what the commit frees is punched out of the files.
  const top = openImage(filename, { format: opts.get("f"), readOnly: false, unmap: true });
  let base: BlockDriver | undefined;
  let closed = false;
  try {
    // Find the base in the chain: by name with -b, else the immediate backing file.
    const chain: { filename: string; format?: string }[] = [];
    let info = top.info();
    let layer: BlockDriver | undefined = top;
    while (layer && info.backingFilename !== undefined) {
      const path = info.fullBackingFilename ?? backingPath(info.filename, info.backingFilename);
      chain.push({ filename: path, format: info.backingFormat });
      layer = layer.backing;
      if (!layer) break;
      info = layer.info();
    }
    if (chain.length === 0) throw new CommandError("Image does not have a backing file");
    let depth = 1;
    if (baseName !== undefined) {
      depth = chain.findIndex((c) =>
        c.filename === baseName || c.filename === backingPath(filename, baseName)
      ) + 1;
      if (depth === 0) {
        throw new CommandError(`Did not find '${baseName}' in the backing chain of '${filename}'`);
      }
    }
    base = openImage(chain[depth - 1].filename, {
      format: chain[depth - 1].format,
      readOnly: false,
      unmap: true,
    });
    const progress = opts.has("p") && !quiet ? new Progress() : undefined;
    progress?.start();
    // -b implies -d: other users of the intermediate images must not be invalidated.
    const keepTop = opts.has("d") || baseName !== undefined;
    commitEngine({
      top,
      base,
      depth,
      keepTop: true,
      onProgress: progress ? (f) => progress.update(f * 100) : undefined,
    });
    progress?.end();
    if (!keepTop) {
      top.close();
      closed = true;
      const bare = openImage(filename, {
        format: top.format,
        readOnly: false,
        openBacking: false,
        unmap: true,
      });
      try {
        makeEmpty(bare);
        bare.flush();
      } finally {
        bare.close();
      }
    }
    if (!quiet) writeOut("Image committed.\n");
    return 0;
  } catch (e) {
    if (e instanceof LibError) throw new CommandError(e.message);
    throw e;
  } finally {
    base?.close();
    if (!closed) top.close();
  }
}
