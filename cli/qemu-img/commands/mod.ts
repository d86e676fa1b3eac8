/** The subcommand table: qemu-img's img_cmds[]. */
import type { Command } from "../command.ts";
import { amend } from "./amend.ts";
import { bench } from "./bench.ts";
import { check } from "./check.ts";
import { commit } from "./commit.ts";
import { compare } from "./compare.ts";
import { convert } from "./convert.ts";
import { create } from "./create.ts";
import { dd } from "./dd.ts";
import { info } from "./info.ts";
import { map } from "./map.ts";
import { measure } from "./measure.ts";
import { rebase } from "./rebase.ts";
import { resize } from "./resize.ts";
import { snapshot } from "./snapshot.ts";

export const COMMANDS: Record<string, Command> = {
  amend,
  bench,
  check,
  commit,
  compare,
  convert,
  create,
  dd,
  info,
  map,
  measure,
  snapshot,
  rebase,
  resize,
};
