/**
 * How qemu-system reports: error_report() lines are `PROG: [-opt arg: ]text`, hints appended by
 * error_append_hint() and some legacy fprintf()s (`qemu: could not open kernel file ...`) are
 * printed as they are. A CliError carries those lines and the exit status; the entry point prints
 * them with the program name taken from argv[0], as QEMU does.
 */

export interface ReportLine {
  text: string;
  /** The `-opt arg` QEMU was parsing when it reported, or undefined for none. */
  location?: string;
  /** Printed verbatim, without the program-name prefix. */
  raw?: boolean;
}

export class CliError extends Error {
  readonly lines: ReportLine[];
  readonly exitCode: number;
  /** What QEMU had already printed on stdout when it failed (the monitor banner, say). */
  stdout?: string;
  constructor(lines: ReportLine[] | string, options: { location?: string; exitCode?: number } = {}) {
    const list = typeof lines === "string" ? [{ text: lines, location: options.location }] : lines;
    super(list.map((l) => l.text).join("\n"));
    this.lines = list;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** An error with a hint on the following lines, as error_append_hint() prints it. */
export function errorWithHint(text: string, hint: string, location?: string): CliError {
  return new CliError([{ text, location }, ...hint.split("\n").map((h) => ({ text: h, raw: true }))]);
}

/** A line that QEMU prints with a plain fprintf (no program name). */
export function rawError(text: string, exitCode = 1): CliError {
  return new CliError([{ text, raw: true }], { exitCode });
}

export function formatLine(prog: string, line: ReportLine): string {
  if (line.raw) return line.text;
  return `${prog}: ${line.location ? `${line.location}: ` : ""}${line.text}`;
}

/** Where warnings go (warn_report: `PROG: [loc: ]warning: text`); the CLI prints them at once. */
export type Warn = (text: string, location?: string, hint?: string) => void;
