/** `qemu-img snapshot -l/-c/-a/-d`: img_snapshot() over the driver's snapshot operations. */
import { LibError } from "../../../lib/errors.ts";
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, parseCommand } from "../command.ts";
import { SNAPSHOT_HEADER, snapshotLine } from "../image_info.ts";
import { withImage } from "../images.ts";
import { snapshotApply, snapshotCreate, snapshotDelete } from "../../../lib/image/ops/capabilities.ts";
import { errorReport, UsageError, writeOut } from "../report.ts";

type Action = "list" | "apply" | "create" | "delete";
const ACTIONS: Record<string, Action> = { l: "list", a: "apply", c: "create", d: "delete" };

export function snapshot(argv: string[]): number {
  const opts = parseCommand(argv, ":la:c:d:f:hqU", [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE]);
  let action: Action | undefined;
  let name = "";
  for (const o of opts.list) {
    if (!ACTIONS[o.key]) continue;
    if (action) throw new UsageError("Cannot mix '-l', '-a', '-c', '-d'");
    action = ACTIONS[o.key];
    name = o.value ?? "";
  }
  if (opts.operands.length !== 1) throw new UsageError("Expecting one image file name");
  const readOnly = action === "list";
  return withImage(opts.operands[0], { format: opts.get("f"), readOnly, forceShare: opts.has("U") }, (bs) => {
    switch (action) {
      case "list": {
        const list = bs.info().snapshots;
        if (list.length > 0) {
          writeOut(`Snapshot list:\n${SNAPSHOT_HEADER}\n${list.map((s) => snapshotLine(s) + "\n").join("")}`);
        }
        return 0;
      }
      case "create": {
        try {
          if (!snapshotCreate(bs, name, Date.now())) {
            errorReport(`Could not create snapshot '${name}': -95 (Operation not supported)`);
            return 1;
          }
        } catch (e) {
          if (!(e instanceof LibError)) throw e;
          errorReport(`Could not create snapshot '${name}': ${errnoText(e)}`);
          return 1;
        }
        return 0;
      }
      case "apply":
        if (!bs.info().snapshots.some((s) => s.id === name || s.name === name)) {
          errorReport(
            `Could not apply snapshot '${name}': Failed to load snapshot: No such file or directory`,
          );
          return 1;
        }
        try {
          if (!snapshotApply(bs, name)) {
            throw new LibError("Failed to load snapshot: Operation not supported");
          }
        } catch (e) {
          if (!(e instanceof LibError)) throw e;
          errorReport(`Could not apply snapshot '${name}': ${e.message}`);
          return 1;
        }
        return 0;
      case "delete": {
        const found = bs.info().snapshots.find((s) => s.id === name) ??
          bs.info().snapshots.find((s) => s.name === name);
        if (!found) {
          errorReport(`Could not delete snapshot '${name}': snapshot not found`);
          return 1;
        }
        try {
          if (!snapshotDelete(bs, found.id)) throw new LibError("Operation not supported");
        } catch (e) {
          if (!(e instanceof LibError)) throw e;
          errorReport(`Could not delete snapshot '${name}': ${e.message}`);
          return 1;
        }
        return 0;
      }
      default:
        return 0;
    }
  });
}

/** `-errno (strerror)` as img_snapshot() words a failed create. */
function errnoText(e: LibError): string {
  const errno = (e as { errno?: number }).errno;
  return errno ? `-${errno} (${e.message})` : e.message;
}
