/**
 * Transcript comparison for the QMP tests: our transcript against one recorded from QEMU, step by
 * step: the same replies' JSON shapes (exact for errors and the replies the caller names), the same
 * event names with QEMU's shapes, and events raised by a command before its reply as in QEMU.
 */
import assert from "node:assert/strict";
import type { TranscriptStep } from "./qmp_script.ts";
import { sameShape, shapeOf } from "./shape.ts";

type Msg = Record<string, unknown>;
const isEvent = (m: unknown) => typeof m === "object" && m !== null && "event" in m;

export function compareTranscripts(ours: TranscriptStep[], real: TranscriptStep[], exact: Set<string>): void {
  assert.equal(ours.length, real.length);
  for (let i = 0; i < real.length; i++) {
    const sent = real[i].sent;
    const ourReplies = ours[i].received.filter((m) => !isEvent(m));
    const realReplies = real[i].received.filter((m) => !isEvent(m));
    assert.equal(ourReplies.length, realReplies.length, `replies to ${sent}`);
    for (let k = 0; k < realReplies.length; k++) {
      const o = ourReplies[k] as Msg, r = realReplies[k] as Msg;
      if ("error" in r || exact.has(sent)) assert.deepEqual(o, r, `reply to ${sent}`);
      else if (sent.includes("query-block")) compareBlock(o, r);
      else {
        assert.ok(
          sameShape(o, r),
          `reply to ${sent}:\n ours ${JSON.stringify(shapeOf(o))}\n real ${JSON.stringify(shapeOf(r))}`,
        );
      }
    }
    const ourEvents = ours[i].received.filter(isEvent) as Msg[];
    const realEvents = real[i].received.filter(isEvent) as Msg[];
    assert.deepEqual(
      [...new Set(ourEvents.map((e) => e.event))].sort(),
      [...new Set(realEvents.map((e) => e.event))].sort(),
      `events after ${sent}`,
    );
    for (const e of ourEvents) {
      const match = realEvents.find((r) => r.event === e.event && sameShape(e, r));
      assert.ok(match, `event ${JSON.stringify(e)} after ${sent} has QEMU's shape`);
    }
    // Events raised by the command itself come before its reply, as in QEMU.
    const firstReal = real[i].received.findIndex((m) => !isEvent(m));
    const firstOurs = ours[i].received.findIndex((m) => !isEvent(m));
    assert.equal(firstOurs, Math.min(firstReal, ourEvents.length), `event/reply order for ${sent}`);
  }
}

/** query-block: the drives both machines have must look the same (floppy0 and sd0 are QEMU-only). */
function compareBlock(o: Msg, r: Msg): void {
  const ours = o.return as Msg[], real = r.return as Msg[];
  assert.ok(ours.length > 0);
  for (const d of ours) {
    const twin = real.find((x) => x.device === d.device);
    assert.ok(twin, `QEMU has ${d.device}`);
    assert.ok(
      sameShape(d, twin),
      `query-block ${d.device}:\n ours ${JSON.stringify(d)}\n real ${JSON.stringify(twin)}`,
    );
  }
}
