/**
 * Nested VMX with the PC board's events (issue 6, part 4): the hypervisor guest
 * tests/guests/vmx/pc/events.asm takes PIT interrupts while its L2 runs (external-interrupt
 * exiting with and without "acknowledge interrupt on exit", delivery through L2's IDT, interrupt-
 * window exiting), gives L2 the IOAPIC's MMIO through its EPT, takes local-APIC NMIs (NMI exiting,
 * then L2's IDT), uses the VM-entry/VM-exit MSR lists and ends in a VMX abort. Under qemu-system
 * it must print the SDM-derived golden both on tcg (bare VMX in lib/cpu) and under -accel kvm with
 * kvm_intel nested=1 (L0 in lib/virt/kvm/nested), with the interrupt controllers in user space
 * (KVM_INTERRUPT, KVM_NMI) and in the kernel (kernel-irqchip=on).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { HEADLESS_DEBUG_EXIT, PROJECT, runCli } from "../support/tools.ts";
import { rootWith } from "../kvm/support/setup.ts";

const GUEST = join(PROJECT, "tests", "guests", "vmx", "pc", "events.bin");
const GOLDEN = Deno.readTextFileSync(join(PROJECT, "tests", "golden", "vmx", "pc", "events.txt"));
// The VMX abort resets the board; -no-reboot makes that the end of the run (status 0, as QEMU).
const ARGS = ["-no-reboot", ...HEADLESS_DEBUG_EXIT, "-cpu", "qemu32,+vmx", "-kernel", GUEST];

Deno.test("pc events guest on tcg (bare VMX) prints the SDM-derived golden", async () => {
  const r = await runCli("qemu-system", ARGS);
  assert.equal(r.stdout, GOLDEN, r.stderr);
  assert.equal(r.code, 0, r.stderr);
});

// ept=0: L0 shadows L1's paging; L2 still runs under EPT.
for (const [irqchip, ept] of [["off", "ept=1"], ["on", "ept=1"], ["off", "ept=0"]]) {
  Deno.test(`pc events guest under kvm (kernel-irqchip=${irqchip}), kvm_intel nested=1 ${ept}, prints the tcg golden`, async () => {
    const root = await rootWith(["kvm_intel", "nested=1", ept]);
    const accel = ["-accel", `kvm,kernel-irqchip=${irqchip}`];
    const r = await runCli("qemu-system", [...accel, ...ARGS], { env: { KVM_CTL_ROOT: root } });
    assert.equal(r.stdout, GOLDEN, r.stderr);
    assert.equal(r.code, 0, r.stderr);
    await Deno.remove(root, { recursive: true });
  });
}
