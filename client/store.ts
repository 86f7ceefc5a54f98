// This module is browser compatible.
/**
 * Where the client keeps outgoing QoS 1 and 2 messages until their flow completes, so a
 * new process can send again what an earlier one had not finished.
 *
 * @module
 */

import type { PublishPacket } from "../protocol/packet.ts";

/**
 * Storage for outgoing QoS 1 and 2 messages that are not yet acknowledged. The client
 * calls `put()` when it accepts a message and `delete()` when the flow completes or the
 * broker refuses it; a message whose promise timed out, was aborted or was rejected by
 * `end()` stays stored, because it may still be in flight. When a client starts with a
 * store, it first publishes every stored message again (as new messages, so a QoS 2
 * message from a crashed process is delivered at least once), before anything else.
 *
 * Methods may return promises; the client does not wait for `put()` and `delete()`
 * (failures are reported as `error` events), and waits for `list()` once, at start.
 */
export interface InFlightStore {
  /**
   * Store a message.
   *
   * @param key A key unique within this client's lifetime.
   * @param packet The message (its `packetId` is not meaningful).
   */
  put(key: string, packet: PublishPacket): void | Promise<void>;
  /**
   * Remove a message.
   *
   * @param key The key given to `put()`.
   */
  delete(key: string): void | Promise<void>;
  /**
   * Every stored message with its key, oldest first.
   *
   * @returns The entries.
   */
  list():
    | Iterable<[key: string, packet: PublishPacket]>
    | Promise<Iterable<[key: string, packet: PublishPacket]>>;
}

/**
 * The default {@linkcode InFlightStore}: a `Map` in memory, so nothing survives the
 * process. Share one instance between successive clients of one process to carry messages
 * over.
 *
 * @example Store and list
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./store.ts";
 * const store = new MemoryStore();
 * const packet = { type: "publish", topic: "t", payload: new Uint8Array(), qos: 1, retain: false, dup: false } as const;
 * store.put("a", packet);
 * assert.deepEqual([...store.list()], [["a", packet]]);
 * store.delete("a");
 * assert.equal(store.size, 0);
 * ```
 */
export class MemoryStore implements InFlightStore {
  #entries = new Map<string, PublishPacket>();

  /** How many messages are stored. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Store a message.
   *
   * @param key The key.
   * @param packet The message.
   */
  put(key: string, packet: PublishPacket): void {
    this.#entries.set(key, packet);
  }

  /**
   * Remove a message.
   *
   * @param key The key.
   */
  delete(key: string): void {
    this.#entries.delete(key);
  }

  /**
   * The stored messages, oldest first.
   *
   * @returns A snapshot of the entries.
   */
  list(): Iterable<[string, PublishPacket]> {
    return [...this.#entries];
  }
}
