import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  clientPacketSize,
  encodeClientPacket,
  encodePacket,
  packetSize,
  writeClientPacket,
} from "./encode.ts";
import { FIXTURES, hexToBytes } from "./_fixtures.ts";
import type { Packet, PacketName } from "./packet.ts";

// The packets a client sends.
const CLIENT_SENT: ReadonlySet<PacketName> = new Set<PacketName>([
  "connect",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "unsubscribe",
  "pingreq",
  "disconnect",
  "auth",
]);

/** The error class `fn` throws, or `undefined`. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return (e as Error).constructor;
  }
  return undefined;
}

describe("client encoder", () => {
  const clientSent = FIXTURES.filter((f) => CLIENT_SENT.has(f.packet.type));
  const serverOnly = FIXTURES.filter((f) => !CLIENT_SENT.has(f.packet.type));

  test("encodeClientPacket() is byte-identical to encodePacket() on every client-sent fixture", () => {
    assert.ok(clientSent.length > 50);
    for (const f of clientSent) {
      const expected = hexToBytes(f.hex);
      assert.deepEqual(encodeClientPacket(f.packet, f.version), expected, f.name);
      assert.deepEqual(encodePacket(f.packet, f.version), expected, f.name);
      // Twice: the second PUBLISH to a topic takes the cached-topic path
      assert.deepEqual(encodeClientPacket(f.packet, f.version), expected, f.name);
    }
  });

  test("clientPacketSize() equals packetSize() on every client-sent fixture", () => {
    for (const f of clientSent) {
      const size = hexToBytes(f.hex).length;
      assert.equal(clientPacketSize(f.packet, f.version), size, f.name);
      assert.equal(packetSize(f.packet, f.version), size, f.name);
    }
  });

  test("writeClientPacket() writes every client-sent fixture at an offset", () => {
    for (const f of clientSent) {
      const expected = hexToBytes(f.hex);
      const buffer = new Uint8Array(expected.length + 3);
      assert.equal(writeClientPacket(f.packet, f.version, buffer, 2), expected.length + 2, f.name);
      assert.deepEqual(buffer.subarray(2, 2 + expected.length), expected, f.name);
      assert.equal(buffer[0], 0, f.name);
      assert.equal(buffer[expected.length + 2], 0, f.name);
    }
  });

  test("encodeClientPacket() throws TypeError on every packet only a server sends", () => {
    const types = new Set(serverOnly.map((f) => f.packet.type));
    assert.deepEqual([...types].sort(), ["connack", "pingresp", "suback", "unsuback"]);
    for (const f of serverOnly) {
      assert.throws(() => encodeClientPacket(f.packet, f.version), TypeError, f.name);
      assert.throws(() => clientPacketSize(f.packet, f.version), TypeError, f.name);
      const buffer = new Uint8Array(64);
      assert.throws(() => writeClientPacket(f.packet, f.version, buffer, 0), TypeError, f.name);
      assert.deepEqual(buffer, new Uint8Array(64), f.name);
      // encodePacket() still encodes them
      assert.deepEqual(encodePacket(f.packet, f.version), hexToBytes(f.hex), f.name);
    }
  });

  test("encodeClientPacket() refuses bad input as encodePacket() does", () => {
    const publish = {
      type: "publish",
      topic: "a/b",
      payload: new Uint8Array(1),
      qos: 0,
      retain: false,
      dup: false,
    } as const;
    const bad: [Packet, 3 | 4 | 5][] = [
      [{ type: "nope" } as unknown as Packet, 5],
      [null as unknown as Packet, 5],
      [publish, 6 as 5],
      [{ ...publish, qos: 3 as 0 }, 5],
      [{ ...publish, topic: "a/+" }, 5],
      [{ ...publish, dup: true }, 4],
      [{ type: "puback", packetId: 0 }, 4],
      [{ type: "puback", packetId: 1, reasonCode: 0x10 }, 4],
      [{ type: "subscribe", packetId: 1, subscriptions: [] }, 5],
      [{ type: "unsubscribe", packetId: 1, filters: ["a/#/b"] }, 5],
      [{ type: "auth", reasonCode: 0 }, 4],
    ];
    for (const [packet, version] of bad) {
      const expected = thrown(() => encodePacket(packet, version));
      assert.ok(expected === TypeError || expected === RangeError, JSON.stringify(packet));
      assert.equal(thrown(() => encodeClientPacket(packet, version)), expected);
      assert.equal(thrown(() => clientPacketSize(packet, version)), expected);
    }
    assert.throws(
      () => writeClientPacket({ type: "pingreq" }, 4, new Uint8Array(1), 0),
      RangeError,
    );
    assert.throws(
      () => writeClientPacket({ type: "pingreq" }, 4, [] as unknown as Uint8Array, 0),
      TypeError,
    );
  });
});
