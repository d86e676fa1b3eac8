/**
 * Records the golden QMP transcript from Debian's qemu-system-i386 running the counter guest:
 *   deno run --allow-read --allow-write --allow-run --allow-net tests/monitor/record_qmp.ts
 * writes tests/monitor/golden/qmp_transcript.json (greeting plus every step's replies and events).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LineReader, playSteps, QMP_STEPS } from "./qmp_script.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const guest = join(here, "..", "guests", "monitor", "counter.bin");

export async function recordReal(binary = "/usr/bin/qemu-system-i386", steps = QMP_STEPS) {
  const dir = Deno.makeTempDirSync({ prefix: "qmp-rec-" });
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
    const transcript = await playSteps(conn, reader, steps);
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
  const result = await recordReal();
  const out = join(here, "golden", "qmp_transcript.json");
  Deno.mkdirSync(join(here, "golden"), { recursive: true });
  Deno.writeTextFileSync(out, JSON.stringify(result, null, 1) + "\n");
  console.log(`wrote ${out}`);
}
