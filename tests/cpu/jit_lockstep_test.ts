/**
 * The block compiler against the interpreter, in lock step: each guest runs on two minimal machines,
 * one interpreting and one compiling blocks (at once, and after a few runs so both paths mix), in
 * budget slices of odd sizes. After every slice the whole architectural state (registers, EIP, the
 * lazy-flag fields, segments, control registers), the retired-instruction counts and the serial
 * output must be identical, and RAM must be identical at the end. This covers faults mid-block
 * (exceptions, paging, rings, tasks, v86 guests), self-modifying code (smc) and budget exhaustion:
 * a slice ends between blocks on both paths at the same instruction.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { bootMinimal } from "../../lib/virt/machine/minimal.ts";
import { directive } from "../../scripts/record_goldens.ts";

const DIRS = ["demo", "cpu", "fpu"];
const SLICES = [997, 1, 4093, 64, 65, 20011];
const LIMIT = 200_000_000;
// Enough for every guest here; two machines per test, so smaller than the default.
const RAM = 32 << 20;

function lockstep(image: Uint8Array, cpuModel: string | undefined, jit: number): void {
  const a = bootMinimal(image, { cpuModel, jit: false, ramSize: RAM });
  const b = bootMinimal(image, { cpuModel, jit, ramSize: RAM });
  for (let k = 0; a.cpu.instructions < LIMIT; k++) {
    const budget = SLICES[k % SLICES.length];
    const ra = a.cpu.run(budget), rb = b.cpu.run(budget);
    const where = `slice ${k} after ${a.cpu.instructions} instructions`;
    assert.equal(rb, ra, `stop reason, ${where}`);
    assert.equal(b.cpu.instructions, a.cpu.instructions, `retired count, ${where}`);
    assert.deepEqual(b.cpu.snapshot(), a.cpu.snapshot(), `state, ${where}`);
    assert.equal(b.serial.chunks.length, a.serial.chunks.length, `serial, ${where}`);
    if (a.bus.shutdownStatus !== undefined || a.bus.resetRequested || ra === "hlt") break;
  }
  assert.deepEqual(b.serial.chunks, a.serial.chunks);
  assert.equal(b.bus.shutdownStatus, a.bus.shutdownStatus);
  assert.equal(Buffer.compare(b.bus.u8, a.bus.u8), 0, "RAM differs");
}

for (const dir of DIRS) {
  const guests = join(PROJECT, "tests", "guests", dir);
  const names = [...Deno.readDirSync(guests)].filter((e) => e.isFile && e.name.endsWith(".bin"))
    .map((e) => e.name.slice(0, -4)).sort();
  for (const name of names) {
    const source = join(guests, name + ".asm");
    if (directive(source, "golden") === "none") continue;
    const qemuArgs = directive(source, "qemu")?.split(/\s+/) ?? [];
    const cpuModel = qemuArgs.includes("-cpu") ? qemuArgs[qemuArgs.indexOf("-cpu") + 1] : undefined;
    for (const jit of [0, 3]) {
      Deno.test(`compiled blocks (threshold ${jit}) run ${dir}/${name} in lock step with the interpreter`, () => {
        lockstep(Deno.readFileSync(join(guests, name + ".bin")), cpuModel, jit);
      });
    }
  }
}
