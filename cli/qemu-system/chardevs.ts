/**
 * The host side of character devices for -serial/-debugcon/-monitor: stdio (raw-ish terminal input
 * when stdin is a TTY), file:PATH, null, and QEMU's mux, which shares stdio between the first
 * serial port and the monitor and takes Ctrl-A escapes (h help, x quit, c switch to the monitor,
 * b break, Ctrl-A Ctrl-A for a literal Ctrl-A). The monitor itself is lib/virt/monitor's.
 */
import type { CharBackend, CharFrontend } from "../../lib/devices/chardev.ts";
import type { CharSpec } from "../../lib/virt/machine/config.ts";
import { CliError } from "./cli_error.ts";
import { hostStrerror } from "./host_errors.ts";

const CTRL_A = 0x01;

const MUX_HELP = [
  "h    print this help",
  "x    exit emulator",
  "s    save disk data back to file (if -snapshot)",
  "t    toggle console timestamps",
  "b    send break (magic sysrq)",
  "c    switch between console and monitor",
  "C-a  sends C-a",
];

/** Output and buffered input for one frontend; input waits here until the device has room. */
class QueuedBackend implements CharBackend {
  private frontend?: CharFrontend;
  private pending: number[] = [];
  constructor(private readonly output: (data: Uint8Array) => void) {}

  write(data: Uint8Array): void {
    this.output(data);
  }

  attach(frontend: CharFrontend): void {
    this.frontend = frontend;
    frontend.onDrain = () => this.pump();
  }

  input(bytes: Iterable<number>): void {
    for (const b of bytes) this.pending.push(b);
    this.pump();
  }

  pump(): void {
    if (!this.frontend || this.pending.length === 0) return;
    const n = Math.min(this.frontend.canReceive(), this.pending.length);
    if (n > 0) this.frontend.receive(Uint8Array.from(this.pending.splice(0, n)));
  }

  /** For the break key: the device may model a line break. */
  sendBreak(): void {
    (this.frontend as { receiveBreak?: () => void } | undefined)?.receiveBreak?.();
  }
}

/** What the machine does when the user asks the mux or monitor to end the run. */
export interface HostControl {
  quit(): void;
  /** Input arrived: wake a halted guest. */
  kick(): void;
}

/** The human monitor as a character stream (lib/virt/monitor's HmpConsole). */
export interface MonitorConsole {
  banner(): void;
  receive(text: string): void;
}

/** stdio shared by a device and the monitor, with QEMU's Ctrl-A escapes. */
class MuxBackend extends QueuedBackend {
  private escape = false;
  private monitorFocus: boolean;
  /** Attached once the board's monitors exist (before stdin is read). */
  private monitor?: MonitorConsole;
  constructor(
    private readonly out: (text: string) => void,
    private readonly control: HostControl,
    /** `-monitor stdio`: no device behind the mux, the monitor has stdin from the start. */
    readonly monitorOnly = false,
  ) {
    super((data) => Deno.stdout.writeSync(data));
    this.monitorFocus = monitorOnly;
  }

  /** Puts the real human monitor behind Ctrl-A c (or on stdin, for -monitor stdio). */
  attachMonitor(console: (write: (text: string) => void) => MonitorConsole): void {
    this.monitor = console(this.out);
    if (this.monitorOnly) this.monitor.banner();
  }

  private monitorInput(b: number): void {
    this.monitor?.receive(String.fromCharCode(b));
  }

  override input(bytes: Iterable<number>): void {
    const forDevice: number[] = [];
    for (const b of bytes) {
      if (this.escape) {
        this.escape = false;
        // What came before the escape reaches the device first, as the mux delivers byte by byte.
        if (forDevice.length) super.input(forDevice.splice(0));
        this.command(b, forDevice);
      } else if (b === CTRL_A) {
        this.escape = true;
      } else if (this.monitorFocus) {
        this.monitorInput(b);
      } else {
        forDevice.push(b);
      }
    }
    if (forDevice.length) super.input(forDevice);
  }

  private command(key: number, forDevice: number[]): void {
    switch (String.fromCharCode(key)) {
      case "h":
        this.out("\n\r" + MUX_HELP.map((line) => `C-a ${line}\n\r`).join(""));
        return;
      case "x":
        this.out("QEMU: Terminated\n\r");
        this.control.quit();
        return;
      case "c":
        this.monitorFocus = !this.monitorFocus;
        if (this.monitorFocus) this.monitor?.banner();
        return;
      case "b":
        this.sendBreak();
        return;
      default:
        if (key === CTRL_A) this.monitorFocus ? this.monitorInput(key) : forDevice.push(key);
    }
  }
}

/** The chardevs of one run, and the stdin pump that feeds whichever one owns stdio. */
export class HostChardevs {
  private stdinOwner?: QueuedBackend;
  private readonly files: Deno.FsFile[] = [];
  private reader?: ReadableStreamDefaultReader<Uint8Array>;
  private rawMode = false;
  private readonly encoder = new TextEncoder();

  constructor(private readonly control: HostControl) {}

  /** Opens a backend; file errors read as QEMU's, with `what` as the second line's start. */
  open(spec: CharSpec, location: string, what: string, text: string): CharBackend {
    switch (spec.kind) {
      case "null":
        return { write() {} };
      case "stdio":
        return this.stdinOwner = new QueuedBackend((data) => Deno.stdout.writeSync(data));
      case "mux-stdio":
        return this.stdinOwner = new MuxBackend(
          (t) => Deno.stdout.writeSync(this.encoder.encode(t)),
          this.control,
        );
      case "file": {
        let file: Deno.FsFile;
        try {
          file = Deno.openSync(spec.path, { write: true, create: true, truncate: true });
        } catch (e) {
          throw new CliError([
            { text: `Could not open '${spec.path}': ${hostStrerror(e)}`, location },
            { text: `${what} '${text}'`, location },
          ]);
        }
        this.files.push(file);
        return { write: (data) => void file.writeSync(data) };
      }
    }
  }

  /** `-monitor stdio` without a serial port on stdio: a mux that belongs to the monitor alone. */
  openMonitorStdio(): void {
    if (this.stdinOwner) return;
    this.stdinOwner = new MuxBackend(
      (t) => Deno.stdout.writeSync(this.encoder.encode(t)),
      this.control,
      true,
    );
  }

  /** Gives the stdio mux, if there is one, the human monitor. */
  attachMonitor(console: (write: (text: string) => void) => MonitorConsole): void {
    if (this.stdinOwner instanceof MuxBackend) this.stdinOwner.attachMonitor(console);
  }

  /** Starts reading stdin for the stdio owner (in cbreak mode on a terminal, so Ctrl-C still signals). */
  start(): void {
    if (!this.stdinOwner) return;
    const owner = this.stdinOwner;
    if (Deno.stdin.isTerminal()) {
      Deno.stdin.setRaw(true, { cbreak: true });
      this.rawMode = true;
    }
    this.reader = Deno.stdin.readable.getReader();
    const pump = async () => {
      for (;;) {
        const { value, done } = await this.reader!.read();
        if (done || !value) return;
        owner.input(value);
        this.control.kick();
      }
    };
    pump().catch(() => {});
  }

  close(): void {
    this.reader?.cancel().catch(() => {});
    if (this.rawMode) Deno.stdin.setRaw(false);
    for (const file of this.files) file.close();
  }
}
