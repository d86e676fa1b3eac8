/**
 * The format registry: which formats exist, probing a file's format from its first bytes (raw is
 * the fallback, as in QEMU), creating images, and opening an image with its backing chain. It
 * leaves the compression codecs unloaded; formats.ts is the same registry with them loaded.
 *
 * Backing names are resolved as QEMU's path_combine does: an absolute name (or one with a
 * `protocol:` prefix) stands as is, a relative one is taken relative to the directory of the image
 * that names it. A chain that comes back to an image already open is refused as a loop.
 */
import { type BlockDriver, type CreateOptions, ImageError, type OpenOptions } from "./block_driver.ts";
import { HostFile } from "./host_file.ts";
import { RawDriver } from "./raw/raw.ts";
import { Qcow2Driver } from "./qcow2/driver.ts";
import { probeQcow2 } from "./qcow2/header.ts";
import { OPTION_TABLES } from "./create_options.ts";

export interface OpenImageOptions extends OpenOptions {
  /** The format to open as; probed from the header when absent. */
  format?: string;
}

/** How a format driver plugs into the registry. */
export interface FormatDriver {
  name: string;
  /** Probe score for the first 512 bytes of a file, QEMU style (0 = not this format, 100 = certain). */
  probe(head: Uint8Array, filename: string): number;
  create(path: string, options: CreateOptions): void;
  /** `file`: the host file already open as `options` ask (after probing), which the driver takes over. */
  open(path: string, options: OpenOptions, backing: BackingOpener, file?: HostFile): BlockDriver;
}

/** Opens a backing image by the name and format stored in its overlay. */
export type BackingOpener = (name: string, format: string | undefined, readOnly: boolean) => BlockDriver;

export const FORMATS: Record<string, FormatDriver> = {
  raw: {
    name: "raw",
    probe: () => 1,
    create: (path, options) => RawDriver.create(path, options),
    open: (path, options, _backing, file) => RawDriver.open(path, options, file),
  },
  qcow2: {
    name: "qcow2",
    probe: probeQcow2,
    create: (path, options) => Qcow2Driver.create(path, options),
    open: (path, options, backing, file) => Qcow2Driver.open(path, options, backing, file),
  },
};

/** The names `-f`/`-O` accept, for the CLI's "Unknown file format" check. */
export function formatNames(): string[] {
  return Object.keys(FORMATS);
}

export function optionTable(format: string) {
  return OPTION_TABLES[format];
}

/** The format whose probe scores highest on the file's first bytes (raw when none claims it). */
export function probeFormat(path: string, readOnly = true, forceShare = false, againstOwn = false): string {
  // Opened as the image will be (QEMU probes through the node it opens): the same errors and the
  // same lock conflicts as that open.
  refuseForceShareReadWrite(readOnly, forceShare);
  const file = HostFile.open(path, readOnly, forceShare, againstOwn);
  try {
    return probeFile(file);
  } finally {
    file.close();
  }
}

/** The format of an open host file, from its first 512 bytes. */
function probeFile(file: HostFile): string {
  const head = new Uint8Array(512);
  file.pread(head, 0);
  return probeHead(head, file.path);
}

export function probeHead(head: Uint8Array, path = ""): string {
  let best = "raw";
  let bestScore = 0;
  for (const f of Object.values(FORMATS)) {
    const score = f.probe(head, path);
    if (score > bestScore) [best, bestScore] = [f.name, score];
  }
  return best;
}

function driverFor(format: string): FormatDriver {
  const driver = FORMATS[format];
  if (!driver) throw new ImageError(`Unknown file format '${format}'`);
  return driver;
}

/** Creates an image file of the given format; the caller prints the Formatting line. */
export function createImage(path: string, format: string, options: CreateOptions): void {
  driverFor(format).create(path, options);
}

/** QEMU's path_combine: a relative backing name is relative to the overlay's directory. */
export function resolveBackingName(overlayPath: string, backing: string): string {
  if (backing.startsWith("/") || /^[A-Za-z0-9+.-]+:/.test(backing)) return backing;
  const slash = overlayPath.lastIndexOf("/");
  return slash < 0 ? backing : overlayPath.slice(0, slash + 1) + backing;
}

/**
 * Opens an image, probing its format when none is given, and (unless openBacking is false) its
 * whole backing chain, each layer read-only. Error messages are what QEMU prints after
 * `Could not open 'FILE': ` (the CLI adds that prefix); a host file that cannot be opened already
 * reads `Could not open 'FILE': <strerror>`, so the CLI's line shows it twice, as QEMU's does.
 */
export function openImage(path: string, options: OpenImageOptions = {}): BlockDriver {
  return openLayer(path, options, new Set());
}

function openLayer(path: string, options: OpenImageOptions, seen: Set<string>): BlockDriver {
  const readOnly = options.readOnly ?? false;
  refuseForceShareReadWrite(readOnly, options.forceShare);
  let format = options.format;
  let file: HostFile | undefined;
  if (format === undefined) {
    // Probed through the descriptor the image is then opened on (opening and locking a file
    // twice costs a metadata-only command such as `check` a good part of its run).
    file = HostFile.open(path, readOnly, options.forceShare, options.againstOwn);
    try {
      format = probeFile(file);
    } catch (e) {
      file.close();
      throw e;
    }
  }
  const driver = driverFor(format);
  const identity = fileIdentity(path);
  if (identity) seen.add(identity);
  const backing: BackingOpener = (name, backingFormat, _readOnly) => {
    const resolved = resolveBackingName(path, name);
    const id = fileIdentity(resolved);
    if (id && seen.has(id)) throw new ImageError(`Backing file '${name}' creates an infinite loop.`);
    try {
      return openLayer(
        resolved,
        { format: backingFormat, readOnly: true, openBacking: true, forceShare: options.forceShare },
        seen,
      );
    } catch (e) {
      if (e instanceof ImageError) {
        throw new ImageError(`Could not open backing file: ${e.message}`, { cause: e });
      }
      throw e;
    }
  };
  return driver.open(path, options, backing, file);
}

function refuseForceShareReadWrite(readOnly: boolean, forceShare: boolean | undefined): void {
  if (forceShare && !readOnly) throw new ImageError("force-share=on can only be used with read-only images");
}

/** A device:inode key, so the same file reached by two names is one layer. */
function fileIdentity(path: string): string | undefined {
  try {
    const st = Deno.statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
