// This module is browser compatible.
/**
 * The client for browsers: the same API as `client/mod.ts`, with `connect()` limited to
 * `ws:`/`wss:` URLs (or a `transport`). It never imports a runtime's TCP adapter, so a
 * bundle of it holds only the WebSocket path.
 *
 * @example Connect over WebSocket
 * ```ts ignore
 * import { connect } from "./browser.ts";
 * const client = await connect("wss://broker.example/mqtt");
 * await client.publish("hello", "from the browser");
 * await client.end();
 * ```
 *
 * @module
 */

import type { MqttClient } from "./client.ts";
import { connectWith } from "./_connect.ts";
import type { ClientOptions } from "./options.ts";

export * from "./client.ts";
export * from "./errors.ts";
export * from "./events.ts";
export * from "./options.ts";
export * from "./store.ts";
export * from "./subscription.ts";
export { MqttError } from "../protocol/errors.ts";
export type {
  AuthPacket,
  ConnackPacket,
  ProtocolVersion,
  PublishPacket,
  QoS,
} from "../protocol/packet.ts";
export type { Properties, UserProperty } from "../protocol/properties.ts";
export type * from "../socket/types.ts";

/**
 * Connect to an MQTT broker over WebSocket (`ws:` or `wss:`), or over `options.transport`.
 *
 * @example Other schemes are refused here
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "./browser.ts";
 * await assert.rejects(connect("mqtt://localhost"), TypeError);
 * ```
 *
 * @param url A `ws:` or `wss:` URL.
 * @param options Client options.
 * @returns The connected client.
 */
export function connect(url: string | URL, options: ClientOptions = {}): Promise<MqttClient> {
  return connectWith(url, options, undefined);
}
