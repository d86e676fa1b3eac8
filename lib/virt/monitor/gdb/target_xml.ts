/**
 * The i386 target description gdb reads through qXfer:features:read (the same features, register
 * names and order as QEMU's gdb-xml/i386-32bit.xml): the core registers, x87 state and the SSE
 * registers. gdb matches registers by these names and numbers them in this order.
 */

/** Register names in gdb's numbering, with their size in bytes. */
export const I386_REGISTERS: [string, number][] = [
  ...["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags"].map((
    n,
  ): [string, number] => [n, 4]),
  ...["cs", "ss", "ds", "es", "fs", "gs"].map((n): [string, number] => [n, 4]),
  ...Array.from({ length: 8 }, (_, i): [string, number] => [`st${i}`, 10]),
  ...["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"].map((
    n,
  ): [string, number] => [n, 4]),
  ...Array.from({ length: 8 }, (_, i): [string, number] => [`xmm${i}`, 16]),
  ["mxcsr", 4],
];

const EFLAGS = [
  [0, "CF"],
  [1, ""],
  [2, "PF"],
  [4, "AF"],
  [6, "ZF"],
  [7, "SF"],
  [8, "TF"],
  [9, "IF"],
  [10, "DF"],
  [11, "OF"],
  [14, "NT"],
  [16, "RF"],
  [17, "VM"],
  [18, "AC"],
  [19, "VIF"],
  [20, "VIP"],
  [21, "ID"],
] as const;

function reg(name: string, bits: number, type: string, group?: string): string {
  return `<reg name="${name}" bitsize="${bits}" type="${type}"${group ? ` group="${group}"` : ""}/>`;
}

function buildXml(): string {
  const core = [
    ...["eax", "ecx", "edx", "ebx"].map((n) => reg(n, 32, "int32")),
    reg("esp", 32, "data_ptr"),
    reg("ebp", 32, "data_ptr"),
    reg("esi", 32, "int32"),
    reg("edi", 32, "int32"),
    reg("eip", 32, "code_ptr"),
    reg("eflags", 32, "i386_eflags"),
    ...["cs", "ss", "ds", "es", "fs", "gs"].map((n) => reg(n, 32, "int32")),
    ...Array.from({ length: 8 }, (_, i) => reg(`st${i}`, 80, "i387_ext")),
    ...["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"].map((n) =>
      reg(n, 32, "int", "float")
    ),
  ];
  const sse = [
    ...Array.from({ length: 8 }, (_, i) => reg(`xmm${i}`, 128, "vec128")),
    reg("mxcsr", 32, "i386_mxcsr", "vector"),
  ];
  return `<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target><architecture>i386</architecture>` +
    `<feature name="org.gnu.gdb.i386.core"><flags id="i386_eflags" size="4">` +
    EFLAGS.map(([bit, name]) => `<field name="${name}" start="${bit}" end="${bit}"/>`).join("") +
    `</flags>${core.join("")}</feature>` +
    `<feature name="org.gnu.gdb.i386.sse"><vector id="v4f" type="ieee_single" count="4"/>` +
    `<vector id="v2d" type="ieee_double" count="2"/><vector id="v16i8" type="int8" count="16"/>` +
    `<vector id="v8i16" type="int16" count="8"/><vector id="v4i32" type="int32" count="4"/>` +
    `<vector id="v2i64" type="int64" count="2"/><union id="vec128"><field name="v4_float" type="v4f"/>` +
    `<field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/>` +
    `<field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>` +
    `<field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/></union>` +
    `<flags id="i386_mxcsr" size="4"><field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/>` +
    `<field name="ZE" start="2" end="2"/><field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/>` +
    `<field name="PE" start="5" end="5"/><field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/>` +
    `<field name="DM" start="8" end="8"/><field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/>` +
    `<field name="UM" start="11" end="11"/><field name="PM" start="12" end="12"/>` +
    `<field name="FZ" start="15" end="15"/></flags>${sse.join("")}</feature></target>`;
}

export const TARGET_XML = buildXml();
