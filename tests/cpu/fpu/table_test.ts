/**
 * The x87 opcode table: its AT&T text equals QEMU 7.2's `-d in_asm` for every encoding the
 * fpu_all_forms guest executes (tests/golden/fpu/x87_in_asm.txt, recorded with
 * `qemu-system-i386 -kernel tests/guests/fpu/fpu_all_forms.bin -display none -serial null
 * -no-reboot -m 128 -device isa-debug-exit,iobase=0xf4,iosize=0x04 -d in_asm -D LOG`, keeping the
 * D8-DF lines once each), and the table's shape matches the SDM's opcode map.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../../support/tools.ts";
import {
  MEMORY_FORMS,
  Op,
  Operand,
  REGISTER_FORMS,
  x87Disasm,
  x87DisasmAtt,
  x87Form,
} from "../../../lib/cpu/fpu/mod.ts";

Deno.test("AT&T text matches QEMU's -d in_asm for every executed x87 form", () => {
  const lines = Deno.readTextFileSync(join(PROJECT, "tests/golden/fpu/x87_in_asm.txt")).trim().split("\n");
  const seen = new Set<string>();
  for (const line of lines) {
    const words = line.trim().split(/\s+/);
    const bytes: number[] = [];
    while (/^[0-9a-f]{2}$/.test(words[0])) bytes.push(parseInt(words.shift()!, 16));
    const text = words.join(" ");
    const [opcode, modrm] = bytes;
    const memory = modrm < 0xc0 ? "0x300000" : "";
    assert.equal(x87DisasmAtt(opcode, modrm, memory), text, `${line}`);
    seen.add(`${opcode}:${modrm}`);
  }
  // Every valid register form and every executed memory form appears in the listing.
  let expected = 0;
  for (let op = 0xd8; op <= 0xdf; op++) {
    for (let m = 0xc0; m <= 0xff; m++) if (x87Form(op, m).op !== Op.UD) expected++;
    for (let r = 0; r < 8; r++) {
      const f = x87Form(op, r << 3 | 5);
      if (f.op !== Op.UD && !f.sse3 && f.op !== Op.LDENV && f.op !== Op.RSTOR && f.op !== Op.LDCW) expected++;
    }
  }
  assert.equal(seen.size, expected);
});

Deno.test("opcode map shape: 64 memory forms, 512 register forms, reserved encodings", () => {
  assert.equal(MEMORY_FORMS.length, 64);
  assert.equal(REGISTER_FORMS.length, 512);
  const ud = (op: number, modrm: number) => x87Form(op, modrm).op === Op.UD;
  assert.ok(ud(0xd9, 0x08)); // D9 /1 memory
  assert.ok(ud(0xd9, 0xd1)); // D9 D1
  assert.ok(ud(0xd9, 0xe2) && ud(0xd9, 0xef));
  assert.ok(ud(0xda, 0xe8) && !ud(0xda, 0xe9) && ud(0xda, 0xf0));
  assert.ok(ud(0xdb, 0xe5) && ud(0xdb, 0xf8) && ud(0xdb, 0x20) && ud(0xdb, 0x30));
  assert.ok(ud(0xdd, 0x28) && ud(0xdd, 0xf0) && ud(0xdd, 0xf8));
  assert.ok(ud(0xde, 0xd8) && !ud(0xde, 0xd9));
  assert.ok(ud(0xdf, 0xe1) && ud(0xdf, 0xf8));
  assert.equal(x87Form(0xdb, 0x08).sse3, true);
  assert.equal(x87Form(0xdd, 0x30).wait, false); // fnsave
  assert.equal(x87Form(0xd9, 0x38).recordsIp, false); // fnstcw
  assert.equal(x87Form(0xd8, 0x00).operand, Operand.M32FP);
  assert.equal(x87Form(0xdf, 0x28).operand, Operand.M64INT);
});

Deno.test("Intel-syntax text", () => {
  assert.equal(x87Disasm(0xd8, 0x05, "[0x300000]"), "fadd dword ptr [0x300000]");
  assert.equal(x87Disasm(0xdb, 0x2d, "[eax]"), "fld xword ptr [eax]");
  assert.equal(x87Disasm(0xdc, 0xe9), "fsub st(1), st(0)");
  assert.equal(x87Disasm(0xde, 0xf9), "fdivp st(1), st(0)");
  assert.equal(x87Disasm(0xda, 0xc3), "fcmovb st(0), st(3)");
  assert.equal(x87Disasm(0xdf, 0xe0), "fnstsw ax");
  assert.equal(x87Disasm(0xd9, 0xe8), "fld1");
});
