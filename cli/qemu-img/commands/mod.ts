/**
 * The subcommand table: qemu-img's img_cmds[]. Each command's module is loaded only when it
 * runs, so a quick `info` or `check` does not pay for parsing convert's engine. The compression
 * codecs (node:zlib, whose loading costs more than a metadata-only command's own work) are loaded
 * only for the commands that read or write guest data, which may meet compressed clusters.
 */
import type { Command } from "../command.ts";

export interface CommandEntry {
  load: () => Promise<Command>;
  /** Reads or writes guest data (not only metadata), so it needs the codecs. */
  data: boolean;
}

export const COMMANDS: Record<string, CommandEntry> = {
  amend: { load: async () => (await import("./amend.ts")).amend, data: false },
  bench: { load: async () => (await import("./bench.ts")).bench, data: true },
  check: { load: async () => (await import("./check.ts")).check, data: false },
  commit: { load: async () => (await import("./commit.ts")).commit, data: true },
  compare: { load: async () => (await import("./compare.ts")).compare, data: true },
  convert: { load: async () => (await import("./convert.ts")).convert, data: true },
  create: { load: async () => (await import("./create.ts")).create, data: false },
  dd: { load: async () => (await import("./dd.ts")).dd, data: true },
  info: { load: async () => (await import("./info.ts")).info, data: false },
  map: { load: async () => (await import("./map.ts")).map, data: false },
  measure: { load: async () => (await import("./measure.ts")).measure, data: false },
  snapshot: { load: async () => (await import("./snapshot.ts")).snapshot, data: false },
  rebase: { load: async () => (await import("./rebase.ts")).rebase, data: true },
  resize: { load: async () => (await import("./resize.ts")).resize, data: false },
};
