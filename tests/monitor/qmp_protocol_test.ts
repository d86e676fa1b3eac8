/**
 * QMP's edges against the transcripts recorded from qemu-system-i386 (record_qmp.ts): malformed
 * and odd JSON answered with QEMU's exact error texts, and human monitor lines through
 * human-monitor-command printing exactly what QEMU prints (x/xp formats, errors, help, info).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { IdeDrive } from "../../lib/devices/ide.ts";
import {
  HMP_LINES,
  hmpSteps,
  LineReader,
  playSteps,
  QMP_MALFORMED,
  type TranscriptStep,
} from "./qmp_script.ts";
import { connectTo, QMP_TCP, startVm } from "./vm.ts";
import { PROJECT } from "../support/tools.ts";

function golden(name: string): TranscriptStep[] {
  return JSON.parse(Deno.readTextFileSync(join(PROJECT, "tests", "monitor", "golden", name))).transcript;
}

const withoutEvents = (steps: TranscriptStep[]) =>
  steps.map((s) => ({
    sent: s.sent,
    received: s.received.filter((m) => !(typeof m === "object" && m !== null && "event" in m)),
  }));

async function play(steps: string[], negotiate: boolean): Promise<TranscriptStep[]> {
  const vm = await startVm(
    { qmp: [QMP_TCP] },
    (pc) => pc.ide.channels[1].attach(0, new IdeDrive({ kind: "cdrom" }, 2)),
  );
  try {
    const conn = await connectTo(vm.monitors.qmpServers[0]);
    const reader = new LineReader(conn);
    await reader.next(5000);
    if (negotiate) await playSteps(conn, reader, [`{"execute": "qmp_capabilities"}`], 0);
    const out = await playSteps(conn, reader, steps, 100);
    conn.close();
    return out;
  } finally {
    await vm.shutdown();
  }
}

Deno.test("malformed JSON gets QEMU's parse errors, and the VM keeps running", async () => {
  const ours = await play(QMP_MALFORMED, false);
  assert.deepEqual(withoutEvents(ours), withoutEvents(golden("qmp_malformed.json")));
});

Deno.test("human-monitor-command prints what QEMU's HMP prints", async () => {
  const ours = await play(hmpSteps(HMP_LINES), true);
  const real = golden("hmp_lines.json");
  assert.deepEqual(withoutEvents(ours), withoutEvents(real));
  // stop and cont announce themselves to QMP clients, as in QEMU.
  assert.deepEqual(
    ours.map((s) => s.received.filter((m) => (m as { event?: string }).event).length),
    real.map((s) => s.received.filter((m) => (m as { event?: string }).event).length),
  );
});
