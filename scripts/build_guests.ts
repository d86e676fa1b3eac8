/**
 * Assembles every guest in tests/guests/ with nasm (`deno task guests`). The binaries are committed
 * beside their sources so the suite runs without nasm; `--check` rebuilds into a temporary folder
 * and fails, naming each file, when a committed binary is stale or missing.
 *
 * A source may carry `; nasm: ARGS` on one of its first lines to replace the default `-f bin`.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../tests/guests/", import.meta.url));
const include = join(root, "include") + "/";

function* sources(dir: string): Generator<string> {
  for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory && entry.name !== "include") yield* sources(path);
    else if (entry.isFile && entry.name.endsWith(".asm")) yield path;
  }
}

function nasmArgs(source: string): string[] {
  const head = Deno.readTextFileSync(source).split("\n", 10);
  const line = head.find((l) => l.startsWith("; nasm:"));
  return line ? line.slice("; nasm:".length).trim().split(/\s+/) : ["-f", "bin"];
}

export function assemble(source: string, output: string): void {
  const result = new Deno.Command("nasm", {
    args: [...nasmArgs(source), "-I", include, "-o", output, source],
    stderr: "piped",
  }).outputSync();
  if (!result.success) throw new Error(new TextDecoder().decode(result.stderr).trim());
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const tmp = check ? Deno.makeTempDirSync({ prefix: "guests-" }) : "";
  const stale: string[] = [];
  let count = 0;
  try {
    for (const source of sources(root)) {
      const binary = source.replace(/\.asm$/, ".bin");
      count++;
      if (!check) {
        assemble(source, binary);
        continue;
      }
      const fresh = join(tmp, `${count}.bin`);
      assemble(source, fresh);
      let committed: Uint8Array | undefined;
      try {
        committed = Deno.readFileSync(binary);
      } catch { /* missing counts as stale */ }
      if (!committed || !sameBytes(committed, Deno.readFileSync(fresh))) stale.push(binary);
    }
  } finally {
    if (tmp) Deno.removeSync(tmp, { recursive: true });
  }
  if (stale.length) {
    console.error(`stale guest binaries (run \`deno task guests\`):\n  ${stale.join("\n  ")}`);
    Deno.exit(1);
  }
  console.log(`${count} guests ${check ? "up to date" : "assembled"}`);
}
