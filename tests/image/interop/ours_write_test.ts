/**
 * Images written by our qemu-img must be real qcow2: for a matrix of create options, conversions
 * and snapshot/commit/rebase/resize/amend runs, the real `qemu-img check` finds no errors or leaks
 * and the real `qemu-img compare` finds them equal to what they should hold. Create matrices are
 * also compared header for header: the real `info --output=json` of our file equals that of the
 * real tool's file made with the same options (only `actual-size`, host allocation, is dropped).
 */
import assert from "node:assert/strict";
import { REAL_QEMU_IMG, skipReason } from "../../support/tools.ts";
import { join } from "node:path";
import { main } from "../../../cli/qemu-img.ts";
import { captureOutput } from "../../../cli/qemu-img/report.ts";
import { runReal, scratch, writePattern } from "./side_by_side.ts";

const ignore = !REAL_QEMU_IMG;
const suffix = skipReason(REAL_QEMU_IMG, "/usr/bin/qemu-img");
const MiB = 1 << 20;

/**
 * Runs our qemu-img in this process on files of `dir`, by absolute path (the process's working
 * directory is shared with parallel tests, so it is never changed). Backing names after -b/-B
 * stay as written: images resolve them relative to their own directory, as QEMU does.
 */
async function ours(dir: string, ...args: string[]): Promise<void> {
  const abs = args.map((a, i) => {
    if (i > 0 && (args[i - 1] === "-b" || args[i - 1] === "-B")) return a;
    const m = /^(if=|of=)?(.+\.(raw|qcow2|img))$/.exec(a);
    return m ? `${m[1] ?? ""}${join(dir, m[2])}` : a;
  });
  const { result, stderr } = await captureOutput(() => main(abs));
  assert.equal(result, 0, `ours: qemu-img ${args.join(" ")}\n${stderr}`);
}

async function realOk(dir: string, ...args: string[]): Promise<string> {
  const r = await runReal(args, dir);
  assert.equal(r.code, 0, `real: qemu-img ${args.join(" ")}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

const dropActualSize = (json: string) =>
  json.replace(/\s*"actual-size": \d+,/g, "").replaceAll(/"filename": "[^"]*"/g, "");

/** 4 random clusters, 3 zero clusters, text, a random tail past 1 MiB; sparse to 8 MiB. */
async function source(dir: string): Promise<void> {
  const text = new TextEncoder().encode("the quick brown fox jumps over the lazy dog ".repeat(3000));
  await writePattern(`${dir}/src.raw`, 8 * MiB, [["random", 4 * 65536], [0, 3 * 65536], [0x20, 1000]]);
  const f = await Deno.open(`${dir}/src.raw`, { write: true });
  await f.seek(600000, Deno.SeekMode.Start);
  await f.write(text);
  await f.seek(MiB + 12345, Deno.SeekMode.Start);
  await f.write(crypto.getRandomValues(new Uint8Array(50000)));
  f.close();
}

const CREATE_MATRIX = [
  "",
  "compat=0.10",
  "cluster_size=512",
  "cluster_size=4k",
  "cluster_size=2M",
  "refcount_bits=1",
  "refcount_bits=64",
  "lazy_refcounts=on",
  "extended_l2=on",
  "compression_type=zstd",
  "preallocation=metadata",
  "preallocation=full",
];

Deno.test(
  `create matrix: our images have the real tool's headers and pass its check${suffix}`,
  { ignore },
  async () => {
    const dir = await scratch("create-");
    try {
      for (const [i, o] of CREATE_MATRIX.entries()) {
        const opts = o ? ["-o", o] : [];
        await ours(dir, "create", "-q", "-f", "qcow2", ...opts, `o${i}.qcow2`, "3M");
        await realOk(dir, "create", "-q", "-f", "qcow2", ...opts, `r${i}.qcow2`, "3M");
        await realOk(dir, "check", `o${i}.qcow2`);
        const mine = await realOk(dir, "info", "--output=json", `o${i}.qcow2`);
        const theirs = await realOk(dir, "info", "--output=json", `r${i}.qcow2`);
        assert.equal(dropActualSize(mine), dropActualSize(theirs), `-o ${o}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const CONVERT_MATRIX: string[][] = [
  ["-O", "qcow2"],
  ["-O", "qcow2", "-o", "compat=0.10"],
  ["-O", "qcow2", "-o", "cluster_size=4k"],
  ["-O", "qcow2", "-o", "cluster_size=2M"],
  ["-O", "qcow2", "-c"],
  ["-O", "qcow2", "-c", "-o", "compression_type=zstd"],
  ["-O", "qcow2", "-c", "-o", "cluster_size=4k"],
  ["-O", "qcow2", "-S", "0"],
  ["-O", "qcow2", "-o", "preallocation=metadata"],
  ["-O", "qcow2", "-W", "-m", "4"],
  ["-O", "raw"],
];

Deno.test(
  `convert matrix: our output passes the real check and compares equal${suffix}`,
  { ignore },
  async () => {
    const dir = await scratch("convert-");
    try {
      await source(dir);
      for (const [i, args] of CONVERT_MATRIX.entries()) {
        const out = `out${i}.img`;
        await ours(dir, "convert", "-f", "raw", ...args, "src.raw", out);
        const fmt = args[args.indexOf("-O") + 1];
        if (fmt === "qcow2") {
          const check = await realOk(dir, "check", "--output=json", out);
          assert.match(check, /"check-errors": 0/);
          assert.doesNotMatch(check, /"leaks"|"corruptions"/, `${args.join(" ")}: ${check}`);
        }
        await realOk(dir, "compare", "-f", "raw", "-F", fmt, "src.raw", out);
        // And back: qcow2 -> raw by us, equal to the source.
        if (fmt === "qcow2") {
          await ours(dir, "convert", "-O", "raw", out, `back${i}.raw`);
          await realOk(dir, "compare", "-f", "raw", "-F", "raw", "src.raw", `back${i}.raw`);
        }
      }
      // Compressed output really is compressed (the text and zero-free clusters shrink).
      const info = await realOk(dir, "check", "out4.img");
      assert.match(info, /[1-9][0-9.]*% compressed clusters/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  `convert -B, -n --target-is-zero, and real-tool images read back by ours${suffix}`,
  { ignore },
  async () => {
    const dir = await scratch("backing-");
    try {
      await source(dir);
      await realOk(dir, "convert", "-O", "qcow2", "src.raw", "base.qcow2");
      await realOk(dir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
      await ours(dir, "dd", "-f", "raw", "if=src.raw", "of=patch.raw", "bs=64k", "count=2");
      await ours(dir, "convert", "-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2", "top.qcow2", "thin.qcow2");
      await realOk(dir, "check", "thin.qcow2");
      await realOk(dir, "compare", "thin.qcow2", "src.raw");
      const map = await realOk(dir, "map", "--output=json", "thin.qcow2");
      assert.doesNotMatch(map, /"depth": 0, "present": true/, "nothing copied when the top is empty");
      // Real-tool writes read by ours: a compressed zstd image converted back must equal the source.
      await realOk(dir, "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", "src.raw", "rz.qcow2");
      await ours(dir, "convert", "-O", "raw", "rz.qcow2", "rz.raw");
      await realOk(dir, "compare", "-f", "raw", "-F", "raw", "src.raw", "rz.raw");
      await ours(dir, "check", "rz.qcow2");
      await ours(dir, "compare", "rz.qcow2", "src.raw");
      // -n into an existing image.
      await realOk(dir, "create", "-q", "-f", "qcow2", "pre.qcow2", "8M");
      await ours(dir, "convert", "-n", "--target-is-zero", "-O", "qcow2", "src.raw", "pre.qcow2");
      await realOk(dir, "check", "pre.qcow2");
      await realOk(dir, "compare", "pre.qcow2", "src.raw");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(`snapshot, commit, rebase, resize and amend by ours leave images the real tool accepts${suffix}`, {
  ignore,
}, async () => {
  const dir = await scratch("ops-");
  try {
    await source(dir);
    await ours(dir, "convert", "-O", "qcow2", "src.raw", "a.qcow2");
    await ours(dir, "snapshot", "-c", "one", "a.qcow2");
    await ours(dir, "dd", "-f", "raw", "if=src.raw", "of=z.raw", "bs=64k", "count=1");
    await ours(dir, "convert", "-n", "-f", "raw", "-O", "qcow2", "-S", "0", "z.raw", "a.qcow2");
    await realOk(dir, "check", "a.qcow2");
    await ours(dir, "snapshot", "-a", "one", "a.qcow2");
    await realOk(dir, "check", "a.qcow2");
    await realOk(dir, "compare", "a.qcow2", "src.raw");
    await ours(dir, "snapshot", "-d", "one", "a.qcow2");
    await realOk(dir, "check", "a.qcow2");
    assert.equal(await realOk(dir, "snapshot", "-l", "a.qcow2"), "");

    // commit: the overlay's data goes down, the overlay empties.
    await realOk(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "8M");
    await realOk(dir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    await ours(dir, "convert", "-n", "-O", "qcow2", "src.raw", "top.qcow2");
    await ours(dir, "commit", "top.qcow2");
    await realOk(dir, "check", "base.qcow2");
    await realOk(dir, "check", "top.qcow2");
    await realOk(dir, "compare", "base.qcow2", "src.raw");
    await realOk(dir, "compare", "top.qcow2", "src.raw");
    const map = await realOk(dir, "map", "--output=json", "top.qcow2");
    assert.doesNotMatch(map, /"depth": 0, "present": true/, "top emptied by commit");

    // safe rebase onto an empty base keeps the guest view; unsafe rebase only renames.
    await realOk(dir, "create", "-q", "-f", "qcow2", "empty.qcow2", "8M");
    await ours(dir, "rebase", "-b", "empty.qcow2", "-F", "qcow2", "top.qcow2");
    await realOk(dir, "check", "top.qcow2");
    await realOk(dir, "compare", "top.qcow2", "src.raw");
    await ours(dir, "rebase", "-u", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    assert.match(await realOk(dir, "info", "top.qcow2"), /backing file: base\.qcow2\n/);

    // resize both ways, then amend compat down and up.
    await ours(dir, "resize", "a.qcow2", "+3M");
    await realOk(dir, "check", "a.qcow2");
    await ours(dir, "resize", "--shrink", "a.qcow2", "8M");
    await realOk(dir, "compare", "a.qcow2", "src.raw");
    await ours(dir, "amend", "-o", "compat=0.10", "a.qcow2");
    assert.match(await realOk(dir, "info", "a.qcow2"), /compat: 0\.10/);
    await realOk(dir, "check", "a.qcow2");
    await ours(dir, "amend", "-o", "compat=1.1,lazy_refcounts=on", "a.qcow2");
    await realOk(dir, "check", "a.qcow2");
    await realOk(dir, "compare", "a.qcow2", "src.raw");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(`resize --shrink leaves the very file the real tool leaves${suffix}`, { ignore }, async () => {
  const dir = await scratch("shrink-");
  try {
    // [virtual size, new size, offset of 1 MiB of data or undefined]. The freed clusters lie at
    // the end of the file, so QEMU's hole punching in freed clusters does not show in the bytes.
    const cases: [number, number, number | undefined][] = [
      [64 * MiB, 32 * MiB, undefined], // L2 table allocated for the kept L1 entry
      [64 * MiB, 32 * MiB, 40 * MiB], // data past the new end freed, file cut after the last used cluster
      [64 * MiB, 32 * MiB, 0], // data kept
      [64 * MiB, 64000 * 1024, 63 * MiB], // not a whole cluster
      [1024 * MiB, 100 * MiB, undefined], // an L1 entry past the new end
    ];
    for (const [size, to, at] of cases) {
      const raw = join(dir, "src.raw");
      const f = await Deno.open(raw, { write: true, create: true, truncate: true });
      await f.truncate(size);
      if (at !== undefined) {
        await f.seek(at, Deno.SeekMode.Start);
        await f.write(new Uint8Array(MiB).fill(0x5a));
      }
      f.close();
      await realOk(dir, "convert", "-f", "raw", "-O", "qcow2", "src.raw", "real.qcow2");
      await Deno.copyFile(raw.replace("src.raw", "real.qcow2"), join(dir, "ours.qcow2"));
      await realOk(dir, "resize", "-q", "--shrink", "real.qcow2", String(to));
      await ours(dir, "resize", "-q", "--shrink", "ours.qcow2", String(to));
      const real = await Deno.readFile(join(dir, "real.qcow2"));
      const got = await Deno.readFile(join(dir, "ours.qcow2"));
      assert.equal(got.length, real.length, `${size} -> ${to}: file length`);
      assert.ok(got.every((b, i) => b === real[i]), `${size} -> ${to}: same bytes`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  `commit empties a v3 overlay into the very file the real tool leaves${suffix}`,
  { ignore },
  async () => {
    const dir = await scratch("commit-");
    try {
      // [overlay's data offset or undefined, its create options]: make_completely_empty()'s layout.
      const cases: [number | undefined, string][] = [
        [undefined, "cluster_size=65536"],
        [MiB, "cluster_size=65536"],
        [0, "cluster_size=4096"],
        [0, "lazy_refcounts=on"],
      ];
      for (const [at, options] of cases) {
        for (const who of ["real", "ours"]) {
          const sub = join(dir, who);
          await Deno.mkdir(sub, { recursive: true });
          await realOk(sub, "create", "-q", "-f", "qcow2", "b.qcow2", "64M");
          await realOk(
            sub,
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            options,
            "-b",
            "b.qcow2",
            "-F",
            "qcow2",
            "o.qcow2",
          );
          if (at !== undefined) {
            const data = new Uint8Array(at + MiB);
            data.fill(0x5a, at);
            await Deno.writeFile(join(sub, "d.raw"), data);
            await realOk(sub, "convert", "-n", "-f", "raw", "-O", "qcow2", "d.raw", "o.qcow2");
          }
          if (who === "real") await realOk(sub, "commit", "-q", "o.qcow2");
          else await ours(sub, "commit", "-q", "o.qcow2");
        }
        // The bases hold the same data (how the two commits allocate zeros in them differs).
        await realOk(dir, "compare", "real/b.qcow2", "ours/b.qcow2");
        for (const name of ["o.qcow2"]) {
          const real = await Deno.readFile(join(dir, "real", name));
          const got = await Deno.readFile(join(dir, "ours", name));
          assert.equal(got.length, real.length, `${at} ${options} ${name}: file length`);
          assert.ok(got.every((b, i) => b === real[i]), `${at} ${options} ${name}: same bytes`);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
