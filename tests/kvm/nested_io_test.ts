/**
 * The nested I/O benchmark guest (tests/guests/bench/nested_io.asm, timed by bench/kvm_bench.ts)
 * runs to its end on bare VMX (tcg) and as L1 under -accel kvm with kvm_intel nested=1: L1 handles
 * every one of its L2's 20,000 OUT exits and counts them. With nested=0 the guest finds no VMX.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { HEADLESS_DEBUG_EXIT, PROJECT, runCli } from "../support/tools.ts";
import { rootWith } from "./support/setup.ts";

const ARGS = [...HEADLESS_DEBUG_EXIT, "-cpu", "qemu32,+vmx", "-kernel"];
const GUEST = join(PROJECT, "tests", "guests", "bench", "nested_io.bin");
// 20,000 = 0x4e20 exits; the guest's main returns, so isa-debug-exit gets 0: status (0 << 1) | 1.
const DONE = "bench nested io: l2 exits 00004e20\nbench nested io: done\n";

Deno.test("nested I/O guest on tcg (bare VMX): L1 handles all 20,000 of L2's OUT exits", async () => {
  const r = await runCli("qemu-system", [...ARGS, GUEST]);
  assert.deepEqual([r.stdout, r.code], [DONE, 1], r.stderr);
});

Deno.test("nested I/O guest under -accel kvm, kvm_intel nested=1: the same output as on tcg", async () => {
  const root = await rootWith(["kvm_intel", "nested=1"]);
  const r = await runCli("qemu-system", ["-accel", "kvm", ...ARGS, GUEST], { env: { KVM_CTL_ROOT: root } });
  assert.deepEqual([r.stdout, r.code], [DONE, 1], r.stderr);
  await Deno.remove(root, { recursive: true });
});

Deno.test("nested I/O guest under -accel kvm, kvm_intel nested=0: no VMX, status 1 from the guest", async () => {
  const root = await rootWith(["kvm_intel", "nested=0"]);
  const r = await runCli("qemu-system", ["-accel", "kvm", ...ARGS, GUEST], { env: { KVM_CTL_ROOT: root } });
  assert.deepEqual([r.stdout, r.code], ["bench nested io: no VMX\n", 3], r.stderr);
  await Deno.remove(root, { recursive: true });
});
