/**
 * The broker's storage interface (ARCHITECTURE.md rule 9): what a durable store keeps so
 * that persistent sessions, their subscriptions and messages, retained messages and delayed
 * wills survive a restart. The SQLite store in `store/sqlite.ts` implements it; a cluster
 * backplane could too.
 *
 * The broker calls {@linkcode BrokerStore.commit} synchronously, at most once per batch of
 * work (a group commit), and acknowledges QoS 1 and 2 PUBLISH packets received in that
 * batch only after it returned.
 *
 * @module
 */

import type { PublishPacket, QoS, Will } from "../protocol/mod.ts";
import type { ServerSessionSnapshot } from "../protocol/server_session.ts";

/** A subscription of a stored session. */
export interface StoredSubscription {
  /** The topic filter, as stored in the broker (with a mount point, `$share/…` included). */
  filter: string;
  /** Granted QoS. */
  qos: QoS;
  /** MQTT 5 no local. */
  noLocal: boolean;
  /** MQTT 5 retain as published. */
  retainAsPublished: boolean;
  /** MQTT 5 subscription identifier, 0 for none. */
  identifier: number;
}

/** One persistent session, as stored. */
export interface StoredSession {
  /** Client identifier. */
  clientId: string;
  /** Messages, QoS 2 state, protocol level and expiry interval. */
  session: ServerSessionSnapshot;
  /** Subscriptions. */
  subscriptions: StoredSubscription[];
  /**
   * When the offline session expires, wall-clock ms; `null` while connected (after a
   * restart its expiry interval counts from the restart) or when it never expires.
   */
  expiresAt: number | null;
  /** User name authorization sees. */
  username?: string;
  /** Mount point of its listener (`""` for none). */
  mount: string;
  /** A will waiting for its delay interval, and when it is due (wall-clock ms). */
  will?: { will: Will; at: number };
}

/** A retained message, as stored. */
export interface StoredRetained {
  /** The message (retain flag set). */
  packet: PublishPacket;
  /** When it was stored, wall-clock ms (its expiry interval counts from here). */
  storedAt: number;
}

/** Everything a store holds, read at start-up. */
export interface StoredState {
  /** Persistent sessions. */
  sessions: StoredSession[];
  /** Retained messages. */
  retained: StoredRetained[];
}

/** Where a stored message is in its flow. */
export type StoredMessageState = "queued" | "puback" | "pubrec" | "pubcomp";

/**
 * One change to a stored session's messages. Each message has a sequence number, unique
 * within its session, that orders the session's messages.
 */
export type StoredMessageChange =
  | {
    op: "put";
    seq: number;
    state: StoredMessageState;
    /** When it was queued, ms (for queued messages). */
    at: number;
    /** The message; for in-flight states with its packet id. */
    packet: PublishPacket;
  }
  | { op: "state"; seq: number; state: StoredMessageState; packetId: number }
  | { op: "delete"; seq: number };

/** How one session changed since the last commit. */
export interface SessionChange {
  /**
   * Replace everything stored for the session: its messages get sequence numbers 0, 1, …
   * in order, in-flight ones first, then queued ones.
   */
  replace?: StoredSession;
  /** Otherwise: its other state when that changed (its `session` messages are ignored). */
  meta?: StoredSession;
  /** And the changes to its messages, in order. */
  messages: StoredMessageChange[];
}

/** What changed since the last commit. `null` deletes. */
export interface StoreChanges {
  /** Sessions by client id. */
  sessions: Map<string, SessionChange | null>;
  /** Retained messages by topic. */
  retained: Map<string, StoredRetained | null>;
}

/** A durable store for the broker. */
export interface BrokerStore {
  /** Where the data lives, for log lines (e.g. the file path). */
  readonly location: string;
  /** Read everything stored. Throws when the store is unreadable or corrupt. */
  load(): StoredState;
  /** Write the changes atomically and durably (as the store's sync setting says). */
  commit(changes: StoreChanges): void;
  /** Close the store. */
  close(): void;
}
