/** `qemu-img info`: img_info() and collect_image_info_list(), with `--backing-chain`. */
import type { ImageInfo } from "../../../lib/image/block_driver.ts";
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
import { imageInfoHuman, imageInfoQapi } from "../image_info.ts";
import { withImage } from "../images.ts";
import { toQemuJson } from "../qjson.ts";
import { CommandError, writeOut } from "../report.ts";
import { backingPath } from "./create.ts";

export function info(argv: string[]): number {
  const opts = parseCommand(argv, ":f:hU", [
    HELP,
    FORMAT,
    OUTPUT,
    { name: "backing-chain", arg: "none", key: "backing-chain" },
    OBJECT,
    IMAGE_OPTS,
    FORCE_SHARE,
  ]);
  const output = outputFormat(opts);
  const filename = oneFilename(opts);
  const chain = opts.has("backing-chain");
  const list = collectInfoList(filename, opts.get("f"), chain, opts.has("U"));
  if (output === "json") {
    const doc = chain ? list.map(imageInfoQapi) : imageInfoQapi(list[0]);
    writeOut(toQemuJson(doc) + "\n");
  } else {
    writeOut(list.map(imageInfoHuman).join("\n"));
  }
  return 0;
}

/** The image and, with `chain`, each backing file in turn, refusing loops as the real tool does. */
export function collectInfoList(
  filename: string,
  format: string | undefined,
  chain: boolean,
  forceShare = false,
): ImageInfo[] {
  const seen = new Set<string>();
  const list: ImageInfo[] = [];
  let next: string | undefined = filename;
  let fmt = format;
  while (next !== undefined) {
    if (seen.has(next)) throw new CommandError(`Backing file '${next}' creates an infinite loop.`);
    seen.add(next);
    const info: ImageInfo = withImage(
      next,
      { format: fmt, readOnly: true, openBacking: false, forceShare },
      (bs) => bs.info(),
    );
    list.push(info);
    if (!chain || info.backingFilename === undefined) break;
    next = info.fullBackingFilename ?? backingPath(info.filename, info.backingFilename);
    fmt = info.backingFormat;
  }
  return list;
}
