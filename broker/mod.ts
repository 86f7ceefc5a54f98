/**
 * The mq broker as a library: {@linkcode startBroker} runs an MQTT 3.1, 3.1.1 and 5.0 broker
 * on Deno, Bun or Node and returns a handle with the bound addresses, in-process publish and
 * subscribe, events and `close()`. Options use mosquitto's names (camelCase) and defaults.
 *
 * @example Embed a broker and watch a client's messages
 * ```ts
 * import assert from "node:assert/strict";
 * import { startBroker } from "./mod.ts";
 *
 * const broker = await startBroker({ listeners: [{ hostname: "127.0.0.1", port: 0 }] });
 * const { port } = broker.addresses[0]!;
 * assert.ok(port > 0);
 * const topics: string[] = [];
 * broker.on("publish", (event) => topics.push(event.packet.topic));
 * broker.publish("status", "up", { retain: true });
 * assert.deepEqual(topics, ["status"]);
 * await broker.close();
 * ```
 *
 * @module
 */
export { startBroker } from "./broker.ts";
export * from "./acl_file.ts";
export * from "./config.ts";
export * from "./password_file.ts";
export * from "./password_hash.ts";
export type * from "./store.ts";
export { openSqliteStore, StoreError } from "../store/sqlite.ts";
export type { SqliteStore, SqliteStoreOptions } from "../store/sqlite.ts";
export type * from "./types.ts";
export type {
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  Subscription,
  UserProperty,
} from "../protocol/mod.ts";
export type * from "../socket/types.ts";
