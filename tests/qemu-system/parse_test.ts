/** qemu-system's command line, in process: every option lands in the MachineConfig, bad input throws QEMU's words. */
import assert from "node:assert/strict";
import { CliError, formatLine } from "../../cli/qemu-system/cli_error.ts";
import {
  type Invocation,
  parseCommandLine,
  type PrintAndExit,
  programFor,
} from "../../cli/qemu-system/parse.ts";
import { parseOpts } from "../../cli/qemu-system/qemu_opts.ts";
import { parseSize } from "../../cli/qemu-system/size.ts";

const X86_64 = programFor("/usr/local/bin/qemu-system-x86_64");

function parse(args: string[], warnings: string[] = []): Invocation {
  const result = parseCommandLine(args, X86_64, (text, location, hint) => {
    warnings.push(
      formatLine(X86_64.name, { text: `warning: ${text}`, location }) + (hint ? `\n${hint}` : ""),
    );
  });
  assert.equal(result.kind, "run");
  return result as Invocation;
}

function printed(args: string[]): PrintAndExit {
  const result = parseCommandLine(args, X86_64, () => {});
  assert.equal(result.kind, "print");
  return result as PrintAndExit;
}

/** The stderr text QEMU would print for a command line that fails to parse. */
function failure(args: string[]): string {
  try {
    parseCommandLine(args, X86_64, () => {});
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    return e.lines.map((l) => formatLine(X86_64.name, l)).join("\n");
  }
  assert.fail(`${args.join(" ")} parsed`);
}

Deno.test("suboption lists: implied key, ,, escaping, short-form booleans", () => {
  const warnings: string[] = [];
  const warn = (text: string) => warnings.push(text);
  assert.deepEqual(parseOpts("pc,accel=kvm", "type", "-machine", warn), [
    { key: "type", value: "pc" },
    { key: "accel", value: "kvm" },
  ]);
  assert.deepEqual(parseOpts("file=a,,b.qcow2,format=qcow2", undefined, "-drive", warn), [
    { key: "file", value: "a,b.qcow2" },
    { key: "format", value: "qcow2" },
  ]);
  assert.deepEqual(parseOpts("x=1,flag", undefined, "-o", warn), [{ key: "x", value: "1" }, {
    key: "flag",
    value: "on",
  }]);
  assert.deepEqual(warnings, ["short-form boolean option 'flag' deprecated"]);
});

Deno.test("sizes follow qemu_strtosz", () => {
  assert.equal(parseSize("128M"), 128 << 20);
  assert.equal(parseSize("1.5G"), 1.5 * 2 ** 30);
  assert.equal(parseSize("4k"), 4096);
  assert.equal(parseSize("512"), 512);
  assert.equal(parseSize("0x10M"), 16 << 20);
  for (const bad of ["abc", "1x", "-5", "", "1.5B", "99999999E"]) {
    assert.equal(parseSize(bad), undefined, bad);
  }
});

Deno.test("defaults: tcg, 128 MiB, qemu64 on x86_64 and qemu32 on i386, serial to null", () => {
  const { config } = parse([]);
  assert.deepEqual(config.accel, ["tcg"]);
  assert.equal(config.ramSize, 128 << 20);
  assert.equal(config.cpuModel, "qemu64");
  assert.deepEqual(config.serial, [{ kind: "null" }]);
  assert.equal(config.bootOrder, "cad");
  const i386 = parseCommandLine([], programFor("qemu-system-i386"), () => {}) as Invocation;
  assert.equal(i386.config.cpuModel, "qemu32");
});

Deno.test("-machine, -M, -accel, -enable-kvm", () => {
  assert.deepEqual(parse(["-M", "pc"]).config.accel, ["tcg"]);
  assert.deepEqual(parse(["-machine", "pc-i440fx-7.2,accel=kvm:tcg"]).config.accel, ["kvm", "tcg"]);
  assert.deepEqual(parse(["-machine", "type=pc,usb=off"]).config.accel, ["tcg"]);
  assert.deepEqual(parse(["-accel", "tcg,thread=single"]).config.accel, ["tcg"]);
  assert.deepEqual(parse(["-accel", "kvm", "-accel", "tcg"]).config.accel, ["kvm", "tcg"]);
  assert.deepEqual(parse(["-enable-kvm"]).config.accel, ["kvm"]);
  assert.equal(parse(["-accel", "kvm"]).accelLocation, "-accel kvm");
  assert.equal(parse(["--enable-kvm"]).accelLocation, undefined);
  assert.match(printed(["-machine", "help"]).stdout, /^Supported machines are:\npc {2}/);
  assert.equal(printed(["-accel", "help"]).stdout, "Accelerators supported in QEMU binary:\ntcg\nkvm\n");
});

Deno.test("-cpu model and features, -smp 1", () => {
  const { config } = parse(["-cpu", "pentium3,+sse,-mmx,vmx=on,pni=off", "-smp", "1"]);
  assert.equal(config.cpuModel, "pentium3");
  assert.deepEqual(config.cpuFeatures, [
    { name: "sse", enabled: true },
    { name: "mmx", enabled: false },
    { name: "vmx", enabled: true },
    { name: "pni", enabled: false },
  ]);
  parse(["-smp", "cpus=1,sockets=1,cores=1,threads=1"]);
  assert.match(printed(["-cpu", "help"]).stdout, /^Available CPUs:\nx86 486/);
});

Deno.test("-m takes MiB by default, suffixes, size=, and 0 for the default", () => {
  assert.equal(parse(["-m", "256"]).config.ramSize, 256 << 20);
  assert.equal(parse(["-m", "1G"]).config.ramSize, 1 << 30);
  assert.equal(parse(["-m", "size=64M,slots=2,maxmem=1G"]).config.ramSize, 64 << 20);
  assert.equal(parse(["-m", "0"]).config.ramSize, 128 << 20);
  assert.equal(parse(["-m", "100k"]).config.ramSize, 106496, "rounded up to 8 KiB");
  const warnings: string[] = [];
  assert.equal(parse(["-m", "0x10"], warnings).config.ramSize, 16 << 20);
  assert.deepEqual(warnings, [
    "qemu-system-x86_64: warning: Using a multiplier suffix on hex numbers is deprecated: 0x10M",
  ]);
});

Deno.test("-bios, -kernel, -initrd, -append", () => {
  const { config } = parse(["-bios", "b.bin", "-kernel", "k", "-initrd", "a,b", "-append", "console=ttyS0"]);
  assert.equal(config.bios, "b.bin");
  assert.equal(config.kernel, "k");
  assert.equal(config.initrd, "a,b");
  assert.equal(config.append, "console=ttyS0");
});

Deno.test("-drive, -hda..-hdd, -cdrom, a bare disk image, -snapshot, -boot", () => {
  const { config, driveLocations } = parse([
    "-drive",
    "file=d.qcow2,format=qcow2,if=ide,index=1,cache=none,snapshot=on",
    "-hda",
    "a.img",
    "-cdrom",
    "c.iso",
    "-hdd",
    "d.img",
    "-drive",
    "file=x.raw,if=none,readonly=on,media=disk,format=raw",
    "-snapshot",
    "-boot",
    "order=dc,menu=on",
  ]);
  assert.deepEqual(config.drives.map((d) => [d.file, d.interface, d.index, d.media]), [
    ["d.qcow2", "ide", 1, "disk"],
    ["a.img", "ide", 0, "disk"],
    ["c.iso", "ide", 2, "cdrom"],
    ["d.img", "ide", 3, "disk"],
    ["x.raw", "none", 4, "disk"],
  ]);
  assert.equal(config.drives[0].format, "qcow2");
  assert.equal(config.drives[0].cache, "none");
  assert.equal(config.drives[0].snapshot, true);
  assert.equal(config.drives[2].readOnly, true);
  assert.equal(config.drives[4].readOnly, true);
  assert.equal(config.snapshot, true);
  assert.equal(config.bootOrder, "dc");
  assert.equal(config.bootMenu, true);
  assert.equal(driveLocations[1], "-hda a.img");
  assert.deepEqual(parse(["disk.img"]).config.drives.map((d) => [d.file, d.index, d.media]), [
    ["disk.img", 0, "disk"],
    ["", 2, "cdrom"],
  ], "QEMU's default empty CD-ROM at ide1-cd0");
  assert.deepEqual(parse(["disk.img", "-nodefaults"]).config.drives.map((d) => d.file), ["disk.img"]);
  assert.equal(parse(["-drive", "file=a,,b.img,format=raw"]).config.drives[0].file, "a,b.img");
  // discard=: QEMU's default ignores the guest's discards; unmap/on passes them to the image.
  assert.deepEqual(
    ["unmap", "on", "ignore", "off"].map((v) =>
      parse(["-drive", `file=a.img,discard=${v}`]).config.drives[0].unmap
    ),
    [true, true, false, false],
  );
  assert.equal(parse(["-drive", "file=a.img"]).config.drives[0].unmap, undefined);
});

Deno.test("-serial, -nographic, -display none, -monitor, -debugcon", () => {
  assert.deepEqual(parse(["-nographic"]).config.serial, [{ kind: "mux-stdio" }]);
  assert.deepEqual(parse(["-serial", "stdio", "-display", "none"]).config.serial, [{ kind: "stdio" }]);
  assert.deepEqual(parse(["-serial", "mon:stdio", "-nographic"]).config.serial, [{ kind: "mux-stdio" }]);
  assert.deepEqual(parse(["-serial", "file:/tmp/out", "-serial", "null", "-serial", "none"]).config.serial, [
    { kind: "file", path: "/tmp/out" },
    { kind: "null" },
  ]);
  assert.deepEqual(parse(["-serial", "none"]).config.serial, []);
  assert.deepEqual(parse(["-nodefaults"]).config.serial, []);
  const nographicFile = parse(["-nographic", "-serial", "file:x"]).config;
  assert.deepEqual(nographicFile.monitor, { kind: "mux-stdio" });
  assert.equal(parse(["-monitor", "none"]).config.monitor, undefined);
  assert.deepEqual(parse(["-debugcon", "file:dbg.log"]).config.debugcon, { kind: "file", path: "dbg.log" });
  assert.equal(printed(["-display", "help"]).stdout, "Available display backend types:\nnone\n");
});

Deno.test("-device isa-debug-exit, -no-reboot, -no-shutdown, -name, -pidfile, -d, -D, -rtc", () => {
  const { config } = parse([
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=0x04",
    "-device",
    "isa-debug-exit",
    "-no-reboot",
    "-no-shutdown",
    "-name",
    "guest1,process=q1",
    "-pidfile",
    "q.pid",
    "-d",
    "in_asm,int,cpu,exec,cpu_reset,guest_errors,unimp",
    "-D",
    "q.log",
    "-rtc",
    "base=2006-06-17T16:01:21,clock=vm,driftfix=slew",
  ]);
  assert.deepEqual(config.isaDebugExit, [{ iobase: 0xf4, iosize: 4 }, { iobase: 0x501, iosize: 2 }]);
  assert.equal(config.noReboot, true);
  assert.equal(config.noShutdown, true);
  assert.equal(config.name, "guest1");
  assert.equal(config.pidfile, "q.pid");
  assert.deepEqual([...config.log], ["in_asm", "int", "cpu", "exec", "cpu_reset", "guest_errors", "unimp"]);
  assert.equal(config.logFile, "q.log");
  assert.deepEqual(config.rtc, { base: "2006-06-17T16:01:21", clock: "vm", driftfix: "slew" });
  assert.equal(parse(["-rtc", "base=localtime"]).config.rtc.base, "localtime");
  const d = printed(["-d", "help"]);
  assert.equal(d.exitCode, 1);
  assert.match(d.stdout, /^Log items \(comma separated\):\nout_asm {9}show generated/);
});

Deno.test("-version and -h keep QEMU's first-line shape", () => {
  const version = printed(["-version"]);
  assert.equal(version.exitCode, 0);
  assert.match(version.stdout.split("\n")[0], /^QEMU emulator version 7\.2\.\d+ \(qemu-kvm-ts [0-9.]+\)$/);
  for (const flag of ["-h", "-help", "--help"]) {
    const help = printed([flag]).stdout;
    assert.match(help, /^QEMU emulator version /);
    assert.match(help, /\nusage: qemu-system-x86_64 \[options\] \[disk_image\]\n/);
    for (
      const option of ["-machine", "-accel", "-drive", "-serial", "-kernel", "-d item1", "-rtc", "-pidfile"]
    ) {
      assert.ok(help.includes(`\n${option}`), option);
    }
  }
});

Deno.test("errors read as QEMU's, with the option as location where QEMU gives one", () => {
  const cases: [string[], string][] = [
    [["-foo"], "qemu-system-x86_64: -foo: invalid option"],
    [["--foo"], "qemu-system-x86_64: --foo: invalid option"],
    [["-m"], "qemu-system-x86_64: -m: requires an argument"],
    [
      ["-machine", "q35x"],
      "qemu-system-x86_64: unsupported machine type\nUse -machine help to list supported machines",
    ],
    [["-accel", "foo"], "qemu-system-x86_64: -accel foo: invalid accelerator foo"],
    [["-machine", "accel=xen"], "qemu-system-x86_64: invalid accelerator xen"],
    [["-cpu", "foo"], "qemu-system-x86_64: unable to find CPU model 'foo'"],
    [
      ["-smp", "4"],
      "qemu-system-x86_64: Invalid SMP CPUs 4. The max CPUs supported by machine 'pc-i440fx-7.2' is 1",
    ],
    [["-drive", "if=scsi,file=x"], "qemu-system-x86_64: -drive if=scsi,file=x: unsupported bus type 'scsi'"],
    [["-device", "e1000"], "qemu-system-x86_64: -device e1000: 'e1000' is not a valid device model name"],
    [["-display", "sdl"], "qemu-system-x86_64: -display sdl: Display 'sdl' is not available."],
    [["-initrd", "x"], "qemu-system-x86_64: -initrd only allowed with -kernel option"],
    [
      ["-serial", "stdio", "-monitor", "stdio"],
      "qemu-system-x86_64: -serial stdio: cannot use stdio by multiple character devices\n" +
      "qemu-system-x86_64: -serial stdio: could not connect serial device to character backend 'stdio'",
    ],
  ];
  for (const [args, text] of cases) assert.equal(failure(args), text, args.join(" "));
});

Deno.test("the program name follows argv[0]", () => {
  assert.equal(programFor("/usr/bin/qemu-system-i386").name, "qemu-system-i386");
  assert.equal(programFor("/opt/x/myq").name, "myq");
  const i386 = programFor("qemu-system-i386");
  try {
    parseCommandLine(["-foo"], i386, () => {});
    assert.fail("parsed");
  } catch (e) {
    assert.equal(formatLine(i386.name, (e as CliError).lines[0]), "qemu-system-i386: -foo: invalid option");
  }
});
