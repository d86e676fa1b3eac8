/**
 * Sizes as QEMU's qemu_strtosz() reads them: a decimal integer (or 0x hex without fraction or
 * suffix), an optional fraction that needs a scaling suffix, and one of b/k/M/G/T/P/E in either
 * case, 1024-based; the result is computed in 64.64 fixed point and rounds half up, so
 * `1.0000000001k` is 1024. cvtnum() then words the errors.
 */
import { CommandError } from "./report.ts";

const SUFFIX: Record<string, bigint> = {
  B: 1n,
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
  P: 1n << 50n,
  E: 1n << 60n,
};

const U64 = (1n << 64n) - 1n;
export const INT64_MAX = (1n << 63n) - 1n;

/** The errno-like outcome of qemu_strtosz(), or the value. */
export function strtosz(text: string, defaultSuffix = "B"): bigint | "EINVAL" | "ERANGE" {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(text);
  if (!m || m[1] === "-") return "EINVAL";
  let rest = text.slice(m[0].length);
  let val = BigInt(m[2]);
  if (val > U64) return "ERANGE";
  let valf = 0n;
  if (val === 0n && /^[xX]/.test(rest)) {
    const h = /^[ \t\n\v\f\r]*[+]?0[xX]([0-9a-fA-F]+)/.exec(text);
    if (!h) return "EINVAL";
    val = BigInt("0x" + h[1]);
    if (val > U64) return "ERANGE";
    rest = text.slice(h[0].length);
    if (rest !== "") return "EINVAL";
    return val;
  }
  if (rest.startsWith(".")) {
    const f = /^\.\d*(?:[eE][+-]?\d+)?/.exec(rest)!;
    if (/[eE]/.test(f[0])) return "EINVAL";
    const fraction = Number("0" + f[0]);
    valf = BigInt(Math.min(Math.floor(fraction * 2 ** 64), 2 ** 64 - 1));
    rest = rest.slice(f[0].length);
  }
  let mul = rest.length > 0 ? SUFFIX[rest[0].toUpperCase()] : undefined;
  if (mul !== undefined) rest = rest.slice(1);
  else mul = SUFFIX[defaultSuffix];
  if (rest !== "") return "EINVAL";
  if (mul === 1n) return valf !== 0n ? "EINVAL" : val;
  const scaled = val * mul + ((valf * mul) >> 64n) + (((valf * mul) & U64) >> 63n);
  return scaled > U64 ? "ERANGE" : scaled;
}

/** cvtnum_full(): a size argument in [min, max], or the real tool's error. */
export function cvtnum(name: string, text: string, min = 0n, max = INT64_MAX): number {
  const r = strtosz(text);
  if (r === "EINVAL") {
    throw new CommandError(
      `Invalid ${name} specified. You may use k, M, G, T, P or E suffixes for\n` +
        "qemu-img: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.",
    );
  }
  if (r === "ERANGE" || r > max || r < min) {
    throw new CommandError(`Invalid ${name} specified. Must be between ${min} and ${max}.`);
  }
  return Number(r);
}

export { sizeToStr } from "../../lib/image/snapshot_dump.ts";
