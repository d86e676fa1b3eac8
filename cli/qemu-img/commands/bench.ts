/**
 * `qemu-img bench`: img_bench()'s options, checks and report. Requests run one after another
 * through the synchronous BlockDriver; `-d` is accepted and reported but cannot overlap them.
 */
import { LibError } from "../../../lib/errors.ts";
import { FORCE_SHARE, HELP, IMAGE_OPTS, oneFilename, parseCommand } from "../command.ts";
import { withImage } from "../images.ts";
import { CommandError, writeOut } from "../report.ts";
import { cvtnum } from "../size.ts";
import { checkCacheMode } from "./convert.ts";

const INT_MAX = 2147483647n;

export function bench(argv: string[]): number {
  const opts = parseCommand(argv, ":hc:d:f:ni:o:qs:S:t:wU", [
    HELP,
    { name: "flush-interval", arg: "required", key: "flush-interval" },
    IMAGE_OPTS,
    { name: "pattern", arg: "required", key: "pattern" },
    { name: "no-drain", arg: "none", key: "no-drain" },
    FORCE_SHARE,
  ]);
  let count = 75000;
  let depth = 64;
  let offset = 0;
  let bufsize = 4096;
  let step: number | undefined;
  let pattern = 0;
  let flushInterval = 0;
  let aio = "threads";
  let cacheDirect = false;
  for (const o of opts.list) {
    const v = o.value!;
    switch (o.key) {
      case "c":
        count = cvtnum("request count", v, 0n, INT_MAX);
        break;
      case "d":
        depth = cvtnum("queue depth", v, 1n, INT_MAX);
        break;
      case "o":
        offset = cvtnum("offset", v);
        break;
      case "s":
        bufsize = cvtnum("buffer size", v, 1n, INT_MAX);
        break;
      case "S":
        step = cvtnum("step_size", v, 0n, INT_MAX);
        break;
      case "pattern": {
        const p = /^(0[xX][0-9a-fA-F]+|\d+)$/.test(v) ? Number(v) : NaN;
        if (!(p >= 0 && p <= 0xff)) throw new CommandError("Invalid pattern byte specified");
        pattern = p;
        break;
      }
      case "flush-interval":
        flushInterval = cvtnum("flush interval", v, 0n, INT_MAX);
        break;
      case "n":
        aio = "native";
        break;
      case "i":
        if (!["native", "threads", "io_uring"].includes(v)) {
          throw new CommandError(`Invalid aio option: ${v}`);
        }
        aio = v;
        break;
      case "t":
        checkCacheMode(v);
        cacheDirect = v === "none" || v === "directsync";
        break;
    }
  }
  const write = opts.has("w");
  const quiet = opts.has("q");
  if (flushInterval && !write) throw new CommandError("--flush-interval is only available in write tests");
  if (flushInterval && flushInterval < depth) {
    throw new CommandError("Flush interval can't be smaller than depth");
  }
  const filename = oneFilename(opts);
  step ??= bufsize;
  if (aio === "native" && !cacheDirect) {
    // Requests are synchronous here whatever the mode; QEMU's open-time rule still holds.
    throw new CommandError(
      `Could not open '${filename}': aio=native was specified, but it requires cache.direct=on, which was not specified.`,
    );
  }
  return withImage(filename, { format: opts.get("f"), readOnly: !write, forceShare: opts.has("U") }, (bs) => {
    if (!quiet) {
      writeOut(
        `Sending ${count} ${
          write ? "write" : "read"
        } requests, ${bufsize} bytes each, ${depth} in parallel ` +
          `(starting at offset ${offset}, step size ${step})\n`,
      );
      if (flushInterval) writeOut(`Sending flush every ${flushInterval} requests\n`);
    }
    const buf = new Uint8Array(bufsize).fill(pattern);
    const t0 = performance.now();
    let pos = offset;
    try {
      for (let i = 0; i < count; i++) {
        if (pos + bufsize > bs.size) throw new CommandError("Failed request: Input/output error");
        if (write) bs.write(pos, buf);
        else bs.read(pos, buf);
        if (flushInterval && (i + 1) % flushInterval === 0) bs.flush();
        pos += step!;
        pos = bs.size === 0 ? 0 : pos % bs.size;
      }
      if (write) bs.flush();
    } catch (e) {
      if (e instanceof LibError) throw new CommandError(`Failed request: ${e.message}`);
      throw e;
    }
    const secs = (performance.now() - t0) / 1000;
    if (!quiet) writeOut(`Run completed in ${secs.toFixed(3)} seconds.\n`);
    return 0;
  });
}
