/**
 * Where the monitors listen: QEMU's socket chardev addresses (`unix:PATH,server=on,wait=off`,
 * `tcp:HOST:PORT,server=on,wait=off`, gdb's `tcp::PORT`), served on loopback only. Unix sockets
 * are made mode 0600, and an existing path is replaced only when it is a socket nobody answers
 * on (a stale one left by a crashed run). Each accepted connection gets its own protocol session
 * fed with the text it sends; writes are queued so a slow or vanished client never blocks the VM.
 */
import { MonitorError } from "./errors.ts";

export type ListenAddress = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

const LOOPBACK = new Set(["127.0.0.1", "localhost", ""]);

/** Parses a socket chardev spec; options other than server/wait/nowait are rejected. */
export function parseListenAddress(spec: string): ListenAddress {
  const [address, ...options] = spec.split(",");
  for (const o of options) {
    if (!/^(server(=(on|off))?|wait(=(on|off))?|nowait|nodelay(=(on|off))?)$/.test(o)) {
      throw new MonitorError(`Invalid parameter '${o.split("=")[0]}'`);
    }
    if (o === "server=off") throw new MonitorError("only listening (server=on) sockets are supported");
    if (o === "wait" || o === "wait=on") {
      throw new MonitorError("wait=on is not supported: start with -S to connect before the guest runs");
    }
  }
  if (address.startsWith("unix:")) return { kind: "unix", path: address.slice(5) };
  const m = /^(?:tcp:)?(\[[^\]]*\]|[^:]*):(\d+)$/.exec(address);
  if (m) {
    const host = m[1];
    if (!LOOPBACK.has(host)) {
      throw new MonitorError(`'${host}': monitors listen on loopback only (127.0.0.1)`);
    }
    return { kind: "tcp", host: "127.0.0.1", port: parseInt(m[2], 10) };
  }
  throw new MonitorError(`address '${address}' is neither unix:PATH nor tcp:HOST:PORT`);
}

/**
 * `-chardev socket,id=ID,path=P,server=on,wait=off` or `...,host=H,port=N,...` as a listen address
 * (for `-mon chardev=ID,mode=control|readline`); `options` are the chardev's key=value pairs.
 */
export function socketChardevAddress(options: Record<string, string>): ListenAddress {
  const server = options.server ?? "off";
  if (server !== "on" && server !== "") {
    throw new MonitorError("only listening (server=on) sockets are supported");
  }
  if ((options.wait ?? "on") === "on" && !("nowait" in options)) {
    throw new MonitorError("wait=on is not supported: start with -S to connect before the guest runs");
  }
  if (options.path !== undefined) return { kind: "unix", path: options.path };
  if (options.port === undefined) throw new MonitorError("chardev: socket: no host given");
  return parseListenAddress(`tcp:${options.host ?? ""}:${options.port}`);
}

/** A protocol session as the server drives it. */
export interface Session {
  receive(text: string): void;
  close(): void;
  closed: boolean;
}

async function isListening(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** Serves one address until closed; `open` builds a session around a connection's writer. */
export class SocketServer {
  private readonly conns = new Set<Deno.Conn>();
  private constructor(readonly address: ListenAddress, private readonly listener: Deno.Listener) {}

  static async listen(
    address: ListenAddress,
    open: (send: (text: string) => void, close: () => void) => Session,
  ): Promise<SocketServer> {
    let listener: Deno.Listener;
    if (address.kind === "unix") {
      let stat: Deno.FileInfo | undefined;
      try {
        stat = Deno.lstatSync(address.path);
      } catch { /* absent: nothing to replace */ }
      if (stat) {
        if (!stat.isSocket || await isListening(address.path)) {
          throw new MonitorError(`Failed to bind socket to ${address.path}: Address already in use`);
        }
        Deno.removeSync(address.path);
      }
      try {
        listener = Deno.listen({ transport: "unix", path: address.path });
      } catch (e) {
        throw new MonitorError(`Failed to bind socket to ${address.path}: ${(e as Error).message}`);
      }
      Deno.chmodSync(address.path, 0o600);
    } else {
      try {
        listener = Deno.listen({ hostname: address.host, port: address.port });
      } catch (e) {
        throw new MonitorError(`Failed to bind socket: ${(e as Error).message}`);
      }
      if (address.port === 0) address = { ...address, port: (listener.addr as Deno.NetAddr).port };
    }
    const server = new SocketServer(address, listener);
    server.acceptLoop(open);
    return server;
  }

  private async acceptLoop(
    open: (send: (text: string) => void, close: () => void) => Session,
  ): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.listener.accept();
      } catch {
        return; // listener closed
      }
      this.serve(conn, open);
    }
  }

  private async serve(conn: Deno.Conn, open: (send: (text: string) => void, close: () => void) => Session) {
    this.conns.add(conn);
    const encoder = new TextEncoder();
    let queue = Promise.resolve();
    let gone = false;
    const hangUp = () => {
      if (gone) return;
      gone = true;
      this.conns.delete(conn);
      session.close();
      queue.finally(() => {
        try {
          conn.close();
        } catch { /* already closed */ }
      });
    };
    // Replies produced in one turn (two commands on a line, an event and its reply) leave together.
    let pending = "";
    const send = (text: string) => {
      if (gone) return;
      const first = pending === "";
      pending += text;
      if (!first) return;
      queue = queue.then(async () => {
        const bytes = encoder.encode(pending);
        pending = "";
        if (gone) return;
        for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
      }).catch(() => hangUp());
    };
    const session = open(send, () => queue.then(hangUp));
    const decoder = new TextDecoder();
    const buf = new Uint8Array(16384);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null || gone) break;
        session.receive(decoder.decode(buf.subarray(0, n), { stream: true }));
      }
    } catch { /* reset by peer: same as EOF */ }
    await queue;
    hangUp();
  }

  close(): void {
    try {
      this.listener.close();
    } catch { /* already closed */ }
    for (const c of this.conns) {
      try {
        c.close();
      } catch { /* gone */ }
    }
    this.conns.clear();
    if (this.address.kind === "unix") {
      try {
        Deno.removeSync(this.address.path);
      } catch { /* gone */ }
    }
  }
}
