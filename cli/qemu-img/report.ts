/**
 * How qemu-img fails: error_report() prints `qemu-img: MESSAGE` on stderr, error_exit() adds the
 * `Try 'qemu-img --help'` hint. Commands throw these; cli/qemu-img.ts prints them and exits.
 */

/** A message the real tool prints with error_report() before it exits with `status`. */
export class CommandError extends Error {
  /** `newline: false` for the few messages whose last hint line the real tool leaves unterminated. */
  constructor(message: string, readonly status = 1, readonly newline = true) {
    super(message);
  }
}

/** A bad command line: error_exit(), always status 1, with the `--help` hint. */
export class UsageError extends CommandError {}

/** Lines already printed; the command only needs to exit with `status`. */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}

const encoder = new TextEncoder();

/** Where output goes: the process's stdout and stderr, or a capture (tests run the CLI in-process). */
let sink = {
  out: (text: string) => writeAll(Deno.stdout, encoder.encode(text)),
  err: (text: string) => writeAll(Deno.stderr, encoder.encode(text)),
};

export function writeOut(text: string): void {
  sink.out(text);
}

export function writeErr(text: string): void {
  sink.err(text);
}

/** Runs fn with stdout and stderr collected into strings. */
export async function captureOutput<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; stdout: string; stderr: string }> {
  const saved = sink;
  let stdout = "";
  let stderr = "";
  sink = { out: (t) => void (stdout += t), err: (t) => void (stderr += t) };
  try {
    const result = await fn();
    return { result, stdout, stderr };
  } finally {
    sink = saved;
  }
}

function writeAll(stream: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += stream.writeSync(bytes.subarray(done));
}

/** error_report(): `qemu-img: ` before each message. */
export function errorReport(message: string): void {
  writeErr(`qemu-img: ${message}\n`);
}

/** Text for a thrown CommandError. */
export function formatError(e: CommandError): string {
  const hint = e instanceof UsageError ? "Try 'qemu-img --help' for more information\n" : "";
  return `qemu-img: ${e.message}${e.newline ? "\n" : ""}${hint}`;
}
