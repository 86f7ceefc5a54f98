// This module is browser compatible.
/**
 * Error classes for protocol faults. API misuse throws the built-in `TypeError` or
 * `RangeError`; a peer that breaks the protocol produces one of these, carrying the MQTT 5
 * reason code to send back and the normative statement it violated.
 *
 * @module
 */

/** Options for constructing an {@linkcode MqttError}. */
export interface MqttErrorOptions {
  /** The MQTT 5 reason code that describes the fault (sent in CONNACK or DISCONNECT). */
  reasonCode: number;
  /** The normative statement id, e.g. `"MQTT-3.3.1-4"`. */
  spec?: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * Base class of MQTT errors: carries a `reasonCode` (MQTT 5, v5 §2.4) and, for protocol
 * violations, the `spec` normative statement id.
 *
 * @example Inspect an error
 * ```ts
 * import assert from "node:assert/strict";
 * import { MqttError } from "./errors.ts";
 * const err = new MqttError("Cannot subscribe: not authorized", { reasonCode: 0x87 });
 * assert.equal(err.reasonCode, 0x87);
 * assert.equal(err.name, "MqttError");
 * ```
 */
export class MqttError extends Error {
  /** The MQTT 5 reason code. */
  readonly reasonCode: number;
  /** The normative statement id, when the error is a protocol violation. */
  readonly spec: string | undefined;

  /**
   * Create an error.
   *
   * @param message What failed, in std style.
   * @param options The reason code, spec id and cause.
   */
  constructor(message: string, options: MqttErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MqttError";
    this.reasonCode = options.reasonCode;
    this.spec = options.spec;
  }
}

/**
 * The peer sent bytes that cannot be parsed as a valid packet (reason code 0x81 unless
 * given, e.g. 0x95 for a packet over the maximum size).
 *
 * @example A malformed packet
 * ```ts
 * import assert from "node:assert/strict";
 * import { MalformedPacketError, MqttError } from "./errors.ts";
 * const err = new MalformedPacketError("Cannot decode PUBLISH: QoS 3", { spec: "MQTT-3.3.1-4" });
 * assert.ok(err instanceof MqttError);
 * assert.equal(err.reasonCode, 0x81);
 * ```
 */
export class MalformedPacketError extends MqttError {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The spec id; the reason code defaults to 0x81 (Malformed Packet).
   */
  constructor(message: string, options: Partial<MqttErrorOptions> = {}) {
    super(message, { ...options, reasonCode: options.reasonCode ?? 0x81 });
    this.name = "MalformedPacketError";
  }
}

/**
 * The peer sent a well-formed packet that breaks the protocol's rules (reason code 0x82
 * unless given, e.g. 0x94 for an invalid topic alias).
 *
 * @example A protocol error
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "./errors.ts";
 * const err = new ProtocolError("Cannot accept CONNECT: already connected", {
 *   spec: "MQTT-3.1.0-2",
 * });
 * assert.equal(err.reasonCode, 0x82);
 * ```
 */
export class ProtocolError extends MqttError {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The spec id; the reason code defaults to 0x82 (Protocol Error).
   */
  constructor(message: string, options: Partial<MqttErrorOptions> = {}) {
    super(message, { ...options, reasonCode: options.reasonCode ?? 0x82 });
    this.name = "ProtocolError";
  }
}
