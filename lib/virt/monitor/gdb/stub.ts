/**
 * The gdb stub: one gdb connection speaking the remote serial protocol for i386 against a
 * MonitorTarget. A connecting gdb stops the VM (as QEMU's stub does); `c`/`s` resume it and the
 * stop reply is sent when the target reports a breakpoint, a step, a watchpoint or Ctrl-C.
 * Threads are one (the single vCPU, thread 1). Z2/Z3/Z4 are write, read and access watchpoints
 * (gdb's watch, rwatch, awatch); the stop reply names the kind and the address, as QEMU's does.
 */
import { readLinear, writeLinear } from "../debug_memory.ts";
import type { PcTarget } from "../pc_target.ts";
import type { BreakpointType, DebugStop } from "../target.ts";
import { framePacket, fromHex, type Incoming, PacketReader, toHex } from "./packets.ts";
import { readRegister, writeRegister } from "./registers.ts";
import { I386_REGISTERS, TARGET_XML } from "./target_xml.ts";

const SIGINT = 2, SIGTRAP = 5;
const BREAK_TYPES: BreakpointType[] = ["sw", "hw", "watch", "rwatch", "awatch"];
const MAX_MEMORY = 0x4000;

export class GdbSession {
  private readonly reader = new PacketReader();
  private noAck = false;
  /** A c/s is in flight: the next debug stop is answered with a stop reply. */
  private running = false;
  /** gdb offered the multiprocess extensions: thread ids are written p1.1, as QEMU then does. */
  private multiprocess = false;
  closed = false;

  constructor(private readonly target: PcTarget, private readonly send: (text: string) => void) {
    target.onDebugStop = (why) => this.stopped(why);
    // gdb attaching stops the VM, as under QEMU.
    target.stop();
  }

  receive(text: string): void {
    for (const item of this.reader.feed(text)) this.handle(item);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.target.onDebugStop) this.target.onDebugStop = undefined;
    // gdb went away: its breakpoints go with it and the VM runs on.
    this.target.removeAllBreakpoints();
    if (this.target.runState === "debug" || this.target.runState === "paused") this.target.cont();
  }

  private handle(item: Incoming): void {
    if (item.kind === "interrupt") {
      this.target.interrupt();
      return;
    }
    if (item.kind === "nak") {
      if (!this.noAck) this.send("-");
      return;
    }
    if (!this.noAck) this.send("+");
    const reply = this.command(item.payload);
    if (reply !== undefined) this.reply(reply);
  }

  private reply(payload: string): void {
    this.send(framePacket(payload));
  }

  private stopped(why: DebugStop): void {
    if (!this.running && why.kind !== "exited" && why.kind !== "interrupt") return;
    this.running = false;
    this.reply(this.stopReply(why));
  }

  private stopReply(why: DebugStop): string {
    switch (why.kind) {
      case "exited":
        // QEMU's stub reports every end of the VM as a normal exit (gdb_exit(0)), whatever the guest's status.
        return "W00";
      case "interrupt":
        return `T${hex2(SIGINT)}thread:${this.thread()};`;
      case "watch":
        return `T${hex2(SIGTRAP)}thread:${this.thread()};${why.type}:${
          why.address.toString(16).padStart(8, "0")
        };`;
      default:
        return `T${hex2(SIGTRAP)}thread:${this.thread()};`;
    }
  }

  /** One packet's reply; undefined when the reply comes later (c, s). */
  private command(p: string): string | undefined {
    const cpu = this.target.cpu;
    switch (p[0]) {
      case "?":
        return `T${hex2(SIGTRAP)}thread:${this.thread()};`;
      case "g": {
        let out = "";
        for (let n = 0; n < I386_REGISTERS.length; n++) out += toHex(readRegister(cpu, n)!);
        return out;
      }
      case "G": {
        const bytes = fromHex(p.slice(1));
        if (!bytes) return "E22";
        let at = 0;
        for (let n = 0; n < I386_REGISTERS.length && at < bytes.length; n++) {
          const size = I386_REGISTERS[n][1];
          writeRegister(cpu, n, bytes.slice(at, at + size));
          at += size;
        }
        return "OK";
      }
      case "p": {
        const value = readRegister(cpu, parseInt(p.slice(1), 16));
        return value ? toHex(value) : "E14";
      }
      case "P": {
        const [n, v] = p.slice(1).split("=");
        const bytes = fromHex(v ?? "");
        return bytes && writeRegister(cpu, parseInt(n, 16), bytes) ? "OK" : "E14";
      }
      case "m": {
        const [a, l] = p.slice(1).split(",").map((x) => parseInt(x, 16));
        if (!Number.isFinite(a) || !Number.isFinite(l)) return "E22";
        const buf = new Uint8Array(Math.min(l, MAX_MEMORY));
        return readLinear(cpu, a, buf) ? toHex(buf) : "E14";
      }
      case "M": {
        const m = /^M([0-9a-fA-F]+),([0-9a-fA-F]+):([0-9a-fA-F]*)$/.exec(p);
        const data = m && fromHex(m[3]);
        if (!m || !data || data.length !== parseInt(m[2], 16)) return "E22";
        return writeLinear(cpu, parseInt(m[1], 16), data) ? "OK" : "E14";
      }
      case "c":
      case "s": {
        if (p.length > 1) cpu.eip = parseInt(p.slice(1), 16);
        this.resume(p[0] === "s");
        return undefined;
      }
      case "Z":
      case "z": {
        const [t, a, k] = p.slice(1).split(",");
        const type = BREAK_TYPES[parseInt(t, 10)];
        if (!type) return "";
        const address = parseInt(a, 16), length = parseInt(k, 16);
        const ok = p[0] === "Z"
          ? this.target.insertBreakpoint(type, address, type === "sw" || type === "hw" ? 1 : length)
          : this.target.removeBreakpoint(type, address, type === "sw" || type === "hw" ? 1 : length);
        return ok ? "OK" : p[0] === "Z" ? "E22" : "E22";
      }
      case "k":
        this.target.quit("host-ui");
        return undefined;
      case "D":
        this.close();
        return "OK";
      case "H":
        return "OK";
      case "T":
        return /^T(p0*1\.)?0*1$/.test(p) ? "OK" : "E22";
      case "v":
        return this.vCommand(p);
      case "q":
      case "Q":
        return this.query(p);
    }
    return "";
  }

  /** The one vCPU's thread id in the form gdb negotiated. */
  private thread(): string {
    return this.multiprocess ? "p01.01" : "01";
  }

  private resume(step: boolean): void {
    this.running = true;
    if (step) this.target.step();
    else this.target.cont();
  }

  private vCommand(p: string): string | undefined {
    if (p === "vCont?") return "vCont;c;C;s;S";
    if (p.startsWith("vCont;")) {
      const action = p.slice(6).split(";")[0];
      if (action[0] === "c" || action[0] === "C") this.resume(false);
      else if (action[0] === "s" || action[0] === "S") this.resume(true);
      else return "E22";
      return undefined;
    }
    if (p.startsWith("vKill")) {
      this.target.quit("host-ui");
      return "OK";
    }
    return "";
  }

  private query(p: string): string {
    if (p.startsWith("qSupported")) {
      this.multiprocess = p.includes("multiprocess+");
      return "PacketSize=1000;qXfer:features:read+;swbreak+;hwbreak+;QStartNoAckMode+;vContSupported+" +
        (this.multiprocess ? ";multiprocess+" : "");
    }
    if (p === "QStartNoAckMode") {
      // The OK itself is still acknowledged; from the next packet on nobody acks.
      queueMicrotask(() => this.noAck = true);
      return "OK";
    }
    if (p === "qAttached") return "1";
    if (p === "qC") return `QC${this.thread()}`;
    if (p === "qfThreadInfo") return `m${this.thread()}`;
    if (p === "qsThreadInfo") return "l";
    if (p.startsWith("qThreadExtraInfo")) return toHex(new TextEncoder().encode("CPU#0 [running]"));
    if (p === "qOffsets") return "Text=0;Data=0;Bss=0";
    if (p.startsWith("qSymbol")) return "OK";
    const xfer = /^qXfer:features:read:([^:]+):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
    if (xfer) {
      if (xfer[1] !== "target.xml") return "E00";
      const offset = parseInt(xfer[2], 16), length = parseInt(xfer[3], 16);
      const chunk = TARGET_XML.slice(offset, offset + length);
      return (offset + length < TARGET_XML.length ? "m" : "l") + chunk;
    }
    return "";
  }
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}
