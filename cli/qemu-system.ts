/**
 * qemu-system-x86_64 / qemu-system-i386 / qemu-system: the PC emulator's command line. Parses QEMU's
 * options (cli/qemu-system/parse.ts), builds the PC (lib/virt/machine/pc.ts) with the chosen
 * accelerator, runs it, and ends with QEMU's exit statuses and messages.
 *
 * The program name in messages follows argv[0] as QEMU's does. A Deno script's argv[0] is the
 * runtime, so installed wrappers pass their own name in QEMU_SYSTEM_ARGV0; the default is
 * qemu-system-x86_64.
 */
import { CliError, formatLine, type ReportLine } from "./qemu-system/cli_error.ts";
import { parseCommandLine, programFor } from "./qemu-system/parse.ts";
import { runInvocation } from "./qemu-system/run.ts";

function envArgv0(): string | undefined {
  try {
    return Deno.env.get("QEMU_SYSTEM_ARGV0");
  } catch {
    return undefined;
  }
}

/** Where the process's own messages go; tests pass collectors. */
export interface ProcessIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const encoder = new TextEncoder();
const STDIO: ProcessIo = {
  stdout: (text) => void Deno.stdout.writeSync(encoder.encode(text)),
  stderr: (text) => void Deno.stderr.writeSync(encoder.encode(text)),
};

export async function main(
  args: string[],
  argv0 = envArgv0() ?? "qemu-system-x86_64",
  io: ProcessIo = STDIO,
): Promise<number> {
  const program = programFor(argv0);
  const report = (lines: ReportLine[]) =>
    io.stderr(lines.map((l) => formatLine(program.name, l) + "\n").join(""));
  const warn = (text: string, location?: string, hint?: string) =>
    report([{ text: `warning: ${text}`, location }, ...(hint ? [{ text: hint, raw: true }] : [])]);
  try {
    const parsed = parseCommandLine(args, program, warn);
    if (parsed.kind === "print") {
      io.stdout(parsed.stdout);
      return parsed.exitCode;
    }
    return await runInvocation(parsed, program, { report, warn });
  } catch (error) {
    if (error instanceof CliError) {
      if (error.stdout) io.stdout(error.stdout);
      report(error.lines);
      return error.exitCode;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
