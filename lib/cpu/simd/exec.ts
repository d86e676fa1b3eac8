/**
 * Execution of the MMX/SSE/SSE2 rows (rows.ts): the mandatory prefix selects the instruction,
 * the CR0/CR4 checks of the SDM (vol. 3, 13.2 and table 22-3) run first, then the operation
 * works on byte offsets of the SimdState buffer. A memory source is first read into SCRATCH, so
 * every operation sees two register-like operands; results that read their destination while
 * writing it are built in TEMP and copied back.
 */
import type { Cpu } from "../cpu.ts";
import { CpuFault, GP, NM, UD } from "../faults.ts";
import type { Handler, Insn } from "../insn.ts";
import { cpuid } from "../models.ts";
import { CR0_EM, CR0_TS, CR4_OSFXSR, DS, EDI } from "../state.ts";
import { MMX, SCRATCH, SimdState, simdState, TEMP, XMM } from "./state.ts";
import { segAddress } from "../segcheck.ts";

/** Mandatory prefix: 0 none, 1 66, 2 F3, 3 F2. */
export function mandatoryPrefix(cpu: Cpu, i: Insn): number {
  if (i.rep === 1) return 2;
  if (i.rep === 2) return 3;
  return i.opsize32 !== cpu.code32 ? 1 : 0;
}

/** What an operation receives: state, destination and source offsets, width in bytes, the insn. */
export interface Ctx {
  cpu: Cpu;
  i: Insn;
  s: SimdState;
  d: number;
  src: number;
  n: number;
}
export type Op = (c: Ctx) => void;

/** Kinds of operand for an opcode/prefix pair. */
export const K_MMX = 0, K_XMM = 1, K_NONE = 2;
/** Source forms: full width (aligned when 16 bytes), unaligned, 8, 4 or 2 bytes from memory. */
export const S_FULL = 0, S_UNALIGNED = 1, S_Q = 2, S_D = 3, S_W = 4, S_NONE = 5;

export interface Impl {
  readonly kind: number;
  readonly src: number;
  readonly op: Op;
}

function checkMmx(cpu: Cpu): void {
  if (cpu.cr[0] & CR0_EM) throw new CpuFault(UD);
  if (cpu.cr[0] & CR0_TS) throw new CpuFault(NM);
}

function checkSse(cpu: Cpu): void {
  if ((cpu.cr[0] & CR0_EM) || !(cpu.cr[4] & CR4_OSFXSR)) throw new CpuFault(UD);
  if (cpu.cr[0] & CR0_TS) throw new CpuFault(NM);
}

/** Reads `n` bytes at linear `lin` into the buffer at `at`. */
export function load(cpu: Cpu, s: SimdState, at: number, lin: number, n: number): void {
  if (n >= 4) { for (let k = 0; k < n; k += 4) s.u32[(at + k) >> 2] = cpu.rd32((lin + k) | 0); }
  else s.u16[at >> 1] = cpu.rd16(lin);
}

export function store(cpu: Cpu, s: SimdState, at: number, lin: number, n: number): void {
  for (let k = 0; k < n; k += 4) cpu.wr32((lin + k) | 0, s.u32[(at + k) >> 2]);
}

/** Linear address of an `n`-byte memory operand, with its segment checks for all n bytes. */
function simdEa(cpu: Cpu, i: Insn, n: number, write: boolean): number {
  return segAddress(cpu, i.seg, cpu.offset(i), n, write);
}

function alignedEa(cpu: Cpu, i: Insn, n: number, write: boolean): number {
  const lin = simdEa(cpu, i, n, write);
  if (lin & 15) throw new CpuFault(GP, 0);
  return lin;
}

export const regOff = (xmm: boolean, r: number) => xmm ? XMM + r * 16 : MMX + r * 8;

const ctx: Ctx = { cpu: undefined!, i: undefined!, s: undefined!, d: 0, src: 0, n: 0 };

/** The handler for opcode 0F `op`: `table[op * 4 + prefix]`. */
export function simdHandler(op: number, table: (Impl | undefined)[]): Handler {
  return (cpu, i) => {
    const impl = table[op * 4 + mandatoryPrefix(cpu, i)];
    if (!impl) throw new CpuFault(UD);
    const s = simdState(cpu);
    const xmm = impl.kind === K_XMM;
    if (impl.kind === K_MMX) checkMmx(cpu);
    else if (xmm) checkSse(cpu);
    const n = xmm ? 16 : 8;
    ctx.cpu = cpu;
    ctx.i = i;
    ctx.s = s;
    ctx.n = n;
    ctx.d = regOff(xmm, i.reg);
    if (i.mod === 3) ctx.src = regOff(xmm, i.rm);
    else {
      ctx.src = SCRATCH;
      const f = impl.src;
      if (f === S_FULL) {
        load(cpu, s, SCRATCH, n === 16 ? alignedEa(cpu, i, n, false) : simdEa(cpu, i, n, false), n);
      } else if (f === S_NONE) ctx.src = -1;
      else if (f === S_UNALIGNED) load(cpu, s, SCRATCH, simdEa(cpu, i, n, false), n);
      else {
        const bytes = f === S_Q ? 8 : f === S_D ? 4 : 2;
        load(cpu, s, SCRATCH, simdEa(cpu, i, bytes, false), bytes);
      }
    }
    impl.op(ctx);
    if (impl.kind === K_MMX && op !== 0x77) s.enterMmx(mmxDestination(op, i));
  };
}

/** MMX register an MMX instruction writes, or -1 (stores to memory or general registers). */
function mmxDestination(op: number, i: Insn): number {
  if (op === 0x71 || op === 0x72 || op === 0x73) return i.rm;
  if (op === 0x7f || op === 0xd6) return i.mod === 3 ? i.rm : -1;
  if (op === 0x7e || op === 0xd7 || op === 0xc5 || op === 0xe7 || op === 0xf7) return -1;
  return i.reg;
}

// ---- the integer operations ----

type Lane = "u8" | "i8" | "u16" | "i16" | "u32" | "i32";
const BYTES: Record<Lane, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4 };

/** dst[k] = f(dst[k], src[k]) lane by lane; typed-array stores give the wrap-around. */
function lanes(lane: Lane, f: (a: number, b: number) => number): Op {
  const w = BYTES[lane];
  return (c) => {
    const v = c.s[lane];
    const d = c.d / w, s = c.src / w;
    for (let k = 0, m = c.n / w; k < m; k++) v[d + k] = f(v[d + k], v[s + k]);
  };
}

const sat = (lo: number, hi: number) => (x: number) => x < lo ? lo : x > hi ? hi : x;
const sb = sat(-128, 127), ub = sat(0, 255), sw = sat(-32768, 32767), uw = sat(0, 65535);

/** 64-bit lanes as lo/hi dword pairs. */
function qlanes(f: (s: SimdState, d: number, src: number) => void): Op {
  return (c) => {
    for (let k = 0; k < c.n; k += 8) f(c.s, (c.d + k) >> 2, (c.src + k) >> 2);
  };
}
const paddq = qlanes((s, d, r) => {
  const lo = s.u32[d] + s.u32[r];
  s.u32[d + 1] = s.u32[d + 1] + s.u32[r + 1] + (lo > 0xffffffff ? 1 : 0);
  s.u32[d] = lo;
});
const psubq = qlanes((s, d, r) => {
  const lo = s.u32[d] - s.u32[r];
  s.u32[d + 1] = s.u32[d + 1] - s.u32[r + 1] - (lo < 0 ? 1 : 0);
  s.u32[d] = lo;
});
const pmuludq = qlanes((s, d, r) => {
  const p = BigInt(s.u32[d]) * BigInt(s.u32[r]);
  s.u32[d] = Number(p & 0xffffffffn);
  s.u32[d + 1] = Number(p >> 32n);
});

function copyTemp(c: Ctx): void {
  c.s.u8.copyWithin(c.d, TEMP, TEMP + c.n);
}

/** Interleave the low (hi=false) or high halves of dst and src, lanes of `w` bytes. */
function unpack(w: number, high: boolean): Op {
  return (c) => {
    const u8 = c.s.u8, half = c.n / 2, base = high ? half : 0;
    for (let k = 0; k < half; k += w) {
      for (let b = 0; b < w; b++) {
        u8[TEMP + 2 * k + b] = u8[c.d + base + k + b];
        u8[TEMP + 2 * k + w + b] = u8[c.src + base + k + b];
      }
    }
    copyTemp(c);
  };
}

/** Pack signed words to bytes (PACKSSWB/PACKUSWB) or dwords to words (PACKSSDW). */
function pack(from: "i16" | "i32", to: "i8" | "u8" | "i16", clamp: (x: number) => number): Op {
  const w = from === "i16" ? 2 : 4;
  return (c) => {
    const v = c.s[from], out = c.s[to], m = c.n / w, ow = w / 2;
    for (let k = 0; k < m; k++) {
      out[TEMP / ow + k] = clamp(v[c.d / w + k]);
      out[TEMP / ow + m + k] = clamp(v[c.src / w + k]);
    }
    copyTemp(c);
  };
}

/** Shift count of a register/memory form: the whole low quadword. */
function countOf(c: Ctx): number {
  const s = c.s.u32;
  return s[(c.src >> 2) + 1] !== 0 || s[c.src >> 2] > 255 ? 255 : s[c.src >> 2];
}

/** PSLL/PSRL/PSRA on lanes of `w` bytes (8 = quadword), by `count`. */
function shiftLanes(s: SimdState, at: number, n: number, w: number, kind: number, count: number): void {
  const bits = w * 8;
  if (w === 8) {
    const q = new DataView(s.buffer);
    for (let k = 0; k < n; k += 8) {
      const v = q.getBigUint64(at + k, true);
      const r = count >= 64
        ? 0n
        : kind === 0
        ? v >> BigInt(count)
        : (v << BigInt(count)) & 0xffffffffffffffffn;
      q.setBigUint64(at + k, r, true);
    }
    return;
  }
  const v = w === 2 ? (kind === 2 ? s.i16 : s.u16) : (kind === 2 ? s.i32 : s.u32);
  for (let k = at / w, m = k + n / w; k < m; k++) {
    if (kind === 2) v[k] = v[k] >> (count >= bits ? bits - 1 : count);
    else if (count >= bits) v[k] = 0;
    else v[k] = kind === 0 ? v[k] >>> count : v[k] << count;
  }
}
/** kind: 0 logical right, 1 left, 2 arithmetic right. */
const shiftBy = (w: number, kind: number): Op => (c) => shiftLanes(c.s, c.d, c.n, w, kind, countOf(c));

function shiftImm(c: Ctx): void {
  if (c.i.mod !== 3) throw new CpuFault(UD);
  const op = c.i.entry!.opcode & 0xff, r = c.i.reg, count = c.i.imm & 0xff;
  const at = c.src;
  if (op === 0x73 && (r === 3 || r === 7)) {
    if (c.n !== 16) throw new CpuFault(UD);
    const u8 = c.s.u8, sh = count > 16 ? 16 : count;
    for (let k = 0; k < 16; k++) {
      const from = r === 3 ? k + sh : k - sh;
      u8[TEMP + k] = from >= 0 && from < 16 ? u8[at + from] : 0;
    }
    u8.copyWithin(at, TEMP, TEMP + 16);
    return;
  }
  const w = op === 0x71 ? 2 : op === 0x72 ? 4 : 8;
  shiftLanes(c.s, at, c.n, w, r === 2 ? 0 : r === 6 ? 1 : 2, count);
}

function pshuf(w: number, from: number, count: number): Op {
  return (c) => {
    const u8 = c.s.u8, imm = c.i.imm;
    u8.copyWithin(TEMP, c.src, c.src + c.n);
    for (let k = 0; k < count; k++) {
      const sel = (imm >> (2 * k)) & 3;
      for (let b = 0; b < w; b++) u8[TEMP + from + k * w + b] = u8[c.src + from + sel * w + b];
    }
    copyTemp(c);
  };
}

/** Move of `bytes` from source to destination register, zeroing the rest up to `zeroTo`. */
function move(bytes: number, zeroTo = 0): Op {
  return (c) => {
    c.s.u8.copyWithin(c.d, c.src, c.src + bytes);
    if (zeroTo > bytes) c.s.u8.fill(0, c.d + bytes, c.d + zeroTo);
  };
}

/** Store forms (ModRM reg is the source): to a register or to memory. */
function storeTo(bytes: number, aligned: boolean, zeroTo = 0): Op {
  return (c) => {
    const reg = c.d, rmIsXmm = c.n === 16;
    if (c.i.mod === 3) {
      const dst = regOff(rmIsXmm, c.i.rm);
      c.s.u8.copyWithin(dst, reg, reg + bytes);
      if (zeroTo > bytes) c.s.u8.fill(0, dst + bytes, dst + zeroTo);
    } else {
      const lin = aligned ? alignedEa(c.cpu, c.i, bytes, true) : simdEa(c.cpu, c.i, bytes, true);
      store(c.cpu, c.s, reg, lin, bytes);
    }
  };
}

const movdIn: Op = (c) => {
  c.s.u32[c.d >> 2] = c.cpu.readE(c.i, 2);
  c.s.u8.fill(0, c.d + 4, c.d + c.n);
};
const movdOut: Op = (c) => c.cpu.writeE(c.i, 2, c.s.u32[c.d >> 2]);

const pmovmskb: Op = (c) => {
  if (c.i.mod !== 3) throw new CpuFault(UD);
  let m = 0;
  for (let k = 0; k < c.n; k++) m |= (c.s.u8[c.src + k] >> 7) << k;
  c.cpu.setReg(2, c.i.reg, m);
};

const pextrw: Op = (c) => {
  if (c.i.mod !== 3) throw new CpuFault(UD);
  c.cpu.setReg(2, c.i.reg, c.s.u16[(c.src >> 1) + (c.i.imm & (c.n / 2 - 1))]);
};
const pinsrw: Op = (c) => {
  const v = c.i.mod === 3 ? c.cpu.getReg(1, c.i.rm) : c.s.u16[SCRATCH >> 1];
  c.s.u16[(c.d >> 1) + (c.i.imm & (c.n / 2 - 1))] = v;
};

const pmaddwd: Op = (c) => {
  const v = c.s.i16, d = c.d >> 1, s = c.src >> 1;
  for (let k = 0; k < c.n / 4; k++) {
    c.s.i32[TEMP / 4 + k] = v[d + 2 * k] * v[s + 2 * k] + v[d + 2 * k + 1] * v[s + 2 * k + 1];
  }
  copyTemp(c);
};

const psadbw: Op = (c) => {
  const u8 = c.s.u8;
  for (let q = 0; q < c.n; q += 8) {
    let sum = 0;
    for (let k = 0; k < 8; k++) sum += Math.abs(u8[c.d + q + k] - u8[c.src + q + k]);
    c.s.u32[(c.d + q) >> 2] = sum;
    c.s.u32[((c.d + q) >> 2) + 1] = 0;
  }
};

/** MASKMOVQ/MASKMOVDQU: bytes of reg whose mask byte (rm) has bit 7 set go to DS:(E)DI. */
const maskmov: Op = (c) => {
  if (c.i.mod !== 3) throw new CpuFault(UD);
  const cpu = c.cpu, i = c.i;
  const edi = i.adsize32 ? cpu.regs[EDI] : cpu.regs[EDI] & 0xffff;
  const seg = i.segOverride ? i.seg : DS;
  for (let k = 0; k < c.n; k++) {
    if (c.s.u8[c.src + k] & 0x80) cpu.wr8(segAddress(cpu, seg, edi + k, 1, true), c.s.u8[c.d + k]);
  }
};

const emms: Op = (c) => c.s.emms();

/** 0F AE /2 /3 /5 /6 /7: LDMXCSR, STMXCSR, the fences (register forms only) and CLFLUSH. */
export function aeGroup(cpu: Cpu, i: Insn): void {
  if (i.reg === 2 || i.reg === 3) {
    checkSse(cpu);
    const s = simdState(cpu), lin = simdEa(cpu, i, 4, i.reg === 3);
    if (i.reg === 3) cpu.wr32(lin, s.mxcsr);
    else {
      // The SDM raises #GP for bits outside MXCSR_MASK; QEMU 7.2's TCG loads them (golden simd_int).
      s.mxcsr = cpu.rd32(lin) >>> 0;
    }
    return;
  }
  // XRSTOR and XSAVEOPT (the memory forms of /5 and /6) need XSAVE, which qemu32 lacks.
  if (i.mod !== 3 && i.reg !== 7) throw new CpuFault(UD);
  if (i.mod === 3) return;
  // CLFLUSH exists only where CPUID.1:EDX.CLFSH says so (qemu32 does not); it faults like a load.
  if (!(cpuid(cpu.model, 1, 0)[3] & (1 << 19))) throw new CpuFault(UD);
  cpu.rd8(cpu.ea(i));
}

const bitwise = {
  and: lanes("u32", (a, b) => a & b),
  andn: lanes("u32", (a, b) => ~a & b),
  or: lanes("u32", (a, b) => a | b),
  xor: lanes("u32", (a, b) => a ^ b),
};

/** Integer operations shared by the MMX (no prefix) and SSE2 (66) forms, by opcode. */
const INT: Record<number, Op> = {
  0x60: unpack(1, false),
  0x61: unpack(2, false),
  0x62: unpack(4, false),
  0x63: pack("i16", "i8", sb),
  0x64: lanes("i8", (a, b) => a > b ? -1 : 0),
  0x65: lanes("i16", (a, b) => a > b ? -1 : 0),
  0x66: lanes("i32", (a, b) => a > b ? -1 : 0),
  0x67: pack("i16", "u8", ub),
  0x68: unpack(1, true),
  0x69: unpack(2, true),
  0x6a: unpack(4, true),
  0x6b: pack("i32", "i16", sw),
  0x6e: movdIn,
  0x71: shiftImm,
  0x72: shiftImm,
  0x73: shiftImm,
  0x74: lanes("u8", (a, b) => a === b ? 255 : 0),
  0x75: lanes("u16", (a, b) => a === b ? 0xffff : 0),
  0x76: lanes("u32", (a, b) => a === b ? 0xffffffff : 0),
  0x7e: movdOut,
  0xc4: pinsrw,
  0xc5: pextrw,
  0xd1: shiftBy(2, 0),
  0xd2: shiftBy(4, 0),
  0xd3: shiftBy(8, 0),
  0xd4: paddq,
  0xd5: lanes("i16", (a, b) => Math.imul(a, b)),
  0xd7: pmovmskb,
  0xd8: lanes("u8", (a, b) => ub(a - b)),
  0xd9: lanes("u16", (a, b) => uw(a - b)),
  0xda: lanes("u8", (a, b) => a < b ? a : b),
  0xdb: bitwise.and,
  0xdc: lanes("u8", (a, b) => ub(a + b)),
  0xdd: lanes("u16", (a, b) => uw(a + b)),
  0xde: lanes("u8", (a, b) => a > b ? a : b),
  0xdf: bitwise.andn,
  0xe0: lanes("u8", (a, b) => (a + b + 1) >> 1),
  0xe1: shiftBy(2, 2),
  0xe2: shiftBy(4, 2),
  0xe3: lanes("u16", (a, b) => (a + b + 1) >> 1),
  0xe4: lanes("u16", (a, b) => (a * b) >>> 16),
  0xe5: lanes("i16", (a, b) => (a * b) >> 16),
  0xe8: lanes("i8", (a, b) => sb(a - b)),
  0xe9: lanes("i16", (a, b) => sw(a - b)),
  0xea: lanes("i16", (a, b) => a < b ? a : b),
  0xeb: bitwise.or,
  0xec: lanes("i8", (a, b) => sb(a + b)),
  0xed: lanes("i16", (a, b) => sw(a + b)),
  0xee: lanes("i16", (a, b) => a > b ? a : b),
  0xef: bitwise.xor,
  0xf1: shiftBy(2, 1),
  0xf2: shiftBy(4, 1),
  0xf3: shiftBy(8, 1),
  0xf4: pmuludq,
  0xf5: pmaddwd,
  0xf6: psadbw,
  0xf7: maskmov,
  0xf8: lanes("u8", (a, b) => a - b),
  0xf9: lanes("u16", (a, b) => a - b),
  0xfa: lanes("u32", (a, b) => a - b),
  0xfb: psubq,
  0xfc: lanes("u8", (a, b) => a + b),
  0xfd: lanes("u16", (a, b) => a + b),
  0xfe: lanes("u32", (a, b) => a + b),
};

/** Sources that are not a full-width register/memory operand. */
const INT_SRC: Record<number, number> = { 0x6e: S_NONE, 0x7e: S_NONE, 0xc4: S_W };

/** The dispatch table: index opcode * 4 + prefix. */
export const TABLE: (Impl | undefined)[] = new Array(256 * 4);
export const put = (op: number, pfx: number, kind: number, src: number, f: Op) =>
  TABLE[op * 4 + pfx] = { kind, src, op: f };

for (const [key, f] of Object.entries(INT)) {
  const op = Number(key), src = INT_SRC[op] ?? S_FULL;
  put(op, 0, K_MMX, src === S_FULL ? S_UNALIGNED : src, f);
  put(op, 1, K_XMM, src, f);
}
// Shift-by-register forms read a 64-bit count; 66 0F 6C/6D exist only for XMM.
for (const op of [0xd1, 0xd2, 0xd3, 0xe1, 0xe2, 0xf1, 0xf2, 0xf3]) put(op, 1, K_XMM, S_FULL, INT[op]);
put(0x6c, 1, K_XMM, S_FULL, unpack(8, false));
put(0x6d, 1, K_XMM, S_FULL, unpack(8, true));
put(0xd4, 0, K_MMX, S_UNALIGNED, paddq);
put(0xfb, 0, K_MMX, S_UNALIGNED, psubq);
put(0xf4, 0, K_MMX, S_UNALIGNED, pmuludq);
// Moves.
put(0x6f, 0, K_MMX, S_UNALIGNED, move(8));
put(0x6f, 1, K_XMM, S_FULL, move(16));
put(0x6f, 2, K_XMM, S_UNALIGNED, move(16));
put(0x7f, 0, K_MMX, S_NONE, storeTo(8, false));
put(0x7f, 1, K_XMM, S_NONE, storeTo(16, true));
put(0x7f, 2, K_XMM, S_NONE, storeTo(16, false));
put(0x7e, 2, K_XMM, S_Q, move(8, 16));
put(0xd6, 1, K_XMM, S_NONE, storeTo(8, false, 16));
/** MOVNTQ/MOVNTDQ/MOVNTPS/MOVNTPD: stores to memory only. */
export const memoryOnly = (f: Op): Op => (c) => {
  if (c.i.mod === 3) throw new CpuFault(UD);
  f(c);
};
put(0xe7, 0, K_MMX, S_NONE, memoryOnly(storeTo(8, false)));
put(0xe7, 1, K_XMM, S_NONE, memoryOnly(storeTo(16, true)));
put(0x70, 0, K_MMX, S_UNALIGNED, pshuf(2, 0, 4));
put(0x70, 1, K_XMM, S_FULL, pshuf(4, 0, 4));
put(0x70, 2, K_XMM, S_FULL, pshuf(2, 8, 4));
put(0x70, 3, K_XMM, S_FULL, pshuf(2, 0, 4));
put(0x77, 0, K_MMX, S_FULL, emms);
// MOVQ2DQ and MOVDQ2Q: register forms only.
put(0xd6, 2, K_MMX, S_FULL, (c) => {
  if (c.i.mod !== 3) throw new CpuFault(UD);
  checkSse(c.cpu);
  c.s.u8.copyWithin(regOff(true, c.i.reg), regOff(false, c.i.rm), regOff(false, c.i.rm) + 8);
  c.s.u8.fill(0, regOff(true, c.i.reg) + 8, regOff(true, c.i.reg) + 16);
});
put(0xd6, 3, K_MMX, S_FULL, (c) => {
  if (c.i.mod !== 3) throw new CpuFault(UD);
  checkSse(c.cpu);
  c.s.u8.copyWithin(regOff(false, c.i.reg), regOff(true, c.i.rm), regOff(true, c.i.rm) + 8);
});
// SSE forms of PAVG/PMIN/PMAX/PMULHUW/PSADBW/PEXTRW/PINSRW/MASKMOVQ/PSHUFW/MOVNTQ on MMX
// registers are already covered by the no-prefix rows above.

export { bitwise, checkSse, move, storeTo };
