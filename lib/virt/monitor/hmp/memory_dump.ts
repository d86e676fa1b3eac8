/**
 * HMP's `x` (linear addresses) and `xp` (physical): QEMU's memory_dump. The /FMT suffix is
 * [count][format][size] with formats x d u o c i and sizes b h w g; format and size persist from
 * one command to the next as in QEMU. Lines hold 8 bytes for byte units and 16 otherwise; a line
 * whose memory cannot be read ends the dump with "Cannot access memory".
 */
import { disassemble, formatInAsm } from "../../../cpu/mod.ts";
import { PAGE_UNMAPPED } from "../../../devices/bus.ts";
import { MonitorError } from "../errors.ts";
import type { MonitorTarget } from "../target.ts";
import { ExpressionParser } from "./expression.ts";

export interface DumpFormat {
  count: number;
  format: string;
  size: number;
}

const SIZES: Record<string, number> = { b: 1, h: 2, w: 4, g: 8 };
const FORMATS = "xduoci";

/** The monitor's sticky defaults (QEMU's last_format/last_size). */
export class DumpDefaults {
  format = "x";
  size = 4;
}

export function parseFormat(spec: string, defaults: DumpDefaults): DumpFormat {
  const m = /^([0-9]*)(.*)$/.exec(spec)!;
  const count = m[1] ? parseInt(m[1], 10) : 1;
  let format = defaults.format;
  let size = -1;
  for (const c of m[2]) {
    if (FORMATS.includes(c)) format = c;
    else if (c in SIZES) size = SIZES[c];
    else throw new MonitorError(`invalid char in format: '${c}'`);
  }
  // The size sticks even for c (which then prints size * count characters), as QEMU's does.
  if (size < 0) size = defaults.size;
  defaults.format = format;
  defaults.size = size;
  return { count, format, size };
}

const hex = (v: bigint | number, width: number) => v.toString(16).padStart(width, "0");

function printChar(v: number): string {
  switch (v) {
    case 0x27:
      return "'\\''";
    case 0x5c:
      return "'\\\\'";
    case 0x0a:
      return "'\\n'";
    case 0x0d:
      return "'\\r'";
  }
  return v >= 32 && v <= 126 ? `'${String.fromCharCode(v)}'` : `'\\x${hex(v, 2)}'`;
}

/** Reads `into` at `address`; false if any byte is not backed by memory (QEMU: "Cannot access memory"). */
function readMemory(target: MonitorTarget, address: number, into: Uint8Array, physical: boolean): boolean {
  const bus = target.cpu.bus;
  for (let done = 0; done < into.length;) {
    const at = address + done;
    const chunk = Math.min(into.length - done, 0x1000 - (at & 0xfff));
    const phys = physical ? at : target.linearToPhysical(at >>> 0);
    if (phys < 0 || phys > 0xffffffff || bus.pageMap[Math.floor(phys / 0x1000)] === PAGE_UNMAPPED) {
      return false;
    }
    target.readPhysical(phys, into.subarray(done, done + chunk));
    done += chunk;
  }
  return true;
}

export function memoryDump(
  target: MonitorTarget,
  fmt: DumpFormat,
  address: number,
  physical: boolean,
): string {
  if (fmt.format === "i") return disassembleDump(target, fmt.count, address, physical);
  const wsize = fmt.format === "c" ? 1 : fmt.size;
  let len = fmt.size * fmt.count;
  const lineSize = wsize === 1 ? 8 : 16;
  const bits = wsize * 8;
  const digits = fmt.format === "o"
    ? Math.ceil(bits / 3)
    : fmt.format === "u" || fmt.format === "d"
    ? Math.ceil((bits * 10) / 33)
    : bits / 4;
  let out = "";
  let addr = physical ? address : address >>> 0;
  const buf = new Uint8Array(lineSize);
  const view = new DataView(buf.buffer);
  while (len > 0) {
    out += physical ? `${hex(addr, 16)}:` : `${hex(addr >>> 0, 8)}:`;
    const l = Math.min(len, lineSize);
    if (!readMemory(target, addr, buf.subarray(0, l), physical)) {
      out += " Cannot access memory\n";
      break;
    }
    for (let i = 0; i < l; i += wsize) {
      let v: bigint;
      if (wsize === 1) v = BigInt(buf[i]);
      else if (wsize === 2) v = BigInt(view.getUint16(i, true));
      else if (wsize === 4) v = BigInt(view.getUint32(i, true));
      else v = view.getBigUint64(i, true);
      out += " ";
      switch (fmt.format) {
        case "o":
          out += (v === 0n ? "0" : "0" + v.toString(8)).padStart(digits);
          break;
        case "u":
          out += v.toString().padStart(digits);
          break;
        case "d":
          // QEMU loads every unit below 8 bytes zero-extended, so only g prints negative.
          out += BigInt.asIntN(64, v).toString().padStart(digits);
          break;
        case "c":
          out += printChar(Number(v));
          break;
        default:
          out += "0x" + hex(v, digits);
      }
    }
    out += "\n";
    addr += l;
    len -= l;
  }
  return out;
}

/** `x/FMT ADDR` or `xp/FMT ADDR`: parses the arguments and dumps. */
export function xCommand(
  target: MonitorTarget,
  defaults: DumpDefaults,
  args: string,
  physical: boolean,
): string {
  let spec = "";
  let rest = args.trimStart();
  if (rest.startsWith("/")) {
    const m = /^\/(\S*)\s*/.exec(rest)!;
    spec = m[1];
    rest = rest.slice(m[0].length);
  }
  const fmt = parseFormat(spec, defaults);
  const parser = new ExpressionParser(rest, target.cpu);
  const address = parser.parse();
  return memoryDump(target, fmt, physical ? address : address >>> 0, physical);
}

/**
 * `x/Ni`: QEMU's monitor disassembles with the same capstone dump as `-d in_asm` (address, up to
 * eight bytes, AT&T text), in the code size of the current CS.
 */
function disassembleDump(target: MonitorTarget, count: number, address: number, physical: boolean): string {
  const window = new Uint8Array(16);
  let out = "";
  let addr = address >>> 0;
  for (let n = 0; n < count; n++) {
    if (!readMemory(target, addr, window, physical)) {
      out += `${hex(addr, 8)}: Cannot access memory\n`;
      break;
    }
    const { text, length } = disassemble((k) => window[k], addr, target.cpu.code32);
    out += formatInAsm(addr, window.subarray(0, length), text) + "\n";
    addr = (addr + length) >>> 0;
  }
  return out;
}
