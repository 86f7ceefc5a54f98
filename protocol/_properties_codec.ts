// This module is browser compatible.
/**
 * Measuring and writing MQTT 5 property blocks (v5 §2.2.2) for the encoder.
 *
 * {@linkcode measureProperties} validates a {@linkcode Properties} object for a context and
 * returns the byte length of its properties (without the Property Length prefix);
 * {@linkcode writeProperties} then writes them, in {@linkcode PROPERTIES} table order, trusting
 * that they were measured first.
 *
 * @module
 */

import {
  PROPERTIES,
  type Properties,
  type PropertyContext,
  type PropertyInfo,
  type UserProperty,
} from "./properties.ts";
import { validateMqttStringValue, writeUtf8 } from "./utf8.ts";
import { MAX_VARINT, varintSize, writeVarint } from "./varint.ts";

const CONTEXTS: readonly PropertyContext[] = [
  "connect",
  "will",
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
  "disconnect",
  "auth",
];

// One property as allowed in one context: its description, its rank in table order (the
// order it is written in) and the lowest value of an integer property.
interface Entry {
  readonly info: PropertyInfo;
  readonly rank: number;
  readonly min: number;
}

// Per context: the allowed properties by field name (to validate the caller's keys and find
// their entry with one lookup) and in table order.
interface Table {
  readonly byName: ReadonlyMap<string, Entry>;
  readonly ordered: readonly Entry[];
}

// Lower bounds above the wire type's zero: 0 is a Protocol Error for these (v5 §3.1.2.11.3,
// §3.1.2.11.4, §3.3.2.3.4, §3.8.2.1.2).
const MINIMUM: Readonly<Partial<Record<keyof Properties, number>>> = {
  receiveMaximum: 1,
  maximumPacketSize: 1,
  topicAlias: 1,
  subscriptionIdentifier: 1,
  subscriptionIdentifiers: 1,
};

const TABLES = {} as Record<PropertyContext, Table>;
for (const context of CONTEXTS) {
  const ordered = PROPERTIES.filter((p) => p.contexts.includes(context)).map((info, rank) => ({
    info,
    rank,
    min: MINIMUM[info.name] ?? 0,
  }));
  TABLES[context] = { byName: new Map(ordered.map((e) => [e.info.name, e])), ordered };
}

const MAX_BINARY = 65_535;

/**
 * Validate the properties of a packet (or of a will) and measure them.
 *
 * @param props The properties, or `undefined`.
 * @param context Where they appear.
 * @param what The packet name for error messages, e.g. `"PUBLISH"`.
 * @returns The byte length of the encoded properties, without the Property Length.
 * @throws {TypeError} When a property is not allowed in `context` or has the wrong type.
 * @throws {RangeError} When a value is out of range.
 */
export function measureProperties(
  props: Properties | undefined,
  context: PropertyContext,
  what: string,
): number {
  if (props === undefined) return 0;
  if (typeof props !== "object" || props === null || Array.isArray(props)) {
    throw new TypeError(`Cannot encode ${what}: properties must be an object`);
  }
  const allowed = TABLES[context].byName;
  let size = 0;
  for (const name in props) {
    const value = (props as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const entry = allowed.get(name);
    if (entry === undefined) {
      throw new TypeError(
        `Cannot encode ${what}: property ${JSON.stringify(name)} is not allowed in ${
          context === "will" ? "will properties" : what
        }`,
      );
    }
    size += measureProperty(entry, value, what);
  }
  return size;
}

/**
 * Whether a properties object holds no property at all (absent, or only `undefined` fields).
 *
 * @param props The properties, or `undefined`.
 * @returns `true` when nothing would be encoded for them.
 */
export function isEmptyProperties(props: Properties | undefined): boolean {
  if (props === undefined) return true;
  if (typeof props !== "object" || props === null) return false;
  for (const name in props) {
    if ((props as Record<string, unknown>)[name] !== undefined) return false;
  }
  return true;
}

function measureProperty(entry: Entry, value: unknown, what: string): number {
  const info = entry.info;
  switch (info.type) {
    case "byte":
      if (info.boolean) {
        if (typeof value !== "boolean") throw notType(info, what, "a boolean", value);
      } else if (value !== 0 && value !== 1) {
        if (typeof value !== "number") throw notType(info, what, "a number", value);
        throw outOfRange(info, what, 0, 1, value);
      }
      return 2;
    case "uint16":
      checkInteger(entry, what, value, 0xffff);
      return 3;
    case "uint32":
      checkInteger(entry, what, value, 0xffff_ffff);
      return 5;
    case "varint": {
      if (!info.repeatable) {
        checkInteger(entry, what, value, MAX_VARINT);
        return 1 + varintSize(value as number);
      }
      if (!Array.isArray(value)) throw notType(info, what, "an array of integers", value);
      let size = 0;
      for (const v of value) {
        checkInteger(entry, what, v, MAX_VARINT);
        size += 1 + varintSize(v as number);
      }
      return size;
    }
    case "utf8":
      return 3 + checkString(info, what, value);
    case "binary":
      if (!(value instanceof Uint8Array)) throw notType(info, what, "a Uint8Array", value);
      if (value.length > MAX_BINARY) {
        throw new RangeError(
          `Cannot encode ${what}: property "${info.name}" has ${value.length} bytes, more than ${MAX_BINARY}`,
        );
      }
      return 3 + value.length;
    case "pair": {
      if (!Array.isArray(value)) throw notType(info, what, "an array of [name, value]", value);
      let size = 0;
      for (const pair of value as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2) {
          throw notType(info, what, "an array of [name, value]", pair);
        }
        size += 5 + checkString(info, what, pair[0]) + checkString(info, what, pair[1]);
      }
      return size;
    }
  }
}

function checkInteger(entry: Entry, what: string, value: unknown, max: number): void {
  if (typeof value !== "number") throw notType(entry.info, what, "a number", value);
  const min = entry.min;
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw outOfRange(entry.info, what, min, max, value);
  }
}

function checkString(info: PropertyInfo, what: string, value: unknown): number {
  if (typeof value !== "string") throw notType(info, what, "a string", value);
  try {
    return validateMqttStringValue(value);
  } catch (cause) {
    const message = `Cannot encode ${what}: property "${info.name}" is not a valid MQTT string`;
    throw cause instanceof RangeError
      ? new RangeError(message, { cause })
      : new TypeError(message, { cause });
  }
}

function notType(info: PropertyInfo, what: string, expected: string, value: unknown): TypeError {
  return new TypeError(
    `Cannot encode ${what}: property "${info.name}" must be ${expected}, got ${describe(value)}`,
  );
}

function outOfRange(
  info: PropertyInfo,
  what: string,
  min: number,
  max: number,
  value: unknown,
): RangeError {
  return new RangeError(
    `Cannot encode ${what}: property "${info.name}" must be an integer from ${min} to ${max}, got ${
      describe(value)
    }`,
  );
}

function describe(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

/**
 * Write properties measured by {@linkcode measureProperties}, in table order: user properties
 * in array order, each subscription identifier of a PUBLISH as its own property.
 *
 * @param buffer The destination, with room for them.
 * @param offset Where to write the first property.
 * @param props The properties.
 * @param context Where they appear.
 * @returns The offset just past the last byte written.
 */
export function writeProperties(
  buffer: Uint8Array,
  offset: number,
  props: Properties,
  context: PropertyContext,
): number {
  // Fields are usually given in table order: then one pass over the object's own few keys
  // is enough, instead of a lookup of every property the context allows.
  const table = TABLES[context];
  const byName = table.byName;
  let p = offset;
  let rank = -1;
  for (const name in props) {
    const value = (props as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const entry = byName.get(name)!;
    if (entry.rank < rank) return writeOrdered(buffer, offset, props, table);
    rank = entry.rank;
    p = writeProperty(buffer, p, entry.info, value);
  }
  return p;
}

// Write the properties in table order whatever the order of the object's fields.
function writeOrdered(buffer: Uint8Array, offset: number, props: Properties, table: Table): number {
  let p = offset;
  for (const entry of table.ordered) {
    const value = props[entry.info.name];
    if (value !== undefined) p = writeProperty(buffer, p, entry.info, value);
  }
  return p;
}

// Write one property (every occurrence of a repeatable one) measured before.
function writeProperty(
  buffer: Uint8Array,
  offset: number,
  info: PropertyInfo,
  value: unknown,
): number {
  let p = offset;
  const id = info.id;
  switch (info.type) {
    case "byte":
      buffer[p++] = id;
      buffer[p++] = value === true ? 1 : value === false ? 0 : value as number;
      return p;
    case "uint16":
      buffer[p++] = id;
      return writeUint16(buffer, p, value as number);
    case "uint32":
      buffer[p++] = id;
      return writeUint32(buffer, p, value as number);
    case "varint":
      if (info.repeatable) {
        for (const v of value as number[]) {
          buffer[p++] = id;
          p = writeVarint(buffer, p, v);
        }
        return p;
      }
      buffer[p++] = id;
      return writeVarint(buffer, p, value as number);
    case "utf8":
      buffer[p++] = id;
      return writeString(buffer, p, value as string);
    case "binary":
      buffer[p++] = id;
      return writeBinary(buffer, p, value as Uint8Array);
    case "pair":
      for (const pair of value as UserProperty[]) {
        buffer[p++] = id;
        p = writeString(buffer, p, pair[0]);
        p = writeString(buffer, p, pair[1]);
      }
      return p;
  }
}

/**
 * Write a Two Byte Integer, big-endian.
 *
 * @param buffer The destination.
 * @param offset Where to write.
 * @param value 0..65535.
 * @returns `offset + 2`.
 */
export function writeUint16(buffer: Uint8Array, offset: number, value: number): number {
  buffer[offset] = value >>> 8;
  buffer[offset + 1] = value & 0xff;
  return offset + 2;
}

/**
 * Write a Four Byte Integer, big-endian.
 *
 * @param buffer The destination.
 * @param offset Where to write.
 * @param value 0..4294967295.
 * @returns `offset + 4`.
 */
export function writeUint32(buffer: Uint8Array, offset: number, value: number): number {
  buffer[offset] = value >>> 24;
  buffer[offset + 1] = (value >>> 16) & 0xff;
  buffer[offset + 2] = (value >>> 8) & 0xff;
  buffer[offset + 3] = value & 0xff;
  return offset + 4;
}

/**
 * Write a UTF-8 Encoded String with its two-byte length prefix. The string must have been
 * validated (no lone surrogates, at most 65,535 bytes).
 *
 * @param buffer The destination.
 * @param offset Where the length prefix goes.
 * @param value The string.
 * @returns The offset just past the string.
 */
export function writeString(buffer: Uint8Array, offset: number, value: string): number {
  const end = writeUtf8(buffer, offset + 2, value);
  const length = end - offset - 2;
  buffer[offset] = length >>> 8;
  buffer[offset + 1] = length & 0xff;
  return end;
}

/**
 * Write Binary Data with its two-byte length prefix (at most 65,535 bytes, checked before).
 *
 * @param buffer The destination.
 * @param offset Where the length prefix goes.
 * @param value The bytes.
 * @returns The offset just past the data.
 */
export function writeBinary(buffer: Uint8Array, offset: number, value: Uint8Array): number {
  buffer[offset] = value.length >>> 8;
  buffer[offset + 1] = value.length & 0xff;
  buffer.set(value, offset + 2);
  return offset + 2 + value.length;
}
