import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodePacket, packetSize, writePacket } from "./encode.ts";
import { bytesToHex, FIXTURES, hexToBytes } from "./_fixtures.ts";
import type { Packet, ProtocolVersion, PublishPacket } from "./packet.ts";
import type { Properties } from "./properties.ts";

const PUBLISH: PublishPacket = {
  type: "publish",
  topic: "a/b",
  payload: new Uint8Array([0x68, 0x69]),
  qos: 0,
  retain: false,
  dup: false,
};

/** An object that passes `instanceof Uint8Array` with a huge length, without allocating it. */
function fakePayload(length: number): Uint8Array {
  return Object.create(Uint8Array.prototype, { length: { value: length } }) as Uint8Array;
}

function big(length: number): Uint8Array {
  return new Uint8Array(length);
}

describe("encodePacket()", () => {
  test("encodePacket() produces the exact bytes of every fixture", () => {
    for (const f of FIXTURES) {
      assert.equal(bytesToHex(encodePacket(f.packet, f.version)), f.hex, f.name);
    }
  });

  test("encodePacket() covers all 15 packet types and every version they exist in", () => {
    const seen = new Set(FIXTURES.map((f) => `${f.packet.type} v${f.version}`));
    const types = [
      "connect",
      "connack",
      "publish",
      "puback",
      "pubrec",
      "pubrel",
      "pubcomp",
      "subscribe",
      "suback",
      "unsubscribe",
      "unsuback",
      "pingreq",
      "pingresp",
      "disconnect",
    ];
    for (const type of types) {
      for (const v of [3, 4, 5]) assert.ok(seen.has(`${type} v${v}`), `${type} v${v}`);
    }
    assert.ok(seen.has("auth v5"));
    assert.equal(new Set(FIXTURES.map((f) => f.name)).size, FIXTURES.length);
  });

  test("encodePacket() writes properties in table order whatever the key order", () => {
    for (const f of FIXTURES) {
      const props = (f.packet as { properties?: Properties }).properties;
      if (props === undefined) continue;
      const reversed = Object.fromEntries(Object.entries(props).reverse()) as Properties;
      const packet = { ...f.packet, properties: reversed } as Packet;
      assert.equal(bytesToHex(encodePacket(packet, f.version)), f.hex, f.name);
    }
  });

  test("encodePacket() does not modify the packet", () => {
    for (const f of FIXTURES) {
      const before = structuredClone(f.packet);
      encodePacket(f.packet, f.version);
      assert.deepEqual(f.packet, before, f.name);
    }
  });

  test("encodePacket() accepts an empty properties object before MQTT 5", () => {
    for (const version of [3, 4] as const) {
      assert.deepEqual(
        encodePacket({ ...PUBLISH, properties: {} }, version),
        encodePacket(PUBLISH, version),
      );
      assert.deepEqual(
        encodePacket({ type: "puback", packetId: 1, reasonCode: 0, properties: {} }, version),
        hexToBytes("40020001"),
      );
      assert.deepEqual(
        encodePacket({ type: "disconnect", reasonCode: 0 }, version),
        hexToBytes("e000"),
      );
    }
  });

  test("encodePacket() omits the MQTT 5 reason code and property length when possible", () => {
    const acks = [
      ["puback", 0x40, 0x80],
      ["pubrec", 0x50, 0x10],
      ["pubrel", 0x62, 0x92],
      ["pubcomp", 0x70, 0x92],
    ] as const;
    for (const [type, first, code] of acks) {
      const expected = new Uint8Array([first, 2, 0, 9]);
      assert.deepEqual(encodePacket({ type, packetId: 9 }, 5), expected);
      assert.deepEqual(encodePacket({ type, packetId: 9, properties: {} }, 5), expected);
      assert.deepEqual(
        encodePacket({ type, packetId: 9, properties: { userProperties: [] } }, 5),
        expected,
      );
      assert.deepEqual(
        encodePacket({ type, packetId: 9, reasonCode: code, properties: {} }, 5),
        new Uint8Array([first, 3, 0, 9, code]),
      );
    }
    assert.deepEqual(encodePacket({ type: "disconnect" }, 5), hexToBytes("e000"));
    assert.deepEqual(encodePacket({ type: "auth", properties: {} }, 5), hexToBytes("f000"));
    assert.deepEqual(encodePacket({ type: "auth", reasonCode: 0x19 }, 5), hexToBytes("f00119"));
  });

  test("encodePacket() treats absent MQTT 5 subscription options as 0", () => {
    assert.equal(
      bytesToHex(
        encodePacket(
          { type: "subscribe", packetId: 1, subscriptions: [{ filter: "a", qos: 2 }] },
          5,
        ),
      ),
      "82070001000001" + "6102",
    );
    assert.equal(
      bytesToHex(
        encodePacket({
          type: "subscribe",
          packetId: 1,
          subscriptions: [{ filter: "a", qos: 1, noLocal: false, retainHandling: 0 }],
        }, 4),
      ),
      "8206000100016101",
    );
  });

  test("encodePacket() uses 3- and 4-byte remaining lengths at 16384 and 2097152", () => {
    for (
      const [remaining, header] of [
        [16_384, "308080" + "01"],
        [2_097_151, "30ffff7f"],
        [2_097_152, "3080808001"],
      ] as const
    ) {
      const bytes = encodePacket({ ...PUBLISH, payload: big(remaining - 5) }, 4);
      assert.equal(bytes.length, header.length / 2 + remaining);
      assert.equal(bytesToHex(bytes.subarray(0, header.length / 2 + 5)), header + "0003612f62");
    }
  });

  test("encodePacket() keeps validating after a topic was cached", () => {
    encodePacket(PUBLISH, 4);
    assert.throws(() => encodePacket({ ...PUBLISH, topic: "a/+" }, 4), TypeError);
    assert.throws(() => encodePacket({ ...PUBLISH, topic: "" }, 4), TypeError);
    assert.deepEqual(encodePacket(PUBLISH, 4), hexToBytes("30070003612f626869"));
    assert.throws(() => encodePacket({ ...PUBLISH, topic: "" }, 5), TypeError);
  });
});

describe("packetSize()", () => {
  test("packetSize() equals the encoded length of every fixture", () => {
    for (const f of FIXTURES) {
      assert.equal(packetSize(f.packet, f.version), f.hex.length / 2, f.name);
    }
  });

  test("packetSize() accepts the largest remaining length, 268435455", () => {
    const payload = fakePayload(268_435_455 - 5);
    assert.equal(packetSize({ ...PUBLISH, payload }, 4), 1 + 4 + 268_435_455);
  });
});

describe("writePacket()", () => {
  test("writePacket() writes every fixture at an offset and leaves the rest alone", () => {
    for (const f of FIXTURES) {
      const size = f.hex.length / 2;
      const buffer = new Uint8Array(size + 10).fill(0xaa);
      assert.equal(writePacket(f.packet, f.version, buffer, 3), 3 + size, f.name);
      assert.equal(bytesToHex(buffer.subarray(3, 3 + size)), f.hex, f.name);
      assert.ok(buffer.subarray(0, 3).every((b) => b === 0xaa), f.name);
      assert.ok(buffer.subarray(3 + size).every((b) => b === 0xaa), f.name);
    }
  });

  test("writePacket() writes packets back to back", () => {
    const buffer = new Uint8Array(4 + 9);
    let p = writePacket({ type: "pingreq" }, 4, buffer, 0);
    p = writePacket(PUBLISH, 4, buffer, p);
    p = writePacket({ type: "pingresp" }, 4, buffer, p);
    assert.equal(p, buffer.length);
    assert.equal(bytesToHex(buffer), "c000" + "30070003612f626869" + "d000");
  });

  test("writePacket() throws RangeError when the packet does not fit, writing nothing", () => {
    const buffer = new Uint8Array(9).fill(0xaa);
    assert.throws(() => writePacket(PUBLISH, 4, buffer, 1), RangeError);
    assert.throws(() => writePacket(PUBLISH, 4, buffer, -1), RangeError);
    assert.throws(() => writePacket(PUBLISH, 4, buffer, 0.5), RangeError);
    assert.throws(() => writePacket(PUBLISH, 4, new Uint8Array(8), 0), RangeError);
    assert.ok(buffer.every((b) => b === 0xaa));
    assert.equal(writePacket(PUBLISH, 4, buffer, 0), 9);
  });

  test("writePacket() throws TypeError when the buffer is not a Uint8Array", () => {
    assert.throws(
      () => writePacket(PUBLISH, 4, [0, 0, 0, 0, 0, 0, 0, 0, 0] as unknown as Uint8Array, 0),
      TypeError,
    );
  });
});

// ---------------------------------------------------------------------------------------
// API misuse

interface Misuse {
  name: string;
  version: ProtocolVersion;
  packet: unknown;
  error: typeof TypeError | typeof RangeError;
}

const CONNECT = { type: "connect", protocolVersion: 4, clientId: "c", clean: true, keepAlive: 0 };
const CONNECT5 = { ...CONNECT, protocolVersion: 5 };
const WILL = { topic: "w", payload: new Uint8Array(0), qos: 0, retain: false };
const SUB = { type: "subscribe", packetId: 1, subscriptions: [{ filter: "a", qos: 0 }] };
const T = TypeError;
const R = RangeError;

function publishWith(properties: unknown): unknown {
  return { ...PUBLISH, properties };
}

const MISUSE: Misuse[] = [
  // Version and shape
  { name: "protocol version 6", version: 6 as ProtocolVersion, packet: PUBLISH, error: R },
  {
    name: "protocol version '4'",
    version: "4" as unknown as ProtocolVersion,
    packet: PUBLISH,
    error: R,
  },
  { name: "null packet", version: 4, packet: null, error: T },
  { name: "unknown type", version: 4, packet: { type: "hello" }, error: T },
  { name: "missing type", version: 4, packet: {}, error: T },

  // PUBLISH
  { name: "PUBLISH QoS 3", version: 4, packet: { ...PUBLISH, qos: 3, packetId: 1 }, error: R },
  { name: "PUBLISH QoS -1", version: 4, packet: { ...PUBLISH, qos: -1 }, error: R },
  { name: "PUBLISH QoS '1'", version: 4, packet: { ...PUBLISH, qos: "1", packetId: 1 }, error: T },
  { name: "PUBLISH QoS 1 without packet id", version: 4, packet: { ...PUBLISH, qos: 1 }, error: T },
  {
    name: "PUBLISH packet id 0",
    version: 4,
    packet: { ...PUBLISH, qos: 1, packetId: 0 },
    error: R,
  },
  {
    name: "PUBLISH packet id 65536",
    version: 5,
    packet: { ...PUBLISH, qos: 2, packetId: 65536 },
    error: R,
  },
  {
    name: "PUBLISH packet id 1.5",
    version: 4,
    packet: { ...PUBLISH, qos: 1, packetId: 1.5 },
    error: R,
  },
  {
    name: "PUBLISH packet id '1'",
    version: 4,
    packet: { ...PUBLISH, qos: 1, packetId: "1" },
    error: T,
  },
  {
    name: "PUBLISH QoS 0 with packet id",
    version: 4,
    packet: { ...PUBLISH, packetId: 1 },
    error: T,
  },
  { name: "PUBLISH QoS 0 with dup", version: 4, packet: { ...PUBLISH, dup: true }, error: T },
  { name: "PUBLISH retain not boolean", version: 4, packet: { ...PUBLISH, retain: 1 }, error: T },
  { name: "PUBLISH dup missing", version: 4, packet: { ...PUBLISH, dup: undefined }, error: T },
  { name: "PUBLISH topic with +", version: 4, packet: { ...PUBLISH, topic: "a/+" }, error: T },
  { name: "PUBLISH topic with #", version: 5, packet: { ...PUBLISH, topic: "#" }, error: T },
  { name: "PUBLISH empty topic v4", version: 4, packet: { ...PUBLISH, topic: "" }, error: T },
  {
    name: "PUBLISH empty topic v5 without alias",
    version: 5,
    packet: { ...PUBLISH, topic: "" },
    error: T,
  },
  {
    name: "PUBLISH empty topic v5 with other properties",
    version: 5,
    packet: { ...PUBLISH, topic: "", properties: { contentType: "x" } },
    error: T,
  },
  {
    name: "PUBLISH empty topic v4 with alias",
    version: 4,
    packet: { ...PUBLISH, topic: "", properties: { topicAlias: 1 } },
    error: T,
  },
  { name: "PUBLISH topic with U+0000", version: 4, packet: { ...PUBLISH, topic: "a\0" }, error: T },
  {
    name: "PUBLISH topic with lone surrogate",
    version: 4,
    packet: { ...PUBLISH, topic: "a\ud800" },
    error: T,
  },
  { name: "PUBLISH topic not a string", version: 4, packet: { ...PUBLISH, topic: 42 }, error: T },
  {
    name: "PUBLISH topic over 65535 bytes",
    version: 4,
    packet: { ...PUBLISH, topic: "é".repeat(32768) },
    error: R,
  },
  { name: "PUBLISH payload string", version: 4, packet: { ...PUBLISH, payload: "hi" }, error: T },
  { name: "PUBLISH payload array", version: 4, packet: { ...PUBLISH, payload: [1, 2] }, error: T },
  {
    name: "PUBLISH remaining length over 268435455",
    version: 4,
    packet: { ...PUBLISH, payload: fakePayload(268_435_455 - 4) },
    error: R,
  },
  {
    name: "PUBLISH v5 remaining length over 268435455 with properties",
    version: 5,
    packet: { ...PUBLISH, payload: fakePayload(268_435_455 - 8), properties: { topicAlias: 1 } },
    error: R,
  },

  // Properties on old versions
  { name: "PUBLISH v4 properties", version: 4, packet: publishWith({ topicAlias: 1 }), error: T },
  {
    name: "PUBLISH v3 properties",
    version: 3,
    packet: publishWith({ userProperties: [] }),
    error: T,
  },
  {
    name: "CONNECT v4 will properties",
    version: 4,
    packet: { ...CONNECT, will: { ...WILL, properties: { willDelayInterval: 1 } } },
    error: T,
  },
  {
    name: "SUBSCRIBE v4 properties",
    version: 4,
    packet: { ...SUB, properties: { subscriptionIdentifier: 1 } },
    error: T,
  },
  {
    name: "UNSUBACK v4 properties",
    version: 4,
    packet: { type: "unsuback", packetId: 1, reasonCodes: [], properties: { reasonString: "x" } },
    error: T,
  },
  {
    name: "DISCONNECT v4 properties",
    version: 4,
    packet: { type: "disconnect", properties: { reasonString: "x" } },
    error: T,
  },
  {
    name: "CONNACK v4 properties",
    version: 4,
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { retainAvailable: true },
    },
    error: T,
  },

  // Properties not allowed in the packet
  {
    name: "PUBLISH receiveMaximum",
    version: 5,
    packet: publishWith({ receiveMaximum: 1 }),
    error: T,
  },
  {
    name: "PUBLISH subscriptionIdentifier (singular)",
    version: 5,
    packet: publishWith({ subscriptionIdentifier: 1 }),
    error: T,
  },
  { name: "PUBLISH unknown property", version: 5, packet: publishWith({ foo: 1 }), error: T },
  { name: "PUBLISH properties null", version: 5, packet: publishWith(null), error: T },
  { name: "PUBLISH properties array", version: 5, packet: publishWith([]), error: T },
  {
    name: "SUBSCRIBE subscriptionIdentifiers (plural)",
    version: 5,
    packet: { ...SUB, properties: { subscriptionIdentifiers: [1] } },
    error: T,
  },
  {
    name: "PUBACK contentType",
    version: 5,
    packet: { type: "puback", packetId: 1, properties: { contentType: "x" } },
    error: T,
  },
  {
    name: "CONNECT willDelayInterval",
    version: 5,
    packet: { ...CONNECT5, properties: { willDelayInterval: 1 } },
    error: T,
  },
  {
    name: "will sessionExpiryInterval",
    version: 5,
    packet: { ...CONNECT5, will: { ...WILL, properties: { sessionExpiryInterval: 1 } } },
    error: T,
  },
  {
    name: "CONNACK topicAlias",
    version: 5,
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { topicAlias: 1 },
    },
    error: T,
  },
  {
    name: "DISCONNECT authenticationMethod",
    version: 5,
    packet: { type: "disconnect", properties: { authenticationMethod: "x" } },
    error: T,
  },
  {
    name: "AUTH sessionExpiryInterval",
    version: 5,
    packet: { type: "auth", reasonCode: 0x18, properties: { sessionExpiryInterval: 1 } },
    error: T,
  },

  // Property values
  { name: "topicAlias 0", version: 5, packet: publishWith({ topicAlias: 0 }), error: R },
  { name: "topicAlias 65536", version: 5, packet: publishWith({ topicAlias: 65536 }), error: R },
  { name: "topicAlias '1'", version: 5, packet: publishWith({ topicAlias: "1" }), error: T },
  {
    name: "receiveMaximum 0",
    version: 5,
    packet: { ...CONNECT5, properties: { receiveMaximum: 0 } },
    error: R,
  },
  {
    name: "maximumPacketSize 0",
    version: 5,
    packet: { ...CONNECT5, properties: { maximumPacketSize: 0 } },
    error: R,
  },
  {
    name: "sessionExpiryInterval 2^32",
    version: 5,
    packet: { ...CONNECT5, properties: { sessionExpiryInterval: 2 ** 32 } },
    error: R,
  },
  {
    name: "sessionExpiryInterval 1.5",
    version: 5,
    packet: { ...CONNECT5, properties: { sessionExpiryInterval: 1.5 } },
    error: R,
  },
  {
    name: "messageExpiryInterval -1",
    version: 5,
    packet: publishWith({ messageExpiryInterval: -1 }),
    error: R,
  },
  {
    name: "subscriptionIdentifier 0",
    version: 5,
    packet: { ...SUB, properties: { subscriptionIdentifier: 0 } },
    error: R,
  },
  {
    name: "subscriptionIdentifier 268435456",
    version: 5,
    packet: { ...SUB, properties: { subscriptionIdentifier: 268_435_456 } },
    error: R,
  },
  {
    name: "subscriptionIdentifiers with 0",
    version: 5,
    packet: publishWith({ subscriptionIdentifiers: [1, 0] }),
    error: R,
  },
  {
    name: "subscriptionIdentifiers not an array",
    version: 5,
    packet: publishWith({ subscriptionIdentifiers: 1 }),
    error: T,
  },
  {
    name: "payloadFormatIndicator 2",
    version: 5,
    packet: publishWith({ payloadFormatIndicator: 2 }),
    error: R,
  },
  {
    name: "payloadFormatIndicator true",
    version: 5,
    packet: publishWith({ payloadFormatIndicator: true }),
    error: T,
  },
  {
    name: "maximumQoS 2",
    version: 5,
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { maximumQoS: 2 },
    },
    error: R,
  },
  {
    name: "requestProblemInformation 1",
    version: 5,
    packet: { ...CONNECT5, properties: { requestProblemInformation: 1 } },
    error: T,
  },
  { name: "contentType number", version: 5, packet: publishWith({ contentType: 5 }), error: T },
  {
    name: "contentType with U+0000",
    version: 5,
    packet: publishWith({ contentType: "a\0" }),
    error: T,
  },
  {
    name: "reasonString over 65535 bytes",
    version: 5,
    packet: { type: "puback", packetId: 1, properties: { reasonString: "x".repeat(65536) } },
    error: R,
  },
  {
    name: "correlationData string",
    version: 5,
    packet: publishWith({ correlationData: "x" }),
    error: T,
  },
  {
    name: "correlationData over 65535 bytes",
    version: 5,
    packet: publishWith({ correlationData: big(65536) }),
    error: R,
  },
  {
    name: "userProperties object",
    version: 5,
    packet: publishWith({ userProperties: { a: "b" } }),
    error: T,
  },
  {
    name: "userProperties one-element pair",
    version: 5,
    packet: publishWith({ userProperties: [["a"]] }),
    error: T,
  },
  {
    name: "userProperties non-string value",
    version: 5,
    packet: publishWith({ userProperties: [["a", 1]] }),
    error: T,
  },
  {
    name: "userProperties name with lone surrogate",
    version: 5,
    packet: publishWith({ userProperties: [["\udc00", "v"]] }),
    error: T,
  },

  // CONNECT
  { name: "CONNECT version mismatch", version: 5, packet: CONNECT, error: T },
  {
    name: "CONNECT keepAlive 65536",
    version: 4,
    packet: { ...CONNECT, keepAlive: 65536 },
    error: R,
  },
  { name: "CONNECT keepAlive -1", version: 4, packet: { ...CONNECT, keepAlive: -1 }, error: R },
  {
    name: "CONNECT keepAlive missing",
    version: 4,
    packet: { ...CONNECT, keepAlive: undefined },
    error: T,
  },
  { name: "CONNECT clean not boolean", version: 4, packet: { ...CONNECT, clean: 1 }, error: T },
  { name: "CONNECT clientId number", version: 4, packet: { ...CONNECT, clientId: 1 }, error: T },
  {
    name: "CONNECT clientId with U+0000",
    version: 4,
    packet: { ...CONNECT, clientId: "\0" },
    error: T,
  },
  {
    name: "CONNECT clientId over 65535 bytes",
    version: 4,
    packet: { ...CONNECT, clientId: "x".repeat(65536) },
    error: R,
  },
  {
    name: "CONNECT v4 password without username",
    version: 4,
    packet: { ...CONNECT, password: new Uint8Array(1) },
    error: T,
  },
  {
    name: "CONNECT v3 password without username",
    version: 3,
    packet: { ...CONNECT, protocolVersion: 3, password: new Uint8Array(1) },
    error: T,
  },
  {
    name: "CONNECT password string",
    version: 4,
    packet: { ...CONNECT, username: "u", password: "p" },
    error: T,
  },
  {
    name: "CONNECT password over 65535 bytes",
    version: 5,
    packet: { ...CONNECT5, password: big(65536) },
    error: R,
  },
  { name: "CONNECT username number", version: 4, packet: { ...CONNECT, username: 1 }, error: T },
  { name: "CONNECT will not an object", version: 4, packet: { ...CONNECT, will: "w" }, error: T },
  {
    name: "CONNECT will topic with #",
    version: 4,
    packet: { ...CONNECT, will: { ...WILL, topic: "a/#" } },
    error: T,
  },
  {
    name: "CONNECT will topic empty",
    version: 5,
    packet: { ...CONNECT5, will: { ...WILL, topic: "" } },
    error: T,
  },
  {
    name: "CONNECT will QoS 3",
    version: 4,
    packet: { ...CONNECT, will: { ...WILL, qos: 3 } },
    error: R,
  },
  {
    name: "CONNECT will retain missing",
    version: 4,
    packet: { ...CONNECT, will: { ...WILL, retain: undefined } },
    error: T,
  },
  {
    name: "CONNECT will payload over 65535 bytes",
    version: 4,
    packet: { ...CONNECT, will: { ...WILL, payload: big(65536) } },
    error: R,
  },
  {
    name: "CONNECT will payload string",
    version: 4,
    packet: { ...CONNECT, will: { ...WILL, payload: "x" } },
    error: T,
  },

  // CONNACK
  {
    name: "CONNACK v4 return code 6",
    version: 4,
    packet: { type: "connack", sessionPresent: false, reasonCode: 6 },
    error: R,
  },
  {
    name: "CONNACK v3 session present",
    version: 3,
    packet: { type: "connack", sessionPresent: true, reasonCode: 0 },
    error: T,
  },
  {
    name: "CONNACK v5 reason code 256",
    version: 5,
    packet: { type: "connack", sessionPresent: false, reasonCode: 256 },
    error: R,
  },
  {
    name: "CONNACK reason code missing",
    version: 5,
    packet: { type: "connack", sessionPresent: false },
    error: T,
  },
  {
    name: "CONNACK sessionPresent missing",
    version: 4,
    packet: { type: "connack", reasonCode: 0 },
    error: T,
  },

  // Acknowledgements
  { name: "PUBACK without packet id", version: 4, packet: { type: "puback" }, error: T },
  { name: "PUBREC packet id 0", version: 5, packet: { type: "pubrec", packetId: 0 }, error: R },
  {
    name: "PUBREL v4 reason code",
    version: 4,
    packet: { type: "pubrel", packetId: 1, reasonCode: 0x92 },
    error: T,
  },
  {
    name: "PUBCOMP v5 reason code 256",
    version: 5,
    packet: { type: "pubcomp", packetId: 1, reasonCode: 256 },
    error: R,
  },
  {
    name: "PUBACK reason code '0'",
    version: 5,
    packet: { type: "puback", packetId: 1, reasonCode: "0" },
    error: T,
  },

  // SUBSCRIBE
  {
    name: "SUBSCRIBE no subscriptions",
    version: 4,
    packet: { ...SUB, subscriptions: [] },
    error: T,
  },
  {
    name: "SUBSCRIBE subscriptions not an array",
    version: 4,
    packet: { ...SUB, subscriptions: "a" },
    error: T,
  },
  {
    name: "SUBSCRIBE subscription null",
    version: 4,
    packet: { ...SUB, subscriptions: [null] },
    error: T,
  },
  {
    name: "SUBSCRIBE packet id missing",
    version: 4,
    packet: { ...SUB, packetId: undefined },
    error: T,
  },
  {
    name: "SUBSCRIBE filter a/#/b",
    version: 4,
    packet: { ...SUB, subscriptions: [{ filter: "a/#/b", qos: 0 }] },
    error: T,
  },
  {
    name: "SUBSCRIBE filter empty",
    version: 5,
    packet: { ...SUB, subscriptions: [{ filter: "", qos: 0 }] },
    error: T,
  },
  {
    name: "SUBSCRIBE filter $share//a",
    version: 5,
    packet: { ...SUB, subscriptions: [{ filter: "$share//a", qos: 0 }] },
    error: T,
  },
  {
    name: "SUBSCRIBE QoS 3",
    version: 4,
    packet: { ...SUB, subscriptions: [{ filter: "a", qos: 3 }] },
    error: R,
  },
  {
    name: "SUBSCRIBE v4 noLocal",
    version: 4,
    packet: { ...SUB, subscriptions: [{ filter: "a", qos: 0, noLocal: true }] },
    error: T,
  },
  {
    name: "SUBSCRIBE v4 retainAsPublished",
    version: 4,
    packet: { ...SUB, subscriptions: [{ filter: "a", qos: 0, retainAsPublished: true }] },
    error: T,
  },
  {
    name: "SUBSCRIBE v3 retainHandling 1",
    version: 3,
    packet: { ...SUB, subscriptions: [{ filter: "a", qos: 0, retainHandling: 1 }] },
    error: T,
  },
  {
    name: "SUBSCRIBE v5 retainHandling 3",
    version: 5,
    packet: { ...SUB, subscriptions: [{ filter: "a", qos: 0, retainHandling: 3 }] },
    error: R,
  },
  {
    name: "SUBSCRIBE v5 noLocal string",
    version: 5,
    packet: { ...SUB, subscriptions: [{ filter: "a", qos: 0, noLocal: "yes" }] },
    error: T,
  },

  // SUBACK
  {
    name: "SUBACK no reason codes",
    version: 4,
    packet: { type: "suback", packetId: 1, reasonCodes: [] },
    error: T,
  },
  {
    name: "SUBACK v4 code 0x87",
    version: 4,
    packet: { type: "suback", packetId: 1, reasonCodes: [0x87] },
    error: R,
  },
  {
    name: "SUBACK v3 code 3",
    version: 3,
    packet: { type: "suback", packetId: 1, reasonCodes: [3] },
    error: R,
  },
  {
    name: "SUBACK v4 code '1'",
    version: 4,
    packet: { type: "suback", packetId: 1, reasonCodes: ["1"] },
    error: T,
  },
  {
    name: "SUBACK v5 code 256",
    version: 5,
    packet: { type: "suback", packetId: 1, reasonCodes: [256] },
    error: R,
  },
  {
    name: "SUBACK reason codes missing",
    version: 5,
    packet: { type: "suback", packetId: 1 },
    error: T,
  },

  // UNSUBSCRIBE, UNSUBACK
  {
    name: "UNSUBSCRIBE no filters",
    version: 4,
    packet: { type: "unsubscribe", packetId: 1, filters: [] },
    error: T,
  },
  {
    name: "UNSUBSCRIBE filter a+",
    version: 5,
    packet: { type: "unsubscribe", packetId: 1, filters: ["a+"] },
    error: T,
  },
  {
    name: "UNSUBSCRIBE filter number",
    version: 4,
    packet: { type: "unsubscribe", packetId: 1, filters: [1] },
    error: T,
  },
  {
    name: "UNSUBACK v4 reason codes",
    version: 4,
    packet: { type: "unsuback", packetId: 1, reasonCodes: [0] },
    error: T,
  },
  {
    name: "UNSUBACK v5 no reason codes",
    version: 5,
    packet: { type: "unsuback", packetId: 1, reasonCodes: [] },
    error: T,
  },
  {
    name: "UNSUBACK v5 code -1",
    version: 5,
    packet: { type: "unsuback", packetId: 1, reasonCodes: [-1] },
    error: R,
  },
  {
    name: "UNSUBACK packet id 65536",
    version: 4,
    packet: { type: "unsuback", packetId: 65536, reasonCodes: [] },
    error: R,
  },

  // MQTT 5 reason codes a packet may not carry (v5 §2.4)
  {
    name: "PUBREL v5 reason code 0x80",
    version: 5,
    packet: { type: "pubrel", packetId: 1, reasonCode: 0x80 },
    error: R,
  },
  {
    name: "PUBACK v5 reason code 0x92",
    version: 5,
    packet: { type: "puback", packetId: 1, reasonCode: 0x92 },
    error: R,
  },
  {
    name: "SUBACK v5 code 0x04",
    version: 5,
    packet: { type: "suback", packetId: 1, reasonCodes: [0, 0x04] },
    error: R,
  },
  {
    name: "UNSUBACK v5 code 0x01",
    version: 5,
    packet: { type: "unsuback", packetId: 1, reasonCodes: [0x01] },
    error: R,
  },
  {
    name: "CONNACK v5 code 0x01",
    version: 5,
    packet: { type: "connack", sessionPresent: false, reasonCode: 1 },
    error: R,
  },
  {
    name: "DISCONNECT v5 code 0x18",
    version: 5,
    packet: { type: "disconnect", reasonCode: 0x18 },
    error: R,
  },
  { name: "AUTH code 0x04", version: 5, packet: { type: "auth", reasonCode: 0x04 }, error: R },
  {
    name: "CONNACK v4 session present with return code 5",
    version: 4,
    packet: { type: "connack", sessionPresent: true, reasonCode: 5 },
    error: T,
  },
  {
    name: "CONNACK v5 session present with reason code 0x87",
    version: 5,
    packet: { type: "connack", sessionPresent: true, reasonCode: 0x87 },
    error: T,
  },
  {
    name: "SUBSCRIBE v5 noLocal on a shared subscription",
    version: 5,
    packet: { ...SUB, subscriptions: [{ filter: "$share/g/a", qos: 0, noLocal: true }] },
    error: T,
  },

  // DISCONNECT, AUTH
  {
    name: "DISCONNECT v4 reason code",
    version: 4,
    packet: { type: "disconnect", reasonCode: 0x04 },
    error: T,
  },
  {
    name: "DISCONNECT v5 reason code 256",
    version: 5,
    packet: { type: "disconnect", reasonCode: 256 },
    error: R,
  },
  { name: "AUTH v4", version: 4, packet: { type: "auth", reasonCode: 0 }, error: T },
  { name: "AUTH v3", version: 3, packet: { type: "auth" }, error: T },
];

describe("API misuse", () => {
  for (const m of MISUSE) {
    test(`encodePacket() throws ${m.error.name} for ${m.name}`, () => {
      const packet = m.packet as Packet;
      const isError = (e: unknown): boolean => {
        assert.equal((e as Error).constructor, m.error, String(e));
        return true;
      };
      assert.throws(() => encodePacket(packet, m.version), isError);
      assert.throws(() => packetSize(packet, m.version), isError);
      const buffer = new Uint8Array(64).fill(0xaa);
      assert.throws(() => writePacket(packet, m.version, buffer, 0), isError);
      assert.ok(buffer.every((b) => b === 0xaa), "nothing written");
    });
  }
});
