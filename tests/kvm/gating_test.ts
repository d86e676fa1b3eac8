/**
 * /dev/kvm gating through kvm-ctl: ENOENT without the modules; /dev/kvm fds and VMs hold
 * kvm_intel (lsmod counts them, rmmod refuses) until closed or their process dies; parameters
 * shape new VMs; statistics reach debugfs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Kvm, MSR } from "../../lib/virt/kvm/mod.ts";
import { errnoOf, kctl, rootWith } from "./support/setup.ts";

async function used(root: string, module: string): Promise<number> {
  const out = (await kctl(root, ["lsmod"])).stdout;
  const m = out.match(new RegExp(`^${module}\\s+\\d+\\s+(\\d+)`, "m"));
  assert.ok(m, out);
  return Number(m[1]);
}

Deno.test("open is ENOENT until kvm and kvm_intel are loaded", async () => {
  const root = await rootWith();
  assert.equal(errnoOf(() => Kvm.open({ root })), "ENOENT");
  await kctl(root, ["modprobe", "kvm"]);
  assert.equal(errnoOf(() => Kvm.open({ root })), "ENOENT");
  await kctl(root, ["modprobe", "kvm_intel"]);
  Kvm.open({ root }).close();
});

Deno.test("the /dev/kvm fd and each VM hold kvm_intel; rmmod is refused until both are closed", async () => {
  const root = await rootWith(["kvm_intel"]);
  const kvm = Kvm.open({ root });
  assert.equal(await used(root, "kvm_intel"), 1);
  const vm = kvm.createVm();
  assert.equal(await used(root, "kvm_intel"), 2);
  let r = await kctl(root, ["rmmod", "kvm_intel"]);
  assert.deepEqual([r.code, r.stderr], [1, "rmmod: ERROR: Module kvm_intel is in use\n"]);
  kvm.close();
  assert.equal(await used(root, "kvm_intel"), 1, "the VM keeps its reference");
  vm.createVcpu(0).run();
  // Statistics are published while the VM lives (and vanish with it, as debugfs sums live VMs).
  const stat = () => Deno.readTextFileSync(join(root, "sys/kernel/debug/kvm/insn_emulation_fail")).trim();
  assert.equal(stat(), "1");
  vm.close();
  assert.equal(await used(root, "kvm_intel"), 0);
  assert.equal(stat(), "0");
  r = await kctl(root, ["rmmod", "kvm_intel"]);
  assert.equal(r.code, 0, r.stderr);
});

Deno.test("lsmod while a VM with a vCPU runs shows Linux 6.1's counts: kvm_intel 2, kvm 1, irqbypass 1", async () => {
  // qemu-system keeps /dev/kvm open (a reference on kvm_chardev_ops.owner, the vendor module) and
  // the VM's struct kvm takes one more (kvm_create_vm's try_module_get); since Linux 5.18 the VM
  // and vCPU fds take none. kvm and irqbypass are used only by the modules that link against them.
  const root = await rootWith(["kvm_intel"]);
  const kvm = Kvm.open({ root });
  const vm = kvm.createVm();
  vm.createVcpu(0);
  try {
    const lsmod = (await kctl(root, ["lsmod"])).stdout;
    assert.equal(
      lsmod,
      "Module                  Size  Used by\n" +
        "kvm_intel             487424  2\n" +
        "kvm                  1409024  1 kvm_intel\n" +
        "irqbypass              12288  1 kvm\n",
    );
    assert.equal(Deno.readTextFileSync(join(root, "sys/module/kvm/refcnt")), "1\n");
    assert.equal(Deno.readTextFileSync(join(root, "sys/module/kvm_intel/refcnt")), "2\n");
  } finally {
    vm.close();
    kvm.close();
  }
  assert.equal(await used(root, "kvm_intel"), 0);
});

Deno.test("a killed VM process releases its references", async () => {
  const root = await rootWith(["kvm_intel"]);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run=sh",
      join(import.meta.dirname!, "support/hold_vm.ts"),
      root,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.equal(first, "open\n");
  assert.equal(await used(root, "kvm_intel"), 1);
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
  await child.stdin.close().catch(() => {});
  assert.equal(await used(root, "kvm_intel"), 0);
});

Deno.test("nested=0 hides VMX; unrestricted_guest=0 makes SET_TSS_ADDR reserve its pages; ept=0 is shadow paging", async () => {
  const root = await rootWith(["kvm_intel", "nested=0", "unrestricted_guest=0", "ept=0"]);
  using kvm = Kvm.open({ root });
  assert.equal(kvm.checkExtension(157), 0, "KVM_CAP_NESTED_STATE");
  assert.equal(kvm.getSupportedCpuid(256).find((e) => e.function === 1)!.ecx & (1 << 5), 0);
  assert.ok(!kvm.getMsrIndexList({ nmsrs: 256 }).includes(0x480));
  using vm = kvm.createVm();
  assert.deepEqual([vm.params.nested, vm.params.ept, vm.params.unrestrictedGuest], [false, false, false]);
  assert.equal(vm.createVcpu(0).getMsrs([{ index: 0x480, data: 0n }]), 0);
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guest_phys_addr: 0xfffbc000,
    memory_size: 0x1000,
    userspace_addr: new ArrayBuffer(0x1000),
  });
  assert.equal(errnoOf(() => vm.setTssAddr(0xfffbb000)), "EEXIST");
  vm.setTssAddr(0xfffbd000);
  assert.equal(vm.tssAddr, 0xfffbd000);
  assert.ok(vm.createVcpu(1).getMsrs([{ index: MSR.EFER, data: 0n }]) === 1);
});
