import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Decoder } from "./decode.ts";
import { encodePacket } from "./encode.ts";
import { MalformedPacketError } from "./errors.ts";
import type { Packet, PublishPacket } from "./packet.ts";
import { PacketReader } from "./_properties_reader.ts";

const encoder = new TextEncoder();

/** A QoS 0 PUBLISH for MQTT 3.1.1 with raw topic bytes (which may be invalid). */
function rawPublish(topic: Uint8Array, payload = new Uint8Array([1])): Uint8Array {
  const remaining = 2 + topic.length + payload.length;
  return new Uint8Array([0x30, remaining, 0, topic.length, ...topic, ...payload]);
}

/** A v5 PUBLISH whose only property is a raw UTF-8 property (0x03 or 0x08). */
function rawPublishWithProperty(id: number, value: Uint8Array): Uint8Array {
  const topic = encoder.encode("t");
  const props = [id, 0, value.length, ...value];
  const body = [0, topic.length, ...topic, props.length, ...props, 9];
  return new Uint8Array([0x30, body.length, ...body]);
}

function decodeAll(decoder: Decoder, chunks: Uint8Array[]): Packet[] {
  const out: Packet[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let p = decoder.next(); p !== undefined; p = decoder.next()) out.push(p);
  }
  return out;
}

describe("PacketReader memos", () => {
  test("PacketReader.topicName() tells apart topics of the same length", () => {
    const topics = ["a/bc", "a/bd", "b/bc", "a/bc", "é/x", "x/é", "é/x", "", "abcd", "a/bc"];
    const decoder = new Decoder({ protocolVersion: 5 });
    const packets: PublishPacket[] = topics.map((topic) => ({
      type: "publish",
      topic,
      payload: new Uint8Array([7]),
      qos: 0,
      retain: false,
      dup: false,
      ...(topic === "" ? { properties: { topicAlias: 3 } } : {}),
    }));
    const decoded = decodeAll(decoder, packets.map((p) => encodePacket(p, 5)));
    assert.deepEqual(decoded, packets);
  });

  test("PacketReader.topicName() still refuses a wildcard after a valid topic of that length", () => {
    for (const bad of ["a/b+", "a/#", "+/b+"]) {
      const good = "x".repeat(encoder.encode(bad).length);
      const decoder = new Decoder({ protocolVersion: 4 });
      decoder.push(rawPublish(encoder.encode(good)));
      decoder.push(rawPublish(encoder.encode(good)));
      decoder.push(rawPublish(encoder.encode(bad)));
      assert.equal((decoder.next() as PublishPacket).topic, good);
      assert.equal((decoder.next() as PublishPacket).topic, good);
      assert.equal(decoder.next(), undefined);
      assert.ok(decoder.error instanceof MalformedPacketError);
      assert.equal(decoder.error.reasonCode, 0x81);
    }
  });

  test("PacketReader.topicName() still refuses ill-formed UTF-8 after a valid topic of that length", () => {
    const decoder = new Decoder({ protocolVersion: 4 });
    decoder.push(rawPublish(new Uint8Array([0x61, 0xc3, 0xa9])));
    decoder.push(rawPublish(new Uint8Array([0x61, 0xc3, 0x28])));
    assert.equal((decoder.next() as PublishPacket).topic, "aé");
    assert.equal(decoder.next(), undefined);
    assert.ok(decoder.error instanceof MalformedPacketError);
    assert.equal(decoder.error.reasonCode, 0x81);
  });

  test("PacketReader.properties() tells apart string property values of the same length", () => {
    const values = ["text/plain", "text/plaim", "text/plain", "image/png!", "text/plain"];
    const decoder = new Decoder({ protocolVersion: 5 });
    const decoded = decodeAll(
      decoder,
      values.map((v) => rawPublishWithProperty(0x03, encoder.encode(v))),
    ) as PublishPacket[];
    assert.deepEqual(decoded.map((p) => p.properties?.contentType), values);
  });

  test("PacketReader.properties() still checks a response topic after a valid one of that length", () => {
    const decoder = new Decoder({ protocolVersion: 5 });
    decoder.push(rawPublishWithProperty(0x08, encoder.encode("r/a")));
    decoder.push(rawPublishWithProperty(0x08, encoder.encode("r/+")));
    assert.equal((decoder.next() as PublishPacket).properties?.responseTopic, "r/a");
    assert.equal(decoder.next(), undefined);
    assert.ok(decoder.error instanceof MalformedPacketError);
    assert.equal(decoder.error.spec, "MQTT-3.3.2-14");
  });

  test("PacketReader.properties() still refuses a null character after a valid value of that length", () => {
    const decoder = new Decoder({ protocolVersion: 5 });
    decoder.push(rawPublishWithProperty(0x03, encoder.encode("ab")));
    decoder.push(rawPublishWithProperty(0x03, new Uint8Array([0x61, 0x00])));
    assert.equal((decoder.next() as PublishPacket).properties?.contentType, "ab");
    assert.equal(decoder.next(), undefined);
    assert.ok(decoder.error instanceof MalformedPacketError);
    assert.equal(decoder.error.spec, "MQTT-1.5.4-2");
  });

  test("PacketReader.properties() refuses a property not allowed in the packet", () => {
    const r = new PacketReader();
    // PUBACK properties: a topic alias (0x23) is a PUBLISH property only
    r.reset(new Uint8Array([3, 0x23, 0, 1]), 0, 4, true, "PUBACK");
    assert.throws(() => r.properties("puback"), MalformedPacketError);
    r.reset(new Uint8Array([3, 0x23, 0, 1]), 0, 4, true, "PUBLISH");
    assert.deepEqual(r.properties("publish"), { topicAlias: 1 });
  });
});
