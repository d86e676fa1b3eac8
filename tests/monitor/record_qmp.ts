/**
 * Records the golden QMP transcript from Debian's qemu-system-i386 running the counter guest:
 *   deno run --allow-read --allow-write --allow-run --allow-net tests/monitor/record_qmp.ts
 * writes tests/monitor/golden/qmp_transcript.json (greeting plus every step's replies and events).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HMP_LINES, hmpSteps, LineReader, playSteps, QMP_MALFORMED, QMP_STEPS } from "./qmp_script.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const guest = join(here, "..", "guests", "monitor", "counter.bin");

export async function recordReal(steps: string[], negotiate = false, binary = "/usr/bin/qemu-system-i386") {
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
    if (negotiate) await playSteps(conn, reader, [`{"execute": "qmp_capabilities"}`]);
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
  Deno.mkdirSync(join(here, "golden"), { recursive: true });
  const goldens: [string, string[], boolean][] = [
    ["qmp_transcript.json", QMP_STEPS, false],
    ["qmp_malformed.json", QMP_MALFORMED, false],
    ["hmp_lines.json", hmpSteps(HMP_LINES), true],
  ];
  for (const [name, steps, negotiate] of goldens) {
    const out = join(here, "golden", name);
    Deno.writeTextFileSync(out, JSON.stringify(await recordReal(steps, negotiate), null, 1) + "\n");
    console.log(`wrote ${out}`);
  }
}
