/** HMP `x/i` and `xp/i` print what QEMU 7.2's monitor prints for the same guest memory. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PROJECT, REAL_QEMU_I386, skipReason } from "../support/tools.ts";

const GUEST = join(PROJECT, "tests/guests/monitor/counter.bin");
const COMMANDS = ["stop", "x/6i 0x100020", "xp/3i 0x100000", "x/2i 0x100093"];

function readOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** Runs a qemu-system with HMP on stdio, types the commands once the guest has printed, returns the dump. */
async function hmpSession(command: string, args: string[]): Promise<string> {
  const serial = Deno.makeTempFileSync({ suffix: ".serial" });
  const child = new Deno.Command(command, {
    args: [...args, "-kernel", GUEST, "-display", "none", "-monitor", "stdio", "-serial", `file:${serial}`],
    cwd: PROJECT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const writer = child.stdin.getWriter();
  // The guest is in memory once it has printed (QEMU's multiboot ROM loads it only after SeaBIOS).
  for (let waited = 0; !readOrEmpty(serial).includes("counter guest") && waited < 20_000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await writer.write(new TextEncoder().encode(COMMANDS.join("\n") + "\nquit\n"));
  await writer.close();
  const out = await child.output();
  clearTimeout(timer);
  Deno.removeSync(serial);
  // The readline echo and prompts differ in cursor control only; keep the dump lines.
  // deno-lint-ignore no-control-regex
  return new TextDecoder().decode(out.stdout).replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/\r/g, "")
    .split("\n").filter((l) => /^0x[0-9a-f]{8}:/.test(l)).join("\n");
}

Deno.test({
  name: `hmp: x/i and xp/i disassemble as QEMU's monitor does${
    skipReason(REAL_QEMU_I386, "qemu-system-i386")
  }`,
  ignore: !REAL_QEMU_I386,
  async fn() {
    const real = await hmpSession(REAL_QEMU_I386!, []);
    const ours = await hmpSession(Deno.execPath(), [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net",
      join(PROJECT, "cli/qemu-system.ts"),
    ]);
    assert.equal(real.split("\n").length, 11, real);
    assert.equal(ours, real);
  },
});
