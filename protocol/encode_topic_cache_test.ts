import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodePacket } from "./decode.ts";
import { encodePacket, packetSize, writePacket } from "./encode.ts";
import type { ProtocolVersion, PublishPacket } from "./packet.ts";

function publish(topic: string, payload: number[] = [1, 2]): PublishPacket {
  return {
    type: "publish",
    topic,
    payload: new Uint8Array(payload),
    qos: 1,
    packetId: 9,
    retain: false,
    dup: false,
  };
}

describe("encode.ts topic cache", () => {
  test("encodePacket() encodes repeated and alternating topics correctly", () => {
    // Same UTF-16 length, different UTF-8 bytes; repeats that fill the cache; a long topic
    const topics = ["a/bc", "a/bc", "a/bc", "a/bé", "a/bé", "a/bc", "é/€", "é/€", "x".repeat(2000)];
    topics.push(topics[8]!, "a/bc", "😀/x", "😀/x", "a/bc");
    for (const version of [4, 5] as ProtocolVersion[]) {
      for (const topic of topics) {
        const packet = publish(topic);
        const bytes = encodePacket(packet, version);
        assert.deepEqual(decodePacket(bytes, { protocolVersion: version }), packet, topic);
      }
    }
  });

  test("writePacket() writes a repeated topic at the given offset", () => {
    const packet = publish("sensors/kitchen/temperature");
    const expected = encodePacket(packet, 4);
    for (let offset = 0; offset < 4; offset++) {
      const buffer = new Uint8Array(expected.length + 8).fill(0xaa);
      assert.equal(writePacket(packet, 4, buffer, offset), offset + expected.length);
      assert.deepEqual(buffer.subarray(offset, offset + expected.length), expected);
      assert.ok(buffer.subarray(offset + expected.length).every((b) => b === 0xaa));
    }
  });

  test("encodePacket() after packetSize() and failed encodes still writes the right topic", () => {
    const a = publish("t/one");
    const b = publish("t/two");
    assert.equal(packetSize(a, 4), encodePacket(a, 4).length);
    // A failed encode after measuring its topic
    const bad = { ...b, payload: "nope" } as unknown as PublishPacket;
    assert.throws(() => encodePacket(bad, 4), TypeError);
    assert.deepEqual(decodePacket(encodePacket(b, 4), { protocolVersion: 4 }), b);
    assert.deepEqual(decodePacket(encodePacket(a, 4), { protocolVersion: 4 }), a);
    assert.deepEqual(decodePacket(encodePacket(a, 4), { protocolVersion: 4 }), a);
  });

  test("encodePacket() encodes an empty topic with a topic alias after a cached topic", () => {
    const named = publish("t/x");
    const aliased: PublishPacket = { ...publish(""), properties: { topicAlias: 2 } };
    encodePacket(named, 5);
    encodePacket(named, 5);
    const bytes = encodePacket(aliased, 5);
    assert.deepEqual(decodePacket(bytes, { protocolVersion: 5 }), aliased);
    assert.deepEqual(decodePacket(encodePacket(named, 5), { protocolVersion: 5 }), named);
  });
});
