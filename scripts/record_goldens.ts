/**
 * Records what Debian's qemu-system-i386 (TCG) prints for each test guest: the golden files the
 * differential tests compare our machine against (`deno run ... scripts/record_goldens.ts [PATH...]`).
 *
 * For tests/guests/<dir>/<name>.bin it writes tests/golden/<dir>/<name>.txt (the serial output,
 * byte for byte) and tests/golden/<dir>/<name>.exit (QEMU's exit status, or "timeout"). A guest
 * source may add QEMU options on one of its first lines with `; qemu: ARGS` (e.g. `-cpu pentium3`),
 * and opt out of recording with `; golden: none` (a guest QEMU's TCG cannot run, such as VMX).
 *
 * The QEMU command line is fixed here so regenerating is one command:
 *   qemu-system-i386 -kernel G.bin -display none -serial stdio -no-reboot -m 128 \
 *     -device isa-debug-exit,iobase=0xf4,iosize=0x04 [ARGS]
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const project = join(dirname(fileURLToPath(import.meta.url)), "..");
const guests = join(project, "tests", "guests");
const golden = join(project, "tests", "golden");
const QEMU = "/usr/bin/qemu-system-i386";
// QEMU writes serial output a byte per syscall: a 1 MB golden takes close to a minute on a busy machine.
const TIMEOUT_MS = 180_000;

export const QEMU_BASE_ARGS = [
  "-display",
  "none",
  "-serial",
  "stdio",
  "-no-reboot",
  "-m",
  "128",
  "-device",
  "isa-debug-exit,iobase=0xf4,iosize=0x04",
];

/** The `; key: value` directive from a guest source's first lines, if present. */
export function directive(source: string, key: string): string | undefined {
  const line = Deno.readTextFileSync(source).split("\n", 15).find((l) => l.startsWith(`; ${key}:`));
  return line?.slice(key.length + 3).trim();
}

function* binaries(dir: string): Generator<string> {
  for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory && entry.name !== "include") yield* binaries(path);
    else if (entry.isFile && entry.name.endsWith(".bin")) yield path;
  }
}

async function record(binary: string): Promise<string> {
  const source = binary.replace(/\.bin$/, ".asm");
  if (directive(source, "golden") === "none") return "skipped (golden: none)";
  const extra = directive(source, "qemu")?.split(/\s+/) ?? [];
  const child = new Deno.Command(QEMU, {
    args: ["-kernel", binary, ...QEMU_BASE_ARGS, ...extra],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
  const out = await child.output();
  clearTimeout(timer);
  const rel = relative(guests, binary).replace(/\.bin$/, "");
  const base = join(golden, rel);
  Deno.mkdirSync(dirname(base), { recursive: true });
  Deno.writeFileSync(`${base}.txt`, out.stdout);
  const status = out.signal === "SIGKILL" ? "timeout" : String(out.code);
  Deno.writeTextFileSync(`${base}.exit`, `${status}\n`);
  return `exit ${status}, ${out.stdout.length} bytes`;
}

if (import.meta.main) {
  const wanted = Deno.args.map((a) => join(Deno.cwd(), a));
  for (const binary of binaries(guests)) {
    if (wanted.length && !wanted.some((w) => binary.startsWith(w.replace(/\.(asm|bin)$/, "")))) continue;
    console.log(`${relative(project, binary)}: ${await record(binary)}`);
  }
}
