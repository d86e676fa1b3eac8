/**
 * `-d`/`-D`: QEMU's debug log, in QEMU's formats where our CPU can supply the facts.
 *
 * - cpu_reset: the register dump (lib/virt/machine/cpu_dump.ts) before each system reset;
 * - in_asm: each block the CPU decodes, as QEMU prints a translated block ("IN:" and one line per
 *   instruction with address, bytes and AT&T text from lib/cpu/disasm); our blocks end where
 *   lib/cpu's do, which is not always where QEMU's TBs end;
 * - int: every exception and interrupt the CPU delivers, through its delivery observer, as QEMU
 *   logs them (int_log.ts);
 * - guest_errors: what the devices report (lib/devices/guest_log.ts), QEMU's texts;
 * - unimp: the translator's "ILLOPC: <address>: <bytes>" line for each block the CPU decodes that
 *   runs into an opcode it does not know (Cpu.onUnknownOpcode); QEMU's pc devices log nothing here;
 * - cpu: the register dump before each block the CPU looks up, exec: QEMU's "Trace" line per block
 *   with CS base and EIP (the host code pointer and TB flags QEMU shows have no meaning here: 0).
 *   lib/cpu chains blocks, so like QEMU without `nochain` these show block lookups, not every block.
 *
 * lib/cpu has no tracing hooks for blocks yet, so in_asm, cpu and exec wrap the Cpu instance's
 * block builder and lookup; they cost nothing when these items are off. The log goes to the
 * -D file, or stderr.
 */
import { type Cpu, disassemble, formatInAsm } from "../../lib/cpu/mod.ts";
import type { MachineConfig } from "../../lib/virt/machine/config.ts";
import { dumpCpuState } from "../../lib/virt/machine/cpu_dump.ts";
import type { Pc } from "../../lib/virt/machine/pc.ts";
import { logInterrupts } from "./int_log.ts";

interface BlockLike {
  insns: { len: number }[];
}

/** The Cpu internals the tracing wraps (private in lib/cpu; checked at run time). */
interface CpuInternals {
  buildBlock?(lin: number, page: number): BlockLike;
  getBlock?(): BlockLike;
}

const hex = (v: number, width: number) => (v >>> 0).toString(16).padStart(width, "0");

export function installLogging(pc: Pc, cpu: Cpu, config: MachineConfig, file?: Deno.FsFile): void {
  if (!config.log.size) return;
  const encoder = new TextEncoder();
  const write = (text: string) => (file ?? Deno.stderr).writeSync(encoder.encode(text));
  const internals = cpu as unknown as CpuInternals;
  if (config.log.has("guest_errors")) pc.logGuestErrors(write);
  if (config.log.has("cpu_reset")) pc.onReset = () => write(`CPU Reset (CPU 0)\n${dumpCpuState(cpu)}`);
  if (config.log.has("in_asm") && internals.buildBlock) {
    const build = internals.buildBlock.bind(cpu);
    internals.buildBlock = (lin, page) => {
      const block = build(lin, page);
      write(inAsm(cpu, lin, block));
      return block;
    };
  }
  if ((config.log.has("cpu") || config.log.has("exec")) && internals.getBlock) {
    const getBlock = internals.getBlock.bind(cpu);
    const dump = config.log.has("cpu"), exec = config.log.has("exec");
    internals.getBlock = () => {
      if (dump) write(dumpCpuState(cpu));
      if (exec) {
        write(
          `Trace 0: 0x0 [${hex(cpu.segBase[1], 8)}/${hex(cpu.segBase[1] + cpu.eip, 8)}/00000000/00000000] \n`,
        );
      }
      return getBlock();
    };
  }
  if (config.log.has("int")) logInterrupts(cpu, write);
  if (config.log.has("unimp")) {
    cpu.onUnknownOpcode = (linear, bytes) =>
      write(`ILLOPC: ${hex(linear, 8)}:${bytes.map((b) => ` ${hex(b, 2)}`).join("")}
`);
  }
}

/**
 * One block as QEMU's in_asm shows a TB: its bytes disassembled as capstone does with only the
 * block's bytes to read, so bytes that are no instruction come out one `.byte` line each.
 */
function inAsm(cpu: Cpu, lin: number, block: BlockLike): string {
  const lines = ["----------------", "IN: "];
  const end = block.insns.reduce((sum, insn) => sum + insn.len, 0);
  const read = (offset: number) => {
    try {
      return cpu.rd8((lin + offset) | 0);
    } catch {
      return 0;
    }
  };
  for (let offset = 0; offset < end;) {
    const at = (lin + offset) >>> 0;
    const fetch = (n: number) => {
      if (offset + n >= end) throw new RangeError("past the block");
      return read(offset + n);
    };
    const { text, length } = disassemble(fetch, at, cpu.code32);
    const bytes = Uint8Array.from({ length }, (_, k) => read(offset + k));
    lines.push(formatInAsm(at, bytes, text));
    offset += length;
  }
  return lines.join("\n") + "\n\n";
}
