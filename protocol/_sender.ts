// This module is browser compatible.
/**
 * The sending side of PUBLISH flows, shared by the client and server session machines.
 * Spec ids are v5's.
 *
 * @module
 */

import type { MqttError } from "./errors.ts";
import type { Packet, ProtocolVersion, PublishPacket } from "./packet.ts";
import { PacketIdAllocator } from "./packet_id.ts";
import {
  ackPacket,
  Fifo,
  protocolError,
  type PublishAck,
  withoutTopicAlias,
  withProperties,
} from "./_session_common.ts";

/** A PUBLISH waiting for a slot in the in-flight window, with the time it was queued. */
export interface Queued {
  /** The message. */
  packet: PublishPacket;
  /** When it was queued, in ms. */
  at: number;
}

// Shared by every sender with nothing in flight and never written: `track()` and
// `markReleased()` replace them first, so an idle session allocates no map or set.
const NO_INFLIGHT: Map<number, PublishPacket> = new Map();
const NO_RELEASED: Set<number> = new Set();

/**
 * The sending side of PUBLISH flows: an in-flight window bounded by the peer's receive
 * maximum (v5 §4.9), a FIFO queue beyond it, acknowledgement handling, and resending in
 * the original order after a reconnect [MQTT-4.4.0-1], [MQTT-4.6.0-1]. Messages come with
 * their packet ids; this is all the client needs, so a browser bundle of the client holds
 * nothing of {@linkcode Sender}'s server-only parts.
 */
export class SenderBase {
  /** Protocol version of the current connection. */
  version: ProtocolVersion = 4;
  /** How many QoS 1 and 2 messages may be unacknowledged (the peer's receive maximum). */
  window = 65_535;
  /** Whether packets may be sent. */
  open = false;
  /** Writes a packet. */
  send: (packet: Packet) => void;
  /** Called when a flow ends with its final acknowledgement. */
  onComplete: (packet: PublishPacket, ack: PublishAck) => void;
  /** Packet identifiers (shared with SUBSCRIBE and UNSUBSCRIBE on the client). */
  ids: PacketIdAllocator = new PacketIdAllocator();
  /**
   * In-flight messages by packet id, in the order they were first sent. The shared empty
   * map until the first message (written only through {@linkcode SenderBase.track}).
   */
  inflight: Map<number, PublishPacket> = NO_INFLIGHT;
  /** Queued messages. */
  queue: Fifo<Queued> = new Fifo();
  /** Sum of the payload sizes of queued messages. */
  queuedBytes = 0;
  /**
   * Ids of QoS 2 messages past PUBREC (PUBREL sent, waiting for PUBCOMP). The shared empty
   * set until the first (written only through {@linkcode SenderBase.markReleased}).
   */
  released: Set<number> = NO_RELEASED;

  /**
   * Record a message as in flight.
   *
   * @param id Its packet id.
   * @param packet The message.
   */
  track(id: number, packet: PublishPacket): void {
    if (this.inflight === NO_INFLIGHT) this.inflight = new Map();
    this.inflight.set(id, packet);
  }

  /**
   * Record that PUBREL was sent for a QoS 2 message.
   *
   * @param id Its packet id.
   */
  markReleased(id: number): void {
    if (this.released === NO_RELEASED) this.released = new Set();
    this.released.add(id);
  }

  /**
   * @param send Writes a packet.
   * @param onComplete Called when a flow ends.
   */
  constructor(
    send: (packet: Packet) => void,
    onComplete: (packet: PublishPacket, ack: PublishAck) => void,
  ) {
    this.send = send;
    this.onComplete = onComplete;
  }

  /** Whether a new QoS 1 or 2 message can be sent now. */
  get canSend(): boolean {
    return this.open && this.queue.length === 0 && this.inflight.size < this.window;
  }

  /**
   * Put a message at the end of the queue.
   *
   * @param packet The message.
   * @param now The time in ms.
   */
  enqueue(packet: PublishPacket, now: number): void {
    this.queue.push({ packet, at: now });
    this.queuedBytes += packet.payload.byteLength;
  }

  /**
   * Send a message now: QoS 0 as is, QoS 1 and 2 entering the in-flight window.
   *
   * @param packet The message, with its packet id when QoS is 1 or 2.
   */
  transmit(packet: PublishPacket): void {
    if (packet.qos !== 0) this.track(packet.packetId!, packet);
    this.send(packet);
  }

  /**
   * Send queued messages while the window has room, dropping expired ones.
   *
   * @param now The time in ms.
   */
  drain(now: number): void {
    while (this.open && this.queue.length > 0) {
      const head = this.queue.peek()!;
      if (head.packet.qos > 0 && this.inflight.size >= this.window) return;
      this.queue.shift();
      this.queuedBytes -= head.packet.payload.byteLength;
      const packet = this.dequeued(head, now);
      if (packet !== undefined) this.transmit(packet);
    }
  }

  /**
   * Handle PUBACK, PUBREC or PUBCOMP for an outgoing message (v5 §4.3.2, §4.3.3).
   *
   * @param ack The acknowledgement.
   * @param now The time in ms.
   * @returns A protocol error, or `undefined`.
   */
  acknowledged(ack: PublishAck, now: number): MqttError | undefined {
    const id = ack.packetId;
    const packet = this.inflight.get(id);
    const name = ack.type.toUpperCase();
    if (packet === undefined) {
      // Unknown id: a successful PUBREC still gets a PUBREL (0x92 on MQTT 5) so the peer
      // can free its state; stray PUBACK and PUBCOMP are ignored.
      if (ack.type === "pubrec" && (ack.reasonCode ?? 0) < 0x80) {
        this.send(ackPacket("pubrel", id, this.version, 0x92));
      }
      return undefined;
    }
    const released = this.released.has(id);
    const expected = packet.qos === 1 ? "puback" : released ? "pubcomp" : "pubrec";
    if (ack.type !== expected) {
      if (ack.type === "pubrec" && released) {
        // A repeated PUBREC: repeat the PUBREL.
        this.send(ackPacket("pubrel", id, this.version, 0));
        return undefined;
      }
      return protocolError(
        `Cannot accept ${name}: packet "${id}" expects ${expected.toUpperCase()}`,
        0x82,
        undefined,
      );
    }
    if (ack.type === "pubrec" && !(this.version === 5 && (ack.reasonCode ?? 0) >= 0x80)) {
      // [MQTT-4.3.3-4]
      this.markReleased(id);
      this.send(ackPacket("pubrel", id, this.version, 0));
      return undefined;
    }
    // PUBACK, PUBCOMP, or a failed PUBREC: the flow ends [MQTT-4.4.0-2].
    this.inflight.delete(id);
    this.released.delete(id);
    this.ids.release(id);
    this.onComplete(packet, ack);
    this.drain(now);
    return undefined;
  }

  /**
   * Resend every in-flight message after a reconnect with a resumed session, in the order
   * first sent: PUBLISH with DUP set, or PUBREL once past PUBREC [MQTT-4.4.0-1]. Then drain.
   *
   * @param now The time in ms.
   */
  resend(now: number): void {
    for (const [id, packet] of this.inflight) {
      if (this.released.has(id)) {
        this.send(ackPacket("pubrel", id, this.version, 0));
        continue;
      }
      this.track(id, this.#redelivery(packet));
      this.send(this.inflight.get(id)!);
    }
    this.drain(now);
  }

  /**
   * The peer lost the session: empty the window. Messages past PUBREC are complete (the
   * peer took ownership of them); the others go back to the front of the queue, in order,
   * or are returned as failed.
   *
   * @param retry Whether to queue unacknowledged messages again.
   * @param now The time in ms.
   * @returns The failed messages (when not retrying), and the completed ones.
   */
  reset(
    retry: boolean,
    now: number,
  ): { failed: PublishPacket[]; completed: PublishPacket[] } {
    const failed: PublishPacket[] = [];
    const completed: PublishPacket[] = [];
    const again: Queued[] = [];
    for (const [id, packet] of this.inflight) {
      if (this.released.has(id)) completed.push(packet);
      else if (retry) again.push({ packet: this.#redelivery(packet), at: now });
      else failed.push(packet);
      if (!retry || this.released.has(id)) this.ids.release(id);
    }
    this.inflight.clear();
    this.released.clear();
    for (const q of again) this.queuedBytes += q.packet.payload.byteLength;
    this.queue.prepend(again);
    return { failed, completed };
  }

  /**
   * Whether PUBREL was sent for an in-flight QoS 2 message (it waits for PUBCOMP).
   *
   * @param id The packet id.
   * @returns `true` once past PUBREC.
   */
  isReleased(id: number): boolean {
    return this.released.has(id);
  }

  /**
   * Put a message of a restored session in flight, as if it had been sent on an earlier
   * connection: its packet id is reserved, and `released` marks a QoS 2 message past PUBREC.
   * {@linkcode SenderBase.resend} or {@linkcode SenderBase.reset} then handle it like any other.
   *
   * @param packet The message, with its packet id.
   * @param released Whether PUBREL was sent (it waits for PUBCOMP).
   */
  restore(packet: PublishPacket, released: boolean): void {
    const id = packet.packetId!;
    this.ids.reserve(id);
    this.track(id, packet);
    if (released) this.markReleased(id);
  }

  // A resent PUBLISH: DUP set [MQTT-3.3.1-1], and no topic alias, whose mapping died with
  // the old connection [MQTT-3.3.2-7].
  #redelivery(packet: PublishPacket): PublishPacket {
    packet.dup = true;
    if (packet.properties?.topicAlias === undefined) return packet;
    return withProperties(packet, withoutTopicAlias(packet.properties));
  }

  /**
   * The message to send for a queued entry, or `undefined` to drop it.
   *
   * @param queued The entry leaving the queue.
   * @param _now The time in ms.
   * @returns The message.
   */
  dequeued(queued: Queued, _now: number): PublishPacket | undefined {
    return queued.packet;
  }
}

/**
 * {@linkcode SenderBase} with the server's parts: packet ids assigned when a message enters
 * the window, message expiry while queued, and taking over a previous connection's state.
 */
export class Sender extends SenderBase {
  /** Whether identifiers are assigned when sending (server) or already present (client). */
  readonly assignIds: boolean;
  /** Messages dropped from the queue because their message expiry interval passed. */
  expired = 0;

  /**
   * @param assignIds Whether to assign packet identifiers when sending.
   * @param send Writes a packet.
   * @param onComplete Called when a flow ends.
   */
  constructor(
    assignIds: boolean,
    send: (packet: Packet) => void,
    onComplete: (packet: PublishPacket, ack: PublishAck) => void,
  ) {
    super(send, onComplete);
    this.assignIds = assignIds;
  }

  /**
   * Send a message now, assigning its packet id when QoS is 1 or 2 and ids are assigned here.
   *
   * @param packet The message.
   */
  override transmit(packet: PublishPacket): void {
    // Never undefined: the window (at most 65535) is the only user of these ids.
    if (packet.qos !== 0 && this.assignIds) {
      packet = { ...packet, packetId: this.ids.allocate()!, dup: false };
    }
    super.transmit(packet);
  }

  /**
   * Take over another sender's state (window, queue, ids) for a resumed session.
   *
   * @param other The sender of the previous connection.
   */
  adopt(other: Sender): void {
    this.ids = other.ids;
    this.inflight = other.inflight;
    this.queue = other.queue;
    this.queuedBytes = other.queuedBytes;
    this.expired = other.expired;
    this.released = other.released;
    other.ids = new PacketIdAllocator();
    other.inflight = NO_INFLIGHT;
    other.queue = new Fifo();
    other.queuedBytes = 0;
    other.released = NO_RELEASED;
  }

  // The message with its expiry interval reduced by the time it spent queued, or
  // undefined when it expired there [MQTT-3.3.2-5], [MQTT-3.3.2-6].
  override dequeued(queued: Queued, now: number): PublishPacket | undefined {
    const packet = queued.packet;
    // Only the server expires messages; a client completes every message it accepted.
    if (!this.assignIds) return packet;
    const interval = packet.properties?.messageExpiryInterval;
    if (interval === undefined || now <= queued.at) return packet;
    const waited = Math.floor((now - queued.at) / 1000);
    if (waited === 0) return packet;
    if (waited >= interval) {
      this.expired++;
      return undefined;
    }
    return withProperties(packet, {
      ...packet.properties,
      messageExpiryInterval: interval - waited,
    });
  }
}
