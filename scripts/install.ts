/**
 * Installs the three tools as executables on PATH (`deno task install [--prefix DIR]`): small shell
 * wrappers that run this checkout's cli/ entry points with the same narrow permissions as the
 * deno.json tasks, which stay the single place those permissions are written down. The wrappers
 * call the Deno that ran the installer (the pinned one), and fall back to npx if it is gone.
 *
 * Installed names: qemu-system-x86_64, qemu-system-i386 and qemu-system (one tool), qemu-img, kvm-ctl.
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const DENO_VERSION = "2.9.6";
const project = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync(join(project, "deno.json"))).tasks;

const TOOLS: Record<string, string> = {
  "qemu-system-x86_64": "qemu-system",
  "qemu-system-i386": "qemu-system",
  "qemu-system": "qemu-system",
  "qemu-img": "qemu-img",
  "kvm-ctl": "kvm-ctl",
};

/** `deno run FLAGS cli/x.ts` from a task, with the entry point made absolute. */
function runArgs(task: string): string {
  const words = tasks[task].split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") throw new Error(`task ${task} is not a deno run`);
  return words.slice(2).map((w) => (w.startsWith("cli/") ? join(project, w) : w)).join(" ");
}

function wrapper(task: string): string {
  return `#!/bin/sh
# Installed by qemu-kvm-ts (deno task install); runs ${join(project, "cli")}.
# qemu-system names itself in messages by the name it was called by, as QEMU does.
export QEMU_SYSTEM_ARGV0="$(basename "$0")"
if [ -x ${Deno.execPath()} ]; then
  exec ${Deno.execPath()} run --quiet ${runArgs(task)} "$@"
fi
exec npx -y deno@${DENO_VERSION} run --quiet ${runArgs(task)} "$@"
`;
}

const prefixIndex = Deno.args.indexOf("--prefix");
const prefix = prefixIndex >= 0
  ? resolve(Deno.args[prefixIndex + 1])
  : join(Deno.env.get("HOME") ?? "/root", ".local");
const bin = join(prefix, "bin");
Deno.mkdirSync(bin, { recursive: true });
for (const [name, task] of Object.entries(TOOLS)) {
  Deno.writeTextFileSync(join(bin, name), wrapper(task), { mode: 0o755 });
  Deno.chmodSync(join(bin, name), 0o755);
}
console.log(`installed ${Object.keys(TOOLS).join(", ")} into ${bin}`);
if (!(Deno.env.get("PATH") ?? "").split(":").includes(bin)) console.log(`add ${bin} to PATH to use them`);
