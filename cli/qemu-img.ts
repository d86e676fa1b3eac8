/**
 * qemu-img: the entry point. Parses the standard options (`-h`, `-V`, `-T`), finds the
 * subcommand, runs it, and turns what it throws into the real tool's message and exit status.
 * Everything under cli/qemu-img/ is one subcommand or a helper they share.
 */
import { LibError } from "../lib/errors.ts";
import { loadCodecs } from "../lib/image/qcow2/compress.ts";
import { HelpRequested } from "./qemu-img/command.ts";
import { COMMANDS } from "./qemu-img/commands/mod.ts";
import { getoptLong } from "./qemu-img/getopt.ts";
import { helpText, VERSION_TEXT } from "./qemu-img/help.ts";
import { formatNames } from "./qemu-img/images.ts";
import { CommandError, ExitStatus, formatError, UsageError, writeErr, writeOut } from "./qemu-img/report.ts";

export async function main(args: string[]): Promise<number> {
  try {
    const argv = ["qemu-img", ...args];
    if (argv.length < 2) throw new UsageError("Not enough arguments");
    const { options, operands } = getoptLong(argv, "+:hVT:", [
      { name: "help", arg: "none", key: "h" },
      { name: "version", arg: "none", key: "V" },
      { name: "trace", arg: "required", key: "T" },
    ]);
    for (const o of options) {
      if (o.key === "h") throw new HelpRequested();
      if (o.key === "V") {
        writeOut(VERSION_TEXT);
        return 0;
      }
    }
    if (operands.length === 0) throw new UsageError("Not enough arguments");
    if (!Object.hasOwn(COMMANDS, operands[0])) throw new UsageError(`Command not found: ${operands[0]}`);
    const entry = COMMANDS[operands[0]];
    const [command] = await Promise.all([entry.load(), entry.data ? loadCodecs() : undefined]);
    return await command(operands);
  } catch (e) {
    if (e instanceof HelpRequested) {
      writeOut(helpText(formatNames()));
      return 0;
    }
    if (e instanceof ExitStatus) return e.status;
    if (e instanceof CommandError) {
      writeErr(formatError(e));
      return e.status;
    }
    if (e instanceof LibError) {
      writeErr(`qemu-img: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
