/** Basic stack arithmetic through the FPU interface. */
import assert from "node:assert/strict";
import { Rig } from "./test_host.ts";

Deno.test("fld/fadd/fstp round trip", () => {
  const r = new Rig().ld(1.5).ld(2.25);
  r.run(0xde, 0xc1); // faddp st(1), st(0)
  assert.equal(r.st(0), 3.75);
  r.mem(0xdd, 3, 0x100); // fstp m64
  assert.equal(r.f64(0x100), 3.75);
  assert.equal(r.fpu.ftw, 0xffff);
  assert.equal(r.fsw & 0x3800, 0);
});
