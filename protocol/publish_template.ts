// This module is browser compatible.
/**
 * Encode a PUBLISH once and reuse the bytes for every subscriber (fan-out, ARCHITECTURE.md
 * rule 6): only the Packet Identifier, and the DUP flag of a resend, differ between copies.
 *
 * @module
 */

import { encodePacket } from "./encode.ts";
import type { ProtocolVersion, PublishPacket, QoS } from "./packet.ts";

/**
 * The encoded bytes of one PUBLISH, with the Packet Identifier (QoS 1 and 2) patched in place
 * for each recipient.
 *
 * {@linkcode PublishTemplate.withPacketId} changes the shared {@linkcode PublishTemplate.bytes}
 * and returns them, so hand the result to a writer that copies or sends it before the next
 * call (the socket contract allows the caller to reuse bytes after `write()` returns). Keep
 * a copy (`slice()`) for anything that must outlive the next patch, such as an in-flight
 * store.
 *
 * @example Patch a QoS 1 PUBLISH for two subscribers
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePacket } from "./encode.ts";
 * import { PublishTemplate } from "./publish_template.ts";
 * const packet = {
 *   type: "publish",
 *   topic: "a/b",
 *   payload: new Uint8Array([1]),
 *   qos: 1,
 *   retain: false,
 *   dup: false,
 * } as const;
 * const template = PublishTemplate.from(packet, 4);
 * assert.deepEqual(template.withPacketId(7), encodePacket({ ...packet, packetId: 7 }, 4));
 * assert.deepEqual(
 *   template.withPacketId(8, true),
 *   encodePacket({ ...packet, packetId: 8, dup: true }, 4),
 * );
 * ```
 */
export class PublishTemplate {
  /** The encoded packet; for QoS 1 and 2 it holds the id of the last patch. */
  readonly bytes: Uint8Array;
  /** The QoS of the packet. */
  readonly qos: QoS;
  /** The protocol version the bytes are encoded for. */
  readonly version: ProtocolVersion;
  /** Where the two Packet Identifier bytes are, or -1 for QoS 0. */
  readonly packetIdOffset: number;

  /**
   * Wrap bytes produced by {@linkcode PublishTemplate.from}.
   *
   * @param bytes The encoded PUBLISH.
   * @param version The protocol version.
   */
  private constructor(bytes: Uint8Array, version: ProtocolVersion) {
    this.bytes = bytes;
    this.version = version;
    this.qos = ((bytes[0]! >> 1) & 3) as QoS;
    if (this.qos === 0) {
      this.packetIdOffset = -1;
    } else {
      // Skip the fixed header's Remaining Length, then the Topic Name
      let p = 1;
      while (bytes[p]! & 0x80) p++;
      p++;
      this.packetIdOffset = p + 2 + ((bytes[p]! << 8) | bytes[p + 1]!);
    }
  }

  /**
   * Encode a PUBLISH into a template. For QoS 1 and 2 the `packetId` may be left out; every
   * recipient gets its own through {@linkcode PublishTemplate.withPacketId}.
   *
   * @example A QoS 0 template is ready to send
   * ```ts
   * import assert from "node:assert/strict";
   * import { PublishTemplate } from "./publish_template.ts";
   * const template = PublishTemplate.from({
   *   type: "publish",
   *   topic: "t",
   *   payload: new Uint8Array(0),
   *   qos: 0,
   *   retain: true,
   *   dup: false,
   * }, 5);
   * assert.deepEqual(template.bytes, new Uint8Array([0x31, 0x04, 0x00, 0x01, 0x74, 0x00]));
   * assert.equal(template.packetIdOffset, -1);
   * ```
   *
   * @param packet The PUBLISH.
   * @param version The protocol version to encode for.
   * @returns The template.
   * @throws {TypeError} When the packet is malformed or breaks a rule of the protocol.
   * @throws {RangeError} When a value is out of range or the packet is too large.
   */
  static from(packet: PublishPacket, version: ProtocolVersion): PublishTemplate {
    if (packet.type !== "publish") {
      throw new TypeError(
        `Cannot create publish template: packet type ${
          JSON.stringify(packet.type)
        } is not "publish"`,
      );
    }
    const source = packet.qos !== 0 && packet.packetId === undefined
      ? { ...packet, packetId: 1 }
      : packet;
    return new PublishTemplate(encodePacket(source, version), version);
  }

  /**
   * Patch the Packet Identifier and the DUP flag into {@linkcode PublishTemplate.bytes} and
   * return them (the same array, not a copy).
   *
   * @example Resend with DUP set
   * ```ts
   * import assert from "node:assert/strict";
   * import { PublishTemplate } from "./publish_template.ts";
   * const template = PublishTemplate.from({
   *   type: "publish",
   *   topic: "t",
   *   payload: new Uint8Array(0),
   *   qos: 2,
   *   retain: false,
   *   dup: false,
   * }, 4);
   * assert.deepEqual(
   *   template.withPacketId(0x0102, true),
   *   new Uint8Array([0x3c, 0x05, 0x00, 0x01, 0x74, 0x01, 0x02]),
   * );
   * ```
   *
   * @param packetId The Packet Identifier, 1 to 65535.
   * @param dup Whether this is a resend (DUP flag, v5 §3.3.1.1); default `false`.
   * @returns {@linkcode PublishTemplate.bytes}, patched.
   * @throws {TypeError} When the template is QoS 0, which has no Packet Identifier
   * [MQTT-2.2.1-2], or `packetId` is not a number.
   * @throws {RangeError} When `packetId` is not an integer from 1 to 65535.
   */
  withPacketId(packetId: number, dup = false): Uint8Array {
    const at = this.packetIdOffset;
    if (at < 0) {
      throw new TypeError("Cannot set the packet id of a QoS 0 PUBLISH [MQTT-2.2.1-2]");
    }
    if (typeof packetId !== "number") {
      throw new TypeError(`Cannot set packet id: ${typeof packetId} is not a number`);
    }
    if (!(Number.isInteger(packetId) && packetId >= 1 && packetId <= 0xffff)) {
      throw new RangeError(
        `Cannot set packet id ${packetId}: it must be an integer from 1 to 65535`,
      );
    }
    const bytes = this.bytes;
    bytes[0] = dup ? bytes[0]! | 0x08 : bytes[0]! & 0xf7;
    bytes[at] = packetId >>> 8;
    bytes[at + 1] = packetId & 0xff;
    return bytes;
  }
}
