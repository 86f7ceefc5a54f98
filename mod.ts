/**
 * mq: an MQTT 3.1/3.1.1/5.0 toolkit for Deno, Bun, Node and browsers.
 *
 * This entry exports the client (`connect()`), the protocol core (packets, codec, topics,
 * session machines) and the socket contract. The broker is exported from `./broker`, and a
 * browser-only client entry (WebSocket transports only) from `./browser`.
 *
 * @example Publish and receive through an embedded broker
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "./mod.ts";
 * import { startBroker } from "./broker/mod.ts";
 *
 * const broker = await startBroker({ listeners: [{ hostname: "127.0.0.1", port: 0 }], sysInterval: 0 });
 * const { port } = broker.addresses[0]!;
 * const client = await connect(`mqtt://127.0.0.1:${port}`);
 * const sub = await client.subscribe("greetings/#");
 * await client.publish("greetings/world", "hello", { qos: 1 });
 * for await (const message of sub) {
 *   assert.equal(message.topic, "greetings/world");
 *   break;
 * }
 * await client.end();
 * await broker.close();
 * ```
 *
 * @module
 */
export * from "./client/mod.ts";
export * from "./protocol/mod.ts";
export type * from "./socket/types.ts";
export { VERSION } from "./version.ts";
