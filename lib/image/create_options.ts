/**
 * The `-o` option tables of each image format, as `qemu-img create -f FMT -o help` lists them, and
 * the order in which `Formatting '...', fmt=...` prints them. Both are data: the CLI prints help
 * and the Formatting line from these tables.
 *
 * QEMU merges the format's options with the file protocol's (extent_size_hint, nocow,
 * preallocation) when a filename is given; the merged list is sorted by name and headed
 * `Supported options:`, while without a filename only the format's own list is shown under
 * `Supported FMT options:`.
 */
import type { CreateOptions } from "./block_driver.ts";

export type OptionType = "str" | "size" | "bool (on/off)" | "num";

export interface OptionSpec {
  name: string;
  type: OptionType;
  help: string;
  /** Printed in the Formatting line when the option was not given. */
  defaultValue?: string;
  /** The CreateOptions field the option sets, when we implement it. */
  field?: keyof CreateOptions;
}

const ENCRYPT_OPTIONS: OptionSpec[] = [
  { name: "encrypt.cipher-alg", type: "str", help: "Name of encryption cipher algorithm" },
  { name: "encrypt.cipher-mode", type: "str", help: "Name of encryption cipher mode" },
  { name: "encrypt.format", type: "str", help: "Encrypt the image, format choices: 'aes', 'luks'" },
  { name: "encrypt.hash-alg", type: "str", help: "Name of encryption hash algorithm" },
  { name: "encrypt.iter-time", type: "num", help: "Time to spend in PBKDF in milliseconds" },
  { name: "encrypt.ivgen-alg", type: "str", help: "Name of IV generator algorithm" },
  { name: "encrypt.ivgen-hash-alg", type: "str", help: "Name of IV generator hash algorithm" },
  { name: "encrypt.key-secret", type: "str", help: "ID of secret providing qcow AES key or LUKS passphrase" },
  {
    name: "encryption",
    type: "bool (on/off)",
    help: "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)",
  },
];

const SIZE: OptionSpec = { name: "size", type: "size", help: "Virtual disk size", field: "size" };

/** The file protocol's own options, merged in when `-o help` is given a filename. */
export const FILE_PROTOCOL_OPTIONS: OptionSpec[] = [
  { name: "extent_size_hint", type: "size", help: "Extent size hint for the image file, 0 to disable" },
  { name: "nocow", type: "bool (on/off)", help: "Turn off copy-on-write (valid only on btrfs)" },
  {
    name: "preallocation",
    type: "str",
    help: "Preallocation mode (allowed values: off, falloc, full)",
    field: "preallocation",
  },
  SIZE,
];

export interface FormatOptionTable {
  /** The format's options in `-o help` order (by name). */
  options: OptionSpec[];
  /** Option names in the order the Formatting line prints them. */
  formattingOrder: string[];
}

export const OPTION_TABLES: Record<string, FormatOptionTable> = {
  raw: {
    options: [SIZE],
    formattingOrder: ["size", "preallocation", "nocow", "extent_size_hint"],
  },
  qcow2: {
    options: [
      { name: "backing_file", type: "str", help: "File name of a base image", field: "backingFile" },
      { name: "backing_fmt", type: "str", help: "Image format of the base image", field: "backingFormat" },
      {
        name: "cluster_size",
        type: "size",
        help: "qcow2 cluster size",
        defaultValue: "65536",
        field: "clusterSize",
      },
      { name: "compat", type: "str", help: "Compatibility level (v2 [0.10] or v3 [1.1])", field: "compat" },
      {
        name: "compression_type",
        type: "str",
        help: "Compression method used for image cluster compression",
        defaultValue: "zlib",
        field: "compressionType",
      },
      { name: "data_file", type: "str", help: "File name of an external data file", field: "dataFile" },
      {
        name: "data_file_raw",
        type: "bool (on/off)",
        help: "The external data file must stay valid as a raw image",
        field: "dataFileRaw",
      },
      ...ENCRYPT_OPTIONS,
      {
        name: "extended_l2",
        type: "bool (on/off)",
        help: "Extended L2 tables",
        defaultValue: "off",
        field: "extendedL2",
      },
      {
        name: "lazy_refcounts",
        type: "bool (on/off)",
        help: "Postpone refcount updates",
        defaultValue: "off",
        field: "lazyRefcounts",
      },
      {
        name: "preallocation",
        type: "str",
        help: "Preallocation mode (allowed values: off, metadata, falloc, full)",
        field: "preallocation",
      },
      {
        name: "refcount_bits",
        type: "num",
        help: "Width of a reference count entry in bits",
        defaultValue: "16",
        field: "refcountBits",
      },
      SIZE,
    ],
    formattingOrder: [
      "cluster_size",
      "extended_l2",
      "preallocation",
      "compression_type",
      "size",
      "compat",
      "backing_file",
      "backing_fmt",
      "data_file",
      "data_file_raw",
      "encryption",
      "encrypt.format",
      "encrypt.key-secret",
      "encrypt.cipher-alg",
      "encrypt.cipher-mode",
      "encrypt.ivgen-alg",
      "encrypt.ivgen-hash-alg",
      "encrypt.hash-alg",
      "encrypt.iter-time",
      "lazy_refcounts",
      "refcount_bits",
      "nocow",
      "extent_size_hint",
    ],
  },
};

/**
 * The `-o help` text (without the trailing protocol note), e.g. `  backing_file=<str>     - File
 * name of a base image`. With `withProtocol` the file protocol's options are merged in, as QEMU
 * does when a filename is given.
 */
export function optionHelp(format: string, withProtocol: boolean): string {
  const table = OPTION_TABLES[format];
  if (!table) return "";
  let options = table.options;
  if (withProtocol) {
    const byName = new Map<string, OptionSpec>();
    for (const o of FILE_PROTOCOL_OPTIONS) byName.set(o.name, o);
    for (const o of table.options) byName.set(o.name, o);
    options = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  const head = withProtocol ? "Supported options:\n" : `Supported ${format} options:\n`;
  return head + options.map((o) => `  ${`${o.name}=<${o.type}>`.padEnd(22)} - ${o.help}\n`).join("");
}

/**
 * The `Formatting 'FILE', fmt=FMT ...` line (without newline). `given` holds the -o options as the
 * user spelled them after QEMU's normalisation (sizes as plain byte counts, booleans on/off); the
 * size is always present. Options with a default are printed even when not given.
 */
export function formattingLine(filename: string, format: string, given: Record<string, string>): string {
  const table = OPTION_TABLES[format];
  const parts = [`Formatting '${filename}', fmt=${format}`];
  const defaults = new Map((table?.options ?? []).map((o) => [o.name, o.defaultValue]));
  for (const name of table?.formattingOrder ?? Object.keys(given)) {
    const value = given[name] ?? defaults.get(name);
    if (value !== undefined) parts.push(`${name}=${value}`);
  }
  return parts.join(" ");
}
