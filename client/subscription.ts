// This module is browser compatible.
/**
 * Messages and subscriptions: a {@linkcode MqttSubscription} is an `AsyncIterable` of the
 * messages that match its own topic filters, with a bounded buffer.
 *
 * @module
 */

import type { Properties } from "../protocol/properties.ts";
import type { QoS } from "../protocol/packet.ts";
import { matchTopic, parseSharedSubscription } from "../protocol/topic.ts";

/** An application message received from the broker. */
export interface Message {
  /** Topic name (topic aliases resolved). */
  topic: string;
  /** Payload bytes. */
  payload: Uint8Array;
  /** QoS of this delivery. */
  qos: QoS;
  /** Whether the broker sent it as a retained message. */
  retain: boolean;
  /** The PUBLISH packet identifier; `undefined` for QoS 0. */
  packetId?: number;
  /**
   * MQTT 5 properties (response topic, correlation data, user properties ...) as received, in
   * the order they were on the wire, with the `topicAlias` the broker used, if any.
   */
  properties?: Properties;
}

/** Called for each message of a subscription. */
export type MessageHandler = (message: Message) => void;

/** The part of the client a {@linkcode MqttSubscription} calls back into. */
export interface SubscriptionOwner {
  /**
   * Remove a subscription: send UNSUBSCRIBE for the filters no other subscription uses.
   *
   * @param subscription The subscription.
   * @param options Abort signal and timeout.
   */
  unsubscribe(
    subscription: MqttSubscription,
    options: { signal?: AbortSignal; timeout?: number },
  ): Promise<void>;
}

/** How a {@linkcode MqttSubscription} is set up; made by the client. */
export interface SubscriptionInit {
  /** The client. */
  owner: SubscriptionOwner;
  /** The topic filters as subscribed (`$share/group/filter` included). */
  filters: readonly string[];
  /** Messages buffered for the iterator before the oldest is dropped. */
  bufferSize: number;
  /** Called for each message instead of buffering it. */
  onMessage?: MessageHandler;
}

interface Reader {
  resolve: (result: IteratorResult<Message>) => void;
  reject: (error: Error) => void;
}

/**
 * A subscription made with `client.subscribe()`. It receives every message whose topic
 * matches one of its filters (for a shared subscription `$share/group/filter`, the inner
 * filter), whichever subscription the broker delivered it for.
 *
 * Iterate it with `for await`, or give `onMessage` to `subscribe()`. The iterator buffers
 * at most `bufferSize` messages: when the consumer falls behind, the oldest is dropped and
 * {@linkcode MqttSubscription.dropped} counts it (the broker is never slowed down, so one slow
 * consumer cannot stall the connection). The iteration ends after `unsubscribe()` or
 * `client.end()`, and throws the error that closed the client otherwise.
 *
 * @example Iterate messages
 * ```ts
 * import assert from "node:assert/strict";
 * import { MqttClient } from "./client.ts";
 * import { startBroker } from "../broker/mod.ts";
 * import { memoryPair } from "../socket/memory.ts";
 * const broker = await startBroker({ listeners: [], sysInterval: 0 });
 * const client = await MqttClient.connect(() => {
 *   const [a, b] = memoryPair();
 *   broker.connect(a);
 *   return Promise.resolve(b);
 * });
 * const sub = await client.subscribe("sensors/+/temp", { qos: 1 });
 * await client.publish("sensors/hall/temp", "19", { qos: 1 });
 * for await (const message of sub) {
 *   assert.equal(message.topic, "sensors/hall/temp");
 *   break; // leaving the loop unsubscribes
 * }
 * assert.equal(sub.closed, true);
 * await client.end();
 * await broker.close();
 * ```
 */
export class MqttSubscription implements AsyncIterable<Message> {
  /** The topic filters, as subscribed. */
  readonly filters: readonly string[];
  /** The SUBACK reason code of each filter: the granted QoS, or a failure of 0x80 or more. */
  reasonCodes: readonly number[] = [];
  #owner: SubscriptionOwner;
  #patterns: readonly string[];
  #bufferSize: number;
  #onMessage: MessageHandler | undefined;
  #buffer: Message[] = [];
  #readers: Reader[] = [];
  #dropped = 0;
  #done = false;
  #error: Error | undefined;

  /**
   * Create a subscription; the client does this.
   *
   * @param init The owner, filters and buffering.
   */
  constructor(init: SubscriptionInit) {
    this.filters = init.filters;
    this.#owner = init.owner;
    this.#patterns = init.filters.map((f) => parseSharedSubscription(f)?.filter ?? f);
    this.#bufferSize = init.bufferSize;
    this.#onMessage = init.onMessage;
  }

  /** Messages dropped because the iterator's buffer was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Whether the subscription has ended (unsubscribed or the client closed). */
  get closed(): boolean {
    return this.#done;
  }

  /**
   * Whether a topic matches one of this subscription's filters.
   *
   * @param topic The topic name.
   * @returns `true` when it matches.
   */
  matches(topic: string): boolean {
    for (const pattern of this.#patterns) if (matchTopic(pattern, topic)) return true;
    return false;
  }

  /**
   * Hand a message to the callback, a waiting reader or the buffer. Used by the client.
   *
   * @param message The message.
   */
  push(message: Message): void {
    if (this.#done) return;
    if (this.#onMessage !== undefined) {
      this.#onMessage(message);
      return;
    }
    const reader = this.#readers.shift();
    if (reader !== undefined) {
      reader.resolve({ value: message, done: false });
      return;
    }
    if (this.#buffer.length >= this.#bufferSize) {
      this.#buffer.shift();
      this.#dropped++;
    }
    this.#buffer.push(message);
  }

  /**
   * End the subscription locally: readers finish (or fail with `error`). Used by the client.
   *
   * @param error Why, when the client failed.
   */
  close(error?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    const readers = this.#readers;
    this.#readers = [];
    // Readers only wait on an empty buffer: they see the end (or the error) now.
    for (const reader of readers) {
      if (error === undefined) reader.resolve({ value: undefined, done: true });
      else reader.reject(error);
    }
    if (readers.length > 0) this.#error = undefined;
  }

  /**
   * Unsubscribe: no more messages are delivered to this subscription, and the broker is sent
   * UNSUBSCRIBE for the filters no other subscription of the client uses. Resolves once the
   * broker acknowledged it (at once when the client is closed or nothing had to be sent).
   *
   * @param options Abort signal and timeout in ms.
   * @returns When done.
   */
  unsubscribe(options: { signal?: AbortSignal; timeout?: number } = {}): Promise<void> {
    return this.#owner.unsubscribe(this, options);
  }

  /**
   * The messages, in arrival order.
   *
   * @returns An iterator; `return()` (breaking out of `for await`) unsubscribes.
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return {
      next: () => this.#next(),
      return: async () => {
        if (!this.#done) await this.unsubscribe();
        return { value: undefined, done: true };
      },
    };
  }

  #next(): Promise<IteratorResult<Message>> {
    const message = this.#buffer.shift();
    if (message !== undefined) return Promise.resolve({ value: message, done: false });
    if (this.#done) {
      if (this.#error !== undefined) {
        const error = this.#error;
        this.#error = undefined;
        return Promise.reject(error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.#readers.push({ resolve, reject }));
  }
}
