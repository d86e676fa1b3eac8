/**
 * Disassembler: the decoder's records printed the way qemu-system-i386 7.2 prints them with
 * `-d in_asm` (capstone's AT&T syntax): size-suffixed mnemonics, source before destination,
 * `$imm`, `disp(%base, %index, scale)`, `*` before indirect targets. It reuses the one opcode
 * table through decode(), so every opcode the decoder accepts has a text.
 */
import { decode } from "../decoder.ts";
import type { Insn } from "../insn.ts";
import type { OpcodeEntry } from "../opcodes.ts";
import { x87DisasmAtt } from "../fpu/mod.ts";
import { simdDisasm } from "../simd/disasm.ts";

const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
const SEG = ["es", "cs", "ss", "ds", "fs", "gs"];
const SUFFIX = ["b", "w", "l"];

/** Mnemonics capstone prints without a size suffix. */
const NO_SUFFIX = new Set([
  "jmp",
  "loop",
  "loope",
  "loopne",
  "jcxz",
  "jecxz",
  "int",
  "int3",
  "into",
  "int1",
  "hlt",
  "nop",
  "cpuid",
  "rdtsc",
  "rdmsr",
  "wrmsr",
  "rdpmc",
  "sysenter",
  "sysexit",
  "ud2",
  "clts",
  "cli",
  "sti",
  "clc",
  "stc",
  "cmc",
  "cld",
  "std",
  "sahf",
  "lahf",
  "daa",
  "das",
  "aaa",
  "aas",
  "aam",
  "aad",
  "salc",
  "xlatb",
  "invlpg",
  "bound",
  "invd",
  "wbinvd",
  "fwait",
  "bswap",
  "fpu",
  "fxsave",
  "fxrstor",
  "cmpxchg8b",
]);

const STRING_OPS = new Set(["movs", "cmps", "stos", "lods", "scas", "ins", "outs"]);

/** Intel mnemonic -> AT&T for the ones that are spelt differently. */
const RENAME: Record<string, string> = {
  cbw: "cbtw",
  cwde: "cwtl",
  cwd: "cwtd",
  cdq: "cltd",
  fwait: "wait",
  pushad: "pusha",
  popad: "popa",
  pushfd: "pushf",
  popfd: "popf",
  iretd: "iret",
  insd: "ins",
  outsd: "outs",
  movsd: "movs",
  cmpsd: "cmps",
  stosd: "stos",
  lodsd: "lods",
  scasd: "scas",
  insw: "ins",
  outsw: "outs",
  movsw: "movs",
  cmpsw: "cmps",
  stosw: "stos",
  lodsw: "lods",
  scasw: "scas",
};

function num(v: number): string {
  // capstone: decimal up to 9, hex above; negative values keep their sign.
  if (v < 0) return v >= -9 ? `-${-v}` : `-0x${(-v).toString(16)}`;
  return v <= 9 ? `${v}` : `0x${v.toString(16)}`;
}

function reg(size: number, r: number): string {
  return "%" + (size === 2 ? R32[r] : size === 1 ? R16[r] : R8[r]);
}

function memory(i: Insn, explicitSeg = false): string {
  const seg = i.segOverride || explicitSeg ? `%${SEG[i.seg]}:` : "";
  const regs = i.adsize32 ? R32 : R16;
  if (i.base < 0 && i.index < 0) {
    const d = i.adsize32 ? i.disp >>> 0 : i.disp & 0xffff;
    return `${seg}${num(d)}`;
  }
  const disp = i.disp === 0 ? "" : num(i.disp);
  const base = i.base >= 0 ? `%${regs[i.base]}` : "";
  const index = i.index >= 0 ? `, %${regs[i.index]}${i.scale ? `, ${1 << i.scale}` : ""}` : "";
  return `${seg}${disp}(${base}${index})`;
}

/** Formats one operand spec of a row for AT&T output. */
function operand(i: Insn, op: string, next: number): string {
  const k = op[0];
  const size = op === "AL" || op === "CL" ? 0 : op === "DX" ? 1 : i.size;
  if (op === "CL") return "%cl";
  if (op === "DX") return "%dx";
  if (SEG.includes(op.toLowerCase())) return `%${op.toLowerCase()}`;
  switch (k) {
    case "E":
    case "M":
    case "R":
    case "Z":
    case "O": {
      const s = op.endsWith("b") ? 0 : op.endsWith("w") ? 1 : op.endsWith("d") ? 2 : i.size;
      return i.mod === 3 ? reg(s, i.rm) : memory(i);
    }
    case "G": {
      const s = op.endsWith("b") ? 0 : op.endsWith("w") ? 1 : op.endsWith("d") ? 2 : i.size;
      return reg(s, i.reg);
    }
    case "S":
      return `%${SEG[i.reg] ?? "?"}`;
    case "C":
      return `%cr${i.reg}`;
    case "D":
      return op === "DX" ? "%dx" : `%db${i.reg}`;
    case "I": {
      const v = op === "Ibs"
        ? i.imm
        : op === "Ib"
        ? i.imm & 0xff
        : op === "Iw"
        ? i.imm & 0xffff
        : i.size === 1
        ? i.imm & 0xffff
        : i.size === 0
        ? i.imm & 0xff
        : i.imm >>> 0;
      // capstone prints sign-extended immediates signed, except for the logic operations.
      const logic = i.entry!.handler === "alu" && (i.arg === 1 || i.arg === 4 || i.arg === 6);
      if (op === "Ibs" && logic) return `$${num(i.size === 2 ? i.imm >>> 0 : i.imm & 0xffff)}`;
      return `$${num(op === "Ibs" ? i.imm : v)}`;
    }
    case "J": {
      const t = i.opsize32 ? (next + i.imm) >>> 0 : (next + i.imm) & 0xffff;
      return `0x${t.toString(16)}`;
    }
    case "A":
      if (op === "Ap") {
        const off = i.opsize32 ? i.imm >>> 0 : i.imm & 0xffff;
        return `$0x${i.imm2.toString(16)}:$0x${off.toString(16)}`;
      }
      return reg(size, 0);
    case "X":
      return `${i.segOverride ? `%${SEG[i.seg]}:` : ""}(%${i.adsize32 ? "esi" : "si"})`;
    case "Y":
      return `%es:(%${i.adsize32 ? "edi" : "di"})`;
    case "1":
      return "$1";
    default:
      if (op === "CL") return "%cl";
      if (op === "eAX") return reg(i.size, 0);
      if (SEG.includes(op.toLowerCase())) return `%${op.toLowerCase()}`;
      return op;
  }
}

function mnemonic(i: Insn, e: OpcodeEntry): string {
  const intel = i.opsize32 ? e.mnemonic32 : e.mnemonic16;
  const h = e.handler;
  if (h === "jcc" || h === "setcc" || h === "cmovcc") return intel === "cmovcc" ? intel : intel;
  if (h === "movzx" || h === "movsx") {
    return `mov${h === "movzx" ? "z" : "s"}${e.operands[1] === "Eb" ? "b" : "w"}${SUFFIX[i.size]}`;
  }
  const name = RENAME[intel] ?? intel;
  if (h === "jmpind" || h === "callind") return (h === "jmpind" ? "jmp" : "call") + SUFFIX[i.size];
  if (h === "movtoseg" || h === "movfromseg") return i.mod === 3 && i.opsize32 ? "movl" : "movw";
  if (STRING_OPS.has(h)) return (intel.endsWith("b") ? intel.slice(0, -1) : name) + SUFFIX[i.size];
  if (h === "jcxz") return i.adsize32 ? "jecxz" : "jcxz";
  if (h === "callfar") return i.opsize32 ? "lcalll" : "lcallw";
  if (h === "jmpfar") return i.opsize32 ? "ljmpl" : "ljmpw";
  if (NO_SUFFIX.has(intel) || h === "jcc" || h === "setcc" || h === "loop" || h === "jcxz") return name;
  if (h === "jmp") return "jmp";
  // capstone's one unsuffixed rotate: ROL by the implicit 1 (D1 /0).
  if (h === "shift" && i.arg === 0 && e.operands[1] === "1" && i.size === 2 && i.mod === 3) return "rol";
  if (h === "nop" && e.operands.length) return "nop" + SUFFIX[i.size];
  if (h === "sdt" || h === "ldt") return name + (i.opsize32 ? "l" : "w");
  if (h === "ltr" || h === "lldt" || h === "sldt" || h === "str" || h === "smsw" || h === "lmsw") {
    return name + "w";
  }
  if (
    h === "pushseg" || h === "popseg" || h === "iret" || h === "retf" || h === "ret" || h === "call" ||
    h === "callind" || h === "jmpind" || h === "callfar" || h === "jmpfar" || h === "callfarind" ||
    h === "jmpfarind" || h === "pushf" || h === "popf" || h === "pusha" || h === "popa" || h === "enter" ||
    h === "leave"
  ) {
    return name + (i.opsize32 ? "l" : "w");
  }
  if (h === "movtocr" || h === "movfromcr" || h === "movtodr" || h === "movfromdr") return "movl";
  if (e.operands.length === 0) return name;
  return name + SUFFIX[i.size];
}

export interface Disassembled {
  text: string;
  length: number;
}

/** Disassembles the instruction at `address` whose bytes `fetch(n)` returns. */
export function disassemble(fetch: (n: number) => number, address: number, code32: boolean): Disassembled {
  let i: Insn;
  try {
    i = decode(fetch, code32, () => () => {});
  } catch {
    return { text: `.byte    0x${fetch(0).toString(16).padStart(2, "0")}`, length: 1 };
  }
  const e = i.entry!;
  const next = (address + i.len) >>> 0;
  if (e.handler === "simd") {
    const pfx = i.rep === 1 ? 2 : i.rep === 2 ? 3 : i.opsize32 !== code32 ? 1 : 0;
    const t = e.opcode === 0x1ae || e.opcode === 0x1c3
      ? {
        name: e.mnemonic32,
        ops: e.opcode === 0x1c3
          ? [`%${["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"][i.reg]}`, memory(i)]
          : i.mod === 3
          ? []
          : [memory(i)],
      }
      : simdDisasm(i, pfx, memory(i));
    if (!t) return { text: `.byte    0x${fetch(0).toString(16).padStart(2, "0")}`, length: 1 };
    return { text: t.ops.length ? `${t.name.padEnd(8)} ${t.ops.join(", ")}` : t.name, length: i.len };
  }
  const m = mnemonic(i, e);
  let ops: string[];
  const h = e.handler;
  if (h === "aam" || h === "aad") ops = (i.imm & 0xff) === 10 ? [] : [`$${num(i.imm & 0xff)}`];
  else if (h === "jmpind" || h === "callind") ops = [`*${operand(i, "Ev", next)}`];
  else if (h === "jmpfarind" || h === "callfarind") ops = [`*${memory(i)}`];
  else if (h === "shift" && e.operands[1] === "1") ops = ["$1", operand(i, e.operands[0], next)];
  else if (h === "in") ops = [e.operands[1] === "DX" ? "%dx" : `$${num(i.imm & 0xff)}`, reg(i.size, 0)];
  else if (h === "out") ops = [reg(i.size, 0), e.operands[0] === "DX" ? "%dx" : `$${num(i.imm & 0xff)}`];
  else if (h === "fpu") ops = [];
  else if (h === "enter") ops = [`$${num(i.imm & 0xffff)}`, `$${num(i.imm2 & 0xff)}`];
  else if ((h === "movtoseg" || h === "movfromseg") && i.mod === 3) {
    const r = reg(i.opsize32 ? 2 : 1, i.rm), sr = `%${SEG[i.reg] ?? "?"}`;
    ops = h === "movtoseg" ? [r, sr] : [sr, r];
  } else ops = e.operands.map((op) => operand(i, op, next)).reverse();
  if (h === "movfromcr" || h === "movtocr" || h === "movfromdr" || h === "movtodr") {
    ops = ops.map((
      o,
    ) => (o.startsWith("%") && !o.startsWith("%cr") && !o.startsWith("%db") ? reg(2, i.rm) : o));
  }
  if (h === "fpu") {
    const modrm = (i.mod << 6) | (i.reg << 3) | i.rm;
    const t = x87DisasmAtt(e.opcode, modrm, i.mod === 3 ? "" : memory(i));
    const sp = t.indexOf(" ");
    const text = sp < 0 ? `${t.padEnd(8)} ` : `${t.slice(0, sp).padEnd(8)} ${t.slice(sp + 1)}`;
    return { text, length: i.len };
  }
  const prefix = i.rep ? (h === "cmps" || h === "scas" ? (i.rep === 1 ? "repe " : "repne ") : "rep ") : "";
  const text = prefix ? `${prefix}${m} ${ops.join(", ")}` : `${m.padEnd(8)} ${ops.join(", ")}`;
  return { text, length: i.len };
}

/** One `-d in_asm` line group for an instruction: address, up to 8 bytes per line, text. */
export function formatInAsm(address: number, bytes: Uint8Array, text: string): string {
  const hex = (b: number) => b.toString(16).padStart(2, "0");
  const lines: string[] = [];
  for (let k = 0; k < bytes.length; k += 8) {
    const chunk = Array.from(bytes.subarray(k, k + 8), hex).join(" ");
    const at = `0x${((address + k) >>> 0).toString(16).padStart(8, "0")}:  `;
    lines.push(k === 0 ? `${at}${chunk.padEnd(24)} ${text}` : `${at}${chunk}`);
  }
  return lines.join("\n");
}
