/**
 * `-l snapshot_param` of `convert` and `measure`: either a bare id-or-name, or QemuOpts
 * `snapshot.id=ID,snapshot.name=NAME` parsed as qemu_opts_parse_noisily() parses
 * internal_snapshot_opts (with its warnings, `help`, the `id=` rule and the real messages), and
 * loading it with bdrv_snapshot_load_tmp()'s checks.
 */
import type { BlockDriver } from "../../lib/image/block_driver.ts";
import { LibError } from "../../lib/errors.ts";
import { splitOpts } from "./qemu_opts.ts";
import { CommandError, errorReport, writeErr, writeOut } from "./report.ts";

const SNAPSHOT_OPT_BASE = "snapshot.";

/** internal_snapshot_opts, as `help` prints it. */
const OPTIONS: [string, string][] = [["snapshot.id", "snapshot id"], ["snapshot.name", "snapshot name"]];

/** What `-l` selected: by id-or-name, or by the id and name options. */
export type SnapshotParam = { idOrName: string } | { id?: string; name?: string };

/** One `-l` argument; parse errors are reported and thrown as the real tool does at getopt time. */
export function parseSnapshotParam(arg: string): SnapshotParam {
  if (!arg.startsWith(SNAPSHOT_OPT_BASE)) return { idOrName: arg };
  const failed = () => new CommandError(`Failed in parsing snapshot param '${arg}'`);
  const words = splitOpts(arg).filter((w) => w !== "");
  const idWord = words.find((w) => w.startsWith("id="));
  if (idWord !== undefined && !/^[A-Za-z][A-Za-z0-9._-]*$/.test(idWord.slice(3))) {
    errorReport("Parameter 'id' expects an identifier");
    writeErr("Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.\n");
    throw failed();
  }
  const values: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf("=");
    let name = eq < 0 ? word : word.slice(0, eq);
    let value = eq < 0 ? "on" : word.slice(eq + 1);
    if (eq < 0) {
      if (name === "help" || name === "?") {
        writeOut(
          "snapshot options:\n" +
            OPTIONS.map(([n, help]) => `  ${`${n}=<str>`.padEnd(22)} - ${help}\n`).join(""),
        );
        throw failed();
      }
      const prefix = name.startsWith("no") ? "no" : "";
      if (prefix) [name, value] = [name.slice(2), "off"];
      errorReport(`warning: short-form boolean option '${prefix}${name}' deprecated`);
      writeErr(`Please use ${name}=${value} instead\n`);
    }
    if (name === "id") continue;
    if (!OPTIONS.some(([n]) => n === name)) {
      errorReport(`Invalid parameter '${name}'`);
      throw failed();
    }
    values[name] = value;
  }
  return { id: values["snapshot.id"], name: values["snapshot.name"] };
}

/**
 * bdrv_snapshot_load_tmp() (or its _by_id_or_name form, which tries the argument as an id, then
 * as a name) on an image opened read-only; failures read `Failed to load snapshot: ...`.
 */
export function loadSnapshotParam(bs: BlockDriver, param: SnapshotParam): void {
  const fail = (message: string) => new CommandError(`Failed to load snapshot: ${message}`);
  const load = (id: string | undefined, name: string | undefined) => {
    if (id === undefined && name === undefined) throw fail("snapshot_id and name are both NULL");
    if (!bs.snapshotLoadTemporary) {
      throw fail(
        `Block format '${bs.format}' used by device '' does not support temporarily loading internal snapshots`,
      );
    }
    bs.snapshotLoadTemporary(id, name);
  };
  try {
    if (!("idOrName" in param)) load(param.id, param.name);
    else {
      try {
        load(param.idOrName, undefined);
      } catch (e) {
        if (!(e instanceof LibError)) throw e;
        load(undefined, param.idOrName);
      }
    }
  } catch (e) {
    if (e instanceof LibError) throw fail(e.message);
    throw e;
  }
}
