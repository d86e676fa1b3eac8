/**
 * QEMU's human rendering of internal snapshots (bdrv_snapshot_dump) and of sizes (size_to_str),
 * shared by `qemu-img snapshot -l`/`info` and the monitor's `info snapshots`.
 */
import type { SnapshotInfo } from "./block_driver.ts";

/** size_to_str(): `192 KiB`, `1.5 GiB`, with three significant digits as QEMU prints them. */
export function sizeToStr(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let i = 0;
  let v = bytes;
  // QEMU picks the unit where the value is below 1000 (not 1024), so 1000 KiB shows as 0.977 MiB.
  while (v >= 1000 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${bytes} B`;
  return `${g3(v)} ${units[i]}`;
}

/** printf("%0.3g"). */
function g3(v: number): string {
  const s = v.toPrecision(3);
  if (s.includes("e")) return String(Number(s));
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

/** bdrv_snapshot_dump()'s header line. */
export const SNAPSHOT_HEADER = "ID".padEnd(10) + "TAG".padEnd(17) + "VM SIZE".padStart(8) +
  "DATE".padStart(20) + "VM CLOCK".padStart(13) + "ICOUNT".padStart(11);

const two = (n: number) => String(n).padStart(2, "0");

/** bdrv_snapshot_dump() for one snapshot (no newline). The date is local time, as g_date_time_new_from_unix_local. */
export function snapshotLine(sn: SnapshotInfo): string {
  const d = new Date(sn.dateSec * 1000);
  const date = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  const secs = Math.floor(sn.vmClockNs / 1e9);
  const clock = `${two(Math.floor(secs / 3600))}:${two(Math.floor(secs / 60) % 60)}:${two(secs % 60)}.` +
    String(Math.floor(sn.vmClockNs / 1e6) % 1000).padStart(3, "0");
  const icount = sn.icount === undefined ? "" : String(sn.icount);
  return `${sn.id.padEnd(9)} ${sn.name.padEnd(16)} ${sizeToStr(sn.vmStateSize).padStart(8)}` +
    `${date.padStart(20)}${clock.padStart(13)}${icount.padStart(11)}`;
}
