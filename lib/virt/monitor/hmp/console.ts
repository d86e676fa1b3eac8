/**
 * The interactive human monitor on a character stream (stdio, the Ctrl-A c mux, a socket): the
 * banner, the "(qemu) " prompt, QEMU readline's echo and line editing (backspace, Ctrl-U), and
 * "\r\n" line ends. Each completed line runs through Hmp.execute.
 */
import type { Hmp } from "./hmp.ts";

export class HmpConsole {
  private line = "";
  closed = false;

  constructor(private readonly hmp: Hmp, private readonly out: (text: string) => void) {}

  banner(): void {
    const v = this.hmp.version;
    this.out(`QEMU ${v.major}.${v.minor}.${v.micro} monitor - type 'help' for more information\r\n(qemu) `);
  }

  receive(text: string): void {
    for (const c of text) {
      if (this.closed) return;
      if (c === "\r" || c === "\n") {
        if (c === "\n" && this.lastWasCr) {
          this.lastWasCr = false;
          continue;
        }
        this.lastWasCr = c === "\r";
        this.out("\r\n");
        const line = this.line;
        this.line = "";
        const output = this.hmp.execute(line);
        this.out(output.replaceAll("\n", "\r\n"));
        if (!this.closed) this.out("(qemu) ");
        continue;
      }
      this.lastWasCr = false;
      if (c === "\x7f" || c === "\b") {
        if (this.line) {
          this.line = this.line.slice(0, -1);
          this.out("\b \b");
        }
      } else if (c === "\x15") {
        this.out("\b \b".repeat(this.line.length));
        this.line = "";
      } else if (c >= " ") {
        this.line += c;
        this.out(c);
      }
    }
  }

  private lastWasCr = false;

  close(): void {
    this.closed = true;
  }
}
