// This module is browser compatible.
/**
 * mq: an MQTT 3.1/3.1.1/5.0 toolkit for Deno, Bun, Node and browsers.
 *
 * Today this entry exports the protocol core (packets, codec, topics, session machines)
 * and the socket contract; the high-level `connect()` client lands with the client
 * library, and the broker is exported from `./broker`.
 *
 * @example Match a topic against a filter
 * ```ts
 * import assert from "node:assert/strict";
 * import { matchTopic } from "./mod.ts";
 *
 * assert.equal(matchTopic("sensors/+/temp", "sensors/kitchen/temp"), true);
 * assert.equal(matchTopic("#", "$SYS/uptime"), false);
 * ```
 *
 * @module
 */
export * from "./protocol/mod.ts";
export type * from "./socket/types.ts";
export { VERSION } from "./version.ts";
