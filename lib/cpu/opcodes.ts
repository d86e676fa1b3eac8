/**
 * The opcode map: one table that drives both the decoder and the disassembler. Each row is
 *
 *   OPCODE[/REG]  MNEMONIC  OPERANDS  HANDLER[:ARG]
 *
 * OPCODE is a one-byte opcode (`8B`) or a 0F-escaped one (`0FAF`); `/REG` selects a row of a
 * ModRM group. MNEMONIC may be `w16/w32` when it depends on the operand size (cbw/cwde). OPERANDS
 * use the SDM's Appendix A letters: E (ModRM r/m), G (ModRM reg), M (memory only), R (register
 * only), S (segment register), C/D (control/debug register), I (immediate; `Ibs` sign-extended),
 * J (relative target), A (far pointer), O (moffs), X/Y (DS:eSI / ES:eDI), Z (register in the low
 * three opcode bits), with the size letters b, w, d, v (16/32 by operand size), p (far pointer),
 * q. Fixed registers are spelt out (AL, eAX, DX, CL, 1). `-` means no operands. HANDLER names a
 * function in exec/ (bound in exec/handlers.ts); ARG is a small number passed in the decoded
 * instruction (ALU operation, condition code, register).
 */

import { SIMD_ROWS } from "./simd/rows.ts";

const ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
const SHIFT = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"];
const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, "0");

function regular(): string[] {
  const rows: string[] = [];
  ALU.forEach((m, n) => {
    const b = hex(n * 8), o = n * 8;
    rows.push(`${b} ${m} Eb,Gb alu:${n}`, `${hex(o + 1)} ${m} Ev,Gv alu:${n}`);
    rows.push(`${hex(o + 2)} ${m} Gb,Eb alu:${n}`, `${hex(o + 3)} ${m} Gv,Ev alu:${n}`);
    rows.push(`${hex(o + 4)} ${m} AL,Ib alu:${n}`, `${hex(o + 5)} ${m} eAX,Iv alu:${n}`);
    rows.push(`80/${n} ${m} Eb,Ib alu:${n}`, `81/${n} ${m} Ev,Iv alu:${n}`);
    rows.push(`82/${n} ${m} Eb,Ib alu:${n}`, `83/${n} ${m} Ev,Ibs alu:${n}`);
  });
  SHIFT.forEach((m, n) => {
    rows.push(`C0/${n} ${m} Eb,Ib shift:${n}`, `C1/${n} ${m} Ev,Ib shift:${n}`);
    rows.push(`D0/${n} ${m} Eb,1 shift:${n}`, `D1/${n} ${m} Ev,1 shift:${n}`);
    rows.push(`D2/${n} ${m} Eb,CL shift:${n}`, `D3/${n} ${m} Ev,CL shift:${n}`);
  });
  CC.forEach((c, n) => {
    rows.push(`${hex(0x70 + n)} j${c} Jb jcc:${n}`, `0F${hex(0x80 + n)} j${c} Jv jcc:${n}`);
    rows.push(`0F${hex(0x90 + n)} set${c} Eb setcc:${n}`, `0F${hex(0x40 + n)} cmov${c} Gv,Ev cmovcc:${n}`);
  });
  for (let r = 0; r < 8; r++) {
    rows.push(`${hex(0x40 + r)} inc Zv incdec:0`, `${hex(0x48 + r)} dec Zv incdec:1`);
    rows.push(`${hex(0x50 + r)} push Zv push`, `${hex(0x58 + r)} pop Zv pop`);
    rows.push(`${hex(0xb0 + r)} mov Zb,Ib mov`, `${hex(0xb8 + r)} mov Zv,Iv mov`);
    rows.push(`0F${hex(0xc8 + r)} bswap Zd bswap`);
    if (r) rows.push(`${hex(0x90 + r)} xchg Zv,eAX xchg`);
  }
  return rows;
}

const IRREGULAR = `
06 push ES pushseg:0
07 pop ES popseg:0
0E push CS pushseg:1
16 push SS pushseg:2
17 pop SS popseg:2
1E push DS pushseg:3
1F pop DS popseg:3
27 daa - daa
2F das - das
37 aaa - aaa
3F aas - aas
60 pusha/pushad - pusha
61 popa/popad - popa
62 bound Gv,Mq bound
63 arpl Ew,Gw arpl
68 push Iv push
69 imul Gv,Ev,Iv imul3
6A push Ibs push
6B imul Gv,Ev,Ibs imul3
6C insb Yb,DX ins
6D insw/insd Yv,DX ins
6E outsb DX,Xb outs
6F outsw/outsd DX,Xv outs
84 test Eb,Gb test
85 test Ev,Gv test
86 xchg Eb,Gb xchg
87 xchg Ev,Gv xchg
88 mov Eb,Gb mov
89 mov Ev,Gv mov
8A mov Gb,Eb mov
8B mov Gv,Ev mov
8C mov Ew,Sw movfromseg
8D lea Gv,M lea
8E mov Sw,Ew movtoseg
8F/0 pop Ev pop
90 nop - nop
98 cbw/cwde - cbw
99 cwd/cdq - cwd
9A call Ap callfar
9B fwait - fwait
9C pushf/pushfd - pushf
9D popf/popfd - popf
9E sahf - sahf
9F lahf - lahf
A0 mov AL,Ob mov
A1 mov eAX,Ov mov
A2 mov Ob,AL mov
A3 mov Ov,eAX mov
A4 movsb Yb,Xb movs
A5 movsw/movsd Yv,Xv movs
A6 cmpsb Xb,Yb cmps
A7 cmpsw/cmpsd Xv,Yv cmps
A8 test AL,Ib test
A9 test eAX,Iv test
AA stosb Yb,AL stos
AB stosw/stosd Yv,eAX stos
AC lodsb AL,Xb lods
AD lodsw/lodsd eAX,Xv lods
AE scasb AL,Yb scas
AF scasw/scasd eAX,Yv scas
C2 ret Iw ret
C3 ret - ret
C4 les Gv,Mp lfp:0
C5 lds Gv,Mp lfp:3
C6/0 mov Eb,Ib mov
C7/0 mov Ev,Iv mov
C8 enter Iw,Ib enter
C9 leave - leave
CA lret Iw retf
CB lret - retf
CC int3 - int3
CD int Ib int
CE into - into
CF iret/iretd - iret
D4 aam Ib aam
D5 aad Ib aad
D6 salc - salc
D7 xlatb - xlat
D8 fpu - fpu
D9 fpu - fpu
DA fpu - fpu
DB fpu - fpu
DC fpu - fpu
DD fpu - fpu
DE fpu - fpu
DF fpu - fpu
E0 loopne Jb loop:0
E1 loope Jb loop:1
E2 loop Jb loop:2
E3 jcxz/jecxz Jb jcxz
E4 in AL,Ib in
E5 in eAX,Ib in
E6 out Ib,AL out
E7 out Ib,eAX out
E8 call Jv call
E9 jmp Jv jmp
EA ljmp Ap jmpfar
EB jmp Jb jmp
EC in AL,DX in
ED in eAX,DX in
EE out DX,AL out
EF out DX,eAX out
F1 int1 - int1
F4 hlt - hlt
F5 cmc - cmc
F6/0 test Eb,Ib test
F6/1 test Eb,Ib test
F6/2 not Eb not
F6/3 neg Eb neg
F6/4 mul Eb mul
F6/5 imul Eb imul1
F6/6 div Eb div
F6/7 idiv Eb idiv
F7/0 test Ev,Iv test
F7/1 test Ev,Iv test
F7/2 not Ev not
F7/3 neg Ev neg
F7/4 mul Ev mul
F7/5 imul Ev imul1
F7/6 div Ev div
F7/7 idiv Ev idiv
F8 clc - clc
F9 stc - stc
FA cli - cli
FB sti - sti
FC cld - cld
FD std - std
FE/0 inc Eb incdec:0
FE/1 dec Eb incdec:1
FF/0 inc Ev incdec:0
FF/1 dec Ev incdec:1
FF/2 call Ev callind
FF/3 lcall Mp callfarind
FF/4 jmp Ev jmpind
FF/5 ljmp Mp jmpfarind
FF/6 push Ev push
0F00/0 sldt Ew sldt
0F00/1 str Ew str
0F00/2 lldt Ew lldt
0F00/3 ltr Ew ltr
0F00/4 verr Ew verrw:0
0F00/5 verw Ew verrw:1
0F01/0 sgdt M sdt:0
0F01/1 sidt M sdt:1
0F01/2 lgdt M ldt:0
0F01/3 lidt M ldt:1
0F01/4 smsw Ew smsw
0F01/6 lmsw Ew lmsw
0F01/7 invlpg M invlpg
0F02 lar Gv,Ew larlsl:0
0F03 lsl Gv,Ew larlsl:1
0F06 clts - clts
0F08 invd - nop
0F09 wbinvd - nop
0F0B ud2 - ud2
0F1F/0 nop Ev nop
0F20 mov Rd,Cd movfromcr
0F21 mov Rd,Dd movfromdr
0F22 mov Cd,Rd movtocr
0F23 mov Dd,Rd movtodr
0F30 wrmsr - wrmsr
0F31 rdtsc - rdtsc
0F32 rdmsr - rdmsr
0F33 rdpmc - rdpmc
0F34 sysenter - sysenter
0F35 sysexit - sysexit
0FA0 push FS pushseg:4
0FA1 pop FS popseg:4
0FA2 cpuid - cpuid
0FA3 bt Ev,Gv bt:0
0FA4 shld Ev,Gv,Ib shld
0FA5 shld Ev,Gv,CL shld
0FA8 push GS pushseg:5
0FA9 pop GS popseg:5
0FAB bts Ev,Gv bt:1
0FAC shrd Ev,Gv,Ib shrd
0FAD shrd Ev,Gv,CL shrd
0FAE/0 fxsave M fxsave
0FAE/1 fxrstor M fxrstor
0FAF imul Gv,Ev imul2
0FB0 cmpxchg Eb,Gb cmpxchg
0FB1 cmpxchg Ev,Gv cmpxchg
0FB2 lss Gv,Mp lfp:2
0FB3 btr Ev,Gv bt:2
0FB4 lfs Gv,Mp lfp:4
0FB5 lgs Gv,Mp lfp:5
0FB6 movzx Gv,Eb movzx
0FB7 movzx Gv,Ew movzx
0FBA/4 bt Ev,Ib bt:0
0FBA/5 bts Ev,Ib bt:1
0FBA/6 btr Ev,Ib bt:2
0FBA/7 btc Ev,Ib bt:3
0FBB btc Ev,Gv bt:3
0FBC bsf Gv,Ev bsf
0FBD bsr Gv,Ev bsr
0FBE movsx Gv,Eb movsx
0FBF movsx Gv,Ew movsx
0FC0 xadd Eb,Gb xadd
0FC1 xadd Ev,Gv xadd
0FC7/1 cmpxchg8b Mq cmpxchg8b
`;

export interface OpcodeEntry {
  /** 0x00..0xFF, 0x100 + byte for the 0F map, 0x200 + byte for the 0F 38 map. */
  readonly opcode: number;
  /** ModRM reg field selecting a group row, or -1. */
  readonly group: number;
  /** Mnemonic for 16-bit and 32-bit operand size (the same for most). */
  readonly mnemonic16: string;
  readonly mnemonic32: string;
  readonly operands: readonly string[];
  readonly handler: string;
  readonly arg: number;
  readonly hasModrm: boolean;
}

function parse(row: string): OpcodeEntry {
  const [op, mnemonic, operandText, handlerText] = row.trim().split(/\s+/);
  const [code, group] = op.split("/");
  const opcode = code.length === 6
    ? 0x200 + parseInt(code.slice(4), 16)
    : code.length === 4
    ? 0x100 + parseInt(code.slice(2), 16)
    : parseInt(code, 16);
  const [m16, m32] = mnemonic.includes("/") ? mnemonic.split("/") : [mnemonic, mnemonic];
  const operands = operandText === "-" ? [] : operandText.split(",");
  const [handler, arg] = handlerText.split(":");
  const hasModrm = group !== undefined || operands.some((o) => /^([EGRSCD][a-z]|M)/.test(o)) ||
    handler === "fpu";
  return {
    opcode,
    group: group === undefined ? -1 : Number(group),
    mnemonic16: m16,
    mnemonic32: m32,
    operands,
    handler,
    arg: arg === undefined ? 0 : Number(arg),
    hasModrm,
  };
}

export const OPCODE_ROWS: readonly OpcodeEntry[] = [...regular(), ...IRREGULAR.trim().split("\n")].map(parse);

/**
 * VMX instructions (lib/cpu/vmx): in the map but kept out of OPCODE_ROWS, whose disassembler round
 * trip covers only the CPU area's rows. 0F C7 /6 is VMXON, VMCLEAR or VMPTRLD by prefix (F3, 66,
 * none). The register forms of 0F 01 are in REG_FORMS, keyed (opcode << 8) | ModRM.
 */
const VMX_ROWS = `
0FC7/6 vmptrld Mq vmx:0
0FC7/7 vmptrst Mq vmx:1
0F78 vmread Ed,Gd vmx:2
0F79 vmwrite Gd,Ed vmx:3
0F3880 invept Gd,Mq vmx:8
0F3881 invvpid Gd,Mq vmx:9
`.trim().split("\n").map(parse);

/** MMX/SSE/SSE2 rows (lib/cpu/simd/rows.ts), kept apart like VMX_ROWS. */
export const SIMD_OPCODE_ROWS: readonly OpcodeEntry[] = SIMD_ROWS.map(parse);

export const REG_FORMS = new Map<number, OpcodeEntry>(
  [
    [0x101c1, "0F01/0 vmcall - vmx:4"],
    [0x101c2, "0F01/0 vmlaunch - vmx:5"],
    [0x101c3, "0F01/0 vmresume - vmx:6"],
    [0x101c4, "0F01/0 vmxoff - vmx:7"],
    [0x101c8, "0F01/1 monitor - monitor"],
    [0x101c9, "0F01/1 mwait - mwait"],
  ].map(([key, row]) => [key as number, { ...parse(row as string), hasModrm: true }]),
);

/**
 * Lookup by opcode: `MAP[opcode]` is the row for a plain opcode, or for a group an array of eight
 * rows by ModRM reg (undefined where the row does not exist: #UD).
 */
export const MAP: (OpcodeEntry | (OpcodeEntry | undefined)[] | undefined)[] = new Array(0x300);
for (const e of [...OPCODE_ROWS, ...VMX_ROWS, ...SIMD_OPCODE_ROWS]) {
  if (e.group < 0) {
    if (MAP[e.opcode]) throw new Error(`duplicate opcode row ${e.opcode.toString(16)}`);
    MAP[e.opcode] = e;
  } else {
    const rows = (MAP[e.opcode] ??= new Array(8)) as (OpcodeEntry | undefined)[];
    rows[e.group] = e;
  }
}

/** Prefix bytes (not in the map: the decoder consumes them). */
export const PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/** Handlers after which a decoded block must end: they change EIP, modes, or what code means. */
export const ENDS_BLOCK = new Set([
  "jcc",
  "jmp",
  "jmpind",
  "jmpfar",
  "jmpfarind",
  "call",
  "callind",
  "callfar",
  "callfarind",
  "ret",
  "retf",
  "iret",
  "int",
  "int1",
  "int3",
  "into",
  "loop",
  "jcxz",
  "hlt",
  "sti",
  "cli",
  "popf",
  "popseg",
  "movtoseg",
  "lfp",
  "movtocr",
  "movtodr",
  "lmsw",
  "clts",
  "invlpg",
  "lgdt",
  "ldt",
  "lldt",
  "ltr",
  "sysenter",
  "sysexit",
  "wrmsr",
  "ud2",
  "bound",
  "fpu",
  "fwait",
  "fxrstor",
  "out",
  "outs",
  "in",
  "ins",
  "vmx",
]);
