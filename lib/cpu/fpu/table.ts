/**
 * The x87 opcode map (D8-DF), one table that drives both execution and disassembly. A form is found
 * by the opcode byte and the ModRM byte: memory forms by (opcode, reg), register forms by
 * (opcode, reg, rm). Names and operand kinds follow the Intel SDM volume 2; the undocumented aliases
 * a P6 executes (FCOM2, FSTP1, FFREEP, ...) carry the mnemonic a disassembler prints for them.
 */

/** What the FPU does for a form. Arithmetic ops keep the ModRM reg order: ADD MUL COM COMP SUB SUBR DIV DIVR. */
export const Op = {
  UD: 0,
  ADD: 1,
  MUL: 2,
  COM: 3,
  COMP: 4,
  SUB: 5,
  SUBR: 6,
  DIV: 7,
  DIVR: 8,
  LD: 9,
  ST: 10,
  STP: 11,
  ILD: 12,
  IST: 13,
  ISTP: 14,
  ISTTP: 15,
  BLD: 16,
  BSTP: 17,
  LDENV: 18,
  LDCW: 19,
  STENV: 20,
  STCW: 21,
  RSTOR: 22,
  SAVE: 23,
  STSW: 24,
  XCH: 25,
  NOP: 26,
  CHS: 27,
  ABS: 28,
  TST: 29,
  XAM: 30,
  LD1: 31,
  LDL2T: 32,
  LDL2E: 33,
  LDPI: 34,
  LDLG2: 35,
  LDLN2: 36,
  LDZ: 37,
  F2XM1: 38,
  YL2X: 39,
  PTAN: 40,
  PATAN: 41,
  XTRACT: 42,
  PREM1: 43,
  DECSTP: 44,
  INCSTP: 45,
  PREM: 46,
  YL2XP1: 47,
  SQRT: 48,
  SINCOS: 49,
  RNDINT: 50,
  SCALE: 51,
  SIN: 52,
  COS: 53,
  CMOVB: 54,
  CMOVE: 55,
  CMOVBE: 56,
  CMOVU: 57,
  CMOVNB: 58,
  CMOVNE: 59,
  CMOVNBE: 60,
  CMOVNU: 61,
  UCOMPP: 62,
  CLEX: 63,
  INIT: 64,
  NOP287: 65,
  UCOMI: 66,
  COMI: 67,
  FREE: 68,
  UCOM: 69,
  UCOMP: 70,
  COMPP: 71,
  FREEP: 72,
  STSWAX: 73,
  UCOMIP: 74,
  COMIP: 75,
  ADDP: 76,
  MULP: 77,
  SUBP: 78,
  SUBRP: 79,
  DIVP: 80,
  DIVRP: 81,
} as const;

/**
 * Operand kinds. Memory kinds name the SDM's operand type; register kinds say how ST(i) appears.
 * `size` is the memory operand width in bytes (0 when it depends on the operand size: env/save).
 */
export const Operand = {
  NONE: 0,
  M32FP: 1,
  M64FP: 2,
  M80FP: 3,
  M16INT: 4,
  M32INT: 5,
  M64INT: 6,
  M80BCD: 7,
  M2BYTE: 8,
  MENV: 9,
  MSAVE: 10,
  ST0_STI: 11,
  STI_ST0: 12,
  STI: 13,
  AX: 14,
} as const;

export interface X87Form {
  readonly mnemonic: string;
  readonly op: number;
  readonly operand: number;
  /** Waiting instruction: checks for a pending unmasked exception first (the FN* forms do not). */
  readonly wait: boolean;
  /** Records FIP/FCS/FOP (and FDP/FDS for memory forms); control instructions leave them alone. */
  readonly recordsIp: boolean;
  /** Needs SSE3 (FISTTP); the core raises #UD when its CPU model lacks it. */
  readonly sse3: boolean;
}

/** Memory operand bytes for each operand kind (env/save: 14/28 and 94/108 by operand size). */
export const OPERAND_BYTES = [0, 4, 8, 10, 2, 4, 8, 10, 2, 0, 0, 0, 0, 0, 0];

/** Intel-syntax size keyword (as capstone and QEMU's -d in_asm print it) per memory operand kind. */
export const OPERAND_PTR = [
  "",
  "dword ptr ",
  "qword ptr ",
  "xword ptr ",
  "word ptr ",
  "dword ptr ",
  "qword ptr ",
  "xword ptr ",
  "word ptr ",
  "",
  "",
  "",
  "",
  "",
  "",
];

const NO_IP = new Set<number>([
  Op.LDENV,
  Op.LDCW,
  Op.STENV,
  Op.STCW,
  Op.RSTOR,
  Op.SAVE,
  Op.STSW,
  Op.STSWAX,
  Op.CLEX,
  Op.INIT,
  Op.NOP287,
]);
const NO_WAIT = new Set<number>([
  Op.STENV,
  Op.STCW,
  Op.SAVE,
  Op.STSW,
  Op.STSWAX,
  Op.CLEX,
  Op.INIT,
  Op.NOP287,
]);

function form(mnemonic: string, op: number, operand: number): X87Form {
  return {
    mnemonic,
    op,
    operand,
    wait: op !== Op.UD && !NO_WAIT.has(op),
    recordsIp: op !== Op.UD && !NO_IP.has(op),
    sse3: op === Op.ISTTP,
  };
}

const UD = form("(bad)", Op.UD, Operand.NONE);
const ARITH = ["fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr"];
const ARITH_OPS = [Op.ADD, Op.MUL, Op.COM, Op.COMP, Op.SUB, Op.SUBR, Op.DIV, Op.DIVR];

type Row = [string, number, number] | null;

/** Memory forms: MEMORY[(opcode - 0xD8) * 8 + reg]. */
const memoryRows: Row[][] = [
  ARITH.map((m, r) => [m, ARITH_OPS[r], Operand.M32FP]),
  [
    ["fld", Op.LD, Operand.M32FP],
    null,
    ["fst", Op.ST, Operand.M32FP],
    ["fstp", Op.STP, Operand.M32FP],
    ["fldenv", Op.LDENV, Operand.MENV],
    ["fldcw", Op.LDCW, Operand.M2BYTE],
    ["fnstenv", Op.STENV, Operand.MENV],
    ["fnstcw", Op.STCW, Operand.M2BYTE],
  ],
  ARITH.map((m, r) => ["fi" + m.slice(1), ARITH_OPS[r], Operand.M32INT]),
  [
    ["fild", Op.ILD, Operand.M32INT],
    ["fisttp", Op.ISTTP, Operand.M32INT],
    ["fist", Op.IST, Operand.M32INT],
    ["fistp", Op.ISTP, Operand.M32INT],
    null,
    ["fld", Op.LD, Operand.M80FP],
    null,
    ["fstp", Op.STP, Operand.M80FP],
  ],
  ARITH.map((m, r) => [m, ARITH_OPS[r], Operand.M64FP]),
  [
    ["fld", Op.LD, Operand.M64FP],
    ["fisttp", Op.ISTTP, Operand.M64INT],
    ["fst", Op.ST, Operand.M64FP],
    ["fstp", Op.STP, Operand.M64FP],
    ["frstor", Op.RSTOR, Operand.MSAVE],
    null,
    ["fnsave", Op.SAVE, Operand.MSAVE],
    ["fnstsw", Op.STSW, Operand.M2BYTE],
  ],
  ARITH.map((m, r) => ["fi" + m.slice(1), ARITH_OPS[r], Operand.M16INT]),
  [
    ["fild", Op.ILD, Operand.M16INT],
    ["fisttp", Op.ISTTP, Operand.M16INT],
    ["fist", Op.IST, Operand.M16INT],
    ["fistp", Op.ISTP, Operand.M16INT],
    ["fbld", Op.BLD, Operand.M80BCD],
    ["fild", Op.ILD, Operand.M64INT],
    ["fbstp", Op.BSTP, Operand.M80BCD],
    ["fistp", Op.ISTP, Operand.M64INT],
  ],
];

/** One ModRM reg group of register forms: a single form for all eight ST(i), or eight rm-specific ones. */
type Group = Row | Row[];

const sti = (m: string, op: number, operand: number = Operand.STI): Row => [m, op, operand];
const registerGroups: Group[][] = [
  ARITH.map((m, r) => sti(m, ARITH_OPS[r], r === 2 || r === 3 ? Operand.STI : Operand.ST0_STI)),
  [
    sti("fld", Op.LD),
    sti("fxch", Op.XCH),
    [["fnop", Op.NOP, Operand.NONE], null, null, null, null, null, null, null],
    sti("fstp1", Op.STP),
    [
      ["fchs", Op.CHS, Operand.NONE],
      ["fabs", Op.ABS, Operand.NONE],
      null,
      null,
      ["ftst", Op.TST, Operand.NONE],
      ["fxam", Op.XAM, Operand.NONE],
      null,
      null,
    ],
    [
      ["fld1", Op.LD1, 0],
      ["fldl2t", Op.LDL2T, 0],
      ["fldl2e", Op.LDL2E, 0],
      ["fldpi", Op.LDPI, 0],
      ["fldlg2", Op.LDLG2, 0],
      ["fldln2", Op.LDLN2, 0],
      ["fldz", Op.LDZ, 0],
      null,
    ],
    [
      ["f2xm1", Op.F2XM1, 0],
      ["fyl2x", Op.YL2X, 0],
      ["fptan", Op.PTAN, 0],
      ["fpatan", Op.PATAN, 0],
      ["fxtract", Op.XTRACT, 0],
      ["fprem1", Op.PREM1, 0],
      ["fdecstp", Op.DECSTP, 0],
      ["fincstp", Op.INCSTP, 0],
    ],
    [
      ["fprem", Op.PREM, 0],
      ["fyl2xp1", Op.YL2XP1, 0],
      ["fsqrt", Op.SQRT, 0],
      ["fsincos", Op.SINCOS, 0],
      ["frndint", Op.RNDINT, 0],
      ["fscale", Op.SCALE, 0],
      ["fsin", Op.SIN, 0],
      ["fcos", Op.COS, 0],
    ],
  ],
  [
    sti("fcmovb", Op.CMOVB, Operand.ST0_STI),
    sti("fcmove", Op.CMOVE, Operand.ST0_STI),
    sti("fcmovbe", Op.CMOVBE, Operand.ST0_STI),
    sti("fcmovu", Op.CMOVU, Operand.ST0_STI),
    null,
    [null, ["fucompp", Op.UCOMPP, 0], null, null, null, null, null, null],
    null,
    null,
  ],
  [
    sti("fcmovnb", Op.CMOVNB, Operand.ST0_STI),
    sti("fcmovne", Op.CMOVNE, Operand.ST0_STI),
    sti("fcmovnbe", Op.CMOVNBE, Operand.ST0_STI),
    sti("fcmovnu", Op.CMOVNU, Operand.ST0_STI),
    [
      ["fneni", Op.NOP287, 0],
      ["fndisi", Op.NOP287, 0],
      ["fnclex", Op.CLEX, 0],
      ["fninit", Op.INIT, 0],
      ["fnsetpm", Op.NOP287, 0],
      null,
      null,
      null,
    ],
    sti("fucomi", Op.UCOMI, Operand.ST0_STI),
    sti("fcomi", Op.COMI, Operand.ST0_STI),
    null,
  ],
  [
    sti("fadd", Op.ADD, Operand.STI_ST0),
    sti("fmul", Op.MUL, Operand.STI_ST0),
    sti("fcom2", Op.COM),
    sti("fcomp3", Op.COMP),
    sti("fsubr", Op.SUB, Operand.STI_ST0),
    sti("fsub", Op.SUBR, Operand.STI_ST0),
    sti("fdivr", Op.DIV, Operand.STI_ST0),
    sti("fdiv", Op.DIVR, Operand.STI_ST0),
  ],
  [
    sti("ffree", Op.FREE),
    sti("fxch4", Op.XCH),
    sti("fst", Op.ST),
    sti("fstp", Op.STP),
    sti("fucom", Op.UCOM),
    sti("fucomp", Op.UCOMP),
    null,
    null,
  ],
  [
    sti("faddp", Op.ADDP, Operand.STI_ST0),
    sti("fmulp", Op.MULP, Operand.STI_ST0),
    sti("fcomp5", Op.COMP),
    [null, ["fcompp", Op.COMPP, 0], null, null, null, null, null, null],
    sti("fsubrp", Op.SUBP, Operand.STI_ST0),
    sti("fsubp", Op.SUBRP, Operand.STI_ST0),
    sti("fdivrp", Op.DIVP, Operand.STI_ST0),
    sti("fdivp", Op.DIVRP, Operand.STI_ST0),
  ],
  [
    sti("ffreep", Op.FREEP),
    sti("fxch7", Op.XCH),
    sti("fstp8", Op.STP),
    sti("fstp9", Op.STP),
    [["fnstsw", Op.STSWAX, Operand.AX], null, null, null, null, null, null, null],
    sti("fucomip", Op.UCOMIP, Operand.ST0_STI),
    sti("fcomip", Op.COMIP, Operand.ST0_STI),
    null,
  ],
];

function build(row: Row): X87Form {
  return row ? form(row[0], row[1], row[2]) : UD;
}

/** Memory forms indexed by (opcode - 0xD8) * 8 + reg. */
export const MEMORY_FORMS: readonly X87Form[] = memoryRows.flatMap((rows) => rows.map(build));

/** Register forms indexed by (opcode - 0xD8) * 64 + (modrm & 0x3F). */
export const REGISTER_FORMS: readonly X87Form[] = registerGroups.flatMap((groups) =>
  groups.flatMap((g) =>
    Array.from({ length: 8 }, (_, rm) => build(g !== null && g.length === 8 ? (g as Row[])[rm] : g as Row))
  )
);

/** The form an x87 opcode byte (D8-DF) and ModRM byte select. */
export function x87Form(opcode: number, modrm: number): X87Form {
  return modrm >= 0xc0
    ? REGISTER_FORMS[(opcode - 0xd8) * 64 + (modrm & 0x3f)]
    : MEMORY_FORMS[(opcode - 0xd8) * 8 + ((modrm >> 3) & 7)];
}

/**
 * Intel-syntax text of an x87 instruction: `memory` is the already formatted `[...]` operand for
 * memory forms (the core's disassembler formats addresses); the size keyword comes from the table.
 */
export function x87Disasm(opcode: number, modrm: number, memory = ""): string {
  const f = x87Form(opcode, modrm);
  const i = modrm & 7;
  switch (f.operand) {
    case Operand.NONE:
      return f.mnemonic;
    case Operand.ST0_STI:
      return `${f.mnemonic} st(0), st(${i})`;
    case Operand.STI_ST0:
      return `${f.mnemonic} st(${i}), st(0)`;
    case Operand.STI:
      return `${f.mnemonic} st(${i})`;
    case Operand.AX:
      return `${f.mnemonic} ax`;
    default:
      return `${f.mnemonic} ${OPERAND_PTR[f.operand]}${memory}`;
  }
}

/** AT&T size suffix per memory operand kind (m32fp "s", m64fp "l", m80fp "t", m16int "s", ...). */
const ATT_SUFFIX = ["", "s", "l", "t", "s", "l", "ll", "", "", "", "", "", "", "", ""];

/** Register forms whose AT&T text is not derived from the Intel one: [mnemonic, operands]. */
const ATT_REGISTER: Record<string, [string, string]> = {
  fstp1: ["fstpnce", "0i"],
  fcom2: ["fcom", "i0"],
  fcomp3: ["fcomp", "i0"],
  fcomp5: ["fcomp", "i0"],
  fxch4: ["fxch", "i0"],
  fxch7: ["fxch", "i0"],
  fstp8: ["fstp", "0i"],
  fstp9: ["fstp", "0i"],
  fneni: ["feni8087_nop", ""],
  fndisi: ["fdisi8087_nop", ""],
  fnsetpm: ["fsetpm", ""],
};

/** AT&T names of DC/DE reg 4-7: the SysV assembler's reversed FSUB/FSUBR and FDIV/FDIVR. */
const ATT_REVERSED = ["fsub", "fsubr", "fdiv", "fdivr"];

function attOperands(pattern: string, i: number): string {
  switch (pattern) {
    case "i":
      return ` %st(${i})`;
    case "i0":
      return ` %st(${i}), %st(0)`;
    case "0i":
      return ` %st(0), %st(${i})`;
    default:
      return pattern ? ` ${pattern}` : "";
  }
}

/**
 * AT&T text of an x87 instruction as QEMU 7.2's `-d in_asm` prints it (its binutils-derived
 * disassembler: size suffixes, SysV operand order, "fstpnce" and "feni8087_nop" for the oddities).
 * `memory` is the formatted AT&T memory operand (e.g. "0x300000" or "0x8(%eax)").
 */
export function x87DisasmAtt(opcode: number, modrm: number, memory = ""): string {
  const f = x87Form(opcode, modrm);
  if (modrm < 0xc0) return `${f.mnemonic}${ATT_SUFFIX[f.operand]} ${memory}`;
  const i = modrm & 7;
  const reg = (modrm >> 3) & 7;
  const special = ATT_REGISTER[f.mnemonic];
  if (special) return special[0] + attOperands(special[1], i);
  let mnemonic = f.mnemonic;
  if ((opcode === 0xdc || opcode === 0xde) && reg >= 4) {
    mnemonic = ATT_REVERSED[reg - 4] + (opcode === 0xde ? "p" : "");
  }
  let pattern = "";
  switch (f.operand) {
    case Operand.STI:
      pattern = "i";
      break;
    case Operand.ST0_STI:
      pattern = mnemonic.startsWith("fcmov") ? "i0" : "i";
      break;
    case Operand.STI_ST0:
      pattern = opcode === 0xdc ? "0i" : "i";
      break;
    case Operand.AX:
      pattern = "%ax";
  }
  return mnemonic + attOperands(pattern, i);
}
