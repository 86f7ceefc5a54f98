/**
 * The broker's internal records: sessions, subscriptions, retained messages and counters.
 *
 * @module
 */

import type {
  ConnectPacket,
  ProtocolVersion,
  PublishPacket,
  QoS,
  ServerSession,
  Will,
} from "../protocol/mod.ts";
import type { AuthorizeRequest, BrokerMessageHandler } from "./types.ts";
import type { StoredMessageChange } from "./store.ts";
import type { Connection } from "./_connection.ts";

/** A client's session, online or not. */
export interface ClientRecord {
  /** Client id. */
  readonly clientId: string;
  /** The machine holding the session state (the latest connection's). */
  session: ServerSession;
  /** The live connection, if online. */
  connection: Connection | undefined;
  /** Protocol version of the latest connection. */
  version: ProtocolVersion;
  /** User name authorization sees (the latest connection's). */
  username: string | undefined;
  /** The mount point of the latest connection's listener, `""` for none. */
  mount: string;
  /** The maximum QoS of the latest connection's listener. */
  maxQos: QoS;
  /** The authorization chain of the latest connection's listener, if any. */
  authorize: ((request: AuthorizeRequest) => boolean) | undefined;
  /** When an offline session expires, in ms (Infinity: never). */
  expiresAt: number;
  /** A will waiting for its delay. */
  will: Will | undefined;
  /** When the delayed will is due, in ms. */
  willAt: number;
  /** Messages to this client dropped (full queue, congested socket, too large). */
  dropped: number;
  /** Routing scratch: the publish sequence number this record was last matched for. */
  mark: number;
  /** Routing scratch: the highest QoS of the matching subscriptions. */
  markQos: QoS;
  /** Routing scratch (MQTT 5): whether a matching subscription keeps the retain flag. */
  markRetain: boolean;
  /** Routing scratch (MQTT 5): the identifiers of the matching subscriptions, reused. */
  markIds: number[];
  /** How many of its subscriptions are shared ones (for `$SYS`). */
  shared: number;
  /** With a store: what changed in its stored messages since the last commit. */
  journal?: Journal;
}

/**
 * A persistent session's stored messages, mirrored: each has a sequence number; the queue
 * and in-flight window are followed as the session sends, so a commit writes only what
 * changed.
 */
export interface Journal {
  /** Rewrite everything at the next commit (first store, or the session object changed). */
  full: boolean;
  /** The session object the mirror follows. */
  session: ServerSession;
  /** Subscriptions, will, expiry or incoming QoS 2 state changed. */
  metaDirty: boolean;
  /** The next sequence number. */
  nextSeq: number;
  /** The queued messages' sequence numbers and QoS, in order (from `head`). */
  queue: { seq: number; qos: QoS }[];
  /** Index of the first queued message in `queue`. */
  head: number;
  /** In-flight messages: packet id to sequence number. */
  outgoing: Map<number, number>;
  /** The session's expired-message count already accounted for. */
  expiredSeen: number;
  /** Changes since the last commit, in order. */
  ops: StoredMessageChange[];
}

/** A CONNECT waiting for the authentication hook's decision. */
export interface Admission {
  /** The CONNECT. */
  readonly packet: ConnectPacket;
  /** The client id (assigned for an empty one). */
  readonly clientId: string;
  /** Whether the id was assigned. */
  readonly assigned: boolean;
  /** Server Keep Alive to send (MQTT 5), if capping. */
  readonly serverKeepAlive: number | undefined;
  /** User name for authorization: the CONNECT's, or the one authentication set. */
  username: string | undefined;
}

/** An authentication exchange in progress on a connection (v5 §4.12). */
export interface AuthExchange {
  /** The MQTT 5 Authentication Method, if any. */
  readonly method: string | undefined;
  /** Whether a connected client re-authenticates. */
  readonly reauthenticate: boolean;
  /** The step the hook is deciding, or the one the client's next AUTH starts. */
  step: number;
  /** The hook's state from its last "continue". */
  state: unknown;
  /** Waiting for the client's AUTH 0x18 (false while the hook decides). */
  awaitingClient: boolean;
}

/** A client's subscription (the value stored in the subscription trie). */
export interface ClientSubscription {
  /** The subscriber. */
  readonly record: ClientRecord;
  /** Granted QoS. */
  readonly qos: QoS;
  /** MQTT 5 no local. */
  readonly noLocal: boolean;
  /** MQTT 5 retain as published. */
  readonly retainAsPublished: boolean;
  /** MQTT 5 subscription identifier, 0 when none. */
  readonly identifier: number;
}

/** An in-process subscription. */
export interface LocalSubscription {
  /** Handler. */
  readonly handler: BrokerMessageHandler;
  /** Highest QoS. */
  readonly qos: QoS;
  /** Keep the retain flag of live messages. */
  readonly retainAsPublished: boolean;
}

/** A retained message. */
export interface RetainedMessage {
  /** The message as published (without packet id, alias or subscription ids). */
  readonly packet: PublishPacket;
  /** When it was stored, in ms. */
  readonly storedAt: number;
  /**
   * The MQTT 3.x QoS 0 PUBLISH with retain set, encoded when stored (the packet's payload
   * is a view into it), so that a new subscription's retained messages are copied, not
   * encoded. Absent when the message has properties.
   */
  readonly wire?: Uint8Array;
  /** Set once the topic's retained message was replaced or removed (backlogs skip it). */
  replaced?: boolean;
}

/** The broker's counters. */
export interface Counters {
  /** Packets received. */
  messagesReceived: number;
  /** Packets sent. */
  messagesSent: number;
  /** PUBLISH received. */
  publishReceived: number;
  /** PUBLISH sent. */
  publishSent: number;
  /** Messages dropped. */
  publishDropped: number;
  /** Bytes received. */
  bytesReceived: number;
  /** Bytes sent. */
  bytesSent: number;
  /** Sessions expired. */
  clientsExpired: number;
  /** Most clients connected at once. */
  clientsMaximum: number;
  /** CONNECTs accepted. */
  connections: number;
  /** Sockets accepted. */
  sockets: number;
  /** Sockets closed on accept because of `maxConnections`. */
  refusedConnections: number;
  /** Payload bytes of PUBLISH received. */
  publishBytesReceived: number;
  /** Payload bytes of PUBLISH sent. */
  publishBytesSent: number;
}

/**
 * Fresh counters.
 *
 * @returns Zeroed counters.
 */
export function newCounters(): Counters {
  return {
    messagesReceived: 0,
    messagesSent: 0,
    publishReceived: 0,
    publishSent: 0,
    publishDropped: 0,
    bytesReceived: 0,
    bytesSent: 0,
    clientsExpired: 0,
    clientsMaximum: 0,
    connections: 0,
    sockets: 0,
    refusedConnections: 0,
    publishBytesReceived: 0,
    publishBytesSent: 0,
  };
}
