/**
 * The Bus's default clock: time starts with the machine, so a guest's TSC reads small at boot
 * however long the host process has been alive (the sysinsn guest's "tsc hi" line depends on it).
 */
import assert from "node:assert/strict";
import { Bus } from "../../lib/devices/bus.ts";

Deno.test("a new Bus's default clock starts at 0, not at the process's start", async () => {
  // Let the process age past what the guest could tell apart from a fresh machine.
  while (performance.now() < 500) await new Promise((r) => setTimeout(r, 50));
  const bus = new Bus({ ramSize: 1 << 20 });
  const t = bus.nowNs();
  assert.ok(t >= 0 && t < 250e6, `clock read ${t} ns right after the bus was made`);
  const later = bus.nowNs();
  assert.ok(later >= t, "the clock never runs backwards");
});
