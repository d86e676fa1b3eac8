/**
 * Debugger watchpoints (Mmu.watchPages, used by the gdb stub's Z2-Z4) see the accesses of REP
 * STOS/MOVS too, which otherwise run a page at a time straight on RAM.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bootMinimal } from "../../lib/virt/machine/minimal.ts";
import { PROJECT } from "../support/tools.ts";

const GUEST = Deno.readFileSync(join(PROJECT, "tests/guests/monitor/rep_watch.bin"));
const WATCHED = 0x102000;

Deno.test("watched page: REP STOSD writes and REP MOVSD reads are each reported", () => {
  const { cpu, serial, bus } = bootMinimal(GUEST, { jit: false });
  const written = new Set<number>(), read = new Set<number>();
  cpu.watchPages = new Set([WATCHED >>> 12]);
  cpu.onWatchedAccess = (lin, bytes, write) => {
    for (let k = 0; k < bytes; k++) (write ? written : read).add(lin + k);
  };
  while (bus.shutdownStatus === undefined && cpu.instructions < 1_000_000) cpu.run(100_000);
  assert.equal(String.fromCharCode(...serial.chunks), "done\n");
  for (let a = WATCHED; a < WATCHED + 256; a++) {
    assert.ok(written.has(a), `write at ${a.toString(16)} reported`);
    assert.ok(read.has(a), `read at ${a.toString(16)} reported`);
  }
});
