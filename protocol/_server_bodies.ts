// This module is browser compatible.
/**
 * The body decoders of the packets only a client sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE,
 * PINGREQ), which only a server decodes. They live apart from `_bodies.ts` so that a client,
 * which imports only that module, leaves them out of its bundle.
 *
 * @module
 */

import type {
  ConnectPacket,
  PingreqPacket,
  ProtocolVersion,
  QoS,
  SubscribePacket,
  Subscription,
  UnsubscribePacket,
  Will,
} from "./packet.ts";
import { hex, type PacketReader, quote } from "./_properties_reader.ts";
import { topicFilterFault, topicNameFault } from "./topic.ts";
import { zeroPacketId } from "./_bodies.ts";

/**
 * Decode a CONNECT body (3.1). As soon as the protocol level is read and understood it is
 * stored in `r.version`, where the framing keeps the connection's version: it is adopted even
 * when a later field is faulty.
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodeConnect(r: PacketReader): ConnectPacket {
  // 3.1.2.1: "MQTT" for 3.1.1 and 5.0, "MQIsdp" for 3.1 [MQTT-3.1.2-1]
  const protocolName = r.string("protocol name");
  const level = r.u8("protocol level");
  let version: ProtocolVersion | undefined;
  if (protocolName === "MQTT") {
    if (level === 4 || level === 5) version = level;
  } else if (protocolName === "MQIsdp") {
    if (level === 3) version = 3;
  } else {
    throw r.protocolError(
      `protocol name ${quote(protocolName)} is not "MQTT"`,
      "MQTT-3.1.2-1",
      0x84,
    );
  }
  if (version === undefined) {
    // 3.1.2.2: an unsupported level is answered with 0x84 (3.1.1: return code 1)
    throw r.protocolError(
      `protocol level ${level} is not supported with protocol name ${quote(protocolName)}`,
      "MQTT-3.1.2-2",
      0x84,
    );
  }
  r.version = version;
  const v5 = version === 5;
  r.v5 = v5;
  const flags = r.u8("connect flags");
  if ((flags & 0x01) !== 0) {
    // 3.1.2.3: the reserved flag must be 0 [MQTT-3.1.2-3]
    throw r.malformed("the reserved connect flag is set", "MQTT-3.1.2-3");
  }
  const hasWill = (flags & 0x04) !== 0;
  const willQoS = (flags >> 3) & 3;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (!hasWill) {
    if (willQoS !== 0) {
      // 3.1.2.6: will QoS 0 without a will [MQTT-3.1.2-11] (v3.1.1 [MQTT-3.1.2-13])
      throw r.malformed(
        `will QoS ${willQoS} is set without the will flag`,
        r.spec("MQTT-3.1.2-11", "MQTT-3.1.2-13"),
      );
    }
    if (willRetain) {
      // 3.1.2.7: will retain 0 without a will [MQTT-3.1.2-13] (v3.1.1 [MQTT-3.1.2-15])
      throw r.malformed(
        "will retain is set without the will flag",
        r.spec("MQTT-3.1.2-13", "MQTT-3.1.2-15"),
      );
    }
  } else if (willQoS === 3) {
    // 3.1.2.6: will QoS 3 is a Malformed Packet [MQTT-3.1.2-12] (v3.1.1 [MQTT-3.1.2-14])
    throw r.malformed("will QoS is 3", r.spec("MQTT-3.1.2-12", "MQTT-3.1.2-14"));
  }
  if (!v5 && hasPassword && !hasUsername) {
    // v3.1.1 3.1.2.9: no password without a user name [MQTT-3.1.2-22]
    throw r.malformed("the password flag is set without the user name flag", "MQTT-3.1.2-22");
  }
  const keepAlive = r.u16("keep alive");
  const properties = v5 ? r.properties("connect") : undefined;
  const clientId = r.string("client identifier");
  const packet: ConnectPacket = {
    type: "connect",
    protocolVersion: version,
    clientId,
    clean: (flags & 0x02) !== 0,
    keepAlive,
  };
  if (hasWill) {
    const willProperties = v5 ? r.properties("will") : undefined;
    const topic = r.string("will topic");
    const fault = topicNameFault(topic);
    if (fault !== undefined) {
      throw r.malformed(`will topic ${quote(topic)} is not a valid topic name`, r.topicSpec(fault));
    }
    const will: Will = {
      topic,
      payload: r.binary("will payload"),
      qos: willQoS as QoS,
      retain: willRetain,
    };
    if (willProperties !== undefined) will.properties = willProperties;
    packet.will = will;
  }
  if (hasUsername) packet.username = r.string("user name");
  if (hasPassword) packet.password = r.binary("password");
  if (properties !== undefined) packet.properties = properties;
  r.finish();
  return packet;
}

/**
 * Decode a SUBSCRIBE body (3.8).
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodeSubscribe(r: PacketReader): SubscribePacket {
  const packetId = r.u16("packet identifier");
  if (packetId === 0) throw zeroPacketId(r, "MQTT-2.2.1-3", "MQTT-2.3.1-1");
  const v5 = r.v5;
  const properties = v5 ? r.properties("subscribe") : undefined;
  const subscriptions: Subscription[] = [];
  while (r.remaining() !== 0) {
    const filter = readTopicFilter(r);
    const options = r.u8("subscription options");
    const qos = options & 3;
    let subscription: Subscription;
    if (v5) {
      if ((options & 0xc0) !== 0) {
        // 3.8.3.1: bits 7 and 6 are reserved [MQTT-3.8.3-5]
        throw r.malformed(
          `reserved subscription option bits are set in ${hex(options)}`,
          "MQTT-3.8.3-5",
        );
      }
      // 3.8.3.1: a Maximum QoS of 3 and a Retain Handling of 3 are Protocol Errors
      if (qos === 3) throw r.protocolError("the maximum QoS of a subscription is 3", "§3.8.3.1");
      const retainHandling = (options >> 4) & 3;
      if (retainHandling === 3) {
        throw r.protocolError("the retain handling of a subscription is 3", "§3.8.3.1");
      }
      const noLocal = (options & 0x04) !== 0;
      if (noLocal && filter.startsWith("$share/")) {
        // 3.8.3.1: No Local on a shared subscription [MQTT-3.8.3-4]
        throw r.protocolError(
          `no local is set on shared subscription ${quote(filter)}`,
          "MQTT-3.8.3-4",
        );
      }
      subscription = {
        filter,
        qos: qos as QoS,
        noLocal,
        retainAsPublished: (options & 0x08) !== 0,
        retainHandling: retainHandling as 0 | 1 | 2,
      };
    } else {
      if (options > 2) {
        // v3.1.1 3.8.3.1: reserved bits 0, QoS 0 to 2 [MQTT-3-8.3-4]
        throw r.malformed(`requested QoS byte ${hex(options)} is invalid`, "MQTT-3-8.3-4");
      }
      subscription = { filter, qos: qos as QoS };
    }
    subscriptions.push(subscription);
  }
  if (subscriptions.length === 0) {
    // 3.8.3: at least one subscription [MQTT-3.8.3-2] (v3.1.1 [MQTT-3.8.3-3])
    throw r.protocolError("there is no topic filter", r.spec("MQTT-3.8.3-2", "MQTT-3.8.3-3"));
  }
  const packet: SubscribePacket = { type: "subscribe", packetId, subscriptions };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/**
 * Decode an UNSUBSCRIBE body (3.10).
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodeUnsubscribe(r: PacketReader): UnsubscribePacket {
  const packetId = r.u16("packet identifier");
  if (packetId === 0) throw zeroPacketId(r, "MQTT-2.2.1-3", "MQTT-2.3.1-1");
  const properties = r.v5 ? r.properties("unsubscribe") : undefined;
  const filters: string[] = [];
  while (r.remaining() !== 0) filters.push(readTopicFilter(r));
  if (filters.length === 0) {
    // 3.10.3: at least one Topic Filter [MQTT-3.10.3-2]
    throw r.protocolError("there is no topic filter", "MQTT-3.10.3-2");
  }
  const packet: UnsubscribePacket = { type: "unsubscribe", packetId, filters };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/**
 * Decode a PINGREQ body (3.12): there is none.
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodePingreq(r: PacketReader): PingreqPacket {
  r.finish();
  return { type: "pingreq" };
}

// 3.8.3 and 3.10.3: a UTF-8 Topic Filter [MQTT-3.8.3-1] following the rules of 4.7
function readTopicFilter(r: PacketReader): string {
  const filter = r.string("topic filter");
  const fault = topicFilterFault(filter);
  if (fault !== undefined) {
    throw r.malformed(`topic filter ${quote(filter)} is invalid (${fault})`, r.topicSpec(fault));
  }
  return filter;
}
