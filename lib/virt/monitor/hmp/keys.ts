/**
 * sendkey's key names (QEMU's QKeyCode names) and their PS/2 scancodes in sets 1 and 2. An
 * extended key is sent with the E0 prefix; a set-2 release is F0 before the code, a set-1 release
 * sets bit 7.
 */

/** name: [set 1 code, set 2 code, extended]. */
const KEYS: Record<string, [number, number, boolean]> = {
  esc: [0x01, 0x76, false],
  "1": [0x02, 0x16, false],
  "2": [0x03, 0x1e, false],
  "3": [0x04, 0x26, false],
  "4": [0x05, 0x25, false],
  "5": [0x06, 0x2e, false],
  "6": [0x07, 0x36, false],
  "7": [0x08, 0x3d, false],
  "8": [0x09, 0x3e, false],
  "9": [0x0a, 0x46, false],
  "0": [0x0b, 0x45, false],
  minus: [0x0c, 0x4e, false],
  equal: [0x0d, 0x55, false],
  backspace: [0x0e, 0x66, false],
  tab: [0x0f, 0x0d, false],
  q: [0x10, 0x15, false],
  w: [0x11, 0x1d, false],
  e: [0x12, 0x24, false],
  r: [0x13, 0x2d, false],
  t: [0x14, 0x2c, false],
  y: [0x15, 0x35, false],
  u: [0x16, 0x3c, false],
  i: [0x17, 0x43, false],
  o: [0x18, 0x44, false],
  p: [0x19, 0x4d, false],
  bracket_left: [0x1a, 0x54, false],
  bracket_right: [0x1b, 0x5b, false],
  ret: [0x1c, 0x5a, false],
  ctrl: [0x1d, 0x14, false],
  a: [0x1e, 0x1c, false],
  s: [0x1f, 0x1b, false],
  d: [0x20, 0x23, false],
  f: [0x21, 0x2b, false],
  g: [0x22, 0x34, false],
  h: [0x23, 0x33, false],
  j: [0x24, 0x3b, false],
  k: [0x25, 0x42, false],
  l: [0x26, 0x4b, false],
  semicolon: [0x27, 0x4c, false],
  apostrophe: [0x28, 0x52, false],
  grave_accent: [0x29, 0x0e, false],
  shift: [0x2a, 0x12, false],
  backslash: [0x2b, 0x5d, false],
  z: [0x2c, 0x1a, false],
  x: [0x2d, 0x22, false],
  c: [0x2e, 0x21, false],
  v: [0x2f, 0x2a, false],
  b: [0x30, 0x32, false],
  n: [0x31, 0x31, false],
  m: [0x32, 0x3a, false],
  comma: [0x33, 0x41, false],
  dot: [0x34, 0x49, false],
  slash: [0x35, 0x4a, false],
  shift_r: [0x36, 0x59, false],
  asterisk: [0x37, 0x7c, false],
  alt: [0x38, 0x11, false],
  spc: [0x39, 0x29, false],
  caps_lock: [0x3a, 0x58, false],
  f1: [0x3b, 0x05, false],
  f2: [0x3c, 0x06, false],
  f3: [0x3d, 0x04, false],
  f4: [0x3e, 0x0c, false],
  f5: [0x3f, 0x03, false],
  f6: [0x40, 0x0b, false],
  f7: [0x41, 0x83, false],
  f8: [0x42, 0x0a, false],
  f9: [0x43, 0x01, false],
  f10: [0x44, 0x09, false],
  f11: [0x57, 0x78, false],
  f12: [0x58, 0x07, false],
  ctrl_r: [0x1d, 0x14, true],
  alt_r: [0x38, 0x11, true],
  home: [0x47, 0x6c, true],
  up: [0x48, 0x75, true],
  pgup: [0x49, 0x7d, true],
  left: [0x4b, 0x6b, true],
  right: [0x4d, 0x74, true],
  end: [0x4f, 0x69, true],
  down: [0x50, 0x72, true],
  pgdn: [0x51, 0x7a, true],
  insert: [0x52, 0x70, true],
  delete: [0x53, 0x71, true],
};

/** Scancode bytes for pressing the keys in order and releasing them in reverse; undefined names the bad key. */
export function sendkeyBytes(keys: string[], set: number): { bytes: number[] } | { bad: string } {
  const codes: [number, number, boolean][] = [];
  for (const k of keys) {
    const entry = KEYS[k];
    if (!entry) return { bad: k };
    codes.push(entry);
  }
  const bytes: number[] = [];
  const emit = ([s1, s2, ext]: [number, number, boolean], release: boolean) => {
    if (ext) bytes.push(0xe0);
    if (set === 1) bytes.push(release ? s1 | 0x80 : s1);
    else bytes.push(...(release ? [0xf0, s2] : [s2]));
  };
  for (const c of codes) emit(c, false);
  for (const c of [...codes].reverse()) emit(c, true);
  return { bytes };
}
