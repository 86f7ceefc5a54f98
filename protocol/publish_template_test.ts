import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodePacket } from "./encode.ts";
import { FIXTURES } from "./_fixtures.ts";
import type { PublishPacket } from "./packet.ts";
import { PublishTemplate } from "./publish_template.ts";

const PUBLISHES = FIXTURES.filter((f) => f.packet.type === "publish") as {
  name: string;
  version: 3 | 4 | 5;
  packet: PublishPacket;
}[];

const QOS1: PublishPacket = {
  type: "publish",
  topic: "café/📡",
  payload: new Uint8Array([1, 2, 3]),
  qos: 1,
  retain: true,
  dup: false,
  properties: { messageExpiryInterval: 10, userProperties: [["k", "v"]] },
};
const { properties: _, ...QOS1_V4 } = QOS1;

describe("PublishTemplate", () => {
  test("PublishTemplate.from() encodes like encodePacket() for every PUBLISH fixture", () => {
    for (const f of PUBLISHES) {
      const template = PublishTemplate.from(f.packet, f.version);
      assert.deepEqual(template.bytes, encodePacket(f.packet, f.version), f.name);
      assert.equal(template.qos, f.packet.qos);
      assert.equal(template.version, f.version);
      assert.equal(template.packetIdOffset === -1, f.packet.qos === 0, f.name);
    }
  });

  test("PublishTemplate.withPacketId() matches encodePacket() for every packet id", () => {
    for (const version of [3, 4, 5] as const) {
      const packet = version === 5 ? QOS1 : QOS1_V4;
      const t = PublishTemplate.from(packet, version);
      for (let id = 1; id <= 65535; id++) {
        const bytes = t.withPacketId(id);
        // Compare the whole packet on a sample, and the id bytes everywhere
        if (id % 4099 === 1 || id === 65535) {
          assert.deepEqual(bytes, encodePacket({ ...packet, packetId: id }, version));
        } else {
          assert.equal((bytes[t.packetIdOffset]! << 8) | bytes[t.packetIdOffset + 1]!, id);
        }
      }
    }
  });

  test("PublishTemplate.withPacketId() matches encodePacket() for every fixture and dup", () => {
    for (const f of PUBLISHES) {
      if (f.packet.qos === 0) continue;
      const template = PublishTemplate.from(f.packet, f.version);
      for (const id of [1, 2, 255, 256, 0x1234, 65534, 65535]) {
        for (const dup of [false, true]) {
          assert.deepEqual(
            template.withPacketId(id, dup),
            encodePacket({ ...f.packet, packetId: id, dup }, f.version),
            `${f.name} ${id} ${dup}`,
          );
        }
      }
    }
  });

  test("PublishTemplate.withPacketId() returns the same bytes, patched in place", () => {
    const template = PublishTemplate.from(QOS1, 5);
    const a = template.withPacketId(1);
    const b = template.withPacketId(2, true);
    assert.equal(a, b);
    assert.equal(a, template.bytes);
    assert.equal(template.bytes[0]! & 0x08, 0x08);
    template.withPacketId(3);
    assert.equal(template.bytes[0]! & 0x08, 0);
  });

  test("PublishTemplate.from() accepts QoS 1 and 2 without a packet id", () => {
    for (const qos of [1, 2] as const) {
      const packet: PublishPacket = { ...QOS1, qos };
      const template = PublishTemplate.from(packet, 5);
      assert.deepEqual(template.withPacketId(9), encodePacket({ ...packet, packetId: 9 }, 5));
    }
  });

  test("PublishTemplate.from() validates like encodePacket()", () => {
    assert.throws(() => PublishTemplate.from({ ...QOS1, topic: "a/#" }, 5), TypeError);
    assert.throws(() => PublishTemplate.from({ ...QOS1, qos: 3 as 1 }, 5), RangeError);
    assert.throws(() => PublishTemplate.from(QOS1, 4), TypeError);
    assert.throws(
      () => PublishTemplate.from({ type: "pingreq" } as unknown as PublishPacket, 4),
      TypeError,
    );
  });

  test("PublishTemplate.withPacketId() throws TypeError for QoS 0", () => {
    const template = PublishTemplate.from({ ...QOS1_V4, qos: 0 }, 4);
    assert.throws(() => template.withPacketId(1), TypeError);
  });

  test("PublishTemplate.withPacketId() throws RangeError for ids out of range", () => {
    const template = PublishTemplate.from(QOS1, 5);
    const before = template.bytes.slice();
    for (const id of [0, -1, 65536, 1.5, NaN]) {
      assert.throws(() => template.withPacketId(id), RangeError, String(id));
    }
    assert.throws(() => template.withPacketId("1" as unknown as number), TypeError);
    assert.deepEqual(template.bytes, before);
  });
});
