/**
 * Child process for the crash-consistency test: writes 64 KiB chunks (pattern = chunk index),
 * overwriting earlier ones now and then, flushes every few writes and reports each flush on
 * stdout as `flushed N` (N = chunks written so far), until it is killed.
 */
import { openImage } from "../../../lib/image/mod.ts";

const [path] = Deno.args;
const d = openImage(path);
const chunk = 65536;
const total = d.size / chunk;
const buf = new Uint8Array(chunk);
const enc = new TextEncoder();
for (let i = 0;; i++) {
  const n = i % total;
  buf.fill(n & 255);
  buf[0] = n >> 8;
  // Misaligned writes too, so copy-on-write and L2 updates interleave with data.
  d.write(n * chunk, buf);
  if (i % 7 === 3) d.writeZeroes(((i * 13) % total) * chunk + 4096, 8192);
  if (i % 8 === 7) {
    d.flush();
    Deno.stdout.writeSync(enc.encode(`flushed ${i + 1}\n`));
  }
}
