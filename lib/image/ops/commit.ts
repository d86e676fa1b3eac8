/**
 * The engine of `qemu-img commit`: copies every range allocated above the base into the base,
 * reading through the chain from the top so each range carries its newest contents, then
 * (unless asked to keep it) empties the top so it reads through to the base again.
 */
import { type BlockDriver, ImageError } from "../block_driver.ts";
import { makeEmpty } from "./capabilities.ts";
import { CHUNK } from "./convert.ts";
import { ScanBuffer } from "./zero.ts";

export interface CommitRequest {
  top: BlockDriver;
  /** The base, opened writable: the image `depth` layers below the top. */
  base: BlockDriver;
  depth: number;
  /** `-d`: leave the top as it was. */
  keepTop?: boolean;
  /**
   * The top opened a second way, without its backing chain, for emptying: a driver that sees
   * its backing file must keep discarded ranges reading as zeros, which is not emptying.
   */
  topWithoutBacking?: BlockDriver;
  onProgress?: (fraction: number) => void;
}

export function commit(req: CommitRequest): void {
  const { top, base, depth } = req;
  if (base.size < top.size) {
    if (!base.resize) throw new ImageError("Cannot grow the base image");
    base.resize(top.size, {});
  }
  const buf = new ScanBuffer(CHUNK);
  let offset = 0;
  while (offset < top.size) {
    const s = top.blockStatus(offset, Math.min(CHUNK, top.size - offset));
    const n = s.length;
    if (s.present && s.depth < depth) {
      if (s.zero) {
        // The commit job writes zeros with BDRV_REQ_MAY_UNMAP: the base frees what it held there.
        base.writeZeroes(offset, n, { mayUnmap: true });
      } else {
        top.read(offset, buf.bytes.subarray(0, n));
        base.write(offset, buf.bytes.subarray(0, n));
      }
    }
    offset += n;
    req.onProgress?.(offset / top.size);
  }
  base.flush();
  if (!req.keepTop) {
    makeEmpty(req.topWithoutBacking ?? top);
    (req.topWithoutBacking ?? top).flush();
  }
}
