/**
 * The mapping between our packets (`protocol/packet.ts`) and the packet objects of npm's
 * `mqtt-packet`, used only by the oracle test and the codec benchmark.
 *
 * Differences the mapping covers:
 * - `type` is `cmd`; `packetId` is `messageId`; `keepAlive` is `keepalive`; CONNECT carries
 *   `protocolId` (`"MQTT"`); CONNACK's code is `returnCode` before MQTT 5 and `reasonCode` in
 *   MQTT 5; SUBACK's and UNSUBACK's `reasonCodes` are `granted`; UNSUBSCRIBE's `filters` are
 *   `unsubscriptions`; a subscription is `{ topic, qos, nl, rap, rh }`;
 * - binary fields are `Buffer`s;
 * - `payloadFormatIndicator` is a boolean;
 * - PUBLISH's `subscriptionIdentifiers` list is `subscriptionIdentifier`, a number when there
 *   is one and an array when there are more;
 * - `userProperties` is an object from name to a value, or to an array of values when the
 *   name repeats. That cannot keep the order of interleaved names, so comparisons go through
 *   {@linkcode groupUserProperties} on both sides.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type {
  IConnackPacket,
  IConnectPacket,
  IPublishPacket,
  ISubscription,
  Packet as MqttPacket,
  UserProperties,
} from "mqtt-packet";
import type { Packet, QoS, Subscription, Will } from "../../protocol/packet.ts";
import type { Properties, UserProperty } from "../../protocol/properties.ts";

export type { MqttPacket };

/** The protocol levels the mapping covers: 4 (MQTT 3.1.1) and 5 (MQTT 5.0). */
export type MappedVersion = 4 | 5;

type AnyProperties = Record<string, unknown>;

// Property identifiers in ascending order (v5 §2.2.2.2 Table 2-4), the order our encoder
// writes them in; mqtt-packet writes them in the key order of its object.
const ORDER: readonly (keyof Properties)[] = [
  "payloadFormatIndicator", // 0x01
  "messageExpiryInterval", // 0x02
  "contentType", // 0x03
  "responseTopic", // 0x08
  "correlationData", // 0x09
  "subscriptionIdentifiers", // 0x0B in PUBLISH
  "subscriptionIdentifier", // 0x0B in SUBSCRIBE
  "sessionExpiryInterval", // 0x11
  "assignedClientIdentifier", // 0x12
  "serverKeepAlive", // 0x13
  "authenticationMethod", // 0x15
  "authenticationData", // 0x16
  "requestProblemInformation", // 0x17
  "willDelayInterval", // 0x18
  "requestResponseInformation", // 0x19
  "responseInformation", // 0x1A
  "serverReference", // 0x1C
  "reasonString", // 0x1F
  "receiveMaximum", // 0x21
  "topicAliasMaximum", // 0x22
  "topicAlias", // 0x23
  "maximumQoS", // 0x24
  "retainAvailable", // 0x25
  "userProperties", // 0x26
  "maximumPacketSize", // 0x27
  "wildcardSubscriptionAvailable", // 0x28
  "subscriptionIdentifiersAvailable", // 0x29
  "sharedSubscriptionAvailable", // 0x2A
];

/**
 * View a Node `Buffer` as a plain `Uint8Array` (no copy).
 *
 * @example View a buffer
 * ```ts
 * import assert from "node:assert/strict";
 * import { Buffer } from "node:buffer";
 * import { bufferBytes } from "./_mqtt_packet_shape.ts";
 * assert.deepEqual(bufferBytes(Buffer.from([1, 2])), new Uint8Array([1, 2]));
 * ```
 *
 * @param buffer The buffer.
 * @returns A `Uint8Array` over the same memory.
 */
export function bufferBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}

function fromBuffer(buffer: unknown): Uint8Array {
  if (!(buffer instanceof Uint8Array)) {
    throw new TypeError(`Cannot map mqtt-packet field: expected a Buffer, got ${typeof buffer}`);
  }
  return Uint8Array.from(buffer);
}

function groupPairs(list: readonly UserProperty[]): UserProperty[] {
  const byName = new Map<string, string[]>();
  for (const [name, value] of list) {
    const values = byName.get(name);
    if (values === undefined) byName.set(name, [value]);
    else values.push(value);
  }
  const out: UserProperty[] = [];
  for (const [name, values] of byName) for (const value of values) out.push([name, value]);
  return out;
}

function groupProperties(props: Properties): Properties {
  const list = props.userProperties;
  return list === undefined ? props : { ...props, userProperties: groupPairs(list) };
}

/**
 * A copy of a packet whose user properties (and will user properties) are grouped by name,
 * in order of each name's first appearance: the order mqtt-packet's object form keeps.
 *
 * @example Group interleaved names
 * ```ts
 * import assert from "node:assert/strict";
 * import { groupUserProperties } from "./_mqtt_packet_shape.ts";
 * const packet = groupUserProperties({
 *   type: "disconnect",
 *   reasonCode: 0,
 *   properties: { userProperties: [["a", "1"], ["b", "2"], ["a", "3"]] },
 * });
 * assert.deepEqual(packet, {
 *   type: "disconnect",
 *   reasonCode: 0,
 *   properties: { userProperties: [["a", "1"], ["a", "3"], ["b", "2"]] },
 * });
 * ```
 *
 * @param packet The packet.
 * @returns The packet, or a copy with its user properties grouped.
 */
export function groupUserProperties(packet: Packet): Packet {
  let out = packet;
  if ("properties" in packet && packet.properties !== undefined) {
    out = { ...packet, properties: groupProperties(packet.properties) } as Packet;
  }
  if (out.type === "connect" && out.will?.properties !== undefined) {
    out = { ...out, will: { ...out.will, properties: groupProperties(out.will.properties) } };
  }
  return out;
}

function toUserProperties(list: readonly UserProperty[]): UserProperties {
  // Names never look like array indices (see _random_packet.ts), so insertion order holds
  const out: UserProperties = {};
  for (const [name, value] of list) {
    const current = out[name];
    if (current === undefined) out[name] = value;
    else if (Array.isArray(current)) current.push(value);
    else out[name] = [current, value];
  }
  return out;
}

function toProperties(props: Properties | undefined): AnyProperties | undefined {
  if (props === undefined) return undefined;
  const out: AnyProperties = {};
  for (const name of ORDER) {
    const value = props[name];
    if (value === undefined) continue;
    switch (name) {
      case "payloadFormatIndicator":
        out.payloadFormatIndicator = value === 1;
        break;
      case "subscriptionIdentifiers": {
        const ids = value as number[];
        out.subscriptionIdentifier = ids.length === 1 ? ids[0] : [...ids];
        break;
      }
      case "userProperties":
        out.userProperties = toUserProperties(value as UserProperty[]);
        break;
      case "correlationData":
      case "authenticationData":
        out[name] = toBuffer(value as Uint8Array);
        break;
      default:
        out[name] = value;
    }
  }
  return out;
}

function fromProperties(
  props: unknown,
  context: "publish" | "subscribe" | "other",
): Properties | undefined {
  if (props === undefined) return undefined;
  if (typeof props !== "object" || props === null) {
    throw new TypeError(`Cannot map mqtt-packet properties: got ${typeof props}`);
  }
  const out: AnyProperties = {};
  for (const [name, value] of Object.entries(props as AnyProperties)) {
    switch (name) {
      case "payloadFormatIndicator":
        out.payloadFormatIndicator = value === true ? 1 : value === false ? 0 : value;
        break;
      case "subscriptionIdentifier":
        if (context === "publish") {
          out.subscriptionIdentifiers = Array.isArray(value) ? [...value] : [value];
        } else {
          out.subscriptionIdentifier = value;
        }
        break;
      case "userProperties": {
        const list: UserProperty[] = [];
        for (const [key, v] of Object.entries(value as UserProperties)) {
          if (Array.isArray(v)) { for (const item of v) list.push([key, item]); }
          else list.push([key, v]);
        }
        out.userProperties = list;
        break;
      }
      case "correlationData":
      case "authenticationData":
        out[name] = fromBuffer(value);
        break;
      default:
        out[name] = value;
    }
  }
  return out as Properties;
}

function setProperties(target: object, props: AnyProperties | Properties | undefined): void {
  if (props !== undefined) (target as { properties?: unknown }).properties = props;
}

/**
 * Our packet as the object mqtt-packet's `generate()` takes.
 *
 * @example A PUBACK
 * ```ts
 * import assert from "node:assert/strict";
 * import { toMqttPacket } from "./_mqtt_packet_shape.ts";
 * assert.deepEqual(toMqttPacket({ type: "puback", packetId: 7 }, 4), {
 *   cmd: "puback",
 *   messageId: 7,
 * });
 * ```
 *
 * @param packet Our packet.
 * @param version 4 or 5.
 * @returns The mqtt-packet object.
 */
export function toMqttPacket(packet: Packet, version: MappedVersion): MqttPacket {
  switch (packet.type) {
    case "connect": {
      const out: IConnectPacket = {
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: version,
        clientId: packet.clientId,
        clean: packet.clean,
        keepalive: packet.keepAlive,
      };
      if (packet.username !== undefined) out.username = packet.username;
      if (packet.password !== undefined) out.password = toBuffer(packet.password);
      const will = packet.will;
      if (will !== undefined) {
        const w: NonNullable<IConnectPacket["will"]> = {
          topic: will.topic,
          payload: toBuffer(will.payload),
          qos: will.qos,
          retain: will.retain,
        };
        setProperties(w, toProperties(will.properties));
        out.will = w;
      }
      setProperties(out, toProperties(packet.properties));
      return out;
    }
    case "connack": {
      const out: IConnackPacket = { cmd: "connack", sessionPresent: packet.sessionPresent };
      if (version === 5) out.reasonCode = packet.reasonCode;
      else out.returnCode = packet.reasonCode;
      setProperties(out, toProperties(packet.properties));
      return out;
    }
    case "publish": {
      const out: IPublishPacket = {
        cmd: "publish",
        topic: packet.topic,
        payload: toBuffer(packet.payload),
        qos: packet.qos,
        dup: packet.dup,
        retain: packet.retain,
      };
      if (packet.packetId !== undefined) out.messageId = packet.packetId;
      setProperties(out, toProperties(packet.properties));
      return out;
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp": {
      const out = { cmd: packet.type, messageId: packet.packetId } as MqttPacket & {
        reasonCode?: number;
      };
      if (packet.reasonCode !== undefined) out.reasonCode = packet.reasonCode;
      setProperties(out, toProperties(packet.properties));
      return out;
    }
    case "subscribe": {
      const subscriptions = packet.subscriptions.map((s): ISubscription => {
        const sub: ISubscription = { topic: s.filter, qos: s.qos };
        if (s.noLocal !== undefined) sub.nl = s.noLocal;
        if (s.retainAsPublished !== undefined) sub.rap = s.retainAsPublished;
        if (s.retainHandling !== undefined) sub.rh = s.retainHandling;
        return sub;
      });
      const out: MqttPacket = { cmd: "subscribe", messageId: packet.packetId, subscriptions };
      setProperties(out, toProperties(packet.properties));
      return out;
    }
    case "suback":
    case "unsuback": {
      const out: MqttPacket = {
        cmd: packet.type,
        messageId: packet.packetId,
        granted: [...packet.reasonCodes],
      };
      setProperties(out, toProperties(packet.properties));
      return out;
    }
    case "unsubscribe": {
      const out: MqttPacket = {
        cmd: "unsubscribe",
        messageId: packet.packetId,
        unsubscriptions: [...packet.filters],
      };
      setProperties(out, toProperties(packet.properties));
      return out;
    }
    case "pingreq":
    case "pingresp":
      return { cmd: packet.type };
    case "disconnect":
    case "auth": {
      const out = { cmd: packet.type } as MqttPacket & { reasonCode?: number };
      if (packet.reasonCode !== undefined) out.reasonCode = packet.reasonCode;
      setProperties(out, toProperties(packet.properties));
      return out;
    }
  }
}

/**
 * A packet parsed by mqtt-packet, in our canonical form.
 *
 * @example A PUBACK
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromMqttPacket } from "./_mqtt_packet_shape.ts";
 * assert.deepEqual(fromMqttPacket({ cmd: "puback", messageId: 7 }, 4), {
 *   type: "puback",
 *   packetId: 7,
 * });
 * ```
 *
 * @param parsed The object mqtt-packet's parser emitted.
 * @param version 4 or 5.
 * @returns Our packet.
 * @throws {TypeError} When a field has a type the mapping does not expect.
 */
export function fromMqttPacket(parsed: MqttPacket, version: MappedVersion): Packet {
  const v5 = version === 5;
  // Fields outside mqtt-packet's declared shape of this packet type
  const loose = parsed as unknown as Record<string, unknown>;
  switch (parsed.cmd) {
    case "connect": {
      if (parsed.protocolId !== "MQTT") {
        throw new TypeError(`Unexpected protocolId ${JSON.stringify(parsed.protocolId)}`);
      }
      const out: Packet = {
        type: "connect",
        protocolVersion: parsed.protocolVersion as 4 | 5,
        clientId: parsed.clientId,
        clean: parsed.clean as boolean,
        keepAlive: parsed.keepalive as number,
      };
      const will = parsed.will;
      if (will !== undefined) {
        const w: Will = {
          topic: will.topic,
          payload: fromBuffer(will.payload),
          qos: will.qos as QoS,
          retain: will.retain as boolean,
        };
        const props = fromProperties(will.properties, "other");
        if (props !== undefined) w.properties = props;
        out.will = w;
      }
      if (parsed.username !== undefined) out.username = parsed.username;
      if (parsed.password !== undefined) out.password = fromBuffer(parsed.password);
      setProperties(out, fromProperties(parsed.properties, "other"));
      return out;
    }
    case "connack": {
      const code = v5 ? parsed.reasonCode : parsed.returnCode;
      const out: Packet = {
        type: "connack",
        sessionPresent: parsed.sessionPresent,
        reasonCode: code as number,
      };
      setProperties(out, fromProperties(parsed.properties, "other"));
      return out;
    }
    case "publish": {
      const out: Packet = {
        type: "publish",
        topic: parsed.topic,
        payload: fromBuffer(parsed.payload),
        qos: parsed.qos,
        retain: parsed.retain,
        dup: parsed.dup,
      };
      if (parsed.qos !== 0) out.packetId = parsed.messageId as number;
      setProperties(out, fromProperties(parsed.properties, "publish"));
      return out;
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp": {
      const out: Extract<Packet, { type: typeof parsed.cmd }> = {
        type: parsed.cmd,
        packetId: parsed.messageId as number,
      };
      if (v5) out.reasonCode = parsed.reasonCode as number;
      setProperties(out, fromProperties(parsed.properties, "other"));
      return out;
    }
    case "subscribe": {
      const subscriptions = parsed.subscriptions.map((s): Subscription => {
        const sub: Subscription = { filter: s.topic, qos: s.qos };
        if (v5) {
          sub.noLocal = s.nl as boolean;
          sub.retainAsPublished = s.rap as boolean;
          sub.retainHandling = s.rh as 0 | 1 | 2;
        }
        return sub;
      });
      const out: Packet = {
        type: "subscribe",
        packetId: parsed.messageId as number,
        subscriptions,
      };
      setProperties(out, fromProperties(parsed.properties, "subscribe"));
      return out;
    }
    case "suback":
    case "unsuback": {
      // mqtt-packet leaves `granted` out of an MQTT 3.1.1 UNSUBACK, which has no payload
      const granted = (loose.granted ?? []) as number[];
      const out: Packet = {
        type: parsed.cmd,
        packetId: parsed.messageId as number,
        reasonCodes: [...granted],
      };
      setProperties(out, fromProperties(parsed.properties, "other"));
      return out;
    }
    case "unsubscribe": {
      const out: Packet = {
        type: "unsubscribe",
        packetId: parsed.messageId as number,
        filters: [...parsed.unsubscriptions],
      };
      setProperties(out, fromProperties(parsed.properties, "other"));
      return out;
    }
    case "pingreq":
    case "pingresp":
      return { type: parsed.cmd };
    case "disconnect":
    case "auth": {
      const out: Extract<Packet, { type: typeof parsed.cmd }> = { type: parsed.cmd };
      if (v5) out.reasonCode = parsed.reasonCode as number;
      setProperties(out, fromProperties(parsed.properties, "other"));
      return out;
    }
  }
}
