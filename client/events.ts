// This module is browser compatible.
/**
 * The events an {@linkcode MqttClient} dispatches (it is an `EventTarget`): `connect`,
 * `disconnect`, `reconnect`, `error` and `close`.
 *
 * @module
 */

import type { ConnackPacket } from "../protocol/packet.ts";

/**
 * `connect`: a CONNACK accepted the connection (the first one, and after each reconnect).
 *
 * @example Create one
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectEvent } from "./events.ts";
 * const event = new ConnectEvent({ type: "connack", sessionPresent: true, reasonCode: 0 });
 * assert.equal(event.type, "connect");
 * assert.equal(event.sessionPresent, true);
 * ```
 */
export class ConnectEvent extends Event {
  /** The CONNACK. */
  readonly connack: ConnackPacket;
  /** Whether the broker resumed the session. */
  readonly sessionPresent: boolean;

  /**
   * Create the event.
   *
   * @param connack The CONNACK.
   */
  constructor(connack: ConnackPacket) {
    super("connect");
    this.connack = connack;
    this.sessionPresent = connack.sessionPresent;
  }
}

/**
 * `disconnect`: an established connection ended, by the broker (`reasonCode` of its MQTT 5
 * DISCONNECT), a network failure or a protocol fault (`error`), or `end()`.
 *
 * @example Create one
 * ```ts
 * import assert from "node:assert/strict";
 * import { DisconnectEvent } from "./events.ts";
 * const event = new DisconnectEvent({ reasonCode: 0x8b });
 * assert.equal(event.reasonCode, 0x8b);
 * ```
 */
export class DisconnectEvent extends Event {
  /** The reason code of the DISCONNECT (sent or received), when there was one. */
  readonly reasonCode: number | undefined;
  /** What ended the connection, when it was not a normal disconnect. */
  readonly error: Error | undefined;

  /**
   * Create the event.
   *
   * @param init The reason code and error.
   */
  constructor(init: { reasonCode?: number; error?: Error } = {}) {
    super("disconnect");
    this.reasonCode = init.reasonCode;
    this.error = init.error;
  }
}

/**
 * `reconnect`: a reconnection attempt is scheduled after `delay` ms (exponential backoff
 * with full jitter).
 *
 * @example Create one
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReconnectEvent } from "./events.ts";
 * const event = new ReconnectEvent(2, 750);
 * assert.equal(event.attempt, 2);
 * ```
 */
export class ReconnectEvent extends Event {
  /** The attempt number, from 1. */
  readonly attempt: number;
  /** Milliseconds until the attempt. */
  readonly delay: number;

  /**
   * Create the event.
   *
   * @param attempt The attempt number.
   * @param delay The delay in ms.
   */
  constructor(attempt: number, delay: number) {
    super("reconnect");
    this.attempt = attempt;
    this.delay = delay;
  }
}

/**
 * `error`: something failed that no promise reports: a connection attempt while
 * reconnecting, a resubscription, a message callback that threw, the store.
 *
 * @example Create one
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClientErrorEvent } from "./events.ts";
 * const event = new ClientErrorEvent(new Error("boom"));
 * assert.equal(event.type, "error");
 * ```
 */
export class ClientErrorEvent extends Event {
  /** The error. */
  readonly error: Error;

  /**
   * Create the event.
   *
   * @param error The error.
   */
  constructor(error: Error) {
    super("error");
    this.error = error;
  }
}

/**
 * `close`: the client is closed for good (after `end()`, an abort, or giving up
 * reconnecting); `error` says why when it was not `end()`.
 *
 * @example Create one
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClientCloseEvent } from "./events.ts";
 * assert.equal(new ClientCloseEvent().error, undefined);
 * ```
 */
export class ClientCloseEvent extends Event {
  /** Why the client closed, `undefined` after `end()`. */
  readonly error: Error | undefined;

  /**
   * Create the event.
   *
   * @param error Why it closed.
   */
  constructor(error?: Error) {
    super("close");
    this.error = error;
  }
}

/** The events of an {@linkcode MqttClient}, by type. */
export interface MqttClientEventMap {
  /** Connected (CONNACK accepted). */
  connect: ConnectEvent;
  /** An established connection ended. */
  disconnect: DisconnectEvent;
  /** A reconnection attempt is scheduled. */
  reconnect: ReconnectEvent;
  /** A failure no promise reports. */
  error: ClientErrorEvent;
  /** Closed for good. */
  close: ClientCloseEvent;
}
