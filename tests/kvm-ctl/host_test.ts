/** The simulated host CPU (host.conf and KVM_CTL_* variables) decides what loads, as on hardware. */
import assert from "node:assert/strict";
import { kctl, tempRoot, write } from "./support/helpers.ts";

Deno.test("Intel host: kvm_amd fails as on Intel hardware; status reports like kvm-ok", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["status"]);
  assert.deepEqual([r.code, r.stdout], [
    0,
    "INFO: /dev/kvm does not exist\nHINT:   sudo modprobe kvm_intel\nINFO: Your CPU supports KVM extensions\n" +
    "KVM acceleration can be used\n",
  ]);
  r = await kctl(root, ["modprobe", "kvm_amd"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "modprobe: ERROR: could not insert 'kvm_amd': Operation not supported\n",
  ]);
  assert.equal((await kctl(root, ["dmesg", "-t"])).stdout, "kvm_amd: CPU 0 isn't AMD or Hygon\n");
  await kctl(root, ["modprobe", "kvm_intel"]);
  r = await kctl(root, ["status"]);
  assert.deepEqual([r.code, r.stdout], [0, "INFO: /dev/kvm exists\nKVM acceleration can be used\n"]);
});

Deno.test("AMD host from host.conf: kvm_amd loads with its messages, kvm_intel does not", async () => {
  const root = await tempRoot();
  await write(root, "host.conf", "# simulated host\ncpu = amd\n");
  let r = await kctl(root, ["modprobe", "kvm_amd", "nested=0"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  r = await kctl(root, ["modprobe", "kvm_intel"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "modprobe: ERROR: could not insert 'kvm_intel': Operation not supported\n",
  ]);
  r = await kctl(root, ["dmesg", "-t"]);
  assert.equal(
    r.stdout,
    "kvm_amd: TSC scaling supported\nkvm_amd: Nested Paging enabled\nkvm_amd: Virtual VMLOAD VMSAVE supported\n" +
      "kvm_amd: Virtual GIF supported\nkvm_amd: LBR virtualization supported\nkvm_intel: VMX not supported by CPU 0\n",
  );
  r = await kctl(root, ["lsmod"]);
  assert.match(r.stdout, /^kvm_amd +200704 {2}0\nkvm +1409024 {2}1 kvm_amd\n/m);
});

Deno.test("host without virtualization (env) and with virtualization disabled by the BIOS", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["modprobe", "kvm_intel"], { KVM_CTL_HOST_CPU: "none" });
  assert.deepEqual([r.code, r.stderr], [
    1,
    "modprobe: ERROR: could not insert 'kvm_intel': Operation not supported\n",
  ]);
  r = await kctl(root, ["status"], { KVM_CTL_HOST_CPU: "none" });
  assert.deepEqual([r.code, r.stdout], [
    1,
    "INFO: Your CPU does not support KVM extensions\nKVM acceleration can NOT be used\n",
  ]);
  await write(root, "host.conf", "virtualization = disabled\n");
  r = await kctl(root, ["modprobe", "kvm_intel"]);
  assert.equal(r.code, 1);
  r = await kctl(root, ["dmesg", "-t"]);
  assert.equal(
    r.stdout,
    "kvm_intel: VMX not supported by CPU 0\nkvm_intel: VMX not enabled (by BIOS) in MSR_IA32_FEAT_CTL on CPU 0\n",
  );
  r = await kctl(root, ["status"]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /INFO: KVM \(vmx\) is disabled by your BIOS\nHINT: Enter your BIOS setup/);
  await write(root, "host.conf", "cpu = amd\nvirtualization = disabled\n");
  await kctl(root, ["dmesg", "-C"]);
  await kctl(root, ["modprobe", "kvm_amd"]);
  assert.equal(
    (await kctl(root, ["dmesg", "-t"])).stdout,
    "kvm_amd: SVM disabled (by BIOS) in MSR_VM_CR on CPU 0\n",
  );
});

Deno.test("only one vendor module at a time", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel"]);
  // The host changed under a loaded kvm_intel: the vendor check passes, kvm refuses a second
  // vendor with EEXIST, which libkmod's probe takes for "already loaded" and swallows.
  const env = { KVM_CTL_HOST_CPU: "amd" };
  let r = await kctl(root, ["modprobe", "kvm_amd"], env);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  assert.doesNotMatch((await kctl(root, ["lsmod"])).stdout, /kvm_amd/);
  r = await kctl(root, ["modprobe", "--first-time", "kvm_amd"], env);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "modprobe: ERROR: could not insert 'kvm_amd': Module already in kernel\n",
  ]);
  r = await kctl(root, ["insmod", "kvm-amd.ko"], env);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "insmod: ERROR: could not insert module kvm-amd.ko: File exists\n",
  ]);
  assert.equal(
    (await kctl(root, ["dmesg", "-t"])).stdout,
    "kvm: already loaded vendor module 'kvm_intel'\n".repeat(3),
  );
});

Deno.test("kernel release setting names /lib/modules/<release>", async () => {
  const root = await tempRoot();
  const env = { KVM_CTL_KERNEL_RELEASE: "6.1.0-18-amd64" };
  let r = await kctl(root, ["modprobe", "nosuch"], env);
  assert.equal(
    r.stderr,
    "modprobe: FATAL: Module nosuch not found in directory /lib/modules/6.1.0-18-amd64\n",
  );
  r = await kctl(root, ["modinfo", "-n", "kvm"], env);
  assert.equal(r.stdout, "/lib/modules/6.1.0-18-amd64/kernel/arch/x86/kvm/kvm.ko.zst\n");
});

Deno.test("bad host settings name the file and line, or the variable", async () => {
  const root = await tempRoot();
  await write(root, "host.conf", "cpu = arm\n");
  let r = await kctl(root, ["lsmod"]);
  assert.deepEqual([r.code, r.stderr], [1, `kvm-ctl: ${root}/host.conf:1: invalid value 'arm' for cpu\n`]);
  await write(root, "host.conf", "colour = blue\n");
  r = await kctl(root, ["lsmod"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    `kvm-ctl: ${root}/host.conf:1: unknown setting 'colour = blue'\n`,
  ]);
  await Deno.remove(`${root}/host.conf`);
  r = await kctl(root, ["lsmod"], { KVM_CTL_VIRT: "maybe" });
  assert.deepEqual([r.code, r.stderr], [
    1,
    "kvm-ctl: KVM_CTL_VIRT: invalid value 'maybe' for virtualization\n",
  ]);
});
