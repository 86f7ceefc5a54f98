// This module is browser compatible.
/**
 * The body decoders of the packets a server sends (CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL,
 * PUBCOMP, SUBACK, UNSUBACK, PINGRESP, DISCONNECT, AUTH): everything a client decodes. A
 * server decodes some of them too; the rest of its decoders are in `_server_bodies.ts`, which
 * a client never imports, so a client bundle leaves them out.
 *
 * Each decoder reads the body of one packet from a `PacketReader` set up by the
 * framing (`_framing.ts`), after the fixed header has been checked, and throws a
 * `MalformedPacketError` or `ProtocolError` on a fault.
 *
 * @module
 */

import type { ProtocolError } from "./errors.ts";
import type {
  AuthPacket,
  ConnackPacket,
  DisconnectPacket,
  PingrespPacket,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  QoS,
  SubackPacket,
  UnsubackPacket,
} from "./packet.ts";
import { hex, type PacketReader } from "./_properties_reader.ts";
import { copyOf } from "./_pool.ts";
import { isValidReasonCode, type ReasonCodePacket } from "./reason_code.ts";

/**
 * Decode a CONNACK body (3.2).
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodeConnack(r: PacketReader): ConnackPacket {
  const ackFlags = r.u8("connect acknowledge flags");
  // MQTT 3.1 has no session present flag: the whole byte is reserved
  if ((ackFlags & (r.version === 3 ? 0xff : 0xfe)) !== 0) {
    // 3.2.2.1: bits 7-1 are reserved [MQTT-3.2.2-1] (v3.1.1 §3.2.2.1)
    throw r.malformed(
      `reserved connect acknowledge flags are set in ${hex(ackFlags)}`,
      r.spec("MQTT-3.2.2-1", "§3.2.2.1"),
    );
  }
  const reasonCode = r.u8("reason code");
  let properties;
  if (r.v5) {
    if (r.remaining() === 0 && reasonCode === 1) {
      // A 3.1.1-only server refuses a 5.0 client with return code 1 in a 3.1.1 CONNACK
      throw r.protocolError(
        "the server answered with MQTT 3.1.1 return code 1 (unacceptable protocol version)",
        "MQTT-3.1.2-2",
        0x84,
      );
    }
    if (!isValidReasonCode("connack", reasonCode)) {
      // 3.2.2.2: one of the Connect Reason Codes [MQTT-3.2.2-8]
      throw r.malformed(`reason code ${hex(reasonCode)} is not valid in CONNACK`, "MQTT-3.2.2-8");
    }
    // The Property Length is required; a 2-byte CONNACK is tolerated as having none
    if (r.remaining() !== 0) properties = r.properties("connack");
  } else if (reasonCode > 5) {
    // v3.1.1 3.2.2.3 Table 3.1: 6-255 are reserved
    throw r.malformed(`return code ${reasonCode} is reserved`, "§3.2.2.3");
  }
  r.finish();
  const sessionPresent = ackFlags === 1;
  if (sessionPresent && reasonCode !== 0) {
    // 3.2.2.1.1: session present must be 0 with a refusal [MQTT-3.2.2-6] (v3.1.1 [MQTT-3.2.2-4])
    throw r.protocolError(
      `session present is set with ${r.v5 ? "reason" : "return"} code ${hex(reasonCode)}`,
      r.spec("MQTT-3.2.2-6", "MQTT-3.2.2-4"),
    );
  }
  const packet: ConnackPacket = { type: "connack", sessionPresent, reasonCode };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/**
 * Decode a PUBLISH body (3.3), the hot path.
 *
 * @param r The reader, at the body.
 * @param b0 The first byte of the fixed header, whose flags (DUP, QoS, RETAIN) are checked.
 * @returns The packet.
 */
export function decodePublish(r: PacketReader, b0: number): PublishPacket {
  const qos = ((b0 >> 1) & 3) as QoS;
  // 3.3.2.1: a Topic Name without wildcards [MQTT-3.3.2-2]
  const topic = r.topicName("topic name", "MQTT-3.3.2-2");
  let packetId: number | undefined;
  if (qos !== 0) {
    packetId = r.u16("packet identifier");
    if (packetId === 0) throw zeroPacketId(r, "MQTT-2.2.1-3", "MQTT-2.3.1-1");
  }
  const properties = r.v5 ? r.properties("publish") : undefined;
  if (topic.length === 0 && properties?.topicAlias === undefined) {
    // 4.7.3 [MQTT-4.7.3-1]; 3.3.2.3.4: an empty Topic Name needs a Topic Alias
    throw r.protocolError(
      r.v5 ? "the topic name is empty and there is no topic alias" : "the topic name is empty",
      "MQTT-4.7.3-1",
    );
  }
  if (r.side === "server" && properties?.subscriptionIdentifiers !== undefined) {
    // 3.3.4: a client must not send a Subscription Identifier [MQTT-3.3.4-6]
    throw r.protocolError("a client sent a subscription identifier", "MQTT-3.3.4-6");
  }
  const payload = r.viewPayloads ? r.bytes.subarray(r.pos, r.end) : copyOf(r.bytes, r.pos, r.end);
  const retain = (b0 & 1) !== 0;
  const dup = (b0 & 8) !== 0;
  // Each packet is built in its final shape at once: no field is added afterwards
  if (properties === undefined) {
    return packetId === undefined
      ? { type: "publish", topic, payload, qos, retain, dup }
      : { type: "publish", topic, payload, qos, retain, dup, packetId };
  }
  return packetId === undefined
    ? { type: "publish", topic, payload, qos, retain, dup, properties }
    : { type: "publish", topic, payload, qos, retain, dup, packetId, properties };
}

type PubAckName = "puback" | "pubrec" | "pubrel" | "pubcomp";
type PubAckPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket;

const ACK_NAMES: readonly PubAckName[] = ["puback", "pubrec", "pubrel", "pubcomp"];

/**
 * Decode a PUBACK, PUBREC, PUBREL or PUBCOMP body (3.4 to 3.7).
 *
 * @param r The reader, at the body.
 * @param b0 The first byte of the fixed header, which gives the packet type.
 * @returns The packet.
 */
export function decodeAck(r: PacketReader, b0: number): PubAckPacket {
  const i = (b0 >> 4) - 4;
  const type = ACK_NAMES[i]!;
  const packetId = r.u16("packet identifier");
  // 2.2.1: the identifier of the PUBLISH, never 0 [MQTT-2.2.1-5] (v3.1.1 [MQTT-2.3.1-6])
  if (packetId === 0) throw zeroPacketId(r, "MQTT-2.2.1-5", "MQTT-2.3.1-6");
  if (!r.v5) {
    r.finish();
    return { type, packetId };
  }
  // 3.4.2.1: the Reason Code and Property Length may be left out (Remaining Length 2 or 3)
  let reasonCode = 0;
  let properties;
  if (r.remaining() !== 0) {
    // 3.4.2.1 to 3.7.2.1: one of the packet's Reason Codes [MQTT-3.4.2-1] to [MQTT-3.7.2-1]
    reasonCode = readReasonCode(r, type, `MQTT-3.${i + 4}.2-1`);
    if (r.remaining() !== 0) properties = r.properties(type);
    r.finish();
  }
  const packet: PubAckPacket = { type, packetId, reasonCode };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/**
 * Decode a SUBACK body (3.9).
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodeSuback(r: PacketReader): SubackPacket {
  const packetId = r.u16("packet identifier");
  if (packetId === 0) throw zeroPacketId(r, "MQTT-2.2.1-6", "MQTT-2.3.1-7");
  const v5 = r.v5;
  const properties = v5 ? r.properties("suback") : undefined;
  const reasonCodes: number[] = [];
  while (r.remaining() !== 0) {
    if (v5) {
      // 3.9.3: one of the Subscribe Reason Codes [MQTT-3.9.3-2]
      reasonCodes.push(readReasonCode(r, "suback", "MQTT-3.9.3-2"));
    } else {
      const code = r.u8("return code");
      if (code > 2 && code !== 0x80) {
        // v3.1.1 3.9.3: only 0x00, 0x01, 0x02 and 0x80 [MQTT-3.9.3-2]
        throw r.malformed(`return code ${hex(code)} is reserved`, "MQTT-3.9.3-2");
      }
      reasonCodes.push(code);
    }
  }
  if (reasonCodes.length === 0) {
    // 3.8.4: a code for each subscription [MQTT-3.8.4-6] (v3.1.1 [MQTT-3.8.4-5])
    throw r.protocolError(
      `there is no ${v5 ? "reason" : "return"} code`,
      r.spec("MQTT-3.8.4-6", "MQTT-3.8.4-5"),
    );
  }
  const packet: SubackPacket = { type: "suback", packetId, reasonCodes };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/**
 * Decode an UNSUBACK body (3.11).
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodeUnsuback(r: PacketReader): UnsubackPacket {
  const packetId = r.u16("packet identifier");
  if (packetId === 0) throw zeroPacketId(r, "MQTT-2.2.1-6", "MQTT-2.3.1-7");
  const reasonCodes: number[] = [];
  if (!r.v5) {
    r.finish();
    return { type: "unsuback", packetId, reasonCodes };
  }
  const properties = r.properties("unsuback");
  // 3.11.3: one of the Unsubscribe Reason Codes [MQTT-3.11.3-2]
  while (r.remaining() !== 0) reasonCodes.push(readReasonCode(r, "unsuback", "MQTT-3.11.3-2"));
  if (reasonCodes.length === 0) {
    // 3.11.3: a Reason Code for each Topic Filter, in order [MQTT-3.11.3-1]
    throw r.protocolError("there is no reason code", "MQTT-3.11.3-1");
  }
  const packet: UnsubackPacket = { type: "unsuback", packetId, reasonCodes };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/**
 * Decode a PINGRESP body (3.13): there is none.
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodePingresp(r: PacketReader): PingrespPacket {
  r.finish();
  return { type: "pingresp" };
}

/**
 * Decode a DISCONNECT body (3.14).
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodeDisconnect(r: PacketReader): DisconnectPacket {
  if (!r.v5) {
    r.finish();
    return { type: "disconnect" };
  }
  // 3.14.2.1: a Remaining Length of 0 means 0x00 (Normal disconnection), no properties
  let reasonCode = 0;
  let properties;
  if (r.remaining() !== 0) {
    // 3.14.2.1: one of the DISCONNECT Reason Codes [MQTT-3.14.2-1]
    reasonCode = readReasonCode(r, "disconnect", "MQTT-3.14.2-1");
    if (r.remaining() !== 0) properties = r.properties("disconnect");
    r.finish();
  }
  if (properties?.sessionExpiryInterval !== undefined && r.side === "client") {
    // 3.14.2.2.2: the server never sends a Session Expiry Interval [MQTT-3.14.2-2]
    throw r.protocolError("the server sent a session expiry interval", "MQTT-3.14.2-2");
  }
  const packet: DisconnectPacket = { type: "disconnect", reasonCode };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/**
 * Decode an AUTH body (3.15). MQTT 5 only: the framing refuses type 15 on 3.x.
 *
 * @param r The reader, at the body.
 * @returns The packet.
 */
export function decodeAuth(r: PacketReader): AuthPacket {
  // 3.15.2.1: a Remaining Length of 0 means 0x00 (Success), no properties
  let reasonCode = 0;
  let properties;
  if (r.remaining() !== 0) {
    // 3.15.2.1: one of the Authenticate Reason Codes [MQTT-3.15.2-1]
    reasonCode = readReasonCode(r, "auth", "MQTT-3.15.2-1");
    if (r.remaining() !== 0) properties = r.properties("auth");
    r.finish();
  }
  const packet: AuthPacket = { type: "auth", reasonCode };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/**
 * Read a reason code that `type` may carry.
 *
 * @param r The reader.
 * @param type The packet type, for the table of valid codes.
 * @param spec The normative id broken by an invalid code.
 * @returns The code.
 */
export function readReasonCode(r: PacketReader, type: ReasonCodePacket, spec: string): number {
  const code = r.u8("reason code");
  if (!isValidReasonCode(type, code)) {
    throw r.malformed(`reason code ${hex(code)} is not valid in ${r.name}`, spec);
  }
  return code;
}

/**
 * The fault of a packet identifier of 0.
 *
 * @param r The reader.
 * @param v5 The MQTT 5 normative id.
 * @param v4 The MQTT 3.1.1 normative id.
 * @returns The error, to throw.
 */
export function zeroPacketId(r: PacketReader, v5: string, v4: string): ProtocolError {
  return r.protocolError("the packet identifier is 0", r.spec(v5, v4));
}
