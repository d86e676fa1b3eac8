/**
 * JSON shapes for transcript comparison: keys in order with the shape of each value, element
 * shapes for arrays, the type name for scalars. Two replies with equal shapes parse the same way
 * in a client whatever their values.
 */
export type Shape = string | Shape[] | { [key: string]: Shape };

export function shapeOf(v: unknown): Shape {
  if (v === null) return "null";
  if (Array.isArray(v)) {
    const seen = new Map<string, Shape>();
    for (const e of v) {
      const s = shapeOf(e);
      seen.set(JSON.stringify(s), s);
    }
    return [...seen.values()];
  }
  if (typeof v === "object") {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, e]) => [k, shapeOf(e)]));
  }
  return Number.isInteger(v) ? "int" : typeof v;
}

/** Key order matters to some clients (and to QEMU's own tests): compare as ordered JSON. */
export function sameShape(a: unknown, b: unknown): boolean {
  return JSON.stringify(shapeOf(a)) === JSON.stringify(shapeOf(b));
}
