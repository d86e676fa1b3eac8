/**
 * Records tests/golden/cpu/simd_in_asm.txt: every distinct MMX/SSE/SSE2 instruction that
 * qemu-system-i386 7.2 prints with `-d in_asm` while running the simd_* guests, for
 * disasm_test.ts (`deno run -A tests/cpu/simd/record_in_asm.ts`).
 */
import { join } from "node:path";
import { PROJECT } from "../../support/tools.ts";
import { decode } from "../../../lib/cpu/decoder.ts";

const entries = new Set<string>();
for (const name of ["simd_int", "simd_fp"]) {
  const log = Deno.makeTempFileSync();
  new Deno.Command("/usr/bin/qemu-system-i386", {
    args: [
      ...["-kernel", join(PROJECT, "tests", "guests", "cpu", `${name}.bin`), "-display", "none"],
      ...["-serial", "null", "-no-reboot", "-m", "128", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
      ...["-d", "in_asm", "-D", log],
    ],
  }).outputSync();
  const text = Deno.readTextFileSync(log);
  Deno.removeSync(log);
  for (const e of text.split(/\n(?=0x[0-9a-f]{8}: {2}[0-9a-f]{2}(?: [0-9a-f]{2})*\s{2,})/)) {
    if (!/^0x001/.test(e)) continue;
    const bytes = [...e.matchAll(/^0x[0-9a-f]{8}: {2}((?:[0-9a-f]{2} ?)+)/gm)]
      .flatMap((m) => m[1].trim().split(" ").map((h) => parseInt(h, 16)));
    try {
      const i = decode((n) => bytes[n] ?? 0, true, () => () => {});
      if (i.entry?.handler === "simd") entries.add(e.split("\n\n")[0].trimEnd());
    } catch { /* not ours to record */ }
  }
}
Deno.writeTextFileSync(
  join(PROJECT, "tests", "golden", "cpu", "simd_in_asm.txt"),
  [...entries].join("\n") + "\n",
);
console.log(`${entries.size} instructions`);
