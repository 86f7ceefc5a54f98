// This module is browser compatible.
/**
 * Small parts shared by the client and server session machines; the QoS flows themselves
 * are in `_receiver.ts` and `_sender.ts`.
 *
 * Spec ids are v5's unless a v3.1.1 id is given.
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import type {
  ProtocolVersion,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
} from "./packet.ts";
import type { Properties } from "./properties.ts";

/**
 * Returned by a delivery callback to acknowledge an incoming QoS 1 or 2 PUBLISH later, with
 * `acknowledge(packetId, reasonCode)` on the session, instead of at once.
 *
 * @example Defer an acknowledgement
 * ```ts
 * import assert from "node:assert/strict";
 * import { ACK_DEFERRED } from "./server_session.ts";
 * assert.equal(ACK_DEFERRED, -1);
 * ```
 */
export const ACK_DEFERRED: -1 = -1;

/** The acknowledgement that ends an outgoing QoS 1 or 2 flow. */
export type PublishAck = PubackPacket | PubrecPacket | PubcompPacket;

/** A packet-level acknowledgement type. */
export type AckType = "puback" | "pubrec" | "pubrel" | "pubcomp";

/** Which side a machine plays; chooses the spec ids of the peer's faults. */
export type Role = "client" | "server";

/**
 * Build an acknowledgement in canonical form: the reason code only on MQTT 5.
 *
 * @param type The packet type.
 * @param packetId The packet identifier.
 * @param version The protocol version.
 * @param reasonCode The MQTT 5 reason code.
 * @returns The packet.
 */
export function ackPacket(
  type: AckType,
  packetId: number,
  version: ProtocolVersion,
  reasonCode = 0,
): PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket {
  return version === 5 ? { type, packetId, reasonCode } : { type, packetId };
}

/**
 * Properties without `topicAlias`, or `undefined` when nothing else is left.
 *
 * @param properties The properties.
 * @returns The copy.
 */
export function withoutTopicAlias(properties: Properties): Properties | undefined {
  const { topicAlias: _, ...rest } = properties;
  for (const _key in rest) return rest;
  return undefined;
}

/**
 * A copy of a PUBLISH with a replaced `properties` field, keeping canonical form.
 *
 * @param packet The packet.
 * @param properties The new properties, or `undefined` for none.
 * @returns The copy.
 */
export function withProperties(
  packet: PublishPacket,
  properties: Properties | undefined,
): PublishPacket {
  const { properties: _, ...rest } = packet;
  return properties === undefined ? rest : { ...rest, properties };
}

// Shared by every empty Fifo and never written (push replaces it first).
const NO_ITEMS: unknown[] = [];

/** A first-in first-out queue with O(1) amortized push and shift. */
export class Fifo<T> {
  // The shared empty array until the first push: an idle queue allocates nothing.
  #items: (T | undefined)[] = NO_ITEMS as (T | undefined)[];
  #head = 0;

  /** The number of items. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** @param item Append an item. */
  push(item: T): void {
    if (this.#items === NO_ITEMS) this.#items = [item];
    else this.#items.push(item);
  }

  /** The first item, or `undefined`. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /** The first item, removed, or `undefined`. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = NO_ITEMS as (T | undefined)[];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** @param items Put these items, in order, before the current first one. */
  prepend(items: readonly T[]): void {
    if (items.length === 0) return;
    this.#items = [...items, ...this.#items.slice(this.#head)];
    this.#head = 0;
  }

  /** Remove every item. */
  clear(): void {
    this.#items = NO_ITEMS as (T | undefined)[];
    this.#head = 0;
  }

  /** The items, first to last. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i]!;
  }
}

/**
 * Create a {@linkcode ProtocolError}, leaving out absent options.
 *
 * @param message What failed.
 * @param reasonCode The reason code, 0x82 when `undefined`.
 * @param spec The normative id.
 * @returns The error.
 */
export function protocolError(
  message: string,
  reasonCode: number | undefined,
  spec: string | undefined,
): ProtocolError {
  const options: { reasonCode?: number; spec?: string } = {};
  if (reasonCode !== undefined) options.reasonCode = reasonCode;
  if (spec !== undefined) options.spec = spec;
  return new ProtocolError(message, options);
}
