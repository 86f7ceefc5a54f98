/**
 * The `-D command identifier value` property syntax of mosquitto_pub/sub/rr: property names
 * in mosquitto's kebab-case, checked against the packets MQTT 5 allows them in (the table in
 * protocol/properties.ts) and the packets the clients send.
 *
 * @module
 */

import { PROPERTIES, type Properties } from "../protocol/properties.ts";
import type { PropertyContext, PropertyInfo } from "../protocol/properties.ts";

/** A packet a `-D` property can be attached to, as the clients name it. */
export type PropertyCommand =
  | "connect"
  | "publish"
  | "subscribe"
  | "unsubscribe"
  | "disconnect"
  | "will";

/** The properties given with `-D`, per packet. */
export type CommandProperties = Record<PropertyCommand, Properties>;

/** Packets MQTT allows properties in but the clients never send with user properties. */
const UNSUPPORTED = new Set(["puback", "pubrec", "pubrel", "pubcomp", "auth"]);
const SUPPORTED = new Set<string>([
  "connect",
  "publish",
  "subscribe",
  "unsubscribe",
  "disconnect",
  "will",
]);

/** `payloadFormatIndicator` → `payload-format-indicator`; mosquitto's few odd spellings. */
function kebab(name: string): string {
  if (name === "subscriptionIdentifiersAvailable") return "subscription-identifier-available";
  if (name === "maximumQoS") return "maximum-qos";
  if (name === "userProperties") return "user-property";
  if (name === "subscriptionIdentifiers") return "";
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const BY_NAME = new Map<string, PropertyInfo>();
for (const p of PROPERTIES) {
  const name = kebab(p.name);
  if (name !== "" && !BY_NAME.has(name)) BY_NAME.set(name, p);
}

/** The property names `-D` accepts, in mosquitto's spelling. */
export const PROPERTY_NAMES: readonly string[] = [...BY_NAME.keys()];

/**
 * Create an empty set of per-packet properties.
 *
 * @example Empty
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyCommandProperties } from "./_property_arg.ts";
 * assert.deepEqual(emptyCommandProperties().publish, {});
 * ```
 *
 * @returns One empty object per packet.
 */
export function emptyCommandProperties(): CommandProperties {
  return { connect: {}, publish: {}, subscribe: {}, unsubscribe: {}, disconnect: {}, will: {} };
}

const LIMITS: Record<string, number> = {
  byte: 0xff,
  uint16: 0xffff,
  uint32: 0xffff_ffff,
  varint: 268_435_455,
};

/**
 * How many values a property takes after its name: two for `user-property`, else one.
 *
 * @example User properties take a name and a value
 * ```ts
 * import assert from "node:assert/strict";
 * import { propertyValueCount } from "./_property_arg.ts";
 * assert.equal(propertyValueCount("user-property"), 2);
 * assert.equal(propertyValueCount("content-type"), 1);
 * ```
 *
 * @param name The property name, as given to `-D`.
 * @returns The number of values.
 */
export function propertyValueCount(name: string): number {
  return name.toLowerCase() === "user-property" ? 2 : 1;
}

/**
 * Parse one `-D command identifier value...` and add it to `into`. Returns an error
 * message (mosquitto's wording, without `Error: `) or `undefined` on success.
 *
 * @example Add a user property
 * ```ts
 * import assert from "node:assert/strict";
 * import { addPropertyArg, emptyCommandProperties } from "./_property_arg.ts";
 * const props = emptyCommandProperties();
 * assert.equal(addPropertyArg(props, ["publish", "user-property", "k", "v"]), undefined);
 * assert.deepEqual(props.publish.userProperties, [["k", "v"]]);
 * ```
 *
 * @param into The properties to add to.
 * @param args The command, the identifier, and one or two values.
 * @returns An error message, or `undefined`.
 */
export function addPropertyArg(
  into: CommandProperties,
  args: readonly string[],
): string | undefined {
  const [command, name, value, value2] = args;
  if (command === undefined || name === undefined || value === undefined) {
    return "--property argument given but not enough arguments specified";
  }
  const info = BY_NAME.get(name.toLowerCase());
  const lower = command.toLowerCase();
  if (!SUPPORTED.has(lower) && !UNSUPPORTED.has(lower)) {
    return `Invalid command "${command}" given in --property argument`;
  }
  if (info === undefined) return `Invalid property name "${name}" given in --property argument`;
  const kebabName = kebab(info.name);
  if (!info.contexts.includes(lower as PropertyContext)) {
    return `${kebabName} property not allowed for ${lower} in --property argument`;
  }
  if (UNSUPPORTED.has(lower)) {
    return `${kebabName} property not supported for ${lower} in --property argument`;
  }
  const props = into[lower as PropertyCommand];
  if (info.type === "pair") {
    if (value2 === undefined) {
      return "--property argument given but not enough arguments specified";
    }
    (props.userProperties ??= []).push([value, value2]);
    return undefined;
  }
  if (props[info.name] !== undefined) {
    return `Duplicate ${kebabName} property in --property argument`;
  }
  let parsed: number | string | boolean | Uint8Array;
  if (info.type === "utf8") parsed = value;
  else if (info.type === "binary") parsed = new TextEncoder().encode(value);
  else {
    const limit = LIMITS[info.type]!;
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!(n >= 0 && n <= limit)) {
      return `Property value (${value}) out of range for property ${kebabName}`;
    }
    const fault = valueFault(info, n);
    if (fault !== undefined) return `Invalid ${kebabName} value (${value}): ${fault}`;
    parsed = info.boolean ? n === 1 : n;
  }
  (props as Record<string, unknown>)[info.name] = parsed;
  return undefined;
}

/** The MQTT 5 rules mosquitto checks once all properties are read. */
function valueFault(info: PropertyInfo, n: number): string | undefined {
  switch (info.name) {
    case "topicAlias":
    case "receiveMaximum":
    case "maximumPacketSize":
    case "subscriptionIdentifier":
      return n === 0 ? "it must not be 0" : undefined;
    case "payloadFormatIndicator":
    case "requestProblemInformation":
    case "requestResponseInformation":
      return n > 1 ? "it must be 0 or 1" : undefined;
    default:
      return info.boolean && n > 1 ? "it must be 0 or 1" : undefined;
  }
}

/**
 * The mosquitto spelling of a property, e.g. `"message-expiry-interval"`.
 *
 * @example Spell a property
 * ```ts
 * import assert from "node:assert/strict";
 * import { propertyArgName } from "./_property_arg.ts";
 * assert.equal(propertyArgName("contentType"), "content-type");
 * ```
 *
 * @param name The field name in {@linkcode Properties}.
 * @returns The kebab-case name.
 */
export function propertyArgName(name: keyof Properties): string {
  return kebab(name) || "subscription-identifier";
}
