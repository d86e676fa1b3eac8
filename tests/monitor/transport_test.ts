/**
 * Socket transports. The unix-socket cases (0600, stale sockets, several clients, clients that
 * vanish, HMP on a socket) run in a child `deno test` holding --allow-net, which unix sockets need
 * under Deno 2.9 (they are granted only by exact path, and the test task grants 127.0.0.1); the
 * child must pass every case. TCP's loopback rule is checked here directly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MonitorError, parseListenAddress, socketChardevAddress } from "../../lib/virt/monitor/mod.ts";
import { PROJECT } from "../support/tools.ts";

Deno.test("unix-socket cases pass in a child with unix-socket permission", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--quiet",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "--allow-net",
      "--allow-sys",
      join(PROJECT, "tests", "monitor", "unix_socket_cases.ts"),
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  assert.match(text, /ok \| 3 passed \| 0 failed/);
});

Deno.test("socket addresses: loopback TCP only, QEMU's spellings", () => {
  assert.deepEqual(parseListenAddress("tcp:127.0.0.1:4444,server=on,wait=off"), {
    kind: "tcp",
    host: "127.0.0.1",
    port: 4444,
  });
  assert.deepEqual(parseListenAddress("tcp::1234"), { kind: "tcp", host: "127.0.0.1", port: 1234 });
  assert.deepEqual(parseListenAddress("unix:/tmp/q.sock,server,nowait"), {
    kind: "unix",
    path: "/tmp/q.sock",
  });
  assert.throws(() => parseListenAddress("tcp:0.0.0.0:4444,server=on"), (e) => e instanceof MonitorError);
  assert.throws(() => parseListenAddress("tcp:192.168.1.2:4444,server=on"), /loopback/);
  assert.throws(() => parseListenAddress("unix:/tmp/q.sock,server=on,wait=on"), /wait=on/);
  assert.throws(() => parseListenAddress("unix:/tmp/q.sock,bogus=1"), /Invalid parameter 'bogus'/);
});

Deno.test("-chardev socket options become listen addresses", () => {
  assert.deepEqual(socketChardevAddress({ id: "mon0", path: "/tmp/q.sock", server: "on", wait: "off" }), {
    kind: "unix",
    path: "/tmp/q.sock",
  });
  assert.deepEqual(
    socketChardevAddress({ id: "m", host: "127.0.0.1", port: "4444", server: "on", wait: "off" }),
    {
      kind: "tcp",
      host: "127.0.0.1",
      port: 4444,
    },
  );
  assert.throws(
    () => socketChardevAddress({ id: "m", host: "10.0.0.1", port: "1", server: "on", wait: "off" }),
    /loopback/,
  );
  assert.throws(() => socketChardevAddress({ id: "m", path: "/tmp/x", server: "on" }), /wait=on/);
});
