// This module is browser compatible.
/**
 * Encoding MQTT control packets (v5 §2 and §3, v3.1.1 §2 and §3, MQTT 3.1).
 *
 * Every function validates the whole packet before a byte is written, so API misuse throws a
 * `TypeError` (wrong shape, a rule of the protocol broken) or a `RangeError` (a number out of
 * range, a string or packet too long) and leaves the destination untouched. The output is
 * the shortest canonical form: properties in {@linkcode PROPERTIES} table order, MQTT 5
 * acknowledgements without the reason code and Property Length when they are 0 and empty.
 *
 * Properties and reason codes other than 0 need MQTT 5: giving them for an older version
 * throws a `TypeError` rather than silently dropping them (an empty `properties` object is
 * fine).
 *
 * @module
 */

import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  ProtocolVersion,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from "./packet.ts";
import type { Properties, PropertyContext } from "./properties.ts";
import {
  isEmptyProperties,
  measureProperties,
  writeBinary,
  writeProperties,
  writeString,
  writeUint16,
} from "./_properties_codec.ts";
import { validateTopicFilter, validateTopicName } from "./topic.ts";
import { utf8Length, validateMqttStringValue } from "./utf8.ts";
import { MAX_VARINT, varintSize, writeVarint } from "./varint.ts";
import { isValidReasonCode, type ReasonCodePacket } from "./reason_code.ts";
import { allocate } from "./_pool.ts";

type AckPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket;
type Measure = (packet: Packet, version: ProtocolVersion) => number;
type Write = (
  packet: Packet,
  version: ProtocolVersion,
  buffer: Uint8Array,
  offset: number,
  remaining: number,
) => number;

// Results of the last measure(), read by the write step that always follows it at once.
// Encoding is synchronous, so nothing can run in between.
let propsLength = 0;
let willPropsLength = 0;

// A one-entry cache of the last valid PUBLISH topic and its UTF-8 length: fan-out and
// repeated publishes encode the same topic many times. Strings are immutable, so this is safe.
// From the second PUBLISH in a row to the topic, its encoded bytes are kept too, and copied
// with set(), which is several times cheaper than encoding the string again. They are a
// private copy, never handed out.
let lastTopic = "";
let lastTopicLength = 0;
let lastTopicBytes: Uint8Array | undefined;
// Set by measurePublish() when the topic was the cached one, for the write that follows.
let topicRepeated = false;

const MAX_BINARY = 65_535;
// Topics longer than this are not kept as bytes: memory for little gain.
const MAX_KEPT_TOPIC = 1_024;

/**
 * The exact number of bytes a packet encodes to, computed without encoding it.
 *
 * @example Size of a PUBLISH
 * ```ts
 * import assert from "node:assert/strict";
 * import { packetSize } from "./encode.ts";
 * const packet = {
 *   type: "publish",
 *   topic: "a/b",
 *   payload: new Uint8Array(2),
 *   qos: 0,
 *   retain: false,
 *   dup: false,
 * } as const;
 * assert.equal(packetSize(packet, 4), 9);
 * ```
 *
 * @param packet The packet.
 * @param version The protocol version to encode for.
 * @returns The size in bytes, fixed header included.
 * @throws {TypeError} When the packet is malformed or breaks a rule of the protocol.
 * @throws {RangeError} When a value is out of range or the packet is too large.
 */
export function packetSize(packet: Packet, version: ProtocolVersion): number {
  const remaining = measure(packet, version, measureServerOnly);
  return 1 + varintSize(remaining) + remaining;
}

/**
 * Encode a packet into a buffer at an offset. The packet is validated first: on error
 * nothing is written.
 *
 * @example Write a PINGREQ after two bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { writePacket } from "./encode.ts";
 * const buffer = new Uint8Array(4);
 * assert.equal(writePacket({ type: "pingreq" }, 4, buffer, 2), 4);
 * assert.deepEqual(buffer, new Uint8Array([0, 0, 0xc0, 0x00]));
 * ```
 *
 * @param packet The packet.
 * @param version The protocol version to encode for.
 * @param buffer The destination.
 * @param offset Where the packet starts.
 * @returns The offset just past the packet.
 * @throws {TypeError} When the packet is malformed or breaks a rule of the protocol.
 * @throws {RangeError} When a value is out of range, the packet is too large, or it does not
 * fit in `buffer` from `offset`.
 */
export function writePacket(
  packet: Packet,
  version: ProtocolVersion,
  buffer: Uint8Array,
  offset: number,
): number {
  if (!(buffer instanceof Uint8Array)) {
    throw new TypeError("Cannot write packet: the buffer must be a Uint8Array");
  }
  const remaining = measure(packet, version, measureServerOnly);
  const total = 1 + varintSize(remaining) + remaining;
  if (!(Number.isInteger(offset) && offset >= 0 && offset + total <= buffer.length)) {
    throw new RangeError(
      `Cannot write ${packet.type.toUpperCase()}: ${total} bytes do not fit in a buffer of ${buffer.length} bytes from offset ${offset}`,
    );
  }
  return write(packet, version, buffer, offset, remaining, writeServerOnly);
}

/**
 * Encode a packet into a new `Uint8Array` of exactly its size (one allocation).
 *
 * @example Encode a PUBACK for MQTT 3.1.1 and MQTT 5
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePacket } from "./encode.ts";
 * const puback = { type: "puback", packetId: 10 } as const;
 * assert.deepEqual(encodePacket(puback, 4), new Uint8Array([0x40, 0x02, 0x00, 0x0a]));
 * assert.deepEqual(
 *   encodePacket({ ...puback, reasonCode: 0x10 }, 5),
 *   new Uint8Array([0x40, 0x03, 0x00, 0x0a, 0x10]),
 * );
 * ```
 *
 * @param packet The packet.
 * @param version The protocol version to encode for.
 * @returns The encoded bytes.
 * @throws {TypeError} When the packet is malformed or breaks a rule of the protocol.
 * @throws {RangeError} When a value is out of range or the packet is too large.
 */
export function encodePacket(packet: Packet, version: ProtocolVersion): Uint8Array {
  const remaining = measure(packet, version, measureServerOnly);
  const buffer = allocate(1 + varintSize(remaining) + remaining);
  write(packet, version, buffer, 0, remaining, writeServerOnly);
  return buffer;
}

/**
 * Where {@linkcode encodePacketTo} writes: a buffer that makes room on demand, such as a
 * socket's write queue.
 */
export interface EncodeTarget {
  /**
   * Make room for `size` bytes and return the offset in {@linkcode EncodeTarget.buffer}
   * where they go.
   */
  reserve(size: number): number;
  /** The buffer, read after `reserve()`. */
  readonly buffer: Uint8Array;
}

/**
 * Encode a packet straight into a target's buffer (no buffer of its own): the target
 * reserves exactly its size. The packet is validated first: on error nothing is reserved.
 *
 * @example Encode two packets back to back into a growing buffer
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePacketTo, type EncodeTarget } from "./encode.ts";
 * let buffer = new Uint8Array(0);
 * const target: EncodeTarget = {
 *   get buffer() {
 *     return buffer;
 *   },
 *   reserve(size) {
 *     const at = buffer.length;
 *     const next = new Uint8Array(at + size);
 *     next.set(buffer);
 *     buffer = next;
 *     return at;
 *   },
 * };
 * assert.equal(encodePacketTo({ type: "pingresp" }, 4, target), 2);
 * assert.equal(encodePacketTo({ type: "puback", packetId: 10 }, 4, target), 4);
 * assert.deepEqual(buffer, new Uint8Array([0xd0, 0x00, 0x40, 0x02, 0x00, 0x0a]));
 * ```
 *
 * @param packet The packet.
 * @param version The protocol version to encode for.
 * @param target Where to write.
 * @returns The size written, in bytes.
 * @throws {TypeError} When the packet is malformed or breaks a rule of the protocol.
 * @throws {RangeError} When a value is out of range or the packet is too large.
 */
export function encodePacketTo(
  packet: Packet,
  version: ProtocolVersion,
  target: EncodeTarget,
): number {
  const remaining = measure(packet, version, measureServerOnly);
  const total = 1 + varintSize(remaining) + remaining;
  const offset = target.reserve(total);
  write(packet, version, target.buffer, offset, remaining, writeServerOnly);
  return total;
}

/**
 * As {@linkcode packetSize}, for the packets a client sends: CONNECT, PUBLISH, PUBACK,
 * PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT and AUTH. A client
 * bundle that uses only the client functions leaves out the code of the other packets.
 *
 * @example Size of a SUBSCRIBE
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientPacketSize } from "./encode.ts";
 * import type { SubscribePacket } from "./packet.ts";
 * const packet: SubscribePacket = {
 *   type: "subscribe",
 *   packetId: 1,
 *   subscriptions: [{ filter: "a/#", qos: 1 }],
 * };
 * assert.equal(clientPacketSize(packet, 4), 10);
 * ```
 *
 * @param packet The packet.
 * @param version The protocol version to encode for.
 * @returns The size in bytes, fixed header included.
 * @throws {TypeError} When the packet is one only a server sends (CONNACK, SUBACK, UNSUBACK,
 * PINGRESP), is malformed or breaks a rule of the protocol.
 * @throws {RangeError} When a value is out of range or the packet is too large.
 */
export function clientPacketSize(packet: Packet, version: ProtocolVersion): number {
  const remaining = measure(packet, version, refuseServerOnly);
  return 1 + varintSize(remaining) + remaining;
}

/**
 * As {@linkcode writePacket}, for the packets a client sends (see
 * {@linkcode clientPacketSize}).
 *
 * @example Write a PINGREQ, and refuse a PINGRESP
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeClientPacket } from "./encode.ts";
 * const buffer = new Uint8Array(2);
 * assert.equal(writeClientPacket({ type: "pingreq" }, 4, buffer, 0), 2);
 * assert.deepEqual(buffer, new Uint8Array([0xc0, 0x00]));
 * assert.throws(() => writeClientPacket({ type: "pingresp" }, 4, buffer, 0), TypeError);
 * ```
 *
 * @param packet The packet.
 * @param version The protocol version to encode for.
 * @param buffer The destination.
 * @param offset Where the packet starts.
 * @returns The offset just past the packet.
 * @throws {TypeError} When the packet is one only a server sends, is malformed or breaks a
 * rule of the protocol.
 * @throws {RangeError} When a value is out of range, the packet is too large, or it does not
 * fit in `buffer` from `offset`.
 */
export function writeClientPacket(
  packet: Packet,
  version: ProtocolVersion,
  buffer: Uint8Array,
  offset: number,
): number {
  checkBuffer(buffer);
  const remaining = measure(packet, version, refuseServerOnly);
  checkFits(packet, remaining, buffer, offset);
  return write(packet, version, buffer, offset, remaining, refuseServerOnly);
}

/**
 * As {@linkcode encodePacket}, for the packets a client sends (see
 * {@linkcode clientPacketSize}): the same bytes, one allocation.
 *
 * @example Encode a PUBLISH, and refuse a CONNACK
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeClientPacket, encodePacket } from "./encode.ts";
 * const publish = {
 *   type: "publish",
 *   topic: "t",
 *   payload: new Uint8Array([1]),
 *   qos: 0,
 *   retain: false,
 *   dup: false,
 * } as const;
 * assert.deepEqual(encodeClientPacket(publish, 5), encodePacket(publish, 5));
 * const connack = { type: "connack", sessionPresent: false, reasonCode: 0 } as const;
 * assert.throws(() => encodeClientPacket(connack, 5), TypeError);
 * ```
 *
 * @param packet The packet.
 * @param version The protocol version to encode for.
 * @returns The encoded bytes.
 * @throws {TypeError} When the packet is one only a server sends, is malformed or breaks a
 * rule of the protocol.
 * @throws {RangeError} When a value is out of range or the packet is too large.
 */
export function encodeClientPacket(packet: Packet, version: ProtocolVersion): Uint8Array {
  const remaining = measure(packet, version, refuseServerOnly);
  const buffer = allocate(1 + varintSize(remaining) + remaining);
  write(packet, version, buffer, 0, remaining, refuseServerOnly);
  return buffer;
}

function checkBuffer(buffer: Uint8Array): void {
  if (!(buffer instanceof Uint8Array)) {
    throw new TypeError("Cannot write packet: the buffer must be a Uint8Array");
  }
}

function checkFits(packet: Packet, remaining: number, buffer: Uint8Array, offset: number): void {
  const total = 1 + varintSize(remaining) + remaining;
  if (!(Number.isInteger(offset) && offset >= 0 && offset + total <= buffer.length)) {
    throw new RangeError(
      `Cannot write ${packet.type.toUpperCase()}: ${total} bytes do not fit in a buffer of ${buffer.length} bytes from offset ${offset}`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Measuring and validation

/**
 * Validate a packet and return its Remaining Length; sets propsLength and willPropsLength.
 * The packets a client sends are measured here; `other` measures (or refuses) the rest.
 */
function measure(packet: Packet, version: ProtocolVersion, other: Measure): number {
  if (version !== 3 && version !== 4 && version !== 5) {
    throw new RangeError(
      `Cannot encode packet: protocol version ${String(version)} is not 3, 4 or 5`,
    );
  }
  if (typeof packet !== "object" || packet === null) {
    throw new TypeError("Cannot encode packet: the packet must be an object");
  }
  propsLength = 0;
  willPropsLength = 0;
  let remaining: number;
  switch (packet.type) {
    case "publish":
      remaining = measurePublish(packet, version);
      break;
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      remaining = measureAck(packet, version);
      break;
    case "connect":
      remaining = measureConnect(packet, version);
      break;
    case "subscribe":
      remaining = measureSubscribe(packet, version);
      break;
    case "unsubscribe":
      remaining = measureUnsubscribe(packet, version);
      break;
    case "pingreq":
      remaining = 0;
      break;
    case "disconnect":
    case "auth":
      remaining = measureDisconnectOrAuth(packet, version);
      break;
    default:
      remaining = other(packet, version);
  }
  // 2.1.4: the Remaining Length is a Variable Byte Integer
  if (remaining > MAX_VARINT) {
    throw new RangeError(
      `Cannot encode ${packet.type.toUpperCase()}: remaining length ${remaining} exceeds ${MAX_VARINT}`,
    );
  }
  return remaining;
}

/** measure() of the packets only a server sends. */
function measureServerOnly(packet: Packet, version: ProtocolVersion): number {
  switch (packet.type) {
    case "connack":
      return measureConnack(packet, version);
    case "suback":
      return measureSuback(packet, version);
    case "unsuback":
      return measureUnsuback(packet, version);
    case "pingresp":
      return 0;
  }
  throw unknownType(packet);
}

/** In place of measure() and write() of the packets only a server sends, for a client. */
function refuseServerOnly(packet: Packet): never {
  const type = String((packet as { type: unknown }).type).toUpperCase();
  throw new TypeError(`Cannot encode ${type}: a client never sends it`);
}

function unknownType(packet: Packet): TypeError {
  return new TypeError(
    `Cannot encode packet: unknown type ${
      JSON.stringify((packet as { type: unknown }).type) ?? "undefined"
    }`,
  );
}

function measurePublish(p: PublishPacket, version: ProtocolVersion): number {
  const qos = p.qos;
  checkQos(qos, "PUBLISH");
  checkBoolean(p.retain, "PUBLISH", "retain");
  checkBoolean(p.dup, "PUBLISH", "dup");
  let remaining = 2;
  if (qos === 0) {
    // 3.3.1.1: DUP must be 0 for QoS 0 [MQTT-3.3.1-2]
    if (p.dup) throw new TypeError('Cannot encode PUBLISH: "dup" needs QoS 1 or 2 [MQTT-3.3.1-2]');
    // 2.2.1: a QoS 0 PUBLISH has no Packet Identifier [MQTT-2.2.1-2]
    if (p.packetId !== undefined) {
      throw new TypeError('Cannot encode PUBLISH: QoS 0 must not have a "packetId" [MQTT-2.2.1-2]');
    }
  } else {
    checkPacketId(p.packetId, "PUBLISH");
    remaining += 2;
  }
  const props = p.properties;
  if (version === 5) {
    propsLength = measureProperties(props, "publish", "PUBLISH");
    remaining += varintSize(propsLength) + propsLength;
  } else {
    checkNoProperties(props, "PUBLISH");
  }
  const topic = p.topic;
  topicRepeated = false;
  if (topic === lastTopic && topic !== "") {
    remaining += lastTopicLength;
    topicRepeated = true;
  } else if (topic === "" && version === 5 && props?.topicAlias !== undefined) {
    // 3.3.2.3.4: a zero-length Topic Name stands for the topic alias
  } else {
    validateTopicName(topic);
    const length = utf8Length(topic);
    lastTopic = topic;
    lastTopicLength = length;
    lastTopicBytes = undefined;
    remaining += length;
  }
  const payload = p.payload;
  if (!(payload instanceof Uint8Array)) {
    throw new TypeError("Cannot encode PUBLISH: the payload must be a Uint8Array");
  }
  return remaining + payload.length;
}

function measureAck(p: AckPacket, version: ProtocolVersion): number {
  const what = p.type.toUpperCase();
  checkPacketId(p.packetId, what);
  const reasonCode = checkReasonCode(p.reasonCode, version, p.type);
  if (version !== 5) {
    checkNoProperties(p.properties, what);
    return 2;
  }
  propsLength = measureProperties(p.properties, p.type, what);
  // 3.4.2.1: the Reason Code and Property Length can be omitted when 0 and empty
  if (propsLength === 0) return reasonCode === 0 ? 2 : 3;
  return 3 + varintSize(propsLength) + propsLength;
}

function measureDisconnectOrAuth(
  p: DisconnectPacket | AuthPacket,
  version: ProtocolVersion,
): number {
  const what = p.type.toUpperCase();
  if (p.type === "auth" && version !== 5) {
    throw new TypeError(`Cannot encode AUTH: it needs MQTT 5, not protocol version ${version}`);
  }
  const reasonCode = checkReasonCode(p.reasonCode, version, p.type);
  if (version !== 5) {
    checkNoProperties(p.properties, what);
    return 0;
  }
  propsLength = measureProperties(p.properties, p.type, what);
  // 3.14.2.1, 3.15.2.1: a Remaining Length of 0 means reason 0x00 and no properties
  if (propsLength === 0) return reasonCode === 0 ? 0 : 1;
  return 1 + varintSize(propsLength) + propsLength;
}

function measureConnect(p: ConnectPacket, version: ProtocolVersion): number {
  if (p.protocolVersion !== version) {
    throw new TypeError(
      `Cannot encode CONNECT: its protocol version ${
        String(p.protocolVersion)
      } differs from the encoding version ${version}`,
    );
  }
  checkBoolean(p.clean, "CONNECT", "clean");
  checkUint16(p.keepAlive, "CONNECT", "keepAlive");
  // Protocol Name ("MQIsdp" for 3.1, "MQTT" after), level, flags and keep alive
  let remaining = (version === 3 ? 8 : 6) + 4;
  remaining += 2 + checkString(p.clientId, "CONNECT", "clientId");
  if (version === 5) {
    propsLength = measureProperties(p.properties, "connect", "CONNECT");
    remaining += varintSize(propsLength) + propsLength;
  } else {
    checkNoProperties(p.properties, "CONNECT");
  }
  const will = p.will;
  if (will !== undefined) {
    if (typeof will !== "object" || will === null) {
      throw new TypeError("Cannot encode CONNECT: the will must be an object");
    }
    checkQos(will.qos, "CONNECT will");
    checkBoolean(will.retain, "CONNECT", "will.retain");
    validateTopicName(will.topic);
    remaining += 2 + utf8Length(will.topic);
    remaining += 2 + checkBinary(will.payload, "CONNECT", "will.payload");
    if (version === 5) {
      willPropsLength = measureProperties(will.properties, "will", "CONNECT");
      remaining += varintSize(willPropsLength) + willPropsLength;
    } else {
      checkNoProperties(will.properties, "CONNECT will");
    }
  }
  if (p.username !== undefined) {
    remaining += 2 + checkString(p.username, "CONNECT", "username");
  }
  if (p.password !== undefined) {
    // 3.1.2.9: before MQTT 5 a password needs a user name [MQTT-3.1.2-22]
    if (version !== 5 && p.username === undefined) {
      throw new TypeError(
        `Cannot encode CONNECT: a password needs a username before MQTT 5 [MQTT-3.1.2-22]`,
      );
    }
    remaining += 2 + checkBinary(p.password, "CONNECT", "password");
  }
  return remaining;
}

function measureConnack(p: ConnackPacket, version: ProtocolVersion): number {
  checkBoolean(p.sessionPresent, "CONNACK", "sessionPresent");
  // MQTT 3.1 has no Session Present flag: the first byte is reserved
  if (version === 3 && p.sessionPresent) {
    throw new TypeError('Cannot encode CONNACK: "sessionPresent" needs MQTT 3.1.1 or 5');
  }
  const code = p.reasonCode;
  if (version === 5) {
    checkV5ReasonCode(code, "connack");
  } else {
    // v3.1.1 §3.2.2.3: return codes 0 to 5; the rest are reserved
    checkInteger(code, 0, 5, "CONNACK", "reasonCode");
  }
  if (p.sessionPresent && code !== 0) {
    // 3.2.2.1.1: a refusal has Session Present 0 [MQTT-3.2.2-6] (v3.1.1 [MQTT-3.2.2-4])
    throw new TypeError(
      `Cannot encode CONNACK: "sessionPresent" must be false with reason code ${code} [MQTT-3.2.2-6]`,
    );
  }
  if (version !== 5) {
    checkNoProperties(p.properties, "CONNACK");
    return 2;
  }
  propsLength = measureProperties(p.properties, "connack", "CONNACK");
  return 2 + varintSize(propsLength) + propsLength;
}

function measureSubscribe(p: SubscribePacket, version: ProtocolVersion): number {
  checkPacketId(p.packetId, "SUBSCRIBE");
  const subscriptions = p.subscriptions;
  // 3.8.3: at least one Topic Filter and options pair [MQTT-3.8.3-2]
  checkNonEmptyArray(subscriptions, "SUBSCRIBE", "subscriptions", "MQTT-3.8.3-2");
  let remaining = 2;
  if (version === 5) {
    propsLength = measureProperties(p.properties, "subscribe", "SUBSCRIBE");
    remaining += varintSize(propsLength) + propsLength;
  } else {
    checkNoProperties(p.properties, "SUBSCRIBE");
  }
  for (const s of subscriptions) {
    if (typeof s !== "object" || s === null) {
      throw new TypeError("Cannot encode SUBSCRIBE: each subscription must be an object");
    }
    validateTopicFilter(s.filter);
    checkQos(s.qos, "SUBSCRIBE");
    const { noLocal, retainAsPublished, retainHandling } = s;
    if (noLocal !== undefined) checkBoolean(noLocal, "SUBSCRIBE", "noLocal");
    if (retainAsPublished !== undefined) {
      checkBoolean(retainAsPublished, "SUBSCRIBE", "retainAsPublished");
    }
    if (retainHandling !== undefined) {
      checkInteger(retainHandling, 0, 2, "SUBSCRIBE", "retainHandling");
    }
    if (version !== 5 && (noLocal || retainAsPublished || retainHandling)) {
      throw new TypeError(
        'Cannot encode SUBSCRIBE: "noLocal", "retainAsPublished" and "retainHandling" need MQTT 5',
      );
    }
    if (noLocal && s.filter.startsWith("$share/")) {
      // 3.8.3.1: No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]
      throw new TypeError(
        `Cannot encode SUBSCRIBE: "noLocal" is set on shared subscription ${
          JSON.stringify(s.filter)
        } [MQTT-3.8.3-4]`,
      );
    }
    remaining += 3 + utf8Length(s.filter);
  }
  return remaining;
}

function measureSuback(p: SubackPacket, version: ProtocolVersion): number {
  checkPacketId(p.packetId, "SUBACK");
  const codes = p.reasonCodes;
  checkNonEmptyArray(codes, "SUBACK", "reasonCodes", "MQTT-3.9.3-1");
  let remaining = 2 + codes.length;
  if (version === 5) {
    for (const code of codes) checkV5ReasonCode(code, "suback");
    propsLength = measureProperties(p.properties, "suback", "SUBACK");
    remaining += varintSize(propsLength) + propsLength;
  } else {
    // v3.1.1 §3.9.3: 0x00, 0x01, 0x02 or 0x80 (failure) [MQTT-3.9.3-2]
    for (const code of codes) {
      if (code !== 0 && code !== 1 && code !== 2 && code !== 0x80) {
        if (typeof code !== "number") checkByte(code, "SUBACK", "reasonCodes");
        throw new RangeError(
          `Cannot encode SUBACK: return code ${code} is not 0, 1, 2 or 128 [MQTT-3.9.3-2]`,
        );
      }
    }
    checkNoProperties(p.properties, "SUBACK");
  }
  return remaining;
}

function measureUnsubscribe(p: UnsubscribePacket, version: ProtocolVersion): number {
  checkPacketId(p.packetId, "UNSUBSCRIBE");
  const filters = p.filters;
  // 3.10.3: at least one Topic Filter [MQTT-3.10.3-2]
  checkNonEmptyArray(filters, "UNSUBSCRIBE", "filters", "MQTT-3.10.3-2");
  let remaining = 2;
  if (version === 5) {
    propsLength = measureProperties(p.properties, "unsubscribe", "UNSUBSCRIBE");
    remaining += varintSize(propsLength) + propsLength;
  } else {
    checkNoProperties(p.properties, "UNSUBSCRIBE");
  }
  for (const filter of filters) {
    validateTopicFilter(filter);
    remaining += 2 + utf8Length(filter);
  }
  return remaining;
}

function measureUnsuback(p: UnsubackPacket, version: ProtocolVersion): number {
  checkPacketId(p.packetId, "UNSUBACK");
  const codes = p.reasonCodes;
  if (version !== 5) {
    // v3.1.1 §3.11.3: no payload
    if (codes !== undefined && (!Array.isArray(codes) || codes.length !== 0)) {
      throw new TypeError('Cannot encode UNSUBACK: "reasonCodes" need MQTT 5');
    }
    checkNoProperties(p.properties, "UNSUBACK");
    return 2;
  }
  // 3.11.3: one Reason Code per Topic Filter, and UNSUBSCRIBE has at least one
  checkNonEmptyArray(codes, "UNSUBACK", "reasonCodes", "MQTT-3.11.3-1");
  for (const code of codes) checkV5ReasonCode(code, "unsuback");
  propsLength = measureProperties(p.properties, "unsuback", "UNSUBACK");
  return 2 + varintSize(propsLength) + propsLength + codes.length;
}

// ---------------------------------------------------------------------------------------
// Field checks

function checkQos(qos: unknown, what: string): void {
  if (qos !== 0 && qos !== 1 && qos !== 2) {
    if (typeof qos !== "number") {
      throw new TypeError(`Cannot encode ${what}: QoS must be a number, got ${typeof qos}`);
    }
    throw new RangeError(`Cannot encode ${what}: QoS ${qos} is not 0, 1 or 2`);
  }
}

function checkBoolean(value: unknown, what: string, field: string): void {
  if (typeof value !== "boolean") {
    throw new TypeError(`Cannot encode ${what}: "${field}" must be a boolean, got ${typeof value}`);
  }
}

function checkInteger(value: unknown, min: number, max: number, what: string, field: string): void {
  if (typeof value !== "number") {
    throw new TypeError(`Cannot encode ${what}: "${field}" must be a number, got ${typeof value}`);
  }
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw new RangeError(
      `Cannot encode ${what}: "${field}" must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
}

function checkUint16(value: unknown, what: string, field: string): void {
  checkInteger(value, 0, 0xffff, what, field);
}

function checkByte(value: unknown, what: string, field: string): void {
  checkInteger(value, 0, 0xff, what, field);
}

function checkPacketId(id: unknown, what: string): void {
  if (id === undefined) {
    throw new TypeError(`Cannot encode ${what}: a "packetId" is required`);
  }
  // 2.2.1: Packet Identifiers are non-zero [MQTT-2.2.1-3]
  checkInteger(id, 1, 0xffff, what, "packetId");
}

/** The reason code to use (0 when absent); non-zero needs MQTT 5. */
function checkReasonCode(code: unknown, version: ProtocolVersion, type: ReasonCodePacket): number {
  if (code === undefined) return 0;
  if (version !== 5) {
    if (code === 0) return 0;
    checkByte(code, type.toUpperCase(), "reasonCode");
    throw new TypeError(`Cannot encode ${type.toUpperCase()}: reason code ${code} needs MQTT 5`);
  }
  checkV5ReasonCode(code, type);
  return code as number;
}

/** An MQTT 5 reason code that the packet may carry (v5 §2.4, Table 2-6). */
function checkV5ReasonCode(code: unknown, type: ReasonCodePacket): void {
  const what = type.toUpperCase();
  checkByte(code, what, "reasonCode");
  if (!isValidReasonCode(type, code as number)) {
    throw new RangeError(
      `Cannot encode ${what}: reason code 0x${
        (code as number).toString(16).padStart(2, "0")
      } is not valid in ${what}`,
    );
  }
}

function checkNoProperties(props: Properties | undefined, what: string): void {
  if (!isEmptyProperties(props)) {
    throw new TypeError(`Cannot encode ${what}: properties need MQTT 5`);
  }
}

function checkString(value: unknown, what: string, field: string): number {
  if (typeof value !== "string") {
    throw new TypeError(`Cannot encode ${what}: "${field}" must be a string, got ${typeof value}`);
  }
  return validateMqttStringValue(value);
}

function checkBinary(value: unknown, what: string, field: string): number {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`Cannot encode ${what}: "${field}" must be a Uint8Array`);
  }
  if (value.length > MAX_BINARY) {
    throw new RangeError(
      `Cannot encode ${what}: "${field}" has ${value.length} bytes, more than ${MAX_BINARY}`,
    );
  }
  return value.length;
}

function checkNonEmptyArray(value: unknown, what: string, field: string, spec: string): void {
  if (!Array.isArray(value)) {
    throw new TypeError(`Cannot encode ${what}: "${field}" must be an array`);
  }
  if (value.length === 0) {
    throw new TypeError(`Cannot encode ${what}: "${field}" must not be empty [${spec}]`);
  }
}

// ---------------------------------------------------------------------------------------
// Writing (after measure(), which validated everything and set the property lengths)

/** Write a packet a client sends; `other` writes (or refuses) the rest. */
function write(
  packet: Packet,
  version: ProtocolVersion,
  buffer: Uint8Array,
  offset: number,
  remaining: number,
  other: Write,
): number {
  switch (packet.type) {
    case "publish": {
      const qos = packet.qos;
      buffer[offset] = 0x30 | (packet.dup ? 0x08 : 0) | (qos << 1) | (packet.retain ? 1 : 0);
      let p = writeVarint(buffer, offset + 1, remaining);
      if (!topicRepeated) {
        p = writeString(buffer, p, packet.topic);
      } else if (lastTopicBytes !== undefined) {
        p = writeUint16(buffer, p, lastTopicLength);
        buffer.set(lastTopicBytes, p);
        p += lastTopicLength;
      } else {
        const start = p + 2;
        p = writeString(buffer, p, packet.topic);
        if (lastTopicLength <= MAX_KEPT_TOPIC) lastTopicBytes = buffer.slice(start, p);
      }
      if (qos !== 0) p = writeUint16(buffer, p, packet.packetId!);
      if (version === 5) p = writePropertyBlock(buffer, p, packet.properties, "publish");
      buffer.set(packet.payload, p);
      return p + packet.payload.length;
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp": {
      // 3.6.1: PUBREL's fixed header flags are 0b0010 [MQTT-3.6.1-1]
      buffer[offset] = packet.type === "puback"
        ? 0x40
        : packet.type === "pubrec"
        ? 0x50
        : packet.type === "pubrel"
        ? 0x62
        : 0x70;
      let p = writeVarint(buffer, offset + 1, remaining);
      p = writeUint16(buffer, p, packet.packetId);
      if (remaining > 2) buffer[p++] = packet.reasonCode ?? 0;
      if (remaining > 3) p = writePropertyBlock(buffer, p, packet.properties, packet.type);
      return p;
    }
    case "connect":
      return writeConnect(packet, version, buffer, offset, remaining);
    case "subscribe": {
      // 3.8.1: SUBSCRIBE's fixed header flags are 0b0010 [MQTT-3.8.1-1]
      buffer[offset] = 0x82;
      let p = writeVarint(buffer, offset + 1, remaining);
      p = writeUint16(buffer, p, packet.packetId);
      if (version === 5) p = writePropertyBlock(buffer, p, packet.properties, "subscribe");
      for (const s of packet.subscriptions) {
        p = writeString(buffer, p, s.filter);
        buffer[p++] = s.qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) |
          ((s.retainHandling ?? 0) << 4);
      }
      return p;
    }
    case "unsubscribe": {
      // 3.10.1: UNSUBSCRIBE's fixed header flags are 0b0010 [MQTT-3.10.1-1]
      buffer[offset] = 0xa2;
      let p = writeVarint(buffer, offset + 1, remaining);
      p = writeUint16(buffer, p, packet.packetId);
      if (version === 5) p = writePropertyBlock(buffer, p, packet.properties, "unsubscribe");
      for (const filter of packet.filters) p = writeString(buffer, p, filter);
      return p;
    }
    case "pingreq":
      buffer[offset] = 0xc0;
      buffer[offset + 1] = 0;
      return offset + 2;
    case "disconnect":
    case "auth": {
      buffer[offset] = packet.type === "disconnect" ? 0xe0 : 0xf0;
      let p = writeVarint(buffer, offset + 1, remaining);
      if (remaining > 0) buffer[p++] = packet.reasonCode ?? 0;
      if (remaining > 1) p = writePropertyBlock(buffer, p, packet.properties, packet.type);
      return p;
    }
    default:
      return other(packet, version, buffer, offset, remaining);
  }
}

/** write() of the packets only a server sends. */
function writeServerOnly(
  packet: Packet,
  version: ProtocolVersion,
  buffer: Uint8Array,
  offset: number,
  remaining: number,
): number {
  switch (packet.type) {
    case "connack": {
      buffer[offset] = 0x20;
      let p = writeVarint(buffer, offset + 1, remaining);
      buffer[p++] = packet.sessionPresent ? 1 : 0;
      buffer[p++] = packet.reasonCode;
      if (version === 5) p = writePropertyBlock(buffer, p, packet.properties, "connack");
      return p;
    }
    case "suback":
    case "unsuback": {
      buffer[offset] = packet.type === "suback" ? 0x90 : 0xb0;
      let p = writeVarint(buffer, offset + 1, remaining);
      p = writeUint16(buffer, p, packet.packetId);
      if (version === 5) {
        p = writePropertyBlock(buffer, p, packet.properties, packet.type);
        for (const code of packet.reasonCodes) buffer[p++] = code;
      } else if (packet.type === "suback") {
        for (const code of packet.reasonCodes) buffer[p++] = code;
      }
      return p;
    }
    case "pingresp":
      buffer[offset] = 0xd0;
      buffer[offset + 1] = 0;
      return offset + 2;
  }
  // measure() refused every other type
  throw unknownType(packet);
}

function writeConnect(
  packet: ConnectPacket,
  version: ProtocolVersion,
  buffer: Uint8Array,
  offset: number,
  remaining: number,
): number {
  buffer[offset] = 0x10;
  let p = writeVarint(buffer, offset + 1, remaining);
  // 3.1.2.1: Protocol Name; MQTT 3.1 used "MQIsdp"
  p = writeString(buffer, p, version === 3 ? "MQIsdp" : "MQTT");
  buffer[p++] = version;
  const will = packet.will;
  let flags = packet.clean ? 0x02 : 0;
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (packet.password !== undefined) flags |= 0x40;
  if (packet.username !== undefined) flags |= 0x80;
  buffer[p++] = flags;
  p = writeUint16(buffer, p, packet.keepAlive);
  if (version === 5) p = writePropertyBlock(buffer, p, packet.properties, "connect");
  p = writeString(buffer, p, packet.clientId);
  if (will !== undefined) {
    if (version === 5) {
      p = writeVarint(buffer, p, willPropsLength);
      if (willPropsLength > 0) p = writeProperties(buffer, p, will.properties!, "will");
    }
    p = writeString(buffer, p, will.topic);
    p = writeBinary(buffer, p, will.payload);
  }
  if (packet.username !== undefined) p = writeString(buffer, p, packet.username);
  if (packet.password !== undefined) p = writeBinary(buffer, p, packet.password);
  return p;
}

/** Write the Property Length measured last, then the properties. */
function writePropertyBlock(
  buffer: Uint8Array,
  offset: number,
  props: Properties | undefined,
  context: PropertyContext,
): number {
  const p = writeVarint(buffer, offset, propsLength);
  return propsLength === 0 ? p : writeProperties(buffer, p, props!, context);
}
