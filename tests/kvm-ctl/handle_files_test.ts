/**
 * What a /dev/kvm handle keeps outside the state transaction: its holder lock, by which any
 * process (kvm-ctl with no permission to run programs too) tells a live holder from a dead one,
 * and its VM's statistics, which it publishes without touching state.json while `kvm-ctl stat`
 * and the debugfs files show them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DevKvm } from "../../lib/virt/modules/mod.ts";
import { PROJECT } from "../support/tools.ts";
import { kctl, read, tempRoot } from "./support/helpers.ts";

/** kvm-ctl as its task runs it, less --allow-run: it may spawn nothing. */
async function kvmCtlNoRun(root: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-write", "--allow-env", join(PROJECT, "cli/kvm-ctl.ts")]
      .concat(["--root", root, ...args]),
    stdin: "null",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("a holder killed without closing is seen dead by a kvm-ctl that may run no program", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel"]);
  // The holder itself may not run anything either, as qemu-system's task.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-write", "--allow-env"]
      .concat([join(PROJECT, "tests/kvm-ctl/support/hold_dev_kvm.ts"), root]),
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assert.match(new TextDecoder().decode(value), /^open kvm_intel /);
  assert.match(await kvmCtlNoRun(root, ["lsmod"]), /^kvm_intel +487424 {2}1\n/m);
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
  await child.stdin.close().catch(() => {});
  assert.match(await kvmCtlNoRun(root, ["lsmod"]), /^kvm_intel +487424 {2}0\n/m);
  assert.match(await kvmCtlNoRun(root, ["rmmod", "kvm_intel"]), /^$/);
  assert.deepEqual([...Deno.readDirSync(join(root, "run/kvm"))], [], "the dead handle's files are gone");
});

Deno.test("statistics are published without a state transaction, and kvm-ctl stat sees them", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel"]);
  const kvm = DevKvm.open({ root });
  try {
    const state = Deno.statSync(join(root, "state.json"));
    kvm.updateStats({ stats: { exits: 5, io_exits: 2 }, exitReasons: { IO_INSTRUCTION: 2 }, vcpus: 1 });
    kvm.updateStats({ stats: { exits: 9, io_exits: 4 }, exitReasons: { IO_INSTRUCTION: 4, HLT: 5 } });
    const after = Deno.statSync(join(root, "state.json"));
    assert.deepEqual([after.ino, after.mtime], [state.ino, state.mtime], "state.json untouched");
    assert.equal(read(root, `sys/kernel/debug/kvm/${Deno.pid}-1/exits`), "9\n");
    assert.equal(read(root, "sys/kernel/debug/kvm/io_exits"), "4\n");
    const r = await kctl(root, ["stat", "-f", "^io_exits|kvm_exit"]);
    assert.equal(
      r.stdout,
      "VMs: 1  vCPUs: 1\n\n" + " Event".padEnd(42) + "Total".padStart(10) + "\n" +
        " io_exits".padEnd(42) + "4".padStart(10) + "\n" +
        " kvm_exit(HLT)".padEnd(42) + "5".padStart(10) + "\n" +
        " kvm_exit(IO_INSTRUCTION)".padEnd(42) + "4".padStart(10) + "\n",
    );
    // A transaction while the VM runs (a parameter write) keeps the published figures.
    await kctl(root, ["param", "kvm", "halt_poll_ns", "0"]);
    assert.equal(read(root, `sys/kernel/debug/kvm/${Deno.pid}-1/exits`), "9\n");
    // A second VM: each keeps its own figures, the totals sum both.
    const other = DevKvm.open({ root });
    try {
      other.updateStats({ stats: { exits: 1, io_exits: 1 } });
      assert.equal(read(root, "sys/kernel/debug/kvm/io_exits"), "5\n");
      assert.equal(read(root, `sys/kernel/debug/kvm/${Deno.pid}-2/io_exits`), "1\n");
      assert.match((await kctl(root, ["stat"])).stdout, /^VMs: 2 {2}vCPUs: 1\n/);
    } finally {
      other.close();
    }
    assert.equal(read(root, "sys/kernel/debug/kvm/io_exits"), "4\n");
  } finally {
    kvm.close();
  }
  assert.equal(read(root, "sys/kernel/debug/kvm/exits"), "0\n");
  assert.deepEqual([...Deno.readDirSync(join(root, "run/kvm"))], []);
});

Deno.test("kvm-ctl reset under an open handle: its statistics go nowhere, and close still works", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel"]);
  const kvm = DevKvm.open({ root });
  try {
    assert.equal((await kctl(root, ["reset"])).code, 0);
    kvm.updateStats({ stats: { exits: 3 } });
    assert.throws(() => Deno.statSync(join(root, "run/kvm")), Deno.errors.NotFound);
  } finally {
    kvm.close();
  }
  assert.doesNotMatch(read(root, "proc/modules"), /kvm/);
});
