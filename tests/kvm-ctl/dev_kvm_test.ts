/**
 * The /dev/kvm handle API for qemu-system -accel kvm: ENOENT without the modules, references
 * held while open (lsmod, rmmod, modprobe -r see them), parameters, statistics, and a killed
 * holder's references released.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ErrnoError } from "../../lib/errors.ts";
import { DevKvm } from "../../lib/virt/modules/mod.ts";
import { PROJECT } from "../support/tools.ts";
import { kctl, read, tempRoot } from "./support/helpers.ts";

function openError(root: string): string | undefined {
  try {
    DevKvm.open({ root }).close();
    return undefined;
  } catch (e) {
    return e instanceof ErrnoError ? e.code : String(e);
  }
}

Deno.test("open fails with ENOENT unless kvm and a vendor module are loaded", async () => {
  const root = await tempRoot();
  assert.equal(openError(root), "ENOENT");
  await kctl(root, ["modprobe", "kvm"]);
  assert.equal(openError(root), "ENOENT");
  assert.throws(() => Deno.statSync(`${root}/dev/kvm`));
  await kctl(root, ["modprobe", "kvm_intel"]);
  assert.ok(Deno.statSync(`${root}/dev/kvm`).isFile);
  assert.equal(openError(root), undefined);
});

Deno.test("an open handle holds kvm_intel; parameters and statistics flow through it", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel", "nested=0"]);
  const kvm = DevKvm.open({ root });
  try {
    assert.equal(kvm.vendor, "kvm_intel");
    assert.equal(kvm.param("vendor", "nested"), "N");
    assert.equal(kvm.paramNumber("kvm_intel", "ept"), 1);
    assert.equal(kvm.paramNumber("kvm", "halt_poll_ns"), 200000);
    assert.equal(kvm.params().kvm.ignore_msrs, "N");
    await kctl(root, ["param", "kvm", "ignore_msrs", "Y"]);
    assert.equal(kvm.param("kvm", "ignore_msrs"), "Y");
    assert.throws(() => kvm.param("kvm", "nosuch"), ErrnoError);

    let r = await kctl(root, ["lsmod"]);
    // Linux pins the vendor module (kvm_chardev_ops.owner) only: kvm is used by kvm_intel alone.
    assert.match(r.stdout, /^kvm_intel +487424 {2}1\nkvm +1409024 {2}1 kvm_intel\n/m);
    assert.equal(read(root, "sys/module/kvm_intel/refcnt"), "1\n");
    r = await kctl(root, ["rmmod", "kvm_intel"]);
    assert.deepEqual([r.code, r.stderr], [1, "rmmod: ERROR: Module kvm_intel is in use\n"]);
    r = await kctl(root, ["modprobe", "-r", "kvm_intel"]);
    assert.deepEqual([r.code, r.stderr], [1, "modprobe: FATAL: Module kvm_intel is in use.\n"]);
    r = await kctl(root, ["modprobe", "-r", "-w", "50", "kvm_intel"]);
    assert.deepEqual([r.code, r.stderr], [
      1,
      "modprobe: ERROR: could not remove 'kvm_intel': Resource temporarily unavailable\n",
    ]);

    kvm.updateStats({
      stats: { exits: 100, io_exits: 40, halt_exits: 10 },
      exitReasons: { IO_INSTRUCTION: 40, HLT: 10, EPT_VIOLATION: 50 },
      vcpus: 2,
    });
    assert.throws(() => kvm.updateStats({ stats: { bogus: 1 } as never }), ErrnoError);
    assert.equal(read(root, "sys/kernel/debug/kvm/exits"), "100\n");
    assert.equal(read(root, `sys/kernel/debug/kvm/${Deno.pid}-1/io_exits`), "40\n");
    r = await kctl(root, ["stat"]);
    assert.match(r.stdout, /^VMs: 1 {2}vCPUs: 2\n/);
    assert.match(r.stdout, /^ exits +100$/m);
    assert.match(r.stdout, /^ kvm_exit\(HLT\) +10$/m);
    r = await kctl(root, ["stat", "-1", "-f", "exits|kvm_exit"]);
    assert.equal(
      r.stdout,
      "exits".padEnd(42) + "       100         0\n" +
        "halt_exits".padEnd(42) + "        10         0\n" +
        "io_exits".padEnd(42) + "        40         0\n" +
        "irq_exits".padEnd(42) + "         0         0\n" +
        "irq_window_exits".padEnd(42) + "         0         0\n" +
        "kvm_exit(EPT_VIOLATION)".padEnd(42) + "        50         0\n" +
        "kvm_exit(HLT)".padEnd(42) + "        10         0\n" +
        "kvm_exit(IO_INSTRUCTION)".padEnd(42) + "        40         0\n" +
        "mmio_exits".padEnd(42) + "         0         0\n" +
        "nmi_window_exits".padEnd(42) + "         0         0\n" +
        "request_irq_exits".padEnd(42) + "         0         0\n" +
        "signal_exits".padEnd(42) + "         0         0\n",
    );
    r = await kctl(root, ["caps"]);
    assert.match(r.stdout, /^KVM_CAP_NESTED_STATE +157 {2}0$/m);
  } finally {
    kvm.close();
  }
  kvm.close();
  assert.equal(read(root, "sys/module/kvm_intel/refcnt"), "0\n");
  assert.throws(() => Deno.statSync(`${root}/sys/kernel/debug/kvm/${Deno.pid}-1`));
  assert.equal(read(root, "sys/kernel/debug/kvm/exits"), "0\n");
  const r = await kctl(root, ["modprobe", "-r", "kvm_intel"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
});

Deno.test("modprobe -r -w waits for the last user to close", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel"]);
  const kvm = DevKvm.open({ root });
  const timer = setTimeout(() => kvm.close(), 300);
  const r = await kctl(root, ["modprobe", "-r", "-w", "20000", "kvm_intel"]);
  clearTimeout(timer);
  kvm.close();
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  assert.doesNotMatch(read(root, "proc/modules"), /kvm_intel/);
});

Deno.test("a holder killed without closing does not leak its references", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel"]);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run=sh",
      join(PROJECT, "tests/kvm-ctl/support/hold_dev_kvm.ts"),
      root,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assert.match(new TextDecoder().decode(value), /^open kvm_intel nested=Y halt_poll_ns=200000\n/);
  let r = await kctl(root, ["lsmod"]);
  assert.match(r.stdout, /^kvm_intel +487424 {2}1\n/m);
  assert.match((await kctl(root, ["stat", "-p", String(child.pid)])).stdout, /^ io_exits +7$/m);
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
  await child.stdin.close().catch(() => {});
  r = await kctl(root, ["lsmod"]);
  assert.match(r.stdout, /^kvm_intel +487424 {2}0\n/m);
  r = await kctl(root, ["rmmod", "kvm_intel"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  assert.doesNotMatch(JSON.stringify(JSON.parse(read(root, "state.json")).handles), /pid/);
});

Deno.test("a holder that closes stdin releases its handle cleanly", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel"]);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run=sh",
      join(PROJECT, "tests/kvm-ctl/support/hold_dev_kvm.ts"),
      root,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  await child.stdin.close();
  const out = await child.output();
  assert.match(new TextDecoder().decode(out.stdout), /^open kvm_intel .*\nclosed\n$/);
  assert.equal(read(root, "sys/module/kvm_intel/refcnt"), "0\n");
});
