/**
 * What the tests need from the machine: which peer tools are installed, and a helper that runs one
 * of our CLIs as a subprocess with exactly the permissions its deno.json task grants.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function installed(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function onPath(command: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && installed(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/** The real tools, by absolute path, so an installed wrapper of ours can never stand in for them. */
export const REAL_QEMU_IMG = installed("/usr/bin/qemu-img") ? "/usr/bin/qemu-img" : undefined;
export const REAL_QEMU_IO = installed("/usr/bin/qemu-io") ? "/usr/bin/qemu-io" : undefined;
export const REAL_QEMU_I386 = installed("/usr/bin/qemu-system-i386")
  ? "/usr/bin/qemu-system-i386"
  : undefined;
export const SEABIOS = installed("/usr/share/seabios/bios.bin") ? "/usr/share/seabios/bios.bin" : undefined;
export const NASM = onPath("nasm");

/**
 * SeaBIOS's serial console prints progress dots while it waits, and sends cursor moves lazily from its
 * timer: the line break after "Booting from ...", written as a teletype CR then LF, reaches the serial
 * port as nothing, "\r" or "\r\n" depending on which timer tick came before the boot sector's CLI.
 * So "Booting from ..." lines are timing-dependent; this folds them to one form.
 */
export const SEABIOS_BOOTING = /Booting from Hard Disk\.\.+(\r\n?)?Hello from the boot sector\./;

export function foldSeabiosProgress(text: string): string {
  return text.replace(/(Booting from [^.\r\n]+)\.+(\r\n?)?/g, "$1...");
}

/** qemu-system arguments for a headless guest that prints on COM1 (stdout) and ends through isa-debug-exit. */
export const HEADLESS_DEBUG_EXIT: readonly string[] = [
  "-display",
  "none",
  "-serial",
  "stdio",
  "-device",
  "isa-debug-exit,iobase=0xf4,iosize=0x04",
];

/** Test-name suffix that says why a test is skipped, so the skip shows up by name. */
export function skipReason(missing: string | undefined, what: string): string {
  return missing ? "" : ` (skipped: ${what} not installed)`;
}

const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync(join(PROJECT, "deno.json"))).tasks;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The `deno` arguments of a tool's deno.json task (`run --quiet`, its permissions, its entry point). */
export function cliRunArgs(tool: "qemu-img" | "kvm-ctl" | "qemu-system"): string[] {
  const words = tasks[tool].split(/\s+/).slice(2).map((w) => (w.startsWith("cli/") ? join(PROJECT, w) : w));
  return ["run", "--quiet", ...words];
}

/**
 * Runs `deno task`'s command for a tool (`qemu-img`, `kvm-ctl`, `qemu-system`) without the task
 * runner, so stdout and stderr are exactly the tool's. cwd defaults to the project.
 */
export async function runCli(
  tool: "qemu-img" | "kvm-ctl" | "qemu-system",
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: string } = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...cliRunArgs(tool), ...args],
    cwd: options.cwd ?? PROJECT,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
