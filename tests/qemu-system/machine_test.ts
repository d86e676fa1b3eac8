/**
 * qemu-system as scripts use it, as a subprocess: the demo, a script-compatibility run against the
 * real qemu-system-i386, the Ctrl-A mux on stdio, -pidfile, -debugcon, -d cpu_reset and -accel kvm.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { HEADLESS_DEBUG_EXIT, PROJECT, REAL_QEMU_I386, runCli, skipReason } from "../support/tools.ts";

const DEMO = join(PROJECT, "tests", "guests", "demo", "demo.bin");
const ECHO = join(PROJECT, "tests", "guests", "pc", "serial_echo.bin");
const TMP = Deno.makeTempDirSync({ prefix: "qemu-system-machine-" });
const decoder = new TextDecoder();
const encoder = new TextEncoder();

Deno.test("deno task demo's command prints the greeting and the prime count, and exits 0", async () => {
  const result = await runCli("qemu-system", ["-nographic", "-kernel", DEMO]);
  assert.equal(result.stdout, Deno.readTextFileSync(join(PROJECT, "tests", "golden", "demo", "demo.txt")));
  assert.equal(result.stderr, "");
  assert.equal(result.code, 0);
});

const SCRIPT_ARGS = [
  "-kernel",
  DEMO,
  ...HEADLESS_DEBUG_EXIT,
];

Deno.test({
  name: `a script's isa-debug-exit command line gives the real tool's output and status${
    skipReason(REAL_QEMU_I386, "qemu-system-i386")
  }`,
  ignore: !REAL_QEMU_I386,
  async fn() {
    const real = await new Deno.Command(REAL_QEMU_I386!, { args: SCRIPT_ARGS, stdin: "null" }).output();
    const ours = await runCli("qemu-system", SCRIPT_ARGS);
    assert.equal(ours.stdout, decoder.decode(real.stdout));
    assert.equal(ours.code, real.code);
    assert.equal(ours.code, 1, "the demo writes 0 to isa-debug-exit: (0 << 1) | 1");
  },
});

/** Our qemu-system with piped stdio, for interactive tests. */
function spawn(args: string[]) {
  const tasks = JSON.parse(Deno.readTextFileSync(join(PROJECT, "deno.json"))).tasks;
  const words = tasks["qemu-system"].split(/\s+/).slice(2).map((w: string) =>
    w.startsWith("cli/") ? join(PROJECT, w) : w
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...words, ...args],
    cwd: TMP,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.getReader();
  let seen = "";
  return {
    child,
    async send(text: string) {
      await writer.write(encoder.encode(text));
    },
    /** Reads stdout until it contains `text`; returns everything read so far. */
    async until(text: string): Promise<string> {
      while (!seen.includes(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stdout ended before ${JSON.stringify(text)}: ${JSON.stringify(seen)}`);
        seen += decoder.decode(value);
      }
      return seen;
    },
    async finish() {
      await writer.close().catch(() => {});
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += decoder.decode(value);
      }
      const status = await child.status;
      const stderr = decoder.decode(await new Response(child.stderr).arrayBuffer());
      return { code: status.code, stdout: seen, stderr };
    },
  };
}

Deno.test("-nographic: input reaches COM1, Ctrl-A h prints the mux help, Ctrl-A x quits with status 0", async () => {
  const pidfile = join(TMP, "q.pid");
  const vm = spawn([
    "-nographic",
    "-kernel",
    ECHO,
    "-pidfile",
    pidfile,
    "-debugcon",
    `file:${join(TMP, "dbg")}`,
  ]);
  await vm.until("ready\n");
  assert.equal(
    Deno.readTextFileSync(pidfile),
    `${vm.child.pid}\n`,
    "-pidfile holds the process id while it runs",
  );
  await vm.send("hi");
  await vm.until("hi");
  await vm.send("\x01h");
  await vm.until("C-a C-a  sends C-a\n\r");
  await vm.send("\x01x");
  const result = await vm.finish();
  assert.equal(
    result.stdout,
    "ready\nhi\n\r" +
      "C-a h    print this help\n\r" +
      "C-a x    exit emulator\n\r" +
      "C-a s    save disk data back to file (if -snapshot)\n\r" +
      "C-a t    toggle console timestamps\n\r" +
      "C-a b    send break (magic sysrq)\n\r" +
      "C-a c    switch between console and monitor\n\r" +
      "C-a C-a  sends C-a\n\r" +
      "QEMU: Terminated\n\r",
  );
  assert.equal(result.code, 0);
  assert.equal(result.stderr, "");
  assert.throws(() => Deno.statSync(pidfile), Deno.errors.NotFound, "the pidfile is removed at exit");
  assert.equal(Deno.readTextFileSync(join(TMP, "dbg")), "debugcon ready\n", "-debugcon gets port 0xE9");
});

Deno.test("-serial stdio: the guest's input and output, and its own exit", async () => {
  const vm = spawn(["-display", "none", "-serial", "stdio", "-kernel", ECHO]);
  await vm.until("ready\n");
  await vm.send("echo\x01xq");
  const result = await vm.finish();
  assert.equal(result.stdout, "ready\necho\x01x\nbye\n", "no mux: Ctrl-A is an ordinary byte");
  assert.equal(result.code, 0);
});

Deno.test("-d cpu_reset -D FILE logs the CPU state at reset in QEMU's layout", async () => {
  const log = join(TMP, "reset.log");
  const result = await runCli("qemu-system", [
    "-kernel",
    DEMO,
    "-display",
    "none",
    "-d",
    "cpu_reset",
    "-D",
    log,
  ]);
  assert.equal(result.code, 0);
  const text = Deno.readTextFileSync(log);
  assert.match(
    text,
    /^CPU Reset \(CPU 0\)\nEAX=[0-9a-f]{8} EBX=[0-9a-f]{8} ECX=[0-9a-f]{8} EDX=[0-9a-f]{8}\n/,
  );
  assert.match(text, /\nCS =f000 ffff0000 0000ffff 00009b00\n/);
  assert.match(text, /\nGDT= {5}00000000 0000ffff\n/);
});

Deno.test("-accel kvm on a host without the kvm modules fails as QEMU does", async () => {
  const result = await runCli("qemu-system", ["-accel", "kvm", "-kernel", DEMO, "-display", "none"], {
    env: { QEMU_SYSTEM_ARGV0: "qemu-system-x86_64" },
  });
  assert.equal(
    result.stderr,
    "Could not access KVM kernel module: No such file or directory\n" +
      "qemu-system-x86_64: -accel kvm: failed to initialize kvm: No such file or directory\n",
  );
  assert.equal(result.code, 1);
});

Deno.test({
  name: `-d in_asm,int write QEMU's block and interrupt lines${
    skipReason(REAL_QEMU_I386, "qemu-system-i386")
  }`,
  ignore: !REAL_QEMU_I386,
  async fn() {
    const guest = join(PROJECT, "tests", "guests", "pc", "triple_fault.bin");
    const args = (
      log: string,
    ) => ["-kernel", guest, "-display", "none", "-no-reboot", "-d", "in_asm,int", "-D", log];
    const ourLog = join(TMP, "ours.log"), realLog = join(TMP, "real.log");
    await new Deno.Command(REAL_QEMU_I386!, { args: args(realLog), stdin: "null" }).output();
    const result = await runCli("qemu-system", args(ourLog));
    assert.equal(result.code, 0);
    const ours = Deno.readTextFileSync(ourLog), real = Deno.readTextFileSync(realLog);
    // QEMU's log starts in SeaBIOS and its multiboot option ROM; compare from the kernel's entry block.
    const entryBlock = (text: string) => {
      const start = text.indexOf("----------------\nIN: \n0x00100020:");
      return text.slice(start, text.indexOf("\n\n", start) + 2);
    };
    assert.match(entryBlock(ours), /movl {5}\$0x90000, %esp/);
    assert.equal(entryBlock(ours), entryBlock(real), "the entry block: address, bytes and AT&T text");
    // The double fault: QEMU numbers it 2 (it also logs the int3 as i=1), our count starts at the #GP.
    const doubleFault = (text: string) =>
      text.split("\n").find((l) => l.includes(" v=08 "))!.replace(/^ *\d+: /, "");
    assert.equal(doubleFault(ours), doubleFault(real));
  },
});

Deno.test({
  name: `a guest reset boots the kernel again, as under qemu-system-i386${
    skipReason(REAL_QEMU_I386, "qemu-system-i386")
  }`,
  ignore: !REAL_QEMU_I386,
  async fn() {
    const args = [
      "-kernel",
      join(PROJECT, "tests", "guests", "pc", "reset.bin"),
      ...HEADLESS_DEBUG_EXIT,
    ];
    const real = await new Deno.Command(REAL_QEMU_I386!, { args, stdin: "null" }).output();
    const ours = await runCli("qemu-system", args);
    assert.equal(ours.stdout, decoder.decode(real.stdout));
    assert.match(ours.stdout, /second boot/);
    assert.equal(ours.code, real.code);
  },
});

Deno.test("-no-shutdown: the guest's poweroff stops it, and the run ends only when the host says so", async () => {
  const vm = spawn(["-nographic", "-no-shutdown", "-kernel", DEMO]);
  await vm.until("Goodbye.\n");
  await new Promise((resolve) => setTimeout(resolve, 300));
  await vm.send("\x01x");
  const result = await vm.finish();
  assert.match(result.stdout, /Goodbye\.\nQEMU: Terminated\n\r$/);
  assert.equal(result.code, 0);
});

Deno.test("the x87 computes, and an unmasked x87 error with CR0.NE clear reaches IRQ13 (FERR#)", async () => {
  const result = await runCli("qemu-system", [
    "-kernel",
    join(PROJECT, "tests", "guests", "pc", "fpu_ferr.bin"),
    ...HEADLESS_DEBUG_EXIT,
  ]);
  assert.equal(
    result.stdout,
    "1+1 on the x87: 0x00000002\n" +
      "cr0.ne: 0x00000000\n" +
      "irq13 count: 0x00000001 #MF count: 0x00000000\n" +
      "status word seen: 0x00000004\n",
  );
  assert.equal(result.code, 1);
});

Deno.test("-monitor stdio: the human monitor answers on stdin, and quit ends the run with status 0", async () => {
  const vm = spawn(["-display", "none", "-serial", "null", "-monitor", "stdio", "-kernel", ECHO]);
  await vm.until("(qemu) ");
  await vm.send("info status\r");
  await vm.until("VM status: running\r\n");
  await vm.send("quit\r");
  const result = await vm.finish();
  assert.match(result.stdout, /^QEMU 7\.2\.\d+ monitor - type 'help' for more information\r\n\(qemu\) /);
  assert.equal(result.code, 0);
});
