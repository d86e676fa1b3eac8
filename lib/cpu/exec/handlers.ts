/**
 * Binds opcode-table rows to handler functions: the HANDLER column of opcodes.ts names a factory
 * here, which receives the row's ARG and operand form and returns the function the interpreter
 * calls for every decoded instance.
 */
import { operandForm } from "../decoder.ts";
import type { Handler } from "../insn.ts";
import type { OpcodeEntry } from "../opcodes.ts";
import * as A from "./alu.ts";
import * as B from "./bits.ts";
import * as BCD from "./bcd.ts";
import * as C from "./control.ts";
import * as D from "./data.ts";
import * as IO from "./io.ts";
import * as M from "./muldiv.ts";
import * as SH from "./shift.ts";
import * as STR from "./string.ts";
import * as SYS from "./system.ts";
import { vmxHandler } from "../vmx/instructions.ts";
import { simdFactory } from "../simd/table.ts";

type Factory = (form: string, arg: number) => Handler;
const fixed = (h: Handler): Factory => () => h;

const FACTORIES: Record<string, Factory> = {
  alu: (form, arg) => A.aluHandler(form, arg),
  test: (form) => A.testHandler(form),
  incdec: (_f, arg) => A.incdecHandler(arg),
  not: fixed(A.notHandler),
  neg: fixed(A.negHandler),
  cmpxchg: fixed(A.cmpxchgHandler),
  xadd: fixed(A.xaddHandler),
  cmpxchg8b: fixed(A.cmpxchg8bHandler),
  shift: (form, arg) => SH.shiftHandler(form, arg),
  shld: (form) => SH.shldHandler(form, true),
  shrd: (form) => SH.shldHandler(form, false),
  mul: fixed(M.mulHandler),
  imul1: fixed(M.imul1Handler),
  imul2: fixed(M.imulNHandler(false)),
  imul3: fixed(M.imulNHandler(true)),
  div: fixed(M.divHandler),
  idiv: fixed(M.idivHandler),
  bt: (form, arg) => B.btHandler(form, arg),
  bsf: fixed(B.bsfHandler(false)),
  bsr: fixed(B.bsfHandler(true)),
  daa: fixed(BCD.daaHandler),
  das: fixed(BCD.dasHandler),
  aaa: fixed(BCD.aaaHandler),
  aas: fixed(BCD.aasHandler),
  aam: fixed(BCD.aamHandler),
  aad: fixed(BCD.aadHandler),
  mov: (form) => D.movHandler(form),
  movzx: fixed(D.movzxHandler),
  movsx: fixed(D.movsxHandler),
  lea: fixed(D.leaHandler),
  xchg: fixed(D.xchgHandler),
  push: (form) => D.pushHandler(form),
  pop: fixed(D.popHandler),
  pushseg: fixed(D.pushsegHandler),
  popseg: fixed(D.popsegHandler),
  movfromseg: fixed(D.movfromsegHandler),
  movtoseg: fixed(D.movtosegHandler),
  lfp: fixed(D.lfpHandler),
  pusha: fixed(D.pushaHandler),
  popa: fixed(D.popaHandler),
  cbw: fixed(D.cbwHandler),
  cwd: fixed(D.cwdHandler),
  xlat: fixed(D.xlatHandler),
  bswap: fixed(D.bswapHandler),
  setcc: fixed(D.setccHandler),
  cmovcc: fixed(D.cmovccHandler),
  salc: fixed(D.salcHandler),
  bound: fixed(D.boundHandler),
  jcc: fixed(C.jccHandler),
  jmp: fixed(C.jmpHandler),
  jmpind: fixed(C.jmpindHandler),
  call: fixed(C.callHandler),
  callind: fixed(C.callindHandler),
  ret: fixed(C.retHandler),
  retf: fixed(C.retfHandler),
  loop: fixed(C.loopHandler),
  jcxz: fixed(C.jcxzHandler),
  enter: fixed(C.enterHandler),
  leave: fixed(C.leaveHandler),
  int: fixed(C.intHandler),
  int3: fixed(C.int3Handler),
  into: fixed(C.intoHandler),
  int1: fixed(C.int1Handler),
  iret: fixed(C.iretHandler),
  hlt: fixed(C.hltHandler),
  jmpfar: fixed(C.jmpfarHandler),
  callfar: fixed(C.callfarHandler),
  jmpfarind: fixed(C.jmpfarindHandler),
  callfarind: fixed(C.callfarindHandler),
  movs: fixed(STR.movsHandler),
  cmps: fixed(STR.cmpsHandler),
  stos: fixed(STR.stosHandler),
  lods: fixed(STR.lodsHandler),
  scas: fixed(STR.scasHandler),
  ins: fixed(STR.insHandler),
  outs: fixed(STR.outsHandler),
  in: (form) => IO.inHandler(form),
  out: (form) => IO.outHandler(form),
  clc: fixed(SYS.clcHandler),
  stc: fixed(SYS.stcHandler),
  cmc: fixed(SYS.cmcHandler),
  cld: fixed(SYS.cldHandler),
  std: fixed(SYS.stdHandler),
  cli: fixed(SYS.cliHandler),
  sti: fixed(SYS.stiHandler),
  sahf: fixed(SYS.sahfHandler),
  lahf: fixed(SYS.lahfHandler),
  pushf: fixed(SYS.pushfHandler),
  popf: fixed(SYS.popfHandler),
  sdt: fixed(SYS.sdtHandler),
  ldt: fixed(SYS.ldtHandler),
  sldt: fixed(SYS.sldtHandler),
  str: fixed(SYS.strHandler),
  lldt: fixed(SYS.lldtHandler),
  ltr: fixed(SYS.ltrHandler),
  smsw: fixed(SYS.smswHandler),
  lmsw: fixed(SYS.lmswHandler),
  clts: fixed(SYS.cltsHandler),
  movfromcr: fixed(SYS.movfromcrHandler),
  movtocr: fixed(SYS.movtocrHandler),
  movfromdr: fixed(SYS.movfromdrHandler),
  movtodr: fixed(SYS.movtodrHandler),
  invlpg: fixed(SYS.invlpgHandler),
  cpuid: fixed(SYS.cpuidHandler),
  rdtsc: fixed(SYS.rdtscHandler),
  rdpmc: fixed(SYS.rdpmcHandler),
  rdmsr: fixed(SYS.rdmsrHandler),
  wrmsr: fixed(SYS.wrmsrHandler),
  sysenter: fixed(SYS.sysenterHandler),
  sysexit: fixed(SYS.sysexitHandler),
  larlsl: (_f, arg) => SYS.larlslHandler(arg),
  verrw: (_f, arg) => SYS.verrwHandler(arg),
  arpl: fixed(SYS.arplHandler),
  nop: fixed(SYS.nopHandler),
  monitor: fixed(SYS.monitorHandler),
  mwait: fixed(SYS.mwaitHandler),
  ud2: fixed(SYS.ud2Handler),
  fpu: fixed(SYS.fpuHandler),
  fwait: fixed(SYS.fwaitHandler),
  fxsave: fixed(SYS.fxsaveHandler),
  fxrstor: fixed(SYS.fxrstorHandler),
  vmx: (_f, arg) => vmxHandler(arg),
  simd: (_f, arg) => simdFactory(arg),
};

export function bindHandler(e: OpcodeEntry): Handler {
  const f = FACTORIES[e.handler];
  if (!f) throw new Error(`opcode row ${e.mnemonic32} names unknown handler ${e.handler}`);
  return f(operandForm(e), e.arg);
}

/** Every handler name the table may use (for the table's consistency test). */
export const HANDLER_NAMES: readonly string[] = Object.keys(FACTORIES);
