/**
 * The QMP client test of run state and snapshots: stop/cont/system_reset, HMP savevm/loadvm/delvm
 * and the snapshot-save/-load/-delete jobs with query-jobs and job-dismiss, then quit, played
 * against our VM (count_print.bin, a qcow2 disk named disk0) and checked against the transcript
 * recorded from Debian's qemu-system-i386 with the same guest and steps
 * (golden/qmp_snapshots.json; regenerate with
 * `deno run --allow-read --allow-write --allow-run --allow-net tests/monitor/record_qmp.ts qmp_snapshots.json`).
 * Every reply is host-independent here, so replies must match exactly; events must have QEMU's
 * names, shapes and place before or after the reply.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createImage, openImage } from "../../lib/image/formats.ts";
import { LineReader, playSteps, SNAPSHOT_STEPS, type TranscriptStep } from "./qmp_script.ts";
import { compareTranscripts } from "./transcript.ts";
import { connectTo, COUNT_PRINT_GUEST, QMP_TCP, startVm } from "./vm.ts";
import { PROJECT } from "../support/tools.ts";

const golden = JSON.parse(
  Deno.readTextFileSync(join(PROJECT, "tests", "monitor", "golden", "qmp_snapshots.json")),
) as { greeting: unknown; transcript: TranscriptStep[] };

Deno.test("QMP snapshot session has QEMU 7.2's replies and events step by step", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "qmp-snap-" });
  const image = join(dir, "disk.qcow2");
  createImage(image, "qcow2", { size: 64 << 20 });
  const driver = openImage(image, { format: "qcow2" });
  const vm = await startVm(
    { qmp: [QMP_TCP], nodeNames: { "ide0-hd0": "disk0" } },
    (pc) => pc.attachIde(0, "disk", driver),
    true,
    COUNT_PRINT_GUEST,
  );
  try {
    const conn = await connectTo(vm.monitors.qmpServers[0]);
    const reader = new LineReader(conn);
    await reader.next(5000);
    const ours = await playSteps(conn, reader, SNAPSHOT_STEPS, 150);
    conn.close();
    compareTranscripts(ours, golden.transcript, new Set(SNAPSHOT_STEPS));
    assert.deepEqual(await vm.exited, { kind: "quit" });
  } finally {
    await vm.shutdown();
    driver.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
