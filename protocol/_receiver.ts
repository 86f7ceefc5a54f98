// This module is browser compatible.
/**
 * The receiving side of PUBLISH flows, shared by the client and server session machines.
 * Spec ids are v5's.
 *
 * @module
 */

import { MqttError } from "./errors.ts";
import type { Packet, ProtocolVersion, PublishPacket, PubrelPacket } from "./packet.ts";
import { isValidReasonCode } from "./reason_code.ts";
import { TopicFault, topicFaultSpec, topicNameFault } from "./topic.ts";
import {
  ACK_DEFERRED,
  ackPacket,
  protocolError,
  type Role,
  withoutTopicAlias,
} from "./_session_common.ts";

function checkAckCode(type: "puback" | "pubrec", code: number): void {
  if (!isValidReasonCode(type, code)) {
    throw new RangeError(
      `Cannot acknowledge PUBLISH: reason code "${code}" is not valid in ${type.toUpperCase()}`,
    );
  }
}

// Shared by every receiver with no QoS 1/2 flow open and never written (replaced first), so
// an idle session allocates no map or set.
const NO_QOS2: Map<number, number> = new Map();
const NO_QOS1: Set<number> = new Set();

/**
 * The receiving side of PUBLISH flows (v5 §4.3): delivers each application message once,
 * answers PUBACK, PUBREC and PUBCOMP, resolves topic aliases and enforces the receive
 * maximum. The QoS 2 table is session state and survives reconnects; topic aliases and
 * deferred QoS 1 acknowledgements belong to one network connection.
 */
export class Receiver {
  /** Protocol version of the current connection. */
  version: ProtocolVersion = 4;
  /** Our Receive Maximum: unacknowledged QoS 1 and 2 messages allowed from the peer. */
  receiveMaximum: number = Infinity;
  /** Our Topic Alias Maximum: 0 accepts no topic alias. */
  topicAliasMaximum = 0;
  /** Whether acknowledgements may be sent (the connection is up). */
  open = false;

  readonly #role: Role;
  readonly #send: (packet: Packet) => void;
  readonly #deliver: (packet: PublishPacket) => number | void;
  // QoS 2 packet id -> PUBREC reason code sent, or ACK_DEFERRED while the host decides.
  #qos2: Map<number, number> = NO_QOS2;
  // QoS 1 packet ids whose PUBACK is deferred.
  #qos1: Set<number> = NO_QOS1;
  #aliases: Map<number, string> | undefined;

  /**
   * @param role The side this machine plays.
   * @param send Writes a packet.
   * @param deliver Hands an application message to the host; returns a reason code,
   *   `undefined` (success) or {@linkcode ACK_DEFERRED}.
   */
  constructor(
    role: Role,
    send: (packet: Packet) => void,
    deliver: (packet: PublishPacket) => number | void,
  ) {
    this.#role = role;
    this.#send = send;
    this.#deliver = deliver;
  }

  /** The QoS 1 and 2 messages received and not yet fully acknowledged. */
  get unacknowledged(): number {
    return this.#qos1.size + this.#qos2.size;
  }

  /**
   * Handle an incoming PUBLISH.
   *
   * @param packet The packet.
   * @returns A protocol error, or `undefined`.
   */
  receive(packet: PublishPacket): MqttError | undefined {
    let message = packet;
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined && this.version === 5) {
      const resolved = this.#resolveAlias(packet, alias);
      if (resolved instanceof MqttError) return resolved;
      message = resolved;
    }
    const fault = topicNameFault(message.topic);
    if (fault !== undefined) {
      return fault === TopicFault.Empty
        ? protocolError(
          "Cannot accept PUBLISH: empty topic name without a topic alias",
          0x82,
          "MQTT-4.7.3-1",
        )
        : protocolError(
          `Cannot accept PUBLISH: topic name "${message.topic}" is invalid: ${fault}`,
          0x90,
          topicFaultSpec(fault),
        );
    }
    if (message.qos === 0) {
      this.#deliver(message);
      return undefined;
    }
    const id = message.packetId ?? 0;
    if (message.qos === 2) {
      const state = this.#qos2.get(id);
      if (state !== undefined) {
        // A repeat before PUBREL: acknowledge again, never deliver twice [MQTT-4.3.3-10].
        if (state !== ACK_DEFERRED) this.#send(ackPacket("pubrec", id, this.version, state));
        return undefined;
      }
    }
    if (this.#qos1.has(id) || this.#qos2.has(id)) {
      return protocolError(
        `Cannot accept PUBLISH: packet identifier "${id}" is in use`,
        0x82,
        this.#role === "server" ? "MQTT-2.2.1-3" : "MQTT-2.2.1-4",
      );
    }
    if (this.unacknowledged >= this.receiveMaximum) {
      return protocolError(
        `Cannot accept PUBLISH: more than ${this.receiveMaximum} unacknowledged QoS 1 and 2 messages`,
        0x93,
        this.#role === "server" ? "MQTT-3.3.4-7" : "MQTT-3.3.4-9",
      );
    }
    if (message.qos === 2) this.#setQos2(id, ACK_DEFERRED);
    const code = this.#deliver(message);
    if (code === ACK_DEFERRED) {
      if (message.qos === 1) {
        if (this.#qos1 === NO_QOS1) this.#qos1 = new Set();
        this.#qos1.add(id);
      }
      return undefined;
    }
    if (message.qos === 1) this.#ackQos1(id, code ?? 0);
    else this.#ackQos2(id, code ?? 0);
    return undefined;
  }

  /**
   * Handle an incoming PUBREL: forget the id and send PUBCOMP, also for an unknown id (it
   * may have been completed before a reconnect), with 0x92 on MQTT 5 (v5 §3.7.2.1).
   *
   * @param packet The PUBREL.
   * @returns A protocol error, or `undefined`.
   */
  release(packet: PubrelPacket): MqttError | undefined {
    const id = packet.packetId;
    const state = this.#qos2.get(id);
    if (state === ACK_DEFERRED) {
      return protocolError(`Cannot accept PUBREL: no PUBREC was sent for "${id}"`, 0x82, undefined);
    }
    if (state !== undefined) this.#qos2.delete(id);
    // [MQTT-4.3.3-11]
    this.#send(ackPacket("pubcomp", id, this.version, state === undefined ? 0x92 : 0));
    return undefined;
  }

  /**
   * Send a deferred acknowledgement.
   *
   * @param packetId The id of the PUBLISH.
   * @param reasonCode The MQTT 5 reason code (ignored on 3.x).
   * @returns `true` when an acknowledgement was pending and is now sent.
   * @throws {RangeError} When the reason code is not valid in PUBACK/PUBREC on MQTT 5.
   */
  acknowledge(packetId: number, reasonCode: number): boolean {
    // PUBACK and PUBREC allow the same codes.
    if (this.version === 5) checkAckCode("puback", reasonCode);
    if (!this.open) return false;
    if (this.#qos1.has(packetId)) {
      this.#ackQos1(packetId, reasonCode);
      this.#qos1.delete(packetId);
      return true;
    }
    if (this.#qos2.get(packetId) === ACK_DEFERRED) {
      this.#ackQos2(packetId, reasonCode);
      return true;
    }
    return false;
  }

  #setQos2(id: number, state: number): void {
    if (this.#qos2 === NO_QOS2) this.#qos2 = new Map();
    this.#qos2.set(id, state);
  }

  /**
   * A new network connection begins: topic aliases and deferred QoS 1 acknowledgements
   * are dropped [MQTT-3.3.2-7] (the peer resends those messages); a QoS 2 message still
   * waiting for the host counts as accepted, so a resend gets PUBREC 0x00.
   */
  newConnection(): void {
    this.#aliases = undefined;
    this.#qos1.clear();
    for (const [id, state] of this.#qos2) {
      if (state === ACK_DEFERRED) this.#qos2.set(id, 0);
    }
  }

  /**
   * The ids of QoS 2 messages acknowledged with PUBREC and waiting for PUBREL (those still
   * waiting for the host's deferred acknowledgement left out), in the order received.
   *
   * @returns The packet ids.
   */
  awaitingRelease(): number[] {
    const ids: number[] = [];
    for (const [id, state] of this.#qos2) if (state !== ACK_DEFERRED) ids.push(id);
    return ids;
  }

  /**
   * Mark QoS 2 messages of a restored session as received and acknowledged with PUBREC
   * 0x00: a repeated PUBLISH with one of these ids is answered, not delivered, and PUBREL
   * completes it.
   *
   * @param ids The packet ids.
   */
  restore(ids: Iterable<number>): void {
    for (const id of ids) this.#setQos2(id, 0);
  }

  /** The session is discarded: forget everything. */
  clear(): void {
    this.newConnection();
    this.#qos2.clear();
  }

  /**
   * Take over another receiver's session state (the QoS 2 table).
   *
   * @param other The receiver of the previous connection.
   */
  adopt(other: Receiver): void {
    other.newConnection();
    this.#qos2 = other.#qos2;
    other.#qos2 = NO_QOS2;
  }

  #ackQos1(id: number, code: number): void {
    if (this.version === 5) checkAckCode("puback", code);
    this.#send(ackPacket("puback", id, this.version, code));
  }

  #ackQos2(id: number, code: number): void {
    if (this.version === 5) checkAckCode("pubrec", code);
    // A failure ends the flow: the id is free for a new message [MQTT-4.3.3-9].
    if (this.version === 5 && code >= 0x80) this.#qos2.delete(id);
    else this.#setQos2(id, this.version === 5 ? code : 0);
    this.#send(ackPacket("pubrec", id, this.version, code));
  }

  #resolveAlias(packet: PublishPacket, alias: number): PublishPacket | MqttError {
    if (alias === 0 || alias > this.topicAliasMaximum) {
      return protocolError(
        `Cannot accept PUBLISH: topic alias "${alias}" is not in 1..${this.topicAliasMaximum}`,
        0x94,
        alias === 0 ? "MQTT-3.3.2-8" : this.#role === "server" ? "MQTT-3.3.2-9" : "MQTT-3.3.2-11",
      );
    }
    let topic = packet.topic;
    if (topic.length === 0) {
      const known = this.#aliases?.get(alias);
      if (known === undefined) {
        // v5 §3.3.4: an unknown alias with an empty Topic Name is a Protocol Error.
        return protocolError(
          `Cannot accept PUBLISH: topic alias "${alias}" has no mapping`,
          0x82,
          undefined,
        );
      }
      topic = known;
    } else {
      (this.#aliases ??= new Map()).set(alias, topic);
    }
    // The host always sees the full topic and no alias (aliases are per connection).
    const properties = withoutTopicAlias(packet.properties!);
    const { properties: _, ...rest } = packet;
    return properties === undefined ? { ...rest, topic } : { ...rest, topic, properties };
  }
}
