/**
 * CPU models: what CPUID returns for each, as recorded from qemu-system-i386 7.2 guests
 * (tests/guests/cpu/cpuid.asm prints these leaves; its golden is the real QEMU's output).
 * Leaves above the basic or extended maximum return the highest basic leaf, as Intel CPUs do.
 * Leaf 4 (deterministic cache parameters) is indexed by the sub-leaf in ECX; sub-leaves past the
 * table are the null cache type, which ends the enumeration loops of Linux and glibc.
 *
 * The `-cpu` option is parsed by the machine's CLI; this file owns the table and the
 * feature-flag names it maps `+feat`/`-feat` to.
 */

export interface CpuModel {
  readonly name: string;
  /** leaf -> [EAX, EBX, ECX, EDX] */
  readonly leaves: ReadonlyMap<number, readonly [number, number, number, number]>;
  /** leaf -> per-sub-leaf rows, for the leaves whose answer depends on ECX */
  readonly subleaves: ReadonlyMap<number, readonly (readonly [number, number, number, number])[]>;
  /** EDX after RESET: family/model/stepping. */
  readonly resetEdx: number;
}

type Row = [number, number, number, number, number];

type Regs = [number, number, number, number];

function model(name: string, rows: Row[], indexed: Record<number, Regs[]> = {}): CpuModel {
  const leaves = new Map(rows.map(([leaf, ...r]) => [leaf >>> 0, r as Regs]));
  const subleaves = new Map(Object.entries(indexed).map(([leaf, r]) => [Number(leaf), r]));
  return { name, leaves, subleaves, resetEdx: leaves.get(1)![0] };
}

const NULL_LEAF: Regs = [0, 0, 0, 0];

const VENDOR_INTEL: [number, number, number] = [0x756e6547, 0x6c65746e, 0x49656e69];
/** "QEMU Virtual CPU version 2.5+" over leaves 0x80000002..4. */
const QEMU_BRAND: Row[] = [
  [0x80000002, 0x554d4551, 0x72695620, 0x6c617574, 0x55504320],
  [0x80000003, 0x72657620, 0x6e6f6973, 0x352e3220, 0x0000002b],
  [0x80000004, 0, 0, 0, 0],
];

export const MODELS: Record<string, CpuModel> = {
  qemu32: model("qemu32", [
    [0, 4, ...VENDOR_INTEL],
    [1, 0x00000663, 0x00000800, 0x80000001, 0x0781abfd],
    [2, 0x00000001, 0, 0x0000004d, 0x002c307d],
    [3, 0, 0, 0, 0],
    [4, 0x00000121, 0x01c0003f, 0x0000003f, 0x00000001],
    [0x80000000, 0x80000004, ...VENDOR_INTEL],
    [0x80000001, 0x00000663, 0, 0, 0],
    ...QEMU_BRAND,
  ], {
    // QEMU's legacy-cache: L1d, L1i, L2, L3 (as the sub-leaves of qemu-system-i386 7.2 answer).
    4: [
      [0x00000121, 0x01c0003f, 0x0000003f, 0x00000001],
      [0x00000122, 0x01c0003f, 0x0000003f, 0x00000001],
      [0x00000143, 0x03c0003f, 0x00000fff, 0x00000001],
      [0x00000163, 0x03c0003f, 0x00003fff, 0x00000006],
    ],
  }),
  pentium3: model("pentium3", [
    [0, 3, ...VENDOR_INTEL],
    [1, 0x00000673, 0x00000800, 0x80000000, 0x0383fbfd],
    [2, 0x00000001, 0, 0x0000004d, 0x002c307d],
    [3, 0, 0, 0, 0],
  ]),
  pentium2: model("pentium2", [
    [0, 2, ...VENDOR_INTEL],
    [1, 0x00000652, 0x00000800, 0x80000000, 0x0183fbfd],
    [2, 0x00000001, 0, 0x0000004d, 0x002c307d],
  ]),
};

/** CPUID.1:EDX/ECX feature names for `-cpu MODEL,+feat,-feat` (register, bit). */
export const FEATURES: Record<string, ["edx" | "ecx", number]> = {
  fpu: ["edx", 0],
  vme: ["edx", 1],
  de: ["edx", 2],
  pse: ["edx", 3],
  tsc: ["edx", 4],
  msr: ["edx", 5],
  pae: ["edx", 6],
  mce: ["edx", 7],
  cx8: ["edx", 8],
  apic: ["edx", 9],
  sep: ["edx", 11],
  mtrr: ["edx", 12],
  pge: ["edx", 13],
  mca: ["edx", 14],
  cmov: ["edx", 15],
  pat: ["edx", 16],
  pse36: ["edx", 17],
  clflush: ["edx", 19],
  mmx: ["edx", 23],
  fxsr: ["edx", 24],
  sse: ["edx", 25],
  sse2: ["edx", 26],
  pni: ["ecx", 0],
  monitor: ["ecx", 3],
  vmx: ["ecx", 5],
  hypervisor: ["ecx", 31],
};

/** CPUID for a model: [EAX, EBX, ECX, EDX]. */
export function cpuid(
  m: CpuModel,
  leaf: number,
  subleaf: number,
): readonly [number, number, number, number] {
  leaf >>>= 0;
  const maxBasic = m.leaves.get(0)![0];
  const ext = m.leaves.get(0x80000000);
  if (!m.leaves.has(leaf)) {
    if (leaf >= 0x80000000 && ext && leaf <= ext[0] >>> 0) return NULL_LEAF;
    leaf = maxBasic;
  }
  const indexed = m.subleaves.get(leaf);
  if (indexed) return indexed[subleaf >>> 0] ?? NULL_LEAF;
  return m.leaves.get(leaf) ?? NULL_LEAF;
}

/** A copy of a model with feature bits of leaf 1 set or cleared (for `-cpu MODEL,+feat,-feat`). */
export function withFeatures(m: CpuModel, changes: Record<string, boolean>): CpuModel {
  const leaves = new Map(m.leaves);
  const l1 = [...leaves.get(1)!] as [number, number, number, number];
  for (const [name, on] of Object.entries(changes)) {
    const f = FEATURES[name];
    if (!f) throw new RangeError(`unknown CPU feature ${name}`);
    const k = f[0] === "edx" ? 3 : 2;
    l1[k] = on ? l1[k] | (1 << f[1]) : l1[k] & ~(1 << f[1]);
  }
  leaves.set(1, l1);
  return { name: m.name, leaves, subleaves: m.subleaves, resetEdx: m.resetEdx };
}
