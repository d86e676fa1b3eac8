/** `qemu-img convert`: img_convert()'s options and checks, then lib/image/ops/convert. */
import type { BlockDriver } from "../../../lib/image/block_driver.ts";
import { LibError } from "../../../lib/errors.ts";
import { convert as convertEngine } from "../../../lib/image/ops/convert.ts";
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, parseCommand } from "../command.ts";
import { createImage, formatNames, openImage } from "../images.ts";
import { Progress } from "../progress.ts";
import { createHelp, parseCreateOpts, toCreateOptions, wantsHelp } from "../qemu_opts.ts";
import { loadSnapshotParam, parseSnapshotParam, type SnapshotParam } from "../snapshot_param.ts";
import { CommandError, writeOut } from "../report.ts";
import { cvtnum } from "../size.ts";

export const CACHE_MODES = ["none", "off", "writeback", "writethrough", "directsync", "unsafe"];

/** bdrv_parse_cache_mode()'s check, as img_convert and friends word it. */
export function checkCacheMode(mode: string | undefined): void {
  if (mode !== undefined && !CACHE_MODES.includes(mode)) {
    throw new CommandError(`Invalid cache option: ${mode}`);
  }
}

export async function convert(argv: string[]): Promise<number> {
  const opts = parseCommand(argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:", [
    HELP,
    OBJECT,
    IMAGE_OPTS,
    { name: "target-image-opts", arg: "none", key: "target-image-opts" },
    { name: "salvage", arg: "none", key: "salvage" },
    { name: "target-is-zero", arg: "none", key: "target-is-zero" },
    { name: "bitmaps", arg: "none", key: "bitmaps" },
    { name: "skip-broken-bitmaps", arg: "none", key: "skip-broken-bitmaps" },
    FORCE_SHARE,
  ]);
  let minSparse = 4096;
  let parallel = 8;
  let snapshot: SnapshotParam | undefined;
  let snapshotOpts: SnapshotParam | undefined;
  for (const o of opts.list) {
    if (o.key === "S") {
      const v = cvtnum("buffer size for sparse output", o.value!);
      if (v % 512 !== 0 || v > 16 << 20) {
        throw new CommandError(
          "Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. " +
            "Select 0 to disable sparse detection (fully allocates output).",
        );
      }
      minSparse = v;
    } else if (o.key === "m") {
      const m = /^\d+$/.test(o.value!) ? Number(o.value) : NaN;
      if (!(m >= 1 && m <= 16)) {
        throw new CommandError(
          "Invalid number of coroutines. Allowed number of coroutines is between 1 and 16",
        );
      }
      parallel = m;
    } else if (o.key === "r") {
      cvtnum("rate limit", o.value!);
    } else if (o.key === "l") {
      const p = parseSnapshotParam(o.value!);
      if ("idOrName" in p) snapshot = p;
      else snapshotOpts = p;
    }
  }
  const outFmt = opts.get("O") ?? "raw";
  const options = opts.all("o").join(",");
  const compress = opts.has("c");
  const skipCreate = opts.has("n");
  const targetIsZero = opts.has("target-is-zero");
  const backing = opts.get("B");
  const backingFmt = opts.get("F");
  const quiet = opts.has("q");
  checkCacheMode(opts.get("t"));
  checkCacheMode(opts.get("T"));
  if (targetIsZero && !skipCreate) throw new CommandError("--target-is-zero requires use of -n flag");
  if (compress && opts.has("C")) throw new CommandError("Cannot enable copy offloading when -c is used");
  if (opts.has("bitmaps")) throw new CommandError("--bitmaps is not supported by qemu-kvm-ts");
  if (opts.has("target-image-opts")) {
    throw new CommandError("--target-image-opts is not supported by qemu-kvm-ts");
  }
  const names = opts.operands;
  const outFilename = names.length >= 2 ? names[names.length - 1] : undefined;
  if (options && wantsHelp(options)) {
    if (!formatNames().includes(outFmt)) throw new CommandError(`Unknown file format '${outFmt}'`);
    writeOut(createHelp(outFmt, outFilename !== undefined));
    return 0;
  }
  if (names.length < 2) throw new CommandError("Must specify image file name");

  const sources: BlockDriver[] = [];
  let target: BlockDriver | undefined;
  try {
    for (const name of names.slice(0, -1)) {
      sources.push(openImage(name, { format: opts.get("f"), readOnly: true, forceShare: opts.has("U") }));
    }
    // img_convert(): the snapshot.id/name form wins; only a bare name refuses several sources.
    if (snapshotOpts) loadSnapshotParam(sources[0], snapshotOpts);
    else if (snapshot) {
      if (sources.length > 1) throw new CommandError("No support for concatenating multiple snapshot");
      loadSnapshotParam(sources[0], snapshot);
    }
    const total = sources.reduce((n, s) => n + s.size, 0);
    if (backing !== undefined && backingFmt === undefined) {
      throw new CommandError("Use of backing file requires explicit backing format");
    }
    if (!formatNames().includes(outFmt)) throw new CommandError(`Unknown file format '${outFmt}'`);
    if (!skipCreate) {
      // img_convert() creates with bdrv_create() directly: no Formatting line, no backing probe.
      const parsed = parseCreateOpts(outFmt, options);
      parsed.given.size = String(Math.ceil(total / 512) * 512);
      if (backing !== undefined) {
        if (outFmt === "raw") {
          throw new CommandError(`Backing file not supported for file format '${outFmt}'`);
        }
        parsed.given.backing_file = backing;
        parsed.given.backing_fmt = backingFmt!;
      }
      // The enum-valued options are the driver's to parse in QEMU (bdrv_create), so their errors
      // carry the same prefix as the driver's own.
      const failed = (reason: string) =>
        new CommandError(`${outFilename}: error while converting ${outFmt}: ${reason}`);
      let createOptions;
      try {
        createOptions = toCreateOptions(outFmt, parsed, Number(parsed.given.size));
      } catch (e) {
        if (e instanceof CommandError) throw failed(e.message);
        throw e;
      }
      try {
        createImage(outFilename!, outFmt, createOptions);
      } catch (e) {
        if (e instanceof CommandError) throw failed(e.message.slice(`${outFilename}: `.length));
        throw e;
      }
    }
    // With -n too the target is opened as -O says (raw by default), never probed, as QEMU does;
    // its own descriptor's locks make writing onto a source a lock conflict, as in QEMU.
    target = openImage(outFilename!, {
      format: outFmt,
      readOnly: false,
      openBacking: false,
      againstOwn: true,
      // img_convert() opens the target with BDRV_O_UNMAP unless -S 0 asks for full allocation.
      unmap: minSparse !== 0,
    });
    if (skipCreate && target.size < total) throw new CommandError("output file is smaller than input file");
    const progress = opts.has("p") && !quiet ? new Progress() : undefined;
    await convertEngine({
      sources,
      target,
      compress,
      minSparse,
      targetIsZero: skipCreate ? targetIsZero : backing === undefined,
      targetHasBacking: backing !== undefined,
      parallel: parallel * 2,
      sync: (opts.get("t") ?? "unsafe") !== "unsafe",
      onProgress: progress ? (f) => progress.update(f * 100) : undefined,
    });
    progress?.end();
    return 0;
  } catch (e) {
    if (e instanceof LibError) throw new CommandError(e.message);
    throw e;
  } finally {
    for (const s of sources) s.close();
    target?.close();
  }
}
