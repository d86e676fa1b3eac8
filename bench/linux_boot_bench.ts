/**
 * The Linux boot benchmark of issue 7 (`deno task bench linux_boot`): Debian's i386 kernel with the
 * busybox initramfs and ext4 disk of scripts/linux_guest.ts, booted with the issue's command line, in
 * one run, on our qemu-system (tcg), Debian's qemu-system-i386 (TCG) and v86 (npm `v86`, with Debian's
 * SeaBIOS, its bzImage/initrd options and the disk as a raw image, since v86 reads no qcow2). Each
 * emulator's serial console is driven the same way: time to the shell prompt, then the issue's
 * commands (uname, /proc/cpuinfo, ls, dmesg | tail, a loop, mount, a write, sync) and `poweroff -f`,
 * timed to the end of the process (v86 has no ACPI soft-off: its child ends at "reboot: System halted").
 * Prints a markdown table with ours : it ratios; the issue's target is ours <= 3x v86 to the prompt.
 *
 * `--tools=ours,ours-kvm,qemu,v86` picks emulators (default all four). Every emulator runs as a child process from spawn to exit (v86 through this file with `--v86`,
 * which bridges v86's COM1 to stdin/stdout), so the walls are alike. Skipped by name when guest/ is
 * not built (`deno task linux-guest`). One run each (a boot of ours takes minutes); the machine is
 * shared, so the load average is printed with the table.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { SerialConsole } from "../tests/e2e/serial_console.ts";

const PROJECT = join(dirname(fileURLToPath(import.meta.url)), "..");
const GUEST = join(PROJECT, "guest");
const VMLINUZ = join(GUEST, "vmlinuz");
const INITRD = join(GUEST, "initrd.gz");
const DISK = join(GUEST, "disk.qcow2");
const QEMU = "/usr/bin/qemu-system-i386";
const SEABIOS = "/usr/share/seabios/bios.bin";
const RAM_MB = 256;
const PROMPT = "guest# ";
/** How the kernel's `poweroff -f` ends: ACPI S5 (QEMU, ours), or a halt where there is no ACPI (v86). */
const POWER_DOWN = /reboot: (Power down|System halted)/;
const PROMPT_TIMEOUT_MS = 1_800_000;
const COMMAND_TIMEOUT_MS = 120_000;
const TARGET_RATIO = 3;

/** The issue's commands, after the prompt; `poweroff -f` follows. */
const COMMANDS = [
  "uname -a",
  "cat /proc/cpuinfo",
  "ls /",
  "dmesg | tail",
  "for i in 1 2 3; do echo loop$((i * i)); done",
  "mount /dev/sda /mnt",
  "echo 'written by the guest' > /mnt/bench.txt",
  "sync",
];

interface Times {
  prompt: number;
  poweroff: number;
}

type Outcome = Times | { error: string };

function present(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const issueArgs = (disk: string, format: string) => [
  "-kernel",
  VMLINUZ,
  "-initrd",
  INITRD,
  "-append",
  "console=ttyS0",
  "-nographic",
  "-m",
  String(RAM_MB),
  "-drive",
  `file=${disk},format=${format},if=ide`,
];

/** Drives one emulator's console: prompt, commands, poweroff; times in seconds from spawn. */
async function drive(command: string, args: string[]): Promise<Times> {
  const console_ = new SerialConsole(command, args);
  try {
    await console_.expect(PROMPT, PROMPT_TIMEOUT_MS);
    const prompt = console_.elapsed();
    for (const cmd of COMMANDS) await console_.command(cmd, PROMPT, COMMAND_TIMEOUT_MS);
    await console_.send("poweroff -f\n");
    const status = await console_.waitExit(COMMAND_TIMEOUT_MS);
    if (!status) throw new Error("poweroff -f did not end the process");
    if (status.code !== 0) throw new Error(`exit status ${status.code} after poweroff -f`);
    return { prompt, poweroff: console_.elapsed() };
  } finally {
    await console_.close();
  }
}

async function measure(run: (dir: string) => Promise<Times>): Promise<Outcome> {
  const dir = Deno.makeTempDirSync({ prefix: "linux-boot-bench-" });
  try {
    return await run(dir);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** The `deno run` words of one of our tools' deno.json task (its permissions and script). */
function taskWords(tool: "qemu-system" | "kvm-ctl"): string[] {
  const task: string = JSON.parse(Deno.readTextFileSync(join(PROJECT, "deno.json"))).tasks[tool];
  return task.split(/\s+/).slice(2).map((w) => (w.startsWith("cli/") ? join(PROJECT, w) : w));
}

function ours(dir: string): Promise<Times> {
  const disk = join(dir, "disk.qcow2");
  Deno.copyFileSync(DISK, disk);
  return drive(Deno.execPath(), ["run", "--quiet", ...taskWords("qemu-system"), ...issueArgs(disk, "qcow2")]);
}

/** Ours with -enable-kvm, after `kvm-ctl modprobe kvm_intel` in a state directory of its own. */
async function oursKvm(dir: string): Promise<Times> {
  const root = join(dir, "kvm"), disk = join(dir, "disk.qcow2");
  Deno.copyFileSync(DISK, disk);
  const load = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...taskWords("kvm-ctl"), "--root", root, "modprobe", "kvm_intel"],
  }).output();
  if (!load.success) throw new Error(`kvm-ctl modprobe kvm_intel: ${new TextDecoder().decode(load.stderr)}`);
  // The child inherits the state directory when drive() spawns it, before its first await.
  Deno.env.set("KVM_CTL_ROOT", root);
  try {
    return drive(Deno.execPath(), [
      "run",
      "--quiet",
      ...taskWords("qemu-system"),
      "-enable-kvm",
      ...issueArgs(disk, "qcow2"),
    ]);
  } finally {
    Deno.env.delete("KVM_CTL_ROOT");
  }
}

function qemu(dir: string): Promise<Times> {
  const disk = join(dir, "disk.qcow2");
  Deno.copyFileSync(DISK, disk);
  return drive(QEMU, issueArgs(disk, "qcow2"));
}

async function v86(dir: string): Promise<Times> {
  const raw = join(dir, "disk.raw");
  const convert = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      join(PROJECT, "cli", "qemu-img.ts"),
      "convert",
      "-f",
      "qcow2",
      "-O",
      "raw",
      DISK,
      raw,
    ],
  }).output();
  if (!convert.success) throw new Error("qemu-img convert failed");
  const self = fileURLToPath(import.meta.url);
  return drive(Deno.execPath(), [
    "run",
    "--quiet",
    "--no-lock",
    "--allow-read",
    "--allow-env",
    self,
    "--v86",
    raw,
  ]);
}

/**
 * v86 as a child with its COM1 on stdin/stdout, the way -nographic puts QEMU's: boots the kernel,
 * initrd and raw disk, and exits 0 once the kernel says it powered down or halted.
 */
async function v86Child(rawDisk: string): Promise<never> {
  const { V86 } = await import("v86");
  const wasm = join(dirname(createRequire(import.meta.url).resolve("v86")), "v86.wasm");
  const emulator = new V86({
    wasm_path: wasm,
    memory_size: RAM_MB << 20,
    vga_memory_size: 2 << 20,
    bios: { buffer: Deno.readFileSync(SEABIOS).buffer },
    bzimage: { buffer: Deno.readFileSync(VMLINUZ).buffer },
    initrd: { buffer: Deno.readFileSync(INITRD).buffer },
    cmdline: "console=ttyS0",
    hda: { buffer: Deno.readFileSync(rawDisk).buffer },
    autostart: true,
    disable_speaker: true,
  });
  let line = "";
  emulator.add_listener("serial0-output-byte", (byte: number) => {
    Deno.stdout.writeSync(Uint8Array.of(byte));
    line = byte === 10 ? "" : line + String.fromCharCode(byte);
    if (POWER_DOWN.test(line)) Deno.exit(0);
  });
  const decoder = new TextDecoder();
  for await (const chunk of Deno.stdin.readable) emulator.serial0_send(decoder.decode(chunk));
  // stdin closed: the driver is gone.
  Deno.exit(1);
}

const f = (v: number) => v.toFixed(1);

async function main(): Promise<void> {
  const built = [VMLINUZ, INITRD, DISK].every(present);
  console.log(
    `Linux boot benchmark, ${new Date().toISOString().slice(0, 10)}, ${Deno.build.target}, ` +
      `${navigator.hardwareConcurrency} cores, load average ${
        Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
      }`,
  );
  if (!built) {
    console.log("\nnot measured (skipped: guest/ not built, run `deno task linux-guest`)");
    return;
  }
  console.log(
    `Guest: guest/vmlinuz, guest/initrd.gz, guest/disk.qcow2; -m ${RAM_MB}, console=ttyS0; ` +
      "times from spawn, seconds.\n",
  );
  const tools: [string, (dir: string) => Promise<Times>, string | undefined][] = [
    ["qemu-kvm-ts qemu-system (tcg)", ours, undefined],
    ["qemu-kvm-ts qemu-system (-enable-kvm)", oursKvm, undefined],
    ["qemu-system-i386 7.2 TCG", qemu, present(QEMU) ? undefined : `${QEMU} not installed`],
    ["v86 0.5.462 (npm)", v86, present(SEABIOS) ? undefined : `${SEABIOS} not installed`],
  ];
  const wanted = Deno.args.find((a) => a.startsWith("--tools="))?.slice(8).split(",") ??
    ["ours", "ours-kvm", "qemu", "v86"];
  const results: [string, Outcome][] = [];
  for (const [i, [name, run, missing]] of tools.entries()) {
    const skipped = !wanted.includes(["ours", "ours-kvm", "qemu", "v86"][i]);
    results.push([
      name,
      skipped ? { error: "not selected" } : missing ? { error: missing } : await measure(run),
    ]);
  }
  const mine = results[0][1];
  console.log("| Emulator | Prompt (s) | Poweroff (s) | Ours : it, prompt | Ours : it, poweroff | Note |");
  console.log("| --- | ---: | ---: | ---: | ---: | --- |");
  for (const [name, r] of results) {
    if ("error" in r) {
      console.log(`| ${name} | - | - | - | - | not measured: ${r.error} |`);
      continue;
    }
    const ratio = (a: number, b: number) => ("error" in mine ? "-" : (a / b).toFixed(2));
    console.log(
      `| ${name} | ${f(r.prompt)} | ${f(r.poweroff)} | ${
        ratio("prompt" in mine ? mine.prompt : 0, r.prompt)
      } | ` +
        `${ratio("poweroff" in mine ? mine.poweroff : 0, r.poweroff)} | |`,
    );
  }
  const v = results[3][1];
  if (!("error" in mine) && !("error" in v)) {
    const ratio = mine.prompt / v.prompt;
    console.log(
      `\nTarget: ours <= ${TARGET_RATIO}x v86 to the prompt; ours ${ratio.toFixed(2)}x ` +
        `(${ratio <= TARGET_RATIO ? "met" : "not met"}).`,
    );
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--v86") await v86Child(Deno.args[1]);
  else await main();
}
