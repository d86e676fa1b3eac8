/** Small pieces kmod's tools share: the option-string builder and symbol CRCs for --show-*. */

/** tools/opt.c options_from_array: words joined by spaces, values with spaces double-quoted. */
export function optionsFromArray(args: string[]): string {
  return args.map((a) => {
    const eq = a.indexOf("=");
    if (eq < 0) return a;
    const value = a.slice(eq + 1);
    if (value.startsWith('"') || value.startsWith("'") || !value.includes(" ")) return a;
    return `${a.slice(0, eq + 1)}"${value}"`;
  }).join(" ");
}

/** A stable 32-bit CRC stand-in per symbol name (the simulated modules carry no __versions). */
export function symbolCrc(symbol: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < symbol.length; i++) h = Math.imul(h ^ symbol.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}
