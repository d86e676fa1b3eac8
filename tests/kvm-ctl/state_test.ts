/** The state directory: where it is, what a corrupted one says, reset, and concurrent writers. */
import assert from "node:assert/strict";
import { runCli } from "../support/tools.ts";
import { kctl, read, tempRoot, write } from "./support/helpers.ts";

Deno.test("root: --root beats KVM_CTL_ROOT beats XDG_STATE_HOME beats HOME", async () => {
  const [a, b, xdg, home] = await Promise.all([tempRoot(), tempRoot(), tempRoot(), tempRoot()]);
  await runCli("kvm-ctl", ["--root", a, "modprobe", "irqbypass"], { env: { KVM_CTL_ROOT: b } });
  assert.match(read(a, "proc/modules"), /^irqbypass /);
  await runCli("kvm-ctl", ["modprobe", "irqbypass"], { env: { KVM_CTL_ROOT: b, XDG_STATE_HOME: xdg } });
  assert.match(read(b, "proc/modules"), /^irqbypass /);
  await runCli("kvm-ctl", ["modprobe", "irqbypass"], { env: { KVM_CTL_ROOT: "", XDG_STATE_HOME: xdg } });
  assert.match(read(xdg, "qemu-kvm-ts/kvm/proc/modules"), /^irqbypass /);
  await runCli("kvm-ctl", ["modprobe", "irqbypass"], {
    env: { KVM_CTL_ROOT: "", XDG_STATE_HOME: "", HOME: home },
  });
  assert.match(read(home, ".local/state/qemu-kvm-ts/kvm/proc/modules"), /^irqbypass /);
});

Deno.test("state persists between invocations and boots with empty views", async () => {
  const root = await tempRoot();
  let r = await kctl(root, ["lsmod"]);
  assert.equal(r.stdout, "Module                  Size  Used by\n");
  assert.equal(read(root, "proc/modules"), "");
  await kctl(root, ["modprobe", "kvm"]);
  r = await kctl(root, ["lsmod"]);
  assert.match(r.stdout, /^kvm +1409024 {2}0\n/m);
});

Deno.test("corrupted state: a clear error naming the file and the way out; reset recovers", async () => {
  const root = await tempRoot();
  await write(root, "etc/modprobe.d/keep.conf", "options kvm ignore_msrs=1\n");
  await kctl(root, ["modprobe", "kvm"]);
  await Deno.writeTextFile(`${root}/state.json`, '{"version": 1, "boot": 0, "mod');
  const advice = `run 'kvm-ctl --root ${root} reset' or remove ${root} to start from a fresh state`;
  for (const args of [["lsmod"], ["modprobe", "kvm_intel"], ["rmmod", "kvm"], ["status"], ["param", "kvm"]]) {
    const r = await kctl(root, args);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(
      r.stderr,
      new RegExp(`^kvm-ctl: state file ${root}/state\\.json is corrupted \\(invalid JSON: `),
    );
    assert.ok(r.stderr.endsWith(`); ${advice}\n`), r.stderr);
  }
  await Deno.writeTextFile(
    `${root}/state.json`,
    JSON.stringify({
      version: 1,
      boot: 0,
      nextHandle: 1,
      handles: [],
      modules: [{ name: "kvm9", params: {} }],
    }),
  );
  let r = await kctl(root, ["lsmod"]);
  assert.equal(
    r.stderr,
    `kvm-ctl: state file ${root}/state.json is corrupted (unknown module 'kvm9'); ${advice}\n`,
  );
  await Deno.writeTextFile(
    `${root}/state.json`,
    JSON.stringify({
      version: 1,
      boot: 0,
      nextHandle: 1,
      handles: [],
      modules: [{ name: "kvm", params: {} }],
    }),
  );
  r = await kctl(root, ["lsmod"]);
  assert.match(r.stderr, /\(module 'kvm' lacks parameter 'nx_huge_pages'\)/);
  r = await kctl(root, ["reset"]);
  assert.deepEqual([r.code, r.stderr], [0, ""]);
  r = await kctl(root, ["lsmod"]);
  assert.deepEqual([r.code, r.stdout], [0, "Module                  Size  Used by\n"]);
  await kctl(root, ["modprobe", "kvm"]);
  assert.equal(read(root, "sys/module/kvm/parameters/ignore_msrs"), "Y\n");
});

Deno.test("a state directory that is a file gives a clear error, not a crash", async () => {
  const dir = await tempRoot();
  const root = `${dir}/state.json`;
  await Deno.mkdir(root);
  await Deno.mkdir(`${root}/state.json`);
  const r = await kctl(root, ["lsmod"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^kvm-ctl: state file .*state\.json is corrupted \(.*\); run 'kvm-ctl --root/);
});

Deno.test("a state root below a regular file is reported, not a crash", async () => {
  const dir = await tempRoot();
  await Deno.writeTextFile(`${dir}/plain`, "");
  const r = await kctl(`${dir}/plain/kvm`, ["lsmod"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^kvm-ctl: .*${dir}/plain/kvm.*\n$`));
});

Deno.test("concurrency: parallel modprobe/rmmod leave a consistent state and lose no update", async () => {
  const root = await tempRoot();
  const runs: Promise<unknown>[] = [];
  for (let i = 0; i < 18; i++) {
    const args = i % 3 === 0
      ? ["modprobe", "kvm_intel"]
      : i % 3 === 1
      ? ["modprobe", "-r", "kvm_intel"]
      : ["modprobe", "kvm"];
    runs.push(kctl(root, args));
  }
  await Promise.all(runs);
  const state = JSON.parse(read(root, "state.json"));
  const loaded: string[] = state.modules.map((m: { name: string }) => m.name);
  // Dependencies are loaded whenever their users are.
  if (loaded.includes("kvm_intel")) assert.ok(loaded.includes("kvm"));
  if (loaded.includes("kvm")) assert.ok(loaded.includes("irqbypass"));
  // The views agree with the state.
  const proc = read(root, "proc/modules").split("\n").filter((l) => l).map((l) => l.split(" ")[0]);
  assert.deepEqual(proc, loaded);
  const dirs = [...Deno.readDirSync(`${root}/sys/module`)].map((e) => e.name).sort();
  assert.deepEqual(dirs, [...loaded].sort());
  const lsmod = (await kctl(root, ["lsmod"])).stdout.split("\n").slice(1).filter((l) => l).map((l) =>
    l.split(/ +/)[0]
  );
  assert.deepEqual(lsmod, loaded);
  for (const name of loaded) {
    const users = loaded.filter((m) =>
      (m === "kvm" && name === "irqbypass") || (m === "kvm_intel" && name === "kvm")
    );
    assert.equal(read(root, `sys/module/${name}/refcnt`), `${users.length}\n`, name);
  }
  // Twelve parallel refused loads each leave their two kernel-log lines: no append was lost.
  await kctl(root, ["modprobe", "kvm"]);
  await kctl(root, ["dmesg", "-C"]);
  await Promise.all(
    Array.from({ length: 12 }, (_, i) => kctl(root, ["modprobe", "kvm_amd", `probe_${i}=1`])),
  );
  const log = (await kctl(root, ["dmesg", "-t"])).stdout;
  for (let i = 0; i < 12; i++) {
    assert.match(log, new RegExp(`^kvm_amd: unknown parameter 'probe_${i}' ignored$`, "m"));
  }
  assert.equal(log.match(/isn't AMD or Hygon/g)?.length, 12);
});

Deno.test("concurrency: parallel sysfs writes are each applied in full", async () => {
  const root = await tempRoot();
  await kctl(root, ["modprobe", "kvm"]);
  const values = Array.from({ length: 12 }, (_, i) => String(1000 + i));
  const results = await Promise.all(values.map((v) => kctl(root, ["param", "kvm", "halt_poll_ns", v])));
  assert.ok(results.every((r) => r.code === 0));
  const final = read(root, "sys/module/kvm/parameters/halt_poll_ns").trim();
  assert.ok(values.includes(final));
  assert.equal(
    JSON.parse(read(root, "state.json")).modules.find((m: { name: string }) => m.name === "kvm").params
      .halt_poll_ns,
    final,
  );
});

Deno.test("/sys/module stays when the last module is unloaded, as sysfs keeps it", async () => {
  const root = await tempRoot();
  assert.equal((await kctl(root, ["modprobe", "kvm_intel"])).code, 0);
  assert.equal((await kctl(root, ["modprobe", "-r", "kvm_intel", "irqbypass"])).code, 0);
  assert.deepEqual(JSON.parse(read(root, "state.json")).modules, []);
  assert.deepEqual([...Deno.readDirSync(`${root}/sys/module`)], []);
});
