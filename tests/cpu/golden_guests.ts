/**
 * Registers one test per guest under tests/guests/{demo,cpu,fpu,diff}/ that has a golden recorded
 * from the real qemu-system-i386 (tests/golden/<dir>/<name>.txt and .exit, scripts/record_goldens.ts):
 * the guest runs on the minimal machine and its serial output and exit status must equal QEMU's.
 * Shared by guests_test.ts (the CPU as it runs by default) and jit_guests_test.ts (other CPU modes).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { type MinimalOptions, runMinimal } from "../../lib/virt/machine/minimal.ts";
import { directive } from "../../scripts/record_goldens.ts";

const DIRS = ["demo", "cpu", "fpu", "diff"];

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** One Deno.test per guest with a golden; `mode` is appended to the test names. */
export function goldenGuestTests(mode = "", options: MinimalOptions = {}): void {
  for (const dir of DIRS) {
    const guests = join(PROJECT, "tests", "guests", dir);
    if (!exists(guests)) continue;
    const names = [...Deno.readDirSync(guests)].filter((e) => e.isFile && e.name.endsWith(".bin"))
      .map((e) => e.name.slice(0, -4)).sort();
    for (const name of names) {
      const golden = join(PROJECT, "tests", "golden", dir, name);
      if (!exists(golden + ".txt") || !exists(golden + ".exit")) continue;
      Deno.test(`guest ${dir}/${name} matches qemu-system-i386${mode}`, () => {
        // Where our FPU deliberately follows the SDM and QEMU does not, the FPU area commits what we
        // print as <name>.sdm.txt (its own test checks the differing lines); compare against that.
        const expectedText = Deno.readTextFileSync(
          exists(golden + ".sdm.txt") ? golden + ".sdm.txt" : golden + ".txt",
        );
        const expectedExit = Deno.readTextFileSync(golden + ".exit").trim();
        // A guest recorded with `; qemu: -cpu MODEL` runs on that model here too.
        const source = join(guests, name + ".asm");
        const qemuArgs = exists(source) ? directive(source, "qemu")?.split(/\s+/) ?? [] : [];
        const cpuModel = qemuArgs.includes("-cpu") ? qemuArgs[qemuArgs.indexOf("-cpu") + 1] : undefined;
        const r = runMinimal(Deno.readFileSync(join(guests, name + ".bin")), {
          maxInstructions: 500_000_000,
          cpuModel,
          ...options,
        });
        assert.equal(new TextDecoder().decode(r.serial), expectedText);
        assert.equal(String(r.exitStatus ?? (r.reason === "budget" ? "timeout" : r.reason)), expectedExit);
      });
    }
  }
}
