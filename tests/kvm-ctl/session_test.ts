/** The "Done when" session and the core kmod commands, run as subprocesses. */
import assert from "node:assert/strict";
import { IRQBYPASS_KO, kctl, KVM_INTEL_KO, KVM_KO, read, tempRoot } from "./support/helpers.ts";

const LSMOD_LOADED = "Module                  Size  Used by\n" +
  "kvm_intel             487424  0\n" +
  "kvm                  1409024  1 kvm_intel\n" +
  "irqbypass              12288  1 kvm\n";

Deno.test("done-when session: modprobe nested=0, lsmod, cat parameter, rmmod kvm refused, modprobe -r", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["modprobe", "kvm_intel", "nested=0"]);
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, "", ""]);
  r = await kctl(root, ["lsmod"]);
  assert.deepEqual([r.code, r.stdout], [0, LSMOD_LOADED]);
  assert.equal(read(root, "sys/module/kvm_intel/parameters/nested"), "N\n");
  assert.equal(read(root, "sys/module/kvm_intel/parameters/ept"), "Y\n");
  assert.equal(read(root, "sys/module/kvm/refcnt"), "1\n");
  assert.equal(read(root, "sys/module/kvm_intel/initstate"), "live\n");
  assert.equal(Deno.readLinkSync(`${root}/sys/module/kvm/holders/kvm_intel`), "../../kvm_intel");
  assert.equal(
    read(root, "proc/modules"),
    "kvm_intel 487424 0 - Live 0x0000000000000000\n" +
      "kvm 1409024 1 kvm_intel, Live 0x0000000000000000\n" +
      "irqbypass 12288 1 kvm, Live 0x0000000000000000\n",
  );
  r = await kctl(root, ["rmmod", "kvm"]);
  assert.deepEqual([r.code, r.stdout, r.stderr], [
    1,
    "",
    "rmmod: ERROR: Module kvm is in use by: kvm_intel\n",
  ]);
  r = await kctl(root, ["modprobe", "-r", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [1, "modprobe: FATAL: Module kvm is in use.\n"]);
  r = await kctl(root, ["modprobe", "-r", "kvm_intel"]);
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, "", ""]);
  // kmod removes the dependencies whose refcnt is 0 when it looks (irqbypass, then kvm), so
  // irqbypass, still held by kvm at that moment, stays loaded as on a real host.
  r = await kctl(root, ["lsmod"]);
  assert.equal(r.stdout, "Module                  Size  Used by\nirqbypass              12288  0\n");
  assert.throws(() => Deno.statSync(`${root}/sys/module/kvm_intel`));
  assert.equal(read(root, "proc/modules"), "irqbypass 12288 0 - Live 0x0000000000000000\n");
});

Deno.test("modprobe: already loaded is silent, --first-time is not; removal of unloaded likewise", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm"]);
  let r = await kctl(root, ["modprobe", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  r = await kctl(root, ["modprobe", "--first-time", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "modprobe: ERROR: could not insert 'kvm': Module already in kernel\n",
  ]);
  r = await kctl(root, ["modprobe", "-r", "kvm_amd"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  r = await kctl(root, ["modprobe", "-r", "--first-time", "kvm_amd"]);
  assert.deepEqual([r.code, r.stderr], [1, "modprobe: FATAL: Module kvm_amd is not in kernel.\n"]);
});

Deno.test("modprobe: unknown module, -q, -a, missing parameters, bad options", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["modprobe", "foo"]);
  assert.deepEqual(
    [r.code, r.stderr],
    [1, "modprobe: FATAL: Module foo not found in directory /lib/modules/6.8.0-40-generic\n"],
  );
  r = await kctl(root, ["modprobe", "-q", "foo"]);
  assert.deepEqual([r.code, r.stdout, r.stderr], [1, "", ""]);
  r = await kctl(root, ["modprobe", "-a", "foo", "kvm"]);
  assert.deepEqual(
    [r.code, r.stderr],
    [1, "modprobe: WARNING: Module foo not found in directory /lib/modules/6.8.0-40-generic\n"],
  );
  assert.match((await kctl(root, ["lsmod"])).stdout, /^kvm /m);
  r = await kctl(root, ["modprobe", "-r", "foo"]);
  assert.deepEqual([r.code, r.stderr], [1, "modprobe: FATAL: Module foo not found.\n"]);
  r = await kctl(root, ["modprobe"]);
  assert.deepEqual([r.code, r.stderr], [1, "modprobe: ERROR: missing parameters. See -h.\n"]);
  r = await kctl(root, ["modprobe", "-x", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [1, "modprobe: invalid option -- 'x'\n"]);
  r = await kctl(root, ["modprobe", "--bogus", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [1, "modprobe: unrecognized option '--bogus'\n"]);
  r = await kctl(root, ["modprobe", "-w"]);
  assert.deepEqual([r.code, r.stderr], [1, "modprobe: option requires an argument -- 'w'\n"]);
  r = await kctl(root, ["modprobe", "-r", "-w", "abc", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [1, "modprobe: ERROR: unexpected wait value 'abc'.\n"]);
  r = await kctl(root, ["modprobe", "--show", "-v", "-r", "kvm"]);
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, "rmmod kvm\n", ""]);
  r = await kctl(root, ["modprobe", "-V"]);
  assert.match(r.stdout, /^kmod version 31\n/);
  r = await kctl(root, ["modprobe", "-h"]);
  assert.match(r.stdout, /^Usage:\n\tmodprobe \[options\] \[-i\] \[-b\] modulename\n/);
  r = await kctl(root, ["modprobe", "--show-modversions", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [1, "modprobe: FATAL: Module kvm not found.\n"]);
  r = await kctl(root, ["modprobe", "--show-exports", KVM_KO]);
  assert.match(r.stdout, /^0x[0-9a-f]{8}\tkvm_init$/m);
  r = await kctl(root, ["modprobe", "-S", "5.15.0-1-generic", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "modprobe: FATAL: Module kvm not found in directory /lib/modules/5.15.0-1-generic\n",
  ]);
});

Deno.test("modprobe: -n, -v, -D, -R and -r -n print kmod's action lines", async () => {
  const root = await tempRoot();
  // kmod 31: -n alone prints nothing; with -v it prints what it would do.
  let r = await kctl(root, ["modprobe", "-n", "kvm_intel"]);
  assert.deepEqual([r.code, r.stdout], [0, ""]);
  r = await kctl(root, ["modprobe", "-nv", "kvm_intel", "nested=1"]);
  assert.deepEqual(
    [r.code, r.stdout],
    [0, `insmod ${IRQBYPASS_KO} \ninsmod ${KVM_KO} \ninsmod ${KVM_INTEL_KO} nested=1\n`],
  );
  assert.equal((await kctl(root, ["lsmod"])).stdout, "Module                  Size  Used by\n");
  r = await kctl(root, ["modprobe", "-v", "kvm"]);
  assert.deepEqual([r.code, r.stdout], [0, `insmod ${IRQBYPASS_KO} \ninsmod ${KVM_KO} \n`]);
  r = await kctl(root, ["modprobe", "-v", "kvm_intel", "ept=0"]);
  assert.equal(r.stdout, `insmod ${KVM_INTEL_KO} ept=0\n`);
  r = await kctl(root, ["modprobe", "-D", "kvm_intel"]);
  assert.equal(r.stdout, `insmod ${IRQBYPASS_KO} \ninsmod ${KVM_KO} \ninsmod ${KVM_INTEL_KO} \n`);
  r = await kctl(root, ["modprobe", "-R", "devname:kvm"]);
  assert.deepEqual([r.code, r.stdout], [0, "kvm\n"]);
  r = await kctl(root, ["modprobe", "-r", "-n", "-v", "kvm_intel"]);
  assert.deepEqual([r.code, r.stdout], [0, "rmmod kvm_intel\n"]);
  r = await kctl(root, ["modprobe", "-r", "-v", "kvm_intel"]);
  assert.deepEqual([r.code, r.stdout], [0, "rmmod kvm_intel\nrmmod kvm\n"]);
  r = await kctl(root, ["modprobe", "-r", "-a", "-v", "irqbypass"]);
  assert.deepEqual([r.code, r.stdout], [0, "rmmod irqbypass\n"]);
});

Deno.test("modprobe: bad parameter values fail with Invalid argument and a kernel-log line", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["modprobe", "kvm", "halt_poll_ns=99999999999"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "modprobe: ERROR: could not insert 'kvm': Numerical result out of range\n",
  ]);
  r = await kctl(root, ["modprobe", "kvm", "halt_poll_ns=0x10", "bogus_param=1", "ignore-msrs"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  assert.equal(read(root, "sys/module/kvm/parameters/halt_poll_ns"), "16\n");
  assert.equal(read(root, "sys/module/kvm/parameters/ignore_msrs"), "Y\n");
  r = await kctl(root, ["modprobe", "kvm_intel", "nested=maybe"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "modprobe: ERROR: could not insert 'kvm_intel': Invalid argument\n",
  ]);
  r = await kctl(root, ["dmesg", "-t"]);
  assert.equal(
    r.stdout,
    "kvm: `99999999999' invalid for parameter `halt_poll_ns'\n" +
      "kvm: unknown parameter 'bogus_param' ignored\n" +
      "kvm_intel: `maybe' invalid for parameter `nested'\n",
  );
  r = await kctl(root, ["dmesg"]);
  assert.match(r.stdout, /^\[ {0,4}\d+\.\d{6}\] kvm: `99999999999' invalid/);
});

Deno.test("insmod: kmod's texts for dependencies, existing modules and missing files", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["insmod", "kvm-intel.ko"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "insmod: ERROR: could not insert module kvm-intel.ko: Unknown symbol in module\n",
  ]);
  assert.equal(
    (await kctl(root, ["dmesg", "-t"])).stdout,
    "kvm_intel: Unknown symbol kvm_x86_vendor_init (err -2)\n",
  );
  r = await kctl(root, ["insmod", IRQBYPASS_KO]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  r = await kctl(root, ["insmod", "kvm", "ignore_msrs=1"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  assert.equal(read(root, "sys/module/kvm/parameters/ignore_msrs"), "Y\n");
  r = await kctl(root, ["insmod", KVM_KO]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    `insmod: ERROR: could not insert module ${KVM_KO}: File exists\n`,
  ]);
  r = await kctl(root, ["insmod", "kvm-intel.ko", "vpid=x"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "insmod: ERROR: could not insert module kvm-intel.ko: Invalid parameters\n",
  ]);
  r = await kctl(root, ["insmod", "/nope/foo.ko"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "insmod: ERROR: could not load module /nope/foo.ko: No such file or directory\n",
  ]);
  r = await kctl(root, ["insmod"]);
  assert.deepEqual([r.code, r.stderr], [1, "insmod: ERROR: missing filename.\n"]);
  r = await kctl(root, ["insmod", "-"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "insmod: ERROR: this tool does not support loading from stdin!\n",
  ]);
  r = await kctl(root, ["insmod", "-v", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [1, "insmod: invalid option -- 'v'\n"]);
});

Deno.test("rmmod: not loaded, holders, -f, several names, usage errors", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel"]);
  let r = await kctl(root, ["rmmod", "kvm_amd"]);
  assert.deepEqual([r.code, r.stderr], [1, "rmmod: ERROR: Module kvm_amd is not currently loaded\n"]);
  r = await kctl(root, ["rmmod", "-f", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "rmmod: ERROR: could not remove 'kvm': Resource temporarily unavailable\n" +
    "rmmod: ERROR: could not remove module kvm: Resource temporarily unavailable\n",
  ]);
  r = await kctl(root, ["rmmod", "-f", "nosuch"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "rmmod: ERROR: could not remove 'nosuch': No such file or directory\n" +
    "rmmod: ERROR: could not remove module nosuch: No such file or directory\n",
  ]);
  r = await kctl(root, ["rmmod", "kvm-intel", "kvm", "irqbypass"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  assert.equal(read(root, "proc/modules"), "");
  r = await kctl(root, ["rmmod"]);
  assert.deepEqual([r.code, r.stderr], [1, "rmmod: ERROR: missing module name.\n"]);
  r = await kctl(root, ["rmmod", "-w", "10", "kvm"]);
  assert.deepEqual([r.code, r.stderr], [1, "rmmod: ERROR: unexpected getopt_long() value 'w'.\n"]);
  r = await kctl(root, ["lsmod", "extra"]);
  assert.deepEqual([r.code, r.stderr], [1, "Usage: lsmod\n"]);
});

Deno.test("modprobe --remove-holders removes kvm_intel before kvm", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_intel"]);
  const r = await kctl(root, ["modprobe", "-v", "-r", "--remove-holders", "kvm"]);
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, "rmmod kvm_intel\nrmmod kvm\nrmmod irqbypass\n", ""]);
});

Deno.test("modinfo: fields, parameters, -F, -0, aliases and errors", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["modinfo", "kvm_intel"]);
  assert.equal(r.code, 0);
  const lines = r.stdout.split("\n");
  assert.equal(lines[0], `filename:       ${KVM_INTEL_KO}`);
  for (
    const l of [
      "license:        GPL",
      "author:         Qumranet",
      "description:    KVM support for VMX (Intel VT-x) extensions",
      "depends:        kvm",
      "name:           kvm_intel",
      "parm:           nested:bool",
      "parm:           ple_gap:uint",
      "parm:           pt_mode:int",
    ]
  ) assert.ok(lines.includes(l), l);
  r = await kctl(root, ["modinfo", "-F", "depends", "kvm"]);
  assert.equal(r.stdout, "irqbypass\n");
  r = await kctl(root, ["modinfo", "-F", "description", "kvm"]);
  assert.equal(r.stdout, "Kernel-based Virtual Machine (KVM) Hypervisor\n");
  r = await kctl(root, ["modinfo", "-d", "-0", "kvm_amd"]);
  assert.equal(r.stdout, "KVM support for SVM (AMD-V) extensions\0");
  r = await kctl(root, ["modinfo", "-n", "kvm-intel"]);
  assert.equal(r.stdout, KVM_INTEL_KO + "\n");
  r = await kctl(root, ["modinfo", "-p", "kvm_amd"]);
  assert.ok(r.stdout.startsWith("npt: (bool)\nnested: (int)\n"), r.stdout);
  r = await kctl(root, ["modinfo", "-F", "alias", "devname:kvm"]);
  assert.equal(r.stdout, "devname:kvm\nchar-major-10-232\n");
  r = await kctl(root, ["modinfo", "-a", "-l", "irqbypass"]);
  assert.equal(r.stdout, "GPL v2\n");
  r = await kctl(root, ["modinfo", "foo"]);
  assert.deepEqual([r.code, r.stderr], [1, "modinfo: ERROR: Module foo not found.\n"]);
  r = await kctl(root, ["modinfo", "-m", "devname:kvm"]);
  assert.deepEqual([r.code, r.stderr], [1, "modinfo: ERROR: Module name devname:kvm not found.\n"]);
  r = await kctl(root, ["modinfo"]);
  assert.deepEqual([r.code, r.stderr], [1, "modinfo: ERROR: missing module or filename.\n"]);
});

Deno.test("param: list, read, write, and sysfs refusals", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["param", "kvm", "ignore_msrs"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "kvm-ctl: param: /sys/module/kvm/parameters/ignore_msrs: No such file or directory\n",
  ]);
  await kctl(root, ["modprobe", "kvm_intel"]);
  r = await kctl(root, ["param", "kvm", "ignore_msrs", "Y"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  assert.equal(read(root, "sys/module/kvm/parameters/ignore_msrs"), "Y\n");
  r = await kctl(root, ["param", "kvm", "ignore_msrs"]);
  assert.equal(r.stdout, "Y\n");
  r = await kctl(root, ["param", "kvm", "tdp_mmu", "N"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "kvm-ctl: param: /sys/module/kvm/parameters/tdp_mmu: Permission denied\n",
  ]);
  r = await kctl(root, ["param", "kvm", "halt_poll_ns", "-5"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "kvm-ctl: param: /sys/module/kvm/parameters/halt_poll_ns: Invalid argument\n",
  ]);
  r = await kctl(root, ["param", "kvm_intel", "nosuch"]);
  assert.equal(r.code, 1);
  r = await kctl(root, ["param", "kvm-intel"]);
  assert.match(r.stdout, /^enlightened_vmcs=Y\n(.*\n)*nested=Y\n/);
  // Writes straight into the files behave as sysfs: valid 0644 writes stick, others are put back.
  await Deno.writeTextFile(`${root}/sys/module/kvm/parameters/report_ignored_msrs`, "0\n");
  await Deno.writeTextFile(`${root}/sys/module/kvm/parameters/enable_pmu`, "N\n");
  await Deno.writeTextFile(`${root}/sys/module/kvm/parameters/min_timer_period_us`, "soon\n");
  r = await kctl(root, ["param", "kvm", "report_ignored_msrs"]);
  assert.equal(r.stdout, "N\n");
  assert.equal(read(root, "sys/module/kvm/parameters/report_ignored_msrs"), "N\n");
  assert.equal(read(root, "sys/module/kvm/parameters/enable_pmu"), "Y\n");
  assert.equal(read(root, "sys/module/kvm/parameters/min_timer_period_us"), "200\n");
  const mode = Deno.statSync(`${root}/sys/module/kvm/parameters/tdp_mmu`).mode! & 0o777;
  assert.equal(mode, 0o444);
  assert.equal(Deno.statSync(`${root}/sys/module/kvm/parameters/ignore_msrs`).mode! & 0o777, 0o644);
});

Deno.test("dmesg: -c reads and clears, -C clears", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm_amd"]);
  let r = await kctl(root, ["dmesg", "-c"]);
  assert.match(r.stdout, /kvm_amd: CPU 0 isn't AMD or Hygon\n$/);
  r = await kctl(root, ["dmesg"]);
  assert.equal(r.stdout, "");
  await kctl(root, ["modprobe", "kvm_amd"]);
  await kctl(root, ["dmesg", "-C"]);
  assert.equal((await kctl(root, ["dmesg"])).stdout, "");
});

Deno.test("caps and stat: refuse without /dev/kvm, report with it", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["caps"]);
  assert.deepEqual([r.code, r.stderr], [1, "kvm-ctl: caps: /dev/kvm: No such file or directory\n"]);
  r = await kctl(root, ["stat"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Also ensure, that the kvm modules are loaded/);
  await kctl(root, ["modprobe", "kvm_intel", "nested=0"]);
  r = await kctl(root, ["caps"]);
  assert.match(r.stdout, /^KVM_API_VERSION 12\n/);
  assert.match(r.stdout, /^KVM_CAP_USER_MEMORY +3 {2}1$/m);
  assert.match(r.stdout, /^KVM_CAP_NESTED_STATE +157 {2}0$/m);
  r = await kctl(root, ["stat"]);
  assert.match(r.stdout, /^VMs: 0 {2}vCPUs: 0\n/);
  assert.match(r.stdout, /^ exits +0$/m);
  assert.equal(read(root, "sys/kernel/debug/kvm/exits"), "0\n");
});
