/**
 * JSON as QEMU prints it (qobject_to_json_pretty): four-space indent, `"key": value`, and object
 * keys in QDict iteration order. A QDict is a 512-bucket hash table keyed by tdb_hash() with new
 * entries pushed on the front of their bucket, so the printed order is bucket order, and reverse
 * insertion order within a bucket. Callers build objects in QAPI field order (the insertion
 * order) and this module reproduces the rest.
 */

const BUCKETS = 512;

/** tdb_hash(key) % QDICT_BUCKET_MAX, over the key's UTF-8 bytes. */
export function qdictBucket(key: string): number {
  const bytes = new TextEncoder().encode(key);
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) value = (value + (bytes[i] << ((i * 5) % 24))) >>> 0;
  return ((Math.imul(1103515243, value) + 12345) >>> 0) % BUCKETS;
}

/** The keys of an object inserted in the given order, in the order QEMU iterates them. */
export function qdictKeys(keys: string[]): string[] {
  return keys
    .map((key, index) => ({ key, index, bucket: qdictBucket(key) }))
    .sort((a, b) => a.bucket - b.bucket || b.index - a.index)
    .map((e) => e.key);
}

export type QValue = string | number | bigint | boolean | null | QValue[] | {
  [key: string]: QValue | undefined;
};

/** qobject_to_json_pretty(); properties whose value is undefined are absent (QAPI's has_X false). */
export function toQemuJson(value: QValue, depth = 0): string {
  if (value === null) return "null";
  if (typeof value === "string") return quote(value);
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  const inner = "\n" + "    ".repeat(depth + 1);
  const outer = "\n" + "    ".repeat(depth);
  if (Array.isArray(value)) {
    if (value.length === 0) return `[${outer}]`;
    return `[${inner}${value.map((v) => toQemuJson(v, depth + 1)).join("," + inner)}${outer}]`;
  }
  const keys = qdictKeys(Object.keys(value).filter((k) => value[k] !== undefined));
  if (keys.length === 0) return `{${outer}}`;
  const items = keys.map((k) => `${quote(k)}: ${toQemuJson(value[k]!, depth + 1)}`);
  return `{${inner}${items.join("," + inner)}${outer}}`;
}

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/** QEMU's quoted_str(): printable ASCII as is, everything else as \uXXXX (surrogate pairs above the BMP). */
function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const code = s.charCodeAt(i);
    if (ESCAPES[ch]) out += ESCAPES[ch];
    else if (code >= 0x20 && code < 0x7f) out += ch;
    else out += "\\u" + code.toString(16).toUpperCase().padStart(4, "0");
  }
  return out + '"';
}
