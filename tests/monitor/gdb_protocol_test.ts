/**
 * The gdb stub at the packet level, where gdb -batch cannot reach: framing and checksums, Ctrl-C
 * while the guest runs, the target description in chunks, register and memory edge cases, the
 * watchpoint kinds the stub refuses, and `k` ending the VM.
 */
import assert from "node:assert/strict";
import { framePacket, PacketReader } from "../../lib/virt/monitor/gdb/packets.ts";
import { TARGET_XML } from "../../lib/virt/monitor/gdb/target_xml.ts";
import { COUNTER, startVm } from "./vm.ts";

class RawGdb {
  private text = "";
  private readonly reader = new PacketReader();
  private readonly decoder = new TextDecoder();
  private readonly buf = new Uint8Array(65536);
  constructor(readonly conn: Deno.Conn) {}

  async send(payload: string): Promise<void> {
    await this.conn.write(new TextEncoder().encode(framePacket(payload)));
  }

  /** Next packet payload from the stub (acks skipped). */
  async packet(): Promise<string> {
    for (;;) {
      const items = this.reader.feed(this.text);
      this.text = "";
      const p = items.find((i) => i.kind === "packet");
      if (p && p.kind === "packet") return p.payload;
      const n = await this.conn.read(this.buf);
      if (n === null) throw new Error("stub closed the connection");
      this.text += this.decoder.decode(this.buf.subarray(0, n));
    }
  }

  async ask(payload: string): Promise<string> {
    await this.send(payload);
    return await this.packet();
  }
}

Deno.test("gdb packets: Ctrl-C, target.xml chunks, registers with XMM, memory, watchpoints, k", async () => {
  const vm = await startVm({ gdb: "tcp:127.0.0.1:0" });
  try {
    const port = (vm.monitors.gdbServer!.address as { port: number }).port;
    const gdb = new RawGdb(await Deno.connect({ hostname: "127.0.0.1", port }));
    assert.match(await gdb.ask("qSupported:multiprocess+;swbreak+"), /qXfer:features:read\+.*multiprocess\+/);
    assert.equal(await gdb.ask("?"), "T05thread:p01.01;");
    assert.equal(vm.monitors.target.runState, "paused", "a connecting gdb stops the VM");

    let xml = "";
    for (let off = 0;;) {
      const chunk = await gdb.ask(`qXfer:features:read:target.xml:${off.toString(16)},100`);
      xml += chunk.slice(1);
      off += 0x100;
      if (chunk[0] === "l") break;
    }
    assert.equal(xml, TARGET_XML);
    assert.equal(await gdb.ask("qXfer:features:read:other.xml:0,100"), "E00");

    const regs = await gdb.ask("g");
    assert.equal(regs.length, 2 * (16 * 4 + 8 * 10 + 8 * 4 + 8 * 16 + 4));
    assert.equal(await gdb.ask("P0=78563412"), "OK");
    assert.equal(await gdb.ask("p0"), "78563412");
    assert.equal(vm.monitors.target.cpu.regs[0], 0x12345678);
    assert.equal(await gdb.ask("p99"), "E14");
    // XMM registers are the CPU's SSE state (gdb numbers 32-39), MXCSR is 40.
    const xmm1 = "00112233445566778899aabbccddeeff";
    assert.equal(await gdb.ask(`P21=${xmm1}`), "OK");
    assert.equal(await gdb.ask("p21"), xmm1);
    assert.equal(
      (await gdb.ask("g")).slice(2 * (16 * 4 + 8 * 10 + 8 * 4 + 16), 2 * (16 * 4 + 8 * 10 + 8 * 4 + 32)),
      xmm1,
    );
    assert.equal(await gdb.ask("p28"), "801f0000");
    assert.equal(await gdb.ask(`m${COUNTER.toString(16)},4`).then((h) => h.length), 8);
    assert.equal(await gdb.ask("mfffff000,4"), "E14", "unbacked memory");
    assert.equal(await gdb.ask("m7ffff00,4"), "E14", "beyond RAM");
    assert.equal(await gdb.ask("m1ffff00,4"), "00000000", "the top of RAM");
    assert.equal(await gdb.ask("M100404,4:01000000"), "OK");
    assert.equal(vm.pc.bus.read32(0x100404), 1);
    assert.equal(await gdb.ask("M100404,4:00000000"), "OK");
    assert.equal(await gdb.ask("Z3,100400,4"), "OK", "read watchpoint");
    assert.equal(await gdb.ask("z3,100400,4"), "OK");
    assert.equal(await gdb.ask("Z4,100400,4"), "OK", "access watchpoint");
    assert.equal(await gdb.ask("z4,100400,4"), "OK");
    assert.equal(await gdb.ask("z4,100400,4"), "E22", "no such watchpoint");
    assert.equal(await gdb.ask("Z9,100400,4"), "");

    // Continue, then Ctrl-C while the guest counts.
    await gdb.send("c");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(vm.monitors.target.runState, "running");
    await gdb.conn.write(new Uint8Array([3]));
    assert.equal(await gdb.packet(), "T02thread:p01.01;");
    assert.equal(vm.monitors.target.runState, "debug");

    // A corrupted checksum is nak'd and the packet ignored.
    await gdb.conn.write(new TextEncoder().encode("$g#00"));
    assert.equal(await gdb.ask("qC"), "QCp01.01");

    await gdb.send("k");
    assert.deepEqual(await vm.exited, { kind: "quit" });
    gdb.conn.close();
  } finally {
    await vm.shutdown();
  }
});

Deno.test("a second gdb is turned away while one is attached; detaching lets the VM run on", async () => {
  const vm = await startVm({ gdb: "tcp:127.0.0.1:0" });
  try {
    const port = (vm.monitors.gdbServer!.address as { port: number }).port;
    const first = new RawGdb(await Deno.connect({ hostname: "127.0.0.1", port }));
    assert.equal(await first.ask("?"), "T05thread:01;");
    const second = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await second.read(new Uint8Array(16)), null);
    second.close();
    assert.equal(await first.ask("Z0,100200,1"), "OK");
    assert.equal(await first.ask("D"), "OK");
    first.conn.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(vm.monitors.target.runState, "running", "breakpoints left with gdb");
  } finally {
    await vm.shutdown();
  }
});
