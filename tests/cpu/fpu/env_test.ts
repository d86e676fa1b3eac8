/**
 * FSTENV/FLDENV, FSAVE/FRSTOR and FXSAVE/FXRSTOR images byte for byte, in the 16- and 32-bit,
 * real- and protected-mode layouts of the SDM (volume 1, figures 8-9 to 8-12).
 */
import assert from "node:assert/strict";
import { Rig } from "./test_host.ts";
import { CR4_OSFXSR, fxrstor, fxsave, W_FCS, W_FDP, W_FDS, W_FIP, W_FOP } from "../../../lib/cpu/fpu/mod.ts";
import { TestFault } from "./test_host.ts";

/** A rig with three values (FLD m64 1.5, -2.25, then FLD m32 0.0) loaded at cs:eip = 0x1b:0x12345 from ds:0x8000 (FOP 0x505). */
function loaded(operand32: boolean, pm: boolean): Rig {
  const r = new Rig();
  r.host.pm = pm;
  r.ins.operand32 = operand32;
  r.ins.cs = pm ? 0x1b : 0x1234;
  r.ins.eip = 0x12345;
  r.ld(1.5).ld(-2.25);
  r.host.selectors[3] = pm ? 0x2b : 0x2000;
  r.mem(0xd9, 0, 0x8000); // fld dword [0x8000] (records FDS from the new selector)
  return r;
}

Deno.test("FNSTENV 32-bit protected mode", () => {
  const r = loaded(true, true);
  r.mem(0xd9, 6, 0x100);
  assert.equal(
    r.hex(0x100, 28),
    "7f030000" + "00280000" + "ff070000" + "45230100" + "1b000501" + "00800000" + "2b000000",
  );
  assert.equal(r.fpu.fcw, 0x037f); // FNSTENV masks all exceptions: already masked here
});

Deno.test("FNSTENV 16-bit protected mode", () => {
  const r = loaded(false, true);
  r.mem(0xd9, 6, 0x100);
  assert.equal(r.hex(0x100, 14), "7f03" + "0028" + "ff07" + "4523" + "1b00" + "0080" + "2b00");
});

Deno.test("FNSTENV real mode: linear 20/32-bit pointers with FOP beside FIP", () => {
  // FIP linear = 0x1234 * 16 + 0x12345 = 0x24685; FDP linear = 0x2000 * 16 + 0x8000 = 0x28000.
  const r32 = loaded(true, false);
  r32.mem(0xd9, 6, 0x100);
  assert.equal(
    r32.hex(0x100, 28),
    "7f030000" + "00280000" + "ff070000" + "85460000" + "05210000" + "00800000" + "00200000",
  );
  const r16 = loaded(false, false);
  r16.mem(0xd9, 6, 0x100);
  assert.equal(r16.hex(0x100, 14), "7f03" + "0028" + "ff07" + "8546" + "0521" + "0080" + "0020");
});

Deno.test("FLDENV reads each layout back", () => {
  for (const [op32, pm] of [[true, true], [false, true], [true, false], [false, false]]) {
    const a = loaded(op32, pm);
    a.mem(0xd9, 6, 0x100);
    const b = new Rig();
    b.host.pm = pm;
    b.ins.operand32 = op32;
    b.host.mem.set(a.host.mem.subarray(0x100, 0x100 + 28), 0x100);
    b.mem(0xd9, 4, 0x100);
    assert.equal(b.fpu.fcw, a.fpu.fcw);
    assert.equal(b.fpu.fsw, a.fpu.fsw);
    // Only "empty" comes from the image; the other tags follow the registers' contents.
    assert.equal(b.fpu.words[3], a.fpu.words[3]);
    const w = b.fpu.words, v = a.fpu.words;
    if (pm) {
      const mask = op32 ? 0xffffffff : 0xffff; // the 16-bit layout keeps 16-bit offsets
      assert.deepEqual(
        [w[W_FIP], w[W_FCS], w[W_FDP], w[W_FDS]],
        [(v[W_FIP] & mask) >>> 0, v[W_FCS], (v[W_FDP] & mask) >>> 0, v[W_FDS]],
      );
    } else {
      assert.equal(w[W_FIP], op32 ? 0x24685 : 0x24685 & 0xfffff);
      assert.equal(w[W_FDP], 0x28000);
      assert.equal(w[W_FOP], 0x105);
    }
  }
});

Deno.test("FNSAVE/FRSTOR: 108 and 94 bytes, registers in stack order, FNINIT after saving", () => {
  for (const op32 of [true, false]) {
    const r = loaded(op32, true);
    r.mem(0xdd, 6, 0x200);
    const env = op32 ? 28 : 14;
    // ST(0) is fld dword [0x8000] of the m64 -2.25's low half (0.0), ST(1) = -2.25, ST(2) = 1.5.
    assert.equal(r.hex(0x200 + env, 10), "00000000000000000000");
    assert.equal(r.hex(0x200 + env + 10, 10), "000000000000009000c0");
    assert.equal(r.hex(0x200 + env + 20, 10), "00000000000000c0ff3f");
    assert.equal(r.fpu.fcw, 0x037f);
    assert.equal(r.fpu.ftw, 0xffff);
    assert.equal(r.fpu.fsw, 0);
    r.mem(0xdd, 4, 0x200); // frstor
    assert.equal(r.st(1), -2.25);
    assert.equal(r.st(2), 1.5);
    assert.equal(r.fpu.ftw, 0x07ff);
    assert.equal(r.fpu.words[W_FOP], op32 ? 0x105 : 0); // the 16-bit protected layout has no FOP
  }
});

Deno.test("FXSAVE/FXRSTOR: layout, abridged tag, MXCSR only with CR4.OSFXSR, #GP on reserved MXCSR bits", () => {
  const r = loaded(true, true);
  r.host.mem.fill(0xee, 0x400, 0x600);
  r.host.cr4 = () => 0;
  fxsave(r.fpu, r.host, true, 3, 0x400);
  assert.equal(
    r.hex(0x400, 32),
    "7f03" + "0028" + "e000" + "0501" + "45230100" + "1b000000" + "00800000" + "2b000000" + "eeeeeeee" +
      "eeeeeeee",
  );
  assert.equal(r.hex(0x400 + 48, 16), "000000000000009000c0" + "eeeeeeeeeeee");
  const cr4 = { value: CR4_OSFXSR };
  r.host.cr4 = () => cr4.value;
  fxsave(r.fpu, r.host, true, 3, 0x400);
  assert.equal(r.hex(0x400 + 24, 8), "801f0000ffff0000");
  const s = new Rig();
  s.host.cr4 = () => cr4.value;
  s.host.mem.set(r.host.mem.subarray(0x400, 0x600), 0x400);
  fxrstor(s.fpu, s.host, true, 3, 0x400);
  assert.equal(s.fpu.ftw, r.fpu.ftw);
  assert.equal(s.st(1), -2.25);
  assert.equal(s.fpu.words[W_FIP], 0x12345);
  s.host.view.setUint32(0x400 + 24, 0x10000, true);
  assert.throws(
    () => fxrstor(s.fpu, s.host, true, 3, 0x400),
    (e) => e instanceof TestFault && e.vector === 13,
  );
});
