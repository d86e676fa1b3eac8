/**
 * The MMX/SSE/SSE2 rows in the disassembler: every distinct SIMD instruction QEMU printed while
 * running the simd_* guests (tests/golden/cpu/simd_in_asm.txt, record_in_asm.ts) prints the same.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../../support/tools.ts";
import { disassemble, formatInAsm } from "../../../lib/cpu/disasm/att.ts";

Deno.test("SIMD disassembly matches qemu-system-i386 -d in_asm", () => {
  const golden = Deno.readTextFileSync(join(PROJECT, "tests", "golden", "cpu", "simd_in_asm.txt"));
  const entries = golden.split(/\n(?=0x[0-9a-f]{8}: {2}[0-9a-f]{2}(?: [0-9a-f]{2})*\s{2,})/).filter((e) =>
    e.trim()
  );
  assert.ok(entries.length > 400);
  const wrong: string[] = [];
  for (const entry of entries) {
    const text = entry.trimEnd();
    const address = parseInt(text.slice(2, 10), 16);
    const bytes = [...text.matchAll(/^0x[0-9a-f]{8}: {2}((?:[0-9a-f]{2} ?)+)/gm)]
      .flatMap((m) => m[1].trim().split(" ").map((h) => parseInt(h, 16)));
    const d = disassemble((n) => bytes[n] ?? 0, address, true);
    const got = formatInAsm(address, new Uint8Array(bytes.slice(0, d.length)), d.text).trimEnd();
    if (got !== text) wrong.push(`${text}\n  ours: ${got}`);
  }
  assert.deepEqual(wrong.slice(0, 10), []);
});
