/**
 * Run by transport_test.ts in a child `deno test` with --allow-net, because Deno grants unix
 * sockets only by exact path and the project's test task grants 127.0.0.1 alone. Not named
 * *_test.ts so the suite does not run it directly.
 *
 * The monitors' sockets on a running counter guest: unix sockets are 0600, a stale socket path is
 * replaced but a live one or a regular file is not, TCP listens on loopback only, several QMP
 * clients share the VM and all see its events, and clients that vanish mid-command leave the VM
 * running and the other clients served. The human monitor answers on a socket with QEMU's banner.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { attachMonitors, MonitorError } from "../../lib/virt/monitor/mod.ts";
import { LineReader } from "./qmp_script.ts";
import { COUNTER, startVm } from "./vm.ts";

const encoder = new TextEncoder();

async function qmpClient(path: string) {
  const conn = await Deno.connect({ transport: "unix", path });
  const reader = new LineReader(conn);
  const greeting = await reader.next(5000);
  assert.ok(greeting && typeof greeting === "object" && "QMP" in greeting);
  const send = async (line: string) => void await conn.write(encoder.encode(line + "\n"));
  /** Next message that is not an event (events are collected). */
  const events: string[] = [];
  const reply = async () => {
    for (;;) {
      const m = await reader.next(5000) as Record<string, unknown> | undefined;
      if (!m) throw new Error("no reply");
      if ("event" in m) events.push(m.event as string);
      else return m;
    }
  };
  /** Events since the last call. */
  const drainEvents = async (ms = 100) => {
    for (;;) {
      const m = await reader.next(ms) as Record<string, unknown> | undefined;
      if (!m) return events.splice(0);
      if ("event" in m) events.push(m.event as string);
    }
  };
  await send(`{"execute":"qmp_capabilities"}`);
  assert.deepEqual(await reply(), { return: {} });
  return { conn, send, reply, events, drainEvents };
}

function counter(vm: { pc: { bus: { read32(a: number): number } } }): number {
  return vm.pc.bus.read32(COUNTER) >>> 0;
}

Deno.test("QMP unix socket is 0600; two clients share events; vanished clients leave the VM running", async () => {
  const vm = await startVm({
    qmp: ["unix:DIR/q.sock,server=on,wait=off", "unix:DIR/q2.sock,server=on,wait=off"],
  });
  try {
    const path = join(vm.dir, "q.sock");
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    const a = await qmpClient(path);
    const b = await qmpClient(join(vm.dir, "q2.sock"));
    const c = await qmpClient(path);
    await a.send(`{"execute":"stop"}`);
    assert.deepEqual(await a.reply(), { return: {} });
    const frozen = counter(vm);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(counter(vm), frozen, "a stopped VM does not count");
    await b.send(`{"execute":"query-status"}`);
    assert.deepEqual(await b.reply(), { return: { status: "paused", singlestep: false, running: false } });
    await c.send(`{"execute":"cont"}`);
    assert.deepEqual(await c.reply(), { return: {} });
    for (const client of [a, b, c]) assert.deepEqual(await client.drainEvents(), ["STOP", "RESUME"]);

    // One client leaves mid-command, another mid-value, another right after asking for a big reply.
    await a.send(`{"execute":"query-commands"}`);
    a.conn.close();
    await b.conn.write(encoder.encode(`{"execute": "query-st`));
    b.conn.close();
    const before = counter(vm);
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(counter(vm) !== before, "the guest still runs");
    await c.send(`{"execute":"query-status","id":"still"}`);
    assert.deepEqual(await c.reply(), {
      return: { status: "running", singlestep: false, running: true },
      id: "still",
    });
    const d = await qmpClient(path);
    await d.send(`{"execute":"quit"}`);
    assert.deepEqual(await d.reply(), { return: {} });
    assert.deepEqual(await vm.exited, { kind: "quit" });
    assert.deepEqual(await c.drainEvents(), ["SHUTDOWN"]);
    c.conn.close();
    d.conn.close();
  } finally {
    await vm.shutdown();
  }
});

Deno.test("a stale socket is replaced; a live socket or a regular file is not", async () => {
  const vm = await startVm();
  const dir = vm.dir;
  try {
    const stale = join(dir, "stale.sock");
    // A process killed while listening leaves its socket behind (Deno unlinks on a clean close).
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const l = Deno.listen({ transport: "unix", path: ${
          JSON.stringify(stale)
        } }); console.log("up"); await l.accept();`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    await reader.read();
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    assert.ok(Deno.lstatSync(stale).isSocket);
    const live = join(dir, "live.sock");
    const listener = Deno.listen({ transport: "unix", path: live });
    const file = join(dir, "file");
    Deno.writeTextFileSync(file, "keep me");
    try {
      // A second attach on the same board is only for this test: the target wraps the vCPU again.
      const m = await attachMonitors(vm.pc, { qmp: [`unix:${stale},server=on,wait=off`] });
      const conn = await Deno.connect({ transport: "unix", path: stale });
      assert.ok(await new LineReader(conn).next(5000));
      conn.close();
      m.close();
      await assert.rejects(
        attachMonitors(vm.pc, { qmp: [`unix:${live},server=on,wait=off`] }),
        (e) => e instanceof MonitorError && /Address already in use/.test(e.message),
      );
      await assert.rejects(
        attachMonitors(vm.pc, { qmp: [`unix:${file},server=on,wait=off`] }),
        (e) => e instanceof MonitorError && /Address already in use/.test(e.message),
      );
      assert.equal(Deno.readTextFileSync(file), "keep me");
    } finally {
      listener.close();
    }
  } finally {
    await vm.shutdown();
  }
});

Deno.test("QMP over TCP listens on loopback only; HMP on a socket shows QEMU's banner and prompt", async () => {
  await assert.rejects(
    startVm({ qmp: ["tcp:0.0.0.0:4444,server=on,wait=off"] }),
    (e) => e instanceof MonitorError && /loopback/.test(e.message),
  );
  const vm = await startVm({
    qmp: ["tcp:127.0.0.1:0,server=on,wait=off"],
    hmp: ["unix:DIR/hmp.sock,server=on,wait=off"],
  });
  try {
    const { port } = vm.monitors.qmpServers[0].address as { port: number };
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const reader = new LineReader(conn);
    const greeting = await reader.next(5000) as { QMP: { capabilities: string[] } };
    assert.deepEqual(greeting.QMP.capabilities, ["oob"]);
    conn.close();

    const hmp = await Deno.connect({ transport: "unix", path: join(vm.dir, "hmp.sock") });
    const decoder = new TextDecoder();
    let text = "";
    const buf = new Uint8Array(4096);
    const readUntil = async (marker: string) => {
      while (!text.endsWith(marker)) {
        const n = await hmp.read(buf);
        if (n === null) break;
        text += decoder.decode(buf.subarray(0, n));
      }
    };
    await readUntil("(qemu) ");
    assert.equal(text, "QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) ");
    text = "";
    await hmp.write(encoder.encode("info status\r"));
    await readUntil("(qemu) ");
    assert.equal(text, "info status\r\nVM status: running\r\n(qemu) ");
    text = "";
    await hmp.write(encoder.encode("stop\rinfo status\r"));
    await readUntil("paused\r\n(qemu) ");
    assert.equal(text, "stop\r\n(qemu) info status\r\nVM status: paused\r\n(qemu) ");
    hmp.close();
  } finally {
    await vm.shutdown();
  }
});
