/** modprobe.d configuration under the state root: options, alias, blacklist, install/remove, softdep. */
import assert from "node:assert/strict";
import { IRQBYPASS_KO, kctl, KVM_INTEL_KO, KVM_KO, read, tempRoot, write } from "./support/helpers.ts";

const KVM_AMD_KO = KVM_INTEL_KO.replace("kvm-intel", "kvm-amd");

Deno.test("options lines apply before the command line's, and the last value wins", async () => {
  const root = await tempRoot();
  await write(
    root,
    "etc/modprobe.d/kvm.conf",
    "# nested off by default\noptions kvm_intel nested=0 \\\n  ept=1\n",
  );
  let r = await kctl(root, ["modprobe", "-v", "kvm-intel", "nested=1"]);
  assert.deepEqual(
    [r.code, r.stdout],
    [0, `insmod ${IRQBYPASS_KO} \ninsmod ${KVM_KO} \ninsmod ${KVM_INTEL_KO} nested=0 ept=1 nested=1\n`],
  );
  assert.equal(read(root, "sys/module/kvm_intel/parameters/nested"), "Y\n");
  await kctl(root, ["modprobe", "-r", "kvm_intel"]);
  r = await kctl(root, ["modprobe", "kvm_intel"]);
  assert.equal(r.code, 0);
  assert.equal(read(root, "sys/module/kvm_intel/parameters/nested"), "N\n");
});

Deno.test("earlier directories shadow later files of the same name; -C replaces the search path", async () => {
  const root = await tempRoot();
  await write(root, "lib/modprobe.d/kvm.conf", "options kvm ignore_msrs=1\n");
  await write(root, "etc/modprobe.d/kvm.conf", "options kvm halt_poll_ns=5\n");
  await write(root, "usr/lib/modprobe.d/z.conf", "options kvm report_ignored_msrs=0\n");
  let r = await kctl(root, ["modprobe", "-D", "kvm"]);
  assert.equal(r.stdout, `insmod ${IRQBYPASS_KO} \ninsmod ${KVM_KO} halt_poll_ns=5 report_ignored_msrs=0\n`);
  const other = `${root}/other.conf`;
  await Deno.writeTextFile(other, "options kvm enable_pmu=0\n");
  r = await kctl(root, ["modprobe", "-D", "-C", other, "kvm"]);
  assert.equal(r.stdout, `insmod ${IRQBYPASS_KO} \ninsmod ${KVM_KO} enable_pmu=0\n`);
});

Deno.test("blacklist stops only aliases, unless -b; config aliases resolve", async () => {
  const root = await tempRoot();
  await write(root, "etc/modprobe.d/bl.conf", "blacklist kvm_intel\nalias my-hypervisor kvm_intel\n");
  let r = await kctl(root, ["modprobe", "my-hypervisor"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  assert.equal(read(root, "proc/modules"), "");
  r = await kctl(root, ["modprobe", "-b", "kvm_intel"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  assert.equal(read(root, "proc/modules"), "");
  r = await kctl(root, ["modprobe", "kvm_intel"]);
  assert.equal(r.code, 0);
  assert.match(read(root, "proc/modules"), /^kvm_intel /);
  r = await kctl(root, ["modprobe", "-R", "my_hypervisor"]);
  assert.equal(r.stdout, "kvm_intel\n");
});

Deno.test("install commands replace the insert, with $CMDLINE_OPTS and MODPROBE_MODULE; -i ignores them", async () => {
  const root = await tempRoot();
  await write(
    root,
    "etc/modprobe.d/inst.conf",
    `install kvm_intel echo "$MODPROBE_MODULE $CMDLINE_OPTS" > ${root}/installed\n`,
  );
  let r = await kctl(root, ["modprobe", "-v", "kvm_intel", "nested=0"]);
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout,
    `insmod ${IRQBYPASS_KO} \ninsmod ${KVM_KO} \ninstall echo "$MODPROBE_MODULE $CMDLINE_OPTS" > ${root}/installed nested=0\n`,
  );
  assert.equal(read(root, "installed"), "kvm_intel nested=0\n");
  assert.doesNotMatch(read(root, "proc/modules"), /kvm_intel/);
  r = await kctl(root, ["modprobe", "-i", "kvm_intel"]);
  assert.equal(r.code, 0);
  assert.match(read(root, "proc/modules"), /^kvm_intel /);
});

Deno.test("a failing install command fails the load with kmod's two messages", async () => {
  const root = await tempRoot();
  await write(root, "etc/modprobe.d/inst.conf", "install kvm_intel exit 3\n");
  const r = await kctl(root, ["modprobe", "kvm_intel"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    "modprobe: ERROR: Error running install command 'exit 3' for module kvm_intel: retcode 3\n" +
    "modprobe: ERROR: could not insert 'kvm_intel': Invalid argument\n",
  ]);
});

Deno.test("remove commands replace the removal", async () => {
  const root = await tempRoot();
  await write(root, "etc/modprobe.d/rm.conf", `remove kvm_intel touch ${root}/removed\n`);
  await kctl(root, ["modprobe", "kvm_intel"]);
  const r = await kctl(root, ["modprobe", "-v", "-r", "kvm_intel"]);
  assert.deepEqual([r.code, r.stdout], [0, `remove touch ${root}/removed\n`]);
  assert.ok(Deno.statSync(`${root}/removed`).isFile);
  assert.match(read(root, "proc/modules"), /^kvm_intel /);
});

Deno.test("softdep post: a failing optional module does not fail the load", async () => {
  const root = await tempRoot();
  await write(root, "etc/modprobe.d/soft.conf", "softdep kvm_intel post: kvm_amd\n");
  const r = await kctl(root, ["modprobe", "-v", "kvm_intel"]);
  assert.deepEqual(
    [r.code, r.stdout, r.stderr],
    [0, `insmod ${IRQBYPASS_KO} \ninsmod ${KVM_KO} \ninsmod ${KVM_INTEL_KO} \ninsmod ${KVM_AMD_KO} \n`, ""],
  );
  assert.match(read(root, "proc/modules"), /^kvm_intel /);
});

Deno.test("show-config dumps the configuration and the indexes; bad lines are reported", async () => {
  const root = await tempRoot();
  await write(
    root,
    "etc/modprobe.d/all.conf",
    "blacklist kvm_amd\noptions kvm-intel nested=0\nalias virt kvm\nsoftdep kvm pre: irqbypass post: x\n" +
      "frobnicate kvm\nweakdep kvm x\ninclude /etc/other\n",
  );
  const r = await kctl(root, ["modprobe", "-c"]);
  assert.equal(r.code, 0);
  const file = `${root}/etc/modprobe.d/all.conf`;
  assert.equal(
    r.stderr,
    `libkmod: ERROR ../libkmod/libkmod-config.c:712 kmod_config_parse: ${file} line 5: ignoring bad line starting with 'frobnicate'\n` +
      `libkmod: ERROR ../libkmod/libkmod-config.c:712 kmod_config_parse: ${file} line 6: ignoring bad line starting with 'weakdep'\n` +
      `libkmod: ERROR ../libkmod/libkmod-config.c:708 kmod_config_parse: ${file}: command include is deprecated and not parsed anymore\n`,
  );
  assert.ok(
    r.stdout.startsWith(
      "blacklist kvm_amd\nalias virt kvm\noptions kvm_intel nested=0\nsoftdep kvm pre: irqbypasspost: x\n" +
        "\n# End of configuration files. Dumping indexes now:\n\n",
    ),
    r.stdout,
  );
  assert.match(r.stdout, /^alias devname:kvm kvm$/m);
  assert.match(r.stdout, /^alias symbol:kvm_x86_vendor_init kvm$/m);
});

Deno.test("MODPROBE_OPTIONS is prepended to the arguments", async () => {
  const root = await tempRoot();
  const r = await kctl(root, ["modprobe", "kvm"], { MODPROBE_OPTIONS: "-v" });
  assert.equal(r.stdout, `insmod ${IRQBYPASS_KO} \ninsmod ${KVM_KO} \n`);
});
