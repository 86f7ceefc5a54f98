// This module is browser compatible.
/**
 * The framing shared by {@linkcode Decoder} (`decode.ts`) and {@linkcode ClientDecoder}
 * (`client_decoder.ts`): the fixed header and its checks, the Remaining Length, the maximum
 * packet size, buffering across chunks, the queue of decoded packets, poisoning by the first
 * fault, and the protocol version. The packet bodies are decoded by a table of body decoders
 * indexed by packet type, which each decoder passes in: the client's names only the packets
 * a server sends, so a client bundle leaves the server's body decoders out.
 *
 * @module
 */

import { MalformedPacketError, MqttError, ProtocolError } from "./errors.ts";
import type { Packet, ProtocolVersion } from "./packet.ts";
import { PACKET_NAMES } from "./packet.ts";
import { hex, PacketReader, quote, varintTooLong } from "./_properties_reader.ts";
import { decodePublish } from "./_bodies.ts";
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
 * Decodes the body of one packet from a reader set up by the framing, after the fixed header
 * (whose first byte is `b0`) has been checked; throws a `MalformedPacketError` or
 * `ProtocolError` on a fault.
 */
export type BodyDecoder = (r: PacketReader, b0: number) => Packet;

/**
 * Body decoders indexed by packet type (1 to 15). A type left out is refused from its fixed
 * header as one that flows only the other way (v5 §2.1.2 Table 2-1), so a table without
 * entries must come with a `side`. PUBLISH (3) always goes straight to `decodePublish`.
 */
export type BodyDecoders = readonly (BodyDecoder | undefined)[];

/**
 * The framing of a streaming decoder, for one connection: {@linkcode Decoder} and
 * {@linkcode ClientDecoder} wrap it with their table of body decoders. Its members behave as
 * theirs, documented there.
 */
export class FrameDecoder {
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
  readonly #bodies: BodyDecoders;

  /**
   * Create the framing for one connection.
   *
   * @param options The protocol version, side (already checked) and maximum packet size.
   * @param bodies The body decoders, indexed by packet type.
   * @throws {RangeError} When an option is out of range, or `side` is `"client"` without a
   * `protocolVersion`.
   */
  constructor(options: DecoderOptions, bodies: BodyDecoders) {
    const { protocolVersion, side, maximumPacketSize = MAX_PACKET_SIZE, copyPayloads = true } =
      options;
    if (side === "client" && protocolVersion === undefined) {
      throw new RangeError("Cannot create decoder: a client side needs a protocol version");
    }
    this.#reader.version = checkVersion(protocolVersion);
    this.#side = side;
    this.#maximumPacketSize = checkMaximum(maximumPacketSize);
    if (typeof copyPayloads !== "boolean") {
      throw new TypeError(
        `Cannot create decoder: copyPayloads must be a boolean, got ${typeof copyPayloads}`,
      );
    }
    this.#copyPayloads = copyPayloads;
    this.#reader.side = side;
    this.#bodies = bodies;
  }

  /**
   * The protocol version packets are decoded with; `undefined` until CONNECT on a server.
   *
   * @returns The version, or `undefined`.
   */
  get protocolVersion(): ProtocolVersion | undefined {
    return this.#reader.version;
  }

  /**
   * Set the protocol version used for the next packets.
   *
   * @param version 3, 4 or 5.
   * @throws {RangeError} When the version is not 3, 4 or 5.
   */
  set protocolVersion(version: ProtocolVersion | undefined) {
    this.#reader.version = checkVersion(version);
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
   * The fault that poisoned the decoder, once every packet before it has been taken.
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
   * Feed bytes from the connection; faults go to `error`.
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
    const version = this.#reader.version;
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
    }
    // A side has no body decoder for the packets that only flow the other way
    if (this.#bodies[type] === undefined) throw wrongDirection(name, side as DecoderSide, v5);
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
    const r = this.#reader;
    // The reader holds the protocol version, so CONNECT adopts its own as soon as it is read
    // and understood, even when a later field is faulty
    const version = r.version;
    r.reset(
      bytes,
      p,
      start + total,
      version !== 3 && version !== 4,
      NAMES[type],
      LAYOUT_SPEC[type],
    );
    // PUBLISH, the hot path, as a direct call the JIT can inline
    const packet = type === PUBLISH ? decodePublish(r, b0) : this.#bodies[type]!(r, b0);
    if (type === CONNECT) this.#connectSeen = true;
    this.#queue.push(packet);
  }
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
