/**
 * The nested I/O benchmark guest (tests/guests/bench/nested_io.asm, timed by bench/kvm_bench.ts)
 * runs to its end on bare VMX (tcg) and as L1 under -accel kvm with kvm_intel nested=1: L1 handles
 * every one of its L2's 20,000 OUT exits and counts them. With nested=0 the guest finds no VMX.
 * Under nested kvm, L0's exit counts by reason (kvm_stat's kvm_exit events) show what each L2 exit
 * costs it: the reflected exit and L1's VMX instructions, as bench/kvm_bench.ts reports them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BufferBackend } from "../../lib/devices/chardev.ts";
import { KvmCpu, openKvm } from "../../lib/virt/accel/kvm.ts";
import { loadKernel } from "../../lib/virt/machine/kernel_loader.ts";
import { Pc } from "../../lib/virt/machine/pc.ts";
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

/** Runs the guest as qemu-system -accel kvm would, with kvm_intel's parameters; L0's exit counts. */
async function l0Exits(params: string[]) {
  const root = await rootWith(["kvm_intel", "nested=1", ...params]);
  Deno.env.set("KVM_CTL_ROOT", root);
  // The PC board and KVM vCPU as qemu-system builds them for -accel kvm,kernel-irqchip=off.
  const serial = new BufferBackend();
  const pc = new Pc({ ramSize: 128 << 20, serial: [serial], isaDebugExit: [{ iobase: 0xf4, iosize: 4 }] });
  const kvm = openKvm({ hostClock: pc.clock.nowNs });
  const cpu = new KvmCpu(pc.bus, kvm, { cpuModel: "qemu32", cpuFeatures: [{ name: "vmx", enabled: true }] });
  try {
    pc.vcpu = cpu;
    const image = Deno.readFileSync(GUEST);
    const boot = loadKernel(pc, cpu, image, { kernelPath: GUEST, cmdline: "", initrds: [] });
    pc.onBoot = () => {
      pc.programLikeFirmware();
      boot();
    };
    pc.reset();
    assert.deepEqual(await pc.run(), { kind: "shutdown", status: 1, reason: "debug-exit" });
    assert.equal(new TextDecoder().decode(new Uint8Array(serial.chunks)), DONE);
    const exits = cpu.vcpu.stats.exitReasons;
    // L1's own I/O (its COM1 output) exits too; L2's 20,000 OUTs all do.
    assert.ok(exits.IO_INSTRUCTION >= 20_000, `${exits.IO_INSTRUCTION}`);
    assert.equal(exits.VMRESUME, 20_000);
    assert.equal(exits.VMLAUNCH, 1);
    // Linux's nested_run: every VMLAUNCH/VMRESUME that entered L2; guest_mode is 0 once L1 has left it.
    assert.equal(cpu.vcpu.stats.counters.nested_run, 20_001);
    assert.equal(cpu.vcpu.stats.counters.guest_mode, 0);
    return { vmread: exits.VMREAD ?? 0, vmwrite: exits.VMWRITE ?? 0 };
  } finally {
    cpu.close();
    kvm.close();
    Deno.env.delete("KVM_CTL_ROOT");
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("nested I/O guest under kvm, enable_shadow_vmcs=0: L0 takes 7 exits per L2 OUT (the reflected one, 4 VMREADs, a VMWRITE, a VMRESUME)", async () => {
  const { vmread, vmwrite } = await l0Exits(["enable_shadow_vmcs=0"]);
  assert.equal(vmread, 4 * 20_000 + 1, "4 an OUT, and the exit reason of the final VMCALL");
  // One an OUT (L2's RIP), and the VMCS set-up's few dozen before the VMLAUNCH.
  assert.ok(vmwrite > 20_000 && vmwrite < 20_100, `${vmwrite}`);
});

Deno.test("nested I/O guest under kvm, enable_shadow_vmcs=1 (default): L0 takes 2 exits per L2 OUT (the reflected one, the VMRESUME)", async () => {
  const { vmread, vmwrite } = await l0Exits([]);
  // Exit reason, qualification, instruction length and RIP are all shadowed (VMREAD without an
  // exit), and so is the VMWRITE of RIP; only set-up VMWRITEs of unshadowed fields still exit.
  assert.equal(vmread, 0);
  assert.ok(vmwrite < 100, `${vmwrite}`);
});
