/** examples/kvm-hello.ts as a user runs it: ENOENT without the modules, then the guest's exits. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../support/tools.ts";
import { kctl, rootWith } from "./support/setup.ts";

async function hello(root: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run=sh",
      join(PROJECT, "examples/kvm-hello.ts"),
      root,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("kvm-hello: open fails without the modules; with kvm_intel the guest runs and its exits print", async () => {
  const root = await rootWith();
  let r = await hello(root);
  assert.deepEqual(r, { code: 1, stdout: "", stderr: "open /dev/kvm: No such file or directory\n" });
  assert.equal((await kctl(root, ["modprobe", "kvm_intel"])).code, 0);
  r = await hello(root);
  const io = "KVM_EXIT_IO: out port 0x3f8, size 1, count 1\n";
  assert.deepEqual(r, { code: 0, stdout: "4\n", stderr: `${io}${io}KVM_EXIT_HLT\n` });
});
