// This module is browser compatible.
/**
 * MQTT reason codes (v5 §2.4) and MQTT 3.1.1 CONNACK return codes (v3.1.1 §3.2.2.3).
 *
 * @module
 */

/**
 * Every MQTT 5.0 reason code as a named constant (v5 §2.4, Table 2-6).
 *
 * Several names share a value: `Success`, `NormalDisconnection` and `GrantedQoS0` are all
 * `0x00`, as in the specification.
 *
 * @example Compare a SUBACK result
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReasonCode } from "./reason_code.ts";
 * assert.equal(ReasonCode.NotAuthorized, 0x87);
 * ```
 */
export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

/** A reason code value, see {@linkcode ReasonCode}. */
export type ReasonCode = typeof ReasonCode[keyof typeof ReasonCode];

/**
 * MQTT 3.1 and 3.1.1 CONNACK return codes (v3.1.1 §3.2.2.3, Table 3.1).
 *
 * @example Check a refusal
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectReturnCode } from "./reason_code.ts";
 * assert.equal(ConnectReturnCode.NotAuthorized, 5);
 * ```
 */
export const ConnectReturnCode = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5,
} as const;

/** A CONNACK return code of MQTT 3.1/3.1.1, see {@linkcode ConnectReturnCode}. */
export type ConnectReturnCode = typeof ConnectReturnCode[keyof typeof ConnectReturnCode];

/** The SUBACK return code for a refused subscription in MQTT 3.1.1 (v3.1.1 §3.9.3). */
export const SUBACK_FAILURE_V4 = 0x80;

const NAMES: Record<number, string> = {
  0x00: "Success",
  0x01: "Granted QoS 1",
  0x02: "Granted QoS 2",
  0x04: "Disconnect with Will Message",
  0x10: "No matching subscribers",
  0x11: "No subscription existed",
  0x18: "Continue authentication",
  0x19: "Re-authenticate",
  0x80: "Unspecified error",
  0x81: "Malformed Packet",
  0x82: "Protocol Error",
  0x83: "Implementation specific error",
  0x84: "Unsupported Protocol Version",
  0x85: "Client Identifier not valid",
  0x86: "Bad User Name or Password",
  0x87: "Not authorized",
  0x88: "Server unavailable",
  0x89: "Server busy",
  0x8a: "Banned",
  0x8b: "Server shutting down",
  0x8c: "Bad authentication method",
  0x8d: "Keep Alive timeout",
  0x8e: "Session taken over",
  0x8f: "Topic Filter invalid",
  0x90: "Topic Name invalid",
  0x91: "Packet Identifier in use",
  0x92: "Packet Identifier not found",
  0x93: "Receive Maximum exceeded",
  0x94: "Topic Alias invalid",
  0x95: "Packet too large",
  0x96: "Message rate too high",
  0x97: "Quota exceeded",
  0x98: "Administrative action",
  0x99: "Payload format invalid",
  0x9a: "Retain not supported",
  0x9b: "QoS not supported",
  0x9c: "Use another server",
  0x9d: "Server moved",
  0x9e: "Shared Subscriptions not supported",
  0x9f: "Connection rate exceeded",
  0xa0: "Maximum connect time",
  0xa1: "Subscription Identifiers not supported",
  0xa2: "Wildcard Subscriptions not supported",
};

/**
 * The specification's name of an MQTT 5 reason code, for logs and error messages.
 *
 * @example Name a code
 * ```ts
 * import assert from "node:assert/strict";
 * import { reasonCodeName } from "./reason_code.ts";
 * assert.equal(reasonCodeName(0x87), "Not authorized");
 * assert.equal(reasonCodeName(0x42), "Unknown reason code 0x42");
 * ```
 *
 * @param code The reason code.
 * @returns Its name, or `"Unknown reason code 0x.."`.
 */
export function reasonCodeName(code: number): string {
  return NAMES[code] ??
    `Unknown reason code 0x${code.toString(16).padStart(2, "0")}`;
}

/** The packet types that carry reason codes, as used in {@linkcode isValidReasonCode}. */
export type ReasonCodePacket =
  | "connack"
  | "puback"
  | "pubrec"
  | "pubrel"
  | "pubcomp"
  | "suback"
  | "unsuback"
  | "disconnect"
  | "auth";

// v5 §2.4 Table 2-6: which reason codes each packet may carry.
const ALLOWED: Record<ReasonCodePacket, ReadonlySet<number>> = {
  connack: new Set([
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
  ]),
  puback: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  pubrec: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  pubrel: new Set([0x00, 0x92]),
  pubcomp: new Set([0x00, 0x92]),
  suback: new Set([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]),
  unsuback: new Set([0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]),
  disconnect: new Set([
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
  ]),
  auth: new Set([0x00, 0x18, 0x19]),
};

/**
 * Whether an MQTT 5 packet of the given type may carry this reason code (v5 §2.4).
 *
 * @example PUBREL accepts only two codes
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidReasonCode } from "./reason_code.ts";
 * assert.equal(isValidReasonCode("pubrel", 0x92), true);
 * assert.equal(isValidReasonCode("pubrel", 0x80), false);
 * ```
 *
 * @param packet The packet type.
 * @param code The reason code.
 * @returns `true` when the specification allows it.
 */
export function isValidReasonCode(packet: ReasonCodePacket, code: number): boolean {
  return ALLOWED[packet].has(code);
}

/**
 * Map an MQTT 5 CONNACK reason code to the closest MQTT 3.1.1 return code, as brokers do
 * when refusing a 3.1.1 client (mosquitto uses the same mapping).
 *
 * @example Map a refusal
 * ```ts
 * import assert from "node:assert/strict";
 * import { toConnectReturnCode } from "./reason_code.ts";
 * assert.equal(toConnectReturnCode(0x86), 4);
 * assert.equal(toConnectReturnCode(0x00), 0);
 * ```
 *
 * @param reasonCode An MQTT 5 CONNACK reason code.
 * @returns The MQTT 3.1.1 return code.
 */
export function toConnectReturnCode(reasonCode: number): ConnectReturnCode {
  switch (reasonCode) {
    case 0x00:
      return 0;
    case 0x84:
      return 1;
    case 0x85:
      return 2;
    case 0x86:
    case 0x8c:
      return 4;
    case 0x87:
    case 0x8a:
      return 5;
    default:
      return 3;
  }
}
