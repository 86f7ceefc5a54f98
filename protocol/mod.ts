// This module is browser compatible.
/**
 * The sans-IO MQTT core: packet types, the encoder and streaming decoder, properties,
 * reason codes, topic validation and matching, packet-id allocation, and the client and
 * server session state machines. Nothing here touches sockets, timers or the clock: time is
 * an argument, and machines say what to send.
 *
 * @example Encode a PUBLISH and decode it again
 * ```ts
 * import assert from "node:assert/strict";
 * import { Decoder, encodePacket } from "./mod.ts";
 *
 * const bytes = encodePacket({
 *   type: "publish",
 *   topic: "sensors/kitchen",
 *   payload: new TextEncoder().encode("21.5"),
 *   qos: 1,
 *   retain: false,
 *   dup: false,
 *   packetId: 7,
 * }, 5);
 * const decoder = new Decoder({ protocolVersion: 5 });
 * decoder.push(bytes);
 * const packet = decoder.next();
 * assert.equal(packet?.type, "publish");
 * ```
 *
 * @module
 */
export * from "./packet.ts";
export * from "./properties.ts";
export * from "./reason_code.ts";
export * from "./errors.ts";
export * from "./varint.ts";
export * from "./utf8.ts";
export * from "./topic.ts";
export * from "./encode.ts";
export * from "./decode.ts";
export * from "./client_decoder.ts";
export * from "./publish_template.ts";
export * from "./packet_id.ts";
export * from "./client_session.ts";
export * from "./server_session.ts";
