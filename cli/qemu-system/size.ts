/**
 * QEMU's size syntax (qemu_strtosz): a decimal number, possibly with a fraction, or a 0x hex
 * integer, then an optional unit letter B, K, M, G, T, P or E (binary multiples). `-m` treats a
 * bare number as MiB by appending `M` first, which is why `-m 0x10` draws the hex-suffix warning.
 */
import type { Warn } from "./cli_error.ts";

const UNITS: Record<string, number> = {
  B: 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  P: 2 ** 50,
  E: 2 ** 60,
};

/** Bytes, or undefined when the text is not a size below 2^64 (the caller reports it). */
export function parseSize(text: string, warn?: Warn): number | undefined {
  const match = /^\s*(0x[0-9a-f]+|[0-9]*\.?[0-9]+|[0-9]+\.)([a-z]?)$/i.exec(text);
  if (!match) return undefined;
  const [, digits, suffix] = match;
  const hex = digits.toLowerCase().startsWith("0x");
  const unit = suffix ? UNITS[suffix.toUpperCase()] : 1;
  if (unit === undefined) return undefined;
  if (hex && suffix) warn?.(`Using a multiplier suffix on hex numbers is deprecated: ${text}`);
  const value = hex ? parseInt(digits.slice(2), 16) : parseFloat(digits);
  // A fraction of a byte is meaningless, as QEMU's strtosz agrees.
  if (!hex && unit === 1 && !Number.isInteger(value)) return undefined;
  const bytes = Math.floor(value * unit);
  if (!Number.isFinite(bytes) || bytes >= 2 ** 64) return undefined;
  return bytes;
}

export const SIZE_HINT = "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n" +
  "and exabytes, respectively.";
