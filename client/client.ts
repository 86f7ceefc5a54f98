// This module is browser compatible.
/**
 * {@linkcode MqttClient}: drives protocol/'s {@linkcode ClientSession} over a
 * {@linkcode Socket}, with reconnection, an offline queue, subscriptions, request/response
 * and one timer for every deadline.
 *
 * @module
 */

import {
  type ClientRequest,
  type ClientResult,
  ClientSession,
  type ClientSessionChange,
} from "../protocol/client_session.ts";
import { ClientDecoder } from "../protocol/client_decoder.ts";
import { clientPacketSize, encodeClientPacket } from "../protocol/encode.ts";
import { MqttError } from "../protocol/errors.ts";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  ProtocolVersion,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  Subscription as SubscriptionEntry,
  UnsubackPacket,
  UnsubscribePacket,
} from "../protocol/packet.ts";
import type { Properties } from "../protocol/properties.ts";
import { validateTopicFilter, validateTopicName } from "../protocol/topic.ts";
import type { Socket } from "../socket/types.ts";
import { type Deadline, Deadlines } from "./_deadlines.ts";
import {
  ConnectionClosedError,
  ConnectionFailedError,
  ConnectRefusedError,
  NotConnectedError,
  PublishRefusedError,
  QueueFullError,
  ServerLimitError,
  SubscribeRefusedError,
  TimeoutError,
} from "./errors.ts";
import {
  ClientCloseEvent,
  ClientErrorEvent,
  ConnectEvent,
  DisconnectEvent,
  type MqttClientEventMap,
  ReconnectEvent,
} from "./events.ts";
import type {
  ClientOptions,
  EndOptions,
  Payload,
  PublishOptions,
  PublishResult,
  Reply,
  RequestOptions,
  SubscribeOptions,
  Transport,
  UnsubscribeOptions,
} from "./options.ts";
import { type InFlightStore, MemoryStore } from "./store.ts";
import { type Message, MqttSubscription } from "./subscription.ts";

/** The connection state of an {@linkcode MqttClient}. */
export type ClientState = "connecting" | "connected" | "reconnecting" | "closed";

// CONNACK refusals that retrying cannot fix: stop reconnecting.
const FATAL_CONNACK = new Set([0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c]);
const MAX_TIMER = 2 ** 31 - 1;
const DEFAULT_TIMEOUT = 30_000;
const ENCODER = new TextEncoder();

function toBytes(payload: Payload, what: string): Uint8Array {
  if (typeof payload === "string") return ENCODER.encode(payload);
  if (payload instanceof Uint8Array) return payload;
  throw new TypeError(`Cannot ${what}: payload is not a string or Uint8Array`);
}

function checkTimeout(timeout: number, what: string): number {
  if (!(timeout > 0)) throw new RangeError(`Cannot ${what}: timeout "${timeout}" is not positive`);
  return timeout;
}

function checkQoS(qos: number, what: string): void {
  if (qos !== 0 && qos !== 1 && qos !== 2) {
    throw new RangeError(`Cannot ${what}: QoS "${qos}" is not 0, 1 or 2`);
  }
}

function abortError(signal: AbortSignal, what: string): Error {
  const reason = signal.reason;
  return reason instanceof Error ? reason : new Error(`Cannot ${what}: aborted`, { cause: reason });
}

function randomHex(bytes: number): string {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  let out = "";
  for (const b of data) out += b.toString(16).padStart(2, "0");
  return out;
}

/** A promise the caller waits for, with its deadline and abort listener. */
class Op<T> {
  settled = false;
  deadline: Deadline | undefined;
  /** Removes the operation from wherever it waits, when it is cancelled. */
  onCancel: (() => void) | undefined;
  unlisten: (() => void) | undefined;
  #resolve: (value: T) => void;
  #reject: (error: Error) => void;

  constructor(resolve: (value: T) => void, reject: (error: Error) => void) {
    this.#resolve = resolve;
    this.#reject = reject;
  }

  resolve(value: T): void {
    if (this.#finish()) this.#resolve(value);
  }

  reject(error: Error): void {
    if (this.#finish()) this.#reject(error);
  }

  cancel(error: Error): void {
    if (!this.#finish()) return;
    this.onCancel?.();
    this.#reject(error);
  }

  #finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.deadline?.cancel();
    this.unlisten?.();
    return true;
  }
}

interface PendingPublish {
  op: Op<PublishResult> | undefined;
  packet: PublishPacket;
}

interface PendingRequest {
  op: Op<SubackPacket | UnsubackPacket>;
  retry: () => void;
}

interface SubscriptionState {
  packet: SubscribePacket;
  acknowledged: boolean;
}

/**
 * An MQTT 3.1, 3.1.1 or 5.0 client connection. Create one with `connect()` (which picks the
 * transport from a URL) or {@linkcode MqttClient.connect} (with a transport).
 *
 * It is an `EventTarget` with the events of {@linkcode MqttClientEventMap}. Every promise it
 * returns settles: operations have a timeout (the client's `timeout` option, 30 s by
 * default) and take a `signal`, and `end()` rejects whatever is still pending.
 *
 * @example Publish and receive over an in-process broker
 * ```ts
 * import assert from "node:assert/strict";
 * import { MqttClient } from "./client.ts";
 * import { startBroker } from "../broker/mod.ts";
 * import { memoryPair } from "../socket/memory.ts";
 *
 * const broker = await startBroker({ listeners: [], sysInterval: 0 });
 * const transport = () => {
 *   const [a, b] = memoryPair();
 *   broker.connect(a);
 *   return Promise.resolve(b);
 * };
 * const client = await MqttClient.connect(transport, { clientId: "doc" });
 * const sub = await client.subscribe("greetings/#", { qos: 1 });
 * await client.publish("greetings/en", "hello", { qos: 1 });
 * for await (const message of sub) {
 *   assert.equal(new TextDecoder().decode(message.payload), "hello");
 *   break;
 * }
 * await client.end();
 * await broker.close();
 * ```
 */
export class MqttClient extends EventTarget {
  readonly #transport: Transport;
  readonly #options: ClientOptions;
  readonly #version: ProtocolVersion;
  readonly #session: ClientSession;
  readonly #deadlines = new Deadlines();
  readonly #store: InFlightStore;
  readonly #defaultTimeout: number;
  readonly #connectTimeout: number;
  readonly #maxQueued: number;
  readonly #maxQueuedBytes: number;
  readonly #maxInflight: number;
  #state: ClientState = "connecting";
  #clientId: string;
  #socket: Socket | undefined;
  #decoder: ClientDecoder | undefined;
  #attempt: AbortController | undefined;
  #attemptDeadline: Deadline | undefined;
  #reconnects = 0;
  #everConnected = false;
  #ending = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #first: Op<void> | undefined;
  #closedResolve!: (error: Error | undefined) => void;
  readonly #closed: Promise<Error | undefined>;
  #closeError: Error | undefined;
  // Publishes made while not connected, in order.
  #offline: PendingPublish[] = [];
  #offlineBytes = 0;
  // QoS 1 and 2 publishes handed to the session, by packet id.
  readonly #inflight = new Map<number, PendingPublish>();
  // SUBSCRIBE and UNSUBSCRIBE waiting for their acknowledgement, by packet id.
  readonly #requests = new Map<number, PendingRequest>();
  // Work waiting for the next connection.
  #waiters: (() => void)[] = [];
  readonly #subscriptions = new Map<MqttSubscription, SubscriptionState>();
  // Outgoing topic aliases of the current connection.
  readonly #aliases = new Map<string, number>();
  // The store call in progress (a promise), and the calls waiting for it, in order.
  #storeBusy: Promise<void> | undefined;
  #storeQueue: ClientSessionChange[] = [];
  // Packets written while a store call was in progress, held for #heldSocket.
  #held: Uint8Array[] = [];
  #heldSocket: Socket | undefined;
  // Request/response.
  #responseTopic: string | undefined;
  #responseSubscription: Promise<MqttSubscription> | undefined;
  readonly #responses = new Map<string, Op<Message>>();
  #correlation = 0;
  #unlistenSignal: (() => void) | undefined;
  // Closed sockets still flushing a DISCONNECT.
  readonly #lingering = new Set<Socket>();
  // The PUBLISH being handled, as decoded (topic alias and properties as received).
  #wire: PublishPacket | undefined;

  /**
   * Create a client without connecting; {@linkcode MqttClient.connect} creates and
   * connects one.
   *
   * @param transport Opens the network connection.
   * @param options Client options.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(transport: Transport, options: ClientOptions = {}) {
    super();
    const version = options.protocolVersion ?? 5;
    if (version !== 3 && version !== 4 && version !== 5) {
      throw new RangeError(`Cannot create client: protocol version "${version}" is not 3, 4 or 5`);
    }
    const keepAlive = options.keepAlive ?? 60;
    if (!Number.isInteger(keepAlive) || keepAlive < 0 || keepAlive > 65_535) {
      throw new RangeError(`Cannot create client: keep alive "${keepAlive}" is not 0..65535`);
    }
    this.#transport = transport;
    this.#options = options;
    this.#version = version;
    this.#clientId = options.clientId ?? `mq-${randomHex(6)}`;
    this.#defaultTimeout = checkTimeout(options.timeout ?? DEFAULT_TIMEOUT, "create client");
    this.#connectTimeout = checkTimeout(options.connectTimeout ?? DEFAULT_TIMEOUT, "create client");
    this.#maxQueued = options.queue?.maxMessages ?? 1000;
    this.#maxQueuedBytes = options.queue?.maxBytes ?? 16 * 1024 * 1024;
    const maxInflight = options.maxInflight ?? 65_535;
    if (!Number.isInteger(maxInflight) || maxInflight < 1 || maxInflight > 65_535) {
      throw new RangeError(`Cannot create client: max inflight "${maxInflight}" is not 1..65535`);
    }
    this.#maxInflight = maxInflight;
    this.#store = options.store ?? new MemoryStore();
    this.#closed = new Promise((resolve) => (this.#closedResolve = resolve));
    this.#session = new ClientSession({
      send: (packet) => {
        const socket = this.#socket;
        if (socket === undefined) return;
        const out = packet.type === "publish" ? this.#alias(packet) : packet;
        const bytes = encodeClientPacket(out, this.#version);
        if (this.#storeBusy === undefined) {
          socket.write(bytes);
          return;
        }
        // Not before the store changes made so far are done.
        if (this.#heldSocket !== socket) {
          this.#held = [];
          this.#heldSocket = socket;
        }
        this.#held.push(bytes);
      },
      persist: (change) => this.#persist(change),
      deliver: (packet) => this.#deliver(packet),
      complete: (request, result) => this.#complete(request, result),
      connected: (connack) => this.#connected(connack),
      auth: (packet) => this.#challenge(packet),
    });
  }

  /**
   * Create a client and connect it over `transport`.
   *
   * @example Connect over an in-process pair
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
   * }, { protocolVersion: 4 });
   * assert.equal(client.state, "connected");
   * await client.end();
   * await broker.close();
   * ```
   *
   * @param transport Opens the network connection.
   * @param options Client options.
   * @returns The connected client. Rejects with {@linkcode ConnectRefusedError} (CONNACK
   *   refusal), {@linkcode TimeoutError} (`connectTimeout`), {@linkcode ConnectionFailedError}
   *   (the transport failed), or the `signal`'s reason.
   */
  static async connect(transport: Transport, options: ClientOptions = {}): Promise<MqttClient> {
    const client = new MqttClient(transport, options);
    await client.#start();
    return client;
  }

  /** `"connecting"`, `"connected"`, `"reconnecting"` or `"closed"`. */
  get state(): ClientState {
    return this.#state;
  }

  /** The protocol version. */
  get protocolVersion(): ProtocolVersion {
    return this.#version;
  }

  /** The client identifier (the broker's assigned one after a CONNACK that had one). */
  get clientId(): string {
    return this.#clientId;
  }

  /** The last accepted CONNACK (limits the broker announced), once connected. */
  get connack(): ConnackPacket | undefined {
    return this.#everConnected ? this.#session.connack : undefined;
  }

  /** Messages in the offline queue. */
  get queued(): number {
    return this.#offline.length;
  }

  /** Resolves once the client is closed for good, with the error that closed it (if any). */
  get closed(): Promise<Error | undefined> {
    return this.#closed;
  }

  /**
   * Listen to an event, typed.
   *
   * @example Watch disconnects
   * ```ts
   * import assert from "node:assert/strict";
   * import { MqttClient } from "./client.ts";
   * import { startBroker } from "../broker/mod.ts";
   * import { memoryPair } from "../socket/memory.ts";
   * const broker = await startBroker({ listeners: [], sysInterval: 0 });
   * const transport = () => {
   *   const [a, b] = memoryPair();
   *   broker.connect(a);
   *   return Promise.resolve(b);
   * };
   * const client = await MqttClient.connect(transport);
   * const reasons: (number | undefined)[] = [];
   * const off = client.on("disconnect", (event) => reasons.push(event.reasonCode));
   * await client.end({ reasonCode: 0 });
   * off();
   * assert.deepEqual(reasons, [0]);
   * await broker.close();
   * ```
   *
   * @param type The event type.
   * @param listener Called with the event.
   * @returns A function that removes the listener.
   */
  on<K extends keyof MqttClientEventMap>(
    type: K,
    listener: (event: MqttClientEventMap[K]) => void,
  ): () => void {
    const wrapped = (event: Event) => listener(event as MqttClientEventMap[K]);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  /**
   * Publish a message. QoS 0 resolves once written, QoS 1 on PUBACK, QoS 2 on PUBCOMP.
   * While not connected the message waits in the offline queue (bounded by the `queue`
   * option: overflow rejects with {@linkcode QueueFullError}). The broker's maximum packet
   * size, maximum QoS and retain support are checked before anything is sent
   * ({@linkcode ServerLimitError}). A topic alias is assigned automatically (MQTT 5).
   *
   * @example Publish with QoS 2
   * ```ts
   * import assert from "node:assert/strict";
   * import { MqttClient } from "./client.ts";
   * import { startBroker } from "../broker/mod.ts";
   * import { memoryPair } from "../socket/memory.ts";
   * const broker = await startBroker({ listeners: [], sysInterval: 0 });
   * const transport = () => {
   *   const [a, b] = memoryPair();
   *   broker.connect(a);
   *   return Promise.resolve(b);
   * };
   * const client = await MqttClient.connect(transport);
   * const result = await client.publish("alerts/door", "open", { qos: 2, retain: true });
   * assert.ok(result.reasonCode < 0x80); // 0, or 0x10: no matching subscribers
   * await client.end();
   * await broker.close();
   * ```
   *
   * @param topic The topic name.
   * @param payload The payload (a string is UTF-8 encoded).
   * @param options QoS, retain, properties, signal and timeout.
   * @returns The acknowledgement's reason code. Rejects with
   *   {@linkcode PublishRefusedError} when the broker refuses, {@linkcode TimeoutError},
   *   {@linkcode ConnectionClosedError} when the client ends first, or the signal's reason.
   *   On a timeout or abort the message may still be delivered.
   */
  publish(
    topic: string,
    payload: Payload,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    try {
      return this.#publish(topic, payload, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #publish(topic: string, payload: Payload, options: PublishOptions): Promise<PublishResult> {
    const packet = this.#publishPacket(topic, payload, options);
    if (this.#state === "closed") {
      throw new NotConnectedError("Cannot publish: client is closed", {
        cause: this.#closeError,
      });
    }
    if (this.#state === "connected") this.#checkLimits(packet);
    const { op, promise } = this.#op<PublishResult>("publish", options);
    if (op.settled) return promise;
    const pending: PendingPublish = { op, packet };
    if (this.#state === "connected" && (packet.qos === 0 || !this.#waiting())) {
      this.#sendPublish(pending);
    } else if (this.#state === "connected") {
      // Beyond maxInflight: wait in the queue (not bounded by it) for a free slot.
      this.#enqueue(pending);
    } else {
      const bytes = packet.payload.byteLength;
      if (
        this.#offline.length >= this.#maxQueued ||
        this.#offlineBytes + bytes > this.#maxQueuedBytes
      ) {
        op.reject(
          new QueueFullError(
            `Cannot queue publish to "${topic}": ${this.#offline.length} messages of ${this.#offlineBytes} bytes queued (limits ${this.#maxQueued} and ${this.#maxQueuedBytes})`,
          ),
        );
        return promise;
      }
      this.#enqueue(pending);
    }
    this.#schedule();
    return promise;
  }

  #enqueue(pending: PendingPublish): void {
    const bytes = pending.packet.payload.byteLength;
    this.#offline.push(pending);
    this.#offlineBytes += bytes;
    pending.op!.onCancel = () => {
      const i = this.#offline.indexOf(pending);
      if (i >= 0) {
        this.#offline.splice(i, 1);
        this.#offlineBytes -= bytes;
      }
    };
  }

  // Whether a QoS 1 or 2 publish must wait: messages wait already, or maxInflight is reached.
  #waiting(): boolean {
    const s = this.#session;
    return this.#offline.length > 0 || s.inflightCount + s.queuedCount >= this.#maxInflight;
  }

  /**
   * Subscribe to one or more topic filters. The returned {@linkcode MqttSubscription} is an
   * `AsyncIterable` of the messages matching its filters (or calls `onMessage`). While
   * reconnecting, the SUBSCRIBE waits for the connection (bounded by `timeout`). Filters
   * the broker refused have a reason code of 0x80 or more in `reasonCodes`; when all are
   * refused the promise rejects with {@linkcode SubscribeRefusedError}.
   *
   * @example Subscribe with a callback
   * ```ts
   * import assert from "node:assert/strict";
   * import { MqttClient } from "./client.ts";
   * import { startBroker } from "../broker/mod.ts";
   * import { memoryPair } from "../socket/memory.ts";
   * const broker = await startBroker({ listeners: [], sysInterval: 0 });
   * const transport = () => {
   *   const [a, b] = memoryPair();
   *   broker.connect(a);
   *   return Promise.resolve(b);
   * };
   * const client = await MqttClient.connect(transport);
   * const topics: string[] = [];
   * const sub = await client.subscribe(["a/+", "b/#"], { qos: 1, onMessage: (m) => topics.push(m.topic) });
   * assert.deepEqual(sub.reasonCodes, [1, 1]);
   * await client.publish("a/1", "x", { qos: 1 });
   * await sub.unsubscribe();
   * await client.end();
   * await broker.close();
   * ```
   *
   * @param filters A topic filter or several (`$share/group/filter` allowed).
   * @param options QoS, MQTT 5 subscription options, callback, buffer size, signal, timeout.
   * @returns The subscription.
   */
  async subscribe(
    filters: string | readonly string[],
    options: SubscribeOptions = {},
  ): Promise<MqttSubscription> {
    const list = typeof filters === "string" ? [filters] : [...filters];
    if (list.length === 0) throw new TypeError("Cannot subscribe: no topic filters");
    for (const filter of list) validateTopicFilter(filter);
    const qos = options.qos ?? 0;
    checkQoS(qos, "subscribe");
    const bufferSize = options.bufferSize ?? 1000;
    if (!Number.isInteger(bufferSize) || bufferSize < 1) {
      throw new RangeError(
        `Cannot subscribe: buffer size "${bufferSize}" is not a positive integer`,
      );
    }
    if (this.#state === "closed") {
      throw new NotConnectedError("Cannot subscribe: client is closed", {
        cause: this.#closeError,
      });
    }
    const v5 = this.#version === 5;
    const subscriptions = list.map((filter): SubscriptionEntry => {
      if (!v5) return { filter, qos };
      return {
        filter,
        qos,
        noLocal: options.noLocal ?? false,
        retainAsPublished: options.retainAsPublished ?? false,
        retainHandling: options.retainHandling ?? 0,
      };
    });
    const packet: SubscribePacket = { type: "subscribe", packetId: 0, subscriptions };
    if (v5 && options.properties !== undefined) packet.properties = options.properties;
    const init = {
      owner: this,
      filters: list,
      bufferSize,
      ...(options.onMessage === undefined ? {} : { onMessage: options.onMessage }),
    };
    const subscription = new MqttSubscription(init);
    // Registered now, so messages that arrive right after SUBACK are not missed.
    this.#subscriptions.set(subscription, { packet, acknowledged: false });
    let suback: SubackPacket;
    try {
      suback = await this.#request(packet, "subscribe", options) as SubackPacket;
    } catch (error) {
      this.#subscriptions.delete(subscription);
      subscription.close();
      throw error;
    }
    subscription.reasonCodes = suback.reasonCodes;
    if (suback.reasonCodes.every((code) => code >= 0x80)) {
      this.#subscriptions.delete(subscription);
      subscription.close();
      throw new SubscribeRefusedError(
        `Cannot subscribe to "${list.join('", "')}": the broker refused`,
        { reasonCodes: suback.reasonCodes },
      );
    }
    const state = this.#subscriptions.get(subscription);
    if (state !== undefined) state.acknowledged = true;
    return subscription;
  }

  /**
   * Remove a subscription; {@linkcode MqttSubscription.unsubscribe} does the same.
   *
   * @param subscription The subscription.
   * @param options Abort signal and timeout.
   * @returns When the broker acknowledged the UNSUBSCRIBE (if one was needed).
   */
  unsubscribe(
    subscription: MqttSubscription,
    options?: { signal?: AbortSignal; timeout?: number },
  ): Promise<void>;
  /**
   * Unsubscribe from topic filters by name: send one UNSUBSCRIBE with them, whether or not
   * this client subscribed to them (e.g. filters of a persistent session made by an earlier
   * process). Subscription objects are not changed: one that uses such a filter stays open
   * (and is subscribed again after a reconnect that did not resume the session), it just
   * stops receiving what only that filter brought. While reconnecting, the UNSUBSCRIBE waits
   * for the connection (bounded by `timeout`).
   *
   * @example Unsubscribe by filter
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
   * await client.subscribe("a/+", { qos: 1 });
   * // 0: success, 0x11: no subscription existed (MQTT 5)
   * assert.deepEqual(await client.unsubscribe(["a/+", "b"]), [0x00, 0x11]);
   * await client.end();
   * await broker.close();
   * ```
   *
   * @param filters A topic filter or several.
   * @param options MQTT 5 UNSUBSCRIBE properties, signal and timeout.
   * @returns The UNSUBACK reason codes, one per filter (MQTT 5; 0 success, 0x11 no
   *   subscription existed, 0x80 or more refused), or an empty array on MQTT 3.x, whose
   *   UNSUBACK has none. A refusal does not reject.
   */
  unsubscribe(
    filters: string | readonly string[],
    options?: UnsubscribeOptions,
  ): Promise<readonly number[]>;
  unsubscribe(
    target: MqttSubscription | string | readonly string[],
    options: UnsubscribeOptions = {},
  ): Promise<void | readonly number[]> {
    if (target instanceof MqttSubscription) return this.#unsubscribe(target, options);
    try {
      return this.#unsubscribeFilters(target, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #unsubscribeFilters(
    filters: string | readonly string[],
    options: UnsubscribeOptions,
  ): Promise<readonly number[]> {
    const list = typeof filters === "string" ? [filters] : [...filters];
    if (list.length === 0) throw new TypeError("Cannot unsubscribe: no topic filters");
    for (const filter of list) validateTopicFilter(filter);
    if (this.#state === "closed") {
      throw new NotConnectedError("Cannot unsubscribe: client is closed", {
        cause: this.#closeError,
      });
    }
    const packet: UnsubscribePacket = { type: "unsubscribe", packetId: 0, filters: list };
    if (this.#version === 5 && options.properties !== undefined) {
      packet.properties = options.properties;
    }
    const unsuback = await this.#request(packet, "unsubscribe", options) as UnsubackPacket;
    return unsuback.reasonCodes;
  }

  async #unsubscribe(
    subscription: MqttSubscription,
    options: { signal?: AbortSignal; timeout?: number },
  ): Promise<void> {
    if (!this.#subscriptions.delete(subscription)) {
      subscription.close();
      return;
    }
    subscription.close();
    if (this.#state === "closed") return;
    const inUse = new Set<string>();
    for (const other of this.#subscriptions.keys()) for (const f of other.filters) inUse.add(f);
    const filters = [...new Set(subscription.filters)].filter((f) => !inUse.has(f));
    if (filters.length === 0) return;
    const packet: UnsubscribePacket = { type: "unsubscribe", packetId: 0, filters };
    const unsuback = await this.#request(packet, "unsubscribe", options) as UnsubackPacket;
    if (unsuback.reasonCodes.some((code) => code >= 0x80)) {
      throw new SubscribeRefusedError(
        `Cannot unsubscribe from "${filters.join('", "')}": the broker refused`,
        { reasonCodes: unsuback.reasonCodes },
      );
    }
  }

  /**
   * Send a request and wait for its response (MQTT 5 request/response): the message
   * carries a response topic private to this client and a correlation data, and the first
   * message on that topic with the same correlation data is the response.
   *
   * @example Ask and answer
   * ```ts
   * import assert from "node:assert/strict";
   * import { MqttClient } from "./client.ts";
   * import { startBroker } from "../broker/mod.ts";
   * import { memoryPair } from "../socket/memory.ts";
   * const broker = await startBroker({ listeners: [], sysInterval: 0 });
   * const transport = () => {
   *   const [a, b] = memoryPair();
   *   broker.connect(a);
   *   return Promise.resolve(b);
   * };
   * const client = await MqttClient.connect(transport);
   * await client.respond("math/square", (req) => String(Number(new TextDecoder().decode(req.payload)) ** 2));
   * const response = await client.request("math/square", "12", { timeout: 1000 });
   * assert.equal(new TextDecoder().decode(response.payload), "144");
   * await client.end();
   * await broker.close();
   * ```
   *
   * @param topic Where to send the request.
   * @param payload The request payload.
   * @param options QoS (default 1), properties, signal and timeout.
   * @returns The response message. Rejects with {@linkcode TimeoutError} when none arrives
   *   in time, or a `TypeError` on MQTT 3.x.
   */
  async request(topic: string, payload: Payload, options: RequestOptions = {}): Promise<Message> {
    if (this.#version !== 5) {
      throw new TypeError(`Cannot send request: protocol version ${this.#version} is not 5`);
    }
    validateTopicName(topic);
    const body = toBytes(payload, "send request");
    const timeout = checkTimeout(options.timeout ?? this.#defaultTimeout, "send request");
    const { op, promise } = this.#op<Message>("receive response", {
      ...options,
      timeout,
    });
    if (op.settled) return promise;
    const key = String(++this.#correlation);
    this.#responses.set(key, op);
    op.onCancel = () => this.#responses.delete(key);
    try {
      this.#responseSubscription ??= this.#subscribeResponses();
      await this.#responseSubscription;
      const correlationData = ENCODER.encode(key);
      await this.publish(topic, body, {
        qos: options.qos ?? 1,
        properties: { ...options.properties, responseTopic: this.#responseTopic!, correlationData },
        timeout,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      this.#responses.delete(key);
      op.reject(error as Error);
    }
    return promise;
  }

  /**
   * Answer a request message: publish to its response topic with its correlation data.
   *
   * @param request The request message (it must have a response topic).
   * @param payload The response payload.
   * @param options QoS, properties, signal and timeout of the response.
   * @returns The publish result.
   */
  reply(request: Message, payload: Payload, options: PublishOptions = {}): Promise<PublishResult> {
    const responseTopic = request.properties?.responseTopic;
    if (responseTopic === undefined) {
      return Promise.reject(new TypeError("Cannot reply: the request has no response topic"));
    }
    const properties: Properties = { ...options.properties };
    const correlation = request.properties?.correlationData;
    if (correlation !== undefined) properties.correlationData = correlation;
    return this.publish(responseTopic, payload, { ...options, properties });
  }

  /**
   * Serve requests: subscribe to `filter` and answer each message that has a response
   * topic with what `handler` returns (a failing handler is reported as an `error` event,
   * and no response is sent).
   *
   * @param filter The topic filter requests arrive on.
   * @param handler Computes the response payload (and properties).
   * @param options MqttSubscription options (QoS, signal, timeout).
   * @returns The subscription; unsubscribe it to stop serving.
   */
  respond(
    filter: string,
    handler: (request: Message) => Reply | Promise<Reply>,
    options: Omit<SubscribeOptions, "onMessage"> = {},
  ): Promise<MqttSubscription> {
    return this.subscribe(filter, {
      ...options,
      onMessage: (request) => {
        if (request.properties?.responseTopic === undefined) return;
        Promise.resolve()
          .then(() => handler(request))
          .then((reply) => {
            const { payload, properties } = typeof reply === "string" || reply instanceof Uint8Array
              ? { payload: reply, properties: undefined }
              : reply;
            return this.reply(request, payload, {
              qos: request.qos,
              ...(properties === undefined ? {} : { properties }),
            });
          })
          .catch((error) => this.#emitError(error));
      },
    });
  }

  /**
   * Disconnect and close for good: send DISCONNECT (MQTT 5: with `reasonCode` and
   * `sessionExpiry`), wait for the connection to close (at most `timeout`), and reject every
   * pending operation with {@linkcode ConnectionClosedError}. Cancels connecting and
   * reconnecting. Calling it again does nothing.
   *
   * @example End with a reason code
   * ```ts
   * import assert from "node:assert/strict";
   * import { MqttClient } from "./client.ts";
   * import { startBroker } from "../broker/mod.ts";
   * import { memoryPair } from "../socket/memory.ts";
   * const broker = await startBroker({ listeners: [], sysInterval: 0 });
   * const transport = () => {
   *   const [a, b] = memoryPair();
   *   broker.connect(a);
   *   return Promise.resolve(b);
   * };
   * const client = await MqttClient.connect(transport, { sessionExpiryInterval: 60 });
   * const closing = client.end({ reasonCode: 0, sessionExpiry: 0 });
   * await closing;
   * assert.equal(client.state, "closed");
   * await broker.close();
   * ```
   *
   * @example Send DISCONNECT properties
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
   * await client.end({ properties: { reasonString: "shutting down" } });
   * assert.equal(client.state, "closed");
   * await broker.close();
   * ```
   *
   * @example Drop the connection so the broker publishes the will
   * ```ts
   * import assert from "node:assert/strict";
   * import { MqttClient } from "./client.ts";
   * import { startBroker } from "../broker/mod.ts";
   * import { memoryPair } from "../socket/memory.ts";
   * const broker = await startBroker({ listeners: [], sysInterval: 0 });
   * const transport = () => {
   *   const [a, b] = memoryPair();
   *   broker.connect(a);
   *   return Promise.resolve(b);
   * };
   * const watcher = await MqttClient.connect(transport);
   * const sub = await watcher.subscribe("status", { qos: 1 });
   * const client = await MqttClient.connect(transport, {
   *   will: { topic: "status", payload: "gone", qos: 1 },
   * });
   * await client.end({ abort: true });
   * for await (const message of sub) {
   *   assert.equal(new TextDecoder().decode(message.payload), "gone");
   *   break;
   * }
   * await watcher.end();
   * await broker.close();
   * ```
   *
   * @param options Reason code, session expiry, properties, abort and timeout.
   * @returns When closed.
   * @throws {RangeError} When a session expiry (`sessionExpiry` or in `properties`) is set
   *   but CONNECT had a session expiry of 0 (MQTT 5 forbids it); nothing is sent then.
   */
  async end(options: EndOptions = {}): Promise<void> {
    if (this.#state === "closed" || this.#ending) {
      await this.#closed;
      return;
    }
    if (options.abort === true) {
      this.destroy();
      if (this.#storeBusy !== undefined) await this.#storeIdle();
      return;
    }
    const timeout = checkTimeout(options.timeout ?? 2000, "end client");
    const disconnect: DisconnectPacket = { type: "disconnect" };
    if (this.#version === 5) {
      disconnect.reasonCode = options.reasonCode ?? 0;
      const properties: Properties = { ...options.properties };
      if (options.sessionExpiry !== undefined) {
        properties.sessionExpiryInterval = options.sessionExpiry;
      }
      const sessionExpiry = properties.sessionExpiryInterval;
      if (sessionExpiry !== undefined) {
        const o = this.#options;
        const expiry = o.sessionExpiryInterval ?? o.properties?.sessionExpiryInterval ?? 0;
        if (expiry === 0 && sessionExpiry !== 0) {
          throw new RangeError(
            "Cannot end client: session expiry cannot be set when CONNECT set 0",
          );
        }
      }
      for (const _ in properties) {
        disconnect.properties = properties;
        break;
      }
    }
    this.#ending = true;
    // Packets held for the store go out before DISCONNECT.
    if (this.#storeBusy !== undefined) await this.#storeIdle();
    const socket = this.#socket;
    if (this.#state === "connected" && socket !== undefined) {
      this.#session.disconnect(disconnect);
      this.#socket = undefined;
      this.#decoder = undefined;
      // Lingering: a destroy() meanwhile drops it.
      this.#lingering.add(socket);
      await new Promise<void>((resolve) => {
        const deadline = this.#deadlines.add(this.#now() + timeout, () => {
          socket.destroy();
          resolve();
        });
        socket.setHandlers({
          onClose: () => {
            deadline.cancel();
            resolve();
          },
        });
        socket.close();
        this.#schedule();
      });
      this.#lingering.delete(socket);
      this.#dispatch(
        new DisconnectEvent(
          options.reasonCode === undefined ? {} : { reasonCode: options.reasonCode },
        ),
      );
    }
    this.#close(undefined);
    if (this.#storeBusy !== undefined) await this.#storeIdle();
  }

  /**
   * Close for good at once, without DISCONNECT: the connection is dropped as a crashed
   * process's would be (so the broker publishes the will), connecting and reconnecting stop,
   * and every pending operation rejects with {@linkcode ConnectionClosedError}. The same as
   * `end({ abort: true })`, synchronous. Calling it again, or after `end()`, does nothing.
   *
   * @example Destroy a client
   * ```ts
   * import assert from "node:assert/strict";
   * import { MqttClient } from "./client.ts";
   * import { ConnectionClosedError } from "./errors.ts";
   * import { startBroker } from "../broker/mod.ts";
   * import { memoryPair } from "../socket/memory.ts";
   * const broker = await startBroker({ listeners: [], sysInterval: 0 });
   * const client = await MqttClient.connect(() => {
   *   const [a, b] = memoryPair();
   *   broker.connect(a);
   *   return Promise.resolve(b);
   * });
   * const publishing = client.publish("t", "x", { qos: 1 });
   * client.destroy();
   * await assert.rejects(publishing, ConnectionClosedError);
   * assert.equal(client.state, "closed");
   * await broker.close();
   * ```
   */
  destroy(): void {
    if (this.#state === "closed") return;
    const connected = this.#state === "connected" && this.#socket !== undefined;
    this.#ending = true;
    // #close() destroys the socket without writing anything.
    if (connected) this.#dispatch(new DisconnectEvent({}));
    this.#close(undefined);
  }

  /**
   * `await using client = await connect(...)` ends the client when the scope exits.
   *
   * @returns When closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.end();
  }

  // --- connection management ---

  async #start(): Promise<void> {
    const { op, promise } = this.#op<void>("connect", { timeout: Infinity });
    this.#first = op;
    const signal = this.#options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#close(abortError(signal, "connect"));
        return promise;
      }
      // Before the first CONNACK an abort rejects connect(); afterwards it ends the client.
      const onAbort = (): void => {
        if (!this.#everConnected) this.#close(abortError(signal, "connect"));
        else this.end().catch((error) => this.#emitError(error));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#unlistenSignal = () => signal.removeEventListener("abort", onAbort);
    }
    try {
      const snapshot = await this.#store.load();
      if (this.#state !== "closed") this.#session.restore(snapshot);
    } catch (error) {
      this.#close(error instanceof Error ? error : new Error(String(error)));
    }
    if (this.#state !== "closed") this.#open();
    return promise;
  }

  #open(): void {
    this.#state = "connecting";
    const controller = new AbortController();
    this.#attempt = controller;
    const timeout = this.#connectTimeout;
    this.#attemptDeadline = this.#deadlines.add(this.#now() + timeout, () => {
      this.#lost(new TimeoutError(`Cannot connect: no CONNACK in ${timeout} ms`));
    });
    this.#schedule();
    let opening: Promise<Socket>;
    try {
      opening = this.#transport({ signal: controller.signal });
    } catch (error) {
      opening = Promise.reject(error);
    }
    opening.then(
      (socket) => this.#opened(socket, controller),
      (error) => {
        if (controller !== this.#attempt || controller.signal.aborted) return;
        this.#lost(
          new ConnectionFailedError("Cannot connect: the transport failed", { cause: error }),
        );
      },
    );
  }

  #opened(socket: Socket, controller: AbortController): void {
    if (controller !== this.#attempt || controller.signal.aborted || this.#state === "closed") {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    const maximumPacketSize = this.#options.properties?.maximumPacketSize;
    this.#decoder = new ClientDecoder({
      protocolVersion: this.#version,
      ...(maximumPacketSize === undefined || this.#version !== 5 ? {} : { maximumPacketSize }),
    });
    this.#aliases.clear();
    socket.setHandlers({
      onData: (chunk) => this.#onData(socket, chunk),
      onClose: (error) => {
        if (socket !== this.#socket) return;
        this.#lost(new ConnectionClosedError("Connection closed", { cause: error }));
      },
    });
    try {
      this.#session.connect(this.#connectPacket(), this.#now());
    } catch (error) {
      this.#lost(error as Error);
      return;
    }
    this.#schedule();
  }

  #connectPacket(): ConnectPacket {
    const o = this.#options;
    const v5 = this.#version === 5;
    const clean = o.clean ?? true;
    const packet: ConnectPacket = {
      type: "connect",
      protocolVersion: this.#version,
      clientId: this.#clientId,
      // MQTT 5 reconnects resume the session; its expiry interval decides whether one exists.
      clean: v5 && this.#everConnected ? false : clean,
      keepAlive: o.keepAlive ?? 60,
    };
    if (o.username !== undefined) packet.username = o.username;
    if (o.password !== undefined) packet.password = toBytes(o.password, "connect");
    if (o.will !== undefined) {
      const w = o.will;
      packet.will = {
        topic: w.topic,
        payload: toBytes(w.payload, "connect"),
        qos: w.qos ?? 0,
        retain: w.retain ?? false,
      };
      if (v5 && w.properties !== undefined) packet.will.properties = w.properties;
    }
    if (v5) {
      const properties: Properties = { ...o.properties };
      if (o.sessionExpiryInterval !== undefined) {
        properties.sessionExpiryInterval = o.sessionExpiryInterval;
      }
      if (o.auth !== undefined) {
        properties.authenticationMethod = o.auth.method;
        if (o.auth.data !== undefined) properties.authenticationData = o.auth.data;
      }
      for (const _ in properties) {
        packet.properties = properties;
        break;
      }
    }
    return packet;
  }

  #onData(socket: Socket, chunk: Uint8Array): void {
    const decoder = this.#decoder;
    if (socket !== this.#socket || decoder === undefined) return;
    decoder.push(chunk);
    for (let packet = decoder.next(); packet !== undefined; packet = decoder.next()) {
      const connecting = this.#session.state === "connecting";
      this.#wire = packet.type === "publish" ? packet : undefined;
      const error = this.#session.handle(packet, this.#now());
      this.#wire = undefined;
      if (error !== undefined) {
        if (connecting && packet.type === "connack") {
          this.#lost(
            new ConnectRefusedError(
              `Cannot connect: the broker refused with reason code ${error.reasonCode}`,
              { reasonCode: error.reasonCode, cause: error },
            ),
          );
        } else {
          const reasonCode = packet.type === "disconnect" ? error.reasonCode : undefined;
          this.#lost(error, reasonCode);
        }
        return;
      }
      if (socket !== this.#socket) return;
    }
    const fault = decoder.error;
    if (fault !== undefined) {
      if (this.#session.state !== "offline" && this.#version === 5) {
        this.#session.disconnect({ type: "disconnect", reasonCode: fault.reasonCode });
      }
      this.#lost(fault);
      return;
    }
    this.#schedule();
  }

  // The current connection (or connection attempt) ended.
  #lost(error: Error, reasonCode?: number): void {
    if (this.#state === "closed") return;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#decoder = undefined;
    this.#attemptDeadline?.cancel();
    this.#attempt?.abort();
    this.#attempt = undefined;
    if (socket !== undefined) {
      socket.setHandlers({});
      // A DISCONNECT may be queued: flush it, but never wait on a peer that stopped reading.
      socket.close();
      this.#lingering.add(socket);
      this.#deadlines.add(this.#now() + 1000, () => {
        this.#lingering.delete(socket);
        socket.destroy();
      });
    }
    const wasConnected = this.#state === "connected";
    // Not connected from here on, also for the callbacks connectionLost() makes.
    if (wasConnected) this.#state = "reconnecting";
    this.#session.connectionLost();
    if (wasConnected) {
      this.#dispatch(
        new DisconnectEvent(reasonCode === undefined ? { error } : { error, reasonCode }),
      );
    }
    // A listener may have ended the client.
    if (this.#ending || (this.#state as ClientState) === "closed") return;
    const policy = this.#options.reconnect;
    const fatal = error instanceof ConnectRefusedError && FATAL_CONNACK.has(error.reasonCode);
    if (!this.#everConnected || policy === false || fatal) {
      this.#close(error);
      return;
    }
    if (!wasConnected) this.#emitError(error);
    const attempt = ++this.#reconnects;
    if (policy?.maxAttempts !== undefined && attempt > policy.maxAttempts) {
      this.#close(error);
      return;
    }
    const initial = policy?.initialDelay ?? 1000;
    const max = policy?.maxDelay ?? 30_000;
    const delay = Math.floor(Math.random() * Math.min(max, initial * 2 ** (attempt - 1)));
    this.#state = "reconnecting";
    this.#dispatch(new ReconnectEvent(attempt, delay));
    if (this.#state !== "reconnecting") return;
    this.#deadlines.add(this.#now() + delay, () => {
      if (this.#state === "reconnecting") this.#open();
    });
    this.#schedule();
  }

  #connected(connack: ConnackPacket): void {
    const first = !this.#everConnected;
    this.#state = "connected";
    this.#everConnected = true;
    this.#reconnects = 0;
    this.#attemptDeadline?.cancel();
    this.#attempt = undefined;
    this.#clientId = this.#session.clientId;
    if (!first && !connack.sessionPresent) {
      for (const [subscription, state] of this.#subscriptions) {
        if (!state.acknowledged) continue;
        this.#request(state.packet, "resubscribe", {}).catch((error) => {
          this.#emitError(error);
          if (error instanceof Error && !(error instanceof ConnectionClosedError)) {
            subscription.close(error);
            this.#subscriptions.delete(subscription);
          }
        });
      }
    }
    this.#flushOffline();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
    this.#dispatch(new ConnectEvent(connack));
    if (first) this.#first?.resolve();
    this.#schedule();
  }

  #close(error: Error | undefined): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closeError = error;
    this.#attempt?.abort();
    this.#attempt = undefined;
    this.#unlistenSignal?.();
    const socket = this.#socket;
    this.#socket = undefined;
    this.#decoder = undefined;
    if (socket !== undefined) {
      socket.setHandlers({});
      socket.destroy();
    }
    for (const lingering of this.#lingering) lingering.destroy();
    this.#lingering.clear();
    this.#session.connectionLost();
    this.#deadlines.clear();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const cause = { cause: error };
    this.#first?.reject(error ?? new ConnectionClosedError("Cannot connect: client ended"));
    const offline = this.#offline;
    this.#offline = [];
    this.#offlineBytes = 0;
    for (const p of offline) {
      p.op?.reject(new ConnectionClosedError("Cannot publish: client closed", cause));
    }
    for (const p of this.#inflight.values()) {
      p.op?.reject(new ConnectionClosedError("Cannot publish: client closed", cause));
    }
    this.#inflight.clear();
    for (const r of this.#requests.values()) {
      r.op.reject(new ConnectionClosedError("Cannot complete request: client closed", cause));
    }
    this.#requests.clear();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
    for (const op of this.#responses.values()) {
      op.reject(new ConnectionClosedError("Cannot receive response: client closed", cause));
    }
    this.#responses.clear();
    for (const subscription of this.#subscriptions.keys()) subscription.close(error);
    this.#subscriptions.clear();
    this.#dispatch(new ClientCloseEvent(error));
    this.#closedResolve(error);
  }

  // --- operations ---

  #op<T>(
    what: string,
    options: { signal?: AbortSignal; timeout?: number },
  ): { op: Op<T>; promise: Promise<T> } {
    let op!: Op<T>;
    const promise = new Promise<T>((resolve, reject) => (op = new Op(resolve, reject)));
    const timeout = checkTimeout(options.timeout ?? this.#defaultTimeout, what);
    const signal = options.signal;
    if (signal?.aborted) {
      op.cancel(abortError(signal, what));
      return { op, promise };
    }
    if (timeout !== Infinity) {
      op.deadline = this.#deadlines.add(this.#now() + timeout, () => {
        op.cancel(new TimeoutError(`Cannot ${what}: not done in ${timeout} ms`));
      });
      this.#schedule();
    }
    if (signal !== undefined) {
      const onAbort = () => op.cancel(abortError(signal, what));
      signal.addEventListener("abort", onAbort, { once: true });
      op.unlisten = () => signal.removeEventListener("abort", onAbort);
    }
    return { op, promise };
  }

  #request(
    packet: SubscribePacket | UnsubscribePacket,
    what: string,
    options: { signal?: AbortSignal; timeout?: number },
  ): Promise<SubackPacket | UnsubackPacket> {
    const { op, promise } = this.#op<SubackPacket | UnsubackPacket>(what, options);
    const attempt = (): void => {
      if (op.settled) return;
      if (this.#state === "closed") {
        op.reject(
          new ConnectionClosedError(`Cannot ${what}: client closed`, { cause: this.#closeError }),
        );
        return;
      }
      if (this.#state !== "connected" || this.#session.state !== "connected") {
        this.#waiters.push(attempt);
        return;
      }
      try {
        const id = packet.type === "subscribe"
          ? this.#session.subscribe(packet, this.#now())
          : this.#session.unsubscribe(packet, this.#now());
        this.#requests.set(id, { op, retry: attempt });
        op.onCancel = () => this.#requests.delete(id);
      } catch (error) {
        op.reject(error as Error);
      }
    };
    attempt();
    this.#schedule();
    return promise;
  }

  #publishPacket(topic: string, payload: Payload, options: PublishOptions): PublishPacket {
    validateTopicName(topic);
    const qos = options.qos ?? 0;
    checkQoS(qos, "publish");
    const packet: PublishPacket = {
      type: "publish",
      topic,
      payload: toBytes(payload, "publish"),
      qos,
      retain: options.retain ?? false,
      dup: false,
    };
    const properties = options.properties;
    if (properties !== undefined && this.#version === 5) {
      if (properties.topicAlias !== undefined) {
        throw new TypeError("Cannot publish: topic aliases are assigned by the client");
      }
      packet.properties = properties;
    }
    // Validates the packet (throws TypeError/RangeError) before anything is queued.
    clientPacketSize(qos === 0 ? packet : { ...packet, packetId: 1 }, this.#version);
    return packet;
  }

  #checkLimits(packet: PublishPacket): void {
    const s = this.#session;
    if (packet.qos > s.maximumQoS) {
      throw new ServerLimitError(
        `Cannot publish to "${packet.topic}": QoS ${packet.qos} exceeds the broker's maximum QoS ${s.maximumQoS}`,
        { reasonCode: 0x9b },
      );
    }
    if (packet.retain && !s.retainAvailable) {
      throw new ServerLimitError(
        `Cannot publish to "${packet.topic}": the broker does not support retained messages`,
        { reasonCode: 0x9a },
      );
    }
    const max = s.maximumPacketSize;
    if (max !== undefined) {
      // A topic alias property may add 3 bytes.
      const size =
        clientPacketSize(packet.qos === 0 ? packet : { ...packet, packetId: 1 }, this.#version) +
        (this.#version === 5 && s.topicAliasMaximum > 0 ? 3 : 0);
      if (size > max) {
        throw new ServerLimitError(
          `Cannot publish to "${packet.topic}": packet of ${size} bytes exceeds the broker's maximum packet size ${max}`,
          { reasonCode: 0x95 },
        );
      }
    }
  }

  #sendPublish(pending: PendingPublish): void {
    let id: number;
    try {
      id = this.#session.publish(pending.packet, this.#now());
    } catch (error) {
      this.#fail(pending, error as Error);
      return;
    }
    if (pending.packet.qos === 0) {
      pending.op?.resolve({ reasonCode: 0 });
      return;
    }
    this.#inflight.set(id, pending);
  }

  // Send the queued publishes, in order, while connected and maxInflight allows.
  #flushOffline(): void {
    const s = this.#session;
    // Stops when the connection fails while flushing: the rest stay queued, in order.
    while (this.#offline.length > 0 && this.#state === "connected") {
      const pending = this.#offline[0]!;
      if (pending.packet.qos > 0 && s.inflightCount + s.queuedCount >= this.#maxInflight) return;
      this.#offline.shift();
      this.#offlineBytes -= pending.packet.payload.byteLength;
      if (pending.op?.settled) continue;
      try {
        this.#checkLimits(pending.packet);
      } catch (error) {
        this.#fail(pending, error as Error);
        continue;
      }
      this.#sendPublish(pending);
    }
  }

  #fail(pending: PendingPublish, error: Error): void {
    if (pending.op !== undefined) pending.op.reject(error);
    else this.#emitError(error);
  }

  #complete(request: ClientRequest, result: ClientResult): void {
    const id = request.packetId ?? 0;
    if (request.type === "publish") {
      this.#completePublish(id, request, result);
      // A slot is free: send what waits for one.
      if (this.#offline.length > 0) this.#flushOffline();
      return;
    }
    const pending = this.#requests.get(id);
    if (pending === undefined) return;
    this.#requests.delete(id);
    if (result instanceof MqttError) {
      // The connection was lost before the acknowledgement: try again once reconnected.
      if (this.#state !== "closed") pending.retry();
      else pending.op.reject(new ConnectionClosedError("Cannot complete request: client closed"));
      return;
    }
    pending.op.resolve(result as SubackPacket | UnsubackPacket);
  }

  #completePublish(id: number, request: PublishPacket, result: ClientResult): void {
    const pending = this.#inflight.get(id);
    if (pending === undefined) return;
    this.#inflight.delete(id);
    if (result instanceof MqttError) {
      this.#fail(
        pending,
        new PublishRefusedError(`Cannot publish to "${request.topic}": ${result.message}`, {
          reasonCode: result.reasonCode,
          cause: result,
        }),
      );
      return;
    }
    const ack = result as Exclude<ClientResult, MqttError | SubackPacket | UnsubackPacket>;
    const code = ack.reasonCode ?? 0;
    if (code >= 0x80) {
      this.#fail(
        pending,
        new PublishRefusedError(
          `Cannot publish to "${request.topic}": the broker refused with reason code ${code}`,
          { reasonCode: code },
        ),
      );
      return;
    }
    pending.op?.resolve(
      ack.properties === undefined
        ? { reasonCode: code }
        : { reasonCode: code, properties: ack.properties },
    );
  }

  #deliver(packet: PublishPacket): void {
    const message: Message = {
      topic: packet.topic,
      payload: packet.payload,
      qos: packet.qos,
      retain: packet.retain,
    };
    if (packet.packetId !== undefined) message.packetId = packet.packetId;
    // As received: the session drops the topic alias it resolved.
    const properties = this.#wire?.properties ?? packet.properties;
    if (properties !== undefined) message.properties = properties;
    let matched = false;
    for (const subscription of this.#subscriptions.keys()) {
      if (!subscription.matches(packet.topic)) continue;
      matched = true;
      try {
        subscription.push(message);
      } catch (error) {
        this.#emitError(error);
      }
    }
    const unmatched = this.#options.onMessage;
    if (matched || unmatched === undefined) return;
    try {
      unmatched(message);
    } catch (error) {
      this.#emitError(error);
    }
  }

  #subscribeResponses(): Promise<MqttSubscription> {
    const topic = `mq/response/${randomHex(8)}`;
    this.#responseTopic = topic;
    const promise = this.subscribe(topic, {
      qos: 1,
      onMessage: (message) => {
        const data = message.properties?.correlationData;
        if (data === undefined) return;
        const key = new TextDecoder().decode(data);
        const op = this.#responses.get(key);
        if (op === undefined) return;
        this.#responses.delete(key);
        op.resolve(message);
      },
    });
    promise.catch(() => (this.#responseSubscription = undefined));
    return promise;
  }

  #challenge(packet: AuthPacket): void {
    const auth = this.#options.auth;
    if (packet.reasonCode !== 0x18 || auth?.onChallenge === undefined) return;
    const socket = this.#socket;
    const onChallenge = auth.onChallenge;
    Promise.resolve()
      .then(() => onChallenge(packet.properties?.authenticationData, packet))
      .then((data) => {
        if (socket !== this.#socket || this.#session.state === "offline") return;
        this.#session.auth({
          type: "auth",
          reasonCode: 0x18,
          properties: { authenticationMethod: auth.method, authenticationData: data },
        }, this.#now());
      })
      .catch((error) => {
        if (socket === this.#socket) {
          this.#lost(error instanceof Error ? error : new Error(String(error)));
        }
      });
  }

  // Outgoing topic aliases (MQTT 5): the first message to a topic sets an alias, later ones
  // send it with an empty topic, within the broker's Topic Alias Maximum. Applied on the
  // wire only, so the session's copies (resent after a reconnect) keep their topic.
  #alias(packet: PublishPacket): PublishPacket {
    const max = this.#session.topicAliasMaximum;
    if (max === 0 || this.#version !== 5 || this.#options.topicAliases === false) return packet;
    let alias = this.#aliases.get(packet.topic);
    if (alias !== undefined) {
      return { ...packet, topic: "", properties: { ...packet.properties, topicAlias: alias } };
    }
    if (this.#aliases.size >= max) return packet;
    alias = this.#aliases.size + 1;
    this.#aliases.set(packet.topic, alias);
    return { ...packet, properties: { ...packet.properties, topicAlias: alias } };
  }

  // --- timer ---

  #now(): number {
    return performance.now();
  }

  #schedule(): void {
    if (this.#state === "closed") return;
    const a = this.#deadlines.next();
    const b = this.#session.nextDeadline();
    const next = a === undefined ? b : b === undefined ? a : Math.min(a, b);
    if (next === undefined) return;
    if (this.#timer !== undefined && this.#timerAt <= next) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = next;
    const delay = Math.min(MAX_TIMER, Math.max(0, Math.ceil(next - this.#now())));
    this.#timer = setTimeout(this.#onTimer, delay);
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#now();
    this.#deadlines.run(now);
    if (this.#state === "connected") {
      const error = this.#session.tick(now);
      if (error !== undefined) this.#lost(error);
    }
    this.#schedule();
  };

  // --- helpers ---

  #dispatch(event: Event): void {
    this.dispatchEvent(event);
  }

  #emitError(error: unknown): void {
    this.#dispatch(
      new ClientErrorEvent(error instanceof Error ? error : new Error(String(error))),
    );
  }

  // --- store ---

  // Record a session change in the store: at once when no call is in progress, else after
  // the calls before it.
  #persist(change: ClientSessionChange): void {
    if (this.#storeBusy !== undefined) this.#storeQueue.push(change);
    else this.#storeRun(change);
  }

  // Make one store call; returns whether it is still in progress (a promise).
  #storeRun(change: ClientSessionChange): boolean {
    let result: void | Promise<void>;
    try {
      result = this.#storeCall(change);
    } catch (error) {
      this.#emitError(error);
      return false;
    }
    if (typeof (result as Promise<void> | undefined)?.then !== "function") return false;
    this.#storeBusy = Promise.resolve(result)
      .catch((error) => this.#emitError(error))
      .then(() => this.#storeSettled());
    return true;
  }

  #storeCall(change: ClientSessionChange): void | Promise<void> {
    const store = this.#store;
    return change.type === "putOutgoing"
      ? store.putOutgoing(change.packet)
      : store[change.type](change.packetId);
  }

  // The store call in progress settled: run the waiting ones, then write what was held.
  #storeSettled(): void {
    this.#storeBusy = undefined;
    while (this.#storeQueue.length > 0) {
      if (this.#storeRun(this.#storeQueue.shift()!)) return;
    }
    const socket = this.#heldSocket;
    const held = this.#held;
    this.#held = [];
    this.#heldSocket = undefined;
    // Packets held for a connection that is gone are dropped: the session resends.
    if (socket === undefined || socket !== this.#socket) return;
    for (const bytes of held) socket.write(bytes);
  }

  // Resolves once no store call is in progress or waiting.
  async #storeIdle(): Promise<void> {
    while (this.#storeBusy !== undefined) await this.#storeBusy;
  }
}
