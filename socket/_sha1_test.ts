import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "../tests/_testing.ts";
import { sha1 } from "./_sha1.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

describe("sha1()", () => {
  test("sha1() matches the FIPS 180 and well-known test vectors", () => {
    const vectors: [string, string][] = [
      ["", "da39a3ee5e6b4b0d3255bfef95601890afd80709"],
      ["abc", "a9993e364706816aba3e25717850c26c9cd0d89d"],
      [
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
      ],
      [
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "a49b2446a02c645bf419f995b67091253a04a259",
      ],
      ["The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"],
    ];
    for (const [input, digest] of vectors) assert.equal(hex(sha1(ascii(input))), digest, input);
  });

  test("sha1() digests a million times 'a'", () => {
    const data = new Uint8Array(1_000_000).fill(0x61);
    assert.equal(hex(sha1(data)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  });

  test("sha1() agrees with node:crypto around every padding boundary", () => {
    const data = new Uint8Array(300);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
    for (let length = 0; length <= data.length; length++) {
      const input = data.subarray(0, length);
      const expected = createHash("sha1").update(input).digest("hex");
      assert.equal(hex(sha1(input)), expected, `length ${length}`);
    }
  });

  test("sha1() gives the RFC 6455 example Sec-WebSocket-Accept", () => {
    const digest = sha1(ascii("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
    assert.equal(btoa(String.fromCharCode(...digest)), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  test("sha1() leaves its input untouched", () => {
    const input = ascii("abc");
    sha1(input);
    assert.deepEqual(input, ascii("abc"));
  });
});
