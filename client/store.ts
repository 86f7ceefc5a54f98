// This module is browser compatible.
/**
 * Where the client keeps the in-flight state of its MQTT session (outgoing QoS 1 and 2
 * messages not yet acknowledged, incoming QoS 2 packet ids not yet released), so a new
 * process with the same client id can resume the session where an earlier one stopped.
 *
 * @module
 */

import type { ClientSessionSnapshot, InflightPublish } from "../protocol/client_session.ts";
import type { PublishPacket } from "../protocol/packet.ts";

export type {
  ClientSessionSnapshot,
  InflightPublish,
  OutgoingPhase,
} from "../protocol/client_session.ts";

/**
 * Storage for the in-flight state of one client's session (one store per client id: packet
 * ids are its keys). The client calls the methods in the order the state changes, each
 * before the packet that makes the change is written:
 *
 * - `putOutgoing(packet)`: a QoS 1 or 2 PUBLISH is written for the first time.
 * - `releaseOutgoing(id)`: PUBREC arrived for it and PUBREL is written (may repeat).
 * - `deleteOutgoing(id)`: PUBACK, PUBCOMP or a refusal ended its flow, or the broker lost
 *   the session and the message was complete (past PUBREC) or failed.
 * - `putIncoming(id)`: PUBREC is written for an incoming QoS 2 PUBLISH (may repeat).
 * - `deleteIncoming(id)`: PUBCOMP is written for it, or the broker lost the session.
 * - `load()`: once, when a client starts, before it connects.
 *
 * `load()` returns what the calls so far leave: outgoing messages in the order first put
 * (a put for an id already stored replaces it in place), each awaiting PUBACK (QoS 1),
 * PUBREC (QoS 2) or PUBCOMP (after `releaseOutgoing`), and the incoming ids. Deletes and
 * releases may name ids that are not stored: ignore them. Messages the client has not
 * written yet (the offline queue, or beyond the broker's receive maximum) are never stored.
 *
 * **Durability.** Methods may return promises. The client never calls the store again
 * before the previous call's promise settles, and writes nothing more to the network
 * until every call made so far has settled: so when `putOutgoing` resolves after the data
 * is durable, the PUBLISH is not sent before it is stored, PUBREL not before
 * `releaseOutgoing` is durable and PUBREC not before `putIncoming` is. A synchronous store
 * (returning `undefined`) costs nothing. A call that throws or rejects is reported as an
 * `error` event and the client goes on; `end()` waits for pending calls. What remains
 * unavoidable: an incoming QoS 2 message is handed to your code before `putIncoming`, so a
 * crash between the two delivers it again after a restart (at least once, never lost).
 *
 * **Resuming.** A client started with a store that holds state restores it into its
 * session. When the broker resumes the session (MQTT 5 `clean: false` with
 * `sessionExpiryInterval > 0`, or MQTT 3.x `clean: false`), outgoing messages are resent
 * with DUP and their packet id, or PUBREL, so QoS 2 stays exactly once across the restart,
 * and a repeated incoming QoS 2 message with a stored id is not delivered again. When the
 * broker has no session, messages past PUBREC are complete and the others are sent again
 * (at least once). Restored messages have no promise: their outcome is only the store's.
 */
export interface InFlightStore {
  /**
   * Store an outgoing message, waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
   *
   * @param packet The PUBLISH with its `packetId`; do not modify it.
   */
  putOutgoing(packet: PublishPacket): void | Promise<void>;
  /**
   * The outgoing QoS 2 message with this id got PUBREC: it now waits for PUBCOMP.
   *
   * @param packetId The packet id.
   */
  releaseOutgoing(packetId: number): void | Promise<void>;
  /**
   * Forget an outgoing message.
   *
   * @param packetId The packet id.
   */
  deleteOutgoing(packetId: number): void | Promise<void>;
  /**
   * Record an incoming QoS 2 message acknowledged with PUBREC.
   *
   * @param packetId The packet id.
   */
  putIncoming(packetId: number): void | Promise<void>;
  /**
   * Forget an incoming QoS 2 message.
   *
   * @param packetId The packet id.
   */
  deleteIncoming(packetId: number): void | Promise<void>;
  /**
   * Everything stored.
   *
   * @returns The outgoing messages, oldest first, and the incoming ids.
   */
  load(): ClientSessionSnapshot | Promise<ClientSessionSnapshot>;
}

/**
 * The default {@linkcode InFlightStore}: maps in memory, so nothing survives the process.
 * Give one instance to successive clients with the same client id in one process to carry
 * the session state over (a client must not share it with another one that is running).
 *
 * A durable store implements the same six methods over a file, IndexedDB or SQLite,
 * keeping outgoing messages in insertion order (for example with an increasing sequence
 * number, kept when a put replaces an entry), and payloads as bytes.
 *
 * @example Record a QoS 2 flow
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./store.ts";
 * const store = new MemoryStore();
 * const packet = { type: "publish", topic: "t", payload: new Uint8Array(), qos: 2, retain: false, dup: false, packetId: 1 } as const;
 * store.putOutgoing(packet);
 * store.releaseOutgoing(1);
 * store.putIncoming(4);
 * assert.deepEqual(store.load(), { outgoing: [{ packet, awaiting: "pubcomp" }], incoming: [4] });
 * store.deleteOutgoing(1);
 * assert.equal(store.size, 1);
 * ```
 */
export class MemoryStore implements InFlightStore {
  #outgoing = new Map<number, InflightPublish>();
  #incoming = new Set<number>();

  /** How many entries are stored: outgoing messages and incoming ids. */
  get size(): number {
    return this.#outgoing.size + this.#incoming.size;
  }

  /**
   * Store an outgoing message.
   *
   * @param packet The message, with its packet id.
   */
  putOutgoing(packet: PublishPacket): void {
    const awaiting = packet.qos === 1 ? "puback" : "pubrec";
    this.#outgoing.set(packet.packetId!, { packet: { ...packet }, awaiting });
  }

  /**
   * Mark an outgoing QoS 2 message as waiting for PUBCOMP.
   *
   * @param packetId The packet id.
   */
  releaseOutgoing(packetId: number): void {
    const entry = this.#outgoing.get(packetId);
    if (entry !== undefined) entry.awaiting = "pubcomp";
  }

  /**
   * Forget an outgoing message.
   *
   * @param packetId The packet id.
   */
  deleteOutgoing(packetId: number): void {
    this.#outgoing.delete(packetId);
  }

  /**
   * Record an incoming QoS 2 packet id.
   *
   * @param packetId The packet id.
   */
  putIncoming(packetId: number): void {
    this.#incoming.add(packetId);
  }

  /**
   * Forget an incoming QoS 2 packet id.
   *
   * @param packetId The packet id.
   */
  deleteIncoming(packetId: number): void {
    this.#incoming.delete(packetId);
  }

  /**
   * A copy of what is stored.
   *
   * @returns The outgoing messages, oldest first, and the incoming ids.
   */
  load(): ClientSessionSnapshot {
    const outgoing: InflightPublish[] = [];
    for (const { packet, awaiting } of this.#outgoing.values()) {
      outgoing.push({ packet: { ...packet }, awaiting });
    }
    return { outgoing, incoming: [...this.#incoming] };
  }
}
