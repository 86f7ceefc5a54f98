// This module is browser compatible.
/**
 * The client side of an MQTT session as a sans-IO state machine (versions 3, 4 and 5).
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
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from "./packet.ts";
import { ackPacket, protocolError, type PublishAck } from "./_session_common.ts";
import { Receiver } from "./_receiver.ts";
import { SenderBase } from "./_sender.ts";
import { validateTopicFilter, validateTopicName } from "./topic.ts";

export { ACK_DEFERRED, type PublishAck } from "./_session_common.ts";

/** A request that completes with an acknowledgement. */
export type ClientRequest = PublishPacket | SubscribePacket | UnsubscribePacket;

/**
 * How a request ended: its final acknowledgement (check its reason code: on MQTT 5 a PUBACK
 * or PUBREC of 0x80 or more is a refusal), or an {@linkcode MqttError} when the session
 * could not complete it.
 */
export type ClientResult = PublishAck | SubackPacket | UnsubackPacket | MqttError;

/**
 * What a {@linkcode ClientSession} asks of its driver. The machine calls these
 * synchronously from its methods; they may call back into the machine.
 */
export interface ClientSessionOutput {
  /** Write a packet to the network connection. */
  send(packet: Packet): void;
  /**
   * An application message arrived (once, even when QoS 2 repeats it). Return nothing to
   * acknowledge it with success, an MQTT 5 PUBACK/PUBREC reason code, or
   * {@linkcode ACK_DEFERRED} to call {@linkcode ClientSession.acknowledge} later.
   */
  deliver(packet: PublishPacket): number | void;
  /**
   * A QoS 1 or 2 PUBLISH, a SUBSCRIBE or an UNSUBSCRIBE ended. `request.packetId` is the id
   * returned when it was made.
   */
  complete(request: ClientRequest, result: ClientResult): void;
  /** CONNACK accepted the connection; in-flight messages were already resent. */
  connected(connack: ConnackPacket): void;
  /** An AUTH packet arrived (MQTT 5 enhanced authentication). */
  auth?(packet: AuthPacket): void;
  /**
   * The session state a restarted process needs changed (see
   * {@linkcode ClientSessionChange}). Called before the packet the change belongs to is
   * passed to `send()`, so a driver can make the change durable first.
   */
  persist?(change: ClientSessionChange): void;
}

/**
 * What an outgoing in-flight QoS 1 or 2 PUBLISH waits for: PUBACK (QoS 1), PUBREC (QoS 2),
 * or PUBCOMP (QoS 2 after PUBREL was sent).
 */
export type OutgoingPhase = "puback" | "pubrec" | "pubcomp";

/** An outgoing QoS 1 or 2 PUBLISH that was sent and is not yet acknowledged. */
export interface InflightPublish {
  /** The message, with its `packetId`. */
  packet: PublishPacket;
  /** The acknowledgement it waits for. */
  awaiting: OutgoingPhase;
}

/**
 * The part of a client session a new process needs to resume it, from
 * {@linkcode ClientSession.snapshot} for {@linkcode ClientSession.restore}. Messages not
 * yet sent (queued beyond the server's receive maximum or while offline) are not part of it.
 */
export interface ClientSessionSnapshot {
  /** Outgoing QoS 1 and 2 messages sent and not acknowledged, in the order first sent. */
  outgoing: InflightPublish[];
  /** Packet ids of incoming QoS 2 messages acknowledged with PUBREC, waiting for PUBREL. */
  incoming: number[];
}

/**
 * One change of the session state of {@linkcode ClientSessionSnapshot}, reported to
 * {@linkcode ClientSessionOutput.persist} before the packet it belongs to is sent:
 *
 * - `putOutgoing`: a QoS 1 or 2 PUBLISH is sent for the first time; it waits for PUBACK or
 *   PUBREC.
 * - `releaseOutgoing`: PUBREL is sent for it; it waits for PUBCOMP. Repeated when PUBREC
 *   is repeated.
 * - `deleteOutgoing`: its flow ended (PUBACK, PUBCOMP, a refusal, or the server lost the
 *   session); the packet id is free.
 * - `putIncoming`: PUBREC (success) is sent for an incoming QoS 2 PUBLISH. Repeated when the
 *   server repeats the PUBLISH.
 * - `deleteIncoming`: PUBCOMP is sent for it, or the server lost the session. Also comes for
 *   ids never put (a PUBREL for an unknown id).
 *
 * Applying the changes in order to a {@linkcode ClientSessionSnapshot} (a put replacing an
 * entry with the same id keeps its place) gives what {@linkcode ClientSession.snapshot}
 * returns, except that messages sent again after the server lost the session keep their
 * entry while they wait in the queue.
 */
export type ClientSessionChange =
  | { type: "putOutgoing"; packet: PublishPacket }
  | { type: "releaseOutgoing"; packetId: number }
  | { type: "deleteOutgoing"; packetId: number }
  | { type: "putIncoming"; packetId: number }
  | { type: "deleteIncoming"; packetId: number };

/** Options for {@linkcode ClientSession}. */
export interface ClientSessionOptions {
  /**
   * How long to wait for any packet after a PINGREQ before reporting a keep-alive timeout,
   * in ms. Default: one keep-alive period.
   */
  pingTimeout?: number;
  /**
   * What to do with unacknowledged QoS 1 and 2 messages when the server has no session for
   * us (CONNACK with session present 0): `true` (default) sends them again, in order, as
   * new messages; `false` completes them with an {@linkcode MqttError} (0x80).
   */
  retryOnSessionLoss?: boolean;
}

/** The connection state of a {@linkcode ClientSession}. */
export type ClientSessionState = "offline" | "connecting" | "connected";

const V3_CONNACK: Record<number, number> = { 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };

function checkRestoredId(id: number | undefined, seen: Set<number>): void {
  if (id === undefined || !Number.isInteger(id) || id < 1 || id > 65_535) {
    throw new RangeError(`Cannot restore session: packet identifier "${id}" is not in 1..65535`);
  }
  if (seen.has(id)) {
    throw new RangeError(`Cannot restore session: packet identifier "${id}" appears twice`);
  }
  seen.add(id);
}

/**
 * The client side of an MQTT session, free of I/O: feed it commands and incoming packets
 * with the current time, and it calls its {@linkcode ClientSessionOutput} with packets to
 * send, messages to deliver and requests that completed. It never reads a clock; the
 * driver runs one timer for {@linkcode ClientSession.nextDeadline} and calls
 * {@linkcode ClientSession.tick}.
 *
 * Faults of the server come back from `handle()` and `tick()` as an {@linkcode MqttError}
 * (a {@linkcode ProtocolError} carries the reason code and spec id). By then the machine
 * has sent DISCONNECT with that reason code when MQTT 5 allows it and gone offline, keeping
 * the session; the driver closes the connection. Misuse throws `TypeError`/`RangeError`.
 *
 * Session state (unacknowledged QoS 1 and 2 messages, queued messages, QoS 2 messages
 * received and not yet released) lives across connections. After a CONNACK with session
 * present 1, unacknowledged PUBLISHes are resent with DUP set and PUBRELs for those past
 * PUBREC, in the original order [MQTT-4.4.0-1]. With session present 0 the server lost the
 * session [MQTT-3.2.2-5]: messages past PUBREC complete (the server owns them), the rest are
 * sent again as new messages or fail, per `retryOnSessionLoss`. SUBSCRIBE and UNSUBSCRIBE
 * are never resent: they fail when the connection is lost.
 *
 * To resume a session in a new process, {@linkcode ClientSession.snapshot} exports the
 * in-flight state and {@linkcode ClientSession.restore} loads it into a new machine; or
 * {@linkcode ClientSessionOutput.persist} reports each change as it happens, before the
 * packet that makes it is sent, for a store that records them one by one.
 *
 * @example A QoS 1 round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClientSession } from "./client_session.ts";
 * import type { Packet } from "./packet.ts";
 * const sent: Packet[] = [];
 * const done: number[] = [];
 * const session = new ClientSession({
 *   send: (p) => void sent.push(p),
 *   deliver: () => {},
 *   complete: (request) => void done.push(request.packetId!),
 *   connected: () => {},
 * });
 * session.connect({ type: "connect", protocolVersion: 4, clientId: "c", clean: true, keepAlive: 60 }, 0);
 * session.handle({ type: "connack", sessionPresent: false, reasonCode: 0 }, 10);
 * const payload = new Uint8Array([1]);
 * const id = session.publish({ type: "publish", topic: "a/b", payload, qos: 1, retain: false, dup: false }, 20);
 * assert.deepEqual(sent.at(-1), { type: "publish", topic: "a/b", payload, qos: 1, retain: false, dup: false, packetId: id });
 * session.handle({ type: "puback", packetId: id }, 30);
 * assert.deepEqual(done, [id]);
 * ```
 */
export class ClientSession {
  readonly #output: ClientSessionOutput;
  readonly #pingTimeout: number | undefined;
  readonly #retry: boolean;
  readonly #sender: SenderBase;
  readonly #receiver: Receiver;
  // SUBSCRIBE and UNSUBSCRIBE waiting for SUBACK/UNSUBACK.
  readonly #requests = new Map<number, SubscribePacket | UnsubscribePacket>();
  #state: ClientSessionState = "offline";
  #version: ProtocolVersion = 4;
  #connect: ConnectPacket | undefined;
  #connack: ConnackPacket | undefined;
  #keepAlive = 0;
  #now = 0;
  #lastSent = 0;
  #pingSentAt: number | undefined;
  #maximumQoS = 2;
  #retainAvailable = true;
  #maximumPacketSize: number | undefined;
  #topicAliasMaximum = 0;
  #clientId = "";

  /**
   * Create a session in the `offline` state.
   *
   * @param output The driver's callbacks.
   * @param options Keep-alive and retry behaviour.
   */
  constructor(output: ClientSessionOutput, options: ClientSessionOptions = {}) {
    const timeout = options.pingTimeout;
    if (timeout !== undefined && !(timeout > 0)) {
      throw new RangeError(`Cannot create session: ping timeout "${timeout}" is not positive`);
    }
    this.#output = output;
    this.#pingTimeout = timeout;
    this.#retry = options.retryOnSessionLoss ?? true;
    const send = (packet: Packet) => this.#send(packet);
    this.#sender = new SenderBase(send, (packet, ack) => {
      this.#output.persist?.({ type: "deleteOutgoing", packetId: packet.packetId! });
      this.#output.complete(packet, ack);
    });
    this.#receiver = new Receiver("client", send, (packet) => this.#output.deliver(packet));
  }

  /** `"offline"`, `"connecting"` (CONNECT sent) or `"connected"`. */
  get state(): ClientSessionState {
    return this.#state;
  }

  /** The protocol version of the last CONNECT. */
  get protocolVersion(): ProtocolVersion {
    return this.#version;
  }

  /** The client identifier: the server's assigned one, else the CONNECT's. */
  get clientId(): string {
    return this.#clientId;
  }

  /** The keep alive in use, in seconds (the server's when it sent one). */
  get keepAlive(): number {
    return this.#keepAlive;
  }

  /** The last CONNACK received. */
  get connack(): ConnackPacket | undefined {
    return this.#connack;
  }

  /** The server's receive maximum: how many QoS 1 and 2 messages may be in flight. */
  get receiveMaximum(): number {
    return this.#sender.window;
  }

  /** The largest packet the server accepts, in bytes, or `undefined` for no limit. */
  get maximumPacketSize(): number | undefined {
    return this.#maximumPacketSize;
  }

  /** The highest topic alias the server accepts (0: none). */
  get topicAliasMaximum(): number {
    return this.#topicAliasMaximum;
  }

  /** The highest QoS the server accepts. */
  get maximumQoS(): number {
    return this.#maximumQoS;
  }

  /** Whether the server accepts retained messages. */
  get retainAvailable(): boolean {
    return this.#retainAvailable;
  }

  /** QoS 1 and 2 messages sent and not yet acknowledged. */
  get inflightCount(): number {
    return this.#sender.inflight.size;
  }

  /** QoS 1 and 2 messages waiting for a slot in the server's receive maximum. */
  get queuedCount(): number {
    return this.#sender.queue.length;
  }

  /**
   * Export what a new process needs to resume this session: the QoS 1 and 2 messages sent
   * and not yet acknowledged with the acknowledgement each waits for, in the order first
   * sent, and the ids of incoming QoS 2 messages waiting for PUBREL. The result is a copy;
   * keep it as data (it holds `PublishPacket`s, so its payloads are `Uint8Array`s).
   *
   * @example Export a QoS 2 message past PUBREC
   * ```ts
   * import assert from "node:assert/strict";
   * import { ClientSession } from "./client_session.ts";
   * const session = new ClientSession({ send() {}, deliver() {}, complete() {}, connected() {} });
   * session.connect({ type: "connect", protocolVersion: 4, clientId: "c", clean: false, keepAlive: 0 }, 0);
   * session.handle({ type: "connack", sessionPresent: false, reasonCode: 0 }, 0);
   * const id = session.publish({ type: "publish", topic: "t", payload: new Uint8Array(), qos: 2, retain: false, dup: false }, 0);
   * session.handle({ type: "pubrec", packetId: id }, 0);
   * const snapshot = session.snapshot();
   * assert.equal(snapshot.outgoing[0]?.awaiting, "pubcomp");
   * assert.deepEqual(snapshot.incoming, []);
   * ```
   *
   * @returns The outgoing and incoming in-flight state.
   */
  snapshot(): ClientSessionSnapshot {
    const outgoing: InflightPublish[] = [];
    for (const [id, packet] of this.#sender.inflight) {
      const awaiting = packet.qos === 1
        ? "puback"
        : this.#sender.isReleased(id)
        ? "pubcomp"
        : "pubrec";
      outgoing.push({ packet: { ...packet }, awaiting });
    }
    return { outgoing, incoming: this.#receiver.awaitingRelease() };
  }

  /**
   * Load the state a {@linkcode ClientSession.snapshot} of an earlier session (usually in
   * an earlier process) exported, into this new, offline session. The packet ids are
   * reserved. After a CONNACK with session present each outgoing message is resent as a
   * live session would: PUBLISH with DUP set and the same packet id, or PUBREL when it
   * waits for PUBCOMP, in the order given; a repeated incoming QoS 2 PUBLISH with a
   * restored id is answered with PUBREC and not delivered again. After a CONNACK without
   * session present the server has lost the session: see `retryOnSessionLoss`.
   *
   * @example Resume a QoS 2 message in a new session
   * ```ts
   * import assert from "node:assert/strict";
   * import { ClientSession } from "./client_session.ts";
   * import type { Packet } from "./packet.ts";
   * const sent: Packet[] = [];
   * const session = new ClientSession({ send: (p) => void sent.push(p), deliver() {}, complete() {}, connected() {} });
   * const packet = { type: "publish", topic: "t", payload: new Uint8Array(), qos: 2, retain: false, dup: false, packetId: 7 } as const;
   * session.restore({ outgoing: [{ packet, awaiting: "pubcomp" }], incoming: [9] });
   * session.connect({ type: "connect", protocolVersion: 4, clientId: "c", clean: false, keepAlive: 0 }, 0);
   * session.handle({ type: "connack", sessionPresent: true, reasonCode: 0 }, 0);
   * assert.deepEqual(sent.at(-1), { type: "pubrel", packetId: 7 });
   * ```
   *
   * @param snapshot The state to load.
   * @throws {TypeError} When the session is not offline or already has in-flight state, or
   *   an entry is not a QoS 1 or 2 PUBLISH with a valid topic and a matching phase.
   * @throws {RangeError} When a packet id is not in 1..65535 or appears twice in a direction.
   */
  restore(snapshot: ClientSessionSnapshot): void {
    if (this.#state !== "offline") {
      throw new TypeError(`Cannot restore session: session is ${this.#state}`);
    }
    if (
      this.#sender.ids.size !== 0 || this.#sender.queue.length !== 0 ||
      this.#receiver.unacknowledged !== 0
    ) {
      throw new TypeError("Cannot restore session: session already has in-flight state");
    }
    const outgoing = new Set<number>();
    for (const { packet, awaiting } of snapshot.outgoing) {
      if (packet?.type !== "publish" || (packet.qos !== 1 && packet.qos !== 2)) {
        throw new TypeError("Cannot restore session: outgoing entry is not a QoS 1 or 2 PUBLISH");
      }
      const expected = packet.qos === 1 ? awaiting === "puback" : awaiting !== "puback";
      if (!expected || (awaiting !== "puback" && awaiting !== "pubrec" && awaiting !== "pubcomp")) {
        throw new TypeError(
          `Cannot restore session: QoS ${packet.qos} message cannot await "${awaiting}"`,
        );
      }
      validateTopicName(packet.topic);
      checkRestoredId(packet.packetId, outgoing);
    }
    const incoming = new Set<number>();
    for (const id of snapshot.incoming) checkRestoredId(id, incoming);
    for (const { packet, awaiting } of snapshot.outgoing) {
      this.#sender.restore({ ...packet }, awaiting === "pubcomp");
    }
    this.#receiver.restore(incoming);
  }

  /**
   * Send CONNECT and wait for CONNACK.
   *
   * @param packet The CONNECT; its keep alive, MQTT 5 receive maximum and topic alias
   *   maximum become this client's limits.
   * @param now The time in ms.
   * @throws {TypeError} When not offline, or `packet` is not a CONNECT.
   */
  connect(packet: ConnectPacket, now: number): void {
    if (this.#state !== "offline") {
      throw new TypeError(`Cannot connect: session is ${this.#state}`);
    }
    if (packet.type !== "connect") {
      throw new TypeError(`Cannot connect: packet type "${packet.type}" is not "connect"`);
    }
    const version = packet.protocolVersion;
    if (version !== 3 && version !== 4 && version !== 5) {
      throw new RangeError(`Cannot connect: protocol version "${version}" is not 3, 4 or 5`);
    }
    const v5 = packet.protocolVersion === 5;
    this.#now = now;
    this.#connect = packet;
    this.#version = packet.protocolVersion;
    this.#keepAlive = packet.keepAlive;
    this.#clientId = packet.clientId;
    this.#connack = undefined;
    this.#pingSentAt = undefined;
    this.#receiver.version = this.#version;
    this.#receiver.receiveMaximum = v5 ? packet.properties?.receiveMaximum ?? 65_535 : Infinity;
    this.#receiver.topicAliasMaximum = v5 ? packet.properties?.topicAliasMaximum ?? 0 : 0;
    this.#receiver.newConnection();
    this.#sender.version = this.#version;
    this.#state = "connecting";
    this.#send(packet);
  }

  /**
   * Handle a packet from the server.
   *
   * @example A CONNACK refusal
   * ```ts
   * import assert from "node:assert/strict";
   * import { ClientSession } from "./client_session.ts";
   * const session = new ClientSession({ send() {}, deliver() {}, complete() {}, connected() {} });
   * session.connect({ type: "connect", protocolVersion: 4, clientId: "c", clean: true, keepAlive: 0 }, 0);
   * const err = session.handle({ type: "connack", sessionPresent: false, reasonCode: 5 }, 1);
   * assert.equal(err?.reasonCode, 0x87); // 3.1.1 "not authorized", as its MQTT 5 code
   * assert.equal(session.state, "offline");
   * ```
   *
   * @param packet The decoded packet.
   * @param now The time in ms.
   * @returns An error when the connection must close (a refused CONNACK, a DISCONNECT from
   *   the server, or a protocol error), else `undefined`. Packets handled while offline are
   *   ignored.
   */
  handle(packet: Packet, now: number): MqttError | undefined {
    if (this.#state === "offline") return undefined;
    this.#now = now;
    // Any packet proves the connection alive.
    this.#pingSentAt = undefined;
    if (this.#state === "connecting") {
      if (packet.type === "connack") return this.#connacked(packet, now);
      if (packet.type === "auth" && this.#version === 5) return this.#authReceived(packet);
      return this.#fail(
        new ProtocolError(`Cannot accept ${packet.type.toUpperCase()}: CONNACK expected`, {
          spec: "MQTT-3.2.0-1",
        }),
      );
    }
    switch (packet.type) {
      case "publish":
        return this.#failed(this.#receiver.receive(packet));
      case "puback":
      case "pubrec":
      case "pubcomp":
        return this.#failed(this.#sender.acknowledged(packet, now));
      case "pubrel":
        return this.#failed(this.#receiver.release(packet));
      case "suback":
      case "unsuback":
        return this.#failed(this.#requestAcknowledged(packet));
      case "pingresp":
        return undefined;
      case "disconnect":
        if (this.#version === 5) return this.#disconnected(packet);
        break;
      case "auth":
        if (this.#version === 5) return this.#authReceived(packet);
        break;
      case "connack":
        return this.#fail(
          new ProtocolError("Cannot accept CONNACK: already connected", { spec: "MQTT-3.2.0-2" }),
        );
    }
    return this.#fail(
      new ProtocolError(`Cannot accept ${packet.type.toUpperCase()}: not sent by servers`),
    );
  }

  /**
   * Publish an application message. QoS 0 is sent at once. QoS 1 and 2 get a packet id and
   * are sent while the server's receive maximum allows, else queued in order (also while
   * offline) and sent as acknowledgements free slots; the outcome comes to
   * {@linkcode ClientSessionOutput.complete}.
   *
   * @example Queue beyond the receive maximum
   * ```ts
   * import assert from "node:assert/strict";
   * import { ClientSession } from "./client_session.ts";
   * const session = new ClientSession({ send() {}, deliver() {}, complete() {}, connected() {} });
   * session.connect({ type: "connect", protocolVersion: 5, clientId: "c", clean: true, keepAlive: 0 }, 0);
   * session.handle({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 1 } }, 0);
   * const message = { type: "publish", topic: "t", payload: new Uint8Array(), qos: 1, retain: false, dup: false } as const;
   * session.publish(message, 1);
   * session.publish(message, 1);
   * assert.equal(session.inflightCount, 1);
   * assert.equal(session.queuedCount, 1);
   * ```
   *
   * @param packet The PUBLISH; its `packetId` and `dup` are ignored (the session sends a copy).
   * @param now The time in ms.
   * @returns The packet id, or 0 for QoS 0.
   * @throws {TypeError} When QoS 0 is published while not connected, or the topic is invalid.
   * @throws {RangeError} When the QoS, retain flag or topic alias exceed what the server
   *   accepts, or all 65535 packet identifiers are in use.
   */
  publish(packet: PublishPacket, now: number): number {
    if (packet.qos !== 0 && packet.qos !== 1 && packet.qos !== 2) {
      throw new RangeError(`Cannot publish: QoS "${packet.qos}" is not 0, 1 or 2`);
    }
    validateTopicName(packet.topic);
    if (packet.properties?.subscriptionIdentifiers !== undefined) {
      throw new TypeError("Cannot publish: subscription identifiers are for servers only");
    }
    this.#now = now;
    if (this.#state === "connected") this.#checkLimits(packet);
    if (packet.qos === 0) {
      if (this.#state !== "connected") {
        throw new TypeError(`Cannot publish with QoS 0: session is ${this.#state}`);
      }
      const { packetId: _, ...rest } = packet;
      this.#send(packet.dup || packet.packetId !== undefined ? { ...rest, dup: false } : packet);
      return 0;
    }
    const packetId = this.#sender.ids.allocate();
    if (packetId === undefined) {
      throw new RangeError("Cannot publish: all 65535 packet identifiers are in use");
    }
    const copy: PublishPacket = { ...packet, dup: false, packetId };
    if (this.#sender.canSend) this.#sender.transmit(copy);
    else this.#sender.enqueue(copy, now);
    return packetId;
  }

  /**
   * Send SUBSCRIBE; the SUBACK comes to {@linkcode ClientSessionOutput.complete}.
   *
   * @param packet The SUBSCRIBE; its `packetId` is ignored.
   * @param now The time in ms.
   * @returns The packet id.
   * @throws {TypeError} When not connected, or a filter is invalid.
   * @throws {RangeError} When a QoS is not 0..2 or all packet identifiers are in use.
   */
  subscribe(packet: SubscribePacket, now: number): number {
    if (packet.subscriptions.length === 0) {
      throw new TypeError("Cannot subscribe: no topic filters [MQTT-3.8.3-2]");
    }
    for (const s of packet.subscriptions) {
      validateTopicFilter(s.filter);
      if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) {
        throw new RangeError(`Cannot subscribe: QoS "${s.qos}" is not 0, 1 or 2`);
      }
    }
    return this.#request({ ...packet, packetId: 0 }, now);
  }

  /**
   * Send UNSUBSCRIBE; the UNSUBACK comes to {@linkcode ClientSessionOutput.complete}.
   *
   * @param packet The UNSUBSCRIBE; its `packetId` is ignored.
   * @param now The time in ms.
   * @returns The packet id.
   * @throws {TypeError} When not connected, or a filter is invalid.
   * @throws {RangeError} When all packet identifiers are in use.
   */
  unsubscribe(packet: UnsubscribePacket, now: number): number {
    if (packet.filters.length === 0) {
      throw new TypeError("Cannot unsubscribe: no topic filters [MQTT-3.10.3-2]");
    }
    for (const filter of packet.filters) validateTopicFilter(filter);
    return this.#request({ ...packet, packetId: 0 }, now);
  }

  /**
   * Acknowledge a message whose delivery callback returned {@linkcode ACK_DEFERRED}.
   *
   * @param packetId The id of the PUBLISH.
   * @param reasonCode The MQTT 5 reason code (default success; ignored on 3.x).
   * @returns `true` when the acknowledgement was sent, `false` when none was pending on
   *   this connection.
   * @throws {RangeError} When the reason code is not valid in PUBACK/PUBREC.
   */
  acknowledge(packetId: number, reasonCode = 0): boolean {
    return this.#receiver.acknowledge(packetId, reasonCode);
  }

  /**
   * Send AUTH (MQTT 5 enhanced authentication).
   *
   * @param packet The AUTH packet.
   * @param now The time in ms.
   * @throws {TypeError} When offline or the protocol version is not 5.
   */
  auth(packet: AuthPacket, now: number): void {
    if (this.#state === "offline" || this.#version !== 5) {
      throw new TypeError(
        `Cannot send AUTH: session is ${this.#state} on version ${this.#version}`,
      );
    }
    this.#now = now;
    this.#send(packet);
  }

  /**
   * Send DISCONNECT and go offline. The session state is kept for a later `connect()`.
   *
   * @param packet The DISCONNECT (MQTT 5 reason code and properties); default normal.
   * @throws {TypeError} When offline.
   * @throws {RangeError} When it sets a session expiry interval after CONNECT set 0.
   */
  disconnect(packet?: DisconnectPacket): void {
    if (this.#state === "offline") throw new TypeError("Cannot disconnect: session is offline");
    const expiry = packet?.properties?.sessionExpiryInterval;
    if (
      this.#version === 5 && expiry !== undefined && expiry !== 0 &&
      (this.#connect?.properties?.sessionExpiryInterval ?? 0) === 0
    ) {
      // v5 §3.14.2.2.2
      throw new RangeError(
        "Cannot disconnect: session expiry interval cannot be set when CONNECT set 0",
      );
    }
    let out: DisconnectPacket = { type: "disconnect" };
    if (this.#version === 5) out = { reasonCode: 0, ...packet, type: "disconnect" };
    this.#send(out);
    this.connectionLost();
  }

  /**
   * The network connection closed (or the driver closed it). Goes offline and keeps the
   * session; pending SUBSCRIBE and UNSUBSCRIBE complete with an {@linkcode MqttError}
   * (0x80). Calling it while offline does nothing.
   */
  connectionLost(): void {
    if (this.#state === "offline") return;
    this.#state = "offline";
    this.#sender.open = false;
    this.#receiver.open = false;
    this.#pingSentAt = undefined;
    if (this.#requests.size === 0) return;
    const pending = [...this.#requests.values()];
    for (const request of pending) this.#sender.ids.release(request.packetId);
    this.#requests.clear();
    for (const request of pending) {
      this.#output.complete(
        request,
        new MqttError(
          `Cannot ${request.type}: connection lost before ${
            request.type === "subscribe" ? "SUBACK" : "UNSUBACK"
          }`,
          { reasonCode: 0x80 },
        ),
      );
    }
  }

  /**
   * When {@linkcode ClientSession.tick} has work to do next: send PINGREQ, or give up
   * waiting for an answer to one.
   *
   * @returns The time in ms, or `undefined` when not connected or keep alive is 0.
   */
  nextDeadline(): number | undefined {
    if (this.#state !== "connected" || this.#keepAlive === 0) return undefined;
    if (this.#pingSentAt !== undefined) return this.#pingSentAt + this.#timeout();
    return this.#lastSent + this.#keepAlive * 1000;
  }

  /**
   * Run keep-alive: send PINGREQ when nothing was sent for a keep-alive period (v5
   * §3.1.2.10), report a timeout when nothing arrived within the ping timeout after it.
   *
   * @example Ping after a quiet keep-alive period
   * ```ts
   * import assert from "node:assert/strict";
   * import { ClientSession } from "./client_session.ts";
   * import type { Packet } from "./packet.ts";
   * const sent: Packet[] = [];
   * const session = new ClientSession({ send: (p) => void sent.push(p), deliver() {}, complete() {}, connected() {} });
   * session.connect({ type: "connect", protocolVersion: 4, clientId: "c", clean: true, keepAlive: 10 }, 0);
   * session.handle({ type: "connack", sessionPresent: false, reasonCode: 0 }, 5);
   * assert.equal(session.nextDeadline(), 10_000);
   * session.tick(10_000);
   * assert.deepEqual(sent.at(-1), { type: "pingreq" });
   * assert.equal(session.tick(20_000)?.reasonCode, 0x8d);
   * ```
   *
   * @param now The time in ms.
   * @returns An {@linkcode MqttError} with reason code 0x8D (Keep Alive timeout) when the
   *   server stopped answering (the session is then offline), else `undefined`.
   */
  tick(now: number): MqttError | undefined {
    if (this.#state !== "connected" || this.#keepAlive === 0) return undefined;
    this.#now = now;
    if (this.#pingSentAt !== undefined) {
      const timeout = this.#timeout();
      if (now < this.#pingSentAt + timeout) return undefined;
      this.connectionLost();
      return new MqttError(`Cannot keep connection alive: no answer to PINGREQ in ${timeout} ms`, {
        reasonCode: 0x8d,
      });
    }
    if (now >= this.#lastSent + this.#keepAlive * 1000) {
      this.#send({ type: "pingreq" });
      this.#pingSentAt = now;
    }
    return undefined;
  }

  #timeout(): number {
    return this.#pingTimeout ?? this.#keepAlive * 1000;
  }

  #send(packet: Packet): void {
    this.#lastSent = this.#now;
    if (this.#output.persist !== undefined) this.#persist(packet);
    this.#output.send(packet);
  }

  // The state change a packet about to be sent makes.
  #persist(packet: Packet): void {
    const persist = this.#output.persist!;
    switch (packet.type) {
      case "publish":
        // Resent messages have DUP set and were put when first sent.
        if (packet.qos > 0 && !packet.dup) persist({ type: "putOutgoing", packet });
        break;
      case "pubrel":
        // Not for the PUBREL answering a PUBREC of an unknown id.
        if (this.#sender.inflight.has(packet.packetId)) {
          persist({ type: "releaseOutgoing", packetId: packet.packetId });
        }
        break;
      case "pubrec":
        if ((packet.reasonCode ?? 0) < 0x80) {
          persist({ type: "putIncoming", packetId: packet.packetId });
        }
        break;
      case "pubcomp":
        persist({ type: "deleteIncoming", packetId: packet.packetId });
        break;
    }
  }

  #request(packet: SubscribePacket | UnsubscribePacket, now: number): number {
    if (this.#state !== "connected") {
      throw new TypeError(`Cannot ${packet.type}: session is ${this.#state}`);
    }
    const packetId = this.#sender.ids.allocate();
    if (packetId === undefined) {
      throw new RangeError(`Cannot ${packet.type}: all 65535 packet identifiers are in use`);
    }
    packet.packetId = packetId;
    this.#now = now;
    this.#requests.set(packetId, packet);
    this.#send(packet);
    return packetId;
  }

  // Limits from CONNACK that a PUBLISH must respect.
  #checkLimits(packet: PublishPacket): void {
    if (packet.qos > this.#maximumQoS) {
      throw new RangeError(
        `Cannot publish: QoS ${packet.qos} exceeds the server's maximum QoS ${this.#maximumQoS} [MQTT-3.2.2-11]`,
      );
    }
    if (packet.retain && !this.#retainAvailable) {
      throw new RangeError("Cannot publish: the server does not support retain [MQTT-3.2.2-14]");
    }
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined && (alias === 0 || alias > this.#topicAliasMaximum)) {
      throw new RangeError(
        `Cannot publish: topic alias "${alias}" is not in 1..${this.#topicAliasMaximum} [MQTT-3.3.2-9]`,
      );
    }
  }

  #connacked(packet: ConnackPacket, now: number): MqttError | undefined {
    this.#connack = packet;
    const connect = this.#connect!;
    if (packet.reasonCode !== 0) {
      const code = this.#version === 5 ? packet.reasonCode : V3_CONNACK[packet.reasonCode] ?? 0x80;
      this.connectionLost();
      return new MqttError(`Cannot connect: server refused with reason code ${code}`, {
        reasonCode: code,
      });
    }
    // MQTT 3.1 has no session present flag: a resumed session is assumed.
    const resumed = this.#version === 3 ? !connect.clean : packet.sessionPresent;
    if (resumed && connect.clean) {
      return this.#fail(
        new ProtocolError("Cannot accept CONNACK: session present after clean start", {
          spec: "MQTT-3.2.2-2",
        }),
      );
    }
    const p = this.#version === 5 ? packet.properties : undefined;
    if (p?.serverKeepAlive !== undefined) this.#keepAlive = p.serverKeepAlive;
    if (p?.assignedClientIdentifier !== undefined) this.#clientId = p.assignedClientIdentifier;
    this.#sender.window = p?.receiveMaximum ?? 65_535;
    this.#maximumPacketSize = p?.maximumPacketSize;
    this.#topicAliasMaximum = p?.topicAliasMaximum ?? 0;
    this.#maximumQoS = p?.maximumQoS ?? 2;
    this.#retainAvailable = p?.retainAvailable ?? true;
    this.#state = "connected";
    this.#sender.open = true;
    this.#receiver.open = true;
    if (resumed) {
      this.#sender.resend(now);
    } else {
      const persist = this.#output.persist;
      if (persist !== undefined) {
        for (const packetId of this.#receiver.awaitingRelease()) {
          persist({ type: "deleteIncoming", packetId });
        }
      }
      this.#receiver.clear();
      const { failed, completed } = this.#sender.reset(this.#retry, now);
      if (persist !== undefined) {
        for (const m of [...completed, ...failed]) {
          persist({ type: "deleteOutgoing", packetId: m.packetId! });
        }
      }
      for (const m of completed) {
        this.#output.complete(m, ackPacket("pubcomp", m.packetId!, this.#version) as PublishAck);
      }
      for (const m of failed) {
        this.#output.complete(
          m,
          new MqttError("Cannot publish: the server discarded the session", { reasonCode: 0x80 }),
        );
      }
      this.#sender.drain(now);
    }
    // The connection may have been lost in a completion callback.
    if (this.#state === "connected") this.#output.connected(packet);
    return undefined;
  }

  #requestAcknowledged(packet: SubackPacket | UnsubackPacket): MqttError | undefined {
    const request = this.#requests.get(packet.packetId);
    const expected = request?.type === "subscribe" ? "suback" : "unsuback";
    // An unknown id is ignored: its request failed when an earlier connection was lost.
    if (request === undefined) return undefined;
    if (packet.type !== expected) {
      return protocolError(
        `Cannot accept ${packet.type.toUpperCase()}: packet "${packet.packetId}" is a ${request.type.toUpperCase()}`,
        0x82,
        undefined,
      );
    }
    const count = request.type === "subscribe"
      ? request.subscriptions.length
      : request.filters.length;
    if (
      (packet.type === "suback" || this.#version === 5) && packet.reasonCodes.length !== count
    ) {
      return protocolError(
        `Cannot accept ${packet.type.toUpperCase()}: ${packet.reasonCodes.length} reason codes for ${count} topic filters`,
        0x82,
        packet.type === "suback" ? "MQTT-3.9.3-1" : "MQTT-3.11.3-1",
      );
    }
    this.#requests.delete(packet.packetId);
    this.#sender.ids.release(packet.packetId);
    this.#output.complete(request, packet);
    return undefined;
  }

  #disconnected(packet: DisconnectPacket): MqttError {
    const code = packet.reasonCode ?? 0;
    this.connectionLost();
    const reason = packet.properties?.reasonString;
    return new MqttError(
      `Server disconnected with reason code ${code}${reason === undefined ? "" : `: ${reason}`}`,
      { reasonCode: code },
    );
  }

  #authReceived(packet: AuthPacket): MqttError | undefined {
    if (this.#connect?.properties?.authenticationMethod === undefined) {
      return this.#fail(
        new ProtocolError("Cannot accept AUTH: CONNECT had no authentication method", {
          spec: "MQTT-4.12.0-6",
        }),
      );
    }
    this.#output.auth?.(packet);
    return undefined;
  }

  #failed(error: MqttError | undefined): MqttError | undefined {
    return error === undefined ? undefined : this.#fail(error);
  }

  // A server fault: DISCONNECT with its reason code on MQTT 5, then offline.
  #fail(error: MqttError): MqttError {
    if (this.#state === "connected" && this.#version === 5) {
      this.#send({ type: "disconnect", reasonCode: error.reasonCode });
    }
    this.connectionLost();
    return error;
  }
}
