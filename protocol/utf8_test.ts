import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeMqttString,
  hasDiscouragedCodePoints,
  MAX_STRING_BYTES,
  Utf8Fault,
  utf8FaultSpec,
  utf8Length,
  validateMqttStringValue,
  writeUtf8,
} from "./utf8.ts";

/** mulberry32: a tiny seeded PRNG, so every run sees the same inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Reference decoder written differently from the module's (arithmetic, not by byte ranges):
 * decode each sequence by its lead byte, then reject overlong forms, surrogates and values above
 * U+10FFFF. Returns the string or the first fault.
 */
function referenceDecode(bytes: Uint8Array): string | Utf8Fault {
  const codePoints: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need: number;
    let cp: number;
    if (b < 0x80) [need, cp] = [0, b];
    else if ((b & 0xe0) === 0xc0) [need, cp] = [1, b & 0x1f];
    else if ((b & 0xf0) === 0xe0) [need, cp] = [2, b & 0x0f];
    else if ((b & 0xf8) === 0xf0) [need, cp] = [3, b & 0x07];
    else return Utf8Fault.InvalidUtf8;
    if (i + need >= bytes.length) return Utf8Fault.InvalidUtf8;
    for (let k = 1; k <= need; k++) {
      const t = bytes[i + k]!;
      if ((t & 0xc0) !== 0x80) return Utf8Fault.InvalidUtf8;
      cp = (cp << 6) | (t & 0x3f);
    }
    const min = [0, 0x80, 0x800, 0x10000][need]!;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return Utf8Fault.InvalidUtf8;
    if (cp === 0) return Utf8Fault.NullCharacter;
    codePoints.push(cp);
    i += need + 1;
  }
  return String.fromCodePoint(...codePoints);
}

function decodeAll(bytes: number[]): string | Utf8Fault {
  // Pad both sides so start/end are really honoured.
  const buffer = new Uint8Array([0xff, ...bytes, 0xc3]);
  return decodeMqttString(buffer, 1, 1 + bytes.length);
}

/** A random string mixing ASCII, 2-, 3- and 4-byte characters. */
function randomString(next: () => number, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) {
    const r = next();
    if (r < 0.5) s += String.fromCharCode(1 + Math.floor(next() * 0x7f));
    else if (r < 0.7) s += String.fromCharCode(0x80 + Math.floor(next() * 0x780));
    else if (r < 0.9) s += String.fromCharCode(0xe000 + Math.floor(next() * 0x2000));
    else s += String.fromCodePoint(0x10000 + Math.floor(next() * 0x100000));
  }
  return s;
}

const encoder = new TextEncoder();

describe("utf8", () => {
  test("decodeMqttString() decodes ASCII, short and long, honouring start and end", () => {
    for (const s of ["", "a", "sport/tennis", "x".repeat(16), "y".repeat(17), "z/".repeat(500)]) {
      const bytes = encoder.encode(s);
      assert.equal(decodeAll([...bytes]), s);
    }
    const bytes = encoder.encode("abcdef");
    assert.equal(decodeMqttString(bytes, 2, 4), "cd");
    assert.equal(decodeMqttString(bytes, 3, 3), "");
  });

  test("decodeMqttString() decodes every boundary code point", () => {
    const cases: Array<[number, number[]]> = [
      [0x01, [0x01]],
      [0x7f, [0x7f]],
      [0x80, [0xc2, 0x80]],
      [0x7ff, [0xdf, 0xbf]],
      [0x800, [0xe0, 0xa0, 0x80]],
      [0xd7ff, [0xed, 0x9f, 0xbf]],
      [0xe000, [0xee, 0x80, 0x80]],
      [0xfffd, [0xef, 0xbf, 0xbd]],
      [0xffff, [0xef, 0xbf, 0xbf]],
      [0x10000, [0xf0, 0x90, 0x80, 0x80]],
      [0x10ffff, [0xf4, 0x8f, 0xbf, 0xbf]],
    ];
    for (const [cp, bytes] of cases) {
      assert.equal(decodeAll(bytes), String.fromCodePoint(cp), `U+${cp.toString(16)}`);
      assert.equal(decodeAll([0x61, ...bytes, 0x62]), `a${String.fromCodePoint(cp)}b`);
    }
  });

  test("decodeMqttString() keeps a leading U+FEFF [MQTT-1.5.4-3]", () => {
    assert.equal(decodeAll([0xef, 0xbb, 0xbf, 0x61]), "\ufeffa");
    assert.equal(decodeAll([0xef, 0xbb, 0xbf]), "\ufeff");
    const long = [0xef, 0xbb, 0xbf, ...encoder.encode("b".repeat(40))];
    assert.equal(decodeAll(long), `\ufeff${"b".repeat(40)}`);
  });

  test("decodeMqttString() returns NullCharacter for U+0000 [MQTT-1.5.4-2]", () => {
    for (
      const bytes of [[0x00], [0x61, 0x00], [0x00, 0x61], [0xc3, 0xa9, 0x00], [
        0x61,
        0xc3,
        0xa9,
        0x00,
        0x62,
      ]]
    ) {
      assert.equal(decodeAll(bytes), Utf8Fault.NullCharacter, `${bytes}`);
    }
  });

  test("decodeMqttString() returns InvalidUtf8 for ill-formed UTF-8 [MQTT-1.5.4-1]", () => {
    const cases: Record<string, number[]> = {
      "lone continuation 0x80": [0x80],
      "lone continuation 0xbf": [0x61, 0xbf],
      "overlong 2-byte C0 80 (U+0000)": [0xc0, 0x80],
      "overlong 2-byte C1 BF": [0xc1, 0xbf],
      "overlong 3-byte E0 80 80": [0xe0, 0x80, 0x80],
      "overlong 3-byte E0 9F BF": [0xe0, 0x9f, 0xbf],
      "overlong 4-byte F0 80 80 80": [0xf0, 0x80, 0x80, 0x80],
      "overlong 4-byte F0 8F BF BF": [0xf0, 0x8f, 0xbf, 0xbf],
      "surrogate U+D800": [0xed, 0xa0, 0x80],
      "surrogate U+DBFF": [0xed, 0xaf, 0xbf],
      "surrogate U+DC00": [0xed, 0xb0, 0x80],
      "surrogate U+DFFF": [0xed, 0xbf, 0xbf],
      "surrogate pair encoded as CESU-8": [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80],
      "above U+10FFFF F4 90 80 80": [0xf4, 0x90, 0x80, 0x80],
      "lead F5": [0xf5, 0x80, 0x80, 0x80],
      "lead F8 (5-byte form)": [0xf8, 0x88, 0x80, 0x80, 0x80],
      "lead FC (6-byte form)": [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
      "byte FE": [0xfe],
      "byte FF": [0xff],
      "truncated 2-byte": [0xc3],
      "truncated 3-byte": [0xe2, 0x82],
      "truncated 4-byte": [0xf0, 0x9f, 0x98],
      "truncated before ASCII": [0xe2, 0x82, 0x61],
      "bad tail": [0xc3, 0x41],
      "bad third byte": [0xe2, 0x82, 0xc0],
      "bad fourth byte": [0xf0, 0x9f, 0x98, 0x7f],
      "ASCII then invalid": [0x61, 0x62, 0xc0, 0xaf],
    };
    for (const [name, bytes] of Object.entries(cases)) {
      assert.equal(decodeAll(bytes), Utf8Fault.InvalidUtf8, name);
    }
  });

  test("decodeMqttString() agrees with a reference decoder on every 1- and 2-byte input", () => {
    for (let a = 0; a < 256; a++) {
      assert.equal(decodeAll([a]), referenceDecode(new Uint8Array([a])), `${a}`);
      for (let b = 0; b < 256; b++) {
        const want = referenceDecode(new Uint8Array([a, b]));
        assert.equal(decodeAll([a, b]), want, `${a} ${b}`);
      }
    }
  });

  test("decodeMqttString() agrees with a reference decoder on every 3-byte input from E0..F4", () => {
    const buffer = new Uint8Array(3);
    for (let a = 0xe0; a <= 0xf4; a++) {
      buffer[0] = a;
      for (let b = 0x70; b < 0xd0; b++) {
        buffer[1] = b;
        for (let c = 0x70; c < 0xd0; c++) {
          buffer[2] = c;
          const want = referenceDecode(buffer);
          const got = decodeMqttString(buffer, 0, 3);
          if (got !== want) assert.equal(got, want, `${a} ${b} ${c}`);
        }
      }
    }
  });

  test("decodeMqttString() agrees with a reference decoder on seeded random inputs", () => {
    const next = prng(0x5eed);
    const interesting = [
      0x00,
      0x2f,
      0x61,
      0x7f,
      0x80,
      0x8f,
      0x90,
      0x9f,
      0xa0,
      0xbf,
      0xc0,
      0xc1,
      0xc2,
      0xdf,
      0xe0,
      0xed,
      0xef,
      0xf0,
      0xf4,
      0xf5,
      0xff,
    ];
    for (let round = 0; round < 50_000; round++) {
      const length = Math.floor(next() * 10);
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        bytes[i] = next() < 0.6
          ? interesting[Math.floor(next() * interesting.length)]!
          : Math.floor(next() * 256);
      }
      assert.equal(decodeMqttString(bytes, 0, length), referenceDecode(bytes), `${bytes}`);
    }
  });

  test("decodeMqttString() round-trips every code point except surrogates and U+0000", () => {
    const buffer = new Uint8Array(4);
    for (let cp = 1; cp <= 0x10ffff; cp++) {
      if (cp === 0xd800) cp = 0xe000;
      const s = String.fromCodePoint(cp);
      const end = encoder.encodeInto(s, buffer).written;
      const got = decodeMqttString(buffer, 0, end);
      if (got !== s) assert.equal(got, s, `U+${cp.toString(16)}`);
    }
  });

  test("utf8FaultSpec() names the normative statement", () => {
    assert.equal(utf8FaultSpec(Utf8Fault.InvalidUtf8), "MQTT-1.5.4-1");
    assert.equal(utf8FaultSpec(Utf8Fault.NullCharacter), "MQTT-1.5.4-2");
  });

  test("utf8Length() equals the TextEncoder length", () => {
    const fixed = ["", "a", "é", "€", "😀", "a/é/€/😀", "\u07ff\u0800\uffff", "\u{10ffff}"];
    for (const s of fixed) assert.equal(utf8Length(s), encoder.encode(s).length, s);
    const next = prng(42);
    for (let round = 0; round < 2_000; round++) {
      const s = randomString(next, Math.floor(next() * 40));
      assert.equal(utf8Length(s), encoder.encode(s).length);
    }
  });

  test("utf8Length() throws TypeError for lone surrogates", () => {
    for (const s of ["\ud800", "a\udbff", "\udc00b", "\udfff", "\ud83d\ud83d", "x\ude00\ud83d"]) {
      assert.throws(() => utf8Length(s), TypeError, JSON.stringify(s));
    }
  });

  test("writeUtf8() writes what TextEncoder writes, short and long", () => {
    const next = prng(7);
    const buffer = new Uint8Array(1024);
    for (let round = 0; round < 2_000; round++) {
      const s = randomString(next, Math.floor(next() * 80));
      const want = encoder.encode(s);
      const offset = Math.floor(next() * 8);
      const end = writeUtf8(buffer, offset, s);
      assert.equal(end, offset + want.length);
      assert.deepEqual(buffer.subarray(offset, end), want);
    }
  });

  test("writeUtf8() fits an exactly sized buffer and throws RangeError on a short one", () => {
    for (const s of ["aé€😀", "aé€😀".repeat(20)]) {
      const n = utf8Length(s);
      assert.equal(writeUtf8(new Uint8Array(n + 1), 1, s), n + 1);
      assert.throws(() => writeUtf8(new Uint8Array(n), 1, s), RangeError);
      assert.throws(() => writeUtf8(new Uint8Array(n - 1), 0, s), RangeError);
    }
    assert.throws(() => writeUtf8(new Uint8Array(2), 1, "ab"), RangeError);
    assert.throws(() => writeUtf8(new Uint8Array(2), -1, "a"), RangeError);
  });

  test("writeUtf8() writes lone surrogates as U+FFFD on both paths", () => {
    for (const s of ["a\ud800b", `${"x".repeat(40)}\udc00`]) {
      const buffer = new Uint8Array(64);
      const end = writeUtf8(buffer, 0, s);
      assert.deepEqual(buffer.subarray(0, end), encoder.encode(s));
    }
  });

  test("validateMqttStringValue() returns the byte length of a valid string", () => {
    assert.equal(validateMqttStringValue(""), 0);
    assert.equal(validateMqttStringValue("héllo/😀"), 11);
    assert.equal(validateMqttStringValue("a".repeat(MAX_STRING_BYTES)), MAX_STRING_BYTES);
  });

  test("validateMqttStringValue() throws TypeError for U+0000, lone surrogates and non-strings", () => {
    for (const s of ["\u0000", "a\u0000", "a\ud800", "\udc00"]) {
      assert.throws(() => validateMqttStringValue(s), TypeError, JSON.stringify(s));
    }
    for (const value of [undefined, null, 1, {}, new Uint8Array(1)]) {
      assert.throws(() => validateMqttStringValue(value as unknown as string), TypeError);
    }
  });

  test("validateMqttStringValue() throws RangeError above 65535 bytes", () => {
    assert.throws(() => validateMqttStringValue("a".repeat(MAX_STRING_BYTES + 1)), RangeError);
    // 21,846 three-byte characters: 65,538 bytes from fewer than 65,535 UTF-16 units
    assert.throws(() => validateMqttStringValue("€".repeat(21_846)), RangeError);
    assert.equal(validateMqttStringValue("€".repeat(21_845)), 65_535);
  });

  test("hasDiscouragedCodePoints() flags controls and non-characters only", () => {
    const cases: Array<[string, boolean]> = [
      ["", false],
      ["sport/tennis", false],
      ["café €", false],
      ["😀", false],
      ["\u0000", false],
      ["\u0001", true],
      ["a\tb", true],
      ["\u001f", true],
      [" ~", false],
      ["\u007f", true],
      ["\u0080", true],
      ["\u009f", true],
      ["\u00a0", false],
      ["\ufdcf", false],
      ["\ufdd0", true],
      ["\ufdef", true],
      ["\ufdf0", false],
      ["\ufffd", false],
      ["\ufffe", true],
      ["\uffff", true],
      ["\u{1fffe}", true],
      ["\u{1ffff}", true],
      ["\u{10fffe}", true],
      ["\u{10ffff}", true],
      ["\u{103fe}", false],
      ["\u{1fffd}", false],
      ["\u{10000}", false],
    ];
    for (const [s, want] of cases) {
      assert.equal(hasDiscouragedCodePoints(s), want, JSON.stringify(s));
    }
  });
});
