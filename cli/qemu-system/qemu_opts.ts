/**
 * QEMU's suboption syntax (QemuOpts / keyval): `key=value,key=value` lists where `,,` stands for a
 * literal comma and the first element may omit its key (the option's implied key, e.g. `-machine pc`
 * is `type=pc`, `-accel tcg` is `accel=tcg`). A later bare `key` means `key=on`, as QEMU's
 * deprecated short-form booleans do.
 */
import type { Warn } from "./cli_error.ts";

export interface OptPair {
  key: string;
  value: string;
}

/** Splits at single commas, turning `,,` into a literal comma. */
function splitList(text: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== ",") {
      current += c;
    } else if (text[i + 1] === ",") {
      current += ",";
      i++;
    } else {
      parts.push(current);
      current = "";
    }
  }
  parts.push(current);
  return parts;
}

/**
 * Parses a suboption list in order. `impliedKey` names the key of a first element without `=`.
 * `location` is the `-opt arg` text QEMU prefixes to its messages.
 */
export function parseOpts(
  text: string,
  impliedKey: string | undefined,
  location: string,
  warn: Warn,
): OptPair[] {
  const pairs: OptPair[] = [];
  const parts = splitList(text);
  parts.forEach((part, index) => {
    const eq = part.indexOf("=");
    if (eq >= 0) {
      pairs.push({ key: part.slice(0, eq), value: part.slice(eq + 1) });
    } else if (index === 0 && impliedKey !== undefined) {
      pairs.push({ key: impliedKey, value: part });
    } else if (part === "" && index === parts.length - 1 && index > 0) {
      // A trailing comma is accepted and ignored, as QemuOpts does.
    } else {
      warn(`short-form boolean option '${part}' deprecated`, location, `Please use ${part}=on instead`);
      pairs.push({ key: part, value: "on" });
    }
  });
  return pairs;
}

/** QEMU's on/off booleans (also yes/no, true/false), or undefined when the value is none of them. */
export function parseBool(value: string): boolean | undefined {
  if (value === "on" || value === "yes" || value === "true" || value === "y") return true;
  if (value === "off" || value === "no" || value === "false" || value === "n") return false;
  return undefined;
}

/** QEMU's integer parameter syntax (strtoull with base 0: decimal, 0x hex, 0 octal). */
export function parseNumber(value: string): number | undefined {
  const text = value.trim();
  if (/^0x[0-9a-f]+$/i.test(text)) return parseInt(text.slice(2), 16);
  if (/^0[0-7]+$/.test(text)) return parseInt(text, 8);
  if (/^[0-9]+$/.test(text)) return parseInt(text, 10);
  return undefined;
}
