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
 *   decoder can ask `x87Form(opcode, modrm).op === Op.UD` for reserved encodings; FISTTP forms carry
 *   `sse3: true` (the core raises #UD on CPU models without SSE3).
 *
 * Where this FPU departs from a Pentium Pro (all covered by tests/guests/fpu):
 * - data registers are doubles: results that need more than 53 significand bits (PC=extended),
 *   the FLD constants, FPATAN/F2XM1/FYL2X/FYL2XP1, 64-bit integers and 18-digit BCD above 2^53,
 *   and m80 values with more than 53 significant bits lose their low bits; exponents beyond the
 *   double range overflow to infinity or flush to zero (extended denormals load as 0 with DE);
 * - unmasked overflow/underflow on register results deliver the masked result (no 2^±24576 bias);
 * - FSIN/FCOS/FPTAN use the host's double functions (as QEMU 7.2 does).
 * Where it follows the SDM and QEMU 7.2 does not (fpu_qemu_diff, fpu_unmasked): stack faults,
 * C1 as the round-up bit, FPREM1's quotient bits, FOP and the pointers in FSTENV/FSAVE/FXSAVE and
 * FRSTOR, DE on denormal m32/m64 loads, unmasked IE/ZE/OE leaving the destination alone, #MF at
 * the next waiting x87 instruction (not only at FWAIT), FLDCW/FLDENV/FRSTOR recomputing ES/B,
 * FRNDINT ignoring precision control, and correct rounding under PC=single.
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
