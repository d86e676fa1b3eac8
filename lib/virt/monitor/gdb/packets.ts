/**
 * The GDB remote serial protocol's framing: `$payload#checksum` packets, `+`/`-` acknowledgements,
 * the 0x03 interrupt byte, run-length-free replies, and the hex helpers the commands share.
 */

export type Incoming = { kind: "packet"; payload: string } | { kind: "interrupt" } | { kind: "nak" };

/** Splits the byte stream into packets; a packet with a bad checksum comes out as a nak to send. */
export class PacketReader {
  private buffer = "";

  feed(text: string): Incoming[] {
    this.buffer += text;
    const out: Incoming[] = [];
    for (;;) {
      // Acks from gdb and line noise before a packet start are skipped.
      let i = 0;
      while (i < this.buffer.length && this.buffer[i] !== "$") {
        if (this.buffer.charCodeAt(i) === 3) out.push({ kind: "interrupt" });
        i++;
      }
      this.buffer = this.buffer.slice(i);
      const hash = this.buffer.indexOf("#");
      if (hash < 0 || this.buffer.length < hash + 3) return out;
      const body = this.buffer.slice(1, hash);
      const sum = parseInt(this.buffer.slice(hash + 1, hash + 3), 16);
      this.buffer = this.buffer.slice(hash + 3);
      if (checksum(body) !== sum) out.push({ kind: "nak" });
      else out.push({ kind: "packet", payload: unescape(body) });
    }
  }
}

function checksum(s: string): number {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum = (sum + s.charCodeAt(i)) & 0xff;
  return sum;
}

/** Undoes the `}` escape (byte XOR 0x20) used by binary packets such as X. */
function unescape(s: string): string {
  if (!s.includes("}")) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    out += s[i] === "}" ? String.fromCharCode(s.charCodeAt(++i) ^ 0x20) : s[i];
  }
  return out;
}

/** Frames a reply, escaping the characters the protocol reserves. */
export function framePacket(payload: string): string {
  const body = payload.replace(/[#$}*]/g, (c) => "}" + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
  return `$${body}#${checksum(body).toString(16).padStart(2, "0")}`;
}

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 || /[^0-9a-fA-F]/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Little-endian hex of a 32-bit value, as registers travel. */
export function le32Hex(v: number): string {
  return toHex(new Uint8Array(new Uint32Array([v >>> 0]).buffer));
}
