/**
 * The vm-state stream savevm writes into a disk's vm-state area, and loadvm reads back:
 *
 *   magic "QKTSVM\r\n", u32 version, u32 n, n bytes of JSON (machine_state.ts's MachineState),
 *   zero padding to 8 bytes; then for each RAM block the state lists, in order, records of
 *   u32 page number + 4096 bytes for every page that is not all zeros, ended by u32 0xffffffff;
 *   then the end magic "QKTSEND\n". Integers are big-endian, as in QEMU's own stream.
 *
 * A state of another version is refused as a whole. Both directions stream through a fixed-size
 * window (CHUNK), so memory stays bounded whatever the guest's RAM size; zero pages cost nothing.
 */
import type { MachineState, RamBlock } from "./machine_state.ts";
import { VmStateError } from "./errors.ts";

/** Bumped whenever the stream or MachineState changes incompatibly. */
export const VMSTATE_VERSION = 1;
const MAGIC = new TextEncoder().encode("QKTSVM\r\n");
const END_MAGIC = new TextEncoder().encode("QKTSEND\n");
const PAGE = 4096;
const END_OF_BLOCK = 0xffffffff;
/** Bytes buffered before each write to (or read from) the image. */
export const CHUNK = 1 << 20;

/** Writes bytes at a position of the vm-state area. */
export type VmStateSink = (pos: number, data: Uint8Array) => void;
/** Reads bytes at a position of the vm-state area. */
export type VmStateSource = (pos: number, into: Uint8Array) => void;

class ChunkWriter {
  private readonly buf = new Uint8Array(CHUNK);
  private readonly view = new DataView(this.buf.buffer);
  private used = 0;
  /** Bytes handed to the sink so far. */
  written = 0;
  constructor(private readonly sink: VmStateSink) {}

  private room(n: number): void {
    if (this.used + n > this.buf.length) this.flush();
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.used, v);
    this.used += 4;
  }
  bytes(data: Uint8Array): void {
    for (let at = 0; at < data.length;) {
      if (this.used === this.buf.length) this.flush();
      const n = Math.min(data.length - at, this.buf.length - this.used);
      this.buf.set(data.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
    }
  }
  flush(): void {
    if (!this.used) return;
    this.sink(this.written, this.buf.subarray(0, this.used));
    this.written += this.used;
    this.used = 0;
  }
}

function isZeroPage(page: Uint8Array): boolean {
  const words = new Uint32Array(page.buffer, page.byteOffset, PAGE / 4);
  for (let i = 0; i < words.length; i++) if (words[i]) return false;
  return true;
}

/** Streams the state and RAM into the sink; returns the stream's size (vm_state_size). */
export function writeVmState(state: MachineState, ram: RamBlock[], sink: VmStateSink): number {
  const w = new ChunkWriter(sink);
  const json = new TextEncoder().encode(JSON.stringify(state));
  w.bytes(MAGIC);
  w.u32(VMSTATE_VERSION);
  w.u32(json.length);
  w.bytes(json);
  w.bytes(new Uint8Array((8 - ((MAGIC.length + 8 + json.length) % 8)) % 8));
  for (const block of ram) {
    for (let p = 0; p * PAGE < block.bytes.length; p++) {
      let page = block.bytes.subarray(p * PAGE, (p + 1) * PAGE);
      if (page.length < PAGE) page = Uint8Array.from({ length: PAGE }, (_, i) => page[i] ?? 0);
      if (isZeroPage(page)) continue;
      w.u32(p);
      w.bytes(page);
    }
    w.u32(END_OF_BLOCK);
  }
  w.bytes(END_MAGIC);
  w.flush();
  return w.written;
}

class ChunkReader {
  private readonly buf = new Uint8Array(CHUNK);
  private start = 0;
  private filled = 0;
  pos = 0;
  constructor(private readonly source: VmStateSource, private readonly size: number) {}

  /** `n` bytes at the current position (valid until the next call), n <= CHUNK. */
  take(n: number): Uint8Array {
    if (this.pos + n > this.size) throw new VmStateError("the VM state ends early");
    if (this.pos < this.start || this.pos + n > this.start + this.filled) {
      this.start = this.pos;
      this.filled = Math.min(this.buf.length, this.size - this.pos);
      this.source(this.pos, this.buf.subarray(0, this.filled));
    }
    const at = this.pos - this.start;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }
  u32(): number {
    const b = this.take(4);
    return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  }
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Reads the header: version check and the machine state, without the RAM. */
export function readVmStateHeader(source: VmStateSource, size: number): MachineState {
  const r = new ChunkReader(source, size);
  return header(r);
}

function header(r: ChunkReader): MachineState {
  if (!same(r.take(MAGIC.length), MAGIC)) throw new VmStateError("not a VM state of this emulator");
  const version = r.u32();
  if (version !== VMSTATE_VERSION) {
    throw new VmStateError(
      `unsupported VM state version ${version} (this build reads version ${VMSTATE_VERSION})`,
    );
  }
  const n = r.u32();
  if (n > CHUNK) throw new VmStateError("machine state too large");
  let state: MachineState;
  try {
    state = JSON.parse(new TextDecoder().decode(r.take(n)));
  } catch {
    throw new VmStateError("corrupt machine state");
  }
  const pad = (8 - ((MAGIC.length + 8 + n) % 8)) % 8;
  r.take(pad);
  if (!state || typeof state !== "object" || !Array.isArray(state.ram)) {
    throw new VmStateError("corrupt machine state");
  }
  return state;
}

/**
 * Walks the whole stream. Without `ram` it only checks it (page numbers in range, terminators,
 * end magic); with `ram` it also zeroes each block and copies the saved pages in.
 */
export function readVmState(source: VmStateSource, size: number, ram?: RamBlock[]): MachineState {
  const r = new ChunkReader(source, size);
  const state = header(r);
  state.ram.forEach((block, i) => {
    const pages = Math.ceil(block.size / PAGE);
    const into = ram?.[i].bytes;
    into?.fill(0);
    for (;;) {
      const p = r.u32();
      if (p === END_OF_BLOCK) break;
      if (p >= pages) throw new VmStateError(`page ${p} outside RAM block ${block.name}`);
      const data = r.take(Math.min(PAGE, block.size - p * PAGE));
      into?.set(data, p * PAGE);
      // A partial last page still occupies a whole record.
      if (data.length < PAGE) r.take(PAGE - data.length);
    }
  });
  if (!same(r.take(END_MAGIC.length), END_MAGIC)) throw new VmStateError("the VM state has no end marker");
  if (r.pos !== size) throw new VmStateError("trailing data after the VM state");
  return state;
}
