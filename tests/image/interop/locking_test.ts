/**
 * Image locking against QEMU's: while the real qemu-system or qemu-io holds an image, our qemu-img
 * refuses it with the real tool's message and status (and `-U` reads it), and while ours holds one
 * (lib/image, or our qemu-system) the real qemu-img refuses it. Every holder signals readiness on
 * its stdout (a monitor or qemu-io prompt, or `held`) and is ended through its stdin.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { LIBC_PATHS } from "../../../lib/image/libc.ts";
import {
  cliRunArgs,
  PROJECT,
  REAL_QEMU_I386,
  REAL_QEMU_IMG,
  REAL_QEMU_IO,
  runCli,
  skipReason,
} from "../../support/tools.ts";
import { runReal, scratch } from "./side_by_side.ts";

const QEMU_IO = REAL_QEMU_IO;
const LIBC = LIBC_PATHS.find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
const peers = REAL_QEMU_IMG && QEMU_IO ? "ok" : undefined;
const ignore = !peers || !LIBC;
const suffix = skipReason(peers, "/usr/bin/qemu-img and /usr/bin/qemu-io") ||
  skipReason(LIBC, LIBC_PATHS.join(" "));

/** A process holding an image, started and waited for until its stdout shows `ready`. */
async function hold(argv: string[], ready: string, cwd: string) {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes(ready)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${argv.join(" ")} ended before saying ${JSON.stringify(ready)}: ${seen}`);
    seen += new TextDecoder().decode(value);
  }
  return {
    async end(line?: string) {
      if (line) await stdin.write(new TextEncoder().encode(line + "\n"));
      await stdin.close();
      // Drain, so the child is never blocked on a full pipe, then reap it.
      while (!(await reader.read()).done);
      await child.status;
    },
  };
}

/** qemu-io holding FILE (read-write unless -r): it opens the image, locks and all, before its first prompt. */
function qemuIo(dir: string, file: string, readOnly = false) {
  return hold([QEMU_IO!, ...(readOnly ? ["-r"] : []), "-f", "qcow2", file], "qemu-io> ", dir);
}

async function ours(dir: string, ...args: string[]) {
  return await runCli("qemu-img", args, { cwd: dir });
}

/** Runs fn in a scratch directory holding a.qcow2 (64 MiB, made by the real tool), removed after. */
async function withImage(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await scratch("lock-");
  try {
    const r = await runReal(["create", "-q", "-f", "qcow2", "a.qcow2", "64M"], dir);
    assert.equal(r.code, 0, r.stderr);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test(
  `an image held by QEMU: ours refuses it with the real tool's words${suffix}`,
  { ignore },
  async () => {
    await withImage(async (dir) => {
      await runReal(["create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "top.qcow2"], dir);
      const io = await qemuIo(dir, "a.qcow2");
      try {
        for (
          const args of [
            ["info", "a.qcow2"],
            ["map", "top.qcow2"],
            ["check", "a.qcow2"],
            ["map", "--output=json", "a.qcow2"],
            ["convert", "-O", "raw", "a.qcow2", "b.raw"],
            ["compare", "a.qcow2", "a.qcow2"],
            ["resize", "a.qcow2", "128M"],
            ["snapshot", "-c", "s", "a.qcow2"],
            ["create", "-f", "qcow2", "a.qcow2", "1G"],
            ["check", "-r", "all", "-U", "a.qcow2"],
          ]
        ) {
          const real = await runReal(args, dir);
          const our = await ours(dir, ...args);
          assert.notEqual(real.code, 0, `real ${args.join(" ")} should fail while the image is held`);
          assert.deepEqual(our, real, args.join(" "));
        }
        // info opens no backing file, so an overlay of a held image reads (in both tools).
        const overlay = await runReal(["info", "top.qcow2"], dir);
        assert.equal(overlay.code, 0, overlay.stderr);
        assert.deepEqual(await ours(dir, "info", "top.qcow2"), overlay);
        const shared = await ours(dir, "info", "-U", "a.qcow2");
        assert.equal(shared.code, 0, shared.stderr);
        assert.match(shared.stdout, /^virtual size: 64 MiB/m);
      } finally {
        await io.end("quit");
      }
      // The refused create left the image as it was, and once QEMU is gone the image opens.
      const after = await ours(dir, "info", "a.qcow2");
      assert.equal(after.code, 0, after.stderr);
      assert.match(after.stdout, /^virtual size: 64 MiB/m);
    });
  },
);

Deno.test(`a read-only QEMU lets ours read but not write${suffix}`, { ignore }, async () => {
  await withImage(async (dir) => {
    const io = await qemuIo(dir, "a.qcow2", true);
    try {
      assert.equal((await ours(dir, "info", "a.qcow2")).code, 0);
      const args = ["resize", "a.qcow2", "128M"];
      const real = await runReal(args, dir);
      assert.match(real.stderr, /Failed to get "write" lock/);
      assert.deepEqual(await ours(dir, ...args), real);
    } finally {
      await io.end("quit");
    }
  });
});

Deno.test(`an image held by ours: the real qemu-img refuses it${suffix}`, { ignore }, async () => {
  await withImage(async (dir) => {
    const holder = (mode: string) => [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      `--allow-ffi=${LIBC}`,
      join(PROJECT, "tests/image/interop/hold_image.ts"),
      "a.qcow2",
      mode,
    ];
    const rw = await hold(holder("rw"), "held", dir);
    try {
      const real = await runReal(["info", "a.qcow2"], dir);
      assert.equal(real.code, 1);
      assert.equal(
        real.stderr,
        "qemu-img: Could not open 'a.qcow2': Failed to get shared \"write\" lock\n" +
          "Is another process using the image [a.qcow2]?\n",
      );
      assert.equal((await runReal(["info", "-U", "a.qcow2"], dir)).code, 0);
      // Ours sees its own kind too.
      assert.deepEqual(await ours(dir, "info", "a.qcow2"), real);
    } finally {
      await rw.end();
    }
    const ro = await hold(holder("ro"), "held", dir);
    try {
      assert.equal((await runReal(["info", "a.qcow2"], dir)).code, 0);
      const resize = await runReal(["resize", "a.qcow2", "128M"], dir);
      assert.match(resize.stderr, /Failed to get "write" lock/);
    } finally {
      await ro.end();
    }
    assert.equal((await runReal(["resize", "a.qcow2", "128M"], dir)).code, 0);
  });
});

Deno.test(
  `qemu-system: ours holds its drives against the real qemu-img, the real one against ours${
    suffix || skipReason(REAL_QEMU_I386, "/usr/bin/qemu-system-i386")
  }`,
  { ignore: ignore || !REAL_QEMU_I386 },
  async () => {
    await withImage(async (dir) => {
      const monitor = ["-S", "-display", "none", "-monitor", "stdio", "-drive", "file=a.qcow2,format=qcow2"];
      const ourSystem = await hold(
        [Deno.execPath(), ...cliRunArgs("qemu-system"), ...monitor],
        "(qemu)",
        dir,
      );
      try {
        const real = await runReal(["info", "a.qcow2"], dir);
        assert.match(real.stderr, /Failed to get shared "write" lock/);
      } finally {
        await ourSystem.end("quit");
      }
      const realSystem = await hold(
        [
          REAL_QEMU_I386!,
          "-M",
          "none",
          "-nodefaults",
          ...monitor.slice(0, -1),
          "file=a.qcow2,format=qcow2,if=none",
        ],
        "(qemu)",
        dir,
      );
      try {
        const our = await ours(dir, "info", "a.qcow2");
        assert.equal(our.code, 1);
        assert.match(
          our.stderr,
          /Failed to get shared "write" lock\nIs another process using the image \[a.qcow2\]\?/,
        );
      } finally {
        await realSystem.end("quit");
      }
    });
  },
);

Deno.test(
  `without the FFI permission ours takes no locks and says nothing${suffix}`,
  { ignore },
  async () => {
    await withImage(async (dir) => {
      const io = await qemuIo(dir, "a.qcow2");
      try {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--quiet",
            "--allow-read",
            "--allow-write",
            join(PROJECT, "cli/qemu-img.ts"),
            "info",
            "a.qcow2",
          ],
          cwd: dir,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0);
        assert.equal(new TextDecoder().decode(out.stderr), "");
      } finally {
        await io.end("quit");
      }
    });
  },
);

Deno.test(`an image open in the same process is not created over (convert onto its source)${suffix}`, {
  ignore,
}, async () => {
  await withImage(async (dir) => {
    const before = await Deno.readFile(join(dir, "a.qcow2"));
    for (
      const args of [
        ["convert", "-O", "qcow2", "a.qcow2", "a.qcow2"],
        ["dd", "if=a.qcow2", "of=a.qcow2"],
        // -n opens the existing target with a descriptor of its own, which the source's locks stop.
        ["convert", "-n", "-O", "qcow2", "a.qcow2", "a.qcow2"],
        ["convert", "-n", "a.qcow2", "a.qcow2"],
      ]
    ) {
      const real = await runReal(args, dir);
      assert.match(real.stderr, /Failed to get "write" lock/);
      assert.deepEqual(await ours(dir, ...args), real, args.join(" "));
    }
    assert.deepEqual(await Deno.readFile(join(dir, "a.qcow2")), before);
  });
});

Deno.test(`convert -n opens the target as -O says, raw by default, never probed${suffix}`, {
  ignore,
}, async () => {
  await withImage(async (dir) => {
    const r = await runReal(["create", "-q", "-f", "qcow2", "b.qcow2", "128M"], dir);
    assert.equal(r.code, 0, r.stderr);
    const before = await Deno.readFile(join(dir, "b.qcow2"));
    // As raw, the qcow2 file (a few hundred KiB) is smaller than the 64 MiB source; as qcow2 it is not.
    const args = ["convert", "-n", "a.qcow2", "b.qcow2"];
    const real = await runReal(args, dir);
    assert.equal(real.stderr, "qemu-img: output file is smaller than input file\n");
    assert.deepEqual(await ours(dir, ...args), real);
    // -U shares the source's locks away, so onto its own source it gets as far as the size check.
    const own = ["convert", "-n", "-U", "a.qcow2", "a.qcow2"];
    assert.deepEqual(await ours(dir, ...own), await runReal(own, dir));
    assert.deepEqual(await Deno.readFile(join(dir, "b.qcow2")), before);
  });
});
