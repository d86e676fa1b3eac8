/**
 * MTRRs and PAT across a machine reset under -enable-kvm: QEMU puts them back into KVM at reset
 * (kvm_put_msrs at KVM_PUT_RESET_STATE: PAT, and the MTRRs when the guest's CPUID has MTRR), so the
 * pc/mtrr_reset guest reads their reset values after an i8042 reset, as under tcg.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { HEADLESS_DEBUG_EXIT, PROJECT } from "../support/tools.ts";
import { rootWith } from "./support/setup.ts";

const root = await rootWith(["kvm_intel"]);
const decoder = new TextDecoder();

async function qemu(kvm: boolean) {
  const task: string = JSON.parse(Deno.readTextFileSync(join(PROJECT, "deno.json"))).tasks["qemu-system"];
  const words = task.split(/\s+/).slice(2).map((w) => (w.startsWith("cli/") ? join(PROJECT, w) : w));
  const guest = join(PROJECT, "tests", "guests", "pc", "mtrr_reset.bin");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...words,
      ...(kvm ? ["-enable-kvm"] : []),
      ...HEADLESS_DEBUG_EXIT,
      "-cpu",
      "pentium3",
      "-kernel",
      guest,
    ],
    env: { KVM_CTL_ROOT: root },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("-enable-kvm: MTRRs and PAT are at their reset values after a machine reset, as under tcg", async () => {
  const tcg = await qemu(false);
  assert.equal(tcg.code, 1, tcg.stderr);
  const second = tcg.stdout.slice(tcg.stdout.indexOf("second boot:"));
  assert.equal(
    second,
    [
      "second boot:",
      "000002ff: 00000000 00000000",
      "00000250: 00000000 00000000",
      "00000200: 00000000 00000000",
      "00000201: 00000000 00000000",
      "00000277: 00070406 00070406",
      "",
    ].join("\n"),
  );
  assert.match(tcg.stdout, /first boot:\n000002ff: 00000000 00000c06\n/);
  assert.deepEqual(await qemu(true), tcg);
});
