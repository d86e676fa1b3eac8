/**
 * A small ACPI Machine Language encoder (ACPI 6.x chapter 20) for the DSDT this machine builds
 * without firmware: name strings, integers, package lengths and the handful of named objects and
 * statements the PCI root, its interrupt links and the HPET device need. Each function returns the
 * encoded bytes of one term, so AML reads like the ASL it stands for.
 */

export type Aml = number[];

/** PkgLength: the encoded length counts its own 1-4 bytes. */
export function pkgLength(bodyLength: number): Aml {
  if (bodyLength + 1 < 0x40) return [bodyLength + 1];
  for (let extra = 1; extra <= 3; extra++) {
    const total = bodyLength + 1 + extra;
    if (total < 2 ** (4 + 8 * extra)) {
      const out = [(extra << 6) | (total & 0x0f)];
      for (let i = 0; i < extra; i++) out.push((total >> (4 + 8 * i)) & 0xff);
      return out;
    }
  }
  throw new RangeError("AML package too long");
}

const pkg = (body: Aml): Aml => [...pkgLength(body.length), ...body];

function nameSeg(seg: string): Aml {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new RangeError(`bad AML name segment ${seg}`);
  return [...seg.padEnd(4, "_")].map((c) => c.charCodeAt(0));
}

/** A NameString: "LNKA", "\\_SB_", "\\_SB_.PCI0.ISA_.PRQ0". */
export function nameString(path: string): Aml {
  const root = path.startsWith("\\");
  const segs = (root ? path.slice(1) : path).split(".").filter((s) => s !== "");
  const prefix = root ? [0x5c] : [];
  if (segs.length === 0) return [...prefix, 0x00];
  if (segs.length === 1) return [...prefix, ...nameSeg(segs[0])];
  if (segs.length === 2) return [...prefix, 0x2e, ...nameSeg(segs[0]), ...nameSeg(segs[1])];
  return [...prefix, 0x2f, segs.length, ...segs.flatMap(nameSeg)];
}

/** An integer as the shortest constant: Zero, One, Byte, Word or DWord. */
export function int(v: number): Aml {
  if (v === 0) return [0x00];
  if (v === 1) return [0x01];
  if (v <= 0xff) return [0x0a, v];
  if (v <= 0xffff) return [0x0b, v & 0xff, v >> 8];
  return [0x0c, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** EISAID("PNP0C0F"): three 5-bit letters and four hex digits, as a DWord. */
export function eisaId(id: string): Aml {
  const letters = [0, 1, 2].reduce((v, i) => (v << 5) | (id.charCodeAt(i) - 0x40), 0);
  const product = parseInt(id.slice(3), 16);
  return [0x0c, letters >> 8, letters & 0xff, product >> 8, product & 0xff];
}

export const ARG0: Aml = [0x68];
/** The NullName target: the result is not stored. */
const NO_TARGET: Aml = [0x00];

export const name = (n: string, value: Aml): Aml => [0x08, ...nameString(n), ...value];
export const scope = (
  path: string,
  ...body: Aml[]
): Aml => [0x10, ...pkg([...nameString(path), ...body.flat()])];
export const device = (
  n: string,
  ...body: Aml[]
): Aml => [0x5b, 0x82, ...pkg([...nameString(n), ...body.flat()])];
export const buffer = (bytes: Aml): Aml => [0x11, ...pkg([...int(bytes.length), ...bytes])];
export const packageOf = (elements: Aml[]): Aml => [0x12, ...pkg([elements.length, ...elements.flat()])];

/** Method (name, args, NotSerialized|Serialized) { body }. */
export function method(n: string, args: number, serialized: boolean, ...body: Aml[]): Aml {
  return [0x14, ...pkg([...nameString(n), args | (serialized ? 0x08 : 0), ...body.flat()])];
}

export const ifThen = (predicate: Aml, ...body: Aml[]): Aml => [0xa0, ...pkg([...predicate, ...body.flat()])];
export const ret = (value: Aml): Aml => [0xa4, ...value];
export const store = (source: Aml, target: Aml): Aml => [0x70, ...source, ...target];
export const and = (a: Aml, b: Aml, target: Aml = NO_TARGET): Aml => [0x7b, ...a, ...b, ...target];
export const or = (a: Aml, b: Aml, target: Aml = NO_TARGET): Aml => [0x7d, ...a, ...b, ...target];
export const lless = (a: Aml, b: Aml): Aml => [0x95, ...a, ...b];
/** CreateDWordField (buffer, byteIndex, name). */
export const createDWordField = (source: Aml, index: number, n: string): Aml => [
  0x8a,
  ...source,
  ...int(index),
  ...nameString(n),
];
/** A call of a method defined earlier (the parser knows its argument count from there). */
export const call = (path: string, ...args: Aml[]): Aml => [...nameString(path), ...args.flat()];

/** OperationRegion (name, PCI_Config, offset, length). */
export const pciConfigRegion = (n: string, offset: number, length: number): Aml => [
  0x5b,
  0x80,
  ...nameString(n),
  0x02,
  ...int(offset),
  ...int(length),
];

/** Field (region, ByteAcc, NoLock, Preserve) { name, bits, ... }. */
export function byteFields(region: string, fields: [string, number][]): Aml {
  // A field's PkgLength is its width in bits, not counting itself (all of ours are below 0x40).
  const list = fields.flatMap(([n, bits]) => [...nameSeg(n), bits]);
  return [0x5b, 0x81, ...pkg([...nameString(region), 0x01, ...list])];
}

// ---- resource descriptors (ACPI 6.x §6.4) ----

/** Interrupt (ResourceConsumer, Level, ActiveHigh, Shared) { irqs }: the extended IRQ descriptor. */
export function extendedIrq(irqs: number[]): Aml {
  const body = [0x09, irqs.length, ...irqs.flatMap((irq) => [irq & 0xff, 0, 0, 0])];
  return [0x89, body.length & 0xff, body.length >> 8, ...body];
}

/** Memory32Fixed (ReadOnly, base, length). */
export function memory32FixedReadOnly(base: number, length: number): Aml {
  const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  return [0x86, 9, 0, 0x00, ...le32(base), ...le32(length)];
}

/** IO (Decode16, base, base, alignment, length): a fixed range of I/O ports. */
export const ioPorts = (base: number, alignment: number, length: number): Aml => [
  0x47,
  0x01,
  base & 0xff,
  base >> 8,
  base & 0xff,
  base >> 8,
  alignment,
  length,
];

/** IRQNoFlags () { irq }: the short IRQ descriptor (edge, active high, exclusive). */
export const irqNoFlags = (irq: number): Aml => [0x22, (1 << irq) & 0xff, (1 << irq) >> 8];

/** DMA (Compatibility, NotBusMaster, Transfer8) { channel }. */
export const dma8 = (channel: number): Aml => [0x2a, 1 << channel, 0x00];

/** A ResourceTemplate: the descriptors and the end tag, as a Buffer. */
export const resourceTemplate = (...descriptors: Aml[]): Aml => buffer([...descriptors.flat(), 0x79, 0x00]);
