/**
 * Packet helpers for the differential scripts: CONNECT, SUBSCRIBE and PUBLISH builders, and
 * hand-made malformed bytes the encoder refuses to produce.
 *
 * @module
 */

import type {
  ConnectPacket,
  Packet,
  ProtocolVersion,
  PublishPacket,
  QoS,
  Subscription,
} from "../../protocol/mod.ts";
import { varintSize } from "../../protocol/mod.ts";
import type { Peer } from "./_harness.ts";

const encoder = new TextEncoder();

/** A CONNECT for the peer's version (clean, keep alive 60 unless overridden). */
export function connect(
  peer: Peer,
  clientId: string,
  options: Partial<Omit<ConnectPacket, "type" | "protocolVersion" | "clientId">> = {},
): ConnectPacket {
  return {
    type: "connect",
    protocolVersion: peer.version,
    clientId,
    clean: true,
    keepAlive: 60,
    ...options,
  };
}

/** CONNECT and record the CONNACK. */
export async function hello(
  peer: Peer,
  clientId: string,
  options: Partial<Omit<ConnectPacket, "type" | "protocolVersion" | "clientId">> = {},
): Promise<void> {
  peer.send(connect(peer, clientId, options));
  await peer.expect(1);
}

/** SUBSCRIBE (packet id 1 unless given) and record the SUBACK. */
export async function subscribe(
  peer: Peer,
  subscriptions: (string | Subscription)[],
  options: { qos?: QoS; packetId?: number; identifier?: number } = {},
): Promise<void> {
  const subs = subscriptions.map((s): Subscription => {
    const sub: Subscription = typeof s === "string" ? { filter: s, qos: options.qos ?? 0 } : s;
    return peer.version === 5
      ? { noLocal: false, retainAsPublished: false, retainHandling: 0, ...sub }
      : { filter: sub.filter, qos: sub.qos };
  });
  const packet: Packet = {
    type: "subscribe",
    packetId: options.packetId ?? 1,
    subscriptions: subs,
  };
  if (options.identifier !== undefined) {
    packet.properties = { subscriptionIdentifier: options.identifier };
  }
  peer.send(packet);
  await peer.expect(1);
}

/** A PUBLISH. */
export function publish(
  topic: string,
  payload: string,
  options: Partial<Omit<PublishPacket, "type" | "topic" | "payload">> = {},
): PublishPacket {
  const packet: PublishPacket = {
    type: "publish",
    topic,
    payload: encoder.encode(payload),
    qos: 0,
    retain: false,
    dup: false,
    ...options,
  };
  if (packet.qos > 0) packet.packetId ??= 1;
  return packet;
}

/**
 * Raw PUBLISH bytes with any flags and topic bytes (for QoS 3, wildcards, bad UTF-8).
 *
 * @param version Protocol version (5 adds an empty property length).
 * @param flags The low nibble of the fixed header.
 * @param topic Topic bytes (a string is UTF-8 encoded).
 * @param payload Payload text.
 */
export function rawPublish(
  version: ProtocolVersion,
  flags: number,
  topic: string | number[],
  payload = "x",
): Uint8Array {
  const t = typeof topic === "string" ? [...encoder.encode(topic)] : topic;
  const qos = (flags >> 1) & 3;
  const body = [
    t.length >> 8,
    t.length & 0xff,
    ...t,
    ...(qos > 0 ? [0, 1] : []),
    ...(version === 5 ? [0] : []),
    ...encoder.encode(payload),
  ];
  if (varintSize(body.length) !== 1) throw new RangeError("Cannot build PUBLISH: too long");
  return new Uint8Array([0x30 | flags, body.length, ...body]);
}

/**
 * Raw CONNECT bytes: protocol name and level, connect flags, keep alive 60, client id, and
 * for level 5 an empty property length.
 */
export function rawConnect(
  name: string,
  level: number,
  flags: number,
  clientId: string,
): Uint8Array {
  const n = [...encoder.encode(name)];
  const id = [...encoder.encode(clientId)];
  const body = [
    0,
    n.length,
    ...n,
    level,
    flags,
    0,
    60,
    ...(level === 5 ? [0] : []),
    0,
    id.length,
    ...id,
  ];
  return new Uint8Array([0x10, body.length, ...body]);
}
