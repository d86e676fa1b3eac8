/**
 * The x87 FPU of a Pentium Pro/II, as the integer core plugs it in.
 *
 * How the core uses it:
 * - One `FpuState` per CPU (serialisable; 64-bit double data registers, see state.ts).
 * - Before dispatching an ESC opcode (D8-DF), WAIT/FWAIT (9B) or FXSAVE/FXRSTOR (0F AE /0 /1), the
 *   core calls `deviceNotAvailable(cr0, kind)` and raises #NM (vector 7) itself when it is true.
 * - It decodes ModRM and the effective address as for any instruction, then calls
 *   `execute(state, host, ins, opcode, modrm, seg, offset)`; seg/offset are ignored for register
 *   forms (modrm >= 0xC0). The FPU raises #MF/#UD/#GP through `host.fault` and FERR# through `host.ferr`.
 * - WAIT/FWAIT calls `fwait(state, host)`.
 * - FXSAVE/FXRSTOR call `fxsave`/`fxrstor` after the core's own 16-byte alignment (#GP) check; the
 *   core writes/reads the XMM area (offset 160 on) itself if its model has SSE.
 * - The disassembler prints x87 instructions with `x87DisasmAtt(opcode, modrm, "0x8(%eax)")` (AT&T, as
 *   QEMU 7.2's -d in_asm prints them; `x87Disasm` gives Intel syntax), and the
 *   decoder can ask `x87Form(opcode, modrm).op === Op.UD` for reserved encodings.
 */
export * from "./state.ts";
export * from "./host.ts";
export {
  MEMORY_FORMS,
  Op,
  Operand,
  OPERAND_BYTES,
  OPERAND_PTR,
  REGISTER_FORMS,
  x87Disasm,
  x87DisasmAtt,
  x87Form,
} from "./table.ts";
export type { X87Form } from "./table.ts";
export { deviceNotAvailable, DNA_ESC, DNA_FXSR, DNA_WAIT, execute, fwait } from "./exec.ts";
export { fxrstor, fxsave } from "./env.ts";
