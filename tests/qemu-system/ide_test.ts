/**
 * IDE PIO and bus-master DMA through the whole PC, on a qcow2 and on a raw image: the guest
 * (tests/guests/pc/ide_pio_dma.asm) reads and writes sectors; afterwards the images are read back
 * through lib/image and checked with the real qemu-img, and the same run under qemu-system-i386
 * must print the same and leave an identical image.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createImage, openImage } from "../../lib/image/formats.ts";
import { QEMU_BASE_ARGS } from "../../scripts/record_goldens.ts";
import { PROJECT, REAL_QEMU_I386, REAL_QEMU_IMG, runCli, skipReason } from "../support/tools.ts";

const GUEST = join(PROJECT, "tests", "guests", "pc", "ide_pio_dma.bin");
const TMP = Deno.makeTempDirSync({ prefix: "qemu-system-ide-" });
const SIZE = 1 << 20;
const decoder = new TextDecoder();

/** The image's starting contents: byte i is (7i + i/512) mod 256. */
function pattern(): Uint8Array {
  const data = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i++) data[i] = (i * 7 + Math.floor(i / 512)) & 0xff;
  return data;
}

function makeImage(path: string, format: "qcow2" | "raw"): void {
  createImage(path, format, { size: SIZE });
  const driver = openImage(path, { format });
  driver.write(0, pattern());
  driver.flush();
  driver.close();
}

function contents(path: string, format: string): Uint8Array {
  const driver = openImage(path, { format, readOnly: true });
  const data = new Uint8Array(SIZE);
  driver.read(0, data);
  driver.close();
  return data;
}

const EXPECTED_OUTPUT = "model: QEMU HARDDISK                           \n" +
  "pio read lba0 sum: 0x41020810\n" +
  "pio write status: 0x00000050\n" +
  "bm status 0x00000004\n" +
  "ata status 0x00000050\n" +
  "dma read lba2-9 sum: 0x03099a59\n" +
  "bm status 0x00000004\n" +
  "ata status 0x00000050\n" +
  "dma write done\n";

/** What the guest leaves on the disk: LBA 1 = 3i+7, LBAs 10-17 = i ^ 0x5A, the rest untouched. */
function expectedContents(): Uint8Array {
  const data = pattern();
  for (let i = 0; i < 512; i++) data[512 + i] = (i * 3 + 7) & 0xff;
  for (let i = 0; i < 4096; i++) data[10 * 512 + i] = (i & 0xff) ^ 0x5a;
  return data;
}

for (const format of ["qcow2", "raw"] as const) {
  Deno.test(`IDE PIO and DMA reads and writes reach a ${format} image`, async () => {
    const image = join(TMP, `ours.${format}`);
    makeImage(image, format);
    const ours = await runCli("qemu-system", [
      "-kernel",
      GUEST,
      ...QEMU_BASE_ARGS,
      "-drive",
      `file=${image},format=${format},if=ide`,
    ]);
    assert.equal(ours.stdout, EXPECTED_OUTPUT, ours.stderr);
    assert.equal(ours.code, 1);
    assert.deepEqual(contents(image, format), expectedContents());
  });
}

Deno.test({
  name: `the IDE guest's qcow2 passes qemu-img check${skipReason(REAL_QEMU_IMG, "qemu-img")}`,
  ignore: !REAL_QEMU_IMG,
  async fn() {
    const image = join(TMP, "checked.qcow2");
    makeImage(image, "qcow2");
    await runCli("qemu-system", [
      "-kernel",
      GUEST,
      ...QEMU_BASE_ARGS,
      "-drive",
      `file=${image},format=qcow2`,
    ]);
    const check = new Deno.Command(REAL_QEMU_IMG!, { args: ["check", image] }).outputSync();
    assert.equal(check.code, 0, decoder.decode(check.stdout) + decoder.decode(check.stderr));
  },
});

Deno.test({
  name: `qemu-system-i386 prints the same and leaves an identical image${
    skipReason(REAL_QEMU_I386 && REAL_QEMU_IMG, "qemu-system-i386 and qemu-img")
  }`,
  ignore: !REAL_QEMU_I386 || !REAL_QEMU_IMG,
  async fn() {
    const theirs = join(TMP, "real.qcow2");
    const ours = join(TMP, "same.qcow2");
    makeImage(theirs, "qcow2");
    makeImage(ours, "qcow2");
    const real = await new Deno.Command(REAL_QEMU_I386!, {
      args: ["-kernel", GUEST, ...QEMU_BASE_ARGS, "-drive", `file=${theirs},format=qcow2,if=ide`],
      stdin: "null",
    }).output();
    const mine = await runCli("qemu-system", [
      "-kernel",
      GUEST,
      ...QEMU_BASE_ARGS,
      "-drive",
      `file=${ours},format=qcow2,if=ide`,
    ]);
    assert.equal(mine.stdout, decoder.decode(real.stdout));
    assert.equal(mine.code, real.code);
    const compare = new Deno.Command(REAL_QEMU_IMG!, { args: ["compare", theirs, ours] }).outputSync();
    assert.equal(decoder.decode(compare.stdout), "Images are identical.\n");
  },
});

Deno.test("-snapshot keeps the image as it was", async () => {
  const image = join(TMP, "snap.qcow2");
  makeImage(image, "qcow2");
  const before = Deno.readFileSync(image);
  const result = await runCli("qemu-system", [
    "-kernel",
    GUEST,
    ...QEMU_BASE_ARGS,
    "-drive",
    `file=${image},format=qcow2`,
    "-snapshot",
  ], { env: { TMPDIR: TMP } });
  assert.equal(result.stdout, EXPECTED_OUTPUT, result.stderr);
  assert.deepEqual(Deno.readFileSync(image), before);
  assert.deepEqual([...Deno.readDirSync(TMP)].filter((e) => e.name.startsWith("vl.")), [], "overlay removed");
});
