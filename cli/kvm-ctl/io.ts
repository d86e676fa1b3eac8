/**
 * What every kvm-ctl command shares: synchronous stdout/stderr, kmod's log_printf (the
 * `<prog>: <LEVEL>: <msg>` lines, priorities, and exit(1) right after a FATAL), and the context
 * a command runs in (its state root opened lazily, so --help never touches the state).
 */
import { ModuleSystem } from "../../lib/virt/modules/system.ts";

const encoder = new TextEncoder();

function writeAll(file: typeof Deno.stdout, text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
}

export const out = (text: string): void => writeAll(Deno.stdout, text);
export const err = (text: string): void => writeAll(Deno.stderr, text);

/** Thrown to end the command with a status (kmod's exit() from inside log_printf). */
export class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** syslog priorities, as kmod compares them. */
export const LOG = { EMERG: 0, CRIT: 2, ERR: 3, WARNING: 4, NOTICE: 5, INFO: 6, DEBUG: 7 } as const;

const NAMES: Record<number, string> = {
  2: "FATAL",
  3: "ERROR",
  4: "WARNING",
  5: "NOTICE",
  6: "INFO",
  7: "DEBUG",
};

/** tools/log.c: messages above the threshold are dropped, and so is the exit that follows them. */
export class KmodLog {
  constructor(readonly prog: string, public threshold: number = LOG.WARNING) {}

  printf(prio: number, msg: string): void {
    if (prio > this.threshold) return;
    err(`${this.prog}: ${NAMES[prio] ?? `LOG-${prio.toString().padStart(3, "0")}`}: ${msg}`);
    if (prio <= LOG.CRIT) throw new Exit(1);
  }
  error(msg: string): void {
    this.printf(LOG.ERR, msg);
  }
  warn(msg: string): void {
    this.printf(LOG.WARNING, msg);
  }
}

export interface Context {
  /** The --root flag, if given. */
  rootFlag?: string;
  system(): ModuleSystem;
}

/** `kmod version` output, as Ubuntu 24.04's kmod 31 prints it. */
export const KMOD_VERSION = "kmod version 31\n+ZSTD +XZ -ZLIB +LIBCRYPTO -EXPERIMENTAL\n";
