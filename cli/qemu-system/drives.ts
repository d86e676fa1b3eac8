/**
 * Opens the drives of a command line as QEMU's block layer does at startup: the file must open
 * (read-write unless read-only), the format is probed when not given (with QEMU's warning when
 * probing says raw), and `-snapshot`/`snapshot=on` drives are marked for a throw-away overlay.
 */
import type { DriveConfig } from "../../lib/virt/machine/config.ts";
import { CliError } from "./cli_error.ts";
import { hostStrerror } from "./host_errors.ts";
import type { Invocation } from "./parse.ts";

export interface OpenDrive {
  config: DriveConfig;
  format: "raw" | "qcow2";
  /** Writes go to a temporary overlay (dropped at exit) rather than the file. */
  snapshot: boolean;
}

const QCOW2_MAGIC = [0x51, 0x46, 0x49, 0xfb];

function probe(path: string): "raw" | "qcow2" {
  const file = Deno.openSync(path, { read: true });
  try {
    const head = new Uint8Array(4);
    const n = file.readSync(head) ?? 0;
    return n === 4 && QCOW2_MAGIC.every((b, i) => head[i] === b) ? "qcow2" : "raw";
  } finally {
    file.close();
  }
}

/** `printRaw` prints lines without the program name (QEMU's block-layer WARNING). */
export function openDrives(invocation: Invocation, printRaw: (lines: string[]) => void): OpenDrive[] {
  const opened: OpenDrive[] = [];
  invocation.config.drives.forEach((drive, i) => {
    const location = invocation.driveLocations[i];
    if (drive.file === "") return; // an empty CD-ROM drive
    const snapshot = drive.snapshot || invocation.config.snapshot;
    try {
      const file = Deno.openSync(drive.file, { read: true, write: !drive.readOnly && !snapshot });
      if (file.statSync().isDirectory) throw Object.assign(new Error("dir"), { code: "EISDIR" });
      file.close();
    } catch (e) {
      throw new CliError(`Could not open '${drive.file}': ${hostStrerror(e)}`, { location });
    }
    let format = drive.format;
    if (format === undefined) {
      format = probe(drive.file);
      if (format === "raw") {
        printRaw([
          `WARNING: Image format was not specified for '${drive.file}' and probing guessed raw.`,
          "         Automatically detecting the format is dangerous for raw images, " +
          "write operations on block 0 will be restricted.",
          "         Specify the 'raw' format explicitly to remove the restrictions.",
        ]);
      }
    }
    opened.push({ config: drive, format, snapshot });
  });
  return opened;
}
