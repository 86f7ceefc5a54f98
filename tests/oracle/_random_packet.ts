/**
 * Seeded random MQTT packets for the mqtt-packet oracle test, in the canonical form of
 * `protocol/packet.ts`, valid for our encoder and decoder and restricted to what npm's
 * `mqtt-packet` can carry (each restriction is explained where it is applied).
 *
 * The properties each packet may carry are written out here from the specification
 * (v5 §2.2.2.2, Table 2-4) rather than taken from `protocol/properties.ts`, so the oracle does
 * not share the table it checks.
 *
 * @module
 */

import type { Packet, QoS, Subscription, Will } from "../../protocol/packet.ts";
import type { Properties, UserProperty } from "../../protocol/properties.ts";

/**
 * A small seeded pseudo-random generator (sfc32): the same seed gives the same sequence on
 * every runtime, so a failing seed replays exactly.
 *
 * @example Two generators with one seed agree
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "./_random_packet.ts";
 * assert.equal(new Rng(7).int(0, 1000), new Rng(7).int(0, 1000));
 * ```
 */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * Create a generator.
   *
   * @param seed Any 32-bit integer.
   */
  constructor(seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  /**
   * The next unsigned 32-bit integer.
   *
   * @returns An integer in [0, 2^32).
   */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /**
   * The next number in [0, 1).
   *
   * @returns The number.
   */
  next(): number {
    return this.u32() / 4_294_967_296;
  }

  /**
   * An integer in [min, max].
   *
   * @param min The smallest value.
   * @param max The largest value.
   * @returns The integer.
   */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /**
   * True with probability `p`.
   *
   * @param p The probability; 0.5 unless given.
   * @returns The outcome.
   */
  chance(p = 0.5): boolean {
    return this.next() < p;
  }

  /**
   * One element of a non-empty array.
   *
   * @param items The array.
   * @returns The element.
   */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /**
   * Random bytes.
   *
   * @param length How many.
   * @returns The bytes.
   */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) {
      const x = this.u32();
      out[i] = x;
      out[i + 1] = x >>> 8;
      out[i + 2] = x >>> 16;
      out[i + 3] = x >>> 24;
    }
    for (; i < length; i++) out[i] = this.u32();
    return out;
  }
}

/** Which side of mqtt-packet will handle the packet, see {@linkcode randomPacket}. */
export type OracleSide = "parser" | "generator";

/** The protocol levels the oracle covers: 4 (MQTT 3.1.1) and 5 (MQTT 5.0). */
export type OracleVersion = 4 | 5;

// Characters of strings: ASCII, 2-, 3- and 4-byte UTF-8 (the last a surrogate pair in JS),
// U+FEFF (which a BOM-stripping decoder would lose), a tab and DEL.
const CHARS = [
  "a",
  "b",
  "c",
  "x",
  "Z",
  "0",
  "7",
  " ",
  "-",
  "_",
  ".",
  "$",
  "é",
  "ß",
  "中",
  "文",
  "😀",
  "🚀",
  "\uFEFF",
  "\t",
  "\u007f",
];
const STRING_CHARS = [...CHARS, "/", "+", "#"];
// A Topic Name level may hold anything but "/", "+" and "#" (v5 §4.7).
const LEVEL_CHARS = CHARS;

const U16_EDGES = [0, 1, 2, 127, 128, 255, 256, 16_383, 16_384, 65_534, 65_535];
const U32_EDGES = [
  ...U16_EDGES,
  65_536,
  2_097_151,
  2_097_152,
  268_435_455,
  268_435_456,
  2_147_483_647,
  2_147_483_648,
  4_294_967_294,
  4_294_967_295,
];
const VARINT_EDGES = [1, 2, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455];

function u16(rng: Rng, min = 0): number {
  return rng.chance() ? Math.max(min, rng.pick(U16_EDGES)) : rng.int(min, 65_535);
}

function u32(rng: Rng, min = 0): number {
  return rng.chance() ? Math.max(min, rng.pick(U32_EDGES)) : rng.int(min, 4_294_967_295);
}

function varintValue(rng: Rng): number {
  return rng.chance() ? rng.pick(VARINT_EDGES) : rng.int(1, 268_435_455);
}

function packetId(rng: Rng): number {
  return u16(rng, 1);
}

function stringOf(rng: Rng, chars: readonly string[], min: number, max: number): string {
  const length = rng.int(min, max);
  let s = "";
  for (let i = 0; i < length; i++) s += rng.pick(chars);
  return s;
}

function text(rng: Rng, min = 0): string {
  // Mostly short, sometimes a few hundred characters (a two-byte length above 255)
  return rng.chance(0.05)
    ? stringOf(rng, STRING_CHARS, 100, 400)
    : stringOf(rng, STRING_CHARS, min, 12);
}

function topicName(rng: Rng): string {
  const levels = rng.int(1, 5);
  const parts: string[] = [];
  for (let i = 0; i < levels; i++) parts.push(stringOf(rng, LEVEL_CHARS, 0, 6));
  const name = parts.join("/");
  // 4.7.3: at least one character [MQTT-4.7.3-1]
  return name === "" ? "t" : name;
}

function topicFilter(rng: Rng, allowShared: boolean): string {
  const levels = rng.int(1, 5);
  const parts: string[] = [];
  for (let i = 0; i < levels; i++) {
    const r = rng.next();
    if (r < 0.15) parts.push("+");
    else if (r < 0.2 && i === levels - 1) parts.push("#");
    else parts.push(stringOf(rng, LEVEL_CHARS, 0, 6));
  }
  let filter = parts.join("/");
  if (filter === "") filter = "f";
  if (allowShared && rng.chance(0.1)) {
    // 4.8.2: $share/{ShareName}/{filter}, a non-empty ShareName without "/", "+" or "#"
    filter = `$share/${stringOf(rng, LEVEL_CHARS, 1, 5)}/${filter}`;
  }
  return filter;
}

function payload(rng: Rng, utf8: boolean): Uint8Array {
  if (utf8) return new TextEncoder().encode(text(rng));
  const r = rng.next();
  let length: number;
  if (r < 0.55) length = rng.int(0, 64);
  else if (r < 0.8) length = rng.int(65, 400);
  // Across the 1- to 2-byte and 2- to 3-byte Remaining Length boundaries
  else if (r < 0.9) length = rng.int(100, 160);
  else if (r < 0.997) length = rng.int(16_340, 16_420);
  // Across the 3- to 4-byte boundary (2 MiB), rarely: these are slow to build and parse
  else length = rng.int(2_097_100, 2_097_200);
  return rng.bytes(length);
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return rng.pick(items);
}

// v5 §2.4 Table 2-6, written out again for the oracle.
const CONNACK_V5 = [
  0x00,
  0x80,
  0x81,
  0x82,
  0x83,
  0x84,
  0x85,
  0x86,
  0x87,
  0x88,
  0x89,
  0x8a,
  0x8c,
  0x90,
  0x95,
  0x97,
  0x99,
  0x9a,
  0x9b,
  0x9c,
  0x9d,
  0x9f,
];
const PUBACK_V5 = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_V5 = [0x00, 0x92];
const SUBACK_V4 = [0x00, 0x01, 0x02, 0x80];
const SUBACK_V5 = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2];
const UNSUBACK_V5 = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91];
const DISCONNECT_V5 = [
  0x00,
  0x04,
  0x80,
  0x81,
  0x82,
  0x83,
  0x87,
  0x89,
  0x8b,
  0x8d,
  0x8e,
  0x8f,
  0x90,
  0x93,
  0x94,
  0x95,
  0x96,
  0x97,
  0x98,
  0x99,
  0x9a,
  0x9b,
  0x9c,
  0x9d,
  0x9e,
  0x9f,
  0xa0,
  0xa1,
  0xa2,
];
const AUTH_V5 = [0x00, 0x18, 0x19];

type Context =
  | "connect"
  | "will"
  | "connack"
  | "publish"
  | "ack"
  | "subscribe"
  | "unsubscribe"
  | "disconnect"
  | "auth";

type PropertyName = keyof Properties;

// v5 §2.2.2.2 Table 2-4: the properties each packet (or the will) may carry.
const ALLOWED: Record<Context, readonly PropertyName[]> = {
  connect: [
    "sessionExpiryInterval",
    "authenticationMethod",
    "authenticationData",
    "requestProblemInformation",
    "requestResponseInformation",
    "receiveMaximum",
    "topicAliasMaximum",
    "userProperties",
    "maximumPacketSize",
  ],
  will: [
    "payloadFormatIndicator",
    "messageExpiryInterval",
    "contentType",
    "responseTopic",
    "correlationData",
    "willDelayInterval",
    "userProperties",
  ],
  connack: [
    "sessionExpiryInterval",
    "assignedClientIdentifier",
    "serverKeepAlive",
    "authenticationMethod",
    "authenticationData",
    "responseInformation",
    "serverReference",
    "reasonString",
    "receiveMaximum",
    "topicAliasMaximum",
    "maximumQoS",
    "retainAvailable",
    "userProperties",
    "maximumPacketSize",
    "wildcardSubscriptionAvailable",
    "subscriptionIdentifiersAvailable",
    "sharedSubscriptionAvailable",
  ],
  publish: [
    "payloadFormatIndicator",
    "messageExpiryInterval",
    "contentType",
    "responseTopic",
    "correlationData",
    "subscriptionIdentifiers",
    "topicAlias",
    "userProperties",
  ],
  ack: ["reasonString", "userProperties"],
  subscribe: ["subscriptionIdentifier", "userProperties"],
  unsubscribe: ["userProperties"],
  disconnect: ["sessionExpiryInterval", "serverReference", "reasonString", "userProperties"],
  auth: ["authenticationMethod", "authenticationData", "reasonString", "userProperties"],
};

function userProperties(rng: Rng, side: OracleSide): UserProperty[] {
  // A small pool of names so that names repeat, interleaved with others. mqtt-packet keeps
  // user properties as an object of name to value or array of values, so:
  // - a name never looks like an array index ("0", "42"): JavaScript objects list such keys
  //   first, in numeric order, so mqtt-packet would reorder them;
  // - the interleaving of repeated names is lost (values are grouped by name, in order of
  //   first appearance), so the test compares both sides after the same grouping.
  const names = ["k", "key", "é-中", "", "a b", "😀", `n${stringOf(rng, CHARS, 0, 3)}`];
  const count = rng.chance(0.1) ? rng.int(5, 12) : rng.int(1, 4);
  const list: UserProperty[] = [];
  for (let i = 0; i < count; i++) {
    list.push([rng.pick(names), rng.chance(0.15) ? "" : text(rng)]);
  }
  if (side === "parser") {
    // mqtt-packet's parser tests the value already stored for a name for truthiness
    // (`if (result[name][key])`), so a repeated name whose first value is "" loses that value.
    // Give repeated names non-empty values when mqtt-packet parses them.
    const seen = new Map<string, number>();
    for (const [name] of list) seen.set(name, (seen.get(name) ?? 0) + 1);
    for (const pair of list) {
      if (seen.get(pair[0])! > 1 && pair[1] === "") pair[1] = "v";
    }
  }
  return list;
}

function properties(rng: Rng, context: Context, side: OracleSide): Properties | undefined {
  if (rng.chance(0.3)) return undefined;
  const props: Properties = {};
  for (const name of ALLOWED[context]) {
    if (!rng.chance(0.35)) continue;
    switch (name) {
      case "payloadFormatIndicator":
        props.payloadFormatIndicator = rng.chance() ? 1 : 0;
        break;
      case "maximumQoS":
        props.maximumQoS = rng.chance() ? 1 : 0;
        break;
      case "messageExpiryInterval":
      case "sessionExpiryInterval":
      case "willDelayInterval":
        props[name] = u32(rng);
        break;
      case "maximumPacketSize":
        // 3.1.2.11.4, 3.2.2.3.6: 0 is a Protocol Error
        props.maximumPacketSize = u32(rng, 1);
        break;
      case "serverKeepAlive":
      case "topicAliasMaximum":
        props[name] = u16(rng);
        break;
      case "receiveMaximum":
      case "topicAlias":
        // 3.1.2.11.3, 3.3.2.3.4 [MQTT-3.3.2-8]: 0 is a Protocol Error
        props[name] = u16(rng, 1);
        break;
      case "subscriptionIdentifier":
        props.subscriptionIdentifier = varintValue(rng);
        break;
      case "subscriptionIdentifiers": {
        const ids: number[] = [];
        const n = rng.chance(0.7) ? 1 : rng.int(2, 5);
        for (let i = 0; i < n; i++) ids.push(varintValue(rng));
        props.subscriptionIdentifiers = ids;
        break;
      }
      case "contentType":
      case "reasonString":
      case "serverReference":
      case "responseInformation":
      case "assignedClientIdentifier":
      case "authenticationMethod":
        props[name] = text(rng);
        break;
      case "responseTopic":
        // 3.3.2.3.5: a Topic Name [MQTT-3.3.2-13] [MQTT-3.3.2-14]
        props.responseTopic = topicName(rng);
        break;
      case "correlationData":
      case "authenticationData":
        props[name] = rng.bytes(rng.int(0, 40));
        break;
      case "requestProblemInformation":
      case "requestResponseInformation":
      case "retainAvailable":
      case "wildcardSubscriptionAvailable":
      case "subscriptionIdentifiersAvailable":
      case "sharedSubscriptionAvailable":
        props[name] = rng.chance();
        break;
      case "userProperties":
        props.userProperties = userProperties(rng, side);
        break;
    }
  }
  // 3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3: authentication data needs a method
  if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
    props.authenticationMethod = text(rng);
  }
  return Object.keys(props).length === 0 ? undefined : props;
}

function withProperties<T extends Packet>(packet: T, props: Properties | undefined): T {
  if (props !== undefined) (packet as { properties?: Properties }).properties = props;
  return packet;
}

/** Packet types of the oracle, each with its weight in the mix. */
const TYPES: readonly [Packet["type"], number][] = [
  ["connect", 10],
  ["connack", 6],
  ["publish", 30],
  ["puback", 5],
  ["pubrec", 5],
  ["pubrel", 5],
  ["pubcomp", 5],
  ["subscribe", 8],
  ["suback", 6],
  ["unsubscribe", 6],
  ["unsuback", 6],
  ["pingreq", 2],
  ["pingresp", 2],
  ["disconnect", 6],
  ["auth", 6],
];
const TOTAL_WEIGHT = TYPES.reduce((sum, [, w]) => sum + w, 0);

function randomType(rng: Rng, version: OracleVersion): Packet["type"] {
  for (;;) {
    let r = rng.next() * TOTAL_WEIGHT;
    for (const [type, weight] of TYPES) {
      r -= weight;
      if (r < 0) {
        // AUTH exists only in MQTT 5
        if (type === "auth" && version !== 5) break;
        return type;
      }
    }
  }
}

function randomConnect(rng: Rng, version: OracleVersion, side: OracleSide): Packet {
  const v5 = version === 5;
  let clientId = rng.chance(0.15) ? "" : text(rng, 1);
  let clean = rng.chance();
  if (side === "generator" && clientId === "" && !clean) {
    // mqtt-packet's generate() refuses an empty client identifier without clean session
    // ("clientId must be given if cleanSession set to 0"), which MQTT 5 allows (§3.1.3.1) and
    // MQTT 3.1.1 leaves to the server to refuse with a CONNACK [MQTT-3.1.3-8].
    if (rng.chance()) clean = true;
    else clientId = "c";
  }
  const packet: Packet = {
    type: "connect",
    protocolVersion: version,
    clientId,
    clean,
    keepAlive: u16(rng),
  };
  if (rng.chance(0.4)) {
    const props = v5 ? properties(rng, "will", side) : undefined;
    const will: Will = {
      topic: topicName(rng),
      // A Binary Data field, at most 65,535 bytes; kept short
      payload: props?.payloadFormatIndicator === 1
        ? new TextEncoder().encode(text(rng))
        : rng.bytes(rng.int(0, 300)),
      qos: rng.int(0, 2) as QoS,
      retain: rng.chance(),
    };
    if (props !== undefined) will.properties = props;
    packet.will = will;
  }
  if (rng.chance(0.5)) packet.username = text(rng);
  // 3.1.2.9: before MQTT 5 a password needs a user name [MQTT-3.1.2-22]. MQTT 5 lifts that,
  // but mqtt-packet's generate() still refuses it ("Username is required to use password").
  const passwordAllowed = packet.username !== undefined || (v5 && side === "parser");
  if (passwordAllowed && rng.chance(0.6)) packet.password = rng.bytes(rng.int(0, 30));
  return withProperties(packet, v5 ? properties(rng, "connect", side) : undefined);
}

function randomPublish(rng: Rng, version: OracleVersion, side: OracleSide): Packet {
  const v5 = version === 5;
  const qos = rng.int(0, 2) as QoS;
  const props = v5 ? properties(rng, "publish", side) : undefined;
  // 3.3.2.3.4: a zero-length Topic Name stands for the Topic Alias
  const topic = props?.topicAlias !== undefined && rng.chance(0.3) ? "" : topicName(rng);
  const packet: Packet = {
    type: "publish",
    topic,
    payload: payload(rng, props?.payloadFormatIndicator === 1),
    qos,
    retain: rng.chance(),
    // 3.3.1.1: DUP is 0 for QoS 0 [MQTT-3.3.1-2]
    dup: qos !== 0 && rng.chance(0.3),
  };
  if (qos !== 0) packet.packetId = packetId(rng);
  return withProperties(packet, props);
}

function randomSubscribe(rng: Rng, version: OracleVersion, side: OracleSide): Packet {
  const v5 = version === 5;
  const subscriptions: Subscription[] = [];
  const n = rng.chance(0.8) ? rng.int(1, 3) : rng.int(4, 12);
  for (let i = 0; i < n; i++) {
    const filter = topicFilter(rng, true);
    const qos = rng.int(0, 2) as QoS;
    if (v5) {
      subscriptions.push({
        filter,
        qos,
        // 3.8.3.1: No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]
        noLocal: !filter.startsWith("$share/") && rng.chance(),
        retainAsPublished: rng.chance(),
        retainHandling: rng.int(0, 2) as 0 | 1 | 2,
      });
    } else {
      subscriptions.push({ filter, qos });
    }
  }
  return withProperties(
    { type: "subscribe", packetId: packetId(rng), subscriptions },
    v5 ? properties(rng, "subscribe", side) : undefined,
  );
}

function codes(rng: Rng, table: readonly number[]): number[] {
  const n = rng.chance(0.8) ? rng.int(1, 3) : rng.int(4, 12);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(pick(rng, table));
  return out;
}

function randomAck(
  rng: Rng,
  type: "puback" | "pubrec" | "pubrel" | "pubcomp",
  version: OracleVersion,
  side: OracleSide,
): Packet {
  const id = packetId(rng);
  if (version !== 5) return { type, packetId: id };
  const table = type === "puback" || type === "pubrec" ? PUBACK_V5 : PUBREL_V5;
  // Reason code 0 often, so the short forms (Remaining Length 2 and 3) come up
  const reasonCode = rng.chance(0.4) ? 0 : pick(rng, table);
  return withProperties({ type, packetId: id, reasonCode }, properties(rng, "ack", side));
}

/**
 * A random packet for a protocol version, in canonical form.
 *
 * `side` says which half of mqtt-packet will handle the packet, so restrictions apply only
 * where that half needs them: `"parser"` when we encode and mqtt-packet parses, and
 * `"generator"` when mqtt-packet generates and we decode.
 *
 * @example A few packets
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomPacket, Rng } from "./_random_packet.ts";
 * const rng = new Rng(1);
 * for (let i = 0; i < 20; i++) {
 *   assert.notEqual(randomPacket(rng, 4, "parser").type, "auth");
 * }
 * ```
 *
 * @param rng The generator.
 * @param version 4 or 5.
 * @param side Which side of mqtt-packet the packet is for.
 * @returns The packet.
 */
export function randomPacket(rng: Rng, version: OracleVersion, side: OracleSide): Packet {
  const v5 = version === 5;
  const type = randomType(rng, version);
  switch (type) {
    case "connect":
      return randomConnect(rng, version, side);
    case "connack": {
      const reasonCode = v5 ? (rng.chance(0.5) ? 0 : pick(rng, CONNACK_V5)) : rng.int(0, 5);
      // 3.2.2.1.1: Session Present is 0 with a refusal [MQTT-3.2.2-6]
      const sessionPresent = reasonCode === 0 && rng.chance();
      return withProperties(
        { type, sessionPresent, reasonCode },
        v5 ? properties(rng, "connack", side) : undefined,
      );
    }
    case "publish":
      return randomPublish(rng, version, side);
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return randomAck(rng, type, version, side);
    case "subscribe":
      return randomSubscribe(rng, version, side);
    case "suback":
      return withProperties(
        { type, packetId: packetId(rng), reasonCodes: codes(rng, v5 ? SUBACK_V5 : SUBACK_V4) },
        v5 ? properties(rng, "ack", side) : undefined,
      );
    case "unsubscribe": {
      const filters: string[] = [];
      const n = rng.chance(0.8) ? rng.int(1, 3) : rng.int(4, 12);
      for (let i = 0; i < n; i++) filters.push(topicFilter(rng, true));
      return withProperties(
        { type, packetId: packetId(rng), filters },
        v5 ? properties(rng, "unsubscribe", side) : undefined,
      );
    }
    case "unsuback":
      return withProperties(
        { type, packetId: packetId(rng), reasonCodes: v5 ? codes(rng, UNSUBACK_V5) : [] },
        v5 ? properties(rng, "ack", side) : undefined,
      );
    case "pingreq":
    case "pingresp":
      return { type };
    case "disconnect":
      if (!v5) return { type };
      return withProperties(
        { type, reasonCode: rng.chance(0.4) ? 0 : pick(rng, DISCONNECT_V5) },
        properties(rng, "disconnect", side),
      );
    case "auth": {
      const reasonCode = rng.chance(0.4) ? 0 : pick(rng, AUTH_V5);
      let props = properties(rng, "auth", side);
      if (side === "parser" && reasonCode === 0 && props === undefined) {
        // We encode AUTH with reason 0 and no properties as Remaining Length 0, as
        // 3.15.2.1 allows, but mqtt-packet's parser always reads a reason code and fails
        // ("Invalid auth reason code"); give it a property so the reason code is written.
        props = { reasonString: text(rng) };
      }
      return withProperties({ type, reasonCode }, props);
    }
  }
}
