/**
 * Key names as QEMU's `sendkey` and QMP `send-key` spell them (its qcodes), mapped to the PC XT
 * scancodes (set 1) that the i8042 delivers while it translates, as it does by default and under
 * Linux and SeaBIOS. Extended keys carry the 0xE0 prefix in the high byte. A break code is the make
 * code with bit 7 set, after the same prefix.
 */
import { LibError } from "../errors.ts";

/** A key name that QEMU would not know. */
export class UnknownKeyError extends LibError {}

const LETTERS = "qwertyuiop".split("").map((k, i) => [k, 0x10 + i] as const)
  .concat("asdfghjkl".split("").map((k, i) => [k, 0x1e + i] as const))
  .concat("zxcvbnm".split("").map((k, i) => [k, 0x2c + i] as const));

export const SCANCODES: Readonly<Record<string, number>> = Object.fromEntries([
  ...LETTERS,
  ..."1234567890".split("").map((k, i) => [k, 0x02 + i] as const),
  ...Array.from({ length: 10 }, (_, i) => [`f${i + 1}`, 0x3b + i] as const),
  ["f11", 0x57],
  ["f12", 0x58],
  ["esc", 0x01],
  ["minus", 0x0c],
  ["equal", 0x0d],
  ["backspace", 0x0e],
  ["tab", 0x0f],
  ["bracket_left", 0x1a],
  ["bracket_right", 0x1b],
  ["ret", 0x1c],
  ["ctrl", 0x1d],
  ["semicolon", 0x27],
  ["apostrophe", 0x28],
  ["grave_accent", 0x29],
  ["shift", 0x2a],
  ["backslash", 0x2b],
  ["comma", 0x33],
  ["dot", 0x34],
  ["slash", 0x35],
  ["shift_r", 0x36],
  ["kp_multiply", 0x37],
  ["alt", 0x38],
  ["spc", 0x39],
  ["caps_lock", 0x3a],
  ["num_lock", 0x45],
  ["scroll_lock", 0x46],
  ["kp_7", 0x47],
  ["kp_8", 0x48],
  ["kp_9", 0x49],
  ["kp_subtract", 0x4a],
  ["kp_4", 0x4b],
  ["kp_5", 0x4c],
  ["kp_6", 0x4d],
  ["kp_add", 0x4e],
  ["kp_1", 0x4f],
  ["kp_2", 0x50],
  ["kp_3", 0x51],
  ["kp_0", 0x52],
  ["kp_decimal", 0x53],
  ["less", 0x56],
  ["kp_enter", 0xe01c],
  ["ctrl_r", 0xe01d],
  ["kp_divide", 0xe035],
  ["print", 0xe037],
  ["sysrq", 0xe037],
  ["alt_r", 0xe038],
  ["home", 0xe047],
  ["up", 0xe048],
  ["pgup", 0xe049],
  ["left", 0xe04b],
  ["right", 0xe04d],
  ["end", 0xe04f],
  ["down", 0xe050],
  ["pgdn", 0xe051],
  ["insert", 0xe052],
  ["delete", 0xe053],
  ["meta_l", 0xe05b],
  ["meta_r", 0xe05c],
  ["menu", 0xe05d],
]);

/** The bytes for one key going down or up. */
export function keyBytes(name: string, down: boolean): number[] {
  const code = SCANCODES[name];
  if (code === undefined) throw new UnknownKeyError(`unknown key: '${name}'`);
  const make = code & 0xff;
  const bytes = code > 0xff ? [0xe0] : [];
  bytes.push(down ? make : make | 0x80);
  return bytes;
}

/** `sendkey ctrl-alt-delete`: every key pressed in order, then released in reverse order. */
export function keyComboBytes(combo: string): number[] {
  const keys = combo.split("-");
  const out: number[] = [];
  for (const k of keys) out.push(...keyBytes(k, true));
  for (const k of [...keys].reverse()) out.push(...keyBytes(k, false));
  return out;
}
