/**
 * The CPU: an interpreter over decoded blocks. `run(budget)` fetches the block at CS:EIP from the
 * per-page decode cache (decoding on a miss), executes its instructions through their handlers,
 * takes pending NMI/INTR between blocks, and turns CpuFaults into exception delivery with the
 * double/triple-fault rules. It returns when the budget is spent or the host must act.
 *
 * Blocks end at control transfers and at instructions that change modes or what code means, so
 * between blocks the state is always consistent; a block is the unit a later JavaScript compiler
 * would translate.
 */
import type { Bus } from "../devices/bus.ts";
import { decode, DecodeError, UD2_ROW, undefinedInstruction } from "./decoder.ts";
import { CONTRIBUTORY, CpuFault, DB, DF, GP, HAS_ERROR_CODE, NMI, PF, SS as SS_FAULT, UD } from "./faults.ts";
import { bindHandler } from "./exec/handlers.ts";
import { deliver, EV_EXCEPTION, EV_EXTERNAL } from "./interrupts.ts";
import type { Insn } from "./insn.ts";
import { Mmu } from "./mmu.ts";
import { type CpuModel, MODELS } from "./models.ts";
import { simdState } from "./simd/state.ts";
import { ENDS_BLOCK } from "./opcodes.ts";
import { VMEXIT_VECTOR, vmxException, vmxPoll, vmxTripleFault } from "./vmx/exit.ts";
import { vmxReset } from "./vmx/state.ts";
import { FLAT_CODE_RIGHTS, FLAT_DATA_RIGHTS, REAL_RIGHTS } from "./segmentation.ts";
import { checkOperand, checkSegment, segAddress, withinLimit } from "./segcheck.ts";
import {
  ARITH_FLAGS,
  CR0_ET,
  CR0_PE,
  CS,
  GENERAL_REGISTERS,
  type GeneralRegister,
  IF,
  SEG_CODE,
  SEG_DB,
  SS,
  TF,
  VM,
} from "./state.ts";
import { readEflags } from "./flags.ts";
import { compileBlock, type CompiledBlock } from "./jit/compile.ts";

const MAX_BLOCK = 64;

class Block {
  /** Up to two successors by linear address (taken and fall-through), valid while `gen` holds. */
  next0: Block | undefined = undefined;
  next1: Block | undefined = undefined;
  gen = -1;
  /** Whole-block runs so far, until the block is compiled. */
  hits = 0;
  /** The compiled form (lib/cpu/jit), once the block is hot; it dies with the block. */
  fn: CompiledBlock | undefined = undefined;
  constructor(
    readonly insns: Insn[],
    readonly start: number,
    readonly end: number,
    readonly lin: number,
    readonly code32: boolean,
  ) {}
}

/** Chunk bits of codeMask covering [start, end) within a page. */
function chunkBits(start: number, end: number): number {
  const first = start >> 7, last = (Math.min(end, 4096) - 1) >> 7;
  if (last < first) return 0;
  return (last - first === 31 ? -1 : ((1 << (last - first + 1)) - 1) << first) | 0;
}

/** Why run() returned. */
export type StopReason = "budget" | "hlt" | "stop" | "shutdown";

/** The FPU's view from the CPU: the FPU engineer's module implements this (lib/cpu/fpu). */
export interface FpuUnit {
  /** Executes an x87 escape (D8-DF) already decoded into `i` (ModRM fields, memory operand). */
  execute(cpu: Cpu, i: Insn): void;
  /** FWAIT: raises #MF through the CPU if an unmasked exception is pending. */
  wait(cpu: Cpu): void;
  /** FXSAVE/FXRSTOR to the memory operand of `i` (alignment and #NM already checked). */
  fxsave(cpu: Cpu, i: Insn): void;
  fxrstor(cpu: Cpu, i: Insn): void;
  reset(): void;
}

export interface CpuOptions {
  /** CPUID model name from models.ts (default qemu32, as qemu-system-i386 uses). */
  model?: string;
  /**
   * Block compilation to JavaScript (lib/cpu/jit): the number of whole-block runs after which a
   * block is compiled, or false to interpret only. Default JIT_THRESHOLD.
   */
  jit?: number | false;
}

/** Whole-block runs before a block is compiled: compiling costs about as much as a few hundred runs. */
export const JIT_THRESHOLD = 50;

export class Cpu extends Mmu {
  model: CpuModel;
  fpu: FpuUnit | undefined;
  /** Retired instructions since construction (REP string ops count once). */
  instructions = 0;
  /** Operand size handed to the INC/DEC/NEG helpers (scratch, avoids closures per instruction). */
  fSizeNext = 2;
  /** EIP of the instruction being executed (faults restart there). */
  insnEip = 0;
  /** Set by a handler when the rest of the block must not run (code or mode changed). */
  breakBlock = false;
  /** In VMX non-root operation (lib/cpu/vmx): the handlers' VM-exit hooks test only this. */
  vmxNonRoot = false;
  /** The VMX monitor trap flag is set (lib/cpu/vmx): blocks run one instruction at a time. */
  vmxMtf = false;
  /**
   * In VMX non-root operation with a between-blocks check that can cause a VM exit without an
   * event on the bus (preemption timer, interrupt-window or external-interrupt exiting, MTF):
   * compiled blocks then return to the run loop after every block. Set at VM entry.
   */
  vmxPolls = false;
  /** Runs of a block before it is compiled; -1 when the compiler is off (CpuOptions.jit). */
  jitThreshold: number;
  /** Instructions a compiled block retired before it threw (read by the run loop's fault path). */
  jitRetired = 0;
  /**
   * Told when a block is decoded that runs into an opcode the CPU does not know, UD2 included (as
   * QEMU's translator reports it: `-d unimp`'s ILLOPC line): the instruction's linear address and
   * the bytes read up to the point the opcode was found unknown. Once per decoded block, not per
   * execution; valid instructions in forms that do not exist (LEA with a register) are not told.
   */
  onUnknownOpcode: ((linear: number, bytes: number[]) => void) | undefined = undefined;
  private readonly pageBlocks = new Map<number, Map<number, Block>>();
  /** Per host page with code: 1 for each byte some decoded block covers. */
  private readonly codeBytes = new Map<number, Uint8Array>();
  /** Host pages whose blocks have an instruction reaching into the key page. */
  private readonly crossDeps = new Map<number, number[]>();
  private readonly bound = new Map<object, Insn["h"]>();
  private readonly bindRow = (e: NonNullable<Insn["entry"]>) => {
    let h = this.bound.get(e);
    if (!h) this.bound.set(e, h = bindHandler(e));
    return h;
  };

  constructor(bus: Bus, options: CpuOptions = {}) {
    super(bus);
    this.model = MODELS[options.model ?? "qemu32"];
    if (!this.model) throw new RangeError(`unknown CPU model ${options.model}`);
    this.jitThreshold = options.jit === false ? -1 : options.jit ?? JIT_THRESHOLD;
    bus.onDmaWrite((phys, length) => {
      for (let p = phys >>> 12; p <= (phys + length - 1) >>> 12; p++) {
        const host = bus.pageMap[p & 0xfffff];
        if (host < 0 || !this.codeMask[host]) continue;
        const from = Math.max(phys, p * 4096), to = Math.min(phys + length, (p + 1) * 4096);
        this.codeWritten(host, from & 0xfff, to - from);
      }
    });
    this.reset();
  }

  /** Power-on/RESET state (SDM Vol. 3A, Table 9-1): real mode at F000:FFF0. */
  reset(): void {
    this.regs.fill(0);
    this.regs[2] = this.model.resetEdx;
    this.eip = 0xfff0;
    this.eflags = 2;
    this.fOp = 0;
    this.fAux = 0;
    for (let s = 0; s < 6; s++) {
      this.segSel[s] = 0;
      this.segBase[s] = 0;
      this.segLimit[s] = 0xffff;
      this.segRights[s] = REAL_RIGHTS | (s === CS ? SEG_CODE | 0x200 : 0);
    }
    this.segSel[CS] = 0xf000;
    this.segBase[CS] = 0xffff0000 | 0;
    this.segSel[6] = this.segSel[7] = 0;
    this.segBase[6] = this.segBase[7] = 0;
    this.segLimit[6] = this.segLimit[7] = 0xffff;
    this.segRights[6] = 0x8200;
    this.segRights[7] = 0x8b00;
    this.segmentsLoaded();
    this.gdtBase = this.idtBase = 0;
    this.gdtLimit = this.idtLimit = 0xffff;
    this.cr.fill(0);
    this.cr[0] = 0x60000000 | CR0_ET;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.msrs.clear();
    this.msrs.set(0x1b, 0xfee00900n);
    this.cpl = 0;
    this.code32 = false;
    this.stack32 = false;
    this.halted = false;
    this.intShadow = 0;
    this.nmiBlocked = false;
    vmxReset(this);
    this.selectTlb(0);
    this.privilegeChanged();
    this.flushAllTlbs();
    this.flushCode();
    this.fpu?.reset();
    simdState(this).reset();
  }

  /** Restores a snapshot() and drops everything cached from the old state. */
  restore(s: Record<string, unknown>): void {
    this.restoreState(s);
    this.privilegeChanged();
    this.flushAllTlbs();
    this.flushCode();
  }

  /**
   * Enters a kernel directly, in 32-bit flat protected mode as a BIOS plus QEMU's option ROMs leave
   * the CPU (the one way loaders start a CPU past its reset state): CR0 = PE|ET (paging and caches
   * as SeaBIOS leaves them), CS = `gdt.cs` with the flat code descriptor cache and every other
   * segment `gdt.ds` with the flat data one (the descriptors must be at that GDT, which the caller
   * wrote), the real-mode IDT, interrupts off, EFLAGS and the general registers as given (missing
   * ones 0), EIP = `eip`.
   */
  enterFlat32(
    eip: number,
    regs: Partial<Record<GeneralRegister, number>>,
    gdt: { base: number; limit: number; cs: number; ds: number },
    eflags = 2,
  ): void {
    this.cr[0] = CR0_PE | CR0_ET;
    this.gdtBase = gdt.base;
    this.gdtLimit = gdt.limit;
    this.idtBase = 0;
    this.idtLimit = 0x3ff;
    for (let s = 0; s < 6; s++) {
      this.segSel[s] = s === CS ? gdt.cs : gdt.ds;
      this.segBase[s] = 0;
      this.segLimit[s] = -1;
      this.segRights[s] = s === CS ? FLAT_CODE_RIGHTS : FLAT_DATA_RIGHTS;
    }
    this.segmentsLoaded();
    this.code32 = this.stack32 = true;
    this.cpl = 0;
    this.eflags = (eflags & ~ARITH_FLAGS) | 2;
    this.setArithFlags(eflags);
    this.eip = eip;
    GENERAL_REGISTERS.forEach((n, k) => this.regs[k] = regs[n] ?? 0);
    this.halted = false;
    this.intShadow = 0;
    this.privilegeChanged();
    this.flushTlb();
    this.flushCode();
  }

  setArithFlags(bits: number): void {
    this.fOp = 0;
    this.fAux = bits & 0x8d5;
  }

  get eflagsValue(): number {
    return readEflags(this);
  }

  setCpl(cpl: number): void {
    this.cpl = cpl;
    this.privilegeChanged();
  }

  /** After CS changed: recompute CPL and the default operand size. */
  codeSegmentChanged(): void {
    if (this.eflags & VM) {
      this.code32 = false;
      this.setCpl(3);
    } else if (this.cr[0] & CR0_PE) {
      this.code32 = (this.segRights[CS] & SEG_DB) !== 0;
      this.setCpl(this.segSel[CS] & 3);
    } else {
      this.code32 = (this.segRights[CS] & SEG_DB) !== 0;
      this.setCpl(0);
    }
    this.breakBlock = true;
  }

  // ---- stack ----

  push(size: number, v: number): void {
    const bytes = size === 2 ? 4 : 2;
    if (this.stack32) {
      const sp = (this.regs[4] - bytes) | 0;
      if (this.segFlat[SS] === 0) checkSegment(this, SS, sp, bytes, true);
      this.wr(size === 2 ? 2 : 1, (this.segBase[SS] + sp) | 0, v);
      this.regs[4] = sp;
    } else {
      const sp = (this.regs[4] - bytes) & 0xffff;
      if (this.segFlat[SS] === 0) checkSegment(this, SS, sp, bytes, true);
      this.wr(size === 2 ? 2 : 1, (this.segBase[SS] + sp) | 0, v);
      this.regs[4] = (this.regs[4] & ~0xffff) | sp;
    }
  }

  /**
   * Checks that the `bytes` just below ESP (SP) lie within SS's limit, for instructions and event
   * deliveries that push several values and must fault before the first if the last would not fit
   * (PUSHA, far CALL, gates). Raises #SS(errorCode): 0, or the new SS's selector after a stack switch.
   */
  checkPushes(bytes: number, errorCode = 0): void {
    if (this.segFlat[SS] !== 0) return;
    const low = this.stack32 ? (this.regs[4] - bytes) | 0 : (this.regs[4] - bytes) & 0xffff;
    if (!withinLimit(this, SS, low, bytes)) throw new CpuFault(SS_FAULT, errorCode);
  }

  pop(size: number): number {
    const bytes = size === 2 ? 4 : 2;
    if (this.stack32) {
      if (this.segFlat[SS] === 0) checkSegment(this, SS, this.regs[4], bytes, false);
      const v = this.rd(size === 2 ? 2 : 1, (this.segBase[SS] + this.regs[4]) | 0);
      this.regs[4] = (this.regs[4] + bytes) | 0;
      return v;
    }
    const sp = this.regs[4] & 0xffff;
    if (this.segFlat[SS] === 0) checkSegment(this, SS, sp, bytes, false);
    const v = this.rd(size === 2 ? 2 : 1, (this.segBase[SS] + sp) | 0);
    this.regs[4] = (this.regs[4] & ~0xffff) | ((sp + bytes) & 0xffff);
    return v;
  }

  /** Reads the stack at ESP + offset without popping (for far returns that may fault). */
  peek(size: number, offset: number): number {
    const sp = this.stack32 ? (this.regs[4] + offset) | 0 : (this.regs[4] + offset) & 0xffff;
    return this.rd(size === 2 ? 2 : 1, segAddress(this, SS, sp, size === 2 ? 4 : 2, false));
  }

  /** Adds to ESP or SP by the stack size. */
  addSp(n: number): void {
    if (this.stack32) this.regs[4] = (this.regs[4] + n) | 0;
    else this.regs[4] = (this.regs[4] & ~0xffff) | ((this.regs[4] + n) & 0xffff);
  }

  // ---- operands ----

  /**
   * Linear address of the memory operand, after the segment's limit and rights checks for the
   * access the instruction makes (segcheck.ts; nothing to check for a flat segment).
   */
  ea(i: Insn): number {
    let a = i.disp;
    if (i.base >= 0) a += this.regs[i.base];
    if (i.index >= 0) a += this.regs[i.index] << i.scale;
    if (!i.adsize32) a &= 0xffff;
    if (this.segFlat[i.seg] === 0) checkOperand(this, i, a);
    return (this.segBase[i.seg] + a) | 0;
  }

  /** Offset (not linear) of the memory operand, for LEA. */
  offset(i: Insn): number {
    let a = i.disp;
    if (i.base >= 0) a += this.regs[i.base];
    if (i.index >= 0) a += this.regs[i.index] << i.scale;
    return i.adsize32 ? a | 0 : a & 0xffff;
  }

  getReg(size: number, r: number): number {
    if (size === 2) return this.regs[r];
    if (size === 1) return this.regs[r] & 0xffff;
    return r < 4 ? this.regs[r] & 0xff : (this.regs[r - 4] >> 8) & 0xff;
  }

  setReg(size: number, r: number, v: number): void {
    if (size === 2) this.regs[r] = v;
    else if (size === 1) this.regs[r] = (this.regs[r] & ~0xffff) | (v & 0xffff);
    else if (r < 4) this.regs[r] = (this.regs[r] & ~0xff) | (v & 0xff);
    else this.regs[r - 4] = (this.regs[r - 4] & ~0xff00) | ((v & 0xff) << 8);
  }

  /** Reads the E operand (register or memory). */
  readE(i: Insn, size: number): number {
    return i.mod === 3 ? this.getReg(size, i.rm) : this.rd(size, this.ea(i));
  }

  writeE(i: Insn, size: number, v: number): void {
    if (i.mod === 3) this.setReg(size, i.rm, v);
    else this.wr(size, this.ea(i), v);
  }

  /** Supervisor write of a system structure (descriptor busy/accessed bits, TSS). */
  sysWrite32(lin: number, v: number): void {
    const cpl = this.cpl;
    this.cpl = 0;
    try {
      this.wr32(lin | 0, v);
    } finally {
      this.cpl = cpl;
    }
  }

  /** Supervisor read of a system structure (IDT, GDT, TSS) whatever the CPL. */
  sysRead32(lin: number): number {
    const cpl = this.cpl;
    this.cpl = 0;
    try {
      return this.rd32(lin | 0);
    } finally {
      this.cpl = cpl;
    }
  }

  // ---- code cache ----

  flushCode(): void {
    for (const p of [...this.pageBlocks.keys()]) this.dropPage(p);
  }

  /** Drops every block of a host page and of the pages whose blocks reach into it. */
  private dropPage(hostPage: number): void {
    this.codeMask[hostPage] = 0;
    this.codeBytes.delete(hostPage);
    this.pageBlocks.delete(hostPage);
    this.breakBlock = true;
    this.codeGen++;
    const deps = this.crossDeps.get(hostPage);
    if (deps) {
      this.crossDeps.delete(hostPage);
      for (const d of deps) if (this.codeMask[d]) this.dropPage(d);
    }
  }

  override codeWritten(hostPage: number, offset: number, length: number): void {
    const bits = chunkBits(offset, offset + length);
    if (!(this.codeMask[hostPage] & bits)) return;
    // The chunk holds code; the byte map says whether these bytes do.
    const bytes = this.codeBytes.get(hostPage);
    if (bytes) {
      let hit = false;
      for (let k = offset; k < offset + length && k < 4096; k++) {
        if (bytes[k]) {
          hit = true;
          break;
        }
      }
      if (!hit) return;
    }
    const deps = this.crossDeps.get(hostPage);
    if (deps) {
      this.crossDeps.delete(hostPage);
      for (const d of deps) if (this.codeMask[d]) this.dropPage(d);
    }
    const blocks = this.pageBlocks.get(hostPage);
    let mask = 0;
    bytes?.fill(0);
    if (blocks) {
      for (const [key, b] of blocks) {
        if (b.start < offset + length && b.end > offset) {
          blocks.delete(key);
          this.breakBlock = true;
          this.codeGen++;
        } else {
          mask |= chunkBits(b.start, b.end);
          bytes?.fill(1, b.start, Math.min(b.end, 4096));
        }
      }
    }
    // Keep the page marked while blocks remain; an empty page lets writes use the TLB again.
    this.codeMask[hostPage] = mask;
    if (!mask) {
      this.codeBytes.delete(hostPage);
      this.pageBlocks.delete(hostPage);
    }
  }

  private markCode(hostPage: number, start: number, end: number): void {
    const had = this.codeMask[hostPage];
    this.codeMask[hostPage] = had | chunkBits(start, end);
    let bytes = this.codeBytes.get(hostPage);
    if (!bytes) this.codeBytes.set(hostPage, bytes = new Uint8Array(4096));
    bytes.fill(1, start, Math.min(end, 4096));
    if (!had) this.codeMapped(hostPage);
  }

  private getBlock(): Block {
    const lin = (this.segBase[CS] + this.eip) | 0;
    this.eptFetch?.(lin);
    const host = this.hostRead(lin);
    const key = ((lin & 0xfff) << 1) | (this.code32 ? 1 : 0);
    if (host >= 0) {
      const page = host >>> 12;
      const blocks = this.pageBlocks.get(page);
      const hit = blocks?.get(key);
      if (hit) return hit;
      const block = this.buildBlock(lin, page);
      this.markCode(page, block.start, block.end);
      if (blocks) blocks.set(key, block);
      else this.pageBlocks.set(page, new Map([[key, block]]));
      return block;
    }
    return this.buildBlock(lin, -1);
  }

  private buildBlock(lin: number, page: number): Block {
    this.blocksBuilt++;
    const insns: Insn[] = [];
    let at = lin;
    const code32 = this.code32;
    for (;;) {
      let i: Insn;
      const start = at;
      try {
        i = decode((n) => this.rd8((start + n) | 0), code32, this.bindRow);
        if (i.entry === UD2_ROW) this.reportUnknownOpcode(start, i.len);
      } catch (e) {
        if (!(e instanceof DecodeError) || e.vector !== UD) {
          if (insns.length) break;
          if (e instanceof DecodeError) throw new CpuFault(e.vector, 0);
          throw e;
        }
        // Bytes that are no instruction end the block as one that raises #UD when it runs. The
        // block is cached like any other, so the report comes once per decoded block, as QEMU's
        // comes once per translated block.
        if (e.unknown) this.reportUnknownOpcode(start, e.length);
        i = undefinedInstruction(e.length, this.bindRow);
      }
      const end = (at + i.len - 1) | 0;
      if (page >= 0 && (end ^ at) & ~0xfff) {
        const other = this.hostRead(end);
        if (other >= 0) {
          const p2 = other >>> 12;
          this.markCode(p2, 0, (end & 0xfff) + 1);
          const deps = this.crossDeps.get(p2);
          if (deps) deps.push(page);
          else this.crossDeps.set(p2, [page]);
        }
      }
      insns.push(i);
      at = (at + i.len) | 0;
      if (ENDS_BLOCK.has(i.entry!.handler) || insns.length >= MAX_BLOCK || page < 0) break;
      if ((at ^ lin) & ~0xfff) break;
    }
    return new Block(insns, lin & 0xfff, (lin & 0xfff) + ((at - lin) | 0), lin, code32);
  }

  private reportUnknownOpcode(linear: number, length: number): void {
    if (!this.onUnknownOpcode) return;
    this.onUnknownOpcode(linear >>> 0, Array.from({ length }, (_, n) => this.rd8((linear + n) | 0)));
  }

  // ---- the run loop ----

  run(budget: number): StopReason {
    const bus = this.bus;
    let executed = 0;
    let reason: StopReason = "budget";
    let prev: Block | undefined;
    while (true) {
      if (bus.stopRequested) {
        reason = bus.resetRequested && this.tripleFaulted ? "shutdown" : "stop";
        break;
      }
      if (executed >= budget) break;
      // Non-root operation only: VM exits for the preemption timer, NMIs, interrupts and windows.
      if (this.vmxNonRoot && vmxPoll(this)) continue;
      if (this.intShadow === 0) {
        if (bus.nmi && !this.nmiBlocked) {
          bus.nmi = false;
          this.nmiBlocked = true;
          this.event(NMI, EV_EXTERNAL, 0);
        } else if (bus.intr && (this.eflags & IF) && bus.interruptController) {
          const vector = bus.interruptController.acknowledge();
          this.event(vector & 0xff, EV_EXTERNAL, 0);
        }
      }
      if (this.halted) {
        reason = "hlt";
        break;
      }
      let block: Block | undefined;
      const lin = (this.segBase[CS] + this.eip) | 0;
      if (prev !== undefined && prev.gen === this.codeGen) {
        // Chained successor: skips the TLB and cache lookups for hot paths.
        const a = prev.next0, b = prev.next1;
        if (a !== undefined && a.lin === lin && a.code32 === this.code32) block = a;
        else if (b !== undefined && b.lin === lin && b.code32 === this.code32) block = b;
      }
      if (block === undefined) {
        const built = this.blocksBuilt;
        try {
          // A fault while fetching belongs to the instruction at EIP.
          this.insnEip = this.eip;
          block = this.getBlock();
        } catch (e) {
          prev = undefined;
          this.fault(e);
          continue;
        }
        // Decoding new code is where the budget's instruction count stops predicting time (cold
        // code runs ~100x slower than cached code): there, and only there, look at the host clock
        // so a slice cannot run past the machine's next timer deadline.
        if (this.blocksBuilt !== built && executed > 0 && performance.now() >= bus.sliceEndMs) break;
        if (prev !== undefined) {
          if (prev.gen !== this.codeGen) {
            prev.gen = this.codeGen;
            prev.next0 = block;
            prev.next1 = undefined;
          } else if (prev.next0 === undefined) prev.next0 = block;
          else prev.next1 = block;
        }
      }
      prev = undefined;
      const insns = block.insns;
      const n = this.intShadow !== 0 || (this.eflags & TF) || this.vmxMtf ? 1 : insns.length;
      const singleStep = (this.eflags & TF) !== 0;
      this.intShadow = 0;
      this.breakBlock = false;
      // Compiled code runs whole blocks only: single steps and shadows take the interpreter.
      const whole = n === insns.length && !singleStep;
      let fn = whole ? block.fn : undefined;
      if (fn === undefined && whole && this.jitThreshold >= 0 && ++block.hits > this.jitThreshold) {
        fn = block.fn = compileBlock(insns, block.code32);
      }
      try {
        if (fn !== undefined) {
          executed += fn(this, budget - executed);
          let cur: Block = block;
          // Straight on through compiled successors while the loop above would have nothing to do
          // between them: no event to take, no shadow or single step, links still valid.
          while (
            !this.breakBlock && executed < budget && this.intShadow === 0 && !this.halted &&
            !this.vmxPolls && (this.eflags & TF) === 0 && !bus.stopRequested && !bus.nmi &&
            !(bus.intr && (this.eflags & IF)) && cur.gen === this.codeGen
          ) {
            const at = (this.segBase[CS] + this.eip) | 0;
            let next = cur.next0;
            if (next === undefined || next.lin !== at || next.code32 !== this.code32) {
              next = cur.next1;
              if (next === undefined || next.lin !== at || next.code32 !== this.code32) break;
            }
            if (next.fn === undefined) break;
            cur = next;
            fn = next.fn;
            executed += fn(this, budget - executed);
          }
          if (!this.breakBlock) prev = cur;
        } else {
          for (let k = 0; k < n; k++) {
            const i = insns[k];
            const eip = this.eip;
            this.insnEip = eip;
            this.eip = this.code32 ? (eip + i.len) | 0 : (eip + i.len) & 0xffff;
            i.h(this, i);
            executed++;
            if (this.breakBlock) break;
          }
          if (!this.breakBlock && n === insns.length) prev = block;
          if (singleStep && !this.halted) {
            this.dr[6] |= 0x4000;
            this.event(DB, EV_EXCEPTION, 0);
          }
        }
      } catch (e) {
        if (fn !== undefined) executed += this.jitRetired;
        this.fault(e);
      }
    }
    this.instructions += executed;
    this.lastRun = executed;
    return reason;
  }

  /** Blocks decoded since creation (cache misses). */
  blocksBuilt = 0;

  /** Instructions retired by the last run() call. */
  lastRun = 0;
  private tripleFaulted = false;
  /**
   * Set by a task switch once it has committed (task.ts): a fault after that point, while an event
   * is delivered through a task gate, is the new task's (SDM 7.3), not a second fault of the event.
   */
  taskCommitted = false;

  private fault(e: unknown): void {
    if (!(e instanceof CpuFault)) throw e;
    this.eip = this.insnEip;
    this.exception(e.vector, e.errorCode);
  }

  /** Delivers an exception, applying the double-fault and triple-fault rules. */
  exception(vector: number, code: number): void {
    if (this.vmxNonRoot && vmxException(this, vector, code)) return;
    if (vector === PF) this.cr[2] = this.pfLinear;
    this.taskCommitted = false;
    try {
      deliver(this, vector, EV_EXCEPTION, HAS_ERROR_CODE.has(vector), code);
    } catch (e2) {
      if (!(e2 instanceof CpuFault)) throw e2;
      // Raised in the new task after a task gate's switch: delivered there on its own, as a fault
      // before the new task's first instruction (no double or triple fault).
      if (this.taskCommitted) return this.exception(e2.vector, e2.errorCode);
      // A VM exit during delivery (a task gate's TASK_SWITCH, an EPT violation) is no second fault.
      if (e2.vector === VMEXIT_VECTOR) return this.exception(e2.vector, e2.errorCode);
      if (vector === DF) {
        if (this.vmxNonRoot) return vmxTripleFault(this);
        this.tripleFaulted = true;
        this.halted = true;
        this.bus.requestReset();
        return;
      }
      const second = e2.vector;
      if (
        (CONTRIBUTORY.has(vector) && CONTRIBUTORY.has(second)) ||
        (vector === PF && (CONTRIBUTORY.has(second) || second === PF))
      ) {
        this.exception(DF, 0);
      } else {
        this.exception(second, e2.errorCode);
      }
    }
  }

  /** An event from outside the instruction stream (INTR, NMI) or a trap raised between blocks. */
  private event(vector: number, kind: number, code: number): void {
    this.insnEip = this.eip;
    try {
      deliver(this, vector, kind, false, code);
    } catch (e) {
      this.fault(e);
    }
  }

  /** Raises #GP(0) (shared by handlers that check privilege). */
  gp0(): never {
    throw new CpuFault(GP, 0);
  }
}
