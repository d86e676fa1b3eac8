/**
 * VMX guests (tests/guests/vmx/*.bin): hypervisors that run on the minimal machine with a CPU
 * model reporting VMX (qemu32,+vmx). QEMU's TCG has no VMX, so their expected output
 * (tests/golden/vmx/<name>.txt and .exit) is derived from the Intel SDM and committed by hand.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../../support/tools.ts";
import { createMinimalMachine } from "../../../lib/virt/machine/minimal.ts";
import { enterMultiboot, loadMultiboot } from "../../../lib/virt/machine/multiboot.ts";
import { MODELS, withFeatures } from "../../../lib/cpu/models.ts";

const GUESTS = join(PROJECT, "tests", "guests", "vmx");
const GOLDEN = join(PROJECT, "tests", "golden", "vmx");

function run(image: Uint8Array): { serial: string; exit: string } {
  const { bus, cpu, serial } = createMinimalMachine();
  cpu.model = withFeatures(MODELS.qemu32, { vmx: true });
  const boot = loadMultiboot(bus, image, {});
  enterMultiboot(cpu, boot);
  let exit = "timeout";
  while (cpu.instructions < 50_000_000) {
    const why = cpu.run(1_000_000);
    if (bus.shutdownStatus !== undefined) {
      exit = String(bus.shutdownStatus);
      break;
    }
    if (bus.resetRequested) {
      exit = "reset";
      break;
    }
    if (why === "hlt") {
      exit = "hlt";
      break;
    }
  }
  return { serial: new TextDecoder().decode(new Uint8Array(serial.chunks)), exit };
}

for (const e of [...Deno.readDirSync(GUESTS)].filter((e) => e.name.endsWith(".bin"))) {
  const name = e.name.slice(0, -4);
  Deno.test(`vmx guest ${name} prints what the SDM says`, () => {
    const r = run(Deno.readFileSync(join(GUESTS, e.name)));
    assert.equal(r.serial, Deno.readTextFileSync(join(GOLDEN, name + ".txt")));
    assert.equal(r.exit, Deno.readTextFileSync(join(GOLDEN, name + ".exit")).trim());
  });
}
