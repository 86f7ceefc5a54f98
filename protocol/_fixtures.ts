// This module is browser compatible.
/**
 * The canonical fixture table: packets paired with their exact bytes, for every packet type
 * and protocol version (AUTH on MQTT 5 only). The encoder must produce `hex` from `packet`, and
 * the decoder must produce `packet` (deep-equal) from `hex`.
 *
 * Each `hex` was laid out by hand from the specification, field by field (the spaces in the
 * source separate fields and are removed in {@linkcode FIXTURES}), and cross-checked by
 * decoding it with npm's `mqtt-packet` as an independent oracle.
 *
 * Packets are in the canonical form of `packet.ts`. In addition, a subscription of an MQTT 5
 * SUBSCRIBE always has `noLocal`, `retainAsPublished` and `retainHandling`, and one of
 * MQTT 3.x has neither of them (only `filter` and `qos`).
 *
 * @module
 */

import type { Packet, ProtocolVersion } from "./packet.ts";

/** One fixture: a packet and its canonical encoding for a protocol version. */
export interface PacketFixture {
  /** A unique, descriptive name, e.g. `"PUBLISH v5 empty topic with topic alias"`. */
  name: string;
  /** The protocol version the bytes are for. */
  version: ProtocolVersion;
  /** The packet, in canonical form. */
  packet: Packet;
  /** The exact bytes, as lowercase hexadecimal without separators. */
  hex: string;
}

/**
 * Parse hexadecimal into bytes; whitespace is ignored.
 *
 * @example Parse two bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { hexToBytes } from "./_fixtures.ts";
 * assert.deepEqual(hexToBytes("c0 00"), new Uint8Array([0xc0, 0x00]));
 * ```
 *
 * @param hex Pairs of hexadecimal digits, optionally separated by whitespace.
 * @returns The bytes.
 * @throws {SyntaxError} When `hex` has an odd number of digits or a non-hexadecimal character.
 */
export function hexToBytes(hex: string): Uint8Array {
  const digits = hex.replace(/\s+/g, "");
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) {
    throw new SyntaxError(`Cannot parse hex ${JSON.stringify(hex.slice(0, 64))}`);
  }
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  }
  return bytes;
}

/**
 * Format bytes as lowercase hexadecimal without separators.
 *
 * @example Format two bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesToHex } from "./_fixtures.ts";
 * assert.equal(bytesToHex(new Uint8Array([0xc0, 0x00])), "c000");
 * ```
 *
 * @param bytes The bytes.
 * @returns Two hexadecimal digits per byte.
 */
export function bytesToHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += (byte < 16 ? "0" : "") + byte.toString(16);
  return hex;
}

const encoder = new TextEncoder();

function text(s: string): Uint8Array {
  return encoder.encode(s);
}

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

const RAW: PacketFixture[] = [
  {
    name: "CONNECT v3 minimal (MQIsdp)",
    version: 3,
    packet: { type: "connect", protocolVersion: 3, clientId: "c1", clean: true, keepAlive: 60 },
    hex: "10 10 00064d5149736470 03 02 003c 00026331",
  },
  {
    name: "CONNECT v3 will, username and password",
    version: 3,
    packet: {
      type: "connect",
      protocolVersion: 3,
      clientId: "client-3.1",
      clean: false,
      keepAlive: 30,
      will: { topic: "lwt", payload: text("bye"), qos: 1, retain: false },
      username: "user",
      password: text("pass"),
    },
    hex:
      "10 2e 00064d5149736470 03 cc 001e 000a636c69656e742d332e31 00036c7774 0003627965 000475736572 000470617373",
  },
  {
    name: "CONNECT v4 zero-length client id",
    version: 4,
    packet: { type: "connect", protocolVersion: 4, clientId: "", clean: true, keepAlive: 0 },
    hex: "10 0c 00044d515454 04 02 0000 0000",
  },
  {
    name: "CONNECT v4 minimal",
    version: 4,
    packet: {
      type: "connect",
      protocolVersion: 4,
      clientId: "mq-client",
      clean: true,
      keepAlive: 60,
    },
    hex: "10 15 00044d515454 04 02 003c 00096d712d636c69656e74",
  },
  {
    name: "CONNECT v4 will QoS 2 retained, username, password, non-ASCII strings",
    version: 4,
    packet: {
      type: "connect",
      protocolVersion: 4,
      clientId: "café/📡",
      clean: false,
      keepAlive: 65535,
      will: { topic: "café/📡", payload: bytes(0x00, 0xff, 0x10), qos: 2, retain: true },
      username: "ünïcødé",
      password: bytes(0x00, 0x01, 0xfe, 0xff),
    },
    hex:
      "10 3a 00044d515454 04 f4 ffff 000a636166c3a92ff09f93a1 000a636166c3a92ff09f93a1 000300ff10 000bc3bc6ec3af63c3b864c3a9 00040001feff",
  },
  {
    name: "CONNECT v4 will QoS 0 with empty payload, username only",
    version: 4,
    packet: {
      type: "connect",
      protocolVersion: 4,
      clientId: "c",
      clean: true,
      keepAlive: 10,
      will: { topic: "w", payload: bytes(), qos: 0, retain: false },
      username: "u",
    },
    hex: "10 15 00044d515454 04 86 000a 000163 000177 0000 000175",
  },
  {
    name: "CONNECT v4 will QoS 1 retained",
    version: 4,
    packet: {
      type: "connect",
      protocolVersion: 4,
      clientId: "d",
      clean: true,
      keepAlive: 15,
      will: { topic: "a/b", payload: text("x"), qos: 1, retain: true },
    },
    hex: "10 15 00044d515454 04 2e 000f 000164 0003612f62 000178",
  },
  {
    name: "CONNECT v5 minimal",
    version: 5,
    packet: { type: "connect", protocolVersion: 5, clientId: "abc", clean: true, keepAlive: 60 },
    hex: "10 10 00044d515454 05 02 003c 00 0003616263",
  },
  {
    name: "CONNECT v5 every property, will with every property, username and password",
    version: 5,
    packet: {
      type: "connect",
      protocolVersion: 5,
      clientId: "café/📡",
      clean: false,
      keepAlive: 120,
      properties: {
        sessionExpiryInterval: 0xffffffff,
        authenticationMethod: "SCRAM-SHA-1",
        authenticationData: bytes(0x01, 0x02, 0x03),
        requestProblemInformation: false,
        requestResponseInformation: true,
        receiveMaximum: 20,
        topicAliasMaximum: 10,
        userProperties: [["k", "v"], ["k", "v2"], ["ключ", "значение"]],
        maximumPacketSize: 1048576,
      },
      will: {
        topic: "lwt/café",
        payload: text("gone"),
        qos: 1,
        retain: true,
        properties: {
          payloadFormatIndicator: 1,
          messageExpiryInterval: 3600,
          contentType: "text/plain",
          responseTopic: "resp/📡",
          correlationData: bytes(0xde, 0xad, 0xbe, 0xef),
          willDelayInterval: 30,
          userProperties: [["a", "1"], ["a", "2"]],
        },
      },
      username: "user",
      password: text("secret"),
    },
    hex:
      "10 c501 00044d515454 05 ec 0078 54 11ffffffff 15000b534352414d2d5348412d31 160003010203 1700 1901 210014 22000a 2600016b000176 2600016b00027632 260008d0bad0bbd18ed1870010d0b7d0bdd0b0d187d0b5d0bdd0b8d0b5 2700100000 000a636166c3a92ff09f93a1 3a 0101 0200000e10 03000a746578742f706c61696e 080009726573702ff09f93a1 090004deadbeef 180000001e 26000161000131 26000161000132 00096c77742f636166c3a9 0004676f6e65 000475736572 0006736563726574",
  },
  {
    name: "CONNECT v5 password without username",
    version: 5,
    packet: {
      type: "connect",
      protocolVersion: 5,
      clientId: "p",
      clean: true,
      keepAlive: 0,
      password: text("pw"),
    },
    hex: "10 12 00044d515454 05 42 0000 00 000170 00027077",
  },
  {
    name: "CONNECT v5 will without properties",
    version: 5,
    packet: {
      type: "connect",
      protocolVersion: 5,
      clientId: "w5",
      clean: true,
      keepAlive: 5,
      will: { topic: "t", payload: text("x"), qos: 0, retain: false },
    },
    hex: "10 16 00044d515454 05 06 0005 00 00027735 00 000174 000178",
  },
  {
    name: "CONNECT v5 zero-length client id with session expiry",
    version: 5,
    packet: {
      type: "connect",
      protocolVersion: 5,
      clientId: "",
      clean: true,
      keepAlive: 30,
      properties: { sessionExpiryInterval: 0 },
    },
    hex: "10 12 00044d515454 05 02 001e 05 1100000000 0000",
  },
  {
    name: "CONNACK v3 accepted",
    version: 3,
    packet: { type: "connack", sessionPresent: false, reasonCode: 0 },
    hex: "20 02 00 00",
  },
  {
    name: "CONNACK v3 identifier rejected",
    version: 3,
    packet: { type: "connack", sessionPresent: false, reasonCode: 2 },
    hex: "20 02 00 02",
  },
  {
    name: "CONNACK v4 accepted",
    version: 4,
    packet: { type: "connack", sessionPresent: false, reasonCode: 0 },
    hex: "20 02 00 00",
  },
  {
    name: "CONNACK v4 session present",
    version: 4,
    packet: { type: "connack", sessionPresent: true, reasonCode: 0 },
    hex: "20 02 01 00",
  },
  {
    name: "CONNACK v4 not authorized",
    version: 4,
    packet: { type: "connack", sessionPresent: false, reasonCode: 5 },
    hex: "20 02 00 05",
  },
  {
    name: "CONNACK v5 minimal",
    version: 5,
    packet: { type: "connack", sessionPresent: false, reasonCode: 0 },
    hex: "20 03 00 00 00",
  },
  {
    name: "CONNACK v5 session present",
    version: 5,
    packet: { type: "connack", sessionPresent: true, reasonCode: 0 },
    hex: "20 03 01 00 00",
  },
  {
    name: "CONNACK v5 every property",
    version: 5,
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: {
        sessionExpiryInterval: 86400,
        assignedClientIdentifier: "auto-1234",
        serverKeepAlive: 30,
        authenticationMethod: "SCRAM-SHA-1",
        authenticationData: bytes(0x04, 0x05),
        responseInformation: "resp/",
        serverReference: "other:1883",
        reasonString: "welcome",
        receiveMaximum: 65535,
        topicAliasMaximum: 100,
        maximumQoS: 1,
        retainAvailable: false,
        userProperties: [["x", "1"], ["x", "1"]],
        maximumPacketSize: 268435460,
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: false,
        sharedSubscriptionAvailable: true,
      },
    },
    hex:
      "20 6c 00 00 69 1100015180 1200096175746f2d31323334 13001e 15000b534352414d2d5348412d31 1600020405 1a0005726573702f 1c000a6f746865723a31383833 1f000777656c636f6d65 21ffff 220064 2401 2500 26000178000131 26000178000131 2710000004 2801 2900 2a01",
  },
  {
    name: "CONNACK v5 not authorized with reason string",
    version: 5,
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0x87,
      properties: { reasonString: "not authorized" },
    },
    hex: "20 14 00 87 11 1f000e6e6f7420617574686f72697a6564",
  },
  {
    name: "CONNACK v5 server moved with server reference",
    version: 5,
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0x9d,
      properties: { serverReference: "mq.example:1883" },
    },
    hex: "20 15 00 9d 12 1c000f6d712e6578616d706c653a31383833",
  },
  {
    name: "PUBLISH v3 QoS 0",
    version: 3,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 0,
      retain: false,
      dup: false,
    },
    hex: "30 07 0003612f62 6869",
  },
  {
    name: "PUBLISH v3 QoS 2 retained",
    version: 3,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 2,
      retain: true,
      dup: false,
      packetId: 7,
    },
    hex: "35 09 0003612f62 0007 6869",
  },
  {
    name: "PUBLISH v4 QoS 0",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 0,
      retain: false,
      dup: false,
    },
    hex: "30 07 0003612f62 6869",
  },
  {
    name: "PUBLISH v4 QoS 1",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
    },
    hex: "32 09 0003612f62 0001 6869",
  },
  {
    name: "PUBLISH v4 QoS 2 retained, packet id 65535",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 2,
      retain: true,
      dup: false,
      packetId: 65535,
    },
    hex: "35 09 0003612f62 ffff 6869",
  },
  {
    name: "PUBLISH v4 QoS 1 dup",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 1,
      retain: false,
      dup: true,
      packetId: 10,
    },
    hex: "3a 09 0003612f62 000a 6869",
  },
  {
    name: "PUBLISH v4 QoS 2 dup retained",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 2,
      retain: true,
      dup: true,
      packetId: 256,
    },
    hex: "3d 09 0003612f62 0100 6869",
  },
  {
    name: "PUBLISH v4 QoS 0 retained, empty payload",
    version: 4,
    packet: { type: "publish", topic: "a/b", payload: bytes(), qos: 0, retain: true, dup: false },
    hex: "31 05 0003612f62",
  },
  {
    name: "PUBLISH v4 QoS 1 empty payload",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: bytes(),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 2,
    },
    hex: "32 07 0003612f62 0002",
  },
  {
    name: "PUBLISH v4 non-ASCII topic and payload",
    version: 4,
    packet: {
      type: "publish",
      topic: "café/📡",
      payload: text("📡 ok"),
      qos: 0,
      retain: false,
      dup: false,
    },
    hex: "30 13 000a636166c3a92ff09f93a1 f09f93a1206f6b",
  },
  {
    name: "PUBLISH v4 binary payload",
    version: 4,
    packet: {
      type: "publish",
      topic: "/",
      payload: bytes(0x00, 0x01, 0x7f, 0x80, 0xff),
      qos: 0,
      retain: false,
      dup: false,
    },
    hex: "30 08 00012f 00017f80ff",
  },
  {
    name: "PUBLISH v4 remaining length 127 (1-byte varint)",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: filled(122, 0x61),
      qos: 0,
      retain: false,
      dup: false,
    },
    hex: "30 7f 0003612f62 " + "61".repeat(122),
  },
  {
    name: "PUBLISH v4 remaining length 128 (2-byte varint)",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: filled(123, 0x61),
      qos: 0,
      retain: false,
      dup: false,
    },
    hex: "30 8001 0003612f62 " + "61".repeat(123),
  },
  {
    name: "PUBLISH v4 remaining length 16383 (2-byte varint)",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: filled(16378, 0x61),
      qos: 0,
      retain: false,
      dup: false,
    },
    hex: "30 ff7f 0003612f62 " + "61".repeat(16378),
  },
  {
    name: "PUBLISH v4 remaining length 16384 (3-byte varint)",
    version: 4,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: filled(16379, 0x61),
      qos: 0,
      retain: false,
      dup: false,
    },
    hex: "30 808001 0003612f62 " + "61".repeat(16379),
  },
  {
    name: "PUBLISH v5 QoS 0 without properties",
    version: 5,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 0,
      retain: false,
      dup: false,
    },
    hex: "30 08 0003612f62 00 6869",
  },
  {
    name: "PUBLISH v5 QoS 1 without properties",
    version: 5,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
    },
    hex: "32 0a 0003612f62 0001 00 6869",
  },
  {
    name: "PUBLISH v5 QoS 2 dup retained, every property",
    version: 5,
    packet: {
      type: "publish",
      topic: "café/📡",
      payload: text('{"t":21.5}'),
      qos: 2,
      retain: true,
      dup: true,
      packetId: 0x1234,
      properties: {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 60,
        contentType: "application/json",
        responseTopic: "reply/café",
        correlationData: bytes(0x01, 0x02),
        subscriptionIdentifiers: [1, 127, 128, 16384, 268435455],
        topicAlias: 3,
        userProperties: [["k", "v"], ["k", "v"], ["k", "w"], ["ключ", "📡"]],
      },
    },
    hex:
      "3d 7f 000a636166c3a92ff09f93a1 1234 66 0101 020000003c 0300106170706c69636174696f6e2f6a736f6e 08000b7265706c792f636166c3a9 0900020102 0b01 0b7f 0b8001 0b808001 0bffffff7f 230003 2600016b000176 2600016b000176 2600016b000177 260008d0bad0bbd18ed1870004f09f93a1 7b2274223a32312e357d",
  },
  {
    name: "PUBLISH v5 empty topic with topic alias",
    version: 5,
    packet: {
      type: "publish",
      topic: "",
      payload: text("x"),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 1 },
    },
    hex: "30 07 0000 03 230001 78",
  },
  {
    name: "PUBLISH v5 topic with topic alias 65535",
    version: 5,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("x"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 3,
      properties: { topicAlias: 65535 },
    },
    hex: "32 0c 0003612f62 0003 03 23ffff 78",
  },
  {
    name: "PUBLISH v5 property length 128 (2-byte varint)",
    version: 5,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: bytes(),
      qos: 0,
      retain: false,
      dup: false,
      properties: {
        userProperties: [[
          "k",
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ]],
      },
    },
    hex:
      "30 8701 0003612f62 8001 2600016b007a7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878",
  },
  {
    name: "PUBLISH v5 payload format and message expiry",
    version: 5,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 0,
      retain: true,
      dup: false,
      properties: { payloadFormatIndicator: 0, messageExpiryInterval: 0 },
    },
    hex: "31 0f 0003612f62 07 0100 0200000000 6869",
  },
  {
    name: "PUBACK v3",
    version: 3,
    packet: { type: "puback", packetId: 1 },
    hex: "40 02 0001",
  },
  {
    name: "PUBACK v4",
    version: 4,
    packet: { type: "puback", packetId: 0xabcd },
    hex: "40 02 abcd",
  },
  {
    name: "PUBACK v5 success (reason code omitted)",
    version: 5,
    packet: { type: "puback", packetId: 5, reasonCode: 0 },
    hex: "40 02 0005",
  },
  {
    name: "PUBACK v5 reason code only",
    version: 5,
    packet: { type: "puback", packetId: 6, reasonCode: 0x10 },
    hex: "40 03 0006 10",
  },
  {
    name: "PUBACK v5 reason string",
    version: 5,
    packet: {
      type: "puback",
      packetId: 7,
      reasonCode: 0x80,
      properties: { reasonString: "nope" },
    },
    hex: "40 0b 0007 80 07 1f00046e6f7065",
  },
  {
    name: "PUBACK v5 success with user properties",
    version: 5,
    packet: {
      type: "puback",
      packetId: 65535,
      reasonCode: 0,
      properties: { reasonString: "ok", userProperties: [["a", "b"], ["a", "c"]] },
    },
    hex: "40 17 ffff 00 13 1f00026f6b 26000161000162 26000161000163",
  },
  {
    name: "PUBREC v3",
    version: 3,
    packet: { type: "pubrec", packetId: 1 },
    hex: "50 02 0001",
  },
  {
    name: "PUBREC v4",
    version: 4,
    packet: { type: "pubrec", packetId: 0xabcd },
    hex: "50 02 abcd",
  },
  {
    name: "PUBREC v5 success (reason code omitted)",
    version: 5,
    packet: { type: "pubrec", packetId: 5, reasonCode: 0 },
    hex: "50 02 0005",
  },
  {
    name: "PUBREC v5 reason code only",
    version: 5,
    packet: { type: "pubrec", packetId: 6, reasonCode: 0x10 },
    hex: "50 03 0006 10",
  },
  {
    name: "PUBREC v5 reason string",
    version: 5,
    packet: {
      type: "pubrec",
      packetId: 7,
      reasonCode: 0x97,
      properties: { reasonString: "nope" },
    },
    hex: "50 0b 0007 97 07 1f00046e6f7065",
  },
  {
    name: "PUBREC v5 success with user properties",
    version: 5,
    packet: {
      type: "pubrec",
      packetId: 65535,
      reasonCode: 0,
      properties: { reasonString: "ok", userProperties: [["a", "b"], ["a", "c"]] },
    },
    hex: "50 17 ffff 00 13 1f00026f6b 26000161000162 26000161000163",
  },
  {
    name: "PUBREL v3",
    version: 3,
    packet: { type: "pubrel", packetId: 1 },
    hex: "62 02 0001",
  },
  {
    name: "PUBREL v4",
    version: 4,
    packet: { type: "pubrel", packetId: 0xabcd },
    hex: "62 02 abcd",
  },
  {
    name: "PUBREL v5 success (reason code omitted)",
    version: 5,
    packet: { type: "pubrel", packetId: 5, reasonCode: 0 },
    hex: "62 02 0005",
  },
  {
    name: "PUBREL v5 reason code only",
    version: 5,
    packet: { type: "pubrel", packetId: 6, reasonCode: 0x92 },
    hex: "62 03 0006 92",
  },
  {
    name: "PUBREL v5 reason string",
    version: 5,
    packet: {
      type: "pubrel",
      packetId: 7,
      reasonCode: 0x92,
      properties: { reasonString: "nope" },
    },
    hex: "62 0b 0007 92 07 1f00046e6f7065",
  },
  {
    name: "PUBREL v5 success with user properties",
    version: 5,
    packet: {
      type: "pubrel",
      packetId: 65535,
      reasonCode: 0,
      properties: { reasonString: "ok", userProperties: [["a", "b"], ["a", "c"]] },
    },
    hex: "62 17 ffff 00 13 1f00026f6b 26000161000162 26000161000163",
  },
  {
    name: "PUBCOMP v3",
    version: 3,
    packet: { type: "pubcomp", packetId: 1 },
    hex: "70 02 0001",
  },
  {
    name: "PUBCOMP v4",
    version: 4,
    packet: { type: "pubcomp", packetId: 0xabcd },
    hex: "70 02 abcd",
  },
  {
    name: "PUBCOMP v5 success (reason code omitted)",
    version: 5,
    packet: { type: "pubcomp", packetId: 5, reasonCode: 0 },
    hex: "70 02 0005",
  },
  {
    name: "PUBCOMP v5 reason code only",
    version: 5,
    packet: { type: "pubcomp", packetId: 6, reasonCode: 0x92 },
    hex: "70 03 0006 92",
  },
  {
    name: "PUBCOMP v5 reason string",
    version: 5,
    packet: {
      type: "pubcomp",
      packetId: 7,
      reasonCode: 0x92,
      properties: { reasonString: "nope" },
    },
    hex: "70 0b 0007 92 07 1f00046e6f7065",
  },
  {
    name: "PUBCOMP v5 success with user properties",
    version: 5,
    packet: {
      type: "pubcomp",
      packetId: 65535,
      reasonCode: 0,
      properties: { reasonString: "ok", userProperties: [["a", "b"], ["a", "c"]] },
    },
    hex: "70 17 ffff 00 13 1f00026f6b 26000161000162 26000161000163",
  },
  {
    name: "SUBSCRIBE v3 one filter",
    version: 3,
    packet: { type: "subscribe", packetId: 1, subscriptions: [{ filter: "a/b", qos: 0 }] },
    hex: "82 08 0001 0003612f62 00",
  },
  {
    name: "SUBSCRIBE v4 one filter",
    version: 4,
    packet: { type: "subscribe", packetId: 1, subscriptions: [{ filter: "a/b", qos: 1 }] },
    hex: "82 08 0001 0003612f62 01",
  },
  {
    name: "SUBSCRIBE v4 many filters",
    version: 4,
    packet: {
      type: "subscribe",
      packetId: 2,
      subscriptions: [
        { filter: "a/b", qos: 0 },
        { filter: "sensors/+/temp", qos: 1 },
        { filter: "#", qos: 2 },
        { filter: "café/📡/#", qos: 1 },
        { filter: "+", qos: 0 },
        { filter: "$share/group/a/#", qos: 2 },
      ],
    },
    hex:
      "82 43 0002 0003612f62 00 000e73656e736f72732f2b2f74656d70 01 000123 02 000c636166c3a92ff09f93a12f23 01 00012b 00 00102473686172652f67726f75702f612f23 02",
  },
  {
    name: "SUBSCRIBE v5 minimal",
    version: 5,
    packet: {
      type: "subscribe",
      packetId: 3,
      subscriptions: [
        { filter: "a/b", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
    hex: "82 09 0003 00 0003612f62 01",
  },
  {
    name: "SUBSCRIBE v5 option combinations",
    version: 5,
    packet: {
      type: "subscribe",
      packetId: 4,
      subscriptions: [
        { filter: "a", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { filter: "b", qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 },
        { filter: "c", qos: 2, noLocal: false, retainAsPublished: true, retainHandling: 0 },
        { filter: "d", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 1 },
        { filter: "e", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { filter: "f/#", qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 1 },
        {
          filter: "$share/g/h/+",
          qos: 1,
          noLocal: false,
          retainAsPublished: true,
          retainHandling: 2,
        },
        { filter: "i", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 2 },
      ],
    },
    hex:
      "82 30 0004 00 000161 00 000162 05 000163 0a 000164 10 000165 2d 0003662f23 1e 000c2473686172652f672f682f2b 29 000169 20",
  },
  {
    name: "SUBSCRIBE v5 subscription identifier and user properties",
    version: 5,
    packet: {
      type: "subscribe",
      packetId: 5,
      subscriptions: [
        { filter: "x/+", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
      properties: { subscriptionIdentifier: 268435455, userProperties: [["u", "1"], ["u", "2"]] },
    },
    hex: "82 1c 0005 13 0bffffff7f 26000175000131 26000175000132 0003782f2b 02",
  },
  {
    name: "SUBSCRIBE v5 subscription identifier 1",
    version: 5,
    packet: {
      type: "subscribe",
      packetId: 6,
      subscriptions: [
        { filter: "café/📡", qos: 0, noLocal: true, retainAsPublished: false, retainHandling: 0 },
      ],
      properties: { subscriptionIdentifier: 1 },
    },
    hex: "82 12 0006 02 0b01 000a636166c3a92ff09f93a1 04",
  },
  {
    name: "SUBACK v3",
    version: 3,
    packet: { type: "suback", packetId: 1, reasonCodes: [0, 1, 2] },
    hex: "90 05 0001 000102",
  },
  {
    name: "SUBACK v4 with failure",
    version: 4,
    packet: { type: "suback", packetId: 7, reasonCodes: [0, 1, 2, 0x80] },
    hex: "90 06 0007 00010280",
  },
  {
    name: "SUBACK v4 single failure",
    version: 4,
    packet: { type: "suback", packetId: 8, reasonCodes: [0x80] },
    hex: "90 03 0008 80",
  },
  {
    name: "SUBACK v5 minimal",
    version: 5,
    packet: { type: "suback", packetId: 1, reasonCodes: [1] },
    hex: "90 04 0001 00 01",
  },
  {
    name: "SUBACK v5 every reason code, reason string and user properties",
    version: 5,
    packet: {
      type: "suback",
      packetId: 9,
      reasonCodes: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
      properties: { reasonString: "partial", userProperties: [["a", "b"], ["a", "c"]] },
    },
    hex:
      "90 27 0009 18 1f00077061727469616c 26000161000162 26000161000163 000102808387 8f91979ea1a2",
  },
  {
    name: "UNSUBSCRIBE v3",
    version: 3,
    packet: { type: "unsubscribe", packetId: 1, filters: ["a/b"] },
    hex: "a2 07 0001 0003612f62",
  },
  {
    name: "UNSUBSCRIBE v4 many filters",
    version: 4,
    packet: {
      type: "unsubscribe",
      packetId: 300,
      filters: ["a/b", "sensors/+/temp", "#", "café/📡"],
    },
    hex: "a2 26 012c 0003612f62 000e73656e736f72732f2b2f74656d70 000123 000a636166c3a92ff09f93a1",
  },
  {
    name: "UNSUBSCRIBE v5 minimal",
    version: 5,
    packet: { type: "unsubscribe", packetId: 1, filters: ["a/b"] },
    hex: "a2 08 0001 00 0003612f62",
  },
  {
    name: "UNSUBSCRIBE v5 user properties and shared filter",
    version: 5,
    packet: {
      type: "unsubscribe",
      packetId: 2,
      filters: ["$share/g/a/#", "b"],
      properties: { userProperties: [["k", "v"], ["k", "v"]] },
    },
    hex: "a2 22 0002 0e 2600016b000176 2600016b000176 000c2473686172652f672f612f23 000162",
  },
  {
    name: "UNSUBACK v3",
    version: 3,
    packet: { type: "unsuback", packetId: 1, reasonCodes: [] },
    hex: "b0 02 0001",
  },
  {
    name: "UNSUBACK v4",
    version: 4,
    packet: { type: "unsuback", packetId: 65535, reasonCodes: [] },
    hex: "b0 02 ffff",
  },
  {
    name: "UNSUBACK v5 minimal",
    version: 5,
    packet: { type: "unsuback", packetId: 1, reasonCodes: [0] },
    hex: "b0 04 0001 00 00",
  },
  {
    name: "UNSUBACK v5 every reason code and reason string",
    version: 5,
    packet: {
      type: "unsuback",
      packetId: 2,
      reasonCodes: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
      properties: { reasonString: "done", userProperties: [["z", ""]] },
    },
    hex: "b0 17 0002 0d 1f0004646f6e65 2600017a0000 0011808387 8f91",
  },
  {
    name: "PINGREQ v3",
    version: 3,
    packet: { type: "pingreq" },
    hex: "c0 00",
  },
  {
    name: "PINGRESP v3",
    version: 3,
    packet: { type: "pingresp" },
    hex: "d0 00",
  },
  {
    name: "PINGREQ v4",
    version: 4,
    packet: { type: "pingreq" },
    hex: "c0 00",
  },
  {
    name: "PINGRESP v4",
    version: 4,
    packet: { type: "pingresp" },
    hex: "d0 00",
  },
  {
    name: "PINGREQ v5",
    version: 5,
    packet: { type: "pingreq" },
    hex: "c0 00",
  },
  {
    name: "PINGRESP v5",
    version: 5,
    packet: { type: "pingresp" },
    hex: "d0 00",
  },
  {
    name: "DISCONNECT v3",
    version: 3,
    packet: { type: "disconnect" },
    hex: "e0 00",
  },
  {
    name: "DISCONNECT v4",
    version: 4,
    packet: { type: "disconnect" },
    hex: "e0 00",
  },
  {
    name: "DISCONNECT v5 normal (reason code omitted)",
    version: 5,
    packet: { type: "disconnect", reasonCode: 0 },
    hex: "e0 00",
  },
  {
    name: "DISCONNECT v5 with will message (reason code only)",
    version: 5,
    packet: { type: "disconnect", reasonCode: 0x04 },
    hex: "e0 01 04",
  },
  {
    name: "DISCONNECT v5 session taken over (reason code only)",
    version: 5,
    packet: { type: "disconnect", reasonCode: 0x8e },
    hex: "e0 01 8e",
  },
  {
    name: "DISCONNECT v5 normal with session expiry",
    version: 5,
    packet: { type: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 0 } },
    hex: "e0 07 00 05 1100000000",
  },
  {
    name: "DISCONNECT v5 every property",
    version: 5,
    packet: {
      type: "disconnect",
      reasonCode: 0x9c,
      properties: {
        sessionExpiryInterval: 10,
        serverReference: "b.example:1883",
        reasonString: "use another server",
        userProperties: [["why", "maintenance"], ["why", "again"]],
      },
    },
    hex:
      "e0 4d 9c 4b 110000000a 1c000e622e6578616d706c653a31383833 1f001275736520616e6f7468657220736572766572 260003776879000b6d61696e74656e616e6365 2600037768790005616761696e",
  },
  {
    name: "AUTH v5 success (reason code omitted)",
    version: 5,
    packet: { type: "auth", reasonCode: 0 },
    hex: "f0 00",
  },
  {
    name: "AUTH v5 continue (reason code only)",
    version: 5,
    packet: { type: "auth", reasonCode: 0x18 },
    hex: "f0 01 18",
  },
  {
    name: "AUTH v5 continue authentication",
    version: 5,
    packet: {
      type: "auth",
      reasonCode: 0x18,
      properties: { authenticationMethod: "SCRAM-SHA-1", authenticationData: text("r=abc") },
    },
    hex: "f0 18 18 16 15000b534352414d2d5348412d31 160005723d616263",
  },
  {
    name: "AUTH v5 re-authenticate, every property",
    version: 5,
    packet: {
      type: "auth",
      reasonCode: 0x19,
      properties: {
        authenticationMethod: "SCRAM-SHA-1",
        authenticationData: bytes(),
        reasonString: "again",
        userProperties: [["a", "1"], ["a", "1"]],
      },
    },
    hex:
      "f0 29 19 27 15000b534352414d2d5348412d31 160000 1f0005616761696e 26000161000131 26000161000131",
  },
  {
    name: "AUTH v5 success with properties",
    version: 5,
    packet: { type: "auth", reasonCode: 0, properties: { authenticationMethod: "PLAIN" } },
    hex: "f0 0a 00 08 150005504c41494e",
  },
];

/**
 * Every fixture, with `hex` normalised to lowercase digits without separators. Names are
 * unique; treat the packets as read-only (they are shared between tests).
 *
 * @example Find a fixture
 * ```ts
 * import assert from "node:assert/strict";
 * import { FIXTURES } from "./_fixtures.ts";
 * const ping = FIXTURES.find((f) => f.name === "PINGREQ v4");
 * assert.equal(ping?.hex, "c000");
 * ```
 */
export const FIXTURES: PacketFixture[] = RAW.map((f) => ({
  ...f,
  hex: f.hex.replace(/\s+/g, ""),
}));
