/** `qemu-img map`: img_map() walking blockStatus, merging extents as entry_mergeable() does. */
import type { BlockDriver } from "../../../lib/image/block_driver.ts";
import {
  FORCE_SHARE,
  FORMAT,
  HELP,
  IMAGE_OPTS,
  OBJECT,
  oneFilename,
  OUTPUT,
  outputFormat,
  parseCommand,
} from "../command.ts";
import { withImage } from "../images.ts";
import { CommandError, writeOut } from "../report.ts";
import { cvtnum } from "../size.ts";

export interface MapEntry {
  start: number;
  length: number;
  data: boolean;
  zero: boolean;
  present: boolean;
  depth: number;
  offset?: number;
  filename?: string;
}

export function map(argv: string[]): number {
  const opts = parseCommand(argv, ":f:hU", [
    HELP,
    FORMAT,
    OUTPUT,
    OBJECT,
    IMAGE_OPTS,
    FORCE_SHARE,
    { name: "start-offset", arg: "required", key: "s" },
    { name: "max-length", arg: "required", key: "l" },
  ]);
  const startText = opts.get("s");
  const start = startText === undefined ? 0 : cvtnum("start offset", startText);
  const maxText = opts.get("l");
  const maxLength = maxText === undefined ? -1 : cvtnum("max length", maxText);
  const output = outputFormat(opts);
  const filename = oneFilename(opts);
  withImage(filename, { format: opts.get("f"), readOnly: true, forceShare: opts.has("U") }, (bs) => {
    const { text, error } = renderMap(mapEntries(bs, start, maxLength), output);
    writeOut(text);
    if (error) throw new CommandError(error);
  });
  return 0;
}

/** The merged extents of [start, start+maxLength) (to the end of the image when maxLength is -1). */
export function mapEntries(bs: BlockDriver, start: number, maxLength: number): MapEntry[] {
  let length = bs.size;
  if (maxLength !== -1) length = Math.min(start + maxLength, length);
  const entries: MapEntry[] = [];
  let curr: MapEntry = { start, length: 0, data: false, zero: false, present: false, depth: 0 };
  while (curr.start + curr.length < length) {
    const offset = curr.start + curr.length;
    const next = statusEntry(bs, offset, length - offset);
    if (mergeable(curr, next)) {
      curr.length += next.length;
      continue;
    }
    if (curr.length > 0) entries.push(curr);
    curr = next;
  }
  entries.push(curr);
  return entries;
}

function statusEntry(bs: BlockDriver, offset: number, bytes: number): MapEntry {
  let s;
  try {
    s = bs.blockStatus(offset, bytes);
  } catch (e) {
    throw new CommandError(`Could not read file metadata: ${(e as Error).message}`);
  }
  if (s.length <= 0) throw new CommandError("Could not read file metadata: Input/output error");
  return {
    start: offset,
    length: s.length,
    data: s.data,
    zero: s.zero,
    present: s.present,
    depth: s.depth,
    offset: s.hostOffset,
    filename: s.hostOffset === undefined ? undefined : s.filename,
  };
}

function mergeable(curr: MapEntry, next: MapEntry): boolean {
  if (curr.length === 0) return false;
  if (
    curr.zero !== next.zero || curr.data !== next.data || curr.depth !== next.depth ||
    curr.present !== next.present || (curr.filename === undefined) !== (next.filename === undefined) ||
    (curr.offset === undefined) !== (next.offset === undefined)
  ) return false;
  if (curr.filename !== undefined && curr.filename !== next.filename) return false;
  if (curr.offset !== undefined && curr.offset + curr.length !== next.offset) return false;
  return true;
}

const hex = (n: number) => (n === 0 ? "0" : "0x" + n.toString(16));

/**
 * dump_map_entry() over the list. The human form folds zero and unallocated runs together before
 * merging, and stops (with `error`) at data it cannot map, after printing what came before.
 */
export function renderMap(entries: MapEntry[], output: "human" | "json"): { text: string; error?: string } {
  if (output === "json") {
    return {
      text: "[" + entries.map((e) =>
        `{ "start": ${e.start}, "length": ${e.length}, "depth": ${e.depth}, "present": ${e.present}, ` +
        `"zero": ${e.zero}, "data": ${e.data}${e.offset !== undefined ? `, "offset": ${e.offset}` : ""}}`
      ).join(",\n") + "]\n",
    };
  }
  let out = `${"Offset".padEnd(16)}${"Length".padEnd(16)}${"Mapped to".padEnd(16)}File\n`;
  // The human form re-merges after treating every non-data or zero extent alike.
  const folded: MapEntry[] = [];
  for (const e of entries) {
    const f = { ...e };
    if (!f.data || f.zero) {
      f.data = false;
      f.zero = true;
    }
    const prev = folded[folded.length - 1];
    if (prev && mergeable(prev, f)) prev.length += f.length;
    else folded.push(f);
  }
  for (const e of folded) {
    if (e.data && e.offset === undefined) {
      return { text: out, error: "File contains external, encrypted or compressed clusters." };
    }
    if (e.data && !e.zero) {
      out += `${hex(e.start).padEnd(16)}${hex(e.length).padEnd(16)}${hex(e.offset ?? 0).padEnd(16)}${
        e.filename ?? ""
      }\n`;
    }
  }
  return { text: out };
}
