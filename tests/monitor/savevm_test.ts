/**
 * savevm/loadvm proof: the count_print guest prints "count N" lines; savevm in the middle, let it
 * go on, loadvm, and the output must continue exactly from the saved point (the lines before the
 * save followed by the lines after the load form one unbroken sequence), in the same process and
 * in a new qemu-system process started with -loadvm. The image stays valid for the real qemu-img
 * (snapshot -l columns, check). A state of another version is refused and changes nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createImage, openImage } from "../../lib/image/formats.ts";
import type { Qcow2Driver } from "../../lib/image/qcow2/driver.ts";
import { createVmSnapshot, readSnapshotVmState, writeVmState } from "../../lib/image/qcow2/vmstate.ts";
import { VMSTATE_VERSION } from "../../lib/virt/snapshot/stream.ts";
import { PROJECT } from "../support/tools.ts";
import { COUNT_PRINT_GUEST, startVm, type TestVm } from "./vm.ts";

const text = (vm: TestVm) => new TextDecoder().decode(new Uint8Array(vm.serial.chunks));

/** The guest's whole output up to line `n`: "count guest" then "count 00000000", ... */
function expected(lines: number): string {
  let s = "count guest\n";
  for (let i = 0; i < lines; i++) s += `count ${i.toString(16).padStart(8, "0")}\n`;
  return s;
}

/** Checks that `out` is a prefix of the guest's one true sequence (a partial last line is fine). */
function assertSequence(out: string, what: string): void {
  const lines = out.split("\n").length;
  const want = expected(lines);
  assert.ok(want.startsWith(out), `${what} is not the guest's unbroken sequence:\n${out.slice(-200)}`);
}

async function until(cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const lineCount = (vm: TestVm) => vm.serial.chunks.filter((b) => b === 10).length;

async function vmWithDisk(image: string): Promise<TestVm> {
  const driver = openImage(image, { format: "qcow2" });
  return await startVm({}, (pc) => pc.attachIde(0, "disk", driver), true, COUNT_PRINT_GUEST);
}

function hasPeer(name: string): boolean {
  try {
    new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync();
    return true;
  } catch {
    return false;
  }
}

Deno.test("savevm, go on, loadvm: the guest's output continues exactly from the saved point", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "savevm-" });
  const image = join(dir, "disk.qcow2");
  createImage(image, "qcow2", { size: 64 << 20 });
  const vm = await vmWithDisk(image);
  try {
    const hmp = vm.monitors.hmp;
    await until(() => lineCount(vm) >= 30);
    assert.equal(hmp.execute("savevm s1"), "");
    const atSave = text(vm);
    await until(() => lineCount(vm) >= atSave.split("\n").length + 30);
    const before = vm.serial.chunks.length;
    assert.equal(hmp.execute("loadvm s1"), "");
    await until(() => vm.serial.chunks.slice(before).filter((b) => b === 10).length >= 20);
    const afterLoad = new TextDecoder().decode(new Uint8Array(vm.serial.chunks.slice(before)));
    assertSequence(atSave + afterLoad, "output before savevm + output after loadvm");
    assert.ok(afterLoad.length > 0);
    // And the listing QEMU prints.
    const info = hmp.execute("info snapshots");
    assert.match(
      info,
      /^List of snapshots present on all disks:\nID {8}TAG {15}VM SIZE {16}DATE {5}VM CLOCK {5}ICOUNT\n-- {8}s1 {15}[ \d.]+ [KM]iB \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d\d:\d\d:\d\d\.\d{3} {11}\n$/,
    );
    assert.equal(
      hmp.execute("loadvm nope"),
      "Error: Snapshot 'nope' does not exist in one or more devices\n",
    );
    assert.equal(vm.monitors.target.runState, "restore-vm");
    assert.equal(hmp.execute("cont"), "");
    assert.equal(hmp.execute("delvm nope"), "");
    assert.equal(hmp.execute("loadvm"), 'loadvm: string expected\nTry "help loadvm" for more information\n');
  } finally {
    await vm.shutdown();
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("savevm without a disk that can hold it: QEMU's errors", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "savevm-" });
  const raw = join(dir, "disk.raw");
  createImage(raw, "raw", { size: 1 << 20 });
  const none = await startVm({}, undefined, true, COUNT_PRINT_GUEST);
  try {
    const hmp = none.monitors.hmp;
    assert.equal(hmp.execute("savevm s1"), "Error: no block device can store vmstate for snapshot\n");
    assert.equal(hmp.execute("info snapshots"), "no block device can store vmstate for snapshot\n");
    assert.equal(hmp.execute("delvm s1"), "");
    assert.equal(hmp.execute("loadvm s1"), "Error: no block device can store vmstate for snapshot\n");
  } finally {
    await none.shutdown();
  }
  const driver = openImage(raw, { format: "raw" });
  const withRaw = await startVm({}, (pc) => pc.attachIde(0, "disk", driver), true, COUNT_PRINT_GUEST);
  try {
    const msg = "Error: Device 'ide0-hd0' is writable but does not support snapshots\n";
    assert.equal(withRaw.monitors.hmp.execute("savevm s1"), msg);
    assert.equal(withRaw.monitors.hmp.execute("loadvm s1"), msg);
    assert.equal(withRaw.monitors.hmp.execute("delvm s1"), msg);
  } finally {
    await withRaw.shutdown();
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("loadvm refuses a state of another version and changes nothing", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "savevm-" });
  const image = join(dir, "disk.qcow2");
  createImage(image, "qcow2", { size: 16 << 20 });
  const vm = await vmWithDisk(image);
  try {
    const hmp = vm.monitors.hmp;
    await until(() => lineCount(vm) >= 10);
    assert.equal(hmp.execute("savevm good"), "");
    // A state from a future build: the good one with its version field changed.
    const d = vm.pc.ide.channels[0].drives[0]!.driver as Qcow2Driver;
    const sn = d.snapshotList.find((s) => s.name === "good")!;
    const stream = new Uint8Array(sn.vmStateSize);
    readSnapshotVmState(d, sn, 0, stream);
    new DataView(stream.buffer).setUint32(8, VMSTATE_VERSION + 1);
    writeVmState(d, 0, stream);
    createVmSnapshot(d, "future", { vmStateSize: stream.length, vmClockNs: 1, dateSec: 1, dateNsec: 0 });
    // Written to the disk after the snapshot: a refused loadvm must not revert it.
    const marker = new Uint8Array(512).fill(0x5a);
    d.write(0, marker);
    await until(() => lineCount(vm) >= 20);
    hmp.execute("stop");
    const ram = vm.pc.bus.u8.slice(0, vm.pc.bus.ramSize);
    const cpu = JSON.stringify(vm.monitors.target.cpu.snapshot());
    assert.equal(
      hmp.execute("loadvm future"),
      `Error: Error -22 while loading VM state: unsupported VM state version ${
        VMSTATE_VERSION + 1
      } (this build reads version ${VMSTATE_VERSION})\n`,
    );
    assert.deepEqual(vm.pc.bus.u8.slice(0, vm.pc.bus.ramSize), ram);
    assert.equal(JSON.stringify(vm.monitors.target.cpu.snapshot()), cpu);
    const back = new Uint8Array(512);
    d.read(0, back);
    assert.deepEqual(back, marker);
    // The good one still loads.
    assert.equal(hmp.execute("loadvm good"), "");
    d.read(0, back);
    assert.deepEqual(back, new Uint8Array(512));
  } finally {
    await vm.shutdown();
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test({
  name:
    "a new qemu-system process with -loadvm continues from the saved point; real qemu-img lists and checks it",
  ignore: !hasPeer("qemu-img"),
  fn: async () => {
    const dir = Deno.makeTempDirSync({ prefix: "savevm-" });
    const image = join(dir, "disk.qcow2");
    createImage(image, "qcow2", { size: 64 << 20 });
    const vm = await vmWithDisk(image);
    let atSave: string;
    try {
      await until(() => lineCount(vm) >= 25);
      assert.equal(vm.monitors.hmp.execute("savevm s1"), "");
      atSave = text(vm);
    } finally {
      await vm.shutdown();
    }
    vm.pc.ide.channels[0].drives[0]!.driver!.close();
    const list = new Deno.Command("qemu-img", { args: ["snapshot", "-l", image] }).outputSync();
    const listing = new TextDecoder().decode(list.stdout);
    assert.match(
      listing,
      /^Snapshot list:\nID {8}TAG {15}VM SIZE {16}DATE {5}VM CLOCK {5}ICOUNT\n1 {9}s1 {15}[ \d.]+ [KM]iB \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d\d:\d\d:\d\d\.\d{3} {11}\n$/,
    );
    const check = new Deno.Command("qemu-img", { args: ["check", image] }).outputSync();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
    assert.match(new TextDecoder().decode(check.stdout), /^No errors were found on the image\./);

    const serial = join(dir, "serial.txt");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        join(PROJECT, "cli", "qemu-system.ts"),
        "-display",
        "none",
        "-m",
        "32",
        "-kernel",
        COUNT_PRINT_GUEST,
        "-drive",
        `file=${image},format=qcow2,if=ide`,
        "-serial",
        `file:${serial}`,
        "-loadvm",
        "s1",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const read = () => {
      try {
        return Deno.readTextFileSync(serial);
      } catch {
        return "";
      }
    };
    try {
      await until(() => read().split("\n").length > 20);
    } finally {
      child.kill();
      const { stderr } = await child.output();
      assert.equal(new TextDecoder().decode(stderr), "");
    }
    const after = read();
    assert.ok(!after.startsWith("count guest"), "the new process booted instead of loading the state");
    assertSequence(atSave! + after, "output before savevm + output of the -loadvm process");
    Deno.removeSync(dir, { recursive: true });
  },
});

Deno.test("a timer deadline passed but not yet fired at savevm is not lost by loadvm", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "savevm-" });
  const image = join(dir, "disk.qcow2");
  createImage(image, "qcow2", { size: 16 << 20 });
  const vm = await vmWithDisk(image);
  try {
    const hmp = vm.monitors.hmp;
    const bus = vm.pc.bus;
    assert.equal(hmp.execute("stop"), "");
    // Local APIC timer: one-shot, vector 0x40, a short count; then virtual time passes its
    // deadline without the run loop firing it (it fires timers only between CPU slices).
    bus.write32(0xfee003e0, 0xb); // divide by 1
    bus.write32(0xfee00320, 0x40);
    bus.write32(0xfee00380, 100);
    vm.pc.clock.advance(1e6);
    assert.equal(hmp.execute("savevm t"), "");
    assert.equal(hmp.execute("loadvm t"), "");
    assert.equal(bus.read32(0xfee00220) & 1, 1, "vector 0x40 is pending in the IRR");
  } finally {
    await vm.shutdown();
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("two disks: the vm-state goes to the first, info snapshots lists partial snapshots as QEMU", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "savevm-" });
  const a = join(dir, "a.qcow2"), b = join(dir, "b.qcow2");
  createImage(a, "qcow2", { size: 16 << 20 });
  createImage(b, "qcow2", { size: 16 << 20 });
  const first = openImage(a, { format: "qcow2" }) as Qcow2Driver;
  first.createSnapshot("disk1", 1_700_000_000_000);
  const second = openImage(b, { format: "qcow2" }) as Qcow2Driver;
  const vm = await startVm(
    {},
    (pc) => {
      pc.attachIde(0, "disk", first);
      pc.attachIde(1, "disk", second);
    },
    true,
    COUNT_PRINT_GUEST,
  );
  try {
    const hmp = vm.monitors.hmp;
    const partial =
      /\nList of partial \(non-loadable\) snapshots on 'ide0-hd0':\nID {8}TAG {15}VM SIZE {16}DATE {5}VM CLOCK {5}ICOUNT\n1 {9}disk1 {17}0 B \d{4}-\d\d-\d\d \d\d:\d\d:\d\d 00:00:00\.000 {10}0\n$/;
    const none = hmp.execute("info snapshots");
    assert.match(none, /^List of snapshots present on all disks:\nNone\n/);
    assert.match(none, partial);
    assert.equal(hmp.execute("savevm s1"), "");
    const both = hmp.execute("info snapshots");
    assert.match(both, /^List of snapshots present on all disks:\nID .*\n-- {8}s1 {15}[ \d.]+ KiB /);
    assert.match(both, partial);
    assert.ok(first.snapshotList.find((s) => s.name === "s1")!.vmStateSize > 0);
    assert.equal(second.snapshotList.find((s) => s.name === "s1")!.vmStateSize, 0);
    assert.equal(
      hmp.execute("loadvm disk1"),
      "Error: Snapshot 'disk1' does not exist in one or more devices\n",
    );
    assert.equal(hmp.execute("cont"), "");
    assert.equal(hmp.execute("loadvm s1"), "");
    assert.equal(hmp.execute("delvm s1"), "");
    assert.equal(first.snapshotList.length + second.snapshotList.length, 1);
  } finally {
    await vm.shutdown();
  }
  Deno.removeSync(dir, { recursive: true });
});
