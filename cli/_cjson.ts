/**
 * JSON the way mosquitto_sub prints it (it uses cJSON): a byte-level parser that keeps key
 * order and duplicates, and a printer with cJSON's escapes, number formatting and `--pretty`
 * layout (tabs, `"key":\tvalue`, arrays on one line). Strings are bytes, so payloads that
 * are not UTF-8 pass through unchanged, as they do in mosquitto.
 *
 * @module
 */

/** A JSON value; strings are bytes, objects keep their entries in order. */
export type JsonNode =
  | { t: "null" }
  | { t: "bool"; v: boolean }
  | { t: "num"; v: number }
  | { t: "str"; v: Uint8Array }
  | { t: "arr"; v: JsonNode[] }
  | { t: "obj"; v: [key: Uint8Array, value: JsonNode][] };

const encoder = new TextEncoder();

/** Collects output bytes. */
export class ByteSink {
  #chunks: Uint8Array[] = [];
  #length = 0;

  /** Append bytes. */
  bytes(b: Uint8Array): void {
    if (b.length === 0) return;
    this.#chunks.push(b);
    this.#length += b.length;
  }

  /** Append text as UTF-8. */
  text(s: string): void {
    this.bytes(encoder.encode(s));
  }

  /** Append one byte. */
  byte(b: number): void {
    this.bytes(Uint8Array.of(b));
  }

  /** Everything appended. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const c of this.#chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

/** Shortcut for a string node from text. */
export function str(s: string): JsonNode {
  return { t: "str", v: encoder.encode(s) };
}

/** Shortcut for a number node. */
export function num(n: number): JsonNode {
  return { t: "num", v: n };
}

/** Shortcut for an object node from text keys. */
export function obj(entries: [string, JsonNode][]): JsonNode {
  return { t: "obj", v: entries.map(([k, v]) => [encoder.encode(k), v]) };
}

/** C's `%1.<precision>g`. */
function formatG(n: number, precision: number): string {
  if (n === 0) return Object.is(n, -0) ? "-0" : "0";
  const exp = Number(n.toExponential(precision - 1).split("e")[1]);
  if (exp < -4 || exp >= precision) {
    const [mantissa, e] = n.toExponential(precision - 1).split("e") as [string, string];
    const m = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
    const sign = e.startsWith("-") ? "-" : "+";
    return `${m}e${sign}${e.replace(/^[+-]/, "").padStart(2, "0")}`;
  }
  const fixed = n.toFixed(Math.max(0, precision - 1 - exp));
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return "null";
  const saturated = n >= 2_147_483_647 ? 2_147_483_647 : n <= -2_147_483_648 ? -2_147_483_648 : n;
  if (Number.isInteger(n) && n === saturated) return String(n);
  const short = formatG(n, 15);
  return Number(short) === n ? short : formatG(n, 17);
}

function printString(out: ByteSink, s: Uint8Array): void {
  out.byte(0x22);
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    out.bytes(s.subarray(start, i));
    start = i + 1;
    switch (c) {
      case 0x22:
        out.text('\\"');
        break;
      case 0x5c:
        out.text("\\\\");
        break;
      case 0x08:
        out.text("\\b");
        break;
      case 0x0c:
        out.text("\\f");
        break;
      case 0x0a:
        out.text("\\n");
        break;
      case 0x0d:
        out.text("\\r");
        break;
      case 0x09:
        out.text("\\t");
        break;
      default:
        out.text(`\\u${c.toString(16).padStart(4, "0")}`);
    }
  }
  out.bytes(s.subarray(start));
  out.byte(0x22);
}

/**
 * Print a value as cJSON does: `cJSON_PrintUnformatted`, or `cJSON_Print` when `pretty`.
 *
 * @param out Where to write.
 * @param node The value.
 * @param pretty Whether to indent.
 * @param depth The nesting depth (0 at the top).
 */
export function printJson(out: ByteSink, node: JsonNode, pretty: boolean, depth = 0): void {
  switch (node.t) {
    case "null":
      out.text("null");
      return;
    case "bool":
      out.text(node.v ? "true" : "false");
      return;
    case "num":
      out.text(formatNumber(node.v));
      return;
    case "str":
      printString(out, node.v);
      return;
    case "arr":
      out.text("[");
      node.v.forEach((item, i) => {
        if (i > 0) out.text(pretty ? ", " : ",");
        printJson(out, item, pretty, depth + 1);
      });
      out.text("]");
      return;
    case "obj": {
      out.text(pretty ? "{\n" : "{");
      const indent = "\t".repeat(depth + 1);
      node.v.forEach(([key, value], i) => {
        if (pretty) out.text(indent);
        printString(out, key);
        out.text(pretty ? ":\t" : ":");
        printJson(out, value, pretty, depth + 1);
        if (i < node.v.length - 1) out.text(",");
        if (pretty) out.text("\n");
      });
      if (pretty) out.text("\t".repeat(depth));
      out.text("}");
      return;
    }
  }
}

class Parser {
  #s: Uint8Array;
  i = 0;
  constructor(s: Uint8Array) {
    this.#s = s;
  }

  skip(): void {
    while (this.i < this.#s.length && this.#s[this.i]! <= 0x20) this.i++;
  }

  value(depth: number): JsonNode | undefined {
    if (depth > 1000) return undefined;
    this.skip();
    const s = this.#s;
    const c = s[this.i];
    if (c === undefined) return undefined;
    if (c === 0x7b) return this.object(depth);
    if (c === 0x5b) return this.array(depth);
    if (c === 0x22) {
      const v = this.string();
      return v === undefined ? undefined : { t: "str", v };
    }
    for (
      const [word, node] of [["null", { t: "null" }], ["true", { t: "bool", v: true }], [
        "false",
        { t: "bool", v: false },
      ]] as const
    ) {
      if (this.#matches(word)) {
        this.i += word.length;
        return node as JsonNode;
      }
    }
    return this.number();
  }

  #matches(word: string): boolean {
    for (let k = 0; k < word.length; k++) {
      if (this.#s[this.i + k] !== word.charCodeAt(k)) return false;
    }
    return true;
  }

  number(): JsonNode | undefined {
    const start = this.i;
    const s = this.#s;
    while (this.i < s.length && /[0-9+\-eE.]/.test(String.fromCharCode(s[this.i]!))) this.i++;
    const text = new TextDecoder().decode(s.subarray(start, this.i));
    if (!/^-?(\d+)(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return undefined;
    return { t: "num", v: Number(text) };
  }

  string(): Uint8Array | undefined {
    const s = this.#s;
    const out = new ByteSink();
    this.i++; // opening quote
    let start = this.i;
    while (this.i < s.length) {
      const c = s[this.i]!;
      if (c === 0x22) {
        out.bytes(s.subarray(start, this.i));
        this.i++;
        return out.finish();
      }
      if (c === 0x5c) {
        out.bytes(s.subarray(start, this.i));
        const e = s[this.i + 1];
        const simple: Record<number, number> = {
          0x22: 0x22,
          0x5c: 0x5c,
          0x2f: 0x2f,
          0x62: 0x08,
          0x66: 0x0c,
          0x6e: 0x0a,
          0x72: 0x0d,
          0x74: 0x09,
        };
        if (e !== undefined && simple[e] !== undefined) {
          out.byte(simple[e]!);
          this.i += 2;
        } else if (e === 0x75) {
          const hex = new TextDecoder().decode(s.subarray(this.i + 2, this.i + 6));
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) return undefined;
          let code = Number.parseInt(hex, 16);
          this.i += 6;
          if (code >= 0xd800 && code < 0xdc00 && s[this.i] === 0x5c && s[this.i + 1] === 0x75) {
            const low = Number.parseInt(
              new TextDecoder().decode(s.subarray(this.i + 2, this.i + 6)),
              16,
            );
            if (low >= 0xdc00 && low < 0xe000) {
              code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
              this.i += 6;
            }
          }
          out.text(String.fromCodePoint(code));
        } else return undefined;
        start = this.i;
        continue;
      }
      this.i++;
    }
    return undefined;
  }

  array(depth: number): JsonNode | undefined {
    this.i++;
    const items: JsonNode[] = [];
    this.skip();
    if (this.#s[this.i] === 0x5d) {
      this.i++;
      return { t: "arr", v: items };
    }
    for (;;) {
      const v = this.value(depth + 1);
      if (v === undefined) return undefined;
      items.push(v);
      this.skip();
      const c = this.#s[this.i++];
      if (c === 0x5d) return { t: "arr", v: items };
      if (c !== 0x2c) return undefined;
    }
  }

  object(depth: number): JsonNode | undefined {
    this.i++;
    const entries: [Uint8Array, JsonNode][] = [];
    this.skip();
    if (this.#s[this.i] === 0x7d) {
      this.i++;
      return { t: "obj", v: entries };
    }
    for (;;) {
      this.skip();
      if (this.#s[this.i] !== 0x22) return undefined;
      const key = this.string();
      if (key === undefined) return undefined;
      this.skip();
      if (this.#s[this.i++] !== 0x3a) return undefined;
      const v = this.value(depth + 1);
      if (v === undefined) return undefined;
      entries.push([key, v]);
      this.skip();
      const c = this.#s[this.i++];
      if (c === 0x7d) return { t: "obj", v: entries };
      if (c !== 0x2c) return undefined;
    }
  }
}

/**
 * Parse JSON bytes, keeping key order and duplicate keys. Trailing whitespace is allowed,
 * anything else after the value is not.
 *
 * @param bytes The JSON text.
 * @returns The value, or `undefined` when it is not valid JSON.
 */
export function parseJson(bytes: Uint8Array): JsonNode | undefined {
  const p = new Parser(bytes);
  const v = p.value(0);
  if (v === undefined) return undefined;
  p.skip();
  return p.i === bytes.length ? v : undefined;
}
