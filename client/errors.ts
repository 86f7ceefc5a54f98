// This module is browser compatible.
/**
 * Errors of the client. Connection problems are their own classes (`ConnectionClosedError`,
 * `ConnectionFailedError`, `TimeoutError`, `NotConnectedError`, `QueueFullError`), each with a `name` and the
 * underlying error as `cause`. Refusals by the broker, and limits it announced that a call
 * would break, are {@linkcode MqttError} subclasses carrying the MQTT 5 reason code.
 *
 * @module
 */

import { MqttError } from "../protocol/errors.ts";

/**
 * The network connection closed, or the client ended, before an operation completed.
 *
 * @example Check the class
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionClosedError } from "./errors.ts";
 * const err = new ConnectionClosedError("Cannot publish: client ended");
 * assert.equal(err.name, "ConnectionClosedError");
 * ```
 */
export class ConnectionClosedError extends Error {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
  }
}

/**
 * The connection could not be opened: the transport failed (host unreachable, connection
 * refused, TLS or WebSocket handshake failed). `cause` is the transport's error.
 *
 * @example Check the class
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionFailedError } from "./errors.ts";
 * const err = new ConnectionFailedError("Cannot connect", { cause: new Error("ECONNREFUSED") });
 * assert.equal(err.name, "ConnectionFailedError");
 * ```
 */
export class ConnectionFailedError extends Error {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionFailedError";
  }
}

/**
 * An operation (connect, publish, subscribe, request, end) did not complete in time.
 *
 * @example Check the class
 * ```ts
 * import assert from "node:assert/strict";
 * import { TimeoutError } from "./errors.ts";
 * assert.equal(new TimeoutError("Cannot connect: no CONNACK in 100 ms").name, "TimeoutError");
 * ```
 */
export class TimeoutError extends Error {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

/**
 * The client is not connected and cannot wait for a connection: it has ended, or it gave
 * up reconnecting.
 *
 * @example Check the class
 * ```ts
 * import assert from "node:assert/strict";
 * import { NotConnectedError } from "./errors.ts";
 * assert.equal(new NotConnectedError("Cannot subscribe: client ended").name, "NotConnectedError");
 * ```
 */
export class NotConnectedError extends Error {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotConnectedError";
  }
}

/**
 * The offline queue is full (its message count or byte limit): the publish was not queued.
 *
 * @example Check the class
 * ```ts
 * import assert from "node:assert/strict";
 * import { QueueFullError } from "./errors.ts";
 * assert.equal(new QueueFullError("Cannot queue publish: 10 messages queued").name, "QueueFullError");
 * ```
 */
export class QueueFullError extends Error {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QueueFullError";
  }
}

/**
 * The broker refused the connection: CONNACK with a reason code of 0x80 or more (MQTT 3.x
 * return codes are mapped to their MQTT 5 equivalents, e.g. 5 becomes 0x87).
 *
 * @example Inspect the reason code
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectRefusedError } from "./errors.ts";
 * import { MqttError } from "../protocol/errors.ts";
 * const err = new ConnectRefusedError("Cannot connect: not authorized", { reasonCode: 0x87 });
 * assert.ok(err instanceof MqttError);
 * assert.equal(err.reasonCode, 0x87);
 * ```
 */
export class ConnectRefusedError extends MqttError {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The reason code and cause.
   */
  constructor(message: string, options: { reasonCode: number; cause?: unknown }) {
    super(message, options);
    this.name = "ConnectRefusedError";
  }
}

/**
 * The broker refused a QoS 1 or 2 message (MQTT 5 PUBACK or PUBREC with a reason code of
 * 0x80 or more), or lost it with its session.
 *
 * @example Inspect the reason code
 * ```ts
 * import assert from "node:assert/strict";
 * import { PublishRefusedError } from "./errors.ts";
 * const err = new PublishRefusedError("Cannot publish: quota exceeded", { reasonCode: 0x97 });
 * assert.equal(err.reasonCode, 0x97);
 * ```
 */
export class PublishRefusedError extends MqttError {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The reason code and cause.
   */
  constructor(message: string, options: { reasonCode: number; cause?: unknown }) {
    super(message, options);
    this.name = "PublishRefusedError";
  }
}

/**
 * The broker refused every topic filter of a SUBSCRIBE, or a filter of an UNSUBSCRIBE.
 * `reasonCode` is the first failure; `reasonCodes` has one code per filter.
 *
 * @example Inspect the reason codes
 * ```ts
 * import assert from "node:assert/strict";
 * import { SubscribeRefusedError } from "./errors.ts";
 * const err = new SubscribeRefusedError("Cannot subscribe: refused", { reasonCodes: [0x87] });
 * assert.equal(err.reasonCode, 0x87);
 * assert.deepEqual(err.reasonCodes, [0x87]);
 * ```
 */
export class SubscribeRefusedError extends MqttError {
  /** The reason code of each topic filter, in order. */
  readonly reasonCodes: readonly number[];

  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The reason code of each filter.
   */
  constructor(message: string, options: { reasonCodes: readonly number[] }) {
    const failed = options.reasonCodes.find((code) => code >= 0x80) ?? 0x80;
    super(message, { reasonCode: failed });
    this.name = "SubscribeRefusedError";
    this.reasonCodes = options.reasonCodes;
  }
}

/**
 * A call would break a limit the broker announced in CONNACK, so nothing was sent: the
 * reason code is the one the broker would have answered with — 0x95 (packet too large),
 * 0x9B (QoS not supported) or 0x9A (retain not supported).
 *
 * @example Inspect the reason code
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerLimitError } from "./errors.ts";
 * const err = new ServerLimitError("Cannot publish: QoS 2 exceeds maximum QoS 1", { reasonCode: 0x9b });
 * assert.equal(err.reasonCode, 0x9b);
 * ```
 */
export class ServerLimitError extends MqttError {
  /**
   * Create an error.
   *
   * @param message What failed.
   * @param options The reason code.
   */
  constructor(message: string, options: { reasonCode: number }) {
    super(message, options);
    this.name = "ServerLimitError";
  }
}
