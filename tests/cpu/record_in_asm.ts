/**
 * Records tests/golden/cpu/in_asm.txt: what qemu-system-i386 7.2 prints with `-d in_asm` for the
 * 32-bit code of the demo, cpu and diff guests, one line per distinct instruction encoding (the
 * first address QEMU printed it at). disasm_test.ts checks our disassembler against it. Regenerate:
 *
 *   deno run --allow-read --allow-write --allow-run tests/cpu/record_in_asm.ts
 */
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { QEMU_BASE_ARGS } from "../../scripts/record_goldens.ts";

const DIRS = ["demo", "cpu", "diff"];
const seen = new Set<string>();
const out: string[] = [];
for (const dir of DIRS) {
  const folder = join(PROJECT, "tests", "guests", dir);
  for (
    const name of [...Deno.readDirSync(folder)].map((e) => e.name).filter((n) => n.endsWith(".bin")).sort()
  ) {
    const log = Deno.makeTempFileSync({ suffix: ".log" });
    new Deno.Command("/usr/bin/qemu-system-i386", {
      args: ["-kernel", join(folder, name), ...QEMU_BASE_ARGS, "-serial", "null", "-d", "in_asm", "-D", log],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    const lines = Deno.readTextFileSync(log).split("\n");
    Deno.removeSync(log);
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k];
      const m = line.match(/^0x([0-9a-f]{8}): {2}((?:[0-9a-f]{2} )+)\s+([a-z.].*)$/);
      // 32-bit code only (the guests and SeaBIOS's relocated 32-bit part), complete instructions.
      if (!m || parseInt(m[1], 16) < 0x100000 || parseInt(m[1], 16) >= 0xfff00000) continue;
      if (m[3].startsWith(".byte")) continue;
      let full = line;
      if (m[2].trim().split(" ").length === 8) {
        const next = lines[k + 1] ?? "";
        if (/^0x[0-9a-f]{8}: {2}[0-9a-f]{2}( [0-9a-f]{2})*$/.test(next)) full += "\n" + next;
      }
      const key = full.replace(/^0x[0-9a-f]{8}:/gm, "");
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(full);
    }
  }
}
Deno.writeTextFileSync(join(PROJECT, "tests", "golden", "cpu", "in_asm.txt"), out.join("\n") + "\n");
console.log(`${out.length} instructions`);
