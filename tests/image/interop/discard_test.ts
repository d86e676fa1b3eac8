/**
 * What our qemu-img leaves on the host file, against the real tool's file after the same command:
 * freed clusters punched out where QEMU 7.2 discards them (shrink, snapshot delete/revert/create,
 * commit's emptying and its unmapping zero writes, convert -n), and zero clusters recorded where it
 * records them. Both start from identical files made by the real qemu-img and qemu-io; the real
 * tool then reads both results: the guest `map` and `check` must match byte for byte, and so must
 * the host file's own data/hole layout (`map -f raw`, from SEEK_DATA/SEEK_HOLE). `actual-size`
 * must agree to within 8 KiB: ext4 counts the blocks of its extent tree too, which depend on the
 * file's history, not on what either tool left in it.
 */
import assert from "node:assert/strict";
import { REAL_QEMU_IMG, REAL_QEMU_IO, skipReason } from "../../support/tools.ts";
import { runOursBatch, runReal, scratch } from "./side_by_side.ts";

const QEMU_IO = REAL_QEMU_IO;
const peers = REAL_QEMU_IMG && QEMU_IO ? "ok" : undefined;
const ignore = !peers;
const suffix = skipReason(peers, "/usr/bin/qemu-img and /usr/bin/qemu-io");

/** A setup step: a real qemu-img command line, or qemu-io commands on a file (`io`, format, file, ...). */
type Step = string[];

interface Scenario {
  /** Prefix of the scenario's file names, so all scenarios share one directory per tool. */
  name: string;
  setup: Step[];
  /** The qemu-img command line run by each tool (file names without the prefix). */
  op: string[];
  /** Files to compare afterwards, with their formats. */
  files: [string, string][];
}

const IMAGE = /^[\w-]+\.(qcow2|raw)$/;
const prefixed = (name: string, args: string[]) => args.map((a) => (IMAGE.test(a) ? `${name}-${a}` : a));

async function runSetup(dir: string, s: Scenario): Promise<void> {
  for (const step of s.setup) {
    if (step[0] === "io") {
      const [, format, file, ...commands] = step;
      const out = await new Deno.Command(QEMU_IO!, {
        args: ["-f", format, ...commands.flatMap((c) => ["-c", c]), `${s.name}-${file}`],
        cwd: dir,
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    } else {
      const r = await runReal(prefixed(s.name, step), dir);
      assert.equal(r.code, 0, `${step.join(" ")}: ${r.stderr}`);
    }
  }
}

/** What the real tool says about a file: guest map, check, host layout and actual size. */
async function describe(dir: string, file: string, format: string) {
  const real = async (...args: string[]) => {
    const r = await runReal(args, dir);
    return r.stdout + r.stderr;
  };
  const info = JSON.parse(await real("info", "-U", "--output=json", "-f", format, file));
  return {
    map: await real("map", "-U", "--output=json", "-f", format, file),
    check: format === "qcow2" ? await real("check", "-U", file) : "",
    host: await real("map", "-U", "--output=json", "-f", "raw", file),
    actualSize: info["actual-size"] as number,
  };
}

async function expectSameFiles(scenarios: Scenario[]): Promise<void> {
  const ours = await scratch("discard-ours-");
  const real = await scratch("discard-real-");
  try {
    for (const s of scenarios) {
      await runSetup(ours, s);
      await runSetup(real, s);
    }
    const oursResults = await runOursBatch(scenarios.map((s) => prefixed(s.name, s.op)), ours);
    for (const [i, s] of scenarios.entries()) {
      const r = await runReal(prefixed(s.name, s.op), real);
      assert.deepEqual(oursResults[i], r, `${s.name}: qemu-img ${s.op.join(" ")}`);
      for (const [file, format] of s.files) {
        const what = `${s.name}: ${file} after qemu-img ${s.op.join(" ")}`;
        const a = await describe(ours, `${s.name}-${file}`, format);
        const b = await describe(real, `${s.name}-${file}`, format);
        assert.equal(a.map, b.map, `${what}: map`);
        assert.equal(a.check, b.check, `${what}: check`);
        assert.equal(a.host, b.host, `${what}: host file layout`);
        assert.ok(
          Math.abs(a.actualSize - b.actualSize) <= 8192,
          `${what}: actual-size ${a.actualSize}, the real tool's ${b.actualSize}`,
        );
      }
    }
  } finally {
    await Deno.remove(ours, { recursive: true });
    await Deno.remove(real, { recursive: true });
  }
}

const base8M: Step[] = [
  ["create", "-q", "-f", "qcow2", "b.qcow2", "64M"],
  ["io", "qcow2", "b.qcow2", "write -P 1 0 8M"],
];
const overlay = (...commands: string[]): Step[] => [
  ...base8M,
  ["create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "t.qcow2"],
  ["io", "qcow2", "t.qcow2", ...commands],
];
const snapshotted: Step[] = [
  ["create", "-q", "-f", "qcow2", "a.qcow2", "64M"],
  ["io", "qcow2", "a.qcow2", "write -P 1 0 8M"],
  ["snapshot", "-c", "s1", "a.qcow2"],
  ["io", "qcow2", "a.qcow2", "write -P 2 0 8M"],
];
const convertTarget = (compat: string): Step[] => [
  ["create", "-q", "-f", "qcow2", "-o", `compat=${compat}`, "t.qcow2", "64M"],
  ["io", "qcow2", "t.qcow2", "write -P 1 0 8M"],
  ["create", "-q", "-f", "raw", "s.raw", "64M"],
  ["io", "raw", "s.raw", "write -P 3 0 1M", "write -P 4 16M 1M"],
];

Deno.test(`freed clusters leave the host file as the real tool leaves it${suffix}`, { ignore }, async () => {
  await expectSameFiles([
    {
      name: "shrink",
      setup: [["create", "-q", "-f", "qcow2", "a.qcow2", "64M"], [
        "io",
        "qcow2",
        "a.qcow2",
        "write -P 2 40M 8M",
        "write -P 1 0 8M",
      ]],
      op: ["resize", "--shrink", "a.qcow2", "32M"],
      files: [["a.qcow2", "qcow2"]],
    },
    {
      name: "snapdel",
      setup: snapshotted,
      op: ["snapshot", "-d", "s1", "a.qcow2"],
      files: [["a.qcow2", "qcow2"]],
    },
    {
      name: "snapapply",
      setup: snapshotted,
      op: ["snapshot", "-a", "s1", "a.qcow2"],
      files: [["a.qcow2", "qcow2"]],
    },
    {
      name: "snapnew",
      setup: snapshotted,
      op: ["snapshot", "-c", "s2", "a.qcow2"],
      files: [["a.qcow2", "qcow2"]],
    },
    {
      name: "commit",
      setup: overlay("write -P 2 0 4M", "write -z 4M 2M", "discard 6M 1M"),
      op: ["commit", "t.qcow2"],
      files: [["b.qcow2", "qcow2"], ["t.qcow2", "qcow2"]],
    },
    {
      name: "commitkeep",
      setup: overlay("write -P 2 0 4M", "write -z 4M 2M"),
      op: ["commit", "-d", "t.qcow2"],
      files: [["b.qcow2", "qcow2"], ["t.qcow2", "qcow2"]],
    },
    {
      // Snapshots rule out make_completely_empty(): the overlay is emptied by discarding.
      name: "commitsnap",
      setup: [...overlay("write -P 2 0 4M"), ["snapshot", "-c", "s", "t.qcow2"], [
        "io",
        "qcow2",
        "t.qcow2",
        "write -P 3 0 2M",
      ]],
      op: ["commit", "t.qcow2"],
      files: [["b.qcow2", "qcow2"], ["t.qcow2", "qcow2"]],
    },
    {
      name: "commitv2",
      setup: [
        ...base8M,
        ["create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "b.qcow2", "-F", "qcow2", "t.qcow2"],
        ["io", "qcow2", "t.qcow2", "write -P 2 0 4M"],
      ],
      op: ["commit", "t.qcow2"],
      files: [["b.qcow2", "qcow2"], ["t.qcow2", "qcow2"]],
    },
    {
      name: "commitraw",
      setup: [
        ["create", "-q", "-f", "raw", "b.raw", "64M"],
        ["io", "raw", "b.raw", "write -P 1 0 8M"],
        ["create", "-q", "-f", "qcow2", "-b", "b.raw", "-F", "raw", "t.qcow2"],
        ["io", "qcow2", "t.qcow2", "write -P 2 0 1M", "write -z 4M 2M"],
      ],
      op: ["commit", "t.qcow2"],
      files: [["b.raw", "raw"], ["t.qcow2", "qcow2"]],
    },
    {
      name: "convn",
      setup: convertTarget("1.1"),
      op: ["convert", "-n", "-f", "raw", "-O", "qcow2", "s.raw", "t.qcow2"],
      files: [["t.qcow2", "qcow2"]],
    },
    {
      name: "convnv2",
      setup: convertTarget("0.10"),
      op: ["convert", "-n", "-f", "raw", "-O", "qcow2", "s.raw", "t.qcow2"],
      files: [["t.qcow2", "qcow2"]],
    },
    {
      // -S 0: no BDRV_O_UNMAP, and zeros are written as data.
      name: "convnS0",
      setup: convertTarget("1.1"),
      op: ["convert", "-S", "0", "-n", "-f", "raw", "-O", "qcow2", "s.raw", "t.qcow2"],
      files: [["t.qcow2", "qcow2"]],
    },
  ]);
});

Deno.test(
  `zero clusters committed into a base without a backing file are recorded as the real tool does${suffix}`,
  { ignore },
  async () => {
    const scenario = (name: string, options: string): Scenario => ({
      name,
      setup: [
        ["create", "-q", "-f", "qcow2", "-o", options, "b.qcow2", "8M"],
        ["io", "qcow2", "b.qcow2", "write -P 5 2M 64k"],
        ["create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "t.qcow2"],
        [
          "io",
          "qcow2",
          "t.qcow2",
          "write -z 0 64k",
          "write -z 128k 4k",
          "write -z 204800 4096",
          "write -z 1M 100k",
        ],
        ["io", "qcow2", "t.qcow2", "write -z 2M 64k", "write -P 6 3M 64k"],
      ],
      op: ["commit", "t.qcow2"],
      files: [["b.qcow2", "qcow2"], ["t.qcow2", "qcow2"]],
    });
    await expectSameFiles([
      scenario("v3", "compat=1.1"),
      scenario("v2", "compat=0.10"),
      scenario("xl2", "extended_l2=on"),
    ]);
  },
);
