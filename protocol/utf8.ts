// This module is browser compatible.
/**
 * MQTT UTF-8 Encoded Strings (v5 §1.5.4, v3.1.1 §1.5.3).
 *
 * Decoding checks that the bytes are well-formed UTF-8 (no overlong forms, no encoded
 * surrogates, nothing above U+10FFFF, no truncated sequence) [MQTT-1.5.4-1] and contain no
 * U+0000 [MQTT-1.5.4-2]. A leading U+FEFF is kept, never stripped [MQTT-1.5.4-3]. Encoding
 * helpers measure and write strings into preallocated buffers.
 *
 * @module
 */

/** The largest number of bytes an MQTT UTF-8 Encoded String can take (§1.5.4). */
export const MAX_STRING_BYTES = 65_535;

/**
 * Why {@linkcode decodeMqttString} refused its input. Both are Malformed Packets: v5 reason
 * code 0x81.
 *
 * - `InvalidUtf8` (1): ill-formed UTF-8 [MQTT-1.5.4-1] (v3.1.1 [MQTT-1.5.3-1]).
 * - `NullCharacter` (2): an encoding of U+0000 [MQTT-1.5.4-2] (v3.1.1 [MQTT-1.5.3-2]).
 */
export const Utf8Fault = {
  InvalidUtf8: 1,
  NullCharacter: 2,
} as const;

/** A reason {@linkcode decodeMqttString} refused its input. */
export type Utf8Fault = typeof Utf8Fault[keyof typeof Utf8Fault];

// Shared and stateless between calls: decode() without { stream: true } resets it.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();

// Below these sizes a JS loop beats a call into TextDecoder/TextEncoder on Deno and Bun.
const SHORT_DECODE = 16;
const SHORT_ENCODE = 32;

/**
 * The normative statement an {@linkcode Utf8Fault} breaks, as a v5 spec id.
 *
 * @example Spec id of a null character
 * ```ts
 * import assert from "node:assert/strict";
 * import { Utf8Fault, utf8FaultSpec } from "./utf8.ts";
 * assert.equal(utf8FaultSpec(Utf8Fault.NullCharacter), "MQTT-1.5.4-2");
 * ```
 *
 * @param fault The fault.
 * @returns `"MQTT-1.5.4-1"` or `"MQTT-1.5.4-2"`.
 */
export function utf8FaultSpec(fault: Utf8Fault): string {
  return fault === Utf8Fault.NullCharacter ? "MQTT-1.5.4-2" : "MQTT-1.5.4-1";
}

/**
 * Decode and validate the bytes of an MQTT UTF-8 Encoded String (without its length prefix).
 *
 * Returns the string, or a {@linkcode Utf8Fault} number; test with `typeof result === "string"`.
 * Nothing is allocated besides the string itself. The caller guarantees
 * `0 <= start <= end <= bytes.length`.
 *
 * @example Decode, and refuse U+0000 and an overlong "/"
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMqttString, Utf8Fault } from "./utf8.ts";
 * const bytes = new Uint8Array([0x61, 0xc3, 0xa9, 0x00, 0xc0, 0xaf]);
 * assert.equal(decodeMqttString(bytes, 0, 3), "aé");
 * assert.equal(decodeMqttString(bytes, 0, 4), Utf8Fault.NullCharacter);
 * assert.equal(decodeMqttString(bytes, 4, 6), Utf8Fault.InvalidUtf8);
 * ```
 *
 * @param bytes The packet bytes.
 * @param start The first byte of the string data.
 * @param end The end (exclusive) of the string data.
 * @returns The decoded string, or the fault.
 */
export function decodeMqttString(
  bytes: Uint8Array,
  start: number,
  end: number,
): string | Utf8Fault {
  let i = start;
  for (; i < end; i++) {
    const byte = bytes[i]!;
    if (byte >= 0x80) break;
    if (byte === 0) return Utf8Fault.NullCharacter;
  }
  if (i < end) {
    const fault = checkUtf8(bytes, i, end);
    if (fault !== 0) return fault;
  } else if (end - start <= SHORT_DECODE) {
    let s = "";
    for (let j = start; j < end; j++) s += String.fromCharCode(bytes[j]!);
    return s;
  }
  return decoder.decode(bytes.subarray(start, end));
}

// Unicode Table 3-7 (well-formed byte sequences), as RFC 3629 restates it. Returns 0 when
// well-formed and free of U+0000.
function checkUtf8(bytes: Uint8Array, i: number, end: number): 0 | Utf8Fault {
  while (i < end) {
    const b0 = bytes[i]!;
    if (b0 < 0x80) {
      if (b0 === 0) return Utf8Fault.NullCharacter;
      i++;
    } else if (b0 < 0xc2) {
      // A continuation byte out of place, or C0/C1 (always overlong)
      return Utf8Fault.InvalidUtf8;
    } else if (b0 < 0xe0) {
      if (i + 1 >= end || !isTail(bytes[i + 1]!)) return Utf8Fault.InvalidUtf8;
      i += 2;
    } else if (b0 < 0xf0) {
      if (i + 2 >= end) return Utf8Fault.InvalidUtf8;
      const b1 = bytes[i + 1]!;
      // E0: below A0 is overlong; ED: A0 and above encode U+D800..U+DFFF [MQTT-1.5.4-1]
      const lo = b0 === 0xe0 ? 0xa0 : 0x80;
      const hi = b0 === 0xed ? 0x9f : 0xbf;
      if (b1 < lo || b1 > hi || !isTail(bytes[i + 2]!)) return Utf8Fault.InvalidUtf8;
      i += 3;
    } else if (b0 < 0xf5) {
      if (i + 3 >= end) return Utf8Fault.InvalidUtf8;
      const b1 = bytes[i + 1]!;
      // F0: below 90 is overlong; F4: 90 and above is beyond U+10FFFF
      const lo = b0 === 0xf0 ? 0x90 : 0x80;
      const hi = b0 === 0xf4 ? 0x8f : 0xbf;
      if (b1 < lo || b1 > hi || !isTail(bytes[i + 2]!) || !isTail(bytes[i + 3]!)) {
        return Utf8Fault.InvalidUtf8;
      }
      i += 4;
    } else {
      return Utf8Fault.InvalidUtf8;
    }
  }
  return 0;
}

function isTail(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}

/**
 * The exact number of bytes a string takes as UTF-8, without encoding it.
 *
 * @example Count ASCII, two- and three-byte characters and a surrogate pair
 * ```ts
 * import assert from "node:assert/strict";
 * import { utf8Length } from "./utf8.ts";
 * assert.equal(utf8Length("a/é/€/😀"), 1 + 1 + 2 + 1 + 3 + 1 + 4);
 * ```
 *
 * @param s The string.
 * @returns Its UTF-8 byte length.
 * @throws {TypeError} When `s` contains a lone surrogate, which has no UTF-8 form.
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes += 2;
    } else if (c < 0xdc00 && isLowSurrogate(s.charCodeAt(i + 1))) {
      // Two UTF-16 units, four bytes
      bytes += 2;
      i++;
    } else {
      throw loneSurrogate(s, i);
    }
  }
  return bytes;
}

/**
 * Write a string as UTF-8 into a preallocated buffer; size it with {@linkcode utf8Length}.
 *
 * No length prefix is written. Lone surrogates become U+FFFD, as `TextEncoder` does; reject
 * them first with {@linkcode utf8Length} or {@linkcode validateMqttStringValue}.
 *
 * @example Write after a two-byte length
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeUtf8 } from "./utf8.ts";
 * const buffer = new Uint8Array(5);
 * assert.equal(writeUtf8(buffer, 2, "aé"), 5);
 * assert.deepEqual(buffer, new Uint8Array([0, 0, 0x61, 0xc3, 0xa9]));
 * ```
 *
 * @param buffer The destination.
 * @param offset Where to write the first byte.
 * @param s The string.
 * @returns The offset just past the last byte written.
 * @throws {RangeError} When the encoded string does not fit in `buffer` from `offset`.
 */
export function writeUtf8(buffer: Uint8Array, offset: number, s: string): number {
  const n = s.length;
  if (!(offset >= 0 && offset + n <= buffer.length)) throw noRoom(buffer, offset, s);
  if (n > SHORT_ENCODE) {
    const { read, written } = encoder.encodeInto(s, buffer.subarray(offset));
    if (read !== n) throw noRoom(buffer, offset, s);
    return offset + written;
  }
  let p = offset;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buffer[p++] = c;
    } else if (c < 0x800) {
      buffer[p++] = 0xc0 | (c >> 6);
      buffer[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = s.charCodeAt(i + 1);
        if (c >= 0xdc00 || !isLowSurrogate(d)) {
          c = 0xfffd;
        } else {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buffer[p++] = 0xf0 | (c >> 18);
          buffer[p++] = 0x80 | ((c >> 12) & 0x3f);
          buffer[p++] = 0x80 | ((c >> 6) & 0x3f);
          buffer[p++] = 0x80 | (c & 0x3f);
          continue;
        }
      }
      buffer[p++] = 0xe0 | (c >> 12);
      buffer[p++] = 0x80 | ((c >> 6) & 0x3f);
      buffer[p++] = 0x80 | (c & 0x3f);
    }
  }
  // Typed arrays drop writes past their end, so checking once afterwards is enough
  if (p > buffer.length) throw noRoom(buffer, offset, s);
  return p;
}

/**
 * Check a string given to the API before it is encoded as an MQTT UTF-8 Encoded String.
 *
 * @example Accept a string and reject U+0000
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateMqttStringValue } from "./utf8.ts";
 * assert.equal(validateMqttStringValue("héllo"), 6);
 * assert.throws(() => validateMqttStringValue("a\u0000b"), TypeError);
 * ```
 *
 * @param s The string.
 * @returns Its UTF-8 byte length, so callers need not measure it again.
 * @throws {TypeError} When `s` is not a string, contains U+0000 [MQTT-1.5.4-2] or a lone
 * surrogate [MQTT-1.5.4-1].
 * @throws {RangeError} When it encodes to more than 65,535 bytes (§1.5.4).
 */
export function validateMqttStringValue(s: string): number {
  if (typeof s !== "string") {
    throw new TypeError(`Cannot use ${typeof s} as an MQTT string: a string is required`);
  }
  // utf8Length() and a search for U+0000 in one pass
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) {
        throw new TypeError(
          `Cannot use string ${quote(s)}: it contains the null character U+0000`,
        );
      }
    } else if (c < 0x800) {
      bytes += 1;
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes += 2;
    } else if (c < 0xdc00 && isLowSurrogate(s.charCodeAt(i + 1))) {
      bytes += 2;
      i++;
    } else {
      throw loneSurrogate(s, i);
    }
  }
  if (bytes > MAX_STRING_BYTES) {
    throw new RangeError(
      `Cannot use string ${quote(s)}: it encodes to ${bytes} bytes, more than ${MAX_STRING_BYTES}`,
    );
  }
  return bytes;
}

/**
 * Whether a string contains code points an MQTT string SHOULD NOT include (v5 §1.5.4): the
 * control characters U+0001..U+001F and U+007F..U+009F, and Unicode non-characters
 * (U+FDD0..U+FDEF and the last two code points of every plane, such as U+FFFE and U+FFFF).
 *
 * They are legal, so this is not an error: a receiver may choose to refuse them.
 *
 * @example A tab is discouraged, accents are not
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasDiscouragedCodePoints } from "./utf8.ts";
 * assert.equal(hasDiscouragedCodePoints("a\tb"), true);
 * assert.equal(hasDiscouragedCodePoints("café"), false);
 * ```
 *
 * @param s The string.
 * @returns `true` when at least one such code point is present.
 */
export function hasDiscouragedCodePoints(s: string): boolean {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) {
      if (c !== 0) return true;
    } else if (c < 0x7f) {
      continue;
    } else if (c <= 0x9f || (c >= 0xfdd0 && c <= 0xfdef) || c >= 0xfffe) {
      return true;
    } else if (c >= 0xd800 && c < 0xdc00) {
      const d = s.charCodeAt(i + 1);
      if (isLowSurrogate(d)) {
        // U+xFFFE and U+xFFFF: the high surrogate ends in 0x3F, the low one is DFFE or DFFF
        if ((c & 0x3f) === 0x3f && d >= 0xdffe) return true;
        i++;
      }
    }
  }
  return false;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function loneSurrogate(s: string, index: number): TypeError {
  const unit = s.charCodeAt(index).toString(16).toUpperCase();
  return new TypeError(
    `Cannot encode string ${quote(s)} as UTF-8: lone surrogate U+${unit} at index ${index}`,
  );
}

function noRoom(buffer: Uint8Array, offset: number, s: string): RangeError {
  return new RangeError(
    `Cannot write string ${
      quote(s)
    }: it does not fit in a buffer of ${buffer.length} bytes from offset ${offset}`,
  );
}

/** Quote a value for an error message, shortened so huge inputs do not flood logs. */
function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}
