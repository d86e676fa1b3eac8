/**
 * Writes fpu_all_forms.asm: every valid x87 encoding (each D8-DF register form, each memory form
 * with a disp32 operand at 0x300000) executed once, so QEMU's `-d in_asm` lists how it disassembles
 * each of them. Regenerate: `deno run --allow-read --allow-write tests/guests/fpu/gen_all_forms.ts`.
 * The forms that load control state (FLDENV, FRSTOR, FLDCW) and FISTTP (SSE3) are left out.
 */
import { Op, x87Form } from "../../../lib/cpu/fpu/mod.ts";

let s = `; Every valid x87 encoding once, for QEMU's -d in_asm listing (see gen_all_forms.ts; generated).
%include "multiboot.inc"

main:
    fninit
`;
for (let op = 0xd8; op <= 0xdf; op++) {
  for (let reg = 0; reg < 8; reg++) {
    const f = x87Form(op, reg << 3 | 5);
    if (f.op === Op.UD || f.sse3 || f.op === Op.LDENV || f.op === Op.RSTOR || f.op === Op.LDCW) continue;
    s += `    db 0x${op.toString(16)}, 0x${(reg << 3 | 5).toString(16)}\n    dd 0x300000\n`;
  }
  for (let m = 0xc0; m <= 0xff; m++) {
    if (x87Form(op, m).op !== Op.UD) s += `    db 0x${op.toString(16)}, 0x${m.toString(16)}\n`;
  }
}
s += "    fninit\n    ret\n";
Deno.writeTextFileSync(new URL("./fpu_all_forms.asm", import.meta.url), s);
