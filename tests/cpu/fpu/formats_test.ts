/** Conversions between the double registers and the m32/m64/m80, integer and BCD formats. */
import assert from "node:assert/strict";
import * as F from "../../../lib/cpu/fpu/formats.ts";
import {
  FSW_DE,
  FSW_IE,
  FSW_OE,
  FSW_PE,
  FSW_UE,
  RC_CHOP,
  RC_DOWN,
  RC_NEAREST,
  RC_UP,
} from "../../../lib/cpu/fpu/mod.ts";

function m80hex(x: number): string {
  F.toM80(x);
  return [F.m80[2], F.m80[1], F.m80[0]].map((v, i) => v.toString(16).padStart(i ? 8 : 4, "0")).join(":");
}

Deno.test("double to m80fp is exact, with the integer bit explicit", () => {
  assert.equal(m80hex(1), "3fff:80000000:00000000");
  assert.equal(m80hex(-2.25), "c000:90000000:00000000");
  assert.equal(m80hex(0), "0000:00000000:00000000");
  assert.equal(m80hex(-0), "8000:00000000:00000000");
  assert.equal(m80hex(Infinity), "7fff:80000000:00000000");
  assert.equal(m80hex(F.DEFAULT_NAN), "ffff:c0000000:00000000");
  assert.equal(m80hex(Number.MIN_VALUE), "3bcd:80000000:00000000"); // 2^-1074: a normal extended number
  assert.equal(m80hex(Number.MAX_VALUE), "43fe:ffffffff:fffff800");
  assert.equal(m80hex(Math.PI), "4000:c90fdaa2:2168c000");
});

Deno.test("m80fp to double: exact when it fits, rounded to nearest otherwise, IE for invalid encodings", () => {
  for (
    const x of [1, -2.25, Math.PI, Number.MIN_VALUE, 2.2250738585072014e-308, Number.MAX_VALUE, -Infinity]
  ) {
    F.toM80(x);
    assert.equal(F.fromM80(F.m80[0], F.m80[1], F.m80[2]), x);
    assert.equal(F.convFlags, 0);
  }
  // 1 + 2^-63 rounds to 1; 1 + 2^-52 + 2^-53 (a tie) rounds to even (1 + 2^-51).
  assert.equal(F.fromM80(1, 0x80000000, 0x3fff), 1);
  assert.equal(F.fromM80(0x00000c00, 0x80000000, 0x3fff), 1 + 2 ** -51);
  // Beyond the double range.
  assert.equal(F.fromM80(0, 0x80000000, 0x7ffe), Infinity);
  assert.equal(F.fromM80(0, 0x80000000, 0x0001), 0);
  // Unnormal and pseudo-infinity: invalid operands.
  assert.ok(Number.isNaN(F.fromM80(0, 0x40000000, 0x3fff)));
  assert.equal(F.convFlags, FSW_IE);
  assert.ok(Number.isNaN(F.fromM80(0, 0, 0x7fff)));
  assert.equal(F.convFlags, FSW_IE);
  // Extended denormal: DE.
  F.fromM80(1, 0, 0);
  assert.equal(F.convFlags, FSW_DE);
  // NaNs keep their payload's top bits and their signalling state.
  const snan = F.fromM80(0, 0xa0000000, 0x7fff);
  assert.ok(F.isSignalling(snan));
  assert.equal(F.hiWord(snan).toString(16), "7ff40000");
});

Deno.test("m32fp: widening keeps SNaNs signalling; narrowing rounds per RC with OE/UE/PE", () => {
  const s = F.fromM32(0x7fa00000);
  assert.ok(F.isSignalling(s));
  F.fromM32(0x00000001);
  assert.equal(F.convFlags, FSW_DE);
  const third = 1 / 3;
  const bits = (rc: number) => F.toM32(third, rc, false).toString(16);
  assert.equal(bits(RC_NEAREST), "3eaaaaab");
  assert.equal(bits(RC_DOWN), "3eaaaaaa");
  assert.equal(bits(RC_UP), "3eaaaaab");
  assert.equal(bits(RC_CHOP), "3eaaaaaa");
  assert.equal(F.toM32(-third, RC_DOWN, false).toString(16), "beaaaaab");
  assert.equal(F.toM32(1e300, RC_NEAREST, false).toString(16), "7f800000");
  assert.equal(F.convFlags, FSW_OE | FSW_PE);
  assert.equal(F.toM32(1e300, RC_CHOP, false).toString(16), "7f7fffff");
  assert.equal(F.toM32(1e-300, RC_NEAREST, false), 0);
  assert.equal(F.convFlags, FSW_UE | FSW_PE);
  assert.equal(F.toM32(2 ** -140, RC_NEAREST, false), 0x200); // exact float32 denormal: no flags when masked
  assert.equal(F.convFlags, 0);
  F.toM32(2 ** -140, RC_NEAREST, true);
  assert.equal(F.convFlags, FSW_UE); // unmasked UE reports any tiny result
});

Deno.test("integers: RC rounding with round-half-even, range checks, C1", () => {
  const cases: [number, number, number][] = [
    [2.5, RC_NEAREST, 2],
    [3.5, RC_NEAREST, 4],
    [-2.5, RC_NEAREST, -2],
    [2.5, RC_DOWN, 2],
    [-2.5, RC_DOWN, -3],
    [2.1, RC_UP, 3],
    [-2.9, RC_CHOP, -2],
    [32767.4, RC_NEAREST, 32767],
  ];
  for (const [x, rc, want] of cases) assert.equal(F.toInt(x, rc, 16), want, `${x} rc ${rc}`);
  assert.equal(F.toInt(32767.5, RC_NEAREST, 16), null);
  assert.equal(F.convFlags, FSW_IE);
  assert.equal(F.toInt(-32768, RC_NEAREST, 16), -32768);
  assert.equal(F.toInt(2 ** 62, RC_NEAREST, 64), 2n ** 62n);
  assert.equal(F.toInt(2 ** 63, RC_NEAREST, 64), null);
  assert.equal(F.toInt(NaN, RC_NEAREST, 32), null);
  F.toInt(3.5, RC_NEAREST, 32);
  assert.equal(F.convFlags, FSW_PE);
  assert.equal(F.convUp, true);
});

Deno.test("packed BCD round trip, sign, range and the indefinite", () => {
  const b = new Uint8Array(10);
  assert.ok(F.toBcd(-1234567890123, RC_NEAREST, b));
  assert.equal([...b].map((v) => v.toString(16).padStart(2, "0")).join(""), "23018967452301000080");
  assert.equal(F.fromBcd(b), -1234567890123);
  assert.equal(F.toBcd(1e18, RC_NEAREST, b), false);
  F.bcdIndefinite(b);
  assert.equal([...b].reverse().map((v) => v.toString(16).padStart(2, "0")).join(""), "ffffc000000000000000");
});
