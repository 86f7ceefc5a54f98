// This module is browser compatible.
/**
 * The decoder's cursor over the body of one packet: bounds-checked big-endian integers,
 * Variable Byte Integers, UTF-8 strings, binary data and MQTT 5 property blocks (v5 §2.2.2).
 *
 * Every read that fails throws a {@linkcode MalformedPacketError} or {@linkcode ProtocolError}
 * naming the packet and the normative statement broken; `decode.ts` catches it, so nothing
 * escapes `Decoder.push()`. One reader is reused for every packet, so reading allocates
 * nothing but the values it returns.
 *
 * @module
 */

import { MalformedPacketError, ProtocolError } from "./errors.ts";
import type { ProtocolVersion } from "./packet.ts";
import {
  PROPERTIES,
  type Properties,
  type PropertyContext,
  type PropertyInfo,
  type UserProperty,
} from "./properties.ts";
import { type TopicFault, topicFaultSpec, topicNameFault } from "./topic.ts";
import { decodeMqttString, Utf8Fault } from "./utf8.ts";
import { readVarint, varintSize, VarintStatus } from "./varint.ts";

const EMPTY = new Uint8Array(0);
const KNOWN_PROPERTIES: ReadonlyMap<number, string> = new Map(
  PROPERTIES.map((
    p,
  ) => [p.id, p.name === "subscriptionIdentifiers" ? "subscriptionIdentifier" : p.name]),
);

/** Byte values of the two wildcards: `#` and `+`. */
const HASH = 0x23;
const PLUS = 0x2b;

// Per context, the allowed properties indexed by identifier: one array load per property
// instead of two Map lookups. Built once; never changed.
const BY_ID: Readonly<Record<PropertyContext, readonly (PropertyInfo | undefined)[]>> = (() => {
  const tables: Partial<Record<PropertyContext, (PropertyInfo | undefined)[]>> = {};
  const size = Math.max(...PROPERTIES.map((p) => p.id)) + 1;
  for (const p of PROPERTIES) {
    for (const c of p.contexts) {
      const table = tables[c] ??= new Array<PropertyInfo | undefined>(size).fill(undefined);
      table[p.id] = p;
    }
  }
  return tables as Record<PropertyContext, (PropertyInfo | undefined)[]>;
})();

// Strings up to this many bytes are remembered, to skip decoding a repeat.
const MEMO_MAX = 256;

// One remembered string: its bytes and its value; `length` is -1 until one is remembered.
class Memo {
  bytes: Uint8Array = EMPTY;
  length = -1;
  value = "";
}

/**
 * A cursor over `bytes[pos..end)`, the body of one packet (after the fixed header).
 *
 * @example Read a string and a two-byte integer
 * ```ts
 * import assert from "node:assert/strict";
 * import { PacketReader } from "./_properties_reader.ts";
 * const r = new PacketReader();
 * r.reset(new Uint8Array([0, 1, 0x61, 0, 7]), 0, 5);
 * assert.equal(r.string("topic"), "a");
 * assert.equal(r.u16("packet identifier"), 7);
 * r.finish();
 * ```
 */
export class PacketReader {
  /** The buffer being read. */
  bytes: Uint8Array = EMPTY;
  /** The next byte to read. */
  pos = 0;
  /** The end (exclusive) of the readable bytes: the packet's, or a property block's. */
  end = 0;
  /** Whether errors cite MQTT 5.0's normative ids (else MQTT 3.1.1's). */
  v5 = true;
  /** The packet's name in upper case, for messages. */
  name = "packet";
  /** The spec reference for fields that do not fit the Remaining Length. */
  layoutSpec = "§2.1.4";
  /** The side that receives the packets, when known. */
  side: "server" | "client" | undefined = undefined;
  /** The protocol version, when known: set by the framing, and by CONNECT once understood. */
  version: ProtocolVersion | undefined = undefined;
  /** Whether a PUBLISH payload may be a view of `bytes` rather than a copy. */
  viewPayloads = false;
  // The last Topic Name read, and the last value of each UTF-8 property (by identifier): a
  // connection tends to repeat them, and comparing bytes is cheaper than decoding them.
  readonly #topicMemo = new Memo();
  readonly #propertyMemos: (Memo | undefined)[] = [];

  /**
   * Point the reader at the body of a packet.
   *
   * @param bytes The buffer.
   * @param start The first byte of the body.
   * @param end The end (exclusive) of the body.
   * @param v5 Whether to cite MQTT 5.0 ids; default true.
   * @param name The packet name for messages.
   * @param layoutSpec The spec reference for layout faults.
   */
  reset(
    bytes: Uint8Array,
    start: number,
    end: number,
    v5 = true,
    name = "packet",
    layoutSpec = "§2.1.4",
  ): void {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    this.v5 = v5;
    this.name = name;
    this.layoutSpec = layoutSpec;
  }

  /**
   * Choose between the MQTT 5.0 and the MQTT 3.1.1 reference for the same rule.
   *
   * @param v5 The MQTT 5.0 id.
   * @param v4 The MQTT 3.1.1 id.
   * @returns The id for the packet's version.
   */
  spec(v5: string, v4: string): string {
    return this.v5 ? v5 : v4;
  }

  /**
   * A Malformed Packet error about the current packet.
   *
   * @param detail What is wrong.
   * @param spec The normative statement.
   * @returns The error, to be thrown.
   */
  malformed(detail: string, spec: string): MalformedPacketError {
    return new MalformedPacketError(`Cannot decode ${this.name}: ${detail}`, { spec });
  }

  /**
   * A Protocol Error about the current packet.
   *
   * @param detail What is wrong.
   * @param spec The normative statement.
   * @param reasonCode The reason code, 0x82 unless given.
   * @returns The error, to be thrown.
   */
  protocolError(detail: string, spec: string, reasonCode = 0x82): ProtocolError {
    return new ProtocolError(`Cannot decode ${this.name}: ${detail}`, { spec, reasonCode });
  }

  /**
   * The number of bytes left.
   *
   * @returns `end - pos`.
   */
  remaining(): number {
    return this.end - this.pos;
  }

  /** Fail when bytes are left after the last field. */
  finish(): void {
    if (this.pos !== this.end) {
      const left = this.end - this.pos;
      throw this.malformed(
        `${left} ${left === 1 ? "byte is" : "bytes are"} left after the last field`,
        this.layoutSpec,
      );
    }
  }

  /**
   * Read one byte.
   *
   * @param what The field, for messages.
   * @returns The byte.
   */
  u8(what: string): number {
    if (this.pos >= this.end) throw this.#short(what, 1);
    return this.bytes[this.pos++]!;
  }

  /**
   * Read a Two Byte Integer (big-endian).
   *
   * @param what The field, for messages.
   * @returns The value.
   */
  u16(what: string): number {
    const p = this.pos;
    if (this.end - p < 2) throw this.#short(what, 2);
    this.pos = p + 2;
    return (this.bytes[p]! << 8) | this.bytes[p + 1]!;
  }

  /**
   * Read a Four Byte Integer (big-endian).
   *
   * @param what The field, for messages.
   * @returns The value, from 0 to 4,294,967,295.
   */
  u32(what: string): number {
    const p = this.pos;
    const b = this.bytes;
    if (this.end - p < 4) throw this.#short(what, 4);
    this.pos = p + 4;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  /**
   * Read a Variable Byte Integer.
   *
   * @param what The field, for messages.
   * @returns The value.
   */
  varint(what: string): number {
    const value = readVarint(this.bytes, this.pos, this.end);
    if (value === VarintStatus.Incomplete) {
      throw this.malformed(`${what} runs past the end of its field`, this.layoutSpec);
    }
    if (value === VarintStatus.Malformed) {
      // 1.5.5: at most four bytes, and the shortest form [MQTT-1.5.5-1]
      const tooLong = varintTooLong(this.bytes, this.pos, this.end);
      throw this.malformed(
        tooLong ? `${what} is longer than 4 bytes` : `${what} does not use the shortest encoding`,
        tooLong ? "§1.5.5" : "MQTT-1.5.5-1",
      );
    }
    this.pos += varintSize(value);
    return value;
  }

  /**
   * Read a UTF-8 Encoded String (v5 §1.5.4).
   *
   * @param what The field, for messages.
   * @returns The string.
   */
  string(what: string): string {
    const length = this.u16(`${what} length`);
    const start = this.pos;
    if (length > this.end - start) {
      throw this.malformed(
        `${what} length ${length} exceeds the ${this.end - start} bytes left`,
        this.layoutSpec,
      );
    }
    const s = decodeMqttString(this.bytes, start, start + length);
    if (typeof s !== "string") throw this.#utf8Error(what, s);
    this.pos = start + length;
    return s;
  }

  /**
   * Read a Topic Name: a string without wildcards (v5 §3.3.2.1), possibly empty.
   *
   * @param what The field, for messages.
   * @param spec The id of the wildcard rule for this field.
   * @returns The Topic Name, maybe empty.
   */
  topicName(what: string, spec: string): string {
    const length = this.u16(`${what} length`);
    const start = this.pos;
    const end = start + length;
    if (length > this.end - start) {
      throw this.malformed(
        `${what} length ${length} exceeds the ${this.end - start} bytes left`,
        this.layoutSpec,
      );
    }
    const b = this.bytes;
    const memo = this.#topicMemo;
    if (length === memo.length && this.#matches(memo, start, length)) {
      this.pos = end;
      return memo.value;
    }
    const s = decodeMqttString(b, start, end);
    if (typeof s !== "string") throw this.#utf8Error(what, s);
    // 4.7.1: "#" and "+" are single bytes that never occur inside a multi-byte sequence
    for (let i = start; i < end; i++) {
      const c = b[i]!;
      if (c === HASH || c === PLUS) {
        throw this.malformed(`${what} ${quote(s)} contains a wildcard`, spec);
      }
    }
    this.pos = end;
    this.#remember(memo, start, length, s);
    return s;
  }

  // Read a UTF-8 Encoded String through a memo of the last value read with it.
  #memoString(memo: Memo, what: string): string {
    const length = this.u16(`${what} length`);
    const start = this.pos;
    if (
      length === memo.length && length <= this.end - start && this.#matches(memo, start, length)
    ) {
      this.pos = start + length;
      return memo.value;
    }
    this.pos = start - 2;
    const s = this.string(what);
    this.#remember(memo, start, length, s);
    return s;
  }

  // Whether bytes[start..start+length) are the bytes of the memo (length already compared).
  // The last byte first, where topics sharing a prefix differ; then four bytes a step.
  #matches(memo: Memo, start: number, length: number): boolean {
    const b = this.bytes;
    const last = memo.bytes;
    if (length === 0) return true;
    if (b[start + length - 1] !== last[length - 1]) return false;
    const n = length - 1;
    let i = 0;
    for (const m = n & ~3; i < m; i += 4) {
      const p = start + i;
      if (
        b[p] !== last[i] || b[p + 1] !== last[i + 1] || b[p + 2] !== last[i + 2] ||
        b[p + 3] !== last[i + 3]
      ) return false;
    }
    for (; i < n; i++) if (b[start + i] !== last[i]) return false;
    return true;
  }

  // Remember a string that decoded and validated from bytes[start..start+length).
  #remember(memo: Memo, start: number, length: number, value: string): void {
    if (length > MEMO_MAX) return;
    if (memo.bytes.length < length) memo.bytes = new Uint8Array(MEMO_MAX);
    const b = this.bytes;
    const last = memo.bytes;
    for (let i = 0; i < length; i++) last[i] = b[start + i]!;
    memo.length = length;
    memo.value = value;
  }

  /**
   * Read Binary Data (v5 §1.5.6) as a copy.
   *
   * @param what The field, for messages.
   * @returns A new array with the bytes.
   */
  binary(what: string): Uint8Array {
    const length = this.u16(`${what} length`);
    const start = this.pos;
    if (length > this.end - start) {
      throw this.malformed(
        `${what} length ${length} exceeds the ${this.end - start} bytes left`,
        this.layoutSpec,
      );
    }
    this.pos = start + length;
    return this.bytes.slice(start, start + length);
  }

  /**
   * Read an MQTT 5 property block: the Property Length and the properties (v5 §2.2.2).
   *
   * @param context The packet, or `"will"`.
   * @returns The properties, or `undefined` when there are none.
   */
  properties(context: PropertyContext): Properties | undefined {
    const bytes = this.bytes;
    let length = this.pos < this.end ? bytes[this.pos]! : 0x80;
    if (length < 0x80) this.pos++;
    else length = this.varint("property length");
    if (length === 0) return undefined;
    const end = this.pos + length;
    const outerEnd = this.end;
    if (end > outerEnd) {
      throw this.malformed(
        `property length ${length} exceeds the ${outerEnd - this.pos} bytes left`,
        this.layoutSpec,
      );
    }
    this.end = end;
    const props: Properties = {};
    const fields = props as Record<string, unknown>;
    const table = BY_ID[context];
    // The identifiers seen so far, as bits (every identifier is below 64)
    let seenLow = 0;
    let seenHigh = 0;
    while (this.pos < end) {
      // Every identifier defined is below 0x80: a one-byte Variable Byte Integer
      const first = bytes[this.pos]!;
      let id = first;
      if (first < 0x80) this.pos++;
      else id = this.varint("property identifier");
      const info = table[id];
      if (info === undefined) {
        // 2.2.2.2: an identifier not valid for the packet is a Malformed Packet
        throw this.malformed(
          KNOWN_PROPERTIES.has(id)
            ? `property ${KNOWN_PROPERTIES.get(id)} (${hex(id)}) is not allowed in ${
              context === "will" ? "will properties" : this.name
            }`
            : `property identifier ${hex(id)} is unknown`,
          "§2.2.2.2",
        );
      }
      const name = info.name;
      let value: number | string | boolean | Uint8Array | UserProperty;
      switch (info.type) {
        case "byte":
          value = this.u8(name);
          break;
        case "uint16":
          value = this.u16(name);
          break;
        case "uint32":
          value = this.u32(name);
          break;
        case "varint":
          value = this.varint(name);
          break;
        case "utf8":
          value = this.#memoString(this.#propertyMemos[id] ??= new Memo(), name);
          break;
        case "binary":
          value = this.binary(name);
          break;
        default:
          // 1.5.7: both strings of a pair follow the rules of 1.5.4 [MQTT-1.5.7-1]
          value = [this.string("user property name"), this.string("user property value")];
      }
      if (info.repeatable) {
        if (typeof value === "number") {
          // 0x0B in PUBLISH: 3.3.2.3.8, 0 is a Protocol Error
          if (value === 0) throw this.protocolError(`${name} contains 0`, "§3.3.2.3.8");
          const list = props.subscriptionIdentifiers;
          if (list === undefined) props.subscriptionIdentifiers = [value];
          else list.push(value);
        } else {
          const list = props.userProperties;
          if (list === undefined) props.userProperties = [value as UserProperty];
          else list.push(value as UserProperty);
        }
        continue;
      }
      const bit = 1 << (id & 31);
      if (((id < 32 ? seenLow : seenHigh) & bit) !== 0) {
        throw this.protocolError(`property ${name} is repeated`, propertySpec(context, id));
      }
      if (id < 32) seenLow |= bit;
      else seenHigh |= bit;
      if (typeof value === "number") value = this.#checkValue(context, id, name, value);
      else if (id === 0x08) this.#checkResponseTopic(value as string);
      fields[name] = value;
    }
    this.end = outerEnd;
    // 3.1.2.11.10 (and 3.2.2.3.18, 3.15.2.2.3): data without a method is a Protocol Error
    if ((seenLow & (1 << 0x16)) !== 0 && (seenLow & (1 << 0x15)) === 0) {
      throw this.protocolError(
        "authentication data is present without an authentication method",
        propertySpec(context, 0x16),
      );
    }
    return props;
  }

  // Range checks of numeric property values; returns the value to store.
  #checkValue(
    context: PropertyContext,
    id: number,
    name: string,
    value: number,
  ): number | boolean {
    switch (id) {
      case 0x01: // payload format indicator
      case 0x24: // maximum QoS
        if (value > 1) {
          throw this.protocolError(`${name} is ${value}, not 0 or 1`, propertySpec(context, id));
        }
        return value;
      case 0x17: // request problem information
      case 0x19: // request response information
      case 0x25: // retain available
      case 0x28: // wildcard subscription available
      case 0x29: // subscription identifiers available
      case 0x2a: // shared subscription available
        if (value > 1) {
          throw this.protocolError(`${name} is ${value}, not 0 or 1`, propertySpec(context, id));
        }
        return value === 1;
      case 0x0b: // subscription identifier
      case 0x21: // receive maximum
      case 0x27: // maximum packet size
        if (value === 0) throw this.protocolError(`${name} is 0`, propertySpec(context, id));
        return value;
      case 0x23: // topic alias: 0 is not permitted [MQTT-3.3.2-8], reason code 0x94
        if (value === 0) throw this.protocolError(`${name} is 0`, "MQTT-3.3.2-8", 0x94);
        return value;
      default:
        return value;
    }
  }

  // 3.3.2.3.5: the Response Topic is a Topic Name, without wildcards [MQTT-3.3.2-14]
  #checkResponseTopic(topic: string): void {
    const fault = topicNameFault(topic);
    if (fault === undefined) return;
    throw this.malformed(
      `response topic ${quote(topic)} is not a valid topic name (${fault})`,
      fault === "wildcard-in-name" ? "MQTT-3.3.2-14" : this.topicSpec(fault),
    );
  }

  /**
   * The normative id of a Topic Name or Topic Filter fault, for this packet's version.
   *
   * @param fault The fault from `topic.ts`.
   * @returns The id (3.1.1 numbers the wildcard rules one higher than 5.0).
   */
  topicSpec(fault: TopicFault): string {
    if (!this.v5) {
      if (fault === "wildcard-in-name") return "MQTT-4.7.1-1";
      if (fault === "misplaced-multi-level-wildcard") return "MQTT-4.7.1-2";
      if (fault === "misplaced-single-level-wildcard") return "MQTT-4.7.1-3";
    }
    return topicFaultSpec(fault) ?? "§4.7";
  }

  #short(what: string, size: number): MalformedPacketError {
    const left = this.end - this.pos;
    return this.malformed(
      `${what} needs ${size} ${size === 1 ? "byte" : "bytes"} but ${left} ${
        left === 1 ? "is" : "are"
      } left`,
      this.layoutSpec,
    );
  }

  #utf8Error(what: string, fault: Utf8Fault): MalformedPacketError {
    return fault === Utf8Fault.NullCharacter
      ? this.malformed(
        `${what} contains the null character U+0000`,
        this.spec("MQTT-1.5.4-2", "MQTT-1.5.3-2"),
      )
      : this.malformed(
        `${what} is not well-formed UTF-8`,
        this.spec("MQTT-1.5.4-1", "MQTT-1.5.3-1"),
      );
  }
}

/**
 * Whether a Variable Byte Integer that `readVarint` refused is too long (a continuation bit on
 * its fourth byte) rather than longer than necessary.
 *
 * @param bytes The buffer.
 * @param pos Where the integer starts.
 * @param end The end of the readable bytes.
 * @returns `true` for a fifth byte, `false` for a non-minimal encoding.
 */
export function varintTooLong(bytes: Uint8Array, pos: number, end: number): boolean {
  return end - pos >= 4 &&
    (bytes[pos]! & bytes[pos + 1]! & bytes[pos + 2]! & bytes[pos + 3]! & 0x80) !== 0;
}

/**
 * Quote a string for an error message, shortened so huge inputs do not flood logs.
 *
 * @param s The string.
 * @returns The quoted string.
 */
export function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}

/**
 * A byte as `0x..`, for messages.
 *
 * @param n The number.
 * @returns Its hexadecimal form.
 */
export function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

// The section that defines a property in a context (v5 §3), cited for repeated properties and
// out-of-range values.
function propertySpec(context: PropertyContext, id: number): string {
  const section = SECTIONS[context]?.[id] ?? SECTIONS.any[id];
  return section === undefined ? "§2.2.2.2" : `§${section}`;
}

const SECTIONS: Partial<Record<PropertyContext | "any", Record<number, string>>> & {
  any: Record<number, string>;
} = {
  any: {
    0x01: "3.3.2.3.2",
    0x02: "3.3.2.3.3",
    0x03: "3.3.2.3.9",
    0x08: "3.3.2.3.5",
    0x09: "3.3.2.3.6",
    0x0b: "3.3.2.3.8",
    0x12: "3.2.2.3.7",
    0x13: "3.2.2.3.14",
    0x17: "3.1.2.11.7",
    0x18: "3.1.3.2.2",
    0x19: "3.1.2.11.6",
    0x1a: "3.2.2.3.15",
    0x23: "3.3.2.3.4",
    0x24: "3.2.2.3.4",
    0x25: "3.2.2.3.5",
    0x28: "3.2.2.3.11",
    0x29: "3.2.2.3.12",
    0x2a: "3.2.2.3.13",
  },
  will: {
    0x01: "3.1.3.2.3",
    0x02: "3.1.3.2.4",
    0x03: "3.1.3.2.5",
    0x08: "3.1.3.2.6",
    0x09: "3.1.3.2.7",
  },
  connect: {
    0x11: "3.1.2.11.2",
    0x15: "3.1.2.11.9",
    0x16: "3.1.2.11.10",
    0x21: "3.1.2.11.3",
    0x22: "3.1.2.11.5",
    0x27: "3.1.2.11.4",
  },
  connack: {
    0x11: "3.2.2.3.2",
    0x15: "3.2.2.3.17",
    0x16: "3.2.2.3.18",
    0x1c: "3.2.2.3.16",
    0x1f: "3.2.2.3.9",
    0x21: "3.2.2.3.3",
    0x22: "3.2.2.3.8",
    0x27: "3.2.2.3.6",
  },
  subscribe: { 0x0b: "3.8.2.1.2" },
  puback: { 0x1f: "3.4.2.2.2" },
  pubrec: { 0x1f: "3.5.2.2.2" },
  pubrel: { 0x1f: "3.6.2.2.2" },
  pubcomp: { 0x1f: "3.7.2.2.2" },
  suback: { 0x1f: "3.9.2.1.2" },
  unsuback: { 0x1f: "3.11.2.1.2" },
  disconnect: { 0x11: "3.14.2.2.2", 0x1c: "3.14.2.2.5", 0x1f: "3.14.2.2.3" },
  auth: { 0x15: "3.15.2.2.2", 0x16: "3.15.2.2.3", 0x1f: "3.15.2.2.4" },
};
