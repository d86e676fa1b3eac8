/**
 * Cpu.snapshot()/restore() carry the whole architectural state: a guest stopped part way,
 * snapshotted through JSON and restored into a fresh CPU (on a copy of RAM) must finish exactly as
 * an uninterrupted run does, in serial output and in final state. The guest (state_carry) keeps
 * live values in the x87 stack, XMM and MMX registers, MXCSR, debug registers and MSRs, and the
 * controls below check that dropping any of those from the snapshot changes the outcome.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { createMinimalMachine } from "../../lib/virt/machine/minimal.ts";
import { enterMultiboot, loadMultiboot } from "../../lib/virt/machine/multiboot.ts";
import type { Cpu } from "../../lib/cpu/cpu.ts";

const IMAGE = Deno.readFileSync(join(PROJECT, "tests", "guests", "cpu", "state_carry.bin"));
const RAM = 16 << 20;
const LIMIT = 10_000_000;

type Machine = ReturnType<typeof createMinimalMachine>;

function boot(): Machine {
  const m = createMinimalMachine({ ramSize: RAM });
  const entry = loadMultiboot(m.bus, IMAGE);
  enterMultiboot(m.cpu, entry);
  return m;
}

/** Runs until the guest exits or `until` instructions have retired (at a block boundary). */
function runTo(m: Machine, until: number): void {
  while (m.cpu.instructions < until && m.bus.shutdownStatus === undefined) {
    if (m.cpu.run(until - m.cpu.instructions) === "hlt") break;
  }
}

function stateJson(cpu: Cpu): string {
  return JSON.stringify(cpu.snapshot());
}

interface Outcome {
  serial: string;
  exit: number | undefined;
  state: string;
}

function outcome(m: Machine, serialBefore: number[] = []): Outcome {
  return {
    serial: new TextDecoder().decode(new Uint8Array([...serialBefore, ...m.serial.chunks])),
    exit: m.bus.shutdownStatus,
    state: stateJson(m.cpu),
  };
}

/** Stops at `at`, passes the snapshot through JSON and `edit`, and finishes on a fresh machine. */
function splitRun(at: number, edit: (s: Record<string, unknown>) => void = () => {}): Outcome {
  const a = boot();
  runTo(a, at);
  assert.equal(a.bus.shutdownStatus, undefined, `guest ended before instruction ${at}`);
  const snapshot = JSON.parse(stateJson(a.cpu));
  edit(snapshot);
  const b = createMinimalMachine({ ramSize: RAM });
  b.bus.u8.set(a.bus.u8.subarray(0, RAM));
  b.cpu.restore(snapshot);
  runTo(b, LIMIT);
  return outcome(b, a.serial.chunks);
}

const whole = (() => {
  const m = boot();
  runTo(m, LIMIT);
  return { ...outcome(m), instructions: m.cpu.instructions };
})();

Deno.test("snapshot: the uninterrupted guest runs to its end", () => {
  assert.equal(whole.exit, 1);
  assert.match(whole.serial, /^x87 [\s\S]*\nmsr 0000000000000008 /);
});

Deno.test("snapshot: restored at any point, the guest finishes as the uninterrupted run", () => {
  for (let k = 1; k < 12; k++) {
    const at = Math.floor(whole.instructions * k / 12);
    const r = splitRun(at);
    assert.equal(r.serial, whole.serial, `split at ${at}`);
    assert.equal(r.exit, whole.exit, `split at ${at}`);
    assert.equal(r.state, whole.state, `split at ${at}`);
  }
});

Deno.test("snapshot: a restored state snapshots back to the same JSON", () => {
  const a = boot();
  runTo(a, Math.floor(whole.instructions / 3));
  a.cpu.intShadow = 1;
  a.cpu.nmiBlocked = true;
  const json = stateJson(a.cpu);
  const b = createMinimalMachine({ ramSize: RAM });
  b.cpu.restore(JSON.parse(json));
  assert.equal(stateJson(b.cpu), json);
});

// Controls: each piece of state the guest relies on, dropped, changes the finish. Phase 1 (x87 and
// SSE) takes about the first half of the run, phase 2 (MMX) most of the rest.
const parts = (s: Record<string, unknown>) => s.parts as Record<string, unknown>;
const CONTROLS: [string, number, (s: Record<string, unknown>) => void][] = [
  ["x87 registers and control words", 0.25, (s) => delete parts(s).fpu],
  ["XMM registers", 0.25, (s) => delete parts(s).simd],
  ["MMX registers", 0.75, (s) => delete parts(s).simd],
  ["debug registers", 0.5, (s) => (s.dr as number[]).fill(0, 0, 4)],
  ["MSRs", 0.5, (s) => (s.msrs = [])],
];
for (const [what, fraction, drop] of CONTROLS) {
  Deno.test(`snapshot: without the ${what} the finish differs`, () => {
    const r = splitRun(Math.floor(whole.instructions * fraction), drop);
    assert.notEqual(r.serial, whole.serial);
  });
}
