/**
 * Opens the drives of a command line as QEMU's block layer does at startup: through lib/image's
 * registry (probing the format when none is given, with QEMU's warning when probing says raw),
 * read-write unless read-only, and for `-snapshot`/`snapshot=on` drives behind a temporary qcow2
 * overlay whose backing file is the image: the guest's writes land in the overlay, which is
 * deleted at exit, so the image is never written.
 */
import { resolve } from "node:path";
import type { BlockDriver } from "../../lib/image/block_driver.ts";
import { ImageError } from "../../lib/image/block_driver.ts";
import { createImage, openImage, probeFormat } from "../../lib/image/formats.ts";
import type { DriveConfig } from "../../lib/virt/machine/config.ts";
import { CliError } from "./cli_error.ts";
import type { Invocation } from "./parse.ts";
import type { Cleanup } from "./run.ts";

export interface OpenDrive {
  config: DriveConfig;
  driver: BlockDriver;
}

function open(
  path: string,
  options: { format?: string; readOnly: boolean; unmap?: boolean },
  location: string,
): BlockDriver {
  try {
    return openImage(path, options);
  } catch (e) {
    if (e instanceof ImageError) throw new CliError(e.message, { location });
    throw e;
  }
}

/** `printRaw` prints lines without the program name (the block layer's WARNING). */
export function openDrives(
  invocation: Invocation,
  printRaw: (lines: string[]) => void,
  cleanup: Cleanup,
): OpenDrive[] {
  const opened: OpenDrive[] = [];
  invocation.config.drives.forEach((drive, i) => {
    const location = invocation.driveLocations[i];
    if (drive.file === "") return; // an empty CD-ROM drive
    const snapshot = drive.snapshot || invocation.config.snapshot;
    try {
      if (Deno.statSync(drive.file).isDirectory) {
        throw new CliError(`'file' driver requires '${drive.file}' to be a regular file`, { location });
      }
    } catch (e) {
      if (e instanceof CliError) throw e; // a missing file is reported by the open below
    }
    let format: string | undefined = drive.format;
    if (format === undefined) {
      try {
        format = probeFormat(drive.file, drive.readOnly || snapshot);
      } catch (e) {
        if (e instanceof ImageError) throw new CliError(e.message, { location });
        throw e;
      }
      // The warning is about writes to block 0: QEMU gives it only for images it will write.
      if (format === "raw" && !drive.readOnly && !snapshot) {
        printRaw([
          `WARNING: Image format was not specified for '${drive.file}' and probing guessed raw.`,
          "         Automatically detecting the format is dangerous for raw images, " +
          "write operations on block 0 will be restricted.",
          "         Specify the 'raw' format explicitly to remove the restrictions.",
        ]);
      }
    }
    let driver = open(
      drive.file,
      { format, readOnly: drive.readOnly || snapshot, unmap: drive.unmap },
      location,
    );
    if (snapshot && !drive.readOnly) {
      const overlay = Deno.makeTempFileSync({ prefix: "vl.", dir: Deno.env.get("TMPDIR") ?? "/var/tmp" });
      cleanup.add(() => Deno.removeSync(overlay));
      const size = driver.size;
      driver.close();
      createImage(overlay, "qcow2", { size, backingFile: resolve(drive.file), backingFormat: format });
      driver = open(overlay, { format: "qcow2", readOnly: false, unmap: drive.unmap }, location);
    }
    const final = driver;
    cleanup.add(() => {
      if (!drive.readOnly && !snapshot) final.flush();
      final.close();
    });
    opened.push({ config: drive, driver });
  });
  return opened;
}
