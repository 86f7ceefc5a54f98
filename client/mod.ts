/**
 * The MQTT client: `connect(url, options)` returns an {@linkcode MqttClient} that
 * publishes (QoS 0, 1, 2), subscribes with async-iterable subscriptions, makes MQTT 5
 * requests, reconnects with backoff, and never leaves a promise pending. See
 * `docs/client.md`. Browsers import `client/browser.ts` (WebSocket only).
 *
 * @example Publish and receive
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "./mod.ts";
 * import { startBroker } from "../broker/mod.ts";
 *
 * const broker = await startBroker({ listeners: [{ hostname: "127.0.0.1", port: 0 }], sysInterval: 0 });
 * const client = await connect(`mqtt://127.0.0.1:${broker.addresses[0]!.port}`);
 * const sub = await client.subscribe("rooms/+/temp", { qos: 1 });
 * await client.publish("rooms/kitchen/temp", "21.5", { qos: 1 });
 * for await (const message of sub) {
 *   assert.equal(message.topic, "rooms/kitchen/temp");
 *   break;
 * }
 * await client.end();
 * await broker.close();
 * ```
 *
 * @module
 */

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
export { connect } from "./connect.ts";
