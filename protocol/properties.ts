// This module is browser compatible.
/**
 * MQTT 5 properties (v5 §2.2.2): identifiers, wire types, and the packets that may carry
 * each one.
 *
 * @module
 */

/** A user property: a name and a value. Order and repeated names are kept. */
export type UserProperty = [name: string, value: string];

/**
 * MQTT 5 properties of any packet, as camelCase fields. Which fields a packet may carry is
 * given by {@linkcode PROPERTIES}; the decoder rejects the others.
 *
 * Byte properties that can only be 0 or 1 are booleans, except `payloadFormatIndicator`
 * and `maximumQoS`, which stay numbers as in the specification.
 */
export interface Properties {
  /** 0x01, PUBLISH and will: 0 unspecified bytes, 1 UTF-8 text. */
  payloadFormatIndicator?: 0 | 1;
  /** 0x02, PUBLISH and will: lifetime of the message in seconds. */
  messageExpiryInterval?: number;
  /** 0x03, PUBLISH and will: MIME type of the payload. */
  contentType?: string;
  /** 0x08, PUBLISH and will: topic for a response. */
  responseTopic?: string;
  /** 0x09, PUBLISH and will: correlates a response with its request. */
  correlationData?: Uint8Array;
  /** 0x0B, SUBSCRIBE: the identifier to attach to matching deliveries (1..268,435,455). */
  subscriptionIdentifier?: number;
  /** 0x0B, PUBLISH: the identifiers of every subscription the delivery matched. */
  subscriptionIdentifiers?: number[];
  /** 0x11, CONNECT, CONNACK, DISCONNECT: session expiry in seconds (0xFFFFFFFF never). */
  sessionExpiryInterval?: number;
  /** 0x12, CONNACK: the client identifier the server assigned. */
  assignedClientIdentifier?: string;
  /** 0x13, CONNACK: the keep alive the server wants the client to use. */
  serverKeepAlive?: number;
  /** 0x15, CONNECT, CONNACK, AUTH: extended authentication method. */
  authenticationMethod?: string;
  /** 0x16, CONNECT, CONNACK, AUTH: extended authentication data. */
  authenticationData?: Uint8Array;
  /** 0x17, CONNECT: whether the server may send reason strings and user properties on failures. */
  requestProblemInformation?: boolean;
  /** 0x18, will: seconds to wait before publishing the will. */
  willDelayInterval?: number;
  /** 0x19, CONNECT: ask the server for response information. */
  requestResponseInformation?: boolean;
  /** 0x1A, CONNACK: basis for response topics. */
  responseInformation?: string;
  /** 0x1C, CONNACK, DISCONNECT: another server to use. */
  serverReference?: string;
  /** 0x1F, acknowledgements, DISCONNECT, AUTH: human-readable diagnostic. */
  reasonString?: string;
  /** 0x21, CONNECT, CONNACK: how many QoS 1/2 publishes may be in flight (1..65535). */
  receiveMaximum?: number;
  /** 0x22, CONNECT, CONNACK: highest topic alias accepted. */
  topicAliasMaximum?: number;
  /** 0x23, PUBLISH: topic alias (1..65535). */
  topicAlias?: number;
  /** 0x24, CONNACK: highest QoS the server supports. */
  maximumQoS?: 0 | 1;
  /** 0x25, CONNACK: whether retained messages are supported. */
  retainAvailable?: boolean;
  /** 0x26, every packet that has properties: name/value pairs, order kept. */
  userProperties?: UserProperty[];
  /** 0x27, CONNECT, CONNACK: largest packet the sender accepts. */
  maximumPacketSize?: number;
  /** 0x28, CONNACK: whether wildcard subscriptions are supported. */
  wildcardSubscriptionAvailable?: boolean;
  /** 0x29, CONNACK: whether subscription identifiers are supported. */
  subscriptionIdentifiersAvailable?: boolean;
  /** 0x2A, CONNACK: whether shared subscriptions are supported. */
  sharedSubscriptionAvailable?: boolean;
}

/** The wire type of a property value (v5 §1.5). */
export type PropertyWireType =
  | "byte"
  | "uint16"
  | "uint32"
  | "varint"
  | "utf8"
  | "binary"
  | "pair";

/** Where a property may appear: a packet type, or `"will"` for will properties in CONNECT. */
export type PropertyContext =
  | "connect"
  | "will"
  | "connack"
  | "publish"
  | "puback"
  | "pubrec"
  | "pubrel"
  | "pubcomp"
  | "subscribe"
  | "suback"
  | "unsubscribe"
  | "unsuback"
  | "disconnect"
  | "auth";

/** The description of one property, see {@linkcode PROPERTIES}. */
export interface PropertyInfo {
  /** The property identifier. */
  readonly id: number;
  /** The field name in {@linkcode Properties}. */
  readonly name: keyof Properties;
  /** The wire type of its value. */
  readonly type: PropertyWireType;
  /** The packets (and will) that may carry it. */
  readonly contexts: readonly PropertyContext[];
  /** Whether it may appear more than once (user property; subscription identifier in PUBLISH). */
  readonly repeatable: boolean;
  /** For byte properties limited to 0 and 1. */
  readonly boolean: boolean;
}

const ACKS: readonly PropertyContext[] = [
  "connack",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "suback",
  "unsuback",
  "disconnect",
  "auth",
];
const ALL: readonly PropertyContext[] = [
  "connect",
  "will",
  "publish",
  "subscribe",
  "unsubscribe",
  ...ACKS,
];
const MESSAGE: readonly PropertyContext[] = ["publish", "will"];

function info(
  id: number,
  name: keyof Properties,
  type: PropertyWireType,
  contexts: readonly PropertyContext[],
  flags: { repeatable?: boolean; boolean?: boolean } = {},
): PropertyInfo {
  return {
    id,
    name,
    type,
    contexts,
    repeatable: flags.repeatable ?? false,
    boolean: flags.boolean ?? false,
  };
}

/**
 * Every MQTT 5 property (v5 §2.2.2.2, Table 2-4), by identifier.
 *
 * The subscription identifier (0x0B) appears as `subscriptionIdentifiers` (repeatable) in
 * PUBLISH and as `subscriptionIdentifier` in SUBSCRIBE; {@linkcode propertyInfo} resolves
 * the right entry for a context.
 *
 * @example Look up a property
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROPERTIES } from "./properties.ts";
 * const topicAlias = PROPERTIES.find((p) => p.id === 0x23);
 * assert.equal(topicAlias?.type, "uint16");
 * ```
 */
export const PROPERTIES: readonly PropertyInfo[] = [
  info(0x01, "payloadFormatIndicator", "byte", MESSAGE),
  info(0x02, "messageExpiryInterval", "uint32", MESSAGE),
  info(0x03, "contentType", "utf8", MESSAGE),
  info(0x08, "responseTopic", "utf8", MESSAGE),
  info(0x09, "correlationData", "binary", MESSAGE),
  info(0x0b, "subscriptionIdentifiers", "varint", ["publish"], { repeatable: true }),
  info(0x0b, "subscriptionIdentifier", "varint", ["subscribe"]),
  info(0x11, "sessionExpiryInterval", "uint32", ["connect", "connack", "disconnect"]),
  info(0x12, "assignedClientIdentifier", "utf8", ["connack"]),
  info(0x13, "serverKeepAlive", "uint16", ["connack"]),
  info(0x15, "authenticationMethod", "utf8", ["connect", "connack", "auth"]),
  info(0x16, "authenticationData", "binary", ["connect", "connack", "auth"]),
  info(0x17, "requestProblemInformation", "byte", ["connect"], { boolean: true }),
  info(0x18, "willDelayInterval", "uint32", ["will"]),
  info(0x19, "requestResponseInformation", "byte", ["connect"], { boolean: true }),
  info(0x1a, "responseInformation", "utf8", ["connack"]),
  info(0x1c, "serverReference", "utf8", ["connack", "disconnect"]),
  info(0x1f, "reasonString", "utf8", ACKS),
  info(0x21, "receiveMaximum", "uint16", ["connect", "connack"]),
  info(0x22, "topicAliasMaximum", "uint16", ["connect", "connack"]),
  info(0x23, "topicAlias", "uint16", ["publish"]),
  info(0x24, "maximumQoS", "byte", ["connack"]),
  info(0x25, "retainAvailable", "byte", ["connack"], { boolean: true }),
  info(0x26, "userProperties", "pair", ALL, { repeatable: true }),
  info(0x27, "maximumPacketSize", "uint32", ["connect", "connack"]),
  info(0x28, "wildcardSubscriptionAvailable", "byte", ["connack"], { boolean: true }),
  info(0x29, "subscriptionIdentifiersAvailable", "byte", ["connack"], { boolean: true }),
  info(0x2a, "sharedSubscriptionAvailable", "byte", ["connack"], { boolean: true }),
];

// Built on first use, so bundles that never look properties up by context leave it out.
let byContext: Map<PropertyContext, Map<number, PropertyInfo>> | undefined;

function contextMap(context: PropertyContext): Map<number, PropertyInfo> | undefined {
  if (byContext === undefined) {
    byContext = new Map();
    for (const p of PROPERTIES) {
      for (const c of p.contexts) {
        let m = byContext.get(c);
        if (m === undefined) byContext.set(c, m = new Map());
        m.set(p.id, p);
      }
    }
  }
  return byContext.get(context);
}

/**
 * The property with this identifier as allowed in a context, or `undefined` when the
 * context does not allow it (or the identifier is unknown).
 *
 * @example A topic alias is a PUBLISH property only
 * ```ts
 * import assert from "node:assert/strict";
 * import { propertyInfo } from "./properties.ts";
 * assert.equal(propertyInfo("publish", 0x23)?.name, "topicAlias");
 * assert.equal(propertyInfo("subscribe", 0x23), undefined);
 * ```
 *
 * @param context The packet type or `"will"`.
 * @param id The property identifier.
 * @returns The property description, or `undefined`.
 */
export function propertyInfo(context: PropertyContext, id: number): PropertyInfo | undefined {
  return contextMap(context)?.get(id);
}

/**
 * The property stored in a field, as allowed in a context, or `undefined` when the context
 * does not allow that field.
 *
 * @example Look up by field name
 * ```ts
 * import assert from "node:assert/strict";
 * import { propertyInfoByName } from "./properties.ts";
 * assert.equal(propertyInfoByName("connect", "receiveMaximum")?.id, 0x21);
 * assert.equal(propertyInfoByName("publish", "receiveMaximum"), undefined);
 * ```
 *
 * @param context The packet type or `"will"`.
 * @param name The field name in {@linkcode Properties}.
 * @returns The property description, or `undefined`.
 */
export function propertyInfoByName(
  context: PropertyContext,
  name: keyof Properties,
): PropertyInfo | undefined {
  for (const p of contextMap(context)?.values() ?? []) {
    if (p.name === name) return p;
  }
  return undefined;
}
