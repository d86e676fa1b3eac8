/** The opcode table is consistent: every row names a handler that exists, and rows are unique. */
import assert from "node:assert/strict";
import { MAP, OPCODE_ROWS } from "../../lib/cpu/opcodes.ts";
import { bindHandler, HANDLER_NAMES } from "../../lib/cpu/exec/handlers.ts";
import { decode } from "../../lib/cpu/decoder.ts";
import { Bus } from "../../lib/devices/bus.ts";
import { Cpu } from "../../lib/cpu/cpu.ts";

Deno.test("every opcode row binds to a handler", () => {
  const known = new Set(HANDLER_NAMES);
  assert.deepEqual(OPCODE_ROWS.filter((r) => !known.has(r.handler)).map((r) => r.mnemonic32), []);
  for (const r of OPCODE_ROWS) assert.equal(typeof bindHandler(r), "function");
});

Deno.test("decoder: lengths of ModRM/SIB/displacement/immediate forms", () => {
  const len = (bytes: number[], code32 = true) => decode((n) => bytes[n] ?? 0, code32, bindHandler).len;
  assert.equal(len([0x90]), 1);
  assert.equal(len([0x8b, 0x44, 0x24, 0x08]), 4); // mov eax, [esp+8]
  assert.equal(len([0x8b, 0x05, 1, 2, 3, 4]), 6); // mov eax, [disp32]
  assert.equal(len([0x81, 0x84, 0x24, 1, 2, 3, 4, 5, 6, 7, 8]), 11); // add [esp+disp32], imm32
  assert.equal(len([0x66, 0x81, 0xc0, 1, 2]), 5); // add ax, imm16
  assert.equal(len([0x8b, 0x46, 0x02], false), 3); // mov ax, [bp+2] (16-bit)
  assert.equal(len([0x67, 0x8b, 0x06, 1, 2]), 5); // mov eax, [disp16] with 0x67
  assert.equal(len([0xea, 1, 2, 3, 4, 5, 6]), 7); // jmp far ptr16:32
  assert.equal(len([0xc8, 1, 2, 3]), 4); // enter imm16, imm8
  assert.equal(len([0x0f, 0xc7, 0x0e]), 3); // cmpxchg8b [esi]
});

Deno.test("undefined opcodes and register forms of memory-only rows raise #UD, not host errors", () => {
  const bus = new Bus({ ramSize: 1 << 20, romSpace: 0 });
  const cpu = new Cpu(bus);
  // 0F 0B (UD2), 8D C0 (LEA with a register), 0F C7 C8 (CMPXCHG8B with a register), C4 C0 (LES reg)
  const code = [0x0f, 0x0b, 0x8d, 0xc0, 0x0f, 0xc7, 0xc8, 0xc4, 0xc0];
  bus.writeBytes(0x1000, new Uint8Array(code));
  // IVT vector 6 -> 0:0x2000 where the handler skips nothing: it halts
  bus.writeBytes(6 * 4, new Uint8Array([0x00, 0x20, 0, 0]));
  bus.writeBytes(0x2000, new Uint8Array([0xf4]));
  for (const at of [0x1000, 0x1002, 0x1004, 0x1007]) {
    cpu.reset();
    cpu.segSel[1] = 0;
    cpu.segBase[1] = 0;
    cpu.eip = at;
    cpu.regs[4] = 0x8000;
    assert.equal(cpu.run(100), "hlt");
    assert.equal(cpu.eip, 0x2001, `#UD delivered for code at ${at.toString(16)}`);
    // the frame holds the faulting IP
    assert.equal(bus.read16(0x8000 - 6), at);
  }
  assert.ok(MAP[0x0f + 0x100] === undefined);
});
