/**
 * Message output of `mq sub` and `mq rr`, byte for byte as mosquitto_sub 2.0 prints it:
 * the default (payload), `-v` (topic and payload), `-N`, `-F` with every format specifier
 * (`%t %p %x %j %J %I @H \n ...`, flags `-` and `0`, field width and precision),
 * `--pretty`, plus mq's `--json`. It works on a plain {@linkcode FormatMessage}, so any
 * client's message type can be adapted to it.
 *
 * @module
 */

import type { QoS } from "../protocol/packet.ts";
import type { Properties } from "../protocol/properties.ts";
import { ByteSink, type JsonNode, num, obj, parseJson, printJson, str } from "./_cjson.ts";
import { breakDownTime, strftimeConversion } from "./_strftime.ts";

/** A received message, as the formatter needs it. */
export interface FormatMessage {
  /** The topic name. */
  topic: string;
  /** The payload. */
  payload: Uint8Array;
  /** The QoS it was delivered with. */
  qos: QoS;
  /** The retain flag. */
  retain: boolean;
  /** The packet identifier (0 for QoS 0). */
  mid: number;
  /** MQTT 5 properties, keys in the order they were received (`{}` for none). */
  properties: Properties;
  /** When it was received, in milliseconds since the epoch. */
  time: number;
  /** Nanoseconds within the second, when known more precisely than `time`. */
  nanoseconds?: number;
}

/** How to print messages. */
export interface FormatOptions {
  /** `-F`: the format. */
  format?: string;
  /** `-v`: print the topic before the payload. */
  verbose?: boolean;
  /** `false` with `-N`: no newline after each message. Default `true`. */
  eol?: boolean;
  /** `--pretty`: indent JSON. */
  pretty?: boolean;
  /** `--json` (mq): one JSON object per message; overrides `format` and `verbose`. */
  json?: boolean;
  /** Print times in UTC instead of local time (tests). */
  utc?: boolean;
}

/** The result of formatting one message. */
export interface FormatResult {
  /** Bytes for standard output. */
  stdout: Uint8Array;
  /** Error lines for standard error (e.g. `%J` with a payload that is not JSON). */
  errors: string[];
}

const INCOMPLETE = "Incomplete format specifier";
const SPECIFIERS = "%ACDEFIjJlmPpqRSrtUxX";
const ESCAPES: Record<string, number> = {
  "\\": 0x5c,
  "0": 0x00,
  "a": 0x07,
  "e": 0x1b,
  "n": 0x0a,
  "r": 0x0d,
  "t": 0x09,
  "v": 0x0b,
};

/**
 * Check a `-F` format as mosquitto does: every `%` needs a known specifier (after optional
 * `-`/`0`, width and precision), every `@` a character, every `\` a known escape.
 *
 * @example A bad specifier
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFormat } from "./format.ts";
 * assert.equal(checkFormat("%t %p"), undefined);
 * assert.equal(typeof checkFormat("%y"), "string");
 * ```
 *
 * @param format The format.
 * @returns An error message, or `undefined` when the format is valid.
 */
export function checkFormat(format: string): string | undefined {
  const len = format.length;
  for (let i = 0; i < len; i++) {
    const c = format[i];
    if (c === "%") {
      if (i === len - 1) return INCOMPLETE;
      if (format[i + 1] === "0" || format[i + 1] === "-") {
        i++;
        if (i === len - 1) return INCOMPLETE;
      }
      while (/[0-9]/.test(format[i + 1] ?? "")) {
        i++;
        if (i === len - 1) return INCOMPLETE;
      }
      if (format[i + 1] === ".") {
        i++;
        if (i === len - 1) return INCOMPLETE;
        while (/[0-9]/.test(format[i + 1] ?? "")) {
          i++;
          if (i === len - 1) return INCOMPLETE;
        }
      }
      if (!SPECIFIERS.includes(format[i + 1]!)) {
        return `Invalid format specifier '${format[i + 1]}'`;
      }
      i++;
    } else if (c === "@") {
      if (i === len - 1) return INCOMPLETE;
      i++;
    } else if (c === "\\") {
      if (i === len - 1) return "Incomplete escape specifier";
      if (ESCAPES[format[i + 1]!] === undefined) {
        return `Invalid escape specifier '${format[i + 1]}'`;
      }
      i++;
    }
  }
  return undefined;
}

const encoder = new TextEncoder();

function spaces(out: ByteSink, n: number, fill = 0x20): void {
  if (n > 0) out.bytes(new Uint8Array(n).fill(fill));
}

/** printf `%d` with mosquitto's flags. */
function printInt(out: ByteSink, value: number, align: string, pad: string, width: number): void {
  const text = String(value);
  if (width === 0 || text.length >= width) out.text(text);
  else if (align === "-") out.text(text.padEnd(width, " "));
  else if (pad === "0") {
    out.text(value < 0 ? `-${text.slice(1).padStart(width - 1, "0")}` : text.padStart(width, "0"));
  } else out.text(text.padStart(width, " "));
}

/** printf `%*.*s`, counting bytes as C does. */
function printStr(out: ByteSink, value: string, align: string, width: number, precision: number) {
  let bytes = encoder.encode(value);
  if (precision >= 0 && bytes.length > precision) bytes = bytes.subarray(0, precision);
  const padding = width - bytes.length;
  if (align !== "-") spaces(out, padding);
  out.bytes(bytes);
  if (align === "-") spaces(out, padding);
}

/** mosquitto's write_payload, quirks included (`%-p` pads by the payload length). */
function printPayload(
  out: ByteSink,
  payload: Uint8Array,
  hex: 0 | 1 | 2,
  align: string,
  pad: string,
  width: number,
) {
  let length = payload.length;
  let padding: number;
  if (width > 0) {
    if (length > width) length = width;
    if (hex > 0) {
      length = Math.floor(length / 2);
      padding = width - length * 2;
    } else padding = width - length;
  } else padding = width - length;
  if (align !== "-") spaces(out, padding, pad.charCodeAt(0));
  const bytes = payload.subarray(0, length);
  if (hex === 0) out.bytes(bytes);
  else {
    let text = "";
    for (const b of bytes) text += b.toString(16).padStart(2, "0");
    out.text(hex === 2 ? text.toUpperCase() : text);
  }
  if (align === "-") spaces(out, Math.abs(padding));
}

function blank(out: ByteSink, pad: string, width: number): void {
  spaces(out, width, pad.charCodeAt(0));
}

function nanoseconds(m: FormatMessage): number {
  if (m.nanoseconds !== undefined) return m.nanoseconds;
  return (((m.time % 1000) + 1000) % 1000) * 1_000_000;
}

/** Properties as mosquitto_sub's JSON shows them, in received order. */
function propertiesJson(p: Properties): JsonNode | undefined {
  const entries: [string, JsonNode][] = [];
  for (const key of Object.keys(p) as (keyof Properties)[]) {
    switch (key) {
      case "payloadFormatIndicator":
        entries.push(["payload-format-indicator", num(p.payloadFormatIndicator!)]);
        break;
      case "messageExpiryInterval":
        entries.push(["message-expiry-interval", num(p.messageExpiryInterval!)]);
        break;
      case "contentType":
        entries.push(["content-type", str(p.contentType!)]);
        break;
      case "responseTopic":
        entries.push(["response-topic", str(p.responseTopic!)]);
        break;
      case "correlationData": {
        // cJSON_CreateString stops at the first NUL byte
        const data = p.correlationData!;
        const nul = data.indexOf(0);
        entries.push(["correlation-data", {
          t: "str",
          v: nul < 0 ? data : data.subarray(0, nul),
        }]);
        break;
      }
      case "subscriptionIdentifiers":
        if (p.subscriptionIdentifiers!.length > 0) {
          entries.push(["subscription-identifier", num(p.subscriptionIdentifiers![0]!)]);
        }
        break;
      case "subscriptionIdentifier":
        entries.push(["subscription-identifier", num(p.subscriptionIdentifier!)]);
        break;
      case "topicAlias":
        entries.push(["topic-alias", num(p.topicAlias!)]);
        break;
      case "userProperties": {
        const users: [string, JsonNode][] = p.userProperties!.map(([k, v]) => [k, str(v)]);
        entries.push(["user-properties", obj(users)]);
        break;
      }
    }
  }
  return entries.length === 0 ? undefined : obj(entries);
}

/** `%j` and `%J`: mosquitto_sub's JSON object. Returns false when `%J` has no JSON payload. */
function jsonPrint(
  out: ByteSink,
  m: FormatMessage,
  escaped: boolean,
  pretty: boolean,
  utc: boolean,
) {
  const t = breakDownTime(m.time, utc);
  const micros = Math.floor(nanoseconds(m) / 1000);
  const tst = `${strftimeConversion("F", t)}T${strftimeConversion("T", t)}.${
    String(micros).padStart(6, "0")
  }Z${strftimeConversion("z", t)}`;
  const entries: [string, JsonNode][] = [
    ["tst", str(tst)],
    ["topic", str(m.topic)],
    ["qos", num(m.qos)],
    ["retain", num(m.retain ? 1 : 0)],
    ["payloadlen", num(m.payload.length)],
  ];
  if (m.qos > 0) entries.push(["mid", num(m.mid)]);
  const props = propertiesJson(m.properties);
  if (props !== undefined) entries.push(["properties", props]);
  let payload: JsonNode;
  if (escaped) {
    const nul = m.payload.indexOf(0);
    payload = { t: "str", v: nul < 0 ? m.payload : m.payload.subarray(0, nul) };
  } else {
    const parsed = m.payload.length === 0 ? { t: "null" } as const : parseJson(m.payload);
    if (parsed === undefined) return false;
    payload = parsed;
  }
  entries.push(["payload", payload]);
  printJson(out, obj(entries), pretty);
  return true;
}

function readInt(
  p: Properties,
  key: "topicAlias" | "messageExpiryInterval" | "payloadFormatIndicator",
) {
  return p[key];
}

function formatted(out: ByteSink, m: FormatMessage, format: string, o: FormatOptions): string[] {
  const errors: string[] = [];
  const len = format.length;
  const utc = o.utc === true;
  const p = m.properties;
  for (let i = 0; i < len; i++) {
    const c = format[i]!;
    if (c === "%") {
      if (i >= len - 1) continue;
      let align = "";
      let pad = " ";
      let width = 0;
      let precision = -1;
      i++;
      if (format[i] === "-") {
        align = "-";
        if (i < len - 1) i++;
      }
      if (format[i] === "0") {
        pad = "0";
        if (i < len - 1) i++;
      }
      while (i < len - 1 && /[0-9]/.test(format[i]!)) width = width * 10 + Number(format[i++]);
      if (format[i] === "." && i < len - 1) {
        i++;
        precision = 0;
        while (i < len - 1 && /[0-9]/.test(format[i]!)) {
          precision = precision * 10 + Number(format[i++]);
        }
      }
      const spec = format[i];
      switch (spec) {
        case "%":
          out.text("%");
          break;
        case "A":
        case "E":
        case "F": {
          const key = spec === "A"
            ? "topicAlias"
            : spec === "E"
            ? "messageExpiryInterval"
            : "payloadFormatIndicator";
          const v = readInt(p, key);
          if (v !== undefined) printInt(out, v | 0, align, pad, width);
          else blank(out, pad, width);
          break;
        }
        case "C":
          if (p.contentType !== undefined) printStr(out, p.contentType, align, width, precision);
          else blank(out, " ", width);
          break;
        case "D":
          if (p.correlationData !== undefined) out.bytes(p.correlationData);
          break;
        case "I": {
          const t = breakDownTime(m.time, utc);
          const iso = `${strftimeConversion("F", t)}T${strftimeConversion("T", t)}${
            strftimeConversion("z", t)
          }`;
          printStr(out, iso, align, width, precision);
          break;
        }
        case "j":
          jsonPrint(out, m, true, o.pretty === true, utc);
          break;
        case "J":
          if (!jsonPrint(out, m, false, o.pretty === true, utc)) {
            errors.push(`Error: Message payload is not valid JSON on topic ${m.topic}.`);
          }
          break;
        case "l":
          printInt(out, m.payload.length, align, pad, width);
          break;
        case "m":
          printInt(out, m.mid, align, pad, width);
          break;
        case "P":
          out.text((p.userProperties ?? []).map(([k, v]) => `${k}:${v}`).join(" "));
          break;
        case "p":
          printPayload(out, m.payload, 0, align, pad, width);
          break;
        case "q":
          out.text(String(m.qos));
          break;
        case "R":
          if (p.responseTopic !== undefined) {
            printStr(out, p.responseTopic, align, width, precision);
          }
          break;
        case "r":
          out.text(m.retain ? "1" : "0");
          break;
        case "S": {
          const id = p.subscriptionIdentifiers?.[0] ?? p.subscriptionIdentifier;
          if (id !== undefined) printInt(out, id, align, pad, width);
          else blank(out, pad, width);
          break;
        }
        case "t":
          printStr(out, m.topic, align, width, precision);
          break;
        case "U":
          out.text(
            `${Math.floor(m.time / 1000)}.${String(nanoseconds(m)).padStart(9, "0")}`,
          );
          break;
        case "x":
          printPayload(out, m.payload, 1, align, pad, width);
          break;
        case "X":
          printPayload(out, m.payload, 2, align, pad, width);
          break;
      }
    } else if (c === "@") {
      if (i >= len - 1) continue;
      const t = format[++i]!;
      if (t === "@") out.text("@");
      else if (t === "N") out.text(String(nanoseconds(m)).padStart(9, "0"));
      else out.text(strftimeConversion(t, breakDownTime(m.time, utc)));
    } else if (c === "\\") {
      if (i >= len - 1) continue;
      const e = ESCAPES[format[++i]!];
      if (e !== undefined) out.byte(e);
    } else {
      out.text(c);
    }
  }
  if (o.eol !== false) out.text("\n");
  return errors;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Properties for `--json`: camelCase names, binary data in base64. */
function jsonProperties(p: Properties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p)) {
    out[key] = value instanceof Uint8Array ? base64(value) : value;
  }
  return out;
}

/**
 * mq's `--json` line: `{"topic","qos","retain","payload","encoding"[,"properties"]}`, where
 * `encoding` is `"utf8"` when the payload is valid UTF-8 text and `"base64"` otherwise.
 *
 * @example A text payload
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatJsonLine } from "./format.ts";
 * const line = formatJsonLine({
 *   topic: "a", payload: new TextEncoder().encode("hi"), qos: 0, retain: false, mid: 0,
 *   properties: {}, time: 0,
 * });
 * assert.deepEqual(JSON.parse(line), {
 *   topic: "a", qos: 0, retain: false, payload: "hi", encoding: "utf8",
 * });
 * ```
 *
 * @param m The message.
 * @param pretty Whether to indent (two spaces).
 * @returns The JSON text, without a newline.
 */
export function formatJsonLine(m: FormatMessage, pretty = false): string {
  let payload: string;
  let encoding: "utf8" | "base64" = "utf8";
  try {
    payload = new TextDecoder("utf-8", { fatal: true }).decode(m.payload);
  } catch {
    payload = base64(m.payload);
    encoding = "base64";
  }
  const value: Record<string, unknown> = {
    topic: m.topic,
    qos: m.qos,
    retain: m.retain,
    payload,
    encoding,
  };
  if (Object.keys(m.properties).length > 0) value.properties = jsonProperties(m.properties);
  return JSON.stringify(value, null, pretty ? 2 : undefined);
}

/**
 * Format one message as mosquitto_sub prints it (or as `--json` when asked). Messages
 * that mosquitto prints nothing for (an empty payload without `-v`, or with `-v -N`)
 * give empty output.
 *
 * @example Verbose output
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMessage } from "./format.ts";
 * const message = {
 *   topic: "a/b", payload: new TextEncoder().encode("21.5"), qos: 0 as const,
 *   retain: false, mid: 0, properties: {}, time: 0,
 * };
 * const { stdout } = formatMessage(message, { verbose: true });
 * assert.equal(new TextDecoder().decode(stdout), "a/b 21.5\n");
 * const hex = formatMessage(message, { format: "%t %x", eol: false });
 * assert.equal(new TextDecoder().decode(hex.stdout), "a/b 32312e35");
 * ```
 *
 * @param message The message.
 * @param options How to print it.
 * @returns Bytes for standard output and error lines for standard error.
 */
export function formatMessage(message: FormatMessage, options: FormatOptions = {}): FormatResult {
  const out = new ByteSink();
  const eol = options.eol !== false;
  let errors: string[] = [];
  if (options.json === true) {
    out.text(formatJsonLine(message, options.pretty === true));
    if (eol) out.text("\n");
  } else if (options.format !== undefined) {
    errors = formatted(out, message, options.format, options);
  } else if (options.verbose === true) {
    if (message.payload.length > 0) {
      out.text(`${message.topic} `);
      out.bytes(message.payload);
      if (eol) out.text("\n");
    } else if (eol) out.text(`${message.topic} (null)\n`);
  } else if (message.payload.length > 0) {
    out.bytes(message.payload);
    if (eol) out.text("\n");
  }
  return { stdout: out.finish(), errors };
}
