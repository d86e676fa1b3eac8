/**
 * Whatever a guest writes, the devices answer without throwing: random port and MMIO traffic over
 * every device of a PC, with time passing, must never raise a host exception or produce values
 * outside the access width.
 */
import assert from "node:assert/strict";
import { pc, traffic } from "./pc_fixture.ts";

const ITERATIONS = Number(Deno.env.get("ROBUST_ITER") ?? 6000);

Deno.test("devices: random port and MMIO traffic never throws and reads stay within the access width", () => {
  for (let seed = 1; seed <= 4; seed++) {
    const { bus, clock } = pc();
    for (const v of traffic(bus, clock, seed * 7919, ITERATIONS)) {
      assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff, `${v}`);
    }
  }
});
