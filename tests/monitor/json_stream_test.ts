/**
 * QEMU's JSON streamer rebuilt: the inputs recorded from qemu-system-i386 (golden/qmp_malformed.json)
 * give the same values and errors whether they arrive whole or one character at a time.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { JsonStreamer, type StreamItem } from "../../lib/virt/monitor/qmp/json_stream.ts";
import { PROJECT } from "../support/tools.ts";
import type { TranscriptStep } from "./qmp_script.ts";

const steps: TranscriptStep[] = JSON.parse(
  Deno.readTextFileSync(join(PROJECT, "tests", "monitor", "golden", "qmp_malformed.json")),
).transcript;
const input = steps.map((s) => s.sent + "\n").join("");

Deno.test("the streamer gives the same items for whole input and for single characters", () => {
  const whole = new JsonStreamer().feed(input);
  const streamer = new JsonStreamer();
  const pieces: StreamItem[] = [];
  for (const c of input) pieces.push(...streamer.feed(c));
  assert.deepEqual(pieces, whole);
  // Every parse error QEMU reported is among ours, in order.
  const realErrors = steps.flatMap((s) =>
    s.received.flatMap((m) => {
      const desc = (m as { error?: { desc: string } }).error?.desc;
      return desc?.startsWith("JSON parse error") ? [desc] : [];
    })
  );
  assert.deepEqual(whole.flatMap((i) => ("error" in i ? [i.error] : [])), realErrors);
});

Deno.test("strings, numbers and nesting decode as QEMU's parser does", () => {
  const s = new JsonStreamer();
  assert.deepEqual(s.feed(`{"a": [1, -2.5e1, true, null, 'x\\'y', "\\u00e9\\t"]}`), [{
    value: { a: [1, -25, true, null, "x'y", "\u00e9\t"] },
  }]);
  assert.deepEqual(s.feed(`{"a": 1,}`), [{ error: "JSON parse error, key is not a string in object" }]);
  assert.deepEqual(s.feed(`{"a" 1}`), [{ error: "JSON parse error, missing : in object pair" }]);
  assert.deepEqual(s.feed(`[1 2]`), [{ error: "JSON parse error, expected separator in list" }]);
  assert.deepEqual(s.feed(`@`), [{ error: "JSON parse error, stray '@'" }]);
  assert.deepEqual(s.feed("[".repeat(1100)), [{ error: "JSON parse error, too deeply nested" }]);
});
