import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MAX_VARINT, readVarint, varintSize, VarintStatus, writeVarint } from "./varint.ts";

// v5 §1.5.5 Table 1-1 (v3.1.1 §2.2.3 Table 2.4): the range of each size, with its bytes.
const BOUNDARIES: ReadonlyArray<[value: number, bytes: number[]]> = [
  [0, [0x00]],
  [1, [0x01]],
  [127, [0x7f]],
  [128, [0x80, 0x01]],
  [321, [0xc1, 0x02]],
  [16_383, [0xff, 0x7f]],
  [16_384, [0x80, 0x80, 0x01]],
  [2_097_151, [0xff, 0xff, 0x7f]],
  [2_097_152, [0x80, 0x80, 0x80, 0x01]],
  [268_435_455, [0xff, 0xff, 0xff, 0x7f]],
];

describe("varint", () => {
  test("varintSize() matches the spec table at every boundary", () => {
    for (const [value, bytes] of BOUNDARIES) {
      assert.equal(varintSize(value), bytes.length, `value ${value}`);
    }
    assert.equal(MAX_VARINT, 268_435_455);
  });

  test("varintSize() throws RangeError outside 0..268435455 or for non-integers", () => {
    for (const value of [-1, -128, 268_435_456, 2 ** 32, 1.5, 200.25, NaN, Infinity, -Infinity]) {
      assert.throws(() => varintSize(value), RangeError, `value ${value}`);
    }
  });

  test("writeVarint() writes the spec bytes and returns the new offset", () => {
    for (const [value, bytes] of BOUNDARIES) {
      const buffer = new Uint8Array(bytes.length + 2).fill(0xaa);
      assert.equal(writeVarint(buffer, 1, value), 1 + bytes.length);
      assert.deepEqual([...buffer], [0xaa, ...bytes, 0xaa], `value ${value}`);
    }
  });

  test("writeVarint() throws RangeError for bad values and short buffers", () => {
    assert.throws(() => writeVarint(new Uint8Array(8), 0, MAX_VARINT + 1), RangeError);
    assert.throws(() => writeVarint(new Uint8Array(8), 0, -1), RangeError);
    assert.throws(() => writeVarint(new Uint8Array(1), 0, 128), RangeError);
    assert.throws(() => writeVarint(new Uint8Array(4), 2, 16_384), RangeError);
    assert.throws(() => writeVarint(new Uint8Array(4), -1, 1), RangeError);
    const exact = new Uint8Array(4);
    assert.equal(writeVarint(exact, 0, MAX_VARINT), 4);
  });

  test("readVarint() reads the spec bytes at every boundary", () => {
    for (const [value, bytes] of BOUNDARIES) {
      const buffer = new Uint8Array([0xff, ...bytes, 0xff]);
      assert.equal(readVarint(buffer, 1, buffer.length), value, `value ${value}`);
      assert.equal(readVarint(buffer, 1, 1 + bytes.length), value, `value ${value}, exact end`);
    }
  });

  test("readVarint() returns Incomplete when the input ends early", () => {
    for (const [value, bytes] of BOUNDARIES) {
      const buffer = new Uint8Array(bytes);
      for (let end = 0; end < bytes.length; end++) {
        assert.equal(readVarint(buffer, 0, end), VarintStatus.Incomplete, `${value} cut at ${end}`);
      }
    }
    assert.equal(readVarint(new Uint8Array([0x80, 0x80, 0x80]), 0, 3), VarintStatus.Incomplete);
    assert.equal(readVarint(new Uint8Array(0), 0, 0), VarintStatus.Incomplete);
  });

  test("readVarint() clamps end to the buffer length", () => {
    assert.equal(readVarint(new Uint8Array([0x80]), 0, 10), VarintStatus.Incomplete);
    assert.equal(readVarint(new Uint8Array([0x05]), 0, 10), 5);
  });

  test("readVarint() returns Malformed for a fifth byte [MQTT-1.5.5-1]", () => {
    const cases = [
      [0xff, 0xff, 0xff, 0xff, 0x7f],
      [0x80, 0x80, 0x80, 0x80, 0x01],
      [0xff, 0xff, 0xff, 0xff],
      [0x81, 0x81, 0x81, 0x81, 0x81, 0x81],
    ];
    for (const bytes of cases) {
      const buffer = new Uint8Array(bytes);
      assert.equal(readVarint(buffer, 0, buffer.length), VarintStatus.Malformed, `${bytes}`);
    }
  });

  test("readVarint() returns Malformed for non-minimal encodings [MQTT-1.5.5-1]", () => {
    const cases = [
      [0x80, 0x00],
      [0xff, 0x00],
      [0x80, 0x80, 0x00],
      [0x81, 0x80, 0x00],
      [0x80, 0x80, 0x80, 0x00],
      [0xff, 0xff, 0xff, 0x00],
    ];
    for (const bytes of cases) {
      const buffer = new Uint8Array(bytes);
      assert.equal(readVarint(buffer, 0, buffer.length), VarintStatus.Malformed, `${bytes}`);
    }
  });

  test("readVarint() round-trips every size and consumes varintSize(value) bytes", () => {
    const buffer = new Uint8Array(6);
    // Dense near each boundary, then a stride through the whole range.
    const values: number[] = [];
    for (const [boundary] of BOUNDARIES) {
      for (let d = -3; d <= 3; d++) {
        const v = boundary + d;
        if (v >= 0 && v <= MAX_VARINT) values.push(v);
      }
    }
    for (let v = 0; v <= MAX_VARINT; v += 65_521) values.push(v);
    for (let v = 0; v < 20_000; v++) values.push(v);
    for (const value of values) {
      const end = writeVarint(buffer, 1, value);
      assert.equal(end - 1, varintSize(value));
      assert.equal(readVarint(buffer, 1, end), value);
      assert.equal(readVarint(buffer, 1, end - 1), VarintStatus.Incomplete);
    }
  });

  test("readVarint() classifies every 1- and 2-byte input exactly", () => {
    const buffer = new Uint8Array(2);
    for (let a = 0; a < 256; a++) {
      buffer[0] = a;
      for (let b = 0; b < 256; b++) {
        buffer[1] = b;
        const got = readVarint(buffer, 0, 2);
        let want: number;
        if (a < 0x80) want = a;
        else if (b >= 0x80) want = VarintStatus.Incomplete;
        else if (b === 0) want = VarintStatus.Malformed;
        else want = (a & 0x7f) + b * 128;
        assert.equal(got, want, `bytes ${a} ${b}`);
      }
    }
  });
});
