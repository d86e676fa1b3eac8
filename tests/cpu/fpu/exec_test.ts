/** Instruction groups, flags and the exception machinery, driven through `execute` with a test host. */
import assert from "node:assert/strict";
import { Rig, TestFault, TestHost } from "./test_host.ts";
import {
  CR0_EM,
  CR0_MP,
  CR0_NE,
  CR0_TS,
  deviceNotAvailable,
  DNA_ESC,
  DNA_FXSR,
  DNA_WAIT,
  EFLAGS_AF,
  EFLAGS_CF,
  EFLAGS_OF,
  EFLAGS_PF,
  EFLAGS_SF,
  EFLAGS_ZF,
  FpuState,
  FSW_B,
  FSW_C0,
  FSW_C1,
  FSW_C2,
  FSW_C3,
  FSW_ES,
  FSW_IE,
  FSW_PE,
  FSW_SF,
  FSW_ZE,
  fwait,
  W_FDP,
  W_FOP,
} from "../../../lib/cpu/fpu/mod.ts";

const isFault = (vector: number) => (e: unknown) => e instanceof TestFault && e.vector === vector;

Deno.test("directed rounding of arithmetic (PC=53 bits and PC=24 bits), PE and C1", () => {
  const third = [0x3fd55555, 0x55555555], thirdUp = [0x3fd55555, 0x55555556];
  for (
    const [rc, want, up] of [[0, third, false], [1, third, false], [2, thirdUp, true], [
      3,
      third,
      false,
    ]] as const
  ) {
    const r = new Rig();
    r.host.view.setUint16(0x10, 0x027f | rc << 10, true); // PC = double
    r.mem(0xd9, 5, 0x10);
    r.ld(1).ld(3).run(0xde, 0xf9); // fdivp st(1), st(0): 1/3
    r.mem(0xdd, 2, 0x100);
    assert.deepEqual(
      [r.host.view.getUint32(0x104, true), r.host.view.getUint32(0x100, true)],
      want,
      `rc ${rc}`,
    );
    assert.equal((r.fsw & FSW_PE) !== 0, true);
    assert.equal((r.fsw & FSW_C1) !== 0, up);
  }
  const r = new Rig();
  r.host.view.setUint16(0x10, 0x087f, true); // PC = single, RC = up
  r.mem(0xd9, 5, 0x10);
  r.ld(1).ld(3).run(0xde, 0xf9);
  assert.equal(r.st(0), 0.3333333432674408); // the float32 above 1/3
  r.host.view.setUint16(0x10, 0x0c7f, true); // PC = single, RC = chop
  r.mem(0xd9, 5, 0x10);
  r.ld(1).ld(3).run(0xde, 0xf9);
  assert.equal(r.st(0), 0.3333333134651184); // the float32 below
});

Deno.test("FCOMI/FUCOMI set ZF PF CF and clear OF SF AF; FCMOVcc reads them", () => {
  const r = new Rig();
  r.host.flags = 0x2 | EFLAGS_OF | EFLAGS_SF | EFLAGS_AF | 0x400;
  r.ld(2).ld(1).run(0xdb, 0xf1); // fcomi st(0), st(1): 1 < 2
  assert.equal(r.host.flags, 0x2 | 0x400 | EFLAGS_CF);
  r.run(0xdf, 0xe9); // fucomip st(0), st(1): 1 vs 2, pop
  assert.equal(r.st(0), 2);
  r.ld(NaN).run(0xdb, 0xe9); // fucomi with a QNaN: unordered, no IE
  assert.equal(r.host.flags & (EFLAGS_ZF | EFLAGS_PF | EFLAGS_CF), EFLAGS_ZF | EFLAGS_PF | EFLAGS_CF);
  assert.equal(r.fsw & FSW_IE, 0);
  r.run(0xdb, 0xf1); // fcomi: IE for any NaN
  assert.equal(r.fsw & FSW_IE, FSW_IE);
  const conds: [number, number, number][] = [
    [0xda, 0xc1, EFLAGS_CF],
    [0xda, 0xc9, EFLAGS_ZF],
    [0xda, 0xd1, EFLAGS_CF],
    [0xda, 0xd9, EFLAGS_PF],
    [0xdb, 0xc1, 0],
    [0xdb, 0xc9, 0],
    [0xdb, 0xd1, 0],
    [0xdb, 0xd9, 0],
  ];
  for (const [op, modrm, flags] of conds) {
    const c = new Rig().ld(7).ld(5);
    c.host.flags = 2 | flags;
    c.run(op, modrm);
    assert.equal(c.st(0), 7, `${op.toString(16)} ${modrm.toString(16)} moves`);
    c.host.flags = 2 | (flags ? 0 : EFLAGS_CF | EFLAGS_ZF | EFLAGS_PF);
    c.ld(5).run(op, modrm);
    assert.equal(c.st(0), 5, `${op.toString(16)} ${modrm.toString(16)} stays`);
  }
});

Deno.test("FCOM/FTST/FXAM condition codes", () => {
  const r = new Rig().ld(1).ld(2);
  r.run(0xd8, 0xd1); // fcom st(1): 2 > 1
  assert.equal(r.fsw & (FSW_C3 | FSW_C2 | FSW_C0), 0);
  r.run(0xd9, 0xc9).run(0xd8, 0xd1); // fxch; 1 < 2
  assert.equal(r.fsw & (FSW_C3 | FSW_C2 | FSW_C0), FSW_C0);
  r.run(0xde, 0xd9); // fcompp
  assert.equal(r.fpu.ftw, 0xffff);
  r.ld(-0).run(0xd9, 0xe4); // ftst: -0 == 0
  assert.equal(r.fsw & (FSW_C3 | FSW_C2 | FSW_C0), FSW_C3);
  r.run(0xd9, 0xe5); // fxam: zero, negative
  assert.equal(r.fsw & (FSW_C3 | FSW_C2 | FSW_C1 | FSW_C0), FSW_C3 | FSW_C1);
});

Deno.test("FPREM/FPREM1 quotient bits, FXTRACT, FSCALE, FRNDINT", () => {
  const rem = (x: number, y: number, op: number) => {
    const r = new Rig().ld(y).ld(x).run(0xd9, op);
    const q = (r.fsw & FSW_C0 ? 4 : 0) | (r.fsw & FSW_C3 ? 2 : 0) | (r.fsw & FSW_C1 ? 1 : 0);
    return [r.st(0), q];
  };
  assert.deepEqual(rem(23, 3, 0xf8), [2, 7]);
  assert.deepEqual(rem(-23, 3, 0xf8), [-2, 7]);
  assert.deepEqual(rem(23, 3, 0xf5), [-1, 0]); // q = 8
  assert.deepEqual(rem(5.5, 1, 0xf5), [-0.5, 6]); // tie to even
  const x = new Rig().ld(0).run(0xd9, 0xf4); // fxtract of 0: ZE, exponent -inf
  assert.equal(x.fsw & FSW_ZE, FSW_ZE);
  assert.equal(x.st(1), -Infinity);
  assert.ok(Object.is(x.st(0), 0));
  const s = new Rig().ld(-3.9).ld(5).run(0xd9, 0xfd); // fscale by trunc(-3.9) = -3
  assert.equal(s.st(0), 5 / 8);
  const n = new Rig().ld(-2.5).run(0xd9, 0xfc);
  assert.ok(Object.is(n.st(0), -2));
  assert.equal(n.fsw & FSW_PE, FSW_PE);
});

Deno.test("transcendentals: operand range (C2), FPTAN pushes 1, FSINCOS order", () => {
  const big = new Rig().ld(2 ** 63).run(0xd9, 0xfe); // fsin out of range: unchanged, C2=1
  assert.equal(big.st(0), 2 ** 63);
  assert.equal(big.fsw & FSW_C2, FSW_C2);
  const t = new Rig().ld(0.5).run(0xd9, 0xf2);
  assert.equal(t.st(0), 1);
  assert.equal(t.st(1), Math.tan(0.5));
  const sc = new Rig().ld(0.5).run(0xd9, 0xfb);
  assert.deepEqual([sc.st(0), sc.st(1)], [Math.cos(0.5), Math.sin(0.5)]);
  const a = new Rig().ld(1).ld(1).run(0xd9, 0xf3); // fpatan: atan2(st1, st0)
  assert.equal(a.st(0), Math.PI / 4);
  const l = new Rig().ld(3).ld(8).run(0xd9, 0xf1); // fyl2x: 3 * log2(8)
  assert.equal(l.st(0), 9);
  const z = new Rig().ld(1).ld(0).run(0xd9, 0xf1); // log2(0): ZE, -inf
  assert.equal(z.st(0), -Infinity);
  assert.equal(z.fsw & FSW_ZE, FSW_ZE);
});

Deno.test("stack faults: masked responses and unmasked aborts", () => {
  const r = new Rig();
  for (let i = 0; i < 8; i++) r.run(0xd9, 0xe8);
  r.run(0xd9, 0xee); // ninth push: overflow, masked: the indefinite is pushed
  assert.equal(r.fsw & (FSW_IE | FSW_SF | FSW_C1), FSW_IE | FSW_SF | FSW_C1);
  assert.ok(Number.isNaN(r.st(0)));
  const u = new Rig().run(0xd8, 0xc1); // fadd st0, st1 on an empty stack
  assert.equal(u.fsw & (FSW_IE | FSW_SF | FSW_C1), FSW_IE | FSW_SF);
  const m = new Rig();
  m.host.view.setUint16(0x10, 0x037e, true); // IE unmasked
  m.mem(0xd9, 5, 0x10);
  for (let i = 0; i < 8; i++) m.run(0xd9, 0xe8);
  m.host.cr0Value &= ~CR0_NE;
  m.run(0xd9, 0xee);
  assert.equal(m.fpu.top, 0); // not pushed
  assert.equal(m.fsw & (FSW_ES | FSW_B), FSW_ES | FSW_B);
  assert.equal(m.st(0), 1);
});

Deno.test("pending exceptions: #MF with CR0.NE=1, FERR# with NE=0; FN* forms do not wait", () => {
  const r = new Rig();
  r.host.view.setUint16(0x10, 0x037b, true); // ZE unmasked
  r.mem(0xd9, 5, 0x10);
  r.ld(1).ld(0).run(0xde, 0xf9); // 1/0: unmasked, destination and TOP untouched
  assert.equal(r.st(0), 0);
  assert.equal(r.st(1), 1);
  assert.equal(r.fsw & (FSW_ZE | FSW_ES | FSW_B), FSW_ZE | FSW_ES | FSW_B);
  const top = r.fpu.top;
  assert.throws(() => r.run(0xd9, 0xe8), isFault(16)); // fld1 waits: #MF, nothing done
  assert.equal(r.fpu.top, top);
  assert.throws(() => fwait(r.fpu, r.host), isFault(16));
  r.mem(0xdd, 7, 0x20); // fnstsw: no wait
  r.mem(0xd9, 6, 0x40); // fnstenv: no wait
  r.run(0xdf, 0xe0); // fnstsw ax
  assert.equal(r.host.ax, r.fsw);
  r.host.cr0Value &= ~CR0_NE;
  r.run(0xd9, 0xe8); // FERR# asserted, then the instruction runs
  assert.equal(r.host.ferrCount, 1);
  assert.equal(r.st(0), 1);
  r.run(0xdb, 0xe2); // fnclex
  assert.equal(r.fsw & (FSW_ZE | FSW_ES | FSW_B), 0);
  fwait(r.fpu, r.host);
});

Deno.test("#NM and #UD decisions", () => {
  assert.equal(deviceNotAvailable(0, DNA_ESC), false);
  assert.equal(deviceNotAvailable(CR0_EM, DNA_ESC), true);
  assert.equal(deviceNotAvailable(CR0_TS, DNA_ESC), true);
  assert.equal(deviceNotAvailable(CR0_TS, DNA_WAIT), false);
  assert.equal(deviceNotAvailable(CR0_TS | CR0_MP, DNA_WAIT), true);
  assert.equal(deviceNotAvailable(CR0_EM, DNA_WAIT), false);
  assert.equal(deviceNotAvailable(CR0_TS, DNA_FXSR), true);
  assert.throws(() => new Rig().run(0xd9, 0xd1), isFault(6));
  assert.throws(() => new Rig().mem(0xd9, 1, 0), isFault(6));
});

class FaultingHost extends TestHost {
  override write32(s: number, o: number, v: number): void {
    if (o >= 0x9000) throw new TestFault(14);
    super.write32(s, o, v);
  }
}

Deno.test("a host fault during a store propagates and leaves the stack as it was", () => {
  const r = new Rig();
  Object.setPrototypeOf(r.host, FaultingHost.prototype);
  r.ld(1.5);
  assert.throws(() => r.mem(0xdd, 3, 0x9000), isFault(14)); // fstp m64
  assert.equal(r.st(0), 1.5);
  assert.equal(r.fpu.ftw, 0x3fff);
  assert.equal(r.fpu.words[W_FDP], 0x8000); // still the FLD's operand
  assert.equal(r.fpu.words[W_FOP], 0x505);
});

Deno.test("FXCH, FFREE(P), FINCSTP/FDECSTP, FCHS/FABS, constants, FNINIT", () => {
  const r = new Rig().ld(1).ld(2).run(0xd9, 0xc9);
  assert.deepEqual([r.st(0), r.st(1)], [1, 2]);
  r.run(0xdd, 0xc1); // ffree st(1)
  assert.equal(r.fpu.isEmpty(1), true);
  r.run(0xd9, 0xf6); // fdecstp
  assert.equal(r.fpu.top, 5);
  r.run(0xd9, 0xf7).run(0xd9, 0xe0); // fincstp; fchs
  assert.equal(r.st(0), -1);
  r.run(0xd9, 0xe1); // fabs
  assert.equal(r.st(0), 1);
  r.run(0xdf, 0xc0); // ffreep st(0)
  assert.equal(r.fpu.ftw, 0xffff);
  r.run(0xd9, 0xeb).run(0xd9, 0xea).run(0xd9, 0xe9).run(0xd9, 0xec).run(0xd9, 0xed);
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => r.st(i)), [
    Math.LN2,
    Math.log10(2),
    Math.log2(10),
    Math.LOG2E,
    Math.PI,
  ]);
  r.run(0xdb, 0xe3);
  assert.deepEqual([r.fpu.fcw, r.fsw, r.fpu.ftw], [0x037f, 0, 0xffff]);
});

Deno.test("state serialises to bytes and back", () => {
  const r = new Rig().ld(1.25).ld(-7);
  const copy = FpuState.deserialize(r.fpu.serialize());
  assert.deepEqual([copy.st(0), copy.st(1), copy.fsw, copy.fcw, copy.ftw], [
    -7,
    1.25,
    r.fsw,
    r.fpu.fcw,
    r.fpu.ftw,
  ]);
});
