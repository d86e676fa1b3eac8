/**
 * From a parsed command line to a running PC: opens what the options name (log file, pidfile,
 * accelerator, chardevs, drives, firmware, kernel) in QEMU's order and with its messages, then
 * hands the board to the run loop and turns how the guest ended into the process exit status.
 */
import { AccelInitError } from "../../lib/virt/accel/accel.ts";
import { openKvm } from "../../lib/virt/accel/kvm.ts";
import type { AccelName } from "../../lib/virt/machine/config.ts";
import { CliError, type ReportLine, type Warn } from "./cli_error.ts";
import { hostStrerror } from "./host_errors.ts";
import { runMachine } from "./machine_runner.ts";
import type { Invocation, Program } from "./parse.ts";

export interface Reporter {
  report(lines: ReportLine[]): void;
  warn: Warn;
}

/** Things to undo when the process ends (pidfile removal, temporary overlays). */
export class Cleanup {
  private readonly actions: (() => void)[] = [];
  add(action: () => void): void {
    this.actions.push(action);
  }
  run(): void {
    for (const action of this.actions.splice(0).reverse()) {
      try {
        action();
      } catch { /* best effort at exit, as QEMU's atexit handlers */ }
    }
  }
}

export function openLogFile(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, { write: true, create: true, truncate: true });
  } catch (e) {
    throw new CliError(`Error opening logfile ${path}: ${hostStrerror(e)}`);
  }
}

export function writePidfile(path: string, cleanup: Cleanup): void {
  try {
    Deno.writeTextFileSync(path, `${Deno.pid}\n`);
  } catch (e) {
    throw new CliError(`cannot create PID file: Could not create '${path}': ${hostStrerror(e)}`);
  }
  cleanup.add(() => Deno.removeSync(path));
}

/** Picks the first accelerator that initialises, reporting the failures as QEMU does. */
export function chooseAccel(invocation: Invocation, reporter: Reporter): AccelName {
  const accels = invocation.config.accel;
  for (let i = 0; i < accels.length; i++) {
    const name = accels[i];
    if (name === "tcg") return name;
    try {
      // The machine opens its own handle once the board (and its clock) exists.
      openKvm().close();
      return name;
    } catch (e) {
      if (!(e instanceof AccelInitError)) throw e;
      const lines: ReportLine[] = [];
      if (e.detail) lines.push({ text: e.detail, raw: true });
      lines.push({ text: `failed to initialize ${name}: ${e.strerror}`, location: invocation.accelLocation });
      if (i + 1 < accels.length) {
        lines.push({ text: `falling back to ${accels[i + 1]}` });
        reporter.report(lines);
        continue;
      }
      throw new CliError(lines);
    }
  }
  return "tcg";
}

/**
 * Reads the -kernel file with the x86 loader's two messages: fopen failing ("could not open"), or
 * the size/header read failing ("could not load"; an empty file reports the stale errno, ENOENT).
 */
export function readKernel(path: string): Uint8Array {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw new CliError([{
      text: `qemu: could not open kernel file '${path}': ${hostStrerror(e)}`,
      raw: true,
    }]);
  }
  try {
    const data = Deno.readFileSync(path);
    if (data.length === 0) throw Object.assign(new Error("empty"), { code: "ENOENT" });
    return data;
  } catch (e) {
    throw new CliError([{ text: `qemu: could not load kernel '${path}': ${hostStrerror(e)}`, raw: true }]);
  } finally {
    file.close();
  }
}

export function readBios(path: string): Uint8Array {
  try {
    const image = Deno.readFileSync(path);
    if (image.length === 0 || image.length % 65536 !== 0 || image.length > 16 << 20) throw new Error("size");
    return image;
  } catch {
    throw new CliError([{ text: `qemu: could not load PC BIOS '${path}'`, raw: true }]);
  }
}

export async function runInvocation(
  invocation: Invocation,
  program: Program,
  reporter: Reporter,
): Promise<number> {
  const cleanup = new Cleanup();
  try {
    const config = invocation.config;
    let log: Deno.FsFile | undefined;
    if (config.log.size && config.logFile !== undefined) log = openLogFile(config.logFile);
    if (log) cleanup.add(() => log!.close());
    if (config.pidfile !== undefined) writePidfile(config.pidfile, cleanup);
    const accel = chooseAccel(invocation, reporter);
    return await runMachine({ invocation, program, reporter, cleanup, accel, log });
  } finally {
    cleanup.run();
  }
}
