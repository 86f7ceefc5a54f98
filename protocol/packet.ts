// This module is browser compatible.
/**
 * MQTT control packets as a discriminated union on `type`, for protocol levels 3 (MQTT
 * 3.1), 4 (MQTT 3.1.1) and 5 (MQTT 5.0).
 *
 * Canonical form (what the decoder produces and fixtures compare against):
 * - `properties` is present only on MQTT 5 packets that carry at least one property;
 * - `reasonCode` is present on every MQTT 5 PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT and
 *   AUTH (0 when the wire omits it) and absent on MQTT 3.x, except CONNACK, which always has
 *   it (the return code for 3.x);
 * - `packetId` is present on PUBLISH exactly when `qos > 0`;
 * - UNSUBACK's `reasonCodes` is empty on MQTT 3.x;
 * - an MQTT 5 subscription always has `noLocal`, `retainAsPublished` and `retainHandling`;
 *   an MQTT 3.x one has only `filter` and `qos`.
 *
 * @module
 */

import type { Properties } from "./properties.ts";

/** Quality of service level. */
export type QoS = 0 | 1 | 2;

/** Protocol level: 3 is MQTT 3.1, 4 is MQTT 3.1.1, 5 is MQTT 5.0. */
export type ProtocolVersion = 3 | 4 | 5;

/**
 * Control packet type codes (the high nibble of the fixed header, v5 §2.1.2).
 *
 * @example The PUBLISH code
 * ```ts
 * import assert from "node:assert/strict";
 * import { PacketType } from "./packet.ts";
 * assert.equal(PacketType.Publish, 3);
 * ```
 */
export const PacketType = {
  Connect: 1,
  Connack: 2,
  Publish: 3,
  Puback: 4,
  Pubrec: 5,
  Pubrel: 6,
  Pubcomp: 7,
  Subscribe: 8,
  Suback: 9,
  Unsubscribe: 10,
  Unsuback: 11,
  Pingreq: 12,
  Pingresp: 13,
  Disconnect: 14,
  Auth: 15,
} as const;

/** A control packet type code, see {@linkcode PacketType}. */
export type PacketType = typeof PacketType[keyof typeof PacketType];

/** The will message of a CONNECT. */
export interface Will {
  /** Topic the will is published to. */
  topic: string;
  /** Will payload. */
  payload: Uint8Array;
  /** QoS of the will. */
  qos: QoS;
  /** Whether the will is retained. */
  retain: boolean;
  /** MQTT 5 will properties (will delay, message expiry, content type, ...). */
  properties?: Properties;
}

/** CONNECT (v5 §3.1). */
export interface ConnectPacket {
  /** Packet type. */
  type: "connect";
  /** Protocol level; the name is `MQIsdp` for 3 and `MQTT` for 4 and 5. */
  protocolVersion: ProtocolVersion;
  /** Client identifier; may be empty. */
  clientId: string;
  /** Clean session (3.x) or clean start (5). */
  clean: boolean;
  /** Keep alive in seconds, 0 disables it. */
  keepAlive: number;
  /** User name. */
  username?: string;
  /** Password (binary data). */
  password?: Uint8Array;
  /** Will message. */
  will?: Will;
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** CONNACK (v5 §3.2). */
export interface ConnackPacket {
  /** Packet type. */
  type: "connack";
  /** Whether the server resumed a session. */
  sessionPresent: boolean;
  /** MQTT 5 reason code, or the 3.x return code (0..5). */
  reasonCode: number;
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** PUBLISH (v5 §3.3). */
export interface PublishPacket {
  /** Packet type. */
  type: "publish";
  /** Topic name; empty when an MQTT 5 topic alias stands for it. */
  topic: string;
  /** Application message. */
  payload: Uint8Array;
  /** QoS level. */
  qos: QoS;
  /** Retain flag. */
  retain: boolean;
  /** Duplicate delivery flag (QoS > 0 only). */
  dup: boolean;
  /** Packet identifier, present exactly when `qos > 0`. */
  packetId?: number;
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** PUBACK (v5 §3.4). */
export interface PubackPacket {
  /** Packet type. */
  type: "puback";
  /** Packet identifier of the PUBLISH. */
  packetId: number;
  /** MQTT 5 reason code. */
  reasonCode?: number;
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** PUBREC (v5 §3.5). */
export interface PubrecPacket {
  /** Packet type. */
  type: "pubrec";
  /** Packet identifier of the PUBLISH. */
  packetId: number;
  /** MQTT 5 reason code. */
  reasonCode?: number;
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** PUBREL (v5 §3.6). */
export interface PubrelPacket {
  /** Packet type. */
  type: "pubrel";
  /** Packet identifier of the PUBLISH. */
  packetId: number;
  /** MQTT 5 reason code. */
  reasonCode?: number;
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** PUBCOMP (v5 §3.7). */
export interface PubcompPacket {
  /** Packet type. */
  type: "pubcomp";
  /** Packet identifier of the PUBLISH. */
  packetId: number;
  /** MQTT 5 reason code. */
  reasonCode?: number;
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** One topic filter of a SUBSCRIBE, with its options (v5 §3.8.3.1). */
export interface Subscription {
  /** Topic filter. */
  filter: string;
  /** Maximum QoS. */
  qos: QoS;
  /** MQTT 5: do not deliver this client's own publications. */
  noLocal?: boolean;
  /** MQTT 5: keep the retain flag as published. */
  retainAsPublished?: boolean;
  /** MQTT 5: 0 send retained on subscribe, 1 only for a new subscription, 2 never. */
  retainHandling?: 0 | 1 | 2;
}

/** SUBSCRIBE (v5 §3.8). */
export interface SubscribePacket {
  /** Packet type. */
  type: "subscribe";
  /** Packet identifier. */
  packetId: number;
  /** At least one subscription. */
  subscriptions: Subscription[];
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** SUBACK (v5 §3.9). */
export interface SubackPacket {
  /** Packet type. */
  type: "suback";
  /** Packet identifier of the SUBSCRIBE. */
  packetId: number;
  /** One per subscription: the granted QoS or a failure code. */
  reasonCodes: number[];
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** UNSUBSCRIBE (v5 §3.10). */
export interface UnsubscribePacket {
  /** Packet type. */
  type: "unsubscribe";
  /** Packet identifier. */
  packetId: number;
  /** At least one topic filter. */
  filters: string[];
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** UNSUBACK (v5 §3.11). */
export interface UnsubackPacket {
  /** Packet type. */
  type: "unsuback";
  /** Packet identifier of the UNSUBSCRIBE. */
  packetId: number;
  /** MQTT 5: one reason code per filter. Empty on MQTT 3.x. */
  reasonCodes: number[];
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** PINGREQ (v5 §3.12). */
export interface PingreqPacket {
  /** Packet type. */
  type: "pingreq";
}

/** PINGRESP (v5 §3.13). */
export interface PingrespPacket {
  /** Packet type. */
  type: "pingresp";
}

/** DISCONNECT (v5 §3.14). */
export interface DisconnectPacket {
  /** Packet type. */
  type: "disconnect";
  /** MQTT 5 reason code. */
  reasonCode?: number;
  /** MQTT 5 properties. */
  properties?: Properties;
}

/** AUTH (v5 §3.15), MQTT 5 only. */
export interface AuthPacket {
  /** Packet type. */
  type: "auth";
  /** Reason code: 0x00, 0x18 continue or 0x19 re-authenticate. */
  reasonCode?: number;
  /** Properties (authentication method and data). */
  properties?: Properties;
}

/** Any MQTT control packet. */
export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** The `type` names of packets. */
export type PacketName = Packet["type"];

/**
 * The type code of each packet name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PACKET_CODES } from "./packet.ts";
 * assert.equal(PACKET_CODES.subscribe, 8);
 * ```
 */
export const PACKET_CODES: Readonly<Record<PacketName, PacketType>> = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  auth: 15,
};

/**
 * The packet name of each type code (index 0 is unused and reserved).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PACKET_NAMES } from "./packet.ts";
 * assert.equal(PACKET_NAMES[3], "publish");
 * ```
 */
export const PACKET_NAMES: readonly (PacketName | undefined)[] = [
  undefined,
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
  "auth",
];
