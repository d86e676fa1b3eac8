/**
 * The subcommand table: qemu-img's img_cmds[]. Each command's module is loaded only when it
 * runs, so a quick `info` or `check` does not pay for parsing convert's engine and compressors.
 */
import type { Command } from "../command.ts";

export const COMMANDS: Record<string, () => Promise<Command>> = {
  amend: async () => (await import("./amend.ts")).amend,
  bench: async () => (await import("./bench.ts")).bench,
  check: async () => (await import("./check.ts")).check,
  commit: async () => (await import("./commit.ts")).commit,
  compare: async () => (await import("./compare.ts")).compare,
  convert: async () => (await import("./convert.ts")).convert,
  create: async () => (await import("./create.ts")).create,
  dd: async () => (await import("./dd.ts")).dd,
  info: async () => (await import("./info.ts")).info,
  map: async () => (await import("./map.ts")).map,
  measure: async () => (await import("./measure.ts")).measure,
  snapshot: async () => (await import("./snapshot.ts")).snapshot,
  rebase: async () => (await import("./rebase.ts")).rebase,
  resize: async () => (await import("./resize.ts")).resize,
};
