/**
 * VMX state in Cpu.snapshot() (the "vmx" state part): the hypervisor guest, stopped at several
 * points (in VMX root operation with a current VMCS, and in non-root operation with EPT on),
 * snapshotted through JSON and restored into a fresh CPU on a copy of RAM, must print exactly the
 * SDM-derived output an uninterrupted run prints. Without the part the restored CPU has left VMX
 * operation, and the output differs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../../support/tools.ts";
import { createMinimalMachine } from "../../../lib/virt/machine/minimal.ts";
import { enterMultiboot, loadMultiboot } from "../../../lib/virt/machine/multiboot.ts";
import { MODELS, withFeatures } from "../../../lib/cpu/models.ts";
import { vmxState } from "../../../lib/cpu/vmx/mod.ts";

const IMAGE = Deno.readFileSync(join(PROJECT, "tests", "guests", "vmx", "hypervisor.bin"));
const GOLDEN = Deno.readTextFileSync(join(PROJECT, "tests", "golden", "vmx", "hypervisor.txt"));
type Machine = ReturnType<typeof createMinimalMachine>;

function machine(): Machine {
  const m = createMinimalMachine({ ramSize: 16 << 20 });
  m.cpu.model = withFeatures(MODELS.qemu32, { vmx: true });
  return m;
}

function serial(m: Machine): string {
  return new TextDecoder().decode(new Uint8Array(m.serial.chunks));
}

/** Runs until about `until` instructions (a block boundary), the guest's exit or a HLT. */
function runTo(m: Machine, until: number): void {
  while (m.cpu.instructions < until && m.bus.shutdownStatus === undefined) {
    const why = m.cpu.run(Math.min(until - m.cpu.instructions, 100_000));
    if (why !== "budget") return;
  }
}

function split(at: number, dropVmx = false): { output: string; nonRoot: boolean } {
  const a = machine();
  const boot = loadMultiboot(a.bus, IMAGE, {});
  enterMultiboot(a.cpu, boot);
  runTo(a, at);
  if (a.bus.shutdownStatus !== undefined) return { output: serial(a), nonRoot: false };
  const nonRoot = a.cpu.vmxNonRoot;
  const snap = JSON.parse(JSON.stringify(a.cpu.snapshot()));
  if (dropVmx) delete snap.parts.vmx;
  const b = machine();
  b.bus.u8.set(a.bus.u8);
  b.cpu.restore(snap);
  // A restored CPU that lost VMX operation may spin in L2's code: bounded.
  runTo(b, at + 1_000_000);
  return { output: serial(a) + serial(b), nonRoot };
}

Deno.test("snapshot: VMX root and non-root state survive a snapshot/restore at any point", () => {
  const whole = split(Infinity);
  assert.equal(whole.output, GOLDEN);
  let sawNonRoot = false, sawRoot = false;
  for (const at of [3000, 9451, 11000, 13551, 14000, 16457, 17000]) {
    const r = split(at);
    sawNonRoot ||= r.nonRoot;
    sawRoot ||= !r.nonRoot;
    assert.equal(r.output, GOLDEN, `split at ${at}`);
  }
  assert.ok(sawNonRoot && sawRoot, "split points cover root and non-root operation");
});

Deno.test("snapshot: without the vmx part the restored CPU is out of VMX operation", () => {
  const r = split(14000, true);
  assert.notEqual(r.output, GOLDEN);
  const m = machine();
  m.cpu.restore({ ...m.cpu.snapshot(), parts: {} });
  assert.equal(vmxState(m.cpu).operation, false);
});
