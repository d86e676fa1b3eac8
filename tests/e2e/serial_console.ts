/**
 * Drives a guest's serial console through a child process's stdin/stdout (`-nographic`): waits for
 * text with a hard deadline, types commands, and always kills the child on the way out, so a guest
 * that stops talking fails the test instead of hanging it.
 */

export class ConsoleTimeout extends Error {}

export class SerialConsole {
  private readonly child: Deno.ChildProcess;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private readonly started = performance.now();
  /** Everything the guest has printed so far. */
  transcript = "";
  /** Where the next expect() starts looking. */
  private cursor = 0;
  private waiters: (() => void)[] = [];
  readonly status: Promise<Deno.CommandStatus>;
  private exited = false;

  constructor(command: string, args: string[], options: { cwd?: string; echo?: boolean } = {}) {
    this.child = new Deno.Command(command, {
      args,
      cwd: options.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.writer = this.child.stdin.getWriter();
    this.status = this.child.status.then((s) => {
      this.exited = true;
      this.wake();
      return s;
    });
    this.pump(this.child.stdout, options.echo ?? false);
    this.pump(this.child.stderr, options.echo ?? false);
  }

  private async pump(stream: ReadableStream<Uint8Array>, echo: boolean): Promise<void> {
    for await (const chunk of stream) {
      if (echo) Deno.stderr.writeSync(chunk);
      this.transcript += this.decoder.decode(chunk, { stream: true });
      this.wake();
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Seconds since the child started. */
  elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** Waits until `pattern` appears after the cursor; returns the text up to and including it. */
  async expect(pattern: string | RegExp, timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const rest = this.transcript.slice(this.cursor);
      const found = typeof pattern === "string"
        ? (() => {
          const i = rest.indexOf(pattern);
          return i < 0 ? undefined : { index: i, length: pattern.length };
        })()
        : (() => {
          const m = rest.match(pattern);
          return m ? { index: m.index!, length: m[0].length } : undefined;
        })();
      if (found) {
        const text = rest.slice(0, found.index + found.length);
        this.cursor += found.index + found.length;
        return text;
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.exited) {
        const tail = this.transcript.slice(-1500);
        throw new ConsoleTimeout(
          `${this.exited ? "guest exited" : `no ${pattern} within ${timeoutMs} ms`}; console tail:\n${tail}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        timer = setTimeout(resolve, Math.min(left, 1000));
      });
      clearTimeout(timer);
    }
  }

  async send(text: string): Promise<void> {
    await this.writer.write(new TextEncoder().encode(text));
  }

  /** Types a command and returns its output (between the echoed command and the next prompt). */
  async command(cmd: string, prompt: string, timeoutMs: number): Promise<string> {
    await this.send(cmd + "\n");
    await this.expect(cmd, timeoutMs);
    const out = await this.expect(prompt, timeoutMs);
    return out.slice(0, -prompt.length).replace(/^\r?\n/, "").replaceAll("\r", "");
  }

  /** Waits for the child to exit by itself within the deadline; kills it otherwise. */
  async waitExit(timeoutMs: number): Promise<Deno.CommandStatus | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) =>
      timer = setTimeout(() => resolve(undefined), timeoutMs)
    );
    const status = await Promise.race([this.status, timeout]);
    clearTimeout(timer);
    return status;
  }

  /** Kills the child if it is still running and waits for it; safe to call twice. */
  async close(): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    try {
      await this.writer.close();
    } catch { /* closed by the exit */ }
    await this.status;
  }
}
