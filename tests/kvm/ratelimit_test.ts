/**
 * RateLimit as lib/ratelimit.c's ___ratelimit limits pr_err_ratelimited (kvm's "ignored rdmsr"
 * reports): 10 lines in 5 s, then silence, then "<function>: N callbacks suppressed" before the
 * first line of the next interval. Driven with a manual clock.
 */
import assert from "node:assert/strict";
import { RateLimit } from "../../lib/virt/kvm/ratelimit.ts";

Deno.test("10 lines an interval of 5 s; the next interval starts with the count of the dropped ones", () => {
  let now = 1000;
  const limit = new RateLimit("kvm_msr_ignored_check", 10, 5000, () => now);
  const logged: string[] = [];
  for (let i = 0; i < 25; i++) logged.push(...limit.lines(`line ${i}`));
  assert.deepEqual(logged, Array.from({ length: 10 }, (_, i) => `line ${i}`));
  now += 5000;
  assert.deepEqual(limit.lines("late"), [], "the interval ends only after 5 s have passed");
  now += 1;
  assert.deepEqual(limit.lines("next"), ["kvm_msr_ignored_check: 16 callbacks suppressed", "next"]);
  now += 6000;
  assert.deepEqual(limit.lines("quiet"), ["quiet"], "nothing dropped: no note");
});
