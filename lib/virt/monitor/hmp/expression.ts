/**
 * The human monitor's address expressions (QEMU's get_expr): numbers (0x hex, 0 octal, decimal),
 * registers as $eax/$eip/..., unary minus, + - * / % & | ^ and parentheses, with QEMU's error
 * texts ("unexpected end of expression", "invalid char 'x' in expression").
 */
import type { Cpu } from "../../../cpu/cpu.ts";
import { readEflags } from "../../../cpu/flags.ts";
import { MonitorError } from "../errors.ts";

const REGS: Record<string, (cpu: Cpu) => number> = {
  eax: (c) => c.regs[0],
  ecx: (c) => c.regs[1],
  edx: (c) => c.regs[2],
  ebx: (c) => c.regs[3],
  esp: (c) => c.regs[4],
  ebp: (c) => c.regs[5],
  esi: (c) => c.regs[6],
  edi: (c) => c.regs[7],
  eip: (c) => c.eip,
  pc: (c) => c.segBase[1] + c.eip,
  eflags: (c) => readEflags(c),
  cr0: (c) => c.cr[0],
  cr2: (c) => c.cr[2],
  cr3: (c) => c.cr[3],
  cr4: (c) => c.cr[4],
  es: (c) => c.segSel[0],
  cs: (c) => c.segSel[1],
  ss: (c) => c.segSel[2],
  ds: (c) => c.segSel[3],
  fs: (c) => c.segSel[4],
  gs: (c) => c.segSel[5],
};

export class ExpressionParser {
  private at = 0;
  constructor(private readonly text: string, private readonly cpu: Cpu) {}

  /** Parses one expression from the start; `rest()` gives what follows it. */
  parse(): number {
    this.skip();
    if (this.at >= this.text.length) throw new MonitorError("unexpected end of expression");
    return this.sum();
  }

  rest(): string {
    return this.text.slice(this.at);
  }

  private skip(): void {
    while (this.text[this.at] === " " || this.text[this.at] === "\t") this.at++;
  }

  private sum(): number {
    let v = this.product();
    for (;;) {
      this.skip();
      const op = this.text[this.at];
      if (op !== "+" && op !== "-" && op !== "&" && op !== "|" && op !== "^") return v;
      this.at++;
      const r = this.product();
      v = op === "+" ? v + r : op === "-" ? v - r : op === "&" ? v & r : op === "|" ? v | r : v ^ r;
    }
  }

  private product(): number {
    let v = this.unary();
    for (;;) {
      this.skip();
      const op = this.text[this.at];
      if (op !== "*" && op !== "/" && op !== "%") return v;
      this.at++;
      const r = this.unary();
      if ((op === "/" || op === "%") && r === 0) throw new MonitorError("division by zero");
      v = op === "*" ? v * r : op === "/" ? Math.trunc(v / r) : v % r;
    }
  }

  private unary(): number {
    this.skip();
    const c = this.text[this.at];
    if (c === undefined) throw new MonitorError("unexpected end of expression");
    if (c === "+") {
      this.at++;
      return this.unary();
    }
    if (c === "-") {
      this.at++;
      return -this.unary();
    }
    if (c === "~") {
      this.at++;
      return ~this.unary();
    }
    if (c === "(") {
      this.at++;
      const v = this.sum();
      this.skip();
      if (this.text[this.at] !== ")") throw new MonitorError("')' expected");
      this.at++;
      return v;
    }
    if (c === "$") {
      const m = /^\$([a-z0-9_]+)/i.exec(this.text.slice(this.at));
      const name = m?.[1].toLowerCase() ?? "";
      const reg = REGS[name];
      if (!reg) throw new MonitorError(`unknown register`);
      this.at += m![0].length;
      return reg(this.cpu) >>> 0;
    }
    const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(this.text.slice(this.at));
    if (!m) throw new MonitorError(`invalid char '${c}' in expression`);
    this.at += m[0].length;
    const t = m[0];
    return t.startsWith("0x") || t.startsWith("0X")
      ? parseInt(t, 16)
      : t.length > 1 && t[0] === "0"
      ? parseInt(t, 8)
      : parseInt(t, 10);
  }
}
