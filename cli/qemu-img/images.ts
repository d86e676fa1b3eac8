/**
 * Opening and creating images the way qemu-img's img_open()/bdrv_img_create() do: `-f` or
 * probing, the real tool's `Could not open 'x': ...` wording, and `-U`/read-only handling. The
 * formats themselves come from lib/image's registry.
 */
import type { BlockDriver, CreateOptions } from "../../lib/image/block_driver.ts";
import { LibError } from "../../lib/errors.ts";
import * as registry from "../../lib/image/registry.ts";
import { CommandError, writeErr } from "./report.ts";

export interface OpenRequest {
  format?: string;
  readOnly?: boolean;
  /** false: like `rebase -u`, the backing chain stays closed. */
  openBacking?: boolean;
  /** BDRV_O_CHECK: `check` opens corrupt or dirty images as they are, to repair them itself. */
  forCheck?: boolean;
  /** `-U`: open an image other processes hold, and let them keep it (read-only opens only). */
  forceShare?: boolean;
  /** Lock as a descriptor of its own, so this process's other opens conflict (lib's againstOwn). */
  againstOwn?: boolean;
  /** BDRV_O_UNMAP: discards and unmapping zero writes punch the host file (lib's unmap). */
  unmap?: boolean;
}

/** The formats `--help` lists and `-f` accepts. */
export function formatNames(): string[] {
  return registry.formatNames();
}

/** img_open(): the driver, or `Could not open 'FILE': REASON`. */
export function openImage(filename: string, request: OpenRequest = {}): BlockDriver {
  try {
    if (request.format !== undefined && !registry.formatNames().includes(request.format)) {
      throw new CommandError(`Could not open '${filename}': Unknown driver '${request.format}'`);
    }
    let format = request.format;
    if (format === undefined && request.readOnly === false) {
      format = registry.probeFormat(filename, false, request.forceShare, request.againstOwn);
      if (format === "raw") {
        writeErr(
          `WARNING: Image format was not specified for '${filename}' and probing guessed raw.\n` +
            "         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n" +
            "         Specify the 'raw' format explicitly to remove the restrictions.\n",
        );
      }
    }
    return registry.openImage(filename, {
      format,
      readOnly: request.readOnly ?? true,
      openBacking: request.openBacking ?? true,
      forCheck: request.forCheck,
      forceShare: request.forceShare,
      againstOwn: request.againstOwn,
      unmap: request.unmap,
    });
  } catch (e) {
    if (e instanceof CommandError) throw e;
    if (e instanceof LibError) throw new CommandError(`Could not open '${filename}': ${e.message}`);
    throw e;
  }
}

/** The format probing would pick for a file (as `Detected format of X.` reports it). */
export function probeFormat(filename: string): string | undefined {
  try {
    return registry.probeFormat(filename);
  } catch {
    return undefined;
  }
}

/** Creates an image; errors come back as `FILE: REASON`, as bdrv_img_create() reports them. */
export function createImage(filename: string, format: string, options: CreateOptions): void {
  try {
    registry.createImage(filename, format, options);
  } catch (e) {
    if (e instanceof LibError) throw new CommandError(`${filename}: ${e.message}`);
    throw e;
  }
}

/** Runs fn on an opened image and closes it whatever happens. */
export function withImage<T>(filename: string, request: OpenRequest, fn: (bs: BlockDriver) => T): T {
  const bs = openImage(filename, request);
  try {
    return fn(bs);
  } finally {
    bs.close();
  }
}
