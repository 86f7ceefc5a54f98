// This module is browser compatible.
/**
 * MQTT Variable Byte Integer (v5 §1.5.5, v3.1.1 §2.2.3): seven value bits per byte, least
 * significant group first, the high bit set on every byte but the last, at most four bytes.
 *
 * Reading is allocation-free: {@linkcode readVarint} returns the value, or a negative
 * {@linkcode VarintStatus}. Non-minimal encodings are rejected as malformed
 * [MQTT-1.5.5-1], so the number of bytes consumed is always `varintSize(value)`.
 *
 * @module
 */

/** The largest value a Variable Byte Integer can hold: 268,435,455 (`0xff 0xff 0xff 0x7f`). */
export const MAX_VARINT = 268_435_455;

/**
 * The negative results of {@linkcode readVarint}.
 *
 * - `Incomplete` (-1): the input ends before the last byte; call again with more bytes.
 * - `Malformed` (-2): a continuation bit on the fourth byte (a fifth byte would be needed)
 *   or a non-minimal encoding [MQTT-1.5.5-1]. v5 maps this to reason code 0x81.
 */
export const VarintStatus = {
  Incomplete: -1,
  Malformed: -2,
} as const;

/** A negative result of {@linkcode readVarint}. */
export type VarintStatus = typeof VarintStatus[keyof typeof VarintStatus];

/**
 * The number of bytes a value takes as a Variable Byte Integer.
 *
 * @example Sizes at the boundaries
 * ```ts
 * import assert from "node:assert/strict";
 * import { varintSize } from "./varint.ts";
 * assert.equal(varintSize(127), 1);
 * assert.equal(varintSize(128), 2);
 * assert.equal(varintSize(268_435_455), 4);
 * ```
 *
 * @param value An integer from 0 to {@linkcode MAX_VARINT}.
 * @returns 1, 2, 3 or 4.
 * @throws {RangeError} When `value` is negative, not an integer or above {@linkcode MAX_VARINT}.
 */
export function varintSize(value: number): number {
  if (value < 128 && value >= 0 && Number.isInteger(value)) return 1;
  if (!(value >= 0 && value <= MAX_VARINT && Number.isInteger(value))) throw outOfRange(value);
  return value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;
}

/**
 * Write a value as a Variable Byte Integer, using the minimum number of bytes [MQTT-1.5.5-1].
 *
 * @example Encode 321
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeVarint } from "./varint.ts";
 * const buffer = new Uint8Array(4);
 * assert.equal(writeVarint(buffer, 1, 321), 3);
 * assert.deepEqual(buffer, new Uint8Array([0, 0xc1, 0x02, 0]));
 * ```
 *
 * @param buffer The destination.
 * @param offset Where to write the first byte.
 * @param value An integer from 0 to {@linkcode MAX_VARINT}.
 * @returns The offset just past the last byte written.
 * @throws {RangeError} When `value` is out of range or the encoding does not fit in `buffer`.
 */
export function writeVarint(buffer: Uint8Array, offset: number, value: number): number {
  const end = offset + varintSize(value);
  if (!(offset >= 0 && end <= buffer.length)) {
    throw new RangeError(
      `Cannot write variable byte integer ${value}: offset ${offset} leaves fewer than ${
        end - offset
      } bytes in a buffer of ${buffer.length}`,
    );
  }
  let pos = offset;
  while (value >= 128) {
    buffer[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buffer[pos++] = value;
  return pos;
}

/**
 * Read a Variable Byte Integer without allocating.
 *
 * A result `>= 0` is the value, and the encoding took exactly `varintSize(value)` bytes
 * (non-minimal forms such as `0x80 0x00` are malformed [MQTT-1.5.5-1]). A negative result is a
 * {@linkcode VarintStatus}: `-1` when `end` comes before the last byte, `-2` when malformed.
 *
 * @example Read a complete, a partial and a malformed integer
 * ```ts
 * import assert from "node:assert/strict";
 * import { readVarint, VarintStatus } from "./varint.ts";
 * const bytes = new Uint8Array([0xc1, 0x02]);
 * assert.equal(readVarint(bytes, 0, 2), 321);
 * assert.equal(readVarint(bytes, 0, 1), VarintStatus.Incomplete);
 * assert.equal(readVarint(new Uint8Array([0x80, 0x00]), 0, 2), VarintStatus.Malformed);
 * ```
 *
 * @param buffer The source bytes.
 * @param offset Where the integer starts.
 * @param end The end (exclusive) of the readable bytes; clamped to `buffer.length`.
 * @returns The value, or a negative {@linkcode VarintStatus}.
 */
export function readVarint(buffer: Uint8Array, offset: number, end: number): number {
  if (end > buffer.length) end = buffer.length;
  let value = 0;
  let shift = 0;
  for (let pos = offset; pos < end; pos++) {
    const byte = buffer[pos]!;
    value += (byte & 0x7f) << shift;
    if (byte < 0x80) {
      // 1.5.5: a last byte of zero after the first adds nothing, so a shorter form exists
      return byte === 0 && shift !== 0 ? VarintStatus.Malformed : value;
    }
    // 1.5.5: four bytes at most, so a continuation bit on the fourth is malformed
    if (shift === 21) return VarintStatus.Malformed;
    shift += 7;
  }
  return VarintStatus.Incomplete;
}

function outOfRange(value: number): RangeError {
  return new RangeError(
    `Cannot encode variable byte integer ${value}: it must be an integer from 0 to ${MAX_VARINT}`,
  );
}
