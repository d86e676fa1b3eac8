/**
 * Crash consistency: a writer process is killed (SIGKILL) in the middle of a write stream. Our
 * `check -r all` must then leave an image that the real `qemu-img check` finds clean, and every
 * chunk written before the last completed flush must read back intact.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REAL_QEMU_IMG, skipReason } from "../../support/tools.ts";
import { createImage, openImage } from "../../../lib/image/mod.ts";
import { realCheck, tempDir } from "./helpers.ts";

async function crashRun(options: { lazyRefcounts?: boolean; clusterSize?: number }): Promise<void> {
  const dir = tempDir();
  try {
    const path = join(dir, "crash.qcow2");
    const size = 8 << 20;
    createImage(path, "qcow2", { size, ...options });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", join(import.meta.dirname!, "crash_writer.ts"), path],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    const dec = new TextDecoder();
    let text = "";
    let flushed = 0;
    // Let the writer wrap around the image once (overwrites) and then some.
    while (flushed < 200) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value);
      const m = [...text.matchAll(/flushed (\d+)/g)];
      if (m.length) flushed = Number(m[m.length - 1][1]);
    }
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
    assert.ok(flushed >= 200, `writer died early: ${text}`);

    const d = openImage(path);
    const repaired = d.check("all");
    d.close();
    assert.equal(repaired.corruptions, 0, repaired.messages.join("\n"));
    const after = openImage(path, { readOnly: true });
    const clean = after.check();
    assert.equal(clean.corruptions + clean.leaks, 0, clean.messages.join("\n"));
    // Chunks the flushed prefix wrote (the latest write of each chunk index up to `flushed`).
    const total = size / 65536;
    const buf = new Uint8Array(65536);
    for (let n = 0; n < Math.min(flushed, total); n++) {
      after.read(n * 65536, buf);
      assert.equal(buf[0], n >> 8, `chunk ${n} header`);
      // Only bytes the zero-writes cannot have touched are judged.
      assert.equal(buf[65535], n & 255, `chunk ${n} tail`);
      assert.equal(buf[2048], n & 255, `chunk ${n} body`);
    }
    after.close();
    if (REAL_QEMU_IMG) {
      const real = realCheck(path);
      assert.equal(real.code, 0, JSON.stringify(real.json));
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test(`a killed writer leaves an image check -r all repairs${skipReason(REAL_QEMU_IMG, "qemu-img")}`, () =>
  crashRun({}));

Deno.test(`a killed writer with lazy_refcounts is repaired on open${skipReason(REAL_QEMU_IMG, "qemu-img")}`, () =>
  crashRun({ lazyRefcounts: true, clusterSize: 4096 }));
