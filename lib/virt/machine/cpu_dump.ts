/**
 * The register dump of QEMU's `-d cpu`/`-d cpu_reset` and `info registers` for a 32-bit x86 CPU,
 * in QEMU's layout (x86_cpu_dump_state): general registers, EIP/EFLAGS with the flag letters,
 * segment caches with their descriptor summary in protected mode, tables, control and debug
 * registers. The FPU/SSE part is left out: our core keeps no SSE state to show.
 */
import { type Cpu, readEflags } from "../../cpu/mod.ts";

const hex = (v: number, width = 8) => (v >>> 0).toString(16).padStart(width, "0");

const SEG_NAMES = ["ES ", "CS ", "SS ", "DS ", "FS ", "GS ", "LDT", "TR "];
const SYS_TYPES = [
  "Reserved",
  "TSS16-avl",
  "LDT",
  "TSS16-busy",
  "CallGate16",
  "TaskGate",
  "IntGate16",
  "TrapGate16",
  "Reserved",
  "TSS32-avl",
  "Reserved",
  "TSS32-busy",
  "CallGate32",
  "Reserved",
  "IntGate32",
  "TrapGate32",
];
/** EFLAGS letters in QEMU's order: DF, OF, SF, ZF, AF, PF, CF. */
const FLAG_LETTERS: [number, string][] = [
  [1 << 10, "D"],
  [1 << 11, "O"],
  [1 << 7, "S"],
  [1 << 6, "Z"],
  [1 << 4, "A"],
  [1 << 2, "P"],
  [1 << 0, "C"],
];

function segmentSummary(rights: number, protectedMode: boolean): string {
  if (!protectedMode || !(rights & 0x8000)) return "";
  let out = ` DPL=${(rights >> 13) & 3} `;
  if (rights & 0x1000) {
    if (rights & 0x800) {
      out += rights & 0x400000 ? "CS32" : "CS16";
      out += ` [${rights & 0x400 ? "C" : "-"}${rights & 0x200 ? "R" : "-"}`;
    } else {
      out += rights & 0x400000 ? "DS  " : "DS16";
      out += ` [${rights & 0x400 ? "E" : "-"}${rights & 0x200 ? "W" : "-"}`;
    }
    out += `${rights & 0x100 ? "A" : "-"}]`;
  } else {
    out += SYS_TYPES[(rights >> 8) & 15];
  }
  return out;
}

export function dumpCpuState(cpu: Cpu): string {
  const r = cpu.regs;
  const eflags = readEflags(cpu);
  const pe = (cpu.cr[0] & 1) !== 0;
  const letters = FLAG_LETTERS.map(([bit, c]) => (eflags & bit ? c : "-")).join("");
  const a20 = cpu.bus.a20Mask === 0xffffffff ? 1 : 0;
  const lines = [
    `EAX=${hex(r[0])} EBX=${hex(r[3])} ECX=${hex(r[1])} EDX=${hex(r[2])}`,
    `ESI=${hex(r[6])} EDI=${hex(r[7])} EBP=${hex(r[5])} ESP=${hex(r[4])}`,
    `EIP=${hex(cpu.eip)} EFL=${hex(eflags)} [${letters}] CPL=${cpu.cpl} II=${cpu.intShadow ? 1 : 0} ` +
    `A20=${a20} SMM=0 HLT=${cpu.halted ? 1 : 0}`,
  ];
  for (let s = 0; s < 8; s++) {
    const summary = segmentSummary(cpu.segRights[s], pe);
    lines.push(
      `${SEG_NAMES[s]}=${hex(cpu.segSel[s], 4)} ${hex(cpu.segBase[s])} ${hex(cpu.segLimit[s])} ` +
        `${hex(cpu.segRights[s])}${summary}`,
    );
  }
  lines.push(`GDT=     ${hex(cpu.gdtBase)} ${hex(cpu.gdtLimit)}`);
  lines.push(`IDT=     ${hex(cpu.idtBase)} ${hex(cpu.idtLimit)}`);
  lines.push(`CR0=${hex(cpu.cr[0])} CR2=${hex(cpu.cr[2])} CR3=${hex(cpu.cr[3])} CR4=${hex(cpu.cr[4])}`);
  lines.push(`DR0=${hex(cpu.dr[0])} DR1=${hex(cpu.dr[1])} DR2=${hex(cpu.dr[2])} DR3=${hex(cpu.dr[3])} `);
  lines.push(`DR6=${hex(cpu.dr[6])} DR7=${hex(cpu.dr[7])}`);
  lines.push("EFER=0000000000000000");
  return lines.join("\n") + "\n";
}
