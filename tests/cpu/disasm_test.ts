/**
 * The disassembler (lib/cpu/disasm) against the real tools: it prints every instruction of
 * tests/golden/cpu/in_asm.txt exactly as qemu-system-i386 -d in_asm printed it (recorded by
 * record_in_asm.ts), and every row of the opcode table round-trips: our text, assembled by GNU as,
 * disassembles to the same text (the bytes may differ where AT&T text has several encodings).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { disassemble, formatInAsm } from "../../lib/cpu/disasm/att.ts";
import { OPCODE_ROWS, type OpcodeEntry } from "../../lib/cpu/opcodes.ts";

const GNU_AS = (() => {
  try {
    return Deno.statSync("/usr/bin/as").isFile && Deno.statSync("/usr/bin/objcopy").isFile
      ? "/usr/bin/as"
      : undefined;
  } catch {
    return undefined;
  }
})();

Deno.test("disassembly matches qemu-system-i386 -d in_asm for every recorded instruction", () => {
  const golden = Deno.readTextFileSync(join(PROJECT, "tests", "golden", "cpu", "in_asm.txt"));
  const entries = golden.split(/\n(?=0x[0-9a-f]{8}: {2}[0-9a-f]{2}(?: [0-9a-f]{2})*\s{2,})/).filter((e) =>
    e.trim()
  );
  assert.ok(entries.length > 4000);
  const wrong: string[] = [];
  for (const entry of entries) {
    const text = entry.trimEnd().replace(/\n$/, "");
    const address = parseInt(text.slice(2, 10), 16);
    const bytes = [...text.matchAll(/^0x[0-9a-f]{8}: {2}((?:[0-9a-f]{2} ?)+)/gm)]
      .flatMap((m) => m[1].trim().split(" ").map((h) => parseInt(h, 16)));
    const d = disassemble((n) => bytes[n] ?? 0, address, true);
    const got = formatInAsm(address, new Uint8Array(bytes.slice(0, d.length)), d.text);
    if (got.trimEnd() !== text.split("\n").map((l) => l).join("\n").trimEnd()) {
      wrong.push(`${text}\n  ours: ${got}`);
    }
  }
  assert.deepEqual(wrong.slice(0, 10), []);
});

/** A byte sequence exercising a row: register and memory (SIB + disp32) forms, immediates. */
function samples(e: OpcodeEntry): number[][] {
  const op = e.opcode >= 0x100 ? [0x0f, e.opcode & 0xff] : [e.opcode];
  const imm = [0x12, 0x34, 0x56, 0x78, 0x11, 0x22, 0x33, 0x44];
  if (!e.hasModrm) return [[...op, ...imm]];
  const reg = e.group >= 0 ? e.group : 2;
  const memoryOnly = e.operands.some((o) => o[0] === "M");
  const registerOnly = e.operands.some((o) => o[0] === "R" || o[0] === "C" || o === "Dd");
  const out: number[][] = [];
  if (!memoryOnly) out.push([...op, 0xc0 | (reg << 3) | 1, ...imm]);
  if (!registerOnly) out.push([...op, 0x80 | (reg << 3) | 4, 0x73, 0x44, 0x33, 0x22, 0x11, ...imm]);
  return out;
}

Deno.test({
  name: `every opcode row round-trips through GNU as${GNU_AS ? "" : " (skipped: binutils not installed)"}`,
  ignore: !GNU_AS,
  fn() {
    const texts: string[] = [];
    for (const e of OPCODE_ROWS) {
      // x87 rows are the FPU area's (its own AT&T test); relative jumps need a link address.
      if (e.handler === "fpu" || e.operands.some((o) => o[0] === "J")) continue;
      for (const bytes of samples(e)) {
        for (const prefix of [[], [0x66]]) {
          const all = [...prefix, ...bytes];
          const d = disassemble((n) => all[n] ?? 0, 0x100000, true);
          if (d.text.startsWith(".byte")) continue;
          // GNU as lacks SALC, and capstone's spelling of 16-bit MOVZX/MOVSX from a word is not gas's.
          if (e.handler === "salc" || (/^mov[zs]ww/.test(d.text))) continue;
          texts.push(d.text);
        }
      }
    }
    const dir = Deno.makeTempDirSync();
    try {
      // GNU as spells far pointers "$sel,$off" where capstone prints "$sel:$off".
      // and BOUND with the register first (capstone prints it last).
      const gas = (t: string) =>
        t.replace(/\$(0x[0-9a-f]+):\$/, "$$$1,$$").replace(/^bound +(.*), (%\w+)$/, "bound $2, $1");
      const source = ".code32\n" + texts.map(gas).join("\n") + "\n";
      Deno.writeTextFileSync(join(dir, "t.s"), source);
      const as = new Deno.Command(GNU_AS!, { args: ["--32", "-o", join(dir, "t.o"), join(dir, "t.s")] })
        .outputSync();
      assert.equal(
        as.code,
        0,
        new TextDecoder().decode(as.stderr).split("\n").slice(0, 40).join("\n") +
          source.split("\n").filter((_l, k) => new TextDecoder().decode(as.stderr).includes(`t.s:${k + 1}:`))
            .join("\n"),
      );
      new Deno.Command("/usr/bin/objcopy", {
        args: ["-O", "binary", "-j", ".text", join(dir, "t.o"), join(dir, "t.bin")],
      })
        .outputSync();
      const bin = Deno.readFileSync(join(dir, "t.bin"));
      const back: string[] = [];
      for (let at = 0; at < bin.length && back.length < texts.length;) {
        const d = disassemble((n) => bin[at + n] ?? 0, 0x100000 + at, true);
        back.push(d.text);
        at += d.length;
      }
      // SAL is SHL's second encoding (/6): the assembler picks /4; a 66h prefix on a move to a
      // segment register changes nothing, and the assembler leaves it out.
      const alias = (t: string) =>
        t.replace(/^sal/, "shl").replace(/^movw +%([a-d])x, %([c-gs]s)$/, "movl     %e$1x, %$2");
      const mismatches = texts.map((t, k) => [alias(t), back[k]]).filter(([a, b]) => a !== b);
      assert.deepEqual(mismatches.slice(0, 10), []);
      assert.ok(texts.length > 500, `${texts.length} instructions`);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
