// This module is browser compatible.
/**
 * The streaming decoder of a client: {@linkcode Decoder} with `side: "client"`, reduced to
 * the packets a server sends.
 *
 * @module
 */

import type { MqttError } from "./errors.ts";
import type { Packet, ProtocolVersion } from "./packet.ts";
import { type BodyDecoders, FrameDecoder } from "./_framing.ts";
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

/** Options for a {@linkcode ClientDecoder}. */
export interface ClientDecoderOptions {
  /** The protocol version of the connection, which the client chose in its CONNECT. */
  protocolVersion: ProtocolVersion;
  /**
   * The largest packet accepted, counting the fixed header, from 2 to `MAX_PACKET_SIZE`
   * (the default). A larger one is refused with reason code 0x95 (Packet too large) before
   * its body is buffered.
   */
  maximumPacketSize?: number;
  /**
   * Whether PUBLISH payloads are copied out of the pushed chunk. Default `true`; see
   * `DecoderOptions.copyPayloads` for what `false` means.
   */
  copyPayloads?: boolean;
}

// The packets a server sends (v5 §2.1.2 Table 2-1), indexed by type. CONNECT, SUBSCRIBE,
// UNSUBSCRIBE and PINGREQ have none, so they are refused from their fixed header, as by a
// client-side Decoder.
const BODIES: BodyDecoders = [
  undefined,
  undefined,
  decodeConnack,
  decodePublish,
  decodeAck,
  decodeAck,
  decodeAck,
  decodeAck,
  undefined,
  decodeSuback,
  undefined,
  decodeUnsuback,
  undefined,
  decodePingresp,
  decodeDisconnect,
  decodeAuth,
];

/**
 * A streaming decoder of the packets a client receives, for one connection.
 *
 * It decodes exactly as `new Decoder({ side: "client", ... })` does, with the same faults
 * (a packet only a client sends is a {@linkcode ProtocolError}), but it includes only the
 * decoders of the packets a server sends: CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP,
 * SUBACK, UNSUBACK, PINGRESP, DISCONNECT and AUTH. A client bundle that uses it instead of
 * {@linkcode Decoder} leaves the CONNECT, SUBSCRIBE and UNSUBSCRIBE decoders out.
 *
 * Feed it bytes with {@linkcode ClientDecoder.push} and take packets with
 * {@linkcode ClientDecoder.next}. Neither throws on bad input: a fault sets
 * {@linkcode ClientDecoder.error} (once the packets before the fault have been taken), after
 * which the decoder ignores input.
 *
 * @example Decode a CONNACK, and refuse a SUBSCRIBE
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClientDecoder } from "./client_decoder.ts";
 * import { ProtocolError } from "./errors.ts";
 * const decoder = new ClientDecoder({ protocolVersion: 4 });
 * decoder.push(new Uint8Array([0x20, 0x02, 0x00, 0x00, 0x82, 0x06]));
 * assert.deepEqual(decoder.next(), { type: "connack", sessionPresent: false, reasonCode: 0 });
 * assert.equal(decoder.next(), undefined);
 * assert.ok(decoder.error instanceof ProtocolError);
 * assert.equal(decoder.error.reasonCode, 0x82);
 * ```
 */
export class ClientDecoder {
  readonly #frame: FrameDecoder;

  /**
   * Create a client's decoder for one connection.
   *
   * @param options The protocol version and maximum packet size.
   * @throws {RangeError} When an option is out of range or the protocol version is missing.
   */
  constructor(options: ClientDecoderOptions) {
    this.#frame = new FrameDecoder({ ...options, side: "client" }, BODIES);
  }

  /**
   * The protocol version packets are decoded with.
   *
   * @returns The version.
   */
  get protocolVersion(): ProtocolVersion {
    return this.#frame.protocolVersion!;
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
   * @param size From 2 to `MAX_PACKET_SIZE`.
   * @throws {RangeError} When `size` is out of range.
   */
  set maximumPacketSize(size: number) {
    this.#frame.maximumPacketSize = size;
  }

  /**
   * The fault that poisoned the decoder: a `MalformedPacketError` or
   * {@linkcode ProtocolError} whose `reasonCode` is the MQTT 5 reason code to close the
   * connection with and whose `spec` names the rule broken. It appears once every packet
   * decoded before the fault has been taken with {@linkcode ClientDecoder.next}.
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
   * {@linkcode ClientDecoder.error}. Ignored once the decoder has failed. The caller may
   * reuse `chunk` as soon as this returns, unless `copyPayloads` is `false`; see
   * `Decoder.push` for how long payloads stay valid.
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
