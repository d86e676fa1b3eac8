/**
 * QMP's input side: QEMU's JSON lexer and streamer (qobject/json-lexer.c, json-streamer.c) rebuilt.
 * Bytes arrive in arbitrary pieces; a value is complete when its braces and brackets balance. QEMU's
 * extensions are kept (single-quoted strings) and so are its error texts: a lexical error ("stray
 * 'x'") discards the value in progress; a bad keyword or escape is reported by the parser once the
 * value is complete ("invalid keyword 'x'"); a closing bracket with nothing open is "expecting
 * value", and a repeated key is "duplicate key".
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One complete input: a value, or the parse error QEMU reports for it. */
export type StreamItem = { value: JsonValue } | { error: string };

type Token =
  | { t: "{" | "}" | "[" | "]" | "," | ":" }
  | { t: "value"; v: JsonValue }
  /** A token the lexer accepts but the parser rejects when it reaches it (bad keyword, bad escape). */
  | { t: "bad"; error: string };

/** Rejects absurd nesting and sizes as QEMU does (MAX_NESTING 1024, MAX_TOKEN_COUNT about 2M). */
const MAX_NESTING = 1024;
const MAX_TOKENS = 2 * 64 * 1024;

class ParseError extends Error {}

export class JsonStreamer {
  private tokens: Token[] = [];
  private depth = 0;
  /** Lexer state for a token split across reads. */
  private partial = "";
  private mode: "none" | "string" | "word" = "none";
  private quote = "";
  private escaped = false;

  /** Feeds text; returns the inputs it completed, in order. */
  feed(text: string): StreamItem[] {
    const out: StreamItem[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (this.mode === "string") {
        this.partial += c;
        if (this.escaped) this.escaped = false;
        else if (c === "\\") this.escaped = true;
        else if (c === this.quote) {
          this.mode = "none";
          const s = decodeString(this.partial);
          this.partial = "";
          this.push(
            s === undefined ? { t: "bad", error: "invalid escape sequence in string" } : { t: "value", v: s },
            out,
          );
        }
        continue;
      }
      if (this.mode === "word") {
        if (/[A-Za-z0-9_+\-.]/.test(c)) {
          this.partial += c;
          continue;
        }
        this.endWord(out);
      }
      if (c === " " || c === "\t" || c === "\n" || c === "\r") continue;
      if ("{}[],:".includes(c)) this.push({ t: c as "{" }, out);
      else if (c === '"' || c === "'") {
        this.mode = "string";
        this.quote = c;
        this.partial = c;
      } else if (/[A-Za-z0-9\-]/.test(c)) {
        this.mode = "word";
        this.partial = c;
      } else this.lexError(`stray '${c}'`, out);
    }
    // A word at the end of the input stays open: more digits or letters may follow.
    return out;
  }

  private endWord(out: StreamItem[]): void {
    const w = this.partial;
    this.partial = "";
    this.mode = "none";
    if (w === "true" || w === "false" || w === "null") {
      this.push({ t: "value", v: w === "null" ? null : w === "true" }, out);
    } else if (/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+\-]?[0-9]+)?$/.test(w)) {
      this.push({ t: "value", v: Number(w) }, out);
    } else if (/^[A-Za-z]/.test(w)) {
      this.push({ t: "bad", error: `invalid keyword '${w}'` }, out);
    } else {
      this.lexError(`stray '${w[0]}'`, out);
    }
  }

  private lexError(text: string, out: StreamItem[]): void {
    this.tokens = [];
    this.depth = 0;
    out.push({ error: `JSON parse error, ${text}` });
  }

  private push(token: Token, out: StreamItem[]): void {
    this.tokens.push(token);
    if (token.t === "{" || token.t === "[") this.depth++;
    else if (token.t === "}" || token.t === "]") this.depth--;
    if (this.depth > MAX_NESTING || this.tokens.length > MAX_TOKENS) {
      this.lexError(this.depth > MAX_NESTING ? "too deeply nested" : "too many tokens", out);
      return;
    }
    if (this.depth <= 0) {
      const tokens = this.tokens;
      this.tokens = [];
      this.depth = 0;
      try {
        const parser = new Parser(tokens);
        out.push({ value: parser.parseTop() });
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        out.push({ error: `JSON parse error, ${e.message}` });
      }
    }
  }
}

function decodeString(quoted: string): string | undefined {
  const body = quoted.slice(1, -1);
  let s = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== "\\") {
      s += c;
      continue;
    }
    const e = body[++i];
    const simple: Record<string, string> = {
      '"': '"',
      "'": "'",
      "\\": "\\",
      "/": "/",
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
    };
    if (e in simple) s += simple[e];
    else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(body.slice(i + 1, i + 5))) {
      s += String.fromCharCode(parseInt(body.slice(i + 1, i + 5), 16));
      i += 4;
    } else return undefined;
  }
  return s;
}

class Parser {
  private at = 0;
  constructor(private readonly tokens: Token[]) {}

  parseTop(): JsonValue {
    const v = this.value();
    if (this.at !== this.tokens.length) throw new ParseError("expecting value");
    return v;
  }

  private value(): JsonValue {
    const tok = this.tokens[this.at++];
    if (!tok) throw new ParseError("expecting value");
    if (tok.t === "value") return tok.v;
    if (tok.t === "bad") throw new ParseError(tok.error);
    if (tok.t === "{") return this.object();
    if (tok.t === "[") return this.array();
    throw new ParseError("expecting value");
  }

  private object(): JsonValue {
    const obj: { [key: string]: JsonValue } = {};
    if (this.tokens[this.at]?.t === "}") {
      this.at++;
      return obj;
    }
    for (;;) {
      const key = this.tokens[this.at++];
      if (key?.t === "bad") throw new ParseError(key.error);
      if (!key || key.t !== "value" || typeof key.v !== "string") {
        throw new ParseError("key is not a string in object");
      }
      if (this.tokens[this.at++]?.t !== ":") throw new ParseError("missing : in object pair");
      const v = this.value();
      if (Object.hasOwn(obj, key.v)) throw new ParseError("duplicate key");
      obj[key.v] = v;
      const sep = this.tokens[this.at++];
      if (sep?.t === "}") return obj;
      if (sep?.t !== ",") throw new ParseError("expected separator in dict");
    }
  }

  private array(): JsonValue {
    const list: JsonValue[] = [];
    if (this.tokens[this.at]?.t === "]") {
      this.at++;
      return list;
    }
    for (;;) {
      list.push(this.value());
      const sep = this.tokens[this.at++];
      if (sep?.t === "]") return list;
      if (sep?.t !== ",") throw new ParseError("expected separator in list");
    }
  }
}
