/**
 * LiveParams: the writable module parameters a running VM reads on hot paths (ignore_msrs on
 * each unknown MSR, halt_poll_ns on each in-kernel HLT) come from memory, read from the state
 * root again only once they are REREAD_MS old or when an ioctl asks; a write then takes effect.
 * Driven with a manual clock and a table in place of the state root, counting the reads.
 */
import assert from "node:assert/strict";
import { LiveParams } from "../../lib/virt/modules/mod.ts";
import { REREAD_MS } from "../../lib/virt/modules/live_params.ts";

Deno.test("parameters come from memory between reads; a write counts after REREAD_MS or a reread", () => {
  let now = 0, reads = 0;
  const tables = { kvm: { ignore_msrs: "N", halt_poll_ns: "200000" }, vendor: { nested: "Y" } };
  const live = new LiveParams(() => (reads++, structuredClone(tables)), () => now);
  for (let i = 0; i < 10_000; i++) assert.equal(live.number("kvm", "ignore_msrs"), 0);
  assert.equal(reads, 1, "one read for 10,000 uses");
  tables.kvm.ignore_msrs = "Y";
  now += REREAD_MS - 1;
  assert.equal(live.number("kvm", "ignore_msrs"), 0, "not yet read again");
  now += 1;
  assert.equal(live.number("kvm", "ignore_msrs"), 1);
  assert.equal(live.number("kvm", "halt_poll_ns"), 200000);
  assert.equal(live.text("vendor", "nested"), "Y");
  assert.equal(reads, 2);
  tables.kvm.halt_poll_ns = "0";
  live.reread();
  assert.equal(live.number("kvm", "halt_poll_ns"), 0, "an ioctl's reread sees the write at once");
  assert.equal(reads, 3);
});
