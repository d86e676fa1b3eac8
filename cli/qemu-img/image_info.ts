/**
 * ImageInfo as QEMU's QAPI builds it (bdrv_query_image_info) and its two renderings: the JSON
 * document and bdrv_image_info_dump()'s human text, including the snapshot table and the
 * `Format specific information:` dump (dashes in key names become spaces).
 */
import type { ImageInfo, SnapshotInfo } from "../../lib/image/block_driver.ts";
import { backingPath } from "./commands/create.ts";
import { qdictKeys, type QValue } from "./qjson.ts";
import { sizeToStr, SNAPSHOT_HEADER, snapshotLine } from "../../lib/image/snapshot_dump.ts";

export { SNAPSHOT_HEADER, snapshotLine };

/** SnapshotInfo in QAPI field order. */
export function snapshotQapi(sn: SnapshotInfo): QValue {
  return {
    id: sn.id,
    name: sn.name,
    "vm-state-size": sn.vmStateSize,
    "date-sec": sn.dateSec,
    "date-nsec": sn.dateNsec,
    "vm-clock-sec": Math.floor(sn.vmClockNs / 1e9),
    "vm-clock-nsec": sn.vmClockNs % 1e9,
    icount: sn.icount,
  };
}

/** ImageInfo in QAPI field order; absent optional members are undefined. */
export function imageInfoQapi(info: ImageInfo): { [key: string]: QValue | undefined } {
  const full = info.backingFilename === undefined
    ? undefined
    : info.fullBackingFilename ?? backingPath(info.filename, info.backingFilename);
  return {
    filename: info.filename,
    format: info.format,
    "dirty-flag": info.dirty,
    "actual-size": info.actualSize,
    "virtual-size": info.virtualSize,
    "cluster-size": info.clusterSize || undefined,
    encrypted: info.encrypted ? true : undefined,
    "backing-filename": info.backingFilename,
    "full-backing-filename": full,
    "backing-filename-format": info.backingFormat,
    snapshots: info.snapshots.length > 0 ? info.snapshots.map(snapshotQapi) : undefined,
    "format-specific": info.formatSpecific
      ? { type: info.formatSpecific.type, data: info.formatSpecific.data as QValue }
      : undefined,
  };
}

/** bdrv_image_info_dump(). */
export function imageInfoHuman(info: ImageInfo): string {
  const q = imageInfoQapi(info);
  let out = `image: ${info.filename}\nfile format: ${info.format}\n` +
    `virtual size: ${sizeToStr(info.virtualSize)} (${info.virtualSize} bytes)\n` +
    `disk size: ${sizeToStr(info.actualSize)}\n`;
  if (info.encrypted) out += "encrypted: yes\n";
  if (info.clusterSize) out += `cluster_size: ${info.clusterSize}\n`;
  if (info.dirty) out += "cleanly shut down: no\n";
  if (info.backingFilename !== undefined) {
    out += `backing file: ${info.backingFilename}`;
    const full = q["full-backing-filename"] as string;
    if (full !== info.backingFilename) out += ` (actual path: ${full})`;
    out += "\n";
  }
  if (info.backingFormat !== undefined) out += `backing file format: ${info.backingFormat}\n`;
  if (info.snapshots.length > 0) {
    out += `Snapshot list:\n${SNAPSHOT_HEADER}\n`;
    for (const sn of info.snapshots) out += snapshotLine(sn) + "\n";
  }
  if (info.formatSpecific) {
    out += "Format specific information:\n" + dumpQobject(1, info.formatSpecific.data as QValue);
  }
  return out;
}

/** dump_qobject()/dump_qdict()/dump_qlist() from block/qapi.c. */
function dumpQobject(indent: number, value: QValue): string {
  if (Array.isArray(value)) {
    return value.map((v, i) => {
      const composite = typeof v === "object" && v !== null;
      return `${" ".repeat(indent * 4)}[${i}]:${composite ? "\n" : " "}${dumpQobject(indent + 1, v)}`;
    }).join("");
  }
  if (typeof value === "object" && value !== null) {
    const dict = value as Record<string, QValue | undefined>;
    return qdictKeys(Object.keys(dict).filter((k) => dict[k] !== undefined)).map((k) => {
      const v = dict[k]!;
      const composite = typeof v === "object" && v !== null;
      return `${" ".repeat(indent * 4)}${k.replaceAll("-", " ")}:${composite ? "\n" : " "}${
        dumpQobject(indent + 1, v)
      }`;
    }).join("");
  }
  return `${value}\n`;
}
