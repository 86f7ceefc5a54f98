// This module is browser compatible.
/**
 * The streaming MQTT packet decoder (v5 §2 and §3, v3.1.1 §2 and §3).
 *
 * Bytes go in with {@linkcode Decoder.push} in chunks of any size; complete packets come out
 * of {@linkcode Decoder.next}, in the canonical form described in `packet.ts`. The decoder
 * bounds memory: it checks a packet's size against the maximum as soon as the fixed header
 * is complete, before buffering its body, and it keeps only the incomplete tail of a chunk.
 * The first malformed packet or protocol violation poisons it: {@linkcode Decoder.error} holds
 * a {@linkcode MalformedPacketError} or {@linkcode ProtocolError} carrying the MQTT 5 reason
 * code to close the connection with and the normative statement broken (v5 §4.13,
 * v3.1.1 §4.8).
 *
 * @module
 */

import { MalformedPacketError, MqttError, ProtocolError } from "./errors.ts";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from "./packet.ts";
import { PACKET_NAMES } from "./packet.ts";
import { hex, PacketReader, quote, varintTooLong } from "./_properties_reader.ts";
import { copyOf } from "./_pool.ts";
import { isValidReasonCode, type ReasonCodePacket } from "./reason_code.ts";
import { topicFilterFault, topicNameFault } from "./topic.ts";
import { readVarint, VarintStatus } from "./varint.ts";

/**
 * The largest packet MQTT can carry: a fixed header of 5 bytes and a Remaining Length of
 * 268,435,455 (v5 §2.1.4). The default maximum packet size of {@linkcode Decoder}.
 */
export const MAX_PACKET_SIZE = 268_435_460;

/** The end of the connection a {@linkcode Decoder} reads for. */
export type DecoderSide = "server" | "client";

/** Options for a {@linkcode Decoder}. */
export interface DecoderOptions {
  /**
   * The protocol version, when known (a client, or a server after CONNECT). While it is
   * unknown only a CONNECT can be decoded, and decoding one adopts its protocol level.
   * Required when `side` is `"client"`.
   */
  protocolVersion?: ProtocolVersion;
  /**
   * The side that receives the packets. `"server"` requires CONNECT first [MQTT-3.1.0-1] and
   * only once [MQTT-3.1.0-2]; both sides refuse packets that only flow the other way
   * (v5 §2.1.2) and apply their side's rules ([MQTT-3.3.4-6], [MQTT-3.14.2-2]). Default:
   * neither, for tools that read either direction.
   */
  side?: DecoderSide;
  /**
   * The largest packet accepted, counting the fixed header, from 2 to
   * {@linkcode MAX_PACKET_SIZE} (the default). A larger one is refused with reason code 0x95
   * (Packet too large) before its body is buffered.
   */
  maximumPacketSize?: number;
  /**
   * Whether PUBLISH payloads are copied out of the pushed chunk. Default `true`: a payload
   * stays valid however the chunk is reused, and small ones are carved from a shared pool
   * (see {@linkcode Decoder.push}).
   *
   * With `false`, a payload that lies wholly inside the chunk given to
   * {@linkcode Decoder.push} is a view of that chunk (`chunk.subarray()`), as
   * `mqtt-packet`'s parser returns it: no copy, but the payload changes if the caller later
   * overwrites the chunk, and it keeps the whole chunk alive. Use it only when every chunk is
   * a fresh array that is never written again (the Deno adapter, for one, reuses its read
   * buffer). Payloads of packets split across chunks are still copied, and so is every other
   * field.
   *
   * @example Payloads as views of the chunk
   * ```ts
   * import assert from "node:assert/strict";
   * import { Decoder } from "./decode.ts";
   * const decoder = new Decoder({ protocolVersion: 4, copyPayloads: false });
   * const chunk = new Uint8Array([0x30, 0x05, 0x00, 0x01, 0x74, 0x68, 0x69]);
   * decoder.push(chunk);
   * const packet = decoder.next();
   * assert.ok(packet?.type === "publish");
   * assert.equal(packet.payload.buffer, chunk.buffer);
   * assert.deepEqual(packet.payload, new Uint8Array([0x68, 0x69]));
   * ```
   */
  copyPayloads?: boolean;
}

const EMPTY = new Uint8Array(0);
const CONNECT = 1;
const PUBLISH = 3;
const AUTH = 15;

// v5 §2.1.3 Table 2-2 (v3.1.1 §2.2.2 Table 2.2): the flags each packet type requires.
// PUBLISH is checked on its own.
const REQUIRED_FLAGS = [0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];
// The packet-specific restatement of the flag rule, where there is one.
const FLAGS_SPEC: Readonly<Record<number, string>> = {
  6: "MQTT-3.6.1-1",
  8: "MQTT-3.8.1-1",
  10: "MQTT-3.10.1-1",
  14: "MQTT-3.14.1-1",
  15: "MQTT-3.15.1-1",
};
// Packets that flow only from server to client (v5 §2.1.2 Table 2-1): CONNACK, SUBACK,
// UNSUBACK, PINGRESP; and only from client to server: CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ.
const SERVER_TO_CLIENT = [false, false, true, false, false, false, false, false, false, true];
SERVER_TO_CLIENT.push(false, true, false, true, false, false);
const CLIENT_TO_SERVER = [false, true, false, false, false, false, false, false, true, false];
CLIENT_TO_SERVER.push(true, false, true, false, false, false);

const NAMES: readonly string[] = PACKET_NAMES.map((n) => n?.toUpperCase() ?? "packet");
// Fields that do not fit the Remaining Length: for CONNECT [MQTT-3.1.4-1], otherwise the
// packet's section (the same numbers in v5 and v3.1.1).
const LAYOUT_SPEC: readonly string[] = PACKET_NAMES.map((_, type) =>
  type === CONNECT ? "MQTT-3.1.4-1" : `§3.${type}`
);

// Buffers above this size are dropped once their packet is decoded, so one large packet does
// not pin memory for the life of the connection.
const RETAIN_LIMIT = 65_536;

/**
 * A streaming decoder of MQTT packets, for one connection.
 *
 * Feed it bytes with {@linkcode Decoder.push} and take packets with {@linkcode Decoder.next}.
 * Neither throws on bad input: a fault sets {@linkcode Decoder.error} (once the packets
 * before the fault have been taken), after which the decoder ignores input.
 *
 * @example Decode a PINGREQ and a PUBLISH split across chunks
 * ```ts
 * import assert from "node:assert/strict";
 * import { Decoder } from "./decode.ts";
 * const decoder = new Decoder({ protocolVersion: 4 });
 * decoder.push(new Uint8Array([0xc0, 0x00, 0x30, 0x04, 0x00]));
 * assert.deepEqual(decoder.next(), { type: "pingreq" });
 * assert.equal(decoder.next(), undefined);
 * decoder.push(new Uint8Array([0x01, 0x74, 0x68]));
 * const publish = decoder.next();
 * assert.equal(publish?.type === "publish" && publish.topic, "t");
 * assert.equal(decoder.error, undefined);
 * ```
 *
 * @example A malformed packet poisons the decoder
 * ```ts
 * import assert from "node:assert/strict";
 * import { Decoder } from "./decode.ts";
 * import { MalformedPacketError } from "./errors.ts";
 * const decoder = new Decoder({ protocolVersion: 5 });
 * decoder.push(new Uint8Array([0x36, 0x00])); // PUBLISH with both QoS bits set
 * assert.ok(decoder.error instanceof MalformedPacketError);
 * assert.equal(decoder.error.reasonCode, 0x81);
 * assert.equal(decoder.error.spec, "MQTT-3.3.1-4");
 * decoder.push(new Uint8Array([0xc0, 0x00]));
 * assert.equal(decoder.next(), undefined);
 * ```
 */
export class Decoder {
  #version: ProtocolVersion | undefined;
  readonly #side: DecoderSide | undefined;
  #maximumPacketSize: number;
  #connectSeen = false;
  // Decoded packets not yet taken; #head is the next one.
  readonly #queue: (Packet | undefined)[] = [];
  #head = 0;
  #fault: MqttError | undefined = undefined;
  // The incomplete packet: #len bytes in #buf, #need its total size (0 while the fixed header
  // is incomplete).
  #buf: Uint8Array = EMPTY;
  #len = 0;
  #need = 0;
  readonly #reader = new PacketReader();
  readonly #copyPayloads: boolean;

  /**
   * Create a decoder for one connection.
   *
   * @param options The protocol version, side and maximum packet size.
   * @throws {RangeError} When an option is out of range, or `side` is `"client"` without a
   * `protocolVersion`.
   */
  constructor(options: DecoderOptions = {}) {
    const { protocolVersion, side, maximumPacketSize = MAX_PACKET_SIZE, copyPayloads = true } =
      options;
    if (side !== undefined && side !== "server" && side !== "client") {
      throw new RangeError(
        `Cannot create decoder: side ${quote(String(side))} is not "server" or "client"`,
      );
    }
    if (side === "client" && protocolVersion === undefined) {
      throw new RangeError("Cannot create decoder: a client side needs a protocol version");
    }
    this.#version = checkVersion(protocolVersion);
    this.#side = side;
    this.#maximumPacketSize = checkMaximum(maximumPacketSize);
    if (typeof copyPayloads !== "boolean") {
      throw new TypeError(
        `Cannot create decoder: copyPayloads must be a boolean, got ${typeof copyPayloads}`,
      );
    }
    this.#copyPayloads = copyPayloads;
    this.#reader.side = side;
  }

  /**
   * The protocol version packets are decoded with; `undefined` until a server-side decoder
   * has decoded CONNECT. Settable, for a client that learns it late.
   *
   * @returns The version, or `undefined`.
   */
  get protocolVersion(): ProtocolVersion | undefined {
    return this.#version;
  }

  /**
   * Set the protocol version used for the next packets.
   *
   * @param version 3, 4 or 5.
   * @throws {RangeError} When the version is not 3, 4 or 5.
   */
  set protocolVersion(version: ProtocolVersion | undefined) {
    this.#version = checkVersion(version);
  }

  /**
   * The largest packet accepted, fixed header included.
   *
   * @returns The size in bytes.
   */
  get maximumPacketSize(): number {
    return this.#maximumPacketSize;
  }

  /**
   * Change the largest packet accepted; it applies from the next fixed header.
   *
   * @param size From 2 to {@linkcode MAX_PACKET_SIZE}.
   * @throws {RangeError} When `size` is out of range.
   */
  set maximumPacketSize(size: number) {
    this.#maximumPacketSize = checkMaximum(size);
  }

  /**
   * The side this decoder reads for, if set.
   *
   * @returns `"server"`, `"client"` or `undefined`.
   */
  get side(): DecoderSide | undefined {
    return this.#side;
  }

  /**
   * The fault that poisoned the decoder: a {@linkcode MalformedPacketError} or
   * {@linkcode ProtocolError} whose `reasonCode` is the MQTT 5 reason code to close the
   * connection with (0x81, 0x82, 0x84, 0x94, 0x95) and whose `spec` names the rule broken.
   *
   * It appears in stream order: once every packet decoded before the fault has been taken with
   * {@linkcode Decoder.next}.
   *
   * @returns The error, or `undefined`.
   */
  get error(): MqttError | undefined {
    return this.#head < this.#queue.length ? undefined : this.#fault;
  }

  /**
   * The number of bytes held for an incomplete packet.
   *
   * @returns The count.
   */
  get bufferedBytes(): number {
    return this.#len;
  }

  /**
   * Feed bytes from the connection. Never throws on bad input: faults go to
   * {@linkcode Decoder.error}.
   *
   * Complete packets are decoded at once, straight from `chunk`; only the incomplete tail is
   * copied, so the caller may reuse `chunk` as soon as this returns (unless the decoder was
   * created with `copyPayloads: false`). Ignored once the decoder has failed.
   *
   * Decoded payloads never alias `chunk`, each other or anything the decoder reuses, and stay
   * valid for good. Payloads of up to 2 KiB are carved from shared 32 KiB slabs, so one kept
   * payload keeps its slab alive (`payload.buffer` is the slab): code that keeps a few
   * payloads out of many for a long time, such as a retained-message store, should keep
   * `payload.slice()` instead.
   *
   * @param chunk The bytes, of any length.
   * @throws {TypeError} When `chunk` is not a `Uint8Array` (API misuse, not a peer fault).
   */
  push(chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`Cannot push ${typeof chunk}: a Uint8Array is required`);
    }
    if (this.#fault !== undefined) return;
    const n = chunk.length;
    let off = 0;
    try {
      if (this.#len > 0) {
        off = this.#fill(chunk);
        if (this.#need === 0 || this.#len < this.#need) return;
        const buf = this.#buf;
        const need = this.#need;
        this.#len = 0;
        this.#need = 0;
        if (buf.length > RETAIN_LIMIT) this.#buf = EMPTY;
        // The decoder's own buffer is reused: payloads are always copied out of it
        this.#reader.viewPayloads = false;
        this.#decode(buf, 0, need);
      }
      this.#reader.viewPayloads = !this.#copyPayloads;
      while (off < n) {
        const total = this.#header(chunk, off, n);
        if (total === 0 || total > n - off) {
          this.#keep(chunk, off, total);
          return;
        }
        this.#decode(chunk, off, total);
        off += total;
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  /**
   * Take the next decoded packet.
   *
   * @returns The packet, or `undefined` when more bytes are needed or the decoder has failed.
   */
  next(): Packet | undefined {
    const queue = this.#queue;
    const head = this.#head;
    if (head >= queue.length) return undefined;
    const packet = queue[head];
    if (head + 1 === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else {
      queue[head] = undefined;
      this.#head = head + 1;
    }
    return packet;
  }

  // Copy the incomplete packet at chunk[off..] (total bytes long, 0 when unknown).
  #keep(chunk: Uint8Array, off: number, total: number): void {
    const tail = chunk.length - off;
    const size = total === 0 ? 8 : Math.min(total, Math.max(tail, 256));
    if (this.#buf.length < size) this.#buf = new Uint8Array(size);
    this.#buf.set(chunk.subarray(off), 0);
    this.#len = tail;
    this.#need = total;
  }

  // Add the start of chunk to the incomplete packet; returns the bytes of chunk used.
  #fill(chunk: Uint8Array): number {
    const n = chunk.length;
    let off = 0;
    if (this.#need === 0) {
      // The fixed header is at most 5 bytes, and #keep left room for 8
      while (off < n) {
        this.#buf[this.#len++] = chunk[off++]!;
        const total = this.#header(this.#buf, 0, this.#len);
        if (total !== 0) {
          this.#need = total;
          break;
        }
      }
      if (this.#need === 0) return off;
    }
    const take = Math.min(this.#need - this.#len, n - off);
    const size = this.#len + take;
    if (this.#buf.length < size) {
      // Grow geometrically but never past the packet, so memory follows the bytes received
      const grown = new Uint8Array(Math.min(this.#need, Math.max(size, this.#buf.length * 2)));
      grown.set(this.#buf.subarray(0, this.#len), 0);
      this.#buf = grown;
    }
    this.#buf.set(chunk.subarray(off, off + take), this.#len);
    this.#len = size;
    return off + take;
  }

  #fail(e: unknown): void {
    this.#fault = e instanceof MqttError
      ? e
      : new MalformedPacketError(`Cannot decode packet: ${String(e)}`, { cause: e });
    this.#buf = EMPTY;
    this.#len = 0;
    this.#need = 0;
  }

  // Check the fixed header at bytes[off..end): returns the packet's total size, or 0 when the
  // Remaining Length is incomplete. Everything the first byte can tell is checked at once.
  #header(bytes: Uint8Array, off: number, end: number): number {
    const b0 = bytes[off]!;
    const type = b0 >> 4;
    const flags = b0 & 0x0f;
    const version = this.#version;
    const v5 = version !== 3 && version !== 4;
    if (type === 0) {
      // 2.1.2 Table 2-1 (v3.1.1 2.2.1 Table 2.1): 0 is reserved
      throw new MalformedPacketError("Cannot decode packet: packet type 0 is reserved", {
        spec: v5 ? "§2.1.2" : "§2.2.1",
      });
    }
    const name = NAMES[type]!;
    const side = this.#side;
    if (side === "server") {
      if (!this.#connectSeen && type !== CONNECT) {
        throw new ProtocolError(`Cannot decode ${name}: the first packet must be CONNECT`, {
          spec: "MQTT-3.1.0-1",
        });
      }
      if (this.#connectSeen && type === CONNECT) {
        throw new ProtocolError("Cannot decode CONNECT: a second CONNECT is a protocol error", {
          spec: "MQTT-3.1.0-2",
        });
      }
      if (SERVER_TO_CLIENT[type]) throw wrongDirection(name, "server", v5);
    } else if (side === "client" && CLIENT_TO_SERVER[type]) {
      throw wrongDirection(name, "client", v5);
    }
    if (version === undefined && type !== CONNECT) {
      throw new ProtocolError(
        `Cannot decode ${name}: the protocol version is unknown until CONNECT`,
        { spec: "MQTT-3.1.0-1" },
      );
    }
    if (type === AUTH && !v5) {
      // v3.1.1 2.2.1 Table 2.1: 15 is reserved
      throw new MalformedPacketError(
        `Cannot decode packet: packet type 15 is reserved in MQTT ${
          version === 3 ? "3.1" : "3.1.1"
        }`,
        { spec: "§2.2.1" },
      );
    }
    if (type === PUBLISH) {
      const qos = (flags >> 1) & 3;
      if (qos === 3) {
        // 3.3.1.2: both QoS bits set is a Malformed Packet [MQTT-3.3.1-4]
        throw new MalformedPacketError("Cannot decode PUBLISH: both QoS bits are set", {
          spec: "MQTT-3.3.1-4",
        });
      }
      if (qos === 0 && (flags & 8) !== 0) {
        // 3.3.1.1: DUP must be 0 for QoS 0 [MQTT-3.3.1-2]
        throw new MalformedPacketError("Cannot decode PUBLISH: DUP is set on a QoS 0 message", {
          spec: "MQTT-3.3.1-2",
        });
      }
    } else if (
      flags !== REQUIRED_FLAGS[type] &&
      // MQTT 3.1 let PUBREL, SUBSCRIBE and UNSUBSCRIBE carry DUP on a retry
      !(version === 3 && REQUIRED_FLAGS[type] === 2 && flags === 0x0a)
    ) {
      // 2.1.3: reserved flags must have the listed values [MQTT-2.1.3-1] (v3.1.1 [MQTT-2.2.2-2])
      throw new MalformedPacketError(
        `Cannot decode ${name}: fixed header flags ${hex(flags)} are not ${
          hex(REQUIRED_FLAGS[type]!)
        }`,
        { spec: FLAGS_SPEC[type] ?? (v5 ? "MQTT-2.1.3-1" : "MQTT-2.2.2-2") },
      );
    }
    const remaining = readVarint(bytes, off + 1, end);
    if (remaining < 0) {
      if (remaining === VarintStatus.Incomplete) return 0;
      // 1.5.5 (v3.1.1 2.2.3): at most four bytes, in the shortest form [MQTT-1.5.5-1]
      const tooLong = varintTooLong(bytes, off + 1, end);
      throw new MalformedPacketError(
        `Cannot decode ${name}: the remaining length ${
          tooLong ? "is longer than 4 bytes" : "does not use the shortest encoding"
        }`,
        { spec: !v5 ? "§2.2.3" : tooLong ? "§1.5.5" : "MQTT-1.5.5-1" },
      );
    }
    const total = 2 + remaining +
      (remaining < 128 ? 0 : remaining < 16_384 ? 1 : remaining < 2_097_152 ? 2 : 3);
    if (total > this.#maximumPacketSize) {
      // 3.1.2.11.4 / 3.2.2.3.6: a packet over the receiver's maximum is a Protocol Error with
      // reason code 0x95 [MQTT-3.1.2-24] [MQTT-3.2.2-15]
      throw new ProtocolError(
        `Cannot decode ${name}: packet size ${total} exceeds the maximum packet size ${this.#maximumPacketSize}`,
        { spec: side === "client" ? "MQTT-3.1.2-24" : "MQTT-3.2.2-15", reasonCode: 0x95 },
      );
    }
    return total;
  }

  // Decode the complete packet at bytes[start..start+total) and queue it.
  #decode(bytes: Uint8Array, start: number, total: number): void {
    const b0 = bytes[start]!;
    const type = b0 >> 4;
    let p = start + 1;
    while ((bytes[p++]! & 0x80) !== 0);
    const version = this.#version;
    const r = this.#reader;
    r.version = version;
    r.reset(
      bytes,
      p,
      start + total,
      version !== 3 && version !== 4,
      NAMES[type],
      LAYOUT_SPEC[type],
    );
    let packet: Packet;
    switch (type) {
      case CONNECT:
        r.connectVersion = undefined;
        try {
          packet = decodeConnect(r);
        } finally {
          if (r.connectVersion !== undefined) this.#version = r.connectVersion;
        }
        this.#connectSeen = true;
        break;
      case 2:
        packet = decodeConnack(r);
        break;
      case PUBLISH:
        packet = decodePublish(r, b0 & 0x0f);
        break;
      case 4:
        packet = decodeAck(r, "puback", "MQTT-3.4.2-1");
        break;
      case 5:
        packet = decodeAck(r, "pubrec", "MQTT-3.5.2-1");
        break;
      case 6:
        packet = decodeAck(r, "pubrel", "MQTT-3.6.2-1");
        break;
      case 7:
        packet = decodeAck(r, "pubcomp", "MQTT-3.7.2-1");
        break;
      case 8:
        packet = decodeSubscribe(r);
        break;
      case 9:
        packet = decodeSuback(r);
        break;
      case 10:
        packet = decodeUnsubscribe(r);
        break;
      case 11:
        packet = decodeUnsuback(r);
        break;
      case 12:
        r.finish();
        packet = { type: "pingreq" };
        break;
      case 13:
        r.finish();
        packet = { type: "pingresp" };
        break;
      case 14:
        packet = decodeDisconnect(r);
        break;
      default:
        packet = decodeAuth(r);
    }
    this.#queue.push(packet);
  }
}

/**
 * Decode exactly one complete packet.
 *
 * @example Decode a CONNACK
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket } from "./decode.ts";
 * const packet = decodePacket(new Uint8Array([0x20, 0x02, 0x01, 0x00]), { protocolVersion: 4 });
 * assert.deepEqual(packet, { type: "connack", sessionPresent: true, reasonCode: 0 });
 * ```
 *
 * @param bytes The packet, fixed header included.
 * @param options As for {@linkcode Decoder}.
 * @returns The packet.
 * @throws {MqttError} A {@linkcode MalformedPacketError} or {@linkcode ProtocolError} when the
 * packet is invalid.
 * @throws {RangeError} When `bytes` holds less or more than one packet.
 */
export function decodePacket(bytes: Uint8Array, options?: DecoderOptions): Packet {
  const decoder = new Decoder(options);
  decoder.push(bytes);
  const packet = decoder.next();
  if (packet === undefined) {
    throw decoder.error ??
      new RangeError(`Cannot decode packet: ${bytes.length} bytes hold no complete packet`);
  }
  if (decoder.next() !== undefined || decoder.bufferedBytes !== 0 || decoder.error) {
    throw new RangeError(`Cannot decode packet: ${bytes.length} bytes hold more than one packet`);
  }
  return packet;
}

function checkVersion(version: ProtocolVersion | undefined): ProtocolVersion | undefined {
  if (version !== undefined && version !== 3 && version !== 4 && version !== 5) {
    throw new RangeError(
      `Cannot set protocol version ${quote(String(version))}: it must be 3, 4 or 5`,
    );
  }
  return version;
}

function checkMaximum(size: number): number {
  if (!(Number.isInteger(size) && size >= 2 && size <= MAX_PACKET_SIZE)) {
    throw new RangeError(
      `Cannot set maximum packet size ${size}: it must be an integer from 2 to ${MAX_PACKET_SIZE}`,
    );
  }
  return size;
}

function wrongDirection(name: string, side: DecoderSide, v5: boolean): ProtocolError {
  // 2.1.2 Table 2-1 (v3.1.1 2.2.1 Table 2.1) gives each packet's direction of flow
  return new ProtocolError(
    `Cannot decode ${name}: a ${side} never receives it`,
    { spec: v5 ? "§2.1.2" : "§2.2.1" },
  );
}

// 3.1: CONNECT
function decodeConnect(r: PacketReader): ConnectPacket {
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
  r.connectVersion = version;
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

// 3.2: CONNACK
function decodeConnack(r: PacketReader): ConnackPacket {
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

// 3.3: PUBLISH, the hot path
function decodePublish(r: PacketReader, flags: number): PublishPacket {
  const qos = ((flags >> 1) & 3) as QoS;
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
  const retain = (flags & 1) !== 0;
  const dup = (flags & 8) !== 0;
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
type PubAckPacket = Extract<Packet, { type: PubAckName }>;

// 3.4 to 3.7: PUBACK, PUBREC, PUBREL, PUBCOMP
function decodeAck(r: PacketReader, type: PubAckName, reasonSpec: string): PubAckPacket {
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
    reasonCode = readReasonCode(r, type, reasonSpec);
    if (r.remaining() !== 0) properties = r.properties(type);
    r.finish();
  }
  const packet: PubAckPacket = { type, packetId, reasonCode };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

// 3.8: SUBSCRIBE
function decodeSubscribe(r: PacketReader): SubscribePacket {
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

// 3.9: SUBACK
function decodeSuback(r: PacketReader): SubackPacket {
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

// 3.10: UNSUBSCRIBE
function decodeUnsubscribe(r: PacketReader): UnsubscribePacket {
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

// 3.11: UNSUBACK
function decodeUnsuback(r: PacketReader): UnsubackPacket {
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

// 3.14: DISCONNECT
function decodeDisconnect(r: PacketReader): DisconnectPacket {
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

// 3.15: AUTH (MQTT 5 only; the header check refuses type 15 on 3.x)
function decodeAuth(r: PacketReader): AuthPacket {
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

function readReasonCode(r: PacketReader, type: ReasonCodePacket, spec: string): number {
  const code = r.u8("reason code");
  if (!isValidReasonCode(type, code)) {
    throw r.malformed(`reason code ${hex(code)} is not valid in ${r.name}`, spec);
  }
  return code;
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

function zeroPacketId(r: PacketReader, v5: string, v4: string): ProtocolError {
  return r.protocolError("the packet identifier is 0", r.spec(v5, v4));
}
