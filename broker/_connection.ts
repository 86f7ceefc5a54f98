/**
 * One client connection: socket → Decoder → ServerSession, and packets back out.
 *
 * @module
 */

import {
  Decoder,
  encodePacket,
  encodePacketTo,
  type EncodeTarget,
  isValidReasonCode,
  type MqttError,
  type Packet,
  type ProtocolVersion,
  PublishTemplate,
  ServerSession,
  type ServerSessionOptions,
} from "../protocol/mod.ts";
import { readVarint, varintSize, writeVarint } from "../protocol/varint.ts";
import type {
  AuthPacket,
  ConnectPacket,
  PublishPacket,
  SubscribePacket,
  UnsubscribePacket,
} from "../protocol/mod.ts";
import type { Socket } from "../socket/types.ts";
import type {
  Admission,
  AuthExchange,
  ClientRecord,
  ClientSubscription,
  Counters,
  RetainedMessage,
} from "./_state.ts";

/**
 * The pre-encoded form of a fan-out PUBLISH, attached to the packet object under
 * {@linkcode ENCODED}. The session machine copies the packet with a spread to add the packet
 * id, which keeps this symbol-keyed field, so `send()` finds the shared bytes and only patches
 * the packet id (ARCHITECTURE.md rule 6). It is used only while the packet still has the
 * properties, QoS and retain flag it was encoded with.
 */
export interface Encoded {
  /** Encoded for MQTT 5 (else for 3.1 and 3.1.1, whose PUBLISH is the same). */
  readonly v5: boolean;
  /** The shared bytes. */
  readonly template: PublishTemplate;
  /** The properties object the bytes were encoded from. */
  readonly properties: PublishPacket["properties"];
  /** The QoS encoded. */
  readonly qos: number;
  /** The retain flag encoded. */
  readonly retain: boolean;
}

/** The key of {@linkcode Encoded} on a PUBLISH packet. */
export const ENCODED: unique symbol = Symbol("mq.encoded");

/** A PUBLISH that may carry its encoded form. */
export type TaggedPublish = PublishPacket & { [ENCODED]?: Encoded };

/**
 * Tag a packet with its encoded form.
 *
 * @param packet The packet (without packet id).
 * @param v5 Encode for MQTT 5.
 * @returns The same packet, tagged.
 */
export function tagPublish(packet: TaggedPublish, v5: boolean): TaggedPublish {
  packet[ENCODED] = {
    v5,
    template: PublishTemplate.from(packet, v5 ? 5 : 4),
    properties: packet.properties,
    qos: packet.qos,
    retain: packet.retain,
  };
  return packet;
}

/** What a {@linkcode Connection} needs from the broker. */
export interface ConnectionHost {
  /** Counters for `$SYS`. */
  readonly counters: Counters;
  /** Whether debug logging is on. */
  readonly debug: boolean;
  /** Whether a store is in use (then `sent` and `holdOutput` are called for each packet). */
  readonly persisting: boolean;
  /** A connected client's packets were handled (its session may have changed). */
  received(connection: Connection): void;
  /**
   * Whether a packet for this connection must wait for the store's next commit (then
   * {@linkcode Connection.releaseOutput} writes it).
   */
  holdOutput(connection: Connection): boolean;
  /** Commit now (and release held output). */
  commitNow(): void;
  /** Send more of the connection's retained backlog, as far as it can take them. */
  pumpRetained(connection: Connection): void;
  /**
   * The connection drained its socket or handled packets from its client, with publishers
   * waiting for its backlog or after it stalled: see whether they may go on.
   */
  drained(connection: Connection): void;
  /** A packet is being sent to the client (the store follows its session's messages). */
  sent(connection: Connection, packet: Packet): void;
  /** An outgoing QoS 1 or 2 flow ended (PUBACK, PUBCOMP, or a failed PUBREC). */
  delivered(connection: Connection, packet: PublishPacket): void;
  /** Log a line. */
  log(level: "error" | "warning" | "notice" | "information" | "debug", message: string): void;
  /** CONNECT arrived: accept or refuse. */
  onConnect(connection: Connection, packet: ConnectPacket): void;
  /** A PUBLISH arrived: route it. */
  onPublish(connection: Connection, packet: PublishPacket): number | void;
  /** A SUBSCRIBE arrived. */
  onSubscribe(connection: Connection, packet: SubscribePacket): void;
  /** An UNSUBSCRIBE arrived. */
  onUnsubscribe(connection: Connection, packet: UnsubscribePacket): void;
  /** An AUTH arrived (MQTT 5, the CONNECT had an authentication method). */
  onAuth(connection: Connection, packet: AuthPacket): void;
  /** The connection ended (called once). */
  onEnded(connection: Connection, error: Error | undefined): void;
  /** The socket has closed (called once, after {@linkcode ConnectionHost.onEnded}). */
  socketClosed(connection: Connection): void;
}

/** Options of a {@linkcode Connection}. */
export interface ConnectionOptions {
  /** Session limits. */
  session: ServerSessionOptions;
  /** Largest packet accepted. */
  maximumPacketSize: number;
  /** Index of the listener that accepted it; -1 for `Broker.connect()`. */
  listener: number;
}

const NOTHING = new Uint8Array(0);

/** One client connection. */
export class Connection implements EncodeTarget {
  readonly socket: Socket;
  readonly session: ServerSession;
  readonly decoder: Decoder;
  /** When the socket was attached, in ms. */
  readonly openedAt: number;
  /** Index of the listener that accepted it; -1 for `Broker.connect()`. */
  readonly listener: number;
  /** The session record, once CONNECT was accepted. */
  record: ClientRecord | undefined;
  /** The client id, once known (for logs). */
  clientId = "";
  /** Protocol version of CONNECT. */
  version: ProtocolVersion = 4;
  /** `write()` returned false and no drain came yet. */
  congested = false;
  /** QoS 0 messages written since the socket became congested. */
  congestedCount = 0;
  /** Payload bytes of QoS 0 messages written since the socket became congested. */
  congestedBytes = 0;
  /** The connection has ended (the broker's side is done with it). */
  ended = false;
  /**
   * Publishers whose reading is paused until this connection's backlog clears (back
   * pressure, docs/broker.md), or undefined.
   */
  waiters: Connection[] | undefined;
  /** When the first publisher started waiting for this connection, in ms. */
  pressuredAt = 0;
  /**
   * When this connection was found stalled (publishers waited too long for it), in ms; 0
   * when it is not. A stalled connection holds up no publisher: messages it cannot take are
   * dropped, as without back pressure.
   */
  stalledAt = 0;
  /** How many connections' backlogs this one waits for; its input is read again at 0. */
  blockedOn = 0;
  /** The CONNECT while the authentication hook decides. */
  admission: Admission | undefined;
  /** The authentication exchange in progress, if any. */
  authExchange: AuthExchange | undefined;
  readonly #host: ConnectionHost;
  #socketClosed = false;
  #closeWaiters: (() => void)[] | undefined;

  /**
   * Attach a socket.
   *
   * @param host The broker.
   * @param socket The socket.
   * @param options Limits.
   */
  constructor(host: ConnectionHost, socket: Socket, options: ConnectionOptions) {
    this.#host = host;
    this.socket = socket;
    this.openedAt = Date.now();
    this.listener = options.listener;
    this.decoder = new Decoder({ side: "server", maximumPacketSize: options.maximumPacketSize });
    this.session = new ServerSession(this, options.session);
    // The connection is its socket's handlers object: no closures per connection.
    socket.setHandlers(this);
  }

  /** A label for logs. */
  get label(): string {
    const r = this.socket.remoteAddress;
    return this.clientId === "" ? `${r.hostname}:${r.port}` : this.clientId;
  }

  // ServerSessionOutput

  /**
   * An outgoing flow ended (ServerSessionOutput).
   *
   * @param packet The message.
   */
  delivered(packet: PublishPacket): void {
    this.#host.delivered(this, packet);
  }

  /**
   * Write a packet (ServerSessionOutput).
   *
   * @param packet The packet.
   */
  send(packet: Packet): void {
    if (this.ended || this.#socketClosed) return;
    let bytes: Uint8Array;
    const counters = this.#host.counters;
    try {
      if (packet.type === "publish") {
        counters.publishSent++;
        counters.publishBytesSent += packet.payload.length;
        const tag = (packet as TaggedPublish)[ENCODED];
        if (
          tag !== undefined && tag.v5 === (this.version === 5) &&
          tag.properties === packet.properties && tag.qos === packet.qos &&
          tag.retain === packet.retain
        ) {
          bytes = packet.qos === 0
            ? tag.template.bytes
            : tag.template.withPacketId(packet.packetId!, packet.dup);
        } else if (this.version !== 5 && packet.properties !== undefined) {
          // A message queued for MQTT 5 resumed by an MQTT 3.x connection
          const { properties: _, ...rest } = packet;
          bytes = encodePacket(rest, this.version);
        } else if (this.#direct) {
          this.#sendDirect(packet);
          return;
        } else {
          bytes = encodePacket(packet, this.version);
        }
      } else if (this.version === 5 && "properties" in packet && packet.properties !== undefined) {
        bytes = this.#encodeTrimmed(packet);
      } else if (this.#direct) {
        this.#sendDirect(packet);
        return;
      } else {
        bytes = encodePacket(packet, this.version);
      }
    } catch (error) {
      this.#host.log(
        "error",
        `Cannot send ${packet.type.toUpperCase()} to ${this.label}: ${error}`,
      );
      return;
    }
    counters.messagesSent++;
    counters.bytesSent += bytes.length;
    if (this.#host.debug) this.#host.log("debug", `Sending ${describe(packet)} to ${this.label}`);
    if (this.#host.persisting) {
      this.#host.sent(this, packet);
      if (this.#gated !== undefined || this.#host.holdOutput(this)) {
        // Held until the store committed the state this packet reports (a persistent
        // session's packet ids, PUBREL after PUBREC…); copied, as templates are reused.
        (this.#gated ??= []).push(bytes.slice());
        return;
      }
    }
    if (!this.socket.write(bytes)) this.congested = true;
  }

  #gated: Uint8Array[] | undefined;

  /**
   * Write retained messages from their stored form (an MQTT 3.x QoS 0 PUBLISH without
   * properties, {@linkcode RetainedMessage.wire}), from `items[index]` on, while the socket
   * takes them: as they are for MQTT 3.x, with the empty Property Length added for MQTT 5.
   * Replaced ones are skipped. Stops at a message that needs encoding (no stored form, QoS
   * above 0 for a QoS 1/2 subscription, beyond the client's Maximum Packet Size), which the
   * caller sends, or once the socket is congested. Not for a connection whose output a
   * store may hold.
   *
   * @param items The backlog.
   * @param index Where to start.
   * @param qos The subscription's QoS.
   * @param maxPacket The client's Maximum Packet Size, if any.
   * @returns The index of the first message not handled.
   */
  sendStored(
    items: readonly RetainedMessage[],
    index: number,
    qos: number,
    maxPacket: number | undefined,
  ): number {
    if (this.ended || this.#socketClosed) return items.length;
    const counters = this.#host.counters;
    const socket = this.socket;
    const v5 = this.version === 5;
    const direct = v5 && this.#direct;
    while (index < items.length) {
      const message = items[index]!;
      const wire = message.wire;
      if (message.replaced === true) {
        index++;
        continue;
      }
      if (
        wire === undefined || (qos !== 0 && message.packet.qos !== 0) ||
        (v5 && maxPacket !== undefined && wire.length + 2 > maxPacket)
      ) {
        return index;
      }
      index++;
      counters.publishSent++;
      counters.publishBytesSent += message.packet.payload.length;
      counters.messagesSent++;
      if (this.#host.debug) {
        const packet = { ...message.packet, qos: 0 as const };
        this.#host.log("debug", `Sending ${describe(packet)} to ${this.label}`);
      }
      let written: boolean;
      if (!v5) {
        counters.bytesSent += wire.length;
        written = socket.write(wire);
      } else {
        // The Remaining Length grows by one, the Property Length byte after the Topic Name.
        const remaining = readVarint(wire, 1, 5);
        const p = 1 + varintSize(remaining);
        const topicEnd = p + 2 + ((wire[p]! << 8) | wire[p + 1]!);
        const length = remaining + 1;
        const size = 1 + varintSize(length) + length;
        counters.bytesSent += size;
        let out: Uint8Array;
        let at: number;
        if (direct) {
          at = socket.reserve!(size);
          out = socket.writeQueue!;
        } else {
          out = new Uint8Array(size);
          at = 0;
        }
        // The whole stored form goes where its payload belongs, then the header and Topic
        // Name are rewritten in front of it (memmove, no subarray per message).
        const base = at;
        const q = 1 + varintSize(length);
        out.set(wire, base + q - p + 1);
        out[base] = wire[0]!;
        writeVarint(out, base + 1, length);
        out.copyWithin(base + q, base + q + 1, base + q + 1 + topicEnd - p);
        out[base + q + topicEnd - p] = 0;
        written = socket.write(direct ? NOTHING : out);
      }
      if (!written) {
        this.congested = true;
        return index;
      }
    }
    return index;
  }

  // Whether a packet may be encoded straight into the socket's write queue (the adapter
  // offers one, and no store holds output back).
  get #direct(): boolean {
    return this.socket.reserve !== undefined && !this.#host.persisting && !this.socket.closed;
  }

  #sendDirect(packet: Packet): void {
    const size = encodePacketTo(packet, this.version, this);
    const counters = this.#host.counters;
    counters.messagesSent++;
    counters.bytesSent += size;
    if (this.#host.debug) this.#host.log("debug", `Sending ${describe(packet)} to ${this.label}`);
    if (!this.socket.write(NOTHING)) this.congested = true;
  }

  /**
   * Make room in the socket's write queue (EncodeTarget, for {@linkcode encodePacketTo}).
   *
   * @param size Bytes.
   * @returns Their offset in {@linkcode Connection.buffer}.
   */
  reserve(size: number): number {
    return this.socket.reserve!(size);
  }

  /** The socket's write queue (EncodeTarget). */
  get buffer(): Uint8Array {
    return this.socket.writeQueue!;
  }

  /** Write what {@linkcode ConnectionHost.holdOutput} held, now that it is committed. */
  releaseOutput(): void {
    const gated = this.#gated;
    if (gated === undefined) return;
    this.#gated = undefined;
    if (this.#socketClosed) return;
    for (const bytes of gated) if (!this.socket.write(bytes)) this.congested = true;
  }

  // MQTT 5 Reason Strings and User Properties go only where the client allows them: on
  // PUBLISH, CONNACK and DISCONNECT when it set Request Problem Information to 0
  // [MQTT-3.1.2-29], and never beyond its Maximum Packet Size [MQTT-3.2.2-19] [MQTT-3.2.2-20]
  // (likewise for every other packet: [MQTT-3.4.2-2], [MQTT-3.14.2-3], [MQTT-3.15.2-2] …).
  #encodeTrimmed(packet: Exclude<Packet, PublishPacket>): Uint8Array {
    const properties = "properties" in packet ? packet.properties : undefined;
    if (
      properties === undefined ||
      (properties.reasonString === undefined && properties.userProperties === undefined)
    ) {
      return encodePacket(packet, 5);
    }
    const connect = this.session.connectPacket;
    const type = packet.type;
    if (
      connect?.properties?.requestProblemInformation === false && type !== "connack" &&
      type !== "disconnect"
    ) {
      return encodePacket(withoutProblemInformation(packet), 5);
    }
    const bytes = encodePacket(packet, 5);
    const max = connect?.properties?.maximumPacketSize;
    if (max !== undefined && bytes.length > max) {
      return encodePacket(withoutProblemInformation(packet), 5);
    }
    return bytes;
  }

  /**
   * An AUTH arrived (ServerSessionOutput).
   *
   * @param packet The AUTH.
   */
  auth(packet: AuthPacket): void {
    this.#host.onAuth(this, packet);
  }

  /**
   * CONNECT arrived (ServerSessionOutput).
   *
   * @param packet The CONNECT.
   */
  connect(packet: ConnectPacket): void {
    this.version = packet.protocolVersion;
    this.clientId = packet.clientId;
    this.#host.onConnect(this, packet);
  }

  /**
   * A PUBLISH arrived (ServerSessionOutput).
   *
   * @param packet The message.
   * @returns The acknowledgement reason code.
   */
  publish(packet: PublishPacket): number | void {
    return this.#host.onPublish(this, packet);
  }

  /**
   * A SUBSCRIBE arrived (ServerSessionOutput).
   *
   * @param packet The SUBSCRIBE.
   */
  subscribe(packet: SubscribePacket): void {
    this.#host.onSubscribe(this, packet);
  }

  /**
   * An UNSUBSCRIBE arrived (ServerSessionOutput).
   *
   * @param packet The UNSUBSCRIBE.
   */
  unsubscribe(packet: UnsubscribePacket): void {
    this.#host.onUnsubscribe(this, packet);
  }

  /**
   * Close because of a fault the session reported (it already sent DISCONNECT when allowed).
   *
   * @param error The fault.
   */
  fail(error: MqttError): void {
    if (this.ended) return;
    this.#host.log(
      "notice",
      `Client ${this.label} disconnected: ${error.message} (reason 0x${hex(error.reasonCode)})`,
    );
    this.end(error);
  }

  /**
   * End the connection from the broker's side: the socket closes after flushing.
   *
   * @param error The cause, if a fault.
   */
  end(error?: Error): void {
    if (this.ended) return;
    // Held output goes out first, once committed.
    if (this.#gated !== undefined) this.#host.commitNow();
    this.ended = true;
    this.session.connectionLost();
    this.socket.close();
    this.#host.onEnded(this, error);
  }

  /**
   * Resolve once the socket has closed.
   *
   * @returns A promise.
   */
  whenClosed(): Promise<void> {
    if (this.#socketClosed) return Promise.resolve();
    return new Promise((resolve) => (this.#closeWaiters ??= []).push(resolve));
  }

  /**
   * Check the connect timeout and keep alive.
   *
   * @param now The time in ms.
   * @param connectTimeout The connect timeout in ms.
   */
  tick(now: number, connectTimeout: number): void {
    if (this.ended) return;
    const state = this.session.state;
    if (state === "awaiting-connect" || state === "authenticating") {
      if (now - this.openedAt >= connectTimeout) {
        this.#host.log("notice", `Client ${this.label} closed: no CONNECT in time`);
        this.end();
      }
      return;
    }
    // Not read while back pressure holds it (bounded by backPressureTimeout): its PINGREQs
    // wait in the socket, so its keep alive is not the client's fault.
    if (this.blockedOn > 0) return;
    const error = this.session.tick(now);
    if (error !== undefined) this.fail(error);
  }

  /**
   * Bytes arrived (SocketHandlers).
   *
   * @param chunk The bytes.
   */
  onData(chunk: Uint8Array): void {
    if (this.ended) return;
    this.#host.counters.bytesReceived += chunk.length;
    this.decoder.push(chunk);
    this.#process();
  }

  /**
   * Stop handling this client's packets (and reading its socket) until as many
   * {@linkcode Connection.unblock} calls: a connection it published to is backed up.
   */
  block(): void {
    if (this.blockedOn++ === 0) this.socket.pause();
  }

  /** Undo one {@linkcode Connection.block}; at the last, read and handle packets again. */
  unblock(): void {
    if (this.blockedOn === 0 || --this.blockedOn > 0 || this.ended) return;
    this.socket.resume();
    // The decoder may hold packets that arrived with the one that blocked.
    queueMicrotask(() => {
      if (!this.ended && this.blockedOn === 0) this.#process();
    });
  }

  #process(): void {
    const counters = this.#host.counters;
    const decoder = this.decoder;
    const now = Date.now();
    let packet;
    while (this.blockedOn === 0 && (packet = decoder.next()) !== undefined) {
      counters.messagesReceived++;
      if (packet.type === "publish") {
        counters.publishReceived++;
        counters.publishBytesReceived += packet.payload.length;
      }
      if (this.#host.debug) {
        this.#host.log("debug", `Received ${describe(packet)} from ${this.label}`);
      }
      const error = this.session.handle(packet, now);
      if (error !== undefined) {
        this.fail(error);
        return;
      }
      if (this.ended) return;
      if (this.session.state === "closed") {
        // DISCONNECT from the client, or CONNECT refused
        this.end();
        return;
      }
    }
    if (this.record !== undefined && this.#host.persisting) this.#host.received(this);
    // Acknowledgements may have made room for more retained messages, or for publishers.
    if (this.retainedBacklog !== undefined) this.#host.pumpRetained(this);
    if (this.waiters !== undefined || this.stalledAt !== 0) this.#host.drained(this);
    if (this.blockedOn > 0) return;
    const error = decoder.error;
    if (error !== undefined) this.#malformed(error);
  }

  // The decoder is poisoned: tell the client why when the protocol allows (v5 §4.13).
  #malformed(error: MqttError): void {
    const code = error.reasonCode;
    const state = this.session.state;
    if (state === "connected") {
      this.session.disconnect(isValidReasonCode("disconnect", code) ? code : 0x81);
    } else if (state !== "closed") {
      // CONNECT not accepted yet: answer with CONNACK.
      const version = this.decoder.protocolVersion;
      if (version === 5 && isValidReasonCode("connack", code)) {
        this.#write(encodePacket({ type: "connack", sessionPresent: false, reasonCode: code }, 5));
      } else if (error.spec === "MQTT-3.1.2-2") {
        // [MQTT-3.1.2-2] (v3.1.1): unacceptable protocol level. A wrong protocol name just
        // closes [MQTT-3.1.2-1] (v3.1.1), like mosquitto.
        this.#write(encodePacket({ type: "connack", sessionPresent: false, reasonCode: 1 }, 4));
      }
    }
    this.fail(error);
  }

  #write(bytes: Uint8Array): void {
    this.#host.counters.messagesSent++;
    this.#host.counters.bytesSent += bytes.length;
    this.socket.write(bytes);
  }

  /** The socket drained (SocketHandlers). */
  onDrain(): void {
    this.congested = false;
    this.congestedCount = 0;
    this.congestedBytes = 0;
    if (this.retainedBacklog !== undefined) this.#host.pumpRetained(this);
    if (this.waiters !== undefined || this.stalledAt !== 0) this.#host.drained(this);
  }

  /** Retained messages still to send for new subscriptions, as the socket takes them. */
  retainedBacklog:
    | { items: RetainedMessage[]; index: number; sub: ClientSubscription }[]
    | undefined;

  /**
   * The socket closed (SocketHandlers).
   *
   * @param error The failure that closed it, if any.
   */
  onClose(error?: Error): void {
    this.#socketClosed = true;
    if (!this.ended) {
      this.ended = true;
      this.session.connectionLost();
      this.#host.onEnded(this, error);
    }
    this.#host.socketClosed(this);
    const waiters = this.#closeWaiters;
    this.#closeWaiters = undefined;
    if (waiters !== undefined) { for (const resolve of waiters) resolve(); }
  }
}

// A copy of a packet without Reason String and User Properties.
function withoutProblemInformation<P extends Exclude<Packet, PublishPacket>>(packet: P): P {
  if (!("properties" in packet) || packet.properties === undefined) return packet;
  const { reasonString: _r, userProperties: _u, ...rest } = packet.properties;
  const copy = { ...packet };
  if (Object.keys(rest).length > 0) (copy as { properties?: unknown }).properties = rest;
  else delete (copy as { properties?: unknown }).properties;
  return copy;
}

function hex(code: number): string {
  return code.toString(16).padStart(2, "0");
}

// Mosquitto-style description of a packet for debug logs.
function describe(packet: Packet): string {
  switch (packet.type) {
    case "publish":
      return `PUBLISH (d${packet.dup ? 1 : 0}, q${packet.qos}, r${packet.retain ? 1 : 0}, m${
        packet.packetId ?? 0
      }, '${packet.topic}', ... (${packet.payload.length} bytes))`;
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return `${packet.type.toUpperCase()} (m${packet.packetId}, rc${packet.reasonCode ?? 0})`;
    case "connack":
      return `CONNACK (${packet.sessionPresent ? 1 : 0}, ${packet.reasonCode})`;
    default:
      return packet.type.toUpperCase();
  }
}
