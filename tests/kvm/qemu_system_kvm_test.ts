/**
 * qemu-system under -accel kvm / -enable-kvm / -M pc,accel=kvm with kvm_intel loaded in a kvm-ctl
 * root: the same guests print the same output as under tcg, the guest sees KVM's CPUID, the open
 * VM pins kvm_intel (lsmod shows it used, rmmod refuses) until the process ends, and -cpu host is
 * refused without KVM as QEMU refuses it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createImage, openImage } from "../../lib/image/formats.ts";
import {
  foldSeabiosProgress,
  HEADLESS_DEBUG_EXIT,
  PROJECT,
  SEABIOS,
  SEABIOS_BOOTING,
  skipReason,
} from "../support/tools.ts";
import { kctl, rootWith } from "./support/setup.ts";

const root = await rootWith(["kvm_intel"]);
const guests = join(PROJECT, "tests", "guests");
const decoder = new TextDecoder();

function qemu(args: string[], stdin: "null" | "piped" = "null") {
  const task: string = JSON.parse(Deno.readTextFileSync(join(PROJECT, "deno.json"))).tasks["qemu-system"];
  const words = task.split(/\s+/).slice(2).map((w) => (w.startsWith("cli/") ? join(PROJECT, w) : w));
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...words, ...args],
    env: { KVM_CTL_ROOT: root },
    stdin,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  });
}

async function output(args: string[]) {
  const out = await qemu(args).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

const guest = (path: string) => [
  ...HEADLESS_DEBUG_EXIT,
  "-kernel",
  join(guests, path),
];

Deno.test("the demo guest prints the same under tcg, -accel kvm, -enable-kvm and -M pc,accel=kvm", async () => {
  const demo = ["-nographic", "-kernel", join(guests, "demo", "demo.bin")];
  const tcg = await output(demo);
  assert.equal(tcg.code, 0, tcg.stderr);
  for (const accel of [["-accel", "kvm"], ["-enable-kvm"], ["-M", "pc,accel=kvm"]]) {
    const r = await output([...accel, ...demo]);
    assert.deepEqual(r, tcg, accel.join(" "));
  }
});

Deno.test("under kvm the guest sees the hypervisor bit and KVMKVMKVM at CPUID 0x40000000", async () => {
  const r = await output(["-enable-kvm", ...guest("kvm/kvm_cpuid.bin")]);
  assert.equal(r.stdout, "hypervisor bit: 1\nsignature: KVMKVMKVM\n");
  const host = await output(["-enable-kvm", "-cpu", "host", ...guest("kvm/kvm_cpuid.bin")]);
  assert.equal(host.stdout, r.stdout);
});

Deno.test("the pc guests print the same with kernel-irqchip on and off as under tcg", async () => {
  for (const g of ["pc/apic_ioapic.bin", "pc/pic_pit_rtc.bin", "pc/int_log.bin", "pc/reset.bin"]) {
    const tcg = await output(guest(g));
    for (
      const accel of [["-enable-kvm"], ["-accel", "kvm,kernel-irqchip=on"], [
        "-accel",
        "kvm,kernel-irqchip=off",
      ]]
    ) {
      assert.deepEqual(await output([...accel, ...guest(g)]), tcg, `${g} ${accel.join(" ")}`);
    }
  }
  const off = await output(["-M", "pc,kernel-irqchip=off", "-enable-kvm", ...guest("pc/apic_ioapic.bin")]);
  assert.match(off.stdout, /lapic timer: 10 periodic interrupts on vector 0x41/);
});

Deno.test("the cpu guests' MSR, MTRR, PAT and SSE state lines under -enable-kvm are those under tcg", async () => {
  for (const g of ["cpu/sysinsn.bin", "cpu/state_carry.bin"]) {
    const tcg = await output(guest(g));
    assert.equal(tcg.code, 1, tcg.stderr);
    // KVM honours a guest's WRMSR to IA32_TSC; QEMU 7.2's TCG keeps the value aside and goes on
    // reading the clock, so only this line differs, as it does between the real accelerators.
    const expected = {
      ...tcg,
      stdout: tcg.stdout.replace("tsc hi after write: 00000000", "tsc hi after write: 00000001"),
    };
    assert.deepEqual(await output(["-enable-kvm", ...guest(g)]), expected, g);
  }
});

Deno.test("kernel-irqchip: a bad value is refused as QEMU refuses it; split is not offered", async () => {
  const bad = await output(["-accel", "kvm,kernel-irqchip=foo", ...guest("pc/int_log.bin")]);
  assert.deepEqual([bad.code, bad.stderr], [
    1,
    "qemu-system-x86_64: -accel kvm,kernel-irqchip=foo: Parameter 'kernel-irqchip' does not accept value 'foo'\n",
  ]);
  const split = await output(["-accel", "kvm,kernel-irqchip=split", ...guest("pc/int_log.bin")]);
  assert.deepEqual([split.code, split.stderr], [
    1,
    "qemu-system-x86_64: Could not enable split irqchip mode: Invalid argument\n",
  ]);
});

Deno.test("-cpu host needs KVM, as in QEMU", async () => {
  const r = await output(["-cpu", "host", ...guest("kvm/kvm_cpuid.bin")]);
  assert.deepEqual([r.code, r.stderr], [1, "qemu-system-x86_64: CPU model 'host' requires KVM or HVF\n"]);
});

Deno.test("a running VM holds kvm_intel: lsmod shows it used, rmmod refuses, the reference goes at exit", async () => {
  const child = qemu(
    ["-enable-kvm", "-S", "-display", "none", "-monitor", "stdio", "-serial", "null"],
    "piped",
  )
    .spawn();
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes("(qemu)")) {
    const { value, done } = await reader.read();
    if (done) assert.fail(`qemu-system ended before its monitor prompt: ${seen}`);
    seen += decoder.decode(value);
  }
  const lsmod = (await kctl(root, ["lsmod"])).stdout;
  assert.match(lsmod, /^kvm_intel\s+\d+\s+[1-9]\d*\s*$/m, lsmod);
  const rmmod = await kctl(root, ["rmmod", "kvm_intel"]);
  assert.deepEqual([rmmod.code, rmmod.stderr], [1, "rmmod: ERROR: Module kvm_intel is in use\n"]);
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("quit\n"));
  await writer.close();
  while (!(await reader.read()).done) { /* the monitor's last words */ }
  await child.stderr.cancel();
  assert.equal((await child.status).code, 0);
  assert.match((await kctl(root, ["lsmod"])).stdout, /^kvm_intel\s+\d+\s+0\s*$/m);
});

Deno.test({
  name: `SeaBIOS boots a boot sector under -enable-kvm as under tcg${skipReason(SEABIOS, "seabios")}`,
  ignore: !SEABIOS,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "kvm-seabios-" });
    const disk = join(dir, "disk.qcow2");
    createImage(disk, "qcow2", { size: 1 << 20 });
    const d = openImage(disk, { format: "qcow2" });
    d.write(0, Deno.readFileSync(join(guests, "pc", "bootsector.bin")));
    d.close();
    const args = ["-nographic", "-bios", SEABIOS!, "-drive", `file=${disk},format=qcow2`];
    // One after the other: each run holds the disk's write lock, as QEMU does.
    const kvm = await output(["-enable-kvm", ...args]);
    const tcg = await output(args);
    assert.equal(kvm.code, 0, kvm.stderr);
    assert.match(kvm.stdout, /SeaBIOS \(version [^)]+\)/);
    assert.match(kvm.stdout, SEABIOS_BOOTING);
    assert.equal(foldSeabiosProgress(kvm.stdout), foldSeabiosProgress(tcg.stdout));
    Deno.removeSync(dir, { recursive: true });
  },
});
