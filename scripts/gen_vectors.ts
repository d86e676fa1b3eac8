/**
 * Generates the differential CPU test guests tests/guests/diff/<group>.asm (ALU, shift/rotate,
 * multiply/divide, BCD) from one fixed seed, so the same sources come out on every run:
 *
 *   deno run --allow-read --allow-write scripts/gen_vectors.ts            # write the sources
 *   deno run --allow-read scripts/gen_vectors.ts --explain alu 0x1a2f0    # decode one vector
 *
 * then `deno task guests` and `deno run --allow-read --allow-write --allow-run scripts/record_goldens.ts
 * tests/guests/diff` (QEMU's output becomes tests/golden/diff/).
 *
 * Why the guest expands its own vectors: 100,000 vectors of stored operands would be a megabyte of
 * binary and several of assembly per group. Instead this script's PRNG fixes the seed of each group,
 * the immediates of the immediate forms and the edge-value tables, and writes a form table (stub,
 * vector count, operand pools). The guest runs one loop over that table and draws each operand with
 * xorshift32 from its pool: half the time an edge value (its low byte/word/dword merged into random
 * upper bits, so partial-register writes are checked too), half the time random. `mirror()` below
 * replays the guest's draws, so any vector's operands can be recovered from its index.
 *
 * Output format, one line per 8 vectors of one form (a form starts with a `= <name> <insn>` line):
 *   IIIII:RRRRRRFS RRRRRRFS ...   (vectors IIIII.. in hex, group-wide numbering)
 * R: each result register (EAX, then EDX for the forms that write it), 6 chars of 6 bits, most
 * significant first, char = 0x30 + bits ('0'..'o'); F: the arithmetic flags after the instruction
 * as one such char, bits CF, OF, PF, AF, ZF, SF from bit 0 up; S: '.' normal completion, '#' #DE
 * raised with the exception frame's EIP on the faulting instruction, '!' #DE with a wrong EIP, 'f' an
 * EFLAGS bit other than the six changed (they are compared in the guest, not printed).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SEED = 0x2022_0704;
const LINE = 8;
const MIN_VECTORS = 100_000;

/** xorshift32, the generator the guests run too (same shifts 13, 17, 5). */
export function xorshift32(state: number): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return state >>> 0;
}

class Rng {
  constructor(private state: number) {}
  next(): number {
    return (this.state = xorshift32(this.state));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.next() % items.length];
  }
}

// Edge values: the low byte, word and dword each hit the boundaries of their size.
const GENERAL = [
  0,
  1,
  2,
  3,
  0x0f,
  0x10,
  0x7e,
  0x7f,
  0x80,
  0x81,
  0xfe,
  0xff,
  0x100,
  0x7ffe,
  0x7fff,
  0x8000,
  0x8001,
  0xfffe,
  0xffff,
  0x10000,
  0x7ffffffe,
  0x7fffffff,
  0x80000000,
  0x80000001,
  0xfffffffe,
  0xffffffff,
  0x55555555,
  0xaaaaaaaa,
  0xffff0000,
  0x0000ff00,
  0x00ff00ff,
  0xff7f8000,
];
const COUNTS = [
  0,
  1,
  2,
  3,
  4,
  7,
  8,
  9,
  10,
  15,
  16,
  17,
  18,
  23,
  24,
  25,
  30,
  31,
  32,
  33,
  34,
  47,
  48,
  63,
  64,
  65,
  95,
  127,
  128,
  129,
  224,
  255,
];
const DIVIDEND_HIGH = [
  0,
  0,
  0,
  1,
  2,
  3,
  0x0f,
  0x7e,
  0x7f,
  0x80,
  0xff,
  0x100,
  0x7fff,
  0x8000,
  0xfffe,
  0xffff,
  0x10000,
  0x7fffffff,
  0x80000000,
  0xfffffffe,
  0xffffffff,
  0xffffffff,
  0x3fffffff,
  0xc0000000,
  0x1234,
  0x12345678,
  0xffff8000,
  0xffffff80,
  0x00007fff,
  0x0000ff00,
  0xff000000,
  0x00800000,
];
const BCD_BYTES = [
  0x00,
  0x01,
  0x09,
  0x0a,
  0x0f,
  0x10,
  0x19,
  0x1a,
  0x50,
  0x90,
  0x99,
  0x9a,
  0x9f,
  0xa0,
  0xf9,
  0xff,
];

type Pool = { name: string; mask: number; values: number[] } | null;

function pool(name: string, mask: number, values: number[]): Pool {
  if (values.length !== 32) throw new Error(`pool ${name} needs 32 values`);
  return { name: `${name}_${mask.toString(16)}`, mask, values };
}

const SIZES = [
  { bits: 8, mask: 0xff, a: "al", b: "bl", c: "cl", d: "dl" },
  { bits: 16, mask: 0xffff, a: "ax", b: "bx", c: "cx", d: "dx" },
  { bits: 32, mask: 0xffffffff, a: "eax", b: "ebx", c: "ecx", d: "edx" },
] as const;

/**
 * One operation form: its instruction(s), the pools EAX, EBX, ECX, EDX are drawn from (null leaves
 * the register 0), whether EDX is printed after EAX, and its share of the group's vectors.
 */
interface Form {
  name: string;
  insn: string;
  pools: [Pool, Pool, Pool, Pool];
  edx: boolean;
  weight: number;
  count?: number;
  /** The destination is the dword at `scratch`: EAX is stored there first and read back after. */
  mem?: boolean;
}

interface Group {
  name: string;
  title: string;
  forms: Form[];
  seed: number;
}

function aluForms(): Form[] {
  const forms: Form[] = [];
  for (const s of SIZES) {
    const gen = pool("general", s.mask, GENERAL);
    const sized = { 8: "byte", 16: "word", 32: "dword" }[s.bits];
    // Each operation on a register and on a memory destination (the read-modify-write path).
    for (const [suffix, dest, mem] of [["", s.a, false], ["m", `${sized} [scratch]`, true]] as const) {
      for (const op of ["add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test"]) {
        forms.push({
          name: `${op}${s.bits}${suffix}`,
          insn: `${op} ${dest}, ${s.b}`,
          pools: [gen, gen, null, null],
          edx: false,
          weight: 1,
          mem,
        });
      }
      for (const op of ["inc", "dec", "neg", "not"]) {
        forms.push({
          name: `${op}${s.bits}${suffix}`,
          insn: `${op} ${dest}`,
          pools: [gen, null, null, null],
          edx: false,
          weight: 1,
          mem,
        });
      }
    }
  }
  return forms;
}

function shiftForms(rng: Rng): Form[] {
  const forms: Form[] = [];
  const immediates = [0, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 255];
  for (let i = 0; i < 2; i++) immediates.push(rng.next() & 0xff);
  for (const s of SIZES) {
    const gen = pool("general", s.mask, GENERAL);
    const counts = pool("counts", 0xff, COUNTS);
    for (const op of ["shl", "shr", "sar", "rol", "ror", "rcl", "rcr"]) {
      const base = { pools: [gen, null, counts, null] as Form["pools"], edx: false };
      forms.push({ name: `${op}${s.bits}_cl`, insn: `${op} ${s.a}, cl`, ...base, weight: 24 });
      forms.push({ name: `${op}${s.bits}_1`, insn: `${op} ${s.a}, 1`, ...base, weight: 4 });
      // C1 /r ib with a count of 1 is a separate encoding from D1 /r: emitted by hand.
      const reg = { shl: 4, shr: 5, sar: 7, rol: 0, ror: 1, rcl: 2, rcr: 3 }[op]!;
      const prefix = s.bits === 16 ? "0x66, " : "";
      const opcode = s.bits === 8 ? "0xc0" : "0xc1";
      forms.push({
        name: `${op}${s.bits}_i1`,
        insn: `db ${prefix}${opcode}, 0x${(0xc0 | (reg << 3)).toString(16)}, 1 ; ${op} ${s.a}, byte 1`,
        ...base,
        weight: 2,
      });
      for (const n of immediates) {
        forms.push({ name: `${op}${s.bits}_${n}`, insn: `${op} ${s.a}, ${n}`, ...base, weight: 1 });
      }
    }
    if (s.bits === 8) continue;
    for (const op of ["shld", "shrd"]) {
      const base = { pools: [gen, gen, counts, null] as Form["pools"], edx: false };
      forms.push({ name: `${op}${s.bits}_cl`, insn: `${op} ${s.a}, ${s.b}, cl`, ...base, weight: 24 });
      for (const n of [1, ...immediates]) {
        forms.push({ name: `${op}${s.bits}_${n}`, insn: `${op} ${s.a}, ${s.b}, ${n}`, ...base, weight: 1 });
      }
    }
  }
  return forms;
}

function muldivForms(rng: Rng): Form[] {
  const forms: Form[] = [];
  const imm8 = [0, 1, 2, 3, -1, -2, 127, -128, 100];
  for (let i = 0; i < 2; i++) imm8.push((rng.next() & 0xff) - 128);
  const imm32 = [0x7fffffff, -0x80000000, 0x10000, 0x8000, -0x8001, 0x12345];
  for (let i = 0; i < 2; i++) imm32.push(rng.next() | 0);
  for (const s of SIZES) {
    const gen = pool("general", s.mask, GENERAL);
    const wide = pool("general", s.bits === 8 ? 0xffff : s.mask, GENERAL);
    const high = pool("divhigh", s.bits === 8 ? 0 : s.mask, DIVIDEND_HIGH);
    const two = s.bits !== 8;
    for (const op of ["mul", "imul"]) {
      forms.push({
        name: `${op}${s.bits}`,
        insn: `${op} ${s.b}`,
        pools: [gen, gen, null, gen],
        edx: two,
        weight: 40,
      });
    }
    for (const op of ["div", "idiv"]) {
      forms.push({
        name: `${op}${s.bits}`,
        insn: `${op} ${s.b}`,
        pools: [wide, gen, null, two ? high : gen],
        edx: two,
        weight: 60,
      });
    }
    if (!two) continue;
    forms.push({
      name: `imul${s.bits}_rr`,
      insn: `imul ${s.a}, ${s.b}`,
      pools: [gen, gen, null, null],
      edx: false,
      weight: 40,
    });
    for (const n of imm8) {
      forms.push({
        name: `imul${s.bits}_i8_${n}`,
        insn: `imul ${s.a}, ${s.b}, byte ${n}`,
        pools: [gen, gen, null, null],
        edx: false,
        weight: 2,
      });
    }
    for (const n of imm32) {
      const v = s.bits === 16 ? ((n << 16) >> 16) : n;
      forms.push({
        name: `imul${s.bits}_i${s.bits}_${v}`,
        insn: `imul ${s.a}, ${s.b}, strict ${s.bits === 16 ? "word" : "dword"} ${v}`,
        pools: [gen, gen, null, null],
        edx: false,
        weight: 2,
      });
    }
  }
  return forms;
}

function bcdForms(rng: Rng): Form[] {
  // AL and AH both drawn from BCD-ish bytes: AAA/AAS/AAD read AH, the others must leave it alone.
  const values: number[] = [];
  while (values.length < 32) values.push(rng.pick(BCD_BYTES) | (rng.pick(BCD_BYTES) << 8));
  const bcd = pool("bcd", 0xffff, values);
  const forms: Form[] = [];
  for (const op of ["daa", "das", "aaa", "aas"]) {
    forms.push({ name: op, insn: op, pools: [bcd, null, null, null], edx: false, weight: 10 });
  }
  const bases = [10, 0, 1, 2, 7, 8, 16, 100, 255];
  for (let i = 0; i < 2; i++) bases.push(rng.next() & 0xff);
  for (const op of ["aam", "aad"]) {
    for (const n of bases) {
      forms.push({
        name: `${op}_${n}`,
        insn: `${op} ${n}`,
        pools: [bcd, null, null, null],
        edx: false,
        weight: 3,
      });
    }
  }
  return forms;
}

/** Splits the group's vectors over its forms by weight, whole lines per form. */
function apportion(forms: Form[]): void {
  const total = forms.reduce((n, f) => n + f.weight, 0);
  for (const f of forms) f.count = Math.ceil((MIN_VECTORS * f.weight) / total / LINE) * LINE;
}

export function groups(): Group[] {
  const rng = new Rng(SEED);
  const list: Group[] = [
    {
      name: "alu",
      title: "ALU: add adc sub sbb and or xor cmp test inc dec neg not, 8/16/32-bit",
      forms: aluForms(),
      seed: 0,
    },
    {
      name: "shift",
      title: "shift/rotate: shl shr sar rol ror rcl rcr shld shrd, CL, 1 and immediate counts",
      forms: shiftForms(rng),
      seed: 0,
    },
    {
      name: "muldiv",
      title: "multiply/divide: mul, imul 1/2/3-operand, div, idiv (#DE caught)",
      forms: muldivForms(rng),
      seed: 0,
    },
    { name: "bcd", title: "BCD: daa das aaa aas aam aad (aam 0 raises #DE)", forms: bcdForms(rng), seed: 0 },
  ];
  for (const g of list) {
    g.seed = rng.next() || 1;
    apportion(g.forms);
  }
  return list;
}

/**
 * QEMU 7.2 divides INT_MIN by -1 on the host in IDIV r/m16 and r/m32 and dies of SIGFPE instead of
 * raising #DE, so that one dividend/divisor pair cannot be recorded. The guard in front of those stubs
 * turns it into INT_MIN+1 / -1 (still #DE on every x86) without touching the flags: LEA, MOV and
 * J(E)CXZ only; ECX is free in the divide forms.
 */
function guard(f: Form, i: number): string {
  const m = /^idiv (bx|ebx)$/.exec(f.insn);
  if (!m) return "";
  const wide = m[1] === "ebx";
  const [jump, high, low] = wide
    ? ["jecxz", "lea ecx, [edx - 0x80000000]", "al"]
    : ["jcxz", "lea ecx, [edx + 0x8000]", "al"];
  return `    lea ecx, [ebx + 1]
    ${jump} .divisor_${i}
    jmp insn_${i}
.divisor_${i}:
    mov ecx, eax
    ${jump} .low_${i}
    jmp insn_${i}
.low_${i}:
    ${high}
    ${jump} .int_min_${i}
    jmp insn_${i}
.int_min_${i}:
    mov ${low}, 1                          ; INT_MIN / -1 -> (INT_MIN + 1) / -1
`;
}

const hex = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

/** The table that packs EFLAGS' low byte (with OF moved into reserved bit 1) into one output char. */
function flagPackTable(): number[] {
  const table: number[] = [];
  for (let v = 0; v < 256; v++) {
    const bit = (n: number) => (v >> n) & 1;
    table.push(
      0x30 + (bit(0) | (bit(1) << 1) | (bit(2) << 2) | (bit(4) << 3) | (bit(6) << 4) | (bit(7) << 5)),
    );
  }
  return table;
}

function chunked(values: string[], per: number, directive: string): string {
  const lines: string[] = [];
  for (let i = 0; i < values.length; i += per) {
    lines.push(`    ${directive} ${values.slice(i, i + per).join(", ")}`);
  }
  return lines.join("\n");
}

export function source(g: Group): string {
  const pools = new Map<string, NonNullable<Pool>>();
  for (const f of g.forms) for (const p of f.pools) if (p) pools.set(p.name, p);
  const total = g.forms.reduce((n, f) => n + f.count!, 0);
  const stubs = g.forms.map((f, i) =>
    f.mem
      ? `stub_${i}: ; ${f.name}\n    mov [scratch], eax\ninsn_${i}:\n    ${f.insn}\n    mov eax, [scratch]\n    ret`
      : `stub_${i}: ; ${f.name}\n${guard(f, i)}insn_${i}:\n    ${f.insn}\n    ret`
  )
    .join("\n");
  const names = g.forms.map((f, i) => `name_${i}: db "= ${f.name} ${f.insn.replace(/"/g, "")}", 10, 0`).join(
    "\n",
  );
  const table = g.forms.map((f, i) =>
    `    dd stub_${i}, ${f.count}, name_${i}, ${
      f.pools.map((p) => (p ? `pool_${p.name}` : "0")).join(", ")
    }, ${f.edx ? 1 : 0}, insn_${i}`
  ).join("\n");
  const poolData = [...pools.values()].map((p) =>
    `pool_${p.name}:\n    dd ${hex(p.mask)}\n${chunked(p.values.map(hex), 8, "dd")}`
  ).join("\n");
  return `; GENERATED by scripts/gen_vectors.ts (seed ${hex(SEED)}): do not edit, regenerate.
; Differential test vectors, ${g.title}.
; ${g.forms.length} forms, ${total} vectors; output format: see the header of scripts/gen_vectors.ts.
%include "multiboot.inc"

%define F_STUB  0
%define F_COUNT 4
%define F_NAME  8
%define F_POOLS 12
%define F_EDX   28
%define F_FAULT 32
%define F_SIZE  36

; RAND: EAX = the next xorshift32 state. Clobbers ECX.
%macro RAND 0
    mov eax, [rng]
    mov ecx, eax
    shl ecx, 13
    xor eax, ecx
    mov ecx, eax
    shr ecx, 17
    xor eax, ecx
    mov ecx, eax
    shl ecx, 5
    xor eax, ecx
    mov [rng], eax
%endmacro

main:
    call idt_setup
    PRINT "diff ${g.name}: ${g.forms.length} forms, ${total} vectors", 10
    mov dword [rng], ${hex(g.seed)}
    mov ebp, forms
.form:
    cmp dword [ebp + F_STUB], 0
    je .done
    call line_flush
    mov esi, [ebp + F_NAME]
    call puts
    mov eax, [ebp + F_COUNT]
    mov [left], eax
.vector:
    ; one xorshift word picks edge-or-random and the edge index for each of the four registers
    ; (6 bits each) and the input flags (top 8 bits)
    RAND
    mov [sel], eax
    lea edi, [ebp + F_POOLS]
    mov esi, [edi]
    call draw
    mov [va], eax
    mov esi, [edi + 4]
    call draw
    mov [vb], eax
    mov esi, [edi + 8]
    call draw
    mov [vc], eax
    mov esi, [edi + 12]
    call draw
    mov [vd], eax
    mov eax, [sel]                     ; bits 24..31, already shifted down to 0..7
    mov ecx, eax
    and eax, 0xd5                      ; CF PF AF ZF SF
    and ecx, 0x02
    shl ecx, 10                        ; OF
    or eax, ecx
    or eax, 0x02
    mov [vf], eax
    push eax
    mov eax, [ebp + F_FAULT]
    mov [fault_eip], eax
    mov byte [status], '.'
    mov eax, [va]
    mov ebx, [vb]
    mov ecx, [vc]
    mov edx, [vd]
    popfd
    call [ebp + F_STUB]
    pushfd
    mov [ra], eax
    mov [rd], edx
    pop dword [rf]
    mov eax, [rf]                      ; the flags these instructions never write must not move
    xor eax, [vf]
    test eax, ~0x8d5
    jz .record
    mov byte [status], 'f'
.record:
    ; the record
    cmp dword [count], 0
    jne .have_prefix
    call line_start
.have_prefix:
    mov edi, [cursor]
    mov ebx, [ra]
    call enc6
    cmp dword [ebp + F_EDX], 0
    je .flags
    mov ebx, [rd]
    call enc6
.flags:
    mov eax, [rf]
    mov ecx, eax
    shr ecx, 10
    and ecx, 0x02                      ; OF into reserved bit 1
    and eax, 0xd5
    or eax, ecx
    mov al, [flagpack + eax]
    stosb
    mov al, [status]
    stosb
    mov al, ' '
    stosb
    mov [cursor], edi
    inc dword [index]
    inc dword [count]
    cmp dword [count], ${LINE}
    jne .next
    call line_flush
.next:
    dec dword [left]
    jnz .vector
    add ebp, F_SIZE
    jmp .form
.done:
    call line_flush
    PRINT "end ${g.name} "
    mov eax, [index]
    call hex32
    call newline
    ret

%include "diff_runtime.inc"

${stubs}

align 4
idtr: dw 32 * 8 - 1
      dd idt
rng:       dd 0
sel:       dd 0
va:        dd 0
vb:        dd 0
vc:        dd 0
vd:        dd 0
vf:        dd 0
ra:        dd 0
rd:        dd 0
rf:        dd 0
left:      dd 0
index:     dd 0
count:     dd 0
cursor:    dd 0
fault_eip: dd 0
status:    db 0
align 4
scratch:   dd 0
align 4
forms:
${table}
    dd 0
${poolData}
flagpack:
${chunked(flagPackTable().map((v) => `0x${v.toString(16)}`), 16, "db")}
${names}
align 2
chars12:
%assign i 0
%rep 4096
    db 0x30 + (i >> 6), 0x30 + (i & 63)
%assign i i + 1
%endrep
align 8
idt: times 32 * 8 db 0
linebuf: times 16 + ${LINE} * 16 db 0
`;
}

/** The guest's draws, replayed in order: each vector's form and register inputs. */
export function* vectors(g: Group) {
  let state = g.seed;
  let index = 0;
  for (const form of g.forms) {
    for (let v = 0; v < form.count!; v++, index++) {
      let sel = (state = xorshift32(state));
      const regs = form.pools.map((p) => {
        const bits = sel & 0x3f;
        sel >>>= 6;
        if (!p) return 0;
        const r = (state = xorshift32(state));
        if (bits & 0x20) return r;
        return (r ^ ((p.values[bits & 0x1f] ^ r) & p.mask)) >>> 0;
      });
      const eflags = (sel & 0xd5) | ((sel & 2) << 10) | 2;
      yield { index, form, eax: regs[0], ebx: regs[1], ecx: regs[2], edx: regs[3], eflags };
    }
  }
}

/** Vector `index` of a group (the guard in front of IDIV may still change its EAX, see guard()). */
export function mirror(g: Group, index: number) {
  for (const v of vectors(g)) if (v.index === index) return v;
  return undefined;
}

/** Decodes one record of a golden line (`RRRRRRFS`, or with EDX `RRRRRRRRRRRRFS`). */
export function decodeRecord(record: string) {
  const reg = (s: string) => [...s].reduce((v, c) => v * 64 + c.charCodeAt(0) - 0x30, 0) >>> 0;
  const regs = record.length >= 14
    ? [reg(record.slice(0, 6)), reg(record.slice(6, 12))]
    : [reg(record.slice(0, 6))];
  const f = record.charCodeAt(record.length - 2) - 0x30;
  const names = ["CF", "OF", "PF", "AF", "ZF", "SF"].filter((_, i) => f & (1 << i));
  return { eax: regs[0], edx: regs[1], flags: names, status: record[record.length - 1] };
}

export const DIFF_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "tests", "guests", "diff");

if (import.meta.main) {
  const all = groups();
  if (Deno.args[0] === "--explain") {
    const g = all.find((x) => x.name === Deno.args[1]);
    const index = Number(Deno.args[2]);
    const v = g && Number.isInteger(index) ? mirror(g, index) : undefined;
    if (!v) {
      console.error(`usage: gen_vectors.ts --explain {${all.map((x) => x.name).join(",")}} VECTOR_INDEX`);
      Deno.exit(2);
    }
    console.log(`${g!.name} vector ${index} (0x${index.toString(16)}): ${v.form.name} (${v.form.insn})`);
    for (const r of ["eax", "ebx", "ecx", "edx", "eflags"] as const) console.log(`  ${r} = ${hex(v[r])}`);
    const m = /^idiv (e?bx)$/.exec(v.form.insn);
    const mask = m?.[1] === "ebx" ? 0xffffffff : 0xffff;
    const intMin = mask === 0xffff ? 0x8000 : 0x80000000;
    if (m && (v.ebx & mask) >>> 0 === mask && (v.eax & mask) === 0 && (v.edx & mask) >>> 0 === intMin) {
      console.log("  (the stub's guard sets AL = 1 first: QEMU 7.2 cannot divide INT_MIN by -1)");
    }
    // Forms hold whole lines, so vector N is record N % 8 of the line that starts at N - N % 8.
    const golden = join(DIFF_DIR, "..", "..", "golden", "diff", `${g!.name}.txt`);
    const prefix = `${(index - (index % LINE)).toString(16).padStart(5, "0")}:`;
    const line = Deno.readTextFileSync(golden).split("\n").find((l) => l.startsWith(prefix));
    const record = line?.slice(prefix.length).split(" ")[index % LINE];
    if (record) {
      const r = decodeRecord(record);
      const edx = r.edx === undefined ? "" : ` edx = ${hex(r.edx)}`;
      console.log(`QEMU: eax = ${hex(r.eax)}${edx} flags = ${r.flags.join(" ") || "-"} (${record})`);
    }
  } else {
    Deno.mkdirSync(DIFF_DIR, { recursive: true });
    for (const g of all) {
      Deno.writeTextFileSync(join(DIFF_DIR, `${g.name}.asm`), source(g));
      console.log(
        `tests/guests/diff/${g.name}.asm: ${g.forms.length} forms, ${
          g.forms.reduce((n, f) => n + f.count!, 0)
        } vectors`,
      );
    }
  }
}
