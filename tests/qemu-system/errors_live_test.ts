/**
 * Bad command lines, side by side with Debian's qemu-system-x86_64: ours must print the same
 * stdout and stderr and exit with the same status. Each case runs with `-display none -nodefaults`
 * so the real tool never opens a window or boots a guest. Ours runs in process (every case fails
 * before a guest would start), which keeps seventy-odd comparisons to a few seconds; machine_test.ts
 * covers the entry point as a subprocess.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { main } from "../../cli/qemu-system.ts";
import { REAL_QEMU_I386, skipReason } from "../support/tools.ts";

const REAL = REAL_QEMU_I386?.replace(/i386$/, "x86_64");
const CWD = Deno.makeTempDirSync({ prefix: "qemu-system-errors-" });
const HOSTNAME_FILE = `${CWD}/small.img`;
const LINUX_GUEST = fileURLToPath(new URL("../guests/pc/linux_boot.bin", import.meta.url));
const MULTIBOOT_GUEST = fileURLToPath(new URL("../guests/demo/demo.bin", import.meta.url));
Deno.writeTextFileSync(HOSTNAME_FILE, "not a disk\n");

export const ERROR_CASES: string[][] = [
  ["-foo"],
  ["--foo"],
  ["-m"],
  ["-drive"],
  ["-m", "abc"],
  ["-m", "1x"],
  ["-m", "100000G"],
  ["-machine", "foo"],
  ["-machine", "pc,foo=bar"],
  ["-machine", "pc,accel=foo"],
  ["-accel", "foo"],
  ["-accel", "tcg,foo=1"],
  ["-accel", "kvm:tcg"],
  ["-accel", "kvm"],
  ["-enable-kvm"],
  ["-machine", "pc,accel=kvm"],
  ["-cpu", "foo"],
  ["-cpu", "qemu64,+foo"],
  ["-cpu", "qemu64,sse=maybe"],
  ["-smp", "foo"],
  ["-smp", "1,cores=x"],
  ["-serial", "foo"],
  ["-serial", "file:/nonexistent/dir/x"],
  ["-serial", "stdio", "-serial", "stdio"],
  ["-serial", "stdio", "-monitor", "stdio"],
  ["-debugcon", "foo"],
  ["-monitor", "foo"],
  ["-drive", "if=foo"],
  ["-drive", "if=ide"],
  ["-drive", "file.qcow2"],
  ["-drive", "file=x,format=foo"],
  ["-drive", `file=${HOSTNAME_FILE},media=foo`],
  ["-drive", `file=${HOSTNAME_FILE},index=x`],
  ["-drive", `file=${HOSTNAME_FILE},cache=foo`],
  ["-drive", `file=${HOSTNAME_FILE},snapshot=x`],
  ["-drive", `file=${HOSTNAME_FILE},discard=foo`],
  ["-drive", `file=${HOSTNAME_FILE},format=raw,if=ide,index=9`],
  ["-drive", `file=${HOSTNAME_FILE},format=raw`, "-drive", `file=${HOSTNAME_FILE},format=raw,index=0`],
  ["-drive", "file=/nonexistent.qcow2,format=qcow2"],
  ["-hda", "/nonexistent"],
  ["/nonexistent"],
  ["-display", "foo"],
  ["-display", "none,foo=1"],
  ["-boot", "order=z"],
  ["-boot", "order=cc"],
  ["-boot", "order=cdna"],
  ["-boot", "once=e"],
  ["-boot", "order=cx,menu=maybe"],
  ["-rtc", "base=foo"],
  ["-rtc", "foo=1"],
  ["-rtc", "base=utc,clock=foo"],
  ["-device", "foo"],
  ["-device", "isa-debug-exit,iobase=zz"],
  ["-device", "isa-debug-exit,foo=1"],
  ["-name", "foo,bar=1"],
  ["-initrd", "x"],
  ["-initrd", "/x", "-append", "y"],
  ["-kernel", "/nonexistent"],
  ["-kernel", HOSTNAME_FILE],
  ["-kernel", "/dev/null"],
  ["-kernel", CWD],
  ["-kernel", LINUX_GUEST, "-initrd", "/nonexistent"],
  ["-kernel", MULTIBOOT_GUEST, "-initrd", "/nonexistent"],
  ["-drive", `file=${CWD},format=raw`],
  ["-cdrom", HOSTNAME_FILE, "-kernel", "/nonexistent"],
  ["-smp", "cpus=1,maxcpus=4", "-kernel", "/nonexistent"],
  ["-bios", "/nonexistent"],
  ["-pidfile", "/nonexistent/dir/p"],
  ["-D", "/nonexistent/dir/x", "-d", "int"],
  ["-d", "foo"],
  ["-d", "help"],
  ["-machine", "accel=kvm:tcg", "-kernel", "/nonexistent"],
  ["-machine", "help"],
  ["-version"],
];

async function real(args: string[]) {
  const out = await new Deno.Command(REAL!, {
    args: [...args, "-display", "none", "-nodefaults"],
    cwd: CWD,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Runs `count` jobs with at most `width` at once. */
async function pool<T>(count: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  }));
  return results;
}

Deno.test({
  name: `bad command lines get qemu-system-x86_64's exact output and status${
    skipReason(REAL, "qemu-system-x86")
  }`,
  ignore: !REAL,
  sanitizeResources: false,
  async fn() {
    const mismatches: string[] = [];
    await pool(ERROR_CASES.length, 4, async (i) => {
      const args = ERROR_CASES[i];
      const theirs = await real(args);
      const ours = { code: 0, stdout: "", stderr: "" };
      ours.code = await main([...args, "-display", "none", "-nodefaults"], "qemu-system-x86_64", {
        stdout: (text) => void (ours.stdout += text),
        stderr: (text) => void (ours.stderr += text),
      });
      // The version text is where ours says what it is; only its first-line shape must match.
      if (args[0] === "-version") {
        assert.match(ours.stdout, /^QEMU emulator version 7\.2\.\d+ \(/);
        assert.equal(ours.code, theirs.code);
        return;
      }
      // -machine help lists QEMU's many machine types; ours lists the one it has, in the same format.
      if (args[1] === "help") {
        assert.equal(ours.code, theirs.code);
        const firstLine = (s: string) => s.split("\n")[0];
        assert.equal(firstLine(ours.stdout), firstLine(theirs.stdout));
        for (const line of ours.stdout.trim().split("\n")) assert.ok(theirs.stdout.includes(line), line);
        return;
      }
      for (const key of ["code", "stdout", "stderr"] as const) {
        if (ours[key] !== theirs[key]) {
          mismatches.push(
            `${args.join(" ")}: ${key}\n  real: ${JSON.stringify(theirs[key])}\n  ours: ${
              JSON.stringify(ours[key])
            }`,
          );
        }
      }
    });
    assert.deepEqual(mismatches, []);
  },
});
