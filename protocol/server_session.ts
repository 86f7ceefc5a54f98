// This module is browser compatible.
/**
 * The server side of an MQTT session as a sans-IO state machine (versions 3, 4 and 5).
 *
 * @module
 */

import { MqttError, ProtocolError } from "./errors.ts";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  ProtocolVersion,
  PublishPacket,
  SubscribePacket,
  UnsubscribePacket,
} from "./packet.ts";
import type { Properties } from "./properties.ts";
import { isValidReasonCode, toConnectReturnCode } from "./reason_code.ts";
import { protocolError, type PublishAck } from "./_session_common.ts";
import type { InflightPublish } from "./client_session.ts";
import { Receiver } from "./_receiver.ts";
import { Sender } from "./_sender.ts";

export { ACK_DEFERRED, type PublishAck } from "./_session_common.ts";

/**
 * What a {@linkcode ServerSession} asks of its driver (the broker). The machine calls
 * these synchronously; they may call back into the machine.
 */
export interface ServerSessionOutput {
  /** Write a packet to the network connection. */
  send(packet: Packet): void;
  /**
   * The CONNECT arrived. Authenticate, then call {@linkcode ServerSession.accept} or
   * {@linkcode ServerSession.refuse}, now or later.
   */
  connect(packet: ConnectPacket): void;
  /**
   * An application message from the client, delivered once (a repeated QoS 2 PUBLISH is
   * not delivered again), with its full topic (topic aliases are resolved and removed).
   * Return nothing for success, an MQTT 5 PUBACK/PUBREC reason code (e.g. 0x10 no matching
   * subscribers, 0x87 not authorized; ignored on 3.x), or {@linkcode ACK_DEFERRED} and call
   * {@linkcode ServerSession.acknowledge} later.
   */
  publish(packet: PublishPacket): number | void;
  /** A SUBSCRIBE: answer with {@linkcode ServerSession.suback}. */
  subscribe(packet: SubscribePacket): void;
  /** An UNSUBSCRIBE: answer with {@linkcode ServerSession.unsuback}. */
  unsubscribe(packet: UnsubscribePacket): void;
  /** An AUTH packet arrived (MQTT 5 enhanced authentication). */
  auth?(packet: AuthPacket): void;
  /**
   * A QoS 1 or 2 message to the client ended with its final acknowledgement (on MQTT 5
   * check the reason code: 0x80 or more is a refusal [MQTT-4.8.2-6]).
   */
  delivered?(packet: PublishPacket, ack: PublishAck): void;
}

/** Limits of a {@linkcode ServerSession}; the names follow mosquitto's options. */
export interface ServerSessionOptions {
  /**
   * In-flight QoS 1 and 2 messages to an MQTT 3.x client (`max_inflight_messages`); MQTT 5
   * clients set their own with Receive Maximum. Default 20.
   */
  maxInflight?: number;
  /** Messages queued beyond the in-flight window (`max_queued_messages`); 0 is no limit. Default 1000. */
  maxQueuedMessages?: number;
  /** Payload bytes queued beyond the in-flight window (`max_queued_bytes`); 0 is no limit. Default 0. */
  maxQueuedBytes?: number;
  /** Queue QoS 0 messages while the client is offline (`queue_qos0_messages`). Default false. */
  queueQoS0?: boolean;
  /** Packets buffered between CONNECT and the broker's decision. Default 100. */
  maxPendingPackets?: number;
}

/** Options for {@linkcode ServerSession.accept}. */
export interface AcceptOptions {
  /**
   * MQTT 5 CONNACK properties; the session also obeys those that limit the client:
   * `receiveMaximum`, `topicAliasMaximum`, `maximumQoS`, `retainAvailable`,
   * `serverKeepAlive` and `sessionExpiryInterval`. Ignored on 3.x.
   */
  properties?: Properties;
  /**
   * The session of the client's previous connection, to resume: its unacknowledged and
   * queued messages and QoS 2 state move here, CONNACK has session present 1 (except on
   * MQTT 3.1, which has no such flag), and in-flight messages are resent.
   */
  previous?: ServerSession;
}

/** A message queued for the client (beyond the in-flight window or while offline). */
export interface QueuedPublish {
  /** The message, without a packet id. */
  packet: PublishPacket;
  /** When it was queued, in ms (its expiry interval counts from here). */
  at: number;
}

/**
 * The state of a persistent session that a broker stores to survive a restart, from
 * {@linkcode ServerSession.snapshot} for {@linkcode ServerSession.restore}.
 */
export interface ServerSessionSnapshot {
  /** Protocol level of the session's last connection. */
  protocolVersion: ProtocolVersion;
  /** Session Expiry Interval in seconds (0xFFFFFFFF: never). */
  sessionExpiryInterval: number;
  /** Outgoing QoS 1 and 2 messages sent and not acknowledged, in the order first sent. */
  outgoing: InflightPublish[];
  /** Messages waiting to be sent, in order. */
  queued: QueuedPublish[];
  /** Packet ids of incoming QoS 2 messages acknowledged with PUBREC, waiting for PUBREL. */
  incoming: number[];
}

/** What {@linkcode ServerSession.deliver} did with a message. */
export type DeliveryResult = "sent" | "queued" | "dropped";

/** The state of a {@linkcode ServerSession}. */
export type ServerSessionState = "awaiting-connect" | "authenticating" | "connected" | "closed";

/**
 * The server side of one client's session, free of I/O. The broker feeds it packets and
 * commands with the current time; it calls its {@linkcode ServerSessionOutput} with packets
 * to send and messages for the broker, and reports its next deadline.
 *
 * The first packet must be CONNECT [MQTT-3.1.0-1]; the broker answers with `accept()` or
 * `refuse()`. Packets that arrive meanwhile are buffered and handled after `accept()`
 * (dropped on refusal [MQTT-3.1.4-6]). Faults of the client come back from `handle()`,
 * `accept()` and `tick()` as an {@linkcode MqttError}; the machine has then sent
 * DISCONNECT with the reason code when MQTT 5 allows it and is `closed`, and the driver
 * closes the connection. It also closes it when the state is `closed` after a DISCONNECT
 * from the client or a refusal. Misuse throws `TypeError`/`RangeError`.
 *
 * After the connection ends the object still holds the session: `deliver()` queues for
 * the offline client, and `accept({ previous })` on the next connection's machine takes
 * the session over.
 *
 * @example Connect, then a QoS 1 PUBLISH from the client
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerSession } from "./server_session.ts";
 * import type { Packet } from "./packet.ts";
 * const sent: Packet[] = [];
 * const session = new ServerSession({
 *   send: (p) => void sent.push(p),
 *   connect: () => void session.accept({}, 0),
 *   publish: () => 0x10, // MQTT 5: no matching subscribers
 *   subscribe() {},
 *   unsubscribe() {},
 * });
 * session.handle({ type: "connect", protocolVersion: 5, clientId: "c", clean: true, keepAlive: 60 }, 0);
 * assert.deepEqual(sent[0], { type: "connack", sessionPresent: false, reasonCode: 0 });
 * const payload = new Uint8Array();
 * session.handle({ type: "publish", topic: "t", payload, qos: 1, retain: false, dup: false, packetId: 7 }, 5);
 * assert.deepEqual(sent[1], { type: "puback", packetId: 7, reasonCode: 0x10 });
 * ```
 */
export class ServerSession {
  readonly #output: ServerSessionOutput;
  readonly #maxInflight: number;
  readonly #maxQueued: number;
  readonly #maxQueuedBytes: number;
  readonly #queueQoS0: boolean;
  readonly #maxPending: number;
  readonly #sender: Sender;
  readonly #receiver: Receiver;
  #state: ServerSessionState = "awaiting-connect";
  #transferred = false;
  #pending: Packet[] = [];
  #connect: ConnectPacket | undefined;
  #version: ProtocolVersion = 4;
  #keepAlive = 0;
  #lastReceived = 0;
  #sessionExpiry = 0;
  #maximumQoS = 2;
  #retainAvailable = true;
  #disconnectReason: number | undefined;
  #dropped = 0;

  /**
   * Create a session waiting for CONNECT.
   *
   * @param output The broker's callbacks.
   * @param options In-flight and queue limits.
   */
  constructor(output: ServerSessionOutput, options: ServerSessionOptions = {}) {
    this.#output = output;
    this.#maxInflight = limit("maxInflight", options.maxInflight ?? 20, 1, 65_535);
    this.#maxQueued = limit("maxQueuedMessages", options.maxQueuedMessages ?? 1000, 0, Infinity);
    this.#maxQueuedBytes = limit("maxQueuedBytes", options.maxQueuedBytes ?? 0, 0, Infinity);
    this.#maxPending = limit("maxPendingPackets", options.maxPendingPackets ?? 100, 0, Infinity);
    this.#queueQoS0 = options.queueQoS0 ?? false;
    const send = (packet: Packet) => this.#output.send(packet);
    this.#sender = new Sender(true, send, (packet, ack) => this.#output.delivered?.(packet, ack));
    this.#receiver = new Receiver("server", send, (packet) => this.#output.publish(packet));
  }

  /** The connection state. */
  get state(): ServerSessionState {
    return this.#state;
  }

  /** The CONNECT, once received. */
  get connectPacket(): ConnectPacket | undefined {
    return this.#connect;
  }

  /** The client's protocol version (4 until CONNECT arrives). */
  get protocolVersion(): ProtocolVersion {
    return this.#version;
  }

  /** The keep alive enforced, in seconds (the server keep alive when set). */
  get keepAlive(): number {
    return this.#keepAlive;
  }

  /**
   * The session expiry interval in seconds, as last set by CONNECT, CONNACK or
   *   DISCONNECT; on 3.x 0 for a clean session, else 0xFFFFFFFF (never expires).
   */
  get sessionExpiryInterval(): number {
    return this.#sessionExpiry;
  }

  /**
   * The reason code of the client's DISCONNECT (0 on 3.x), or `undefined` when
   *   none arrived. 0x04 asks for the will to be published; any DISCONNECT other than
   *   that discards it [MQTT-3.14.4-3].
   */
  get disconnectReasonCode(): number | undefined {
    return this.#disconnectReason;
  }

  /** How many QoS 1 and 2 messages may be in flight to the client. */
  get clientReceiveMaximum(): number {
    return this.#sender.window;
  }

  /**
   * The largest packet the client accepts (MQTT 5), or `undefined`. The driver
   *   must not send larger packets [MQTT-3.1.2-24]; check before `deliver()`.
   */
  get clientMaximumPacketSize(): number | undefined {
    return this.#version === 5 ? this.#connect?.properties?.maximumPacketSize : undefined;
  }

  /** The highest topic alias the client accepts (MQTT 5; 0 for none). */
  get clientTopicAliasMaximum(): number {
    return this.#version === 5 ? this.#connect?.properties?.topicAliasMaximum ?? 0 : 0;
  }

  /** QoS 1 and 2 messages sent to the client and not yet acknowledged. */
  get inflightCount(): number {
    return this.#sender.inflight.size;
  }

  /** Messages queued for the client beyond the in-flight window. */
  get queuedCount(): number {
    return this.#sender.queue.length;
  }

  /** Payload bytes of the queued messages. */
  get queuedBytes(): number {
    return this.#sender.queuedBytes;
  }

  /**
   * Export what a restarted broker needs to resume this session: in-flight and queued
   * messages, incoming QoS 2 packet ids awaiting PUBREL, protocol level and expiry.
   * Packets are shallow copies; payloads are shared.
   *
   * @example Snapshot an offline session with a queued message
   * ```ts
   * import assert from "node:assert/strict";
   * import { ServerSession } from "./server_session.ts";
   * const session = new ServerSession({
   *   send() {},
   *   connect: () => void session.accept({}, 0),
   *   publish() {},
   *   subscribe() {},
   *   unsubscribe() {},
   * });
   * session.handle({ type: "connect", protocolVersion: 4, clientId: "c", clean: false, keepAlive: 0 }, 0);
   * session.connectionLost();
   * const payload = new Uint8Array([1]);
   * session.deliver({ type: "publish", topic: "t", payload, qos: 1, retain: false, dup: false }, 5);
   * const snapshot = session.snapshot();
   * assert.equal(snapshot.queued.length, 1);
   * assert.equal(snapshot.queued[0]!.at, 5);
   * ```
   *
   * @returns The session's state.
   */
  snapshot(): ServerSessionSnapshot {
    const sender = this.#sender;
    const outgoing: InflightPublish[] = [];
    for (const [id, packet] of sender.inflight) {
      const awaiting = packet.qos === 1 ? "puback" : sender.isReleased(id) ? "pubcomp" : "pubrec";
      outgoing.push({ packet: { ...packet }, awaiting });
    }
    const queued: QueuedPublish[] = [];
    for (const entry of sender.queue) queued.push({ packet: { ...entry.packet }, at: entry.at });
    return {
      protocolVersion: this.#version,
      sessionExpiryInterval: this.#sessionExpiry,
      outgoing,
      queued,
      incoming: this.#receiver.awaitingRelease(),
    };
  }

  /**
   * Load a {@linkcode ServerSession.snapshot} (usually taken by an earlier process) into
   * this new session, which becomes an offline session: `deliver()` queues, and the
   * client's next connection resumes it with `accept({ previous })`, resending in-flight
   * messages with DUP and PUBREL as a live session would.
   *
   * @example Restore, then resume on the next connection
   * ```ts
   * import assert from "node:assert/strict";
   * import { ServerSession } from "./server_session.ts";
   * import type { Packet } from "./packet.ts";
   * const noop = { send() {}, connect() {}, publish() {}, subscribe() {}, unsubscribe() {} };
   * const old = new ServerSession(noop);
   * const packet = { type: "publish", topic: "t", payload: new Uint8Array(), qos: 1, retain: false, dup: false, packetId: 3 } as const;
   * old.restore({ protocolVersion: 4, sessionExpiryInterval: 0xffffffff, outgoing: [{ packet, awaiting: "puback" }], queued: [], incoming: [] });
   * const sent: Packet[] = [];
   * const next = new ServerSession({ ...noop, send: (p) => void sent.push(p), connect: () => void next.accept({ previous: old }, 0) });
   * next.handle({ type: "connect", protocolVersion: 4, clientId: "c", clean: false, keepAlive: 0 }, 0);
   * assert.deepEqual(sent[1], { ...packet, dup: true });
   * ```
   *
   * @param snapshot The state to load.
   * @throws {TypeError} When the session has seen a CONNECT or holds messages, or an
   *   outgoing entry is not a QoS 1 or 2 PUBLISH with a packet id and a matching phase.
   * @throws {RangeError} When a packet id is not in 1..65535 or appears twice in a direction.
   */
  restore(snapshot: ServerSessionSnapshot): void {
    const sender = this.#sender;
    if (
      this.#state !== "awaiting-connect" || sender.inflight.size !== 0 || sender.queue.length !== 0
    ) {
      throw new TypeError(`Cannot restore session: session is ${this.#state} or not empty`);
    }
    const seen = new Set<number>();
    for (const { packet, awaiting } of snapshot.outgoing) {
      const ok = packet?.type === "publish" &&
        (packet.qos === 1 ? awaiting === "puback" : packet.qos === 2 && awaiting !== "puback");
      if (!ok) {
        throw new TypeError("Cannot restore session: outgoing entry is not a QoS 1 or 2 PUBLISH");
      }
      const id = packet.packetId;
      if (id === undefined || !Number.isInteger(id) || id < 1 || id > 65_535 || seen.has(id)) {
        throw new RangeError(`Cannot restore session: packet identifier "${id}" is invalid`);
      }
      seen.add(id);
    }
    const incoming = new Set<number>();
    for (const id of snapshot.incoming) {
      if (!Number.isInteger(id) || id < 1 || id > 65_535 || incoming.has(id)) {
        throw new RangeError(`Cannot restore session: packet identifier "${id}" is invalid`);
      }
      incoming.add(id);
    }
    this.#version = snapshot.protocolVersion;
    this.#sessionExpiry = snapshot.sessionExpiryInterval;
    sender.version = snapshot.protocolVersion;
    for (const { packet, awaiting } of snapshot.outgoing) {
      sender.restore({ ...packet }, awaiting === "pubcomp");
    }
    for (const { packet, at } of snapshot.queued) sender.enqueue({ ...packet }, at);
    this.#receiver.restore(incoming);
    this.#state = "closed";
  }

  /**
   * Packet ids of incoming QoS 2 messages acknowledged with PUBREC and waiting for PUBREL
   * (what {@linkcode ServerSession.snapshot} reports as `incoming`).
   *
   * @returns The ids.
   */
  incomingAwaitingRelease(): number[] {
    return this.#receiver.awaitingRelease();
  }

  /** Messages dropped because the queue was full. */
  get droppedCount(): number {
    return this.#dropped;
  }

  /** Queued messages dropped because their message expiry interval passed. */
  get expiredCount(): number {
    return this.#sender.expired;
  }

  /**
   * Handle a packet from the client.
   *
   * @example The first packet must be CONNECT
   * ```ts
   * import assert from "node:assert/strict";
   * import { ProtocolError } from "./errors.ts";
   * import { ServerSession } from "./server_session.ts";
   * const session = new ServerSession({ send() {}, connect() {}, publish() {}, subscribe() {}, unsubscribe() {} });
   * const err = session.handle({ type: "pingreq" }, 0);
   * assert.ok(err instanceof ProtocolError);
   * assert.equal(err.spec, "MQTT-3.1.0-1");
   * assert.equal(session.state, "closed");
   * ```
   *
   * @param packet The decoded packet.
   * @param now The time in ms.
   * @returns An error when the connection must close, else `undefined`. Packets handled
   *   once `closed` are ignored.
   */
  handle(packet: Packet, now: number): MqttError | undefined {
    this.#lastReceived = now;
    switch (this.#state) {
      case "awaiting-connect":
        if (packet.type !== "connect") {
          return this.#fail(
            new ProtocolError(`Cannot accept ${packet.type.toUpperCase()}: CONNECT expected`, {
              spec: "MQTT-3.1.0-1",
            }),
          );
        }
        this.#connectReceived(packet);
        return undefined;
      case "authenticating":
        if (packet.type === "connect") return this.#fail(secondConnect());
        if (packet.type === "auth" && this.#version === 5) return this.#authReceived(packet);
        if (this.#pending.length >= this.#maxPending) {
          return this.#fail(
            new MqttError(
              `Cannot buffer ${packet.type.toUpperCase()}: ${this.#maxPending} packets wait for CONNACK`,
              { reasonCode: 0x97 },
            ),
          );
        }
        this.#pending.push(packet);
        return undefined;
      case "connected":
        return this.#dispatch(packet, now);
      case "closed":
        return undefined;
    }
  }

  /**
   * Accept the connection: send CONNACK with reason code 0 [MQTT-3.2.0-1], start keep
   * alive, resume the previous session if given, then handle the packets buffered since
   * CONNECT.
   *
   * @param options CONNACK properties and the session to resume.
   * @param now The time in ms.
   * @returns An error from a buffered packet (the connection must close), else `undefined`.
   * @throws {TypeError} When not waiting for a decision, or resuming a session on a clean
   *   start [MQTT-3.2.2-2] or one already taken over.
   */
  accept(options: AcceptOptions, now: number): MqttError | undefined {
    if (this.#state !== "authenticating") {
      throw new TypeError(`Cannot accept connection: session is ${this.#state}`);
    }
    const connect = this.#connect!;
    const previous = options.previous;
    if (previous !== undefined) {
      if (connect.clean) throw new TypeError("Cannot resume session: CONNECT has clean start");
      if (previous === this || previous.#transferred) {
        throw new TypeError("Cannot resume session: it was already taken over");
      }
    }
    const v5 = this.#version === 5;
    const p = v5 ? options.properties : undefined;
    this.#receiver.receiveMaximum = v5 ? p?.receiveMaximum ?? 65_535 : Infinity;
    this.#receiver.topicAliasMaximum = p?.topicAliasMaximum ?? 0;
    this.#maximumQoS = p?.maximumQoS ?? 2;
    this.#retainAvailable = p?.retainAvailable ?? true;
    if (p?.serverKeepAlive !== undefined) this.#keepAlive = p.serverKeepAlive;
    if (p?.sessionExpiryInterval !== undefined) this.#sessionExpiry = p.sessionExpiryInterval;
    if (previous !== undefined) {
      previous.connectionLost();
      this.#sender.adopt(previous.#sender);
      this.#receiver.adopt(previous.#receiver);
      this.#dropped += previous.#dropped;
      previous.#transferred = true;
    }
    const connack: ConnackPacket = {
      type: "connack",
      // MQTT 3.1 has no session present flag.
      sessionPresent: previous !== undefined && this.#version !== 3,
      reasonCode: 0,
    };
    if (p !== undefined && Object.keys(p).length > 0) connack.properties = p;
    this.#state = "connected";
    this.#lastReceived = now;
    this.#sender.open = true;
    this.#receiver.open = true;
    this.#output.send(connack);
    // Resend in-flight messages in order with DUP, and PUBRELs, then drain the queue.
    this.#sender.resend(now);
    const pending = this.#pending;
    this.#pending = [];
    for (const packet of pending) {
      if (this.#state !== "connected") break;
      const error = this.#dispatch(packet, now);
      if (error !== undefined) return error;
    }
    return undefined;
  }

  /**
   * Refuse the connection: send CONNACK with the reason code (mapped to a 3.1.1 return
   * code for 3.x clients) and close [MQTT-3.2.2-7].
   *
   * @param reasonCode An MQTT 5 CONNACK reason code of 0x80 or more, e.g. 0x86 bad user
   *   name or password.
   * @param properties MQTT 5 properties (reason string, server reference).
   * @throws {TypeError} When not waiting for a decision.
   * @throws {RangeError} When the reason code is not a CONNACK failure code.
   */
  refuse(reasonCode: number, properties?: Properties): void {
    if (this.#state !== "authenticating") {
      throw new TypeError(`Cannot refuse connection: session is ${this.#state}`);
    }
    if (reasonCode < 0x80 || !isValidReasonCode("connack", reasonCode)) {
      throw new RangeError(`Cannot refuse connection: "${reasonCode}" is not a failure code`);
    }
    const connack: ConnackPacket = {
      type: "connack",
      sessionPresent: false,
      reasonCode: this.#version === 5 ? reasonCode : toConnectReturnCode(reasonCode),
    };
    if (this.#version === 5 && properties !== undefined) connack.properties = properties;
    this.#output.send(connack);
    this.#pending = [];
    this.#state = "closed";
  }

  /**
   * Deliver a message to the client: QoS 0 is sent at once (queued while offline only with
   * `queueQoS0`); QoS 1 and 2 get a packet id and are sent while the client's receive
   * maximum allows, else queued in order up to the queue limits, else dropped and counted.
   * A queued message's expiry interval shrinks by the time spent queued, and it is
   * dropped once it expires [MQTT-3.3.2-5], [MQTT-3.3.2-6].
   *
   * @example A window of one
   * ```ts
   * import assert from "node:assert/strict";
   * import { ServerSession } from "./server_session.ts";
   * const session = new ServerSession({
   *   send() {}, connect: () => void session.accept({}, 0), publish() {}, subscribe() {}, unsubscribe() {},
   * });
   * session.handle({
   *   type: "connect", protocolVersion: 5, clientId: "c", clean: true, keepAlive: 0,
   *   properties: { receiveMaximum: 1 },
   * }, 0);
   * const message = { type: "publish", topic: "t", payload: new Uint8Array(), qos: 1, retain: false, dup: false } as const;
   * assert.equal(session.deliver(message, 1), "sent");
   * assert.equal(session.deliver(message, 1), "queued");
   * ```
   *
   * @param message The message at the QoS granted to this client; the same object may go to
   *   many sessions (it is not modified). Its size must already fit
   *   {@linkcode ServerSession.clientMaximumPacketSize}.
   * @param now The time in ms.
   * @returns `"sent"`, `"queued"` or `"dropped"`.
   * @throws {TypeError} When the session was taken over by another.
   * @throws {RangeError} When the QoS is not 0..2.
   */
  deliver(message: PublishPacket, now: number): DeliveryResult {
    if (this.#transferred) {
      throw new TypeError("Cannot deliver: the session was taken over by another connection");
    }
    if (message.qos !== 0 && message.qos !== 1 && message.qos !== 2) {
      throw new RangeError(`Cannot deliver: QoS "${message.qos}" is not 0, 1 or 2`);
    }
    if (message.qos === 0) {
      let packet = message;
      if (message.dup || message.packetId !== undefined) {
        const { packetId: _, ...rest } = message;
        packet = { ...rest, dup: false };
      }
      if (this.#state === "connected") {
        this.#output.send(packet);
        return "sent";
      }
      if (!this.#queueQoS0) return "dropped";
      return this.#enqueue(packet, now);
    }
    if (this.#sender.canSend) {
      this.#sender.transmit(message);
      return "sent";
    }
    return this.#enqueue(message, now);
  }

  /**
   * Acknowledge a message whose `publish` callback returned {@linkcode ACK_DEFERRED}.
   *
   * @param packetId The id of the PUBLISH.
   * @param reasonCode The MQTT 5 PUBACK/PUBREC reason code (default success).
   * @returns `true` when sent, `false` when nothing was pending on this connection.
   * @throws {RangeError} When the reason code is not valid in PUBACK/PUBREC.
   */
  acknowledge(packetId: number, reasonCode = 0): boolean {
    return this.#receiver.acknowledge(packetId, reasonCode);
  }

  /**
   * Answer a SUBSCRIBE with SUBACK. On 3.x, codes of 0x80 or more become 0x80.
   *
   * @example Grant QoS 1 and refuse a filter
   * ```ts
   * import assert from "node:assert/strict";
   * import { ServerSession } from "./server_session.ts";
   * import type { Packet } from "./packet.ts";
   * const sent: Packet[] = [];
   * const session = new ServerSession({
   *   send: (p) => void sent.push(p),
   *   connect: () => void session.accept({}, 0),
   *   publish() {},
   *   subscribe: (p) => void session.suback(p, [1, 0x87]),
   *   unsubscribe() {},
   * });
   * session.handle({ type: "connect", protocolVersion: 4, clientId: "c", clean: true, keepAlive: 0 }, 0);
   * session.handle({ type: "subscribe", packetId: 3, subscriptions: [{ filter: "a", qos: 1 }, { filter: "b", qos: 0 }] }, 0);
   * assert.deepEqual(sent.at(-1), { type: "suback", packetId: 3, reasonCodes: [1, 0x80] });
   * ```
   *
   * @param request The SUBSCRIBE.
   * @param reasonCodes One per subscription, in order [MQTT-3.9.3-1]: the granted QoS or
   *   an MQTT 5 failure code.
   * @returns `true` when sent, `false` when the connection is gone.
   * @throws {RangeError} When the number or value of the codes is wrong.
   */
  suback(request: SubscribePacket, reasonCodes: readonly number[]): boolean {
    if (reasonCodes.length !== request.subscriptions.length) {
      throw new RangeError(
        `Cannot send SUBACK: ${reasonCodes.length} reason codes for ${request.subscriptions.length} subscriptions`,
      );
    }
    const codes = reasonCodes.map((code) => {
      if (!isValidReasonCode("suback", code)) {
        throw new RangeError(`Cannot send SUBACK: "${code}" is not a SUBACK reason code`);
      }
      return this.#version === 5 || code < 0x80 ? code : 0x80;
    });
    if (this.#state !== "connected") return false;
    this.#output.send({ type: "suback", packetId: request.packetId, reasonCodes: codes });
    return true;
  }

  /**
   * Answer an UNSUBSCRIBE with UNSUBACK (reason codes only on MQTT 5).
   *
   * @param request The UNSUBSCRIBE.
   * @param reasonCodes MQTT 5: one per filter, in order [MQTT-3.11.3-1] (e.g. 0x11 no
   *   subscription existed); ignored on 3.x. Default: success for each.
   * @returns `true` when sent, `false` when the connection is gone.
   * @throws {RangeError} When the number or value of the codes is wrong on MQTT 5.
   */
  unsuback(request: UnsubscribePacket, reasonCodes?: readonly number[]): boolean {
    let codes: number[] = [];
    if (this.#version === 5) {
      codes = reasonCodes === undefined ? request.filters.map(() => 0) : [...reasonCodes];
      if (codes.length !== request.filters.length) {
        throw new RangeError(
          `Cannot send UNSUBACK: ${codes.length} reason codes for ${request.filters.length} filters`,
        );
      }
      for (const code of codes) {
        if (!isValidReasonCode("unsuback", code)) {
          throw new RangeError(`Cannot send UNSUBACK: "${code}" is not an UNSUBACK reason code`);
        }
      }
    }
    if (this.#state !== "connected") return false;
    this.#output.send({ type: "unsuback", packetId: request.packetId, reasonCodes: codes });
    return true;
  }

  /**
   * Send AUTH (MQTT 5 enhanced authentication, before or after CONNACK).
   *
   * @param packet The AUTH packet.
   * @throws {TypeError} When the client is not on MQTT 5 or the connection is not open.
   */
  auth(packet: AuthPacket): void {
    if (
      this.#version !== 5 || (this.#state !== "authenticating" && this.#state !== "connected")
    ) {
      throw new TypeError(
        `Cannot send AUTH: session is ${this.#state} on version ${this.#version}`,
      );
    }
    this.#output.send(packet);
  }

  /**
   * Close the connection from the server side, e.g. 0x8E session taken over or 0x8B server
   * shutting down. DISCONNECT is sent only on MQTT 5 after a successful CONNACK
   * [MQTT-3.14.0-1]. Does nothing once closed.
   *
   * @param reasonCode The MQTT 5 DISCONNECT reason code (default 0).
   * @param properties MQTT 5 properties; never a session expiry interval [MQTT-3.14.2-2].
   * @throws {RangeError} When the reason code or properties are not allowed.
   */
  disconnect(reasonCode = 0, properties?: Properties): void {
    if (!isValidReasonCode("disconnect", reasonCode)) {
      throw new RangeError(`Cannot disconnect: "${reasonCode}" is not a DISCONNECT reason code`);
    }
    if (properties?.sessionExpiryInterval !== undefined) {
      throw new RangeError("Cannot disconnect: a server sends no session expiry interval");
    }
    if (this.#state === "closed") return;
    if (this.#state === "connected" && this.#version === 5) {
      const packet: DisconnectPacket = { type: "disconnect", reasonCode };
      if (properties !== undefined) packet.properties = properties;
      this.#output.send(packet);
    }
    this.connectionLost();
  }

  /**
   * The network connection ended. The session state stays for `deliver()` and for a later
   * `accept({ previous })`; deferred QoS 1 acknowledgements and topic aliases are dropped.
   * Calling it again does nothing.
   */
  connectionLost(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#pending = [];
    this.#sender.open = false;
    this.#receiver.open = false;
    this.#receiver.newConnection();
  }

  /**
   * When {@linkcode ServerSession.tick} would report a keep-alive timeout: 1.5 times the
   * keep alive after the last packet received (v5 [MQTT-3.1.2-22], v3.1.1 [MQTT-3.1.2-24]).
   *
   * @returns The time in ms, or `undefined` when not connected or keep alive is 0.
   */
  nextDeadline(): number | undefined {
    if (this.#state !== "connected" || this.#keepAlive === 0) return undefined;
    return this.#lastReceived + this.#keepAlive * 1500;
  }

  /**
   * Enforce keep alive: report a timeout when nothing arrived within 1.5 times the keep
   * alive (v5 [MQTT-3.1.2-22], v3.1.1 [MQTT-3.1.2-24]).
   *
   * @example Time out at 1.5 times the keep alive
   * ```ts
   * import assert from "node:assert/strict";
   * import { ServerSession } from "./server_session.ts";
   * const session = new ServerSession({
   *   send() {}, connect: () => void session.accept({}, 0), publish() {}, subscribe() {}, unsubscribe() {},
   * });
   * session.handle({ type: "connect", protocolVersion: 4, clientId: "c", clean: true, keepAlive: 10 }, 0);
   * assert.equal(session.nextDeadline(), 15_000);
   * assert.equal(session.tick(14_999), undefined);
   * assert.equal(session.tick(15_000)?.reasonCode, 0x8d);
   * ```
   *
   * @param now The time in ms.
   * @returns An {@linkcode MqttError} with reason code 0x8D (Keep Alive timeout) when the
   *   client went quiet (the session is then closed), else `undefined`.
   */
  tick(now: number): MqttError | undefined {
    const deadline = this.nextDeadline();
    if (deadline === undefined || now < deadline) return undefined;
    return this.#fail(
      new MqttError(
        `Cannot keep connection alive: nothing received in ${now - this.#lastReceived} ms`,
        {
          reasonCode: 0x8d,
          spec: this.#version === 5 ? "MQTT-3.1.2-22" : "MQTT-3.1.2-24",
        },
      ),
    );
  }

  #connectReceived(packet: ConnectPacket): void {
    this.#connect = packet;
    this.#version = packet.protocolVersion;
    this.#keepAlive = packet.keepAlive;
    const v5 = this.#version === 5;
    this.#sessionExpiry = v5
      ? packet.properties?.sessionExpiryInterval ?? 0
      : packet.clean
      ? 0
      : 0xffff_ffff;
    this.#sender.version = this.#version;
    // MQTT 5: the client's Receive Maximum, within the broker's own in-flight limit
    // (mosquitto's max_inflight_messages applies to every client).
    this.#sender.window = v5
      ? Math.min(packet.properties?.receiveMaximum ?? 65_535, this.#maxInflight)
      : this.#maxInflight;
    this.#receiver.version = this.#version;
    this.#state = "authenticating";
    this.#output.connect(packet);
  }

  #enqueue(message: PublishPacket, now: number): DeliveryResult {
    const sender = this.#sender;
    if (
      (this.#maxQueued !== 0 && sender.queue.length >= this.#maxQueued) ||
      (this.#maxQueuedBytes !== 0 &&
        sender.queuedBytes + message.payload.byteLength > this.#maxQueuedBytes)
    ) {
      this.#dropped++;
      return "dropped";
    }
    sender.enqueue(message, now);
    return "queued";
  }

  #dispatch(packet: Packet, now: number): MqttError | undefined {
    switch (packet.type) {
      case "publish":
        return this.#failed(this.#publish(packet));
      case "puback":
      case "pubrec":
      case "pubcomp":
        return this.#failed(this.#sender.acknowledged(packet, now));
      case "pubrel":
        return this.#failed(this.#receiver.release(packet));
      case "subscribe":
        this.#output.subscribe(packet);
        return undefined;
      case "unsubscribe":
        this.#output.unsubscribe(packet);
        return undefined;
      case "pingreq":
        // [MQTT-3.12.4-1]
        this.#output.send({ type: "pingresp" });
        return undefined;
      case "disconnect":
        return this.#disconnected(packet);
      case "auth":
        if (this.#version !== 5) break;
        return this.#authReceived(packet);
      case "connect":
        return this.#fail(secondConnect());
    }
    return this.#fail(
      new ProtocolError(`Cannot accept ${packet.type.toUpperCase()}: not sent by clients`),
    );
  }

  #publish(packet: PublishPacket): MqttError | undefined {
    if (this.#version === 5) {
      if (packet.qos > this.#maximumQoS) {
        return protocolError(
          `Cannot accept PUBLISH: QoS ${packet.qos} exceeds the maximum QoS ${this.#maximumQoS}`,
          0x9b,
          "MQTT-3.2.2-11",
        );
      }
      if (packet.retain && !this.#retainAvailable) {
        return protocolError(
          "Cannot accept PUBLISH: retain is not available",
          0x9a,
          "MQTT-3.2.2-14",
        );
      }
      if (packet.properties?.subscriptionIdentifiers !== undefined) {
        return protocolError(
          "Cannot accept PUBLISH: a client sent a subscription identifier",
          0x82,
          "MQTT-3.3.4-6",
        );
      }
    }
    return this.#receiver.receive(packet);
  }

  #disconnected(packet: DisconnectPacket): MqttError | undefined {
    if (this.#version === 5) {
      const expiry = packet.properties?.sessionExpiryInterval;
      if (expiry !== undefined && expiry !== 0) {
        if ((this.#connect?.properties?.sessionExpiryInterval ?? 0) === 0) {
          // v5 §3.14.2.2.2: not a valid DISCONNECT; the will stays.
          return this.#fail(
            protocolError(
              "Cannot accept DISCONNECT: session expiry interval set after CONNECT set 0",
              0x82,
              undefined,
            ),
          );
        }
      }
      if (expiry !== undefined) this.#sessionExpiry = expiry;
    }
    this.#disconnectReason = packet.reasonCode ?? 0;
    this.connectionLost();
    return undefined;
  }

  #authReceived(packet: AuthPacket): MqttError | undefined {
    if (this.#connect?.properties?.authenticationMethod === undefined) {
      return this.#fail(
        new ProtocolError("Cannot accept AUTH: CONNECT had no authentication method", {
          spec: "MQTT-4.12.0-7",
        }),
      );
    }
    this.#output.auth?.(packet);
    return undefined;
  }

  #failed(error: MqttError | undefined): MqttError | undefined {
    return error === undefined ? undefined : this.#fail(error);
  }

  // A client fault: DISCONNECT with its reason code on MQTT 5 after CONNACK, then closed.
  #fail(error: MqttError): MqttError {
    if (this.#state === "connected" && this.#version === 5) {
      this.#output.send({ type: "disconnect", reasonCode: error.reasonCode });
    }
    this.connectionLost();
    return error;
  }
}

function secondConnect(): ProtocolError {
  return new ProtocolError("Cannot accept CONNECT: already received", { spec: "MQTT-3.1.0-2" });
}

function limit(name: string, value: number, min: number, max: number): number {
  if (!(value >= min && value <= max) || !(Number.isInteger(value) || value === Infinity)) {
    throw new RangeError(`Cannot create session: ${name} "${value}" is not in ${min}..${max}`);
  }
  return value;
}
