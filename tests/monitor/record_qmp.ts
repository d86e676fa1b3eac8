/**
 * Records the golden QMP transcript from Debian's qemu-system-i386 running the counter guest:
 *   deno run --allow-read --allow-write --allow-run --allow-net tests/monitor/record_qmp.ts [GOLDEN]
 * writes tests/monitor/golden/*.json (greeting plus every step's replies and events), or only the
 * one named, e.g. qmp_snapshots.json (with a fresh qcow2 disk, node disk0, and count_print.bin).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  HMP_LINES,
  hmpSteps,
  LineReader,
  playSteps,
  QMP_MALFORMED,
  QMP_STEPS,
  SNAPSHOT_SETTLE_MS,
  SNAPSHOT_STEPS,
} from "./qmp_script.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const counter = join(here, "..", "guests", "monitor", "counter.bin");
const countPrint = join(here, "..", "guests", "monitor", "count_print.bin");

export interface RecordOptions {
  negotiate?: boolean;
  binary?: string;
  guest?: string;
  /** A fresh 64 MiB qcow2 disk, node disk0, for the snapshot steps. */
  disk?: boolean;
  settleMs?: number;
}

export async function recordReal(steps: string[], options: RecordOptions = {}) {
  const { negotiate = false, binary = "/usr/bin/qemu-system-i386", guest = counter } = options;
  const dir = Deno.makeTempDirSync({ prefix: "qmp-rec-" });
  const disk = join(dir, "disk.qcow2");
  if (options.disk) {
    new Deno.Command("qemu-img", { args: ["create", "-q", "-f", "qcow2", disk, "64M"] }).outputSync();
  }
  const sock = join(dir, "qmp.sock");
  const child = new Deno.Command(binary, {
    args: [
      "-display",
      "none",
      "-serial",
      "null",
      "-kernel",
      guest,
      "-qmp",
      `unix:${sock},server=on,wait=off`,
      ...(options.disk ? ["-drive", `file=${disk},format=qcow2,if=ide,node-name=disk0`] : []),
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    let conn: Deno.UnixConn | undefined;
    for (let i = 0; i < 100 && !conn; i++) {
      try {
        conn = await Deno.connect({ transport: "unix", path: sock });
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (!conn) throw new Error("qemu's QMP socket never appeared");
    const reader = new LineReader(conn);
    const greeting = await reader.next(5000);
    if (negotiate) await playSteps(conn, reader, [`{"execute": "qmp_capabilities"}`]);
    const transcript = await playSteps(conn, reader, steps, options.settleMs);
    conn.close();
    return { greeting, transcript };
  } finally {
    try {
      child.kill();
    } catch { /* already gone after quit */ }
    await child.status;
    Deno.removeSync(dir, { recursive: true });
  }
}

if (import.meta.main) {
  Deno.mkdirSync(join(here, "golden"), { recursive: true });
  const goldens: [string, string[], RecordOptions][] = [
    ["qmp_transcript.json", QMP_STEPS, {}],
    ["qmp_malformed.json", QMP_MALFORMED, {}],
    ["hmp_lines.json", hmpSteps(HMP_LINES), { negotiate: true }],
    ["qmp_snapshots.json", SNAPSHOT_STEPS, { guest: countPrint, disk: true, settleMs: SNAPSHOT_SETTLE_MS }],
  ];
  const only = Deno.args[0];
  for (const [name, steps, options] of goldens) {
    if (only && name !== only) continue;
    const out = join(here, "golden", name);
    Deno.writeTextFileSync(out, JSON.stringify(await recordReal(steps, options), null, 1) + "\n");
    console.log(`wrote ${out}`);
  }
}
