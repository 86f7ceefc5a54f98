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

import type { MqttError } from "./errors.ts";
import type { Packet, ProtocolVersion } from "./packet.ts";
import { quote } from "./_properties_reader.ts";
import {
  type BodyDecoders,
  type DecoderOptions,
  type DecoderSide,
  FrameDecoder,
} from "./_framing.ts";
import {
  decodeAck,
  decodeAuth,
  decodeConnack,
  decodeDisconnect,
  decodePingresp,
  decodePublish,
  decodeSuback,
  decodeUnsuback,
} from "./_bodies.ts";
import {
  decodeConnect,
  decodePingreq,
  decodeSubscribe,
  decodeUnsubscribe,
} from "./_server_bodies.ts";

export { type DecoderOptions, type DecoderSide, MAX_PACKET_SIZE } from "./_framing.ts";

// Every packet type, indexed by its number (v5 §2.1.2 Table 2-1).
const ANY_SIDE: BodyDecoders = [
  undefined,
  decodeConnect,
  decodeConnack,
  decodePublish,
  decodeAck,
  decodeAck,
  decodeAck,
  decodeAck,
  decodeSubscribe,
  decodeSuback,
  decodeUnsubscribe,
  decodeUnsuback,
  decodePingreq,
  decodePingresp,
  decodeDisconnect,
  decodeAuth,
];
// Each side without the packets that flow only the other way: a server never receives
// CONNACK, SUBACK, UNSUBACK or PINGRESP, a client never CONNECT, SUBSCRIBE, UNSUBSCRIBE or
// PINGREQ.
const SERVER_SIDE = without(ANY_SIDE, [2, 9, 11, 13]);
const CLIENT_SIDE = without(ANY_SIDE, [1, 8, 10, 12]);

function without(table: BodyDecoders, types: readonly number[]): BodyDecoders {
  return table.map((decode, type) => types.includes(type) ? undefined : decode);
}

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
  readonly #frame: FrameDecoder;
  readonly #side: DecoderSide | undefined;

  /**
   * Create a decoder for one connection.
   *
   * @param options The protocol version, side and maximum packet size.
   * @throws {RangeError} When an option is out of range, or `side` is `"client"` without a
   * `protocolVersion`.
   */
  constructor(options: DecoderOptions = {}) {
    const side = options.side;
    if (side !== undefined && side !== "server" && side !== "client") {
      throw new RangeError(
        `Cannot create decoder: side ${quote(String(side))} is not "server" or "client"`,
      );
    }
    this.#side = side;
    this.#frame = new FrameDecoder(
      options,
      side === "server" ? SERVER_SIDE : side === "client" ? CLIENT_SIDE : ANY_SIDE,
    );
  }

  /**
   * The protocol version packets are decoded with; `undefined` until a server-side decoder
   * has decoded CONNECT. Settable, for a client that learns it late.
   *
   * @returns The version, or `undefined`.
   */
  get protocolVersion(): ProtocolVersion | undefined {
    return this.#frame.protocolVersion;
  }

  /**
   * Set the protocol version used for the next packets.
   *
   * @param version 3, 4 or 5.
   * @throws {RangeError} When the version is not 3, 4 or 5.
   */
  set protocolVersion(version: ProtocolVersion | undefined) {
    this.#frame.protocolVersion = version;
  }

  /**
   * The largest packet accepted, fixed header included.
   *
   * @returns The size in bytes.
   */
  get maximumPacketSize(): number {
    return this.#frame.maximumPacketSize;
  }

  /**
   * Change the largest packet accepted; it applies from the next fixed header.
   *
   * @param size From 2 to {@linkcode MAX_PACKET_SIZE}.
   * @throws {RangeError} When `size` is out of range.
   */
  set maximumPacketSize(size: number) {
    this.#frame.maximumPacketSize = size;
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
    return this.#frame.error;
  }

  /**
   * The number of bytes held for an incomplete packet.
   *
   * @returns The count.
   */
  get bufferedBytes(): number {
    return this.#frame.bufferedBytes;
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
    this.#frame.push(chunk);
  }

  /**
   * Take the next decoded packet.
   *
   * @returns The packet, or `undefined` when more bytes are needed or the decoder has failed.
   */
  next(): Packet | undefined {
    return this.#frame.next();
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
