/**
 * The embeddable MQTT broker: {@linkcode startBroker}.
 *
 * @module
 */

import {
  type AuthPacket,
  type ConnectPacket,
  isValidReasonCode,
  isValidTopicFilter,
  MAX_PACKET_SIZE,
  MqttError,
  type Packet,
  packetSize,
  parseSharedSubscription,
  type Properties,
  ProtocolError,
  type PublishPacket,
  type QoS,
  type SubscribePacket,
  type UnsubscribePacket,
  validateTopicFilter,
  validateTopicName,
  type Will,
  writePacket,
} from "../protocol/mod.ts";
import { type SharedGroup, SubscriptionTrie } from "./subscription_trie.ts";
import { RetainedTrie } from "./retained_trie.ts";
import { composeAuthenticate, composeAuthorize } from "./_plugins.ts";
import { utf8Length } from "../protocol/utf8.ts";
import type { Listener, ListenOptions, Socket, SocketAdapter } from "../socket/types.ts";
import { loadTcpAdapter } from "../socket/runtime.ts";
import { ACK_DEFERRED, ServerSession } from "../protocol/server_session.ts";
import type {
  BrokerStore,
  SessionChange,
  StoreChanges,
  StoredRetained,
  StoredSession,
  StoredSubscription,
} from "./store.ts";
import { acceptWebSocket, type WebSocketServerOptions } from "../socket/websocket_server.ts";
import { VERSION } from "../version.ts";
import {
  Connection,
  type ConnectionHost,
  ENCODED,
  type Encoded,
  type TaggedPublish,
  tagPublish,
} from "./_connection.ts";
import {
  type Admission,
  type ClientRecord,
  type ClientSubscription,
  type Counters,
  type Journal,
  type LocalSubscription,
  newCounters,
  type RetainedMessage,
} from "./_state.ts";
import type {
  AuthContext,
  AuthDecision,
  Authenticate,
  AuthorizeRequest,
  AuthResult,
  Broker,
  BrokerAddress,
  BrokerEventMap,
  BrokerListenerOptions,
  BrokerLogger,
  BrokerMessage,
  BrokerMessageHandler,
  BrokerOptions,
  BrokerPlugin,
  BrokerPublishOptions,
  BrokerStats,
  BrokerSubscribeOptions,
  ClientInfo,
  LogLevel,
} from "./types.ts";

// How often the broker-wide sweep runs (keep alive, connect timeout, wills, expiry, $SYS).
const SWEEP_MS = 500;
// How long close() waits for sockets to flush before destroying them.
const CLOSE_GRACE_MS = 2000;
const NEVER = 0xffff_ffff;

interface Resolved {
  listeners: BrokerListenerOptions[];
  maxInflightMessages: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  queueQos0Messages: boolean;
  backPressureTimeout: number;
  allowDuplicateMessages: boolean;
  maxConnections: number;
  maxTopicLength: number;
  maxTopicLevels: number;
  maxSubscriptionsPerClient: number;
  maxClientIdLength: number;
  maxAuthFailures: number;
  authFailureWindow: number;
  store: BrokerStore | undefined;
  maxPacketSize: number | undefined;
  maxKeepalive: number;
  maxTopicAlias: number;
  retainAvailable: boolean;
  maxQos: QoS;
  persistentClientExpiration: number | undefined;
  sysInterval: number;
  connectTimeout: number;
  allowZeroLengthClientId: boolean;
  autoIdPrefix: string;
  logger: BrokerLogger | undefined;
  logTypes: Set<LogLevel>;
  memoryUsage: (() => number) | undefined;
  authenticate: Authenticate | undefined;
  authorize: ((request: AuthorizeRequest) => boolean) | undefined;
  plugins: readonly BrokerPlugin[];
  authenticationMethods: readonly string[];
  responseInformation: string | ((clientId: string) => string) | undefined;
}

function integer(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`Cannot start broker: ${name} "${value}" is not an integer in 0..${max}`);
  }
  return value;
}

function resolve(options: BrokerOptions): Resolved {
  const maxQos = options.maxQos ?? 2;
  if (maxQos !== 0 && maxQos !== 1 && maxQos !== 2) {
    throw new RangeError(`Cannot start broker: maxQos "${maxQos}" is not 0, 1 or 2`);
  }
  const listeners = options.listeners ?? [{ hostname: "127.0.0.1", port: 1883 }];
  for (const l of listeners) integer("listener port", l.port, 0, 65_535);
  const maxPacketSize = options.maxPacketSize === undefined
    ? undefined
    : integer("maxPacketSize", options.maxPacketSize, 0, MAX_PACKET_SIZE);
  if (maxPacketSize !== undefined && maxPacketSize < 20) {
    throw new RangeError(`Cannot start broker: maxPacketSize "${maxPacketSize}" is below 20`);
  }
  const inflight = integer("maxInflightMessages", options.maxInflightMessages, 20, 65_535);
  if (inflight === 0) {
    throw new RangeError("Cannot start broker: maxInflightMessages must be at least 1");
  }
  return {
    listeners,
    maxInflightMessages: inflight,
    maxQueuedMessages: integer(
      "maxQueuedMessages",
      options.maxQueuedMessages,
      1000,
      Number.MAX_SAFE_INTEGER,
    ),
    maxQueuedBytes: integer("maxQueuedBytes", options.maxQueuedBytes, 0, Number.MAX_SAFE_INTEGER),
    queueQos0Messages: options.queueQos0Messages ?? false,
    backPressureTimeout: integer(
      "backPressureTimeout",
      options.backPressureTimeout,
      1000,
      0xffff_ffff,
    ),
    allowDuplicateMessages: options.allowDuplicateMessages ?? false,
    maxConnections: integer("maxConnections", options.maxConnections, 0, Number.MAX_SAFE_INTEGER),
    maxTopicLength: integer("maxTopicLength", options.maxTopicLength, 65_535, 65_535),
    maxTopicLevels: integer("maxTopicLevels", options.maxTopicLevels, 200, 65_535),
    maxSubscriptionsPerClient: integer(
      "maxSubscriptionsPerClient",
      options.maxSubscriptionsPerClient,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    maxClientIdLength: integer("maxClientIdLength", options.maxClientIdLength, 65_535, 65_535),
    store: options.store,
    maxAuthFailures: integer("maxAuthFailures", options.maxAuthFailures, 10, NEVER),
    authFailureWindow: integer("authFailureWindow", options.authFailureWindow, 60, NEVER),
    maxPacketSize,
    maxKeepalive: integer("maxKeepalive", options.maxKeepalive, 65_535, 65_535),
    maxTopicAlias: integer("maxTopicAlias", options.maxTopicAlias, 10, 65_535),
    retainAvailable: options.retainAvailable ?? true,
    maxQos,
    persistentClientExpiration: options.persistentClientExpiration === undefined
      ? undefined
      : integer("persistentClientExpiration", options.persistentClientExpiration, 0, NEVER),
    sysInterval: integer("sysInterval", options.sysInterval, 10, NEVER),
    connectTimeout: integer("connectTimeout", options.connectTimeout, 10, 65_535),
    allowZeroLengthClientId: options.allowZeroLengthClientId ?? true,
    autoIdPrefix: options.autoIdPrefix ?? "auto-",
    logger: options.logger,
    logTypes: new Set(options.logTypes ?? ["error", "warning", "notice", "information"]),
    memoryUsage: options.memoryUsage,
    authenticate: composeAuthenticate(options.authenticate, options.plugins ?? []),
    authorize: composeAuthorize(options.authorize, options.plugins ?? []),
    plugins: [
      ...new Set([
        ...(options.plugins ?? []),
        ...(options.listeners ?? []).flatMap((l) => l.plugins ?? []),
      ]),
    ],
    authenticationMethods: [...(options.authenticationMethods ?? [])],
    responseInformation: options.responseInformation,
  };
}

// The properties a client's PUBLISH passes on: all but the topic alias (per connection) and
// subscription identifiers (set per delivery).
function passOn(properties: Properties | undefined): Properties | undefined {
  if (properties === undefined) return undefined;
  if (properties.topicAlias === undefined && properties.subscriptionIdentifiers === undefined) {
    return properties;
  }
  const { topicAlias: _a, subscriptionIdentifiers: _s, ...rest } = properties;
  for (const _ in rest) return rest;
  return undefined;
}

function minQos(a: QoS, b: QoS): QoS {
  return a < b ? a : b;
}

function withProperties(
  packet: PublishPacket,
  properties: Properties | undefined,
): PublishPacket {
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

// Form of a fan-out: one encoding shared by every subscriber that gets these bytes.
interface Form {
  /** The mount point removed from the topic, `""` for none. */
  mount: string;
  v5: boolean;
  qos: QoS;
  retain: boolean;
  /** Subscription identifiers carried (MQTT 5), in match order. */
  ids: readonly number[];
  packet: TaggedPublish;
}

const NO_IDS: readonly number[] = [];

/**
 * Failed logins per remote address in a fixed window, with a bounded table: when it is
 * full, the entry with the oldest window goes.
 */
class FailureLimiter {
  readonly #max: number;
  readonly #window: number;
  readonly #table = new Map<string, { count: number; since: number }>();
  static readonly SIZE = 10_000;

  constructor(max: number, window: number) {
    this.#max = max;
    this.#window = window;
  }

  blocked(address: string, now: number): boolean {
    if (this.#max === 0) return false;
    const entry = this.#table.get(address);
    if (entry === undefined) return false;
    if (now - entry.since >= this.#window) {
      this.#table.delete(address);
      return false;
    }
    return entry.count >= this.#max;
  }

  fail(address: string, now: number): void {
    if (this.#max === 0) return;
    const entry = this.#table.get(address);
    if (entry !== undefined && now - entry.since < this.#window) {
      entry.count++;
      return;
    }
    this.#table.delete(address);
    if (this.#table.size >= FailureLimiter.SIZE) {
      // Map order is insertion order: the first entry has the oldest window.
      const oldest = this.#table.keys().next().value;
      if (oldest !== undefined) this.#table.delete(oldest);
    }
    this.#table.set(address, { count: 1, since: now });
  }
}

/** The composed security hooks of a listener. */
interface Chain {
  authenticate: Authenticate | undefined;
  authorize: ((request: AuthorizeRequest) => boolean) | undefined;
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class MqBroker implements Broker, ConnectionHost {
  readonly counters: Counters = newCounters();
  debug: boolean;
  readonly #options: Resolved;
  readonly #adapter: SocketAdapter | undefined;
  readonly #startedAt = Date.now();
  #listeners: Listener[] = [];
  #failures: FailureLimiter;
  #perListener: number[] = [];
  #addresses: BrokerAddress[] = [];
  // Every connection whose socket is not closed yet, and those not ended (for the sweep).
  readonly #sockets = new Set<Connection>();
  readonly #live = new Set<Connection>();
  readonly #clients = new Map<string, ClientRecord>();
  readonly #expiring = new Set<ClientRecord>();
  readonly #delayedWills = new Set<ClientRecord>();
  readonly #subscriptions = new SubscriptionTrie<ClientSubscription>();
  readonly #local = new SubscriptionTrie<LocalSubscription>();
  readonly #retained = new RetainedTrie<RetainedMessage>();
  readonly #events: { [K in keyof BrokerEventMap]?: ((event: BrokerEventMap[K]) => void)[] } = {};
  #connected = 0;
  #sharedCount = 0;
  #localIds = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #nextSys = 0;
  #sysLast = new Map<string, string>();
  #load: LoadAverages | undefined;
  #heapMaximum = 0;
  #closing: Promise<void> | undefined;

  // Routing state of the current publish (saved and restored around nested publishes).
  #seq = 0;
  #rPacket: PublishPacket | undefined;
  #rOrigin: string | undefined;
  #rProperties: Properties | undefined;
  #rNow = 0;
  #rCount = 0;
  #rForms: Form[] = [];
  /** The message being routed has one receiver (no shared template needed). */
  #rSingle = false;
  /** The connection whose PUBLISH is being routed (the one back pressure would pause). */
  #rFrom: Connection | undefined;
  /** Connections that publishers wait for (back pressure); checked for stalls by the sweep. */
  readonly #pressured = new Set<Connection>();
  readonly #v3Hits: ClientRecord[] = [];

  constructor(options: BrokerOptions) {
    this.#options = resolve(options);
    this.#adapter = options.adapter;
    this.#failures = new FailureLimiter(
      this.#options.maxAuthFailures,
      this.#options.authFailureWindow * 1000,
    );
    this.debug = this.#options.logger !== undefined && this.#options.logTypes.has("debug");
  }

  get addresses(): readonly BrokerAddress[] {
    return this.#addresses;
  }

  get stats(): BrokerStats {
    const c = this.counters;
    return {
      clientsConnected: this.#connected,
      clientsDisconnected: this.#clients.size - this.#connected,
      clientsMaximum: c.clientsMaximum,
      clientsExpired: c.clientsExpired,
      messagesReceived: c.messagesReceived,
      messagesSent: c.messagesSent,
      publishReceived: c.publishReceived,
      publishSent: c.publishSent,
      publishDropped: c.publishDropped,
      bytesReceived: c.bytesReceived,
      bytesSent: c.bytesSent,
      subscriptions: this.#subscriptions.size - this.#sharedCount,
      sharedSubscriptions: this.#sharedCount,
      retained: this.#retained.size,
      connections: c.connections,
      sockets: c.sockets,
      refusedConnections: c.refusedConnections,
      publishBytesReceived: c.publishBytesReceived,
      publishBytesSent: c.publishBytesSent,
      messagesStored: this.#stored(),
      messagesStoredBytes: this.#storedBytes(),
    };
  }

  #retainedBytes = 0;

  // Payload bytes held: queued for sessions, and retained.
  #storedBytes(): number {
    let n = this.#retainedBytes;
    for (const record of this.#clients.values()) n += record.session.queuedBytes;
    return n;
  }

  #stored(): number {
    let n = 0;
    for (const record of this.#clients.values()) {
      n += record.session.inflightCount + record.session.queuedCount;
    }
    return n;
  }

  client(clientId: string): ClientInfo | undefined {
    const record = this.#clients.get(clientId);
    if (record === undefined) return undefined;
    const session = record.session;
    return {
      clientId,
      connected: record.connection !== undefined,
      protocolVersion: record.version,
      inflight: session.inflightCount,
      queuedMessages: session.queuedCount,
      queuedBytes: session.queuedBytes,
      dropped: record.dropped,
      bufferedBytes: record.connection?.socket.bufferedAmount ?? 0,
    };
  }

  async start(): Promise<void> {
    const o = this.#options;
    this.log("notice", `mq version ${VERSION} starting`);
    if (o.store !== undefined) this.#restore(o.store);
    if (o.listeners.length > 0) {
      const adapter = this.#adapter ?? await loadTcpAdapter();
      // TLS listeners use node:tls on every runtime (Deno and Bun run it too): the one API
      // with client certificate details, a minimum version and certificate reload in all three.
      const tlsAdapter = this.#adapter ??
        (o.listeners.some((l) => l.tls !== undefined || l.path !== undefined)
          ? (await import("../socket/node.ts")).nodeAdapter
          : adapter);
      try {
        for (const l of o.listeners) {
          const listenOptions: ListenOptions = {
            hostname: l.hostname ?? "127.0.0.1",
            port: l.port,
          };
          if (l.tls !== undefined) listenOptions.tls = l.tls;
          if (l.path !== undefined) listenOptions.path = l.path;
          const index = this.#listeners.length;
          this.#perListener.push(0);
          const accept = l.protocol === "websockets"
            ? this.#webSocketAccept(l, index)
            : (socket: Socket) => this.#accept(socket, index);
          const native = l.tls === undefined && l.path === undefined;
          const listener = await (native ? adapter : tlsAdapter).listen(
            listenOptions,
            accept,
          );
          this.#listeners.push(listener);
          const a = listener.address;
          const ws = l.protocol === "websockets";
          this.#addresses.push({
            transport: ws ? "websocket" : a.transport,
            hostname: a.hostname,
            port: a.port,
          });
          this.log(
            "notice",
            l.path !== undefined
              ? `Opening unix listen socket on path ${l.path}.`
              : `Opening ${ws ? "websockets " : ""}listen socket on ${a.hostname} port ${a.port}.`,
          );
        }
      } catch (error) {
        await Promise.all(this.#listeners.map((l) => l.close().catch(() => {})));
        this.#listeners = [];
        throw error;
      }
    }
    if (o.sysInterval > 0) {
      this.#publishSys(Date.now(), true);
      this.#nextSys = Date.now() + o.sysInterval * 1000;
    }
    this.#timer = setInterval(this.#sweep, SWEEP_MS);
    this.log("notice", `mq version ${VERSION} running`);
  }

  log(level: LogLevel, message: string): void {
    const o = this.#options;
    if (o.logger === undefined || !o.logTypes.has(level)) return;
    try {
      o.logger(level, message);
    } catch {
      // A failing logger must not take the broker down.
    }
  }

  on<K extends keyof BrokerEventMap>(
    type: K,
    listener: (event: BrokerEventMap[K]) => void,
  ): () => void {
    const list = (this.#events[type] ??= []) as ((event: BrokerEventMap[K]) => void)[];
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }

  #emit<K extends keyof BrokerEventMap>(type: K, event: BrokerEventMap[K]): void {
    const list = this.#events[type];
    if (list === undefined) return;
    for (const listener of [...list]) {
      try {
        listener(event);
      } catch (error) {
        this.log("error", `Event listener for "${type}" threw: ${error}`);
      }
    }
  }

  #hasListeners(type: keyof BrokerEventMap): boolean {
    const list = this.#events[type];
    return list !== undefined && list.length > 0;
  }

  connect(socket: Socket): void {
    this.#accept(socket, -1);
  }

  // Upgrade each accepted socket to a WebSocket, then serve MQTT over it.
  #webSocketAccept(l: BrokerListenerOptions, index: number): (raw: Socket) => void {
    const settings: WebSocketServerOptions = {
      path: "*",
      http: (request) => {
        if (request.path !== "/health" || (request.method !== "GET" && request.method !== "HEAD")) {
          return undefined;
        }
        return {
          status: 200,
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({
            status: this.#closing === undefined ? "ok" : "closing",
            clients: this.#connected,
            uptime: Math.floor((Date.now() - this.#startedAt) / 1000),
          }),
        };
      },
      ...l.websocket,
    };
    return (raw) => {
      if (this.#closing !== undefined) {
        raw.destroy();
        return;
      }
      acceptWebSocket(raw, (socket) => this.#accept(socket, index), settings);
    };
  }

  #accept(socket: Socket, listener: number): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    const o = this.#options;
    const r = socket.remoteAddress;
    const limit = listener < 0 ? 0 : o.listeners[listener]!.maxConnections ?? 0;
    if (
      (o.maxConnections > 0 && this.#sockets.size >= o.maxConnections) ||
      (limit > 0 && this.#perListener[listener]! >= limit)
    ) {
      this.counters.refusedConnections++;
      this.log("notice", `Client connection from ${r.hostname} denied: max_connections exceeded.`);
      socket.destroy();
      return;
    }
    const connection = new Connection(this, socket, {
      maximumPacketSize: o.maxPacketSize ?? MAX_PACKET_SIZE,
      session: {
        maxInflight: o.maxInflightMessages,
        maxQueuedMessages: o.maxQueuedMessages,
        maxQueuedBytes: o.maxQueuedBytes,
        queueQoS0: o.queueQos0Messages,
      },
      listener,
    });
    this.counters.sockets++;
    this.#sockets.add(connection);
    this.#live.add(connection);
    if (listener >= 0) this.#perListener[listener]!++;
    this.log("information", `New connection from ${r.hostname}:${r.port}.`);
  }

  socketClosed(connection: Connection): void {
    this.#sockets.delete(connection);
    const listener = connection.listener;
    if (listener >= 0) this.#perListener[listener]!--;
  }

  get persisting(): boolean {
    return this.#options.store !== undefined && !this.#storeClosed;
  }

  received(connection: Connection): void {
    if (this.#store !== undefined) this.#touch(connection.record!);
  }

  sent(connection: Connection, packet: Packet): void {
    const record = connection.record;
    const j = record?.journal;
    if (j === undefined || j.full || j.session !== record!.session) return;
    switch (packet.type) {
      case "publish": {
        this.#syncExpired(record!, j);
        const fromQueue = j.head < j.queue.length && j.queue[j.head]!.qos === packet.qos;
        if (packet.qos === 0) {
          if (fromQueue) j.ops.push({ op: "delete", seq: j.queue[j.head++]!.seq });
          break;
        }
        if (packet.dup) break;
        const id = packet.packetId!;
        const state = packet.qos === 1 ? "puback" : "pubrec";
        if (fromQueue) {
          const seq = j.queue[j.head++]!.seq;
          j.outgoing.set(id, seq);
          j.ops.push({ op: "state", seq, state, packetId: id });
        } else {
          const seq = j.nextSeq++;
          j.outgoing.set(id, seq);
          j.ops.push({ op: "put", seq, state, at: 0, packet });
        }
        if (j.head > 1024 && j.head * 2 > j.queue.length) {
          j.queue = j.queue.slice(j.head);
          j.head = 0;
        }
        break;
      }
      case "pubrel": {
        const seq = j.outgoing.get(packet.packetId);
        if (seq !== undefined) {
          j.ops.push({ op: "state", seq, state: "pubcomp", packetId: packet.packetId });
        }
        break;
      }
      case "pubrec":
      case "pubcomp":
        // The incoming QoS 2 state (in the session's other state) changed.
        j.metaDirty = true;
        break;
    }
  }

  delivered(connection: Connection, packet: PublishPacket): void {
    const record = connection.record;
    const j = record?.journal;
    if (j === undefined || j.full || j.session !== record!.session) return;
    const seq = j.outgoing.get(packet.packetId!);
    if (seq === undefined) return;
    j.outgoing.delete(packet.packetId!);
    j.ops.push({ op: "delete", seq });
  }

  // Messages the session dropped from the head of its queue because they expired.
  #syncExpired(record: ClientRecord, j: Journal): void {
    const expired = record.session.expiredCount;
    while (j.expiredSeen < expired && j.head < j.queue.length) {
      j.ops.push({ op: "delete", seq: j.queue[j.head++]!.seq });
      j.expiredSeen++;
    }
  }

  holdOutput(connection: Connection): boolean {
    if (this.#store === undefined || this.#storeClosed) return false;
    const record = connection.record;
    if (record === undefined || record.session.sessionExpiryInterval === 0) return false;
    this.#held.add(connection);
    this.#scheduleCommit();
    return true;
  }

  commitNow(): void {
    this.#commit();
  }

  // --- CONNECT ---

  onConnect(connection: Connection, packet: ConnectPacket): void {
    const o = this.#options;
    const v = packet.protocolVersion;
    let clientId = packet.clientId;
    let assigned = false;
    const accepted = connection.listener < 0
      ? undefined
      : o.listeners[connection.listener]!.protocolVersions;
    if (accepted !== undefined && !accepted.includes(v)) {
      // [MQTT-3.1.2-2]: 0x84 unsupported protocol version (return code 1 on 3.x)
      this.log("notice", `Refused client ${clientId}: protocol level ${v} not accepted here.`);
      this.#refuse(connection, 0x84);
      return;
    }
    if (clientId.length > o.maxClientIdLength) {
      this.log("notice", `Refused client: client id of ${clientId.length} characters too long.`);
      this.#refuse(connection, 0x85, "Client identifier too long");
      return;
    }
    if (clientId === "") {
      // v3.1 requires an id; v3.1.1 allows an empty one only with clean session
      // [MQTT-3.1.3-7], [MQTT-3.1.3-8]; v5 lets the server assign one [MQTT-3.1.3-6].
      if (v === 3 || (v === 4 && !packet.clean) || !o.allowZeroLengthClientId) {
        this.log("notice", `Refused client with an empty client id (protocol level ${v}).`);
        this.#refuse(connection, 0x85, "Empty client identifier not allowed");
        return;
      }
      clientId = o.autoIdPrefix + randomId();
      assigned = true;
      connection.clientId = clientId;
    }
    let serverKeepAlive: number | undefined;
    if (o.maxKeepalive > 0 && (packet.keepAlive > o.maxKeepalive || packet.keepAlive === 0)) {
      if (v === 5) serverKeepAlive = o.maxKeepalive;
      else if (packet.keepAlive > o.maxKeepalive) {
        // Like mosquitto: 3.x has no server keep alive, so refuse (identifier rejected).
        this.log("notice", `Refused client ${clientId}: keep alive ${packet.keepAlive} too large.`);
        this.#refuse(connection, 0x85);
        return;
      }
    }
    const will = packet.will;
    if (v === 5 && will !== undefined) {
      // A will the server cannot honour refuses the connection [MQTT-3.2.2-12],
      // [MQTT-3.2.2-13]; MQTT 3.x has no such code, its will QoS is lowered when published.
      const maxQos = this.#listenerOf(connection)?.maxQos ?? o.maxQos;
      if (will.qos > maxQos || (will.retain && !o.retainAvailable)) {
        const code = will.qos > maxQos ? 0x9b : 0x9a;
        this.log(
          "notice",
          `Refused client ${clientId}: will not supported (0x${code.toString(16)}).`,
        );
        this.#refuse(
          connection,
          code,
          code === 0x9b ? `Will QoS ${will.qos} not supported` : "Retained wills not supported",
        );
        return;
      }
    }
    const admission: Admission = {
      packet,
      clientId,
      assigned,
      serverKeepAlive,
      username: packet.username,
    };
    const method = v === 5 ? packet.properties?.authenticationMethod : undefined;
    if (method !== undefined && !o.authenticationMethods.includes(method)) {
      // [MQTT-4.12.0-1]: an unsupported method is refused with 0x8C, as mosquitto does.
      this.log("notice", `Refused client ${clientId}: authentication method '${method}'.`);
      this.#refuse(connection, 0x8c, `Authentication method "${method}" not supported`);
      return;
    }
    const listener = connection.listener < 0 ? undefined : o.listeners[connection.listener]!;
    const certificate = connection.socket.peerCertificate?.();
    if (listener?.useIdentityAsUsername === true || listener?.useSubjectAsUsername === true) {
      const identity = listener.useSubjectAsUsername === true
        ? certificate?.subject
        : certificate?.commonName;
      if (identity === undefined) {
        this.log("notice", `Refused client ${clientId}: no certificate identity.`);
        this.#refuse(connection, 0x86);
        return;
      }
      // The certificate authenticated the client (mosquitto skips the password file here).
      admission.username = identity;
      this.#admit(connection, admission, undefined);
      return;
    }
    const authenticate = this.#chain(connection.listener).authenticate;
    if (authenticate === undefined) {
      this.#admit(connection, admission, undefined);
      return;
    }
    if (this.#failures.blocked(connection.socket.remoteAddress.hostname, Date.now())) {
      // Too many failed logins from this address: refused before any password is checked.
      this.log("notice", `Refused client ${clientId}: too many failed logins from its address.`);
      this.#refuse(connection, 0x9f);
      return;
    }
    connection.admission = admission;
    connection.authExchange = {
      method,
      reauthenticate: false,
      step: 0,
      state: undefined,
      awaitingClient: false,
    };
    const context: AuthContext = {
      clientId,
      protocolVersion: v,
      step: 0,
      reauthenticate: false,
      remoteAddress: connection.socket.remoteAddress,
    };
    if (packet.username !== undefined) context.username = packet.username;
    if (packet.password !== undefined) context.password = packet.password;
    if (certificate !== undefined) context.certificate = certificate;
    if (method !== undefined) context.method = method;
    const data = packet.properties?.authenticationData;
    if (data !== undefined) context.data = data;
    const userProperties = packet.properties?.userProperties;
    if (userProperties !== undefined) context.userProperties = userProperties;
    this.#runAuthenticate(connection, context);
  }

  // Refuse a CONNECT (the session sends CONNACK with the code) and close.
  #refuse(connection: Connection, code: number, reasonString?: string): void {
    connection.admission = undefined;
    connection.authExchange = undefined;
    if (reasonString !== undefined && connection.version === 5) {
      connection.session.refuse(code, { reasonString });
    } else {
      connection.session.refuse(code);
    }
    connection.end();
  }

  // Call the hook and act on its decision, now or when its promise settles.
  #runAuthenticate(connection: Connection, context: AuthContext): void {
    let result: AuthResult | Promise<AuthResult>;
    try {
      result = this.#chain(connection.listener).authenticate!(context);
    } catch (error) {
      this.#authFailed(connection, error);
      return;
    }
    if (!(result instanceof Promise)) {
      this.#decided(connection, result);
      return;
    }
    result.then(
      (decision) => this.#decided(connection, decision),
      (error) => this.#authFailed(connection, error),
    );
  }

  #authFailed(connection: Connection, error: unknown): void {
    this.log("error", `Authentication hook failed for ${connection.label}: ${error}`);
    this.#decided(connection, { outcome: "refuse", reasonCode: 0x80 });
  }

  // The hook decided one step of a CONNECT or a re-authentication.
  #decided(connection: Connection, result: AuthResult): void {
    const exchange = connection.authExchange;
    if (connection.ended || exchange === undefined || exchange.awaitingClient) return;
    let decision: AuthDecision = typeof result === "boolean"
      ? { outcome: result ? "accept" : "refuse" }
      : result !== null && typeof result === "object"
      ? result
      : { outcome: "refuse", reasonCode: 0x80 };
    const method = exchange.method;
    if (decision.outcome === "continue" && method === undefined) {
      this.log(
        "error",
        `Authentication hook asked ${connection.label} to continue without a method.`,
      );
      decision = { outcome: "refuse", reasonCode: 0x80 };
    }
    const properties: Properties = {};
    if (decision.reasonString !== undefined) properties.reasonString = decision.reasonString;
    if (decision.outcome !== "accept" && decision.outcome !== "continue") {
      connection.authExchange = undefined;
      let code = decision.reasonCode ?? 0x87;
      if (exchange.reauthenticate) {
        // [MQTT-4.12.1-2]: a failed re-authentication closes the connection
        if (code < 0x80 || !isValidReasonCode("disconnect", code)) code = 0x87;
        this.log("notice", `Client ${connection.label} failed to re-authenticate.`);
        connection.session.disconnect(code, properties);
        connection.fail(new MqttError("Cannot re-authenticate: refused", { reasonCode: code }));
        return;
      }
      if (code < 0x80 || !isValidReasonCode("connack", code)) {
        this.log("error", `Authentication hook refused with a bad reason code "${code}".`);
        code = 0x87;
      }
      this.log("notice", `Client ${connection.label} not authorised (0x${code.toString(16)}).`);
      this.#failures.fail(connection.socket.remoteAddress.hostname, Date.now());
      this.#refuse(connection, code, decision.reasonString);
      return;
    }
    if (method !== undefined) {
      // [MQTT-4.12.0-5]: AUTH and CONNACK carry the CONNECT's method
      properties.authenticationMethod = method;
      if (decision.data !== undefined) properties.authenticationData = decision.data;
    }
    if (decision.outcome === "continue") {
      // [MQTT-4.12.0-2]: asking for more is AUTH 0x18
      exchange.awaitingClient = true;
      exchange.state = decision.state;
      connection.session.auth({ type: "auth", reasonCode: 0x18, properties });
      return;
    }
    connection.authExchange = undefined;
    if (exchange.reauthenticate) {
      connection.session.auth({ type: "auth", reasonCode: 0, properties });
      return;
    }
    const admission = connection.admission!;
    connection.admission = undefined;
    if (decision.username !== undefined) admission.username = decision.username;
    this.#admit(connection, admission, properties);
  }

  onAuth(connection: Connection, packet: AuthPacket): void {
    const session = connection.session;
    const connect = session.connectPacket!;
    const code = packet.reasonCode ?? 0;
    const method = packet.properties?.authenticationMethod;
    let exchange = connection.authExchange;
    const connecting = session.state === "authenticating";
    let fault: string | undefined;
    if (method !== connect.properties?.authenticationMethod) {
      // [MQTT-4.12.1-1] and v5 §4.12: the method stays the CONNECT's
      fault = `Cannot accept AUTH: authentication method "${method}" is not the CONNECT's`;
    } else if (code === 0x18 && exchange?.awaitingClient !== true) {
      fault = "Cannot accept AUTH: no authentication step is waiting for the client";
    } else if (code === 0x19 && (connecting || exchange !== undefined)) {
      fault = "Cannot accept AUTH: re-authentication while authenticating";
    } else if (code !== 0x18 && code !== 0x19) {
      fault = `Cannot accept AUTH: reason code "${code}" is not sent by clients`;
    }
    if (fault !== undefined) {
      connection.authExchange = undefined;
      this.log("notice", `Client ${connection.label}: ${fault}.`);
      if (connecting) this.#refuse(connection, 0x82);
      else {
        session.disconnect(0x82);
        connection.fail(new ProtocolError(fault));
      }
      return;
    }
    if (exchange === undefined) {
      exchange = {
        method,
        reauthenticate: true,
        step: 0,
        state: undefined,
        awaitingClient: false,
      };
      connection.authExchange = exchange;
    } else {
      exchange.step++;
      exchange.awaitingClient = false;
    }
    const context: AuthContext = {
      clientId: connection.clientId,
      protocolVersion: 5,
      step: exchange.step,
      reauthenticate: exchange.reauthenticate,
      remoteAddress: connection.socket.remoteAddress,
    };
    if (connect.username !== undefined) context.username = connect.username;
    if (connect.password !== undefined) context.password = connect.password;
    if (method !== undefined) context.method = method;
    if (exchange.state !== undefined) context.state = exchange.state;
    const data = packet.properties?.authenticationData;
    if (data !== undefined) context.data = data;
    const userProperties = packet.properties?.userProperties;
    if (userProperties !== undefined) context.userProperties = userProperties;
    this.#runAuthenticate(connection, context);
  }

  // The CONNECT passed every check: take over or resume the session and send CONNACK.
  #admit(connection: Connection, admission: Admission, extra: Properties | undefined): void {
    const o = this.#options;
    const now = Date.now();
    const { packet, clientId, assigned, serverKeepAlive } = admission;
    const v = packet.protocolVersion;
    const session = connection.session;
    let record = this.#clients.get(clientId);
    const old = record?.connection;
    if (old !== undefined) {
      // Take-over [MQTT-3.1.4-3]: DISCONNECT 0x8E to an MQTT 5 client, then close.
      this.log("notice", `Client ${clientId} already connected, closing old connection.`);
      old.session.disconnect(0x8e);
      old.end(new ProtocolError("Session taken over", { reasonCode: 0x8e }));
      record = this.#clients.get(clientId);
    }
    let previous = undefined;
    if (record !== undefined) {
      if (packet.clean) {
        this.#endSession(record, now);
        record = undefined;
      } else {
        previous = record.session;
        this.#expiring.delete(record);
        // A delayed will is cancelled when the session resumes in time [MQTT-3.1.3-9]
        record.will = undefined;
        this.#delayedWills.delete(record);
      }
    }
    if (record === undefined) {
      record = {
        clientId,
        session,
        connection,
        version: v,
        username: admission.username,
        authorize: this.#chain(connection.listener).authorize,
        mount: this.#listenerOf(connection)?.mountPoint ?? "",
        maxQos: this.#listenerOf(connection)?.maxQos ?? o.maxQos,
        expiresAt: Infinity,
        will: undefined,
        willAt: 0,
        dropped: 0,
        mark: 0,
        markQos: 0,
        markRetain: false,
        markIds: [],
        shared: 0,
      };
      this.#clients.set(clientId, record);
    } else {
      record.session = session;
      record.connection = connection;
      record.version = v;
      record.username = admission.username;
      record.authorize = this.#chain(connection.listener).authorize;
      record.mount = this.#listenerOf(connection)?.mountPoint ?? "";
      record.maxQos = this.#listenerOf(connection)?.maxQos ?? o.maxQos;
    }
    connection.record = record;
    if (this.#store !== undefined) this.#touchMeta(record);
    this.#connected++;
    this.counters.connections++;
    if (this.#connected > this.counters.clientsMaximum) {
      this.counters.clientsMaximum = this.#connected;
    }
    const properties: Properties = {};
    if (v === 5) {
      if (o.maxInflightMessages !== 65_535) properties.receiveMaximum = o.maxInflightMessages;
      if (record.maxQos < 2) properties.maximumQoS = record.maxQos as 0 | 1;
      if (!o.retainAvailable) properties.retainAvailable = false;
      if (o.maxPacketSize !== undefined) properties.maximumPacketSize = o.maxPacketSize;
      if (o.maxTopicAlias > 0) properties.topicAliasMaximum = o.maxTopicAlias;
      if (serverKeepAlive !== undefined) properties.serverKeepAlive = serverKeepAlive;
      if (assigned) properties.assignedClientIdentifier = clientId;
      const info = o.responseInformation;
      // [MQTT-3.1.2-28]: Response Information only when the client asked for it
      if (info !== undefined && packet.properties?.requestResponseInformation === true) {
        properties.responseInformation = typeof info === "string" ? info : info(clientId);
      }
      if (extra !== undefined) Object.assign(properties, extra);
    }
    const r = connection.socket.remoteAddress;
    this.log(
      "notice",
      `New client connected from ${r.hostname}:${r.port} as ${clientId} (p${v}, c${
        packet.clean ? 1 : 0
      }, k${packet.keepAlive}${packet.username === undefined ? "" : `, u'${packet.username}'`}).`,
    );
    const error = previous === undefined
      ? session.accept({ properties }, now)
      : session.accept({ properties, previous }, now);
    if (error !== undefined) {
      connection.fail(error);
      return;
    }
    if (this.#hasListeners("connect")) {
      const event: BrokerEventMap["connect"] = {
        clientId,
        protocolVersion: v,
        clean: packet.clean,
        sessionPresent: previous !== undefined,
        remoteAddress: r,
      };
      if (packet.username !== undefined) event.username = packet.username;
      this.#emit("connect", event);
    }
  }

  // --- connection end, sessions, wills ---

  onEnded(connection: Connection, error: Error | undefined): void {
    this.#live.delete(connection);
    this.#release(connection);
    const record = connection.record;
    if (record === undefined || record.connection !== connection) {
      if (record === undefined && error !== undefined) {
        this.log("notice", `Connection from ${connection.label} closed: ${error.message}`);
      }
      return;
    }
    const now = Date.now();
    record.connection = undefined;
    this.#connected--;
    if (this.#store !== undefined) this.#touchMeta(record);
    const session = connection.session;
    const code = session.disconnectReasonCode;
    if (code !== undefined) this.log("notice", `Client ${record.clientId} disconnected.`);
    else if (error === undefined) {
      this.log("notice", `Client ${record.clientId} closed its connection.`);
    }
    let expiry: number = session.sessionExpiryInterval;
    if (expiry === NEVER) expiry = this.#options.persistentClientExpiration ?? Infinity;
    const will = session.connectPacket?.will;
    // The will goes out unless a normal DISCONNECT discarded it [MQTT-3.1.2-8],
    // [MQTT-3.14.4-3]; DISCONNECT 0x04 asks for it. Not on broker shutdown.
    const sendWill = will !== undefined && this.#closing === undefined &&
      (code === undefined || code === 0x04);
    if (expiry === 0) {
      this.#endSession(record, now);
      if (sendWill) this.#publishWill(record, will, now);
    } else {
      record.expiresAt = expiry === Infinity ? Infinity : now + expiry * 1000;
      if (expiry !== Infinity) this.#expiring.add(record);
      if (sendWill) {
        const delay = record.version === 5 ? will.properties?.willDelayInterval ?? 0 : 0;
        if (delay === 0) this.#publishWill(record, will, now);
        else {
          record.will = will;
          record.willAt = now + Math.min(delay, expiry) * 1000;
          this.#delayedWills.add(record);
        }
      }
    }
    if (this.#hasListeners("disconnect")) {
      const event: BrokerEventMap["disconnect"] = { clientId: record.clientId };
      if (code !== undefined) event.reasonCode = code;
      if (error !== undefined) event.error = error;
      this.#emit("disconnect", event);
    }
  }

  // The session ends: subscriptions go, and a will still waiting is sent now.
  #endSession(record: ClientRecord, now: number): void {
    if (this.#store !== undefined) this.#touch(record);
    this.#subscriptions.removeClient(record.clientId);
    this.#sharedCount -= record.shared;
    record.shared = 0;
    if (this.#clients.get(record.clientId) === record) this.#clients.delete(record.clientId);
    this.#expiring.delete(record);
    const will = record.will;
    if (will !== undefined) {
      record.will = undefined;
      this.#delayedWills.delete(record);
      this.#publishWill(record, will, now);
    }
  }

  #publishWill(record: ClientRecord, will: Will, now: number): void {
    const clientId = record.clientId;
    let properties = will.properties;
    if (properties?.willDelayInterval !== undefined) {
      const { willDelayInterval: _, ...rest } = properties;
      properties = rest;
    }
    const packet: PublishPacket = {
      type: "publish",
      topic: record.mount + will.topic,
      payload: will.payload,
      qos: minQos(will.qos, record.maxQos),
      retain: will.retain,
      dup: false,
    };
    if (properties !== undefined && Object.keys(properties).length > 0) {
      packet.properties = properties;
    }
    if (!this.#allowed("publish", record, packet.topic, packet.qos, packet.retain)) {
      this.log("notice", `Denied will of ${clientId} to '${will.topic}'.`);
      return;
    }
    this.log("information", `Sending will of ${clientId} to '${will.topic}'.`);
    this.#publish(clientId, packet, now);
  }

  #sweep = (): void => {
    const now = Date.now();
    const connectTimeout = this.#options.connectTimeout * 1000;
    for (const connection of this.#live) connection.tick(now, connectTimeout);
    if (this.#pressured.size > 0) this.#checkStalls(now);
    for (const record of this.#delayedWills) {
      if (now < record.willAt) continue;
      this.#delayedWills.delete(record);
      const will = record.will;
      record.will = undefined;
      if (this.#store !== undefined) this.#touchMeta(record);
      if (will !== undefined) this.#publishWill(record, will, now);
    }
    for (const record of this.#expiring) {
      if (now < record.expiresAt || record.connection !== undefined) continue;
      this.counters.clientsExpired++;
      this.log("notice", `Expiring client ${record.clientId}.`);
      this.#endSession(record, now);
    }
    const sys = this.#options.sysInterval;
    if (sys > 0 && now >= this.#nextSys) {
      this.#nextSys = now + sys * 1000;
      this.#publishSys(now, false);
    }
  };

  // --- SUBSCRIBE / UNSUBSCRIBE ---

  onSubscribe(connection: Connection, packet: SubscribePacket): void {
    const record = connection.record!;
    const now = Date.now();
    const identifier = packet.properties?.subscriptionIdentifier ?? 0;
    const codes: number[] = [];
    const retained: [string, ClientSubscription][] = [];
    for (const s of packet.subscriptions) {
      // An invalid filter (a bad share name included) is refused below, never thrown.
      const valid = isValidTopicFilter(s.filter);
      const shared = valid && s.filter.startsWith("$share/")
        ? parseSharedSubscription(s.filter)
        : undefined;
      if (shared !== undefined && s.noLocal === true) {
        // [MQTT-3.8.3-4]: no local on a shared subscription is a protocol error
        connection.session.disconnect(0x82);
        connection.fail(
          new ProtocolError("Cannot subscribe: no local on a shared subscription", {
            spec: "MQTT-3.8.3-4",
          }),
        );
        return;
      }
      if (!valid || this.#topicTooBig(s.filter)) {
        codes.push(record.version === 5 ? 0x8f : 0x80);
        continue;
      }
      // A mount point prefixes the filter (inside `$share/<group>/`).
      const filter = record.mount === ""
        ? s.filter
        : shared === undefined
        ? record.mount + s.filter
        : `$share/${shared.group}/${record.mount}${shared.filter}`;
      const most = this.#options.maxSubscriptionsPerClient;
      if (
        most > 0 && this.#subscriptions.countOf(record.clientId) >= most &&
        !this.#subscriptions.has(record.clientId, filter)
      ) {
        this.log("notice", `Refused SUBSCRIBE from ${record.clientId}: too many subscriptions.`);
        codes.push(record.version === 5 ? 0x97 : 0x80);
        continue;
      }
      const qos = minQos(s.qos, record.maxQos);
      if (
        record.authorize !== undefined &&
        !this.#allowed(
          "subscribe",
          record,
          shared === undefined ? filter : record.mount + shared.filter,
          s.qos,
          false,
          shared?.group,
        )
      ) {
        this.log("notice", `Denied SUBSCRIBE from ${record.clientId} to '${filter}'.`);
        codes.push(record.version === 5 ? 0x87 : 0x80);
        continue;
      }
      const value: ClientSubscription = {
        record,
        qos,
        noLocal: s.noLocal ?? false,
        retainAsPublished: s.retainAsPublished ?? false,
        identifier,
      };
      const added = this.#subscriptions.add(record.clientId, filter, value);
      if (added && shared !== undefined) {
        record.shared++;
        this.#sharedCount++;
      }
      codes.push(qos);
      const handling = s.retainHandling ?? 0;
      // No retained messages for shared subscriptions [MQTT-3.8.4-?] (v5 §4.8.2)
      if (shared === undefined && (handling === 0 || (handling === 1 && added))) {
        retained.push([filter, value]);
      }
    }
    connection.session.suback(packet, codes);
    if (this.#store !== undefined) this.#touchMeta(record);
    for (const [filter, value] of retained) this.#sendRetained(filter, value, now);
    if (this.#hasListeners("subscribe")) {
      this.#emit("subscribe", {
        clientId: record.clientId,
        subscriptions: packet.subscriptions,
        reasonCodes: codes,
      });
    }
  }

  onUnsubscribe(connection: Connection, packet: UnsubscribePacket): void {
    const record = connection.record!;
    const codes = packet.filters.map((given) => {
      const shared = record.mount !== "" && given.startsWith("$share/")
        ? parseSharedSubscription(given)
        : undefined;
      const f = record.mount === ""
        ? given
        : shared === undefined
        ? record.mount + given
        : `$share/${shared.group}/${record.mount}${shared.filter}`;
      if (!this.#subscriptions.remove(record.clientId, f)) return 0x11;
      if (f.startsWith("$share/") && parseSharedSubscription(f) !== undefined) {
        record.shared--;
        this.#sharedCount--;
      }
      return 0;
    });
    connection.session.unsuback(packet, codes);
    if (this.#store !== undefined) this.#touchMeta(record);
    if (this.#hasListeners("unsubscribe")) {
      this.#emit("unsubscribe", {
        clientId: record.clientId,
        filters: packet.filters,
        reasonCodes: codes,
      });
    }
  }

  // Retained messages for a new subscription: retain flag set [MQTT-3.3.1-8], remaining expiry.
  // Sent as the connection can take them (ARCHITECTURE.md rule 8): while its socket is not
  // congested and its queue is under half of max_queued_messages; the rest waits for the
  // socket to drain or the client to acknowledge, so a `#` subscriber gets every one of a
  // large retained store without the broker buffering them all.
  #sendRetained(filter: string, sub: ClientSubscription, now: number): void {
    const connection = sub.record.connection;
    if (connection === undefined) return;
    const items = this.#matchRetained(filter, now);
    if (items.length === 0) return;
    (connection.retainedBacklog ??= []).push({ items, index: 0, sub });
    this.pumpRetained(connection);
  }

  pumpRetained(connection: Connection): void {
    const backlog = connection.retainedBacklog;
    if (backlog === undefined) return;
    const record = connection.record;
    if (connection.ended || record === undefined || record.connection !== connection) {
      connection.retainedBacklog = undefined;
      return;
    }
    const max = this.#options.maxQueuedMessages;
    const room = max === 0 ? Infinity : Math.max(1, max >> 1);
    const now = Date.now();
    // Stored forms are copied as they are (Connection.sendStored) unless something must
    // be checked or added per message: authorization, a mount point, a store holding output,
    // a subscription identifier.
    const stored = record.authorize === undefined && record.mount === "" && !this.persisting;
    const maxPacket = record.session.clientMaximumPacketSize;
    while (backlog.length > 0) {
      const batch = backlog[0]!;
      const { items, sub } = batch;
      const copy = stored && (record.version !== 5 || sub.identifier === 0);
      while (batch.index < items.length) {
        if (connection.congested || record.session.queuedCount >= room) return;
        if (copy) {
          batch.index = connection.sendStored(items, batch.index, sub.qos, maxPacket);
          if (batch.index >= items.length || connection.congested) continue;
        }
        const message = items[batch.index++]!;
        // Replaced or cleared since: the subscription already got the newer one live.
        if (message.replaced === true) continue;
        this.#sendOneRetained(sub, message.packet.topic, message, now);
      }
      backlog.shift();
    }
    connection.retainedBacklog = undefined;
  }

  #sendOneRetained(
    sub: ClientSubscription,
    topic: string,
    message: RetainedMessage,
    now: number,
  ): void {
    const record = sub.record;
    const source = message.packet;
    if (record.authorize !== undefined && !this.#mayReceive(record, source, sub.qos)) return;
    const visible = record.mount === "" ? topic : topic.slice(record.mount.length);
    if (visible === "") return;
    const properties = this.#remainingExpiry(message, now);
    if (properties === null) return; // expired meanwhile [MQTT-3.3.2-5]
    const packet: PublishPacket = {
      type: "publish",
      topic: visible,
      payload: source.payload,
      qos: minQos(source.qos, sub.qos),
      retain: true,
      dup: false,
    };
    if (record.version === 5) {
      let p = properties;
      if (sub.identifier !== 0) p = { ...p, subscriptionIdentifiers: [sub.identifier] };
      withProperties(packet, p);
    }
    this.#deliver(record, packet, now);
  }

  #matchRetained(filter: string, now: number): RetainedMessage[] {
    const found: RetainedMessage[] = [];
    this.#retained.match(filter, (_topic, message) => void found.push(message));
    // Drop expired ones [MQTT-3.3.2-5] (only a message with properties can expire).
    let kept = 0;
    for (let i = 0; i < found.length; i++) {
      const message = found[i]!;
      if (
        message.packet.properties !== undefined && this.#remainingExpiry(message, now) === null
      ) {
        const topic = message.packet.topic;
        this.#retainedBytes -= message.packet.payload.byteLength;
        this.#retained.delete(topic);
        message.replaced = true;
        if (this.#store !== undefined) this.#retainedChanged(topic, null);
      } else {
        found[kept++] = message;
      }
    }
    found.length = kept;
    return found;
  }

  // The message's properties with the expiry reduced by the time it was stored [MQTT-3.3.2-6],
  // or null when it expired.
  #remainingExpiry(message: RetainedMessage, now: number): Properties | undefined | null {
    const properties = message.packet.properties;
    const interval = properties?.messageExpiryInterval;
    if (interval === undefined) return properties;
    const waited = Math.floor((now - message.storedAt) / 1000);
    if (waited >= interval) return null;
    return waited === 0 ? properties : { ...properties, messageExpiryInterval: interval - waited };
  }

  // Whether a topic name or filter passes maxTopicLength / maxTopicLevels.
  #topicTooBig(topic: string): boolean {
    const o = this.#options;
    if (topic.length >= o.maxTopicLevels) {
      let levels = 1;
      for (let i = topic.indexOf("/"); i !== -1; i = topic.indexOf("/", i + 1)) {
        if (++levels > o.maxTopicLevels) return true;
      }
    }
    // A UTF-8 byte is at least a character and at most three per UTF-16 unit.
    if (o.maxTopicLength < 65_535 && topic.length * 3 > o.maxTopicLength) {
      return utf8Length(topic) > o.maxTopicLength;
    }
    return false;
  }

  // --- Authorization ---

  #chains: Chain[] = [];

  // The security chain of a listener (-1: the broker's, for connect()).
  #chain(listener: number): Chain {
    const o = this.#options;
    if (this.#chains.length === 0) {
      const main: Chain = { authenticate: o.authenticate, authorize: o.authorize };
      this.#chains.push(main);
      for (const l of o.listeners) {
        this.#chains.push(
          l.plugins === undefined ? main : {
            authenticate: composeAuthenticate(undefined, l.plugins),
            authorize: composeAuthorize(undefined, l.plugins),
          },
        );
      }
    }
    return this.#chains[listener + 1]!;
  }

  #listenerOf(connection: Connection): BrokerListenerOptions | undefined {
    return connection.listener < 0 ? undefined : this.#options.listeners[connection.listener];
  }

  // One reused request for the per-message "deliver" checks.
  #readRequest: AuthorizeRequest = {
    action: "deliver",
    clientId: "",
    username: undefined,
    topic: "",
    qos: 0,
    retain: false,
    shareName: undefined,
  };

  #allowed(
    action: "publish" | "subscribe",
    record: ClientRecord,
    topic: string,
    qos: QoS,
    retain: boolean,
    shareName?: string,
  ): boolean {
    const authorize = record.authorize;
    if (authorize === undefined) return true;
    try {
      return authorize({
        action,
        clientId: record.clientId,
        username: record.username,
        topic,
        qos,
        retain,
        shareName,
      });
    } catch (error) {
      this.log("error", `Authorization hook failed for ${record.clientId}: ${error}`);
      return false;
    }
  }

  #mayReceive(record: ClientRecord, packet: PublishPacket, qos: QoS): boolean {
    const request = this.#readRequest;
    request.clientId = record.clientId;
    request.username = record.username;
    request.topic = packet.topic;
    request.qos = qos;
    request.retain = packet.retain;
    try {
      return record.authorize!(request);
    } catch (error) {
      this.log("error", `Authorization hook failed for ${record.clientId}: ${error}`);
      return false;
    }
  }

  // --- PUBLISH ---

  onPublish(connection: Connection, packet: PublishPacket): number | void {
    const record = connection.record!;
    if (packet.qos > record.maxQos) {
      // MQTT 5 clients are refused by the session (DISCONNECT 0x9B [MQTT-3.2.2-11]); 3.x
      // clients, which were never told the maximum, are disconnected like mosquitto does.
      connection.fail(
        new ProtocolError(
          `Cannot accept PUBLISH: QoS ${packet.qos} exceeds the maximum QoS ${record.maxQos}`,
          { reasonCode: 0x9b },
        ),
      );
      return undefined;
    }
    // A mount point prefixes the topic; the decoded packet is this connection's own.
    if (record.mount !== "") packet.topic = record.mount + packet.topic;
    if (packet.topic.startsWith("$SYS")) {
      // Clients may not publish to $SYS: dropped, and refused with 0x87 on MQTT 5, as
      // mosquitto does (its prefix check also covers "$SYSX/...").
      this.log("notice", `Denied PUBLISH from ${record.clientId} to '${packet.topic}'.`);
      return connection.version === 5 ? 0x87 : undefined;
    }
    if (this.#topicTooBig(packet.topic)) {
      this.log("notice", `Refused PUBLISH from ${record.clientId}: topic too long or too deep.`);
      if (connection.version === 5) return 0x90;
      connection.fail(new ProtocolError("Cannot accept PUBLISH: topic exceeds the limits"));
      return undefined;
    }
    if (!this.#allowed("publish", record, packet.topic, packet.qos, packet.retain)) {
      // Refused: 0x87 on MQTT 5 [MQTT-3.3.4-?]; MQTT 3.x has no code, so the PUBLISH is
      // acknowledged and dropped, as mosquitto does.
      this.log("notice", `Denied PUBLISH from ${record.clientId} to '${packet.topic}'.`);
      return connection.version === 5 ? 0x87 : undefined;
    }
    this.#rFrom = connection;
    let count: number;
    try {
      count = this.#publish(record.clientId, packet, Date.now());
    } finally {
      this.#rFrom = undefined;
    }
    const code = count === 0 && connection.version === 5 ? 0x10 : 0;
    if (this.#store !== undefined && packet.qos > 0) {
      // Acknowledged once what it changed is committed (docs/persistence.md).
      this.#acks.push(connection, packet.packetId!, code);
      this.#scheduleCommit();
      return ACK_DEFERRED;
    }
    return code === 0 ? undefined : code;
  }

  // Store when retained, then route. Returns the number of deliveries.
  #publish(origin: string | undefined, packet: PublishPacket, now: number): number {
    if (packet.retain && this.#options.retainAvailable) {
      if (packet.payload.length === 0) {
        // [MQTT-3.3.1-6], [MQTT-3.3.1-7]: an empty retained message clears the topic
        const old = this.#retained.get(packet.topic);
        if (old !== undefined) {
          this.#retainedBytes -= old.packet.payload.byteLength;
          old.replaced = true;
        }
        this.#retained.delete(packet.topic);
        if (this.#store !== undefined && old !== undefined) {
          this.#retainedChanged(packet.topic, null);
        }
      } else {
        const stored: PublishPacket = {
          type: "publish",
          topic: packet.topic,
          payload: packet.payload,
          qos: packet.qos,
          retain: true,
          dup: false,
        };
        const properties = passOn(packet.properties);
        withProperties(stored, properties);
        // A decoded payload may be a view into a shared 32 KiB slab (protocol/_pool.ts);
        // a retained message lives long, so it keeps its own copy and pins no slab. Without
        // properties that copy is the MQTT 3.x QoS 0 PUBLISH itself, sent as it is to new
        // subscriptions (#pumpRetained).
        let wire: Uint8Array | undefined;
        if (properties === undefined) {
          const encoded: PublishPacket = { ...stored, qos: 0 };
          wire = new Uint8Array(packetSize(encoded, 4));
          writePacket(encoded, 4, wire, 0);
          stored.payload = wire.subarray(wire.length - packet.payload.length);
        } else {
          stored.payload = packet.payload.slice();
        }
        const old = this.#retained.get(packet.topic);
        if (old !== undefined) {
          this.#retainedBytes -= old.packet.payload.byteLength;
          old.replaced = true;
        }
        this.#retainedBytes += stored.payload.byteLength;
        const message: RetainedMessage = wire === undefined
          ? { packet: stored, storedAt: now }
          : { packet: stored, storedAt: now, wire };
        this.#retained.set(packet.topic, message);
        if (this.#store !== undefined) {
          this.#retainedChanged(packet.topic, { packet: stored, storedAt: now });
        }
      }
    }
    const count = this.#route(origin, packet, now);
    if (this.#hasListeners("publish")) {
      const event: BrokerEventMap["publish"] = { packet };
      if (origin !== undefined) event.clientId = origin;
      this.#emit("publish", event);
    }
    return count;
  }

  #route(origin: string | undefined, packet: PublishPacket, now: number): number {
    // An in-process subscriber may publish while a message is routed: only then is the outer
    // state saved (top-level routing allocates no arrays of its own).
    const nested = this.#rPacket !== undefined;
    const saved = nested
      ? [this.#rPacket, this.#rOrigin, this.#rProperties, this.#rNow, this.#rCount]
      : undefined;
    const savedForms = this.#rForms;
    this.#rPacket = packet;
    this.#rOrigin = origin;
    this.#rProperties = passOn(packet.properties);
    this.#rNow = now;
    this.#rCount = 0;
    if (nested) this.#rForms = [];
    else savedForms.length = 0;
    const seq = ++this.#seq;
    const hits = this.#v3Hits;
    const base = hits.length;
    const topic = packet.topic;
    this.#rSingle = false;
    try {
      this.#subscriptions.match(topic, this.#visit);
      // A message for one client only is encoded when sent, straight into its socket's write
      // queue where the adapter offers one; for several, once into a shared template.
      this.#rSingle = hits.length - base === 1 && this.#sharedCount === 0;
      // One copy per client at the highest QoS of its matching subscriptions: MQTT 3.x
      // [MQTT-3.3.5-1]; MQTT 5 [MQTT-3.3.4-2] with every matching subscription's identifier
      // [MQTT-3.3.4-3] [MQTT-3.3.4-4], unless allow_duplicate_messages asks for one each.
      for (let i = base; i < hits.length; i++) {
        const record = hits[i]!;
        if (record.mark !== seq) continue;
        record.mark = 0;
        const qos = minQos(packet.qos, record.markQos);
        if (record.version === 5) {
          this.#deliverForm(record, qos, record.markRetain, record.markIds);
          record.markIds.length = 0;
        } else {
          this.#deliverForm(record, qos, false, NO_IDS);
        }
      }
      hits.length = base;
      if (this.#sharedCount > 0) this.#subscriptions.matchShared(topic, this.#visitShared);
      if (this.#local.size > 0) this.#local.match(topic, this.#visitLocal);
      return this.#rCount;
    } finally {
      hits.length = base;
      this.#rForms = savedForms;
      this.#detachedFrom = this.#detachedTo = undefined;
      if (saved === undefined) {
        savedForms.length = 0;
        this.#rPacket = this.#rOrigin = this.#rProperties = undefined;
      } else {
        [this.#rPacket, this.#rOrigin, this.#rProperties, this.#rNow, this.#rCount] = saved as [
          PublishPacket | undefined,
          string | undefined,
          Properties | undefined,
          number,
          number,
        ];
      }
    }
  }

  #visit = (clientId: string, sub: ClientSubscription): void => {
    const record = sub.record;
    const packet = this.#rPacket!;
    const qos = minQos(packet.qos, sub.qos);
    if (record.version === 5) {
      if (sub.noLocal && clientId === this.#rOrigin) return; // [MQTT-3.8.3-3]
      // [MQTT-3.3.1-12], [MQTT-3.3.1-13]
      const retain = sub.retainAsPublished && packet.retain;
      if (this.#options.allowDuplicateMessages) {
        // One copy per matching subscription with its own identifier [MQTT-3.3.4-5]
        this.#deliverForm(record, qos, retain, sub.identifier === 0 ? NO_IDS : [sub.identifier]);
        return;
      }
      if (record.mark !== this.#seq) {
        record.mark = this.#seq;
        record.markQos = qos;
        record.markRetain = retain;
        record.markIds.length = 0;
        this.#v3Hits.push(record);
      } else {
        if (qos > record.markQos) record.markQos = qos;
        if (retain) record.markRetain = true;
      }
      if (sub.identifier !== 0) record.markIds.push(sub.identifier);
      return;
    }
    if (record.mark !== this.#seq) {
      record.mark = this.#seq;
      record.markQos = qos;
      this.#v3Hits.push(record);
    } else if (qos > record.markQos) {
      record.markQos = qos;
    }
  };

  #online = (_clientId: string, sub: ClientSubscription): boolean =>
    sub.record.connection !== undefined;

  #visitShared = (
    _group: string,
    _filter: string,
    members: SharedGroup<ClientSubscription>,
  ): void => {
    // Round robin over online members; an all-offline group queues to the next one.
    const member = members.next(this.#online) ?? members.next();
    if (member === undefined) return;
    const sub = member.value;
    const packet = this.#rPacket!;
    const v5 = sub.record.version === 5;
    this.#deliverForm(
      sub.record,
      minQos(packet.qos, sub.qos),
      v5 && sub.retainAsPublished && packet.retain,
      v5 && sub.identifier !== 0 ? [sub.identifier] : NO_IDS,
    );
  };

  #visitLocal = (_id: string, sub: LocalSubscription): void => {
    const packet = this.#rPacket!;
    const message: BrokerMessage = {
      topic: packet.topic,
      payload: packet.payload,
      qos: minQos(packet.qos, sub.qos),
      retain: sub.retainAsPublished && packet.retain,
    };
    const properties = this.#rProperties;
    if (properties !== undefined) message.properties = properties;
    if (this.#rOrigin !== undefined) message.clientId = this.#rOrigin;
    this.#rCount++;
    try {
      sub.handler(message);
    } catch (error) {
      this.log("error", `In-process subscriber threw: ${error}`);
    }
  };

  // Deliver the current message in one wire form, encoded once for all its receivers.
  #deliverForm(
    record: ClientRecord,
    qos: QoS,
    retain: boolean,
    ids: readonly number[],
  ): void {
    if (record.authorize !== undefined && !this.#mayReceive(record, this.#rPacket!, qos)) {
      return;
    }
    this.#rCount++;
    const v5 = record.version === 5;
    let form: Form | undefined;
    for (const f of this.#rForms) {
      if (
        f.v5 === v5 && f.qos === qos && f.retain === retain && f.mount === record.mount &&
        sameIds(f.ids, ids)
      ) {
        form = f;
        break;
      }
    }
    if (form === undefined) {
      const source = this.#rPacket!;
      const mount = record.mount;
      const topic = mount === "" ? source.topic : source.topic.slice(mount.length);
      // `mount/#` also matches the topic `mount` itself: nothing is left to send.
      if (topic === "") return;
      const packet: TaggedPublish = {
        type: "publish",
        topic,
        payload: source.payload,
        qos,
        retain,
        dup: false,
      };
      if (v5) {
        const properties = this.#rProperties;
        withProperties(
          packet,
          ids.length === 0 ? properties : { ...properties, subscriptionIdentifiers: [...ids] },
        );
      }
      if (this.#rSingle) {
        this.#rSingle = false;
        this.#deliver(record, packet, this.#rNow);
        return;
      }
      try {
        tagPublish(packet, v5);
      } catch (error) {
        this.log("error", `Cannot encode PUBLISH to '${source.topic}': ${error}`);
        return;
      }
      form = { mount, v5, qos, retain, ids: ids.length === 0 ? NO_IDS : [...ids], packet };
      this.#rForms.push(form);
    }
    this.#deliver(record, form.packet, this.#rNow);
  }

  #deliver(record: ClientRecord, packet: PublishPacket, now: number): void {
    const session = record.session;
    const connection = record.connection;
    const counters = this.counters;
    if (connection === undefined) {
      if (packet.qos === 0 && !this.#options.queueQos0Messages) return;
      // Queued for an offline session, perhaps for long: a payload that is a view into a
      // decoder's shared 32 KiB slab (protocol/_pool.ts) gets its own copy, made once per
      // message, so queues never pin slabs.
      const payload = packet.payload;
      if (payload.byteLength !== payload.buffer.byteLength) packet = this.#detach(packet);
    }
    const max = session.clientMaximumPacketSize;
    if (max !== undefined) {
      const size = encodedSize(packet);
      // [MQTT-3.1.2-25]: never send a packet larger than the client accepts
      if (size > max) {
        counters.publishDropped++;
        record.dropped++;
        return;
      }
    }
    if (packet.qos === 0 && connection !== undefined && connection.congested) {
      // A socket above its high-water mark takes at most max_queued_messages QoS 0 messages
      // until it drains; the rest are dropped and counted (ARCHITECTURE.md rule 8).
      const limit = this.#options.maxQueuedMessages;
      const bytes = this.#options.maxQueuedBytes;
      connection.congestedBytes += packet.payload.byteLength;
      if (
        (limit !== 0 && ++connection.congestedCount > limit) ||
        (bytes !== 0 && connection.congestedBytes > bytes)
      ) {
        counters.publishDropped++;
        record.dropped++;
        const from = this.#rFrom;
        if (from !== undefined && from !== connection) this.#pushBack(from, connection, now);
        return;
      }
    }
    const result = session.deliver(packet, now);
    if (result === "dropped") {
      counters.publishDropped++;
      record.dropped++;
    }
    const from = this.#rFrom;
    if (
      from !== undefined && connection !== undefined && from !== connection &&
      (connection.congested || this.#backedUp(session, 2))
    ) {
      this.#pushBack(from, connection, now);
    }
    if (this.#store !== undefined) {
      const j = record.journal;
      if (result === "queued" && j !== undefined && !j.full && j.session === session) {
        const seq = j.nextSeq++;
        j.queue.push({ seq, qos: packet.qos });
        j.ops.push({ op: "put", seq, state: "queued", at: now, packet });
      }
      this.#touch(record);
    }
  }

  // --- Back pressure (docs/broker.md) ---

  // Whether a session's queue is at 1/divisor of its limits.
  #backedUp(session: ServerSession, divisor: number): boolean {
    const o = this.#options;
    const count = o.maxQueuedMessages;
    const bytes = o.maxQueuedBytes;
    return (count !== 0 && session.queuedCount * divisor >= count) ||
      (bytes !== 0 && session.queuedBytes * divisor >= bytes);
  }

  // Pause the publisher until the subscriber it just fed catches up, unless that subscriber
  // stalled (it then holds up nobody until it has caught up after a cool-down).
  #pushBack(from: Connection, to: Connection, now: number): void {
    const wait = this.#options.backPressureTimeout;
    if (wait === 0 || from.ended) return;
    if (to.stalledAt !== 0) return;
    let waiters = to.waiters;
    if (waiters === undefined) {
      to.waiters = waiters = [];
      to.pressuredAt = now;
      this.#pressured.add(to);
    } else if (waiters.includes(from)) {
      return;
    }
    waiters.push(from);
    from.block();
  }

  drained(connection: Connection): void {
    if (connection.congested || this.#backedUp(connection.session, 4)) return;
    if (connection.stalledAt !== 0) {
      // Caught up: it may hold up publishers again once the cool-down has passed.
      if (Date.now() - connection.stalledAt >= 10 * this.#options.backPressureTimeout) {
        connection.stalledAt = 0;
      }
    }
    this.#release(connection);
  }

  // Let the publishers waiting for this connection go on.
  #release(connection: Connection): void {
    const waiters = connection.waiters;
    if (waiters === undefined) return;
    connection.waiters = undefined;
    this.#pressured.delete(connection);
    for (const from of waiters) from.unblock();
  }

  // From the sweep: subscribers that kept publishers waiting too long are stalled.
  #checkStalls(now: number): void {
    const wait = this.#options.backPressureTimeout;
    for (const connection of this.#pressured) {
      if (now - connection.pressuredAt < wait) continue;
      connection.stalledAt = now;
      this.log(
        "information",
        `Client ${connection.label} is not keeping up: publishers no longer wait for it.`,
      );
      this.#release(connection);
    }
  }

  #detachedFrom: PublishPacket | undefined;
  #detachedTo: PublishPacket | undefined;

  #detach(packet: PublishPacket): PublishPacket {
    if (this.#detachedFrom !== packet) {
      this.#detachedFrom = packet;
      // Own symbol-keyed properties (the encoded form) are copied too.
      this.#detachedTo = { ...packet, payload: packet.payload.slice() };
    }
    return this.#detachedTo!;
  }

  // --- Persistence ---

  get #store(): BrokerStore | undefined {
    return this.#options.store;
  }

  readonly #dirty = new Set<ClientRecord>();
  readonly #storedIds = new Set<string>();
  readonly #retainedChanges = new Map<string, StoredRetained | null>();
  // Deferred acknowledgements: connection, packet id, reason code, repeated.
  readonly #acks: (Connection | number)[] = [];
  #commitQueued = false;
  #storeClosed = false;
  readonly #held = new Set<Connection>();

  #touch(record: ClientRecord): void {
    this.#dirty.add(record);
    this.#scheduleCommit();
  }

  // Its subscriptions, will, expiry or connection changed.
  #touchMeta(record: ClientRecord): void {
    if (record.journal !== undefined) record.journal.metaDirty = true;
    this.#touch(record);
  }

  #retainedChanged(topic: string, message: StoredRetained | null): void {
    // `$SYS` figures are the running broker's; a restart publishes fresh ones.
    if (topic.startsWith("$SYS/")) return;
    this.#retainedChanges.set(topic, message);
    this.#scheduleCommit();
  }

  #scheduleCommit(): void {
    if (this.#commitQueued || this.#storeClosed) return;
    this.#commitQueued = true;
    // Group commit: everything the current batch of packets changed, in one transaction.
    queueMicrotask(this.#commit);
  }

  readonly #commit = (): void => {
    this.#commitQueued = false;
    const store = this.#store;
    if (store === undefined || this.#storeClosed) {
      for (const connection of this.#held) connection.releaseOutput();
      this.#held.clear();
      return;
    }
    const changes: StoreChanges = { sessions: new Map(), retained: this.#retainedChanges };
    for (const record of this.#dirty) {
      const id = record.clientId;
      const live = this.#clients.get(id) === record;
      if (live && record.session.sessionExpiryInterval !== 0) {
        const change = this.#sessionChange(record);
        if (change !== undefined) changes.sessions.set(id, change);
        this.#storedIds.add(id);
      } else if (this.#storedIds.has(id) && (this.#clients.get(id) === undefined || live)) {
        // Ended, or now a clean session: nothing of it survives a restart.
        this.#storedIds.delete(id);
        changes.sessions.set(id, null);
        delete record.journal;
      }
    }
    this.#dirty.clear();
    const acks = this.#acks.splice(0);
    let failed = false;
    try {
      store.commit(changes);
    } catch (error) {
      failed = true;
      this.log("error", `Cannot write the persistence store ${store.location}: ${error}`);
    }
    this.#retainedChanges.clear();
    for (let i = 0; i < acks.length; i += 3) {
      const connection = acks[i] as Connection;
      if (connection.ended) continue;
      if (failed) {
        // Not stored: the publisher must not take it as acknowledged; it resends after
        // reconnecting.
        connection.session.disconnect(0x80);
        connection.fail(new MqttError("Cannot store the message", { reasonCode: 0x80 }));
        continue;
      }
      connection.session.acknowledge(acks[i + 1] as number, acks[i + 2] as number);
    }
    if (this.#held.size > 0) {
      const held = [...this.#held];
      this.#held.clear();
      for (const connection of held) connection.releaseOutput();
    }
  };

  // What to write for a persistent session: everything the first time (or after its
  // session object changed), else its message changes and, when changed, its other state.
  #sessionChange(record: ClientRecord): SessionChange | undefined {
    const session = record.session;
    let j = record.journal;
    if (
      j === undefined || j.full || j.session !== session || !this.#storedIds.has(record.clientId)
    ) {
      const stored = this.#storedSession(record);
      j = {
        full: false,
        session,
        metaDirty: false,
        nextSeq: 0,
        queue: [],
        head: 0,
        outgoing: new Map(),
        expiredSeen: session.expiredCount,
        ops: [],
      };
      for (const { packet } of stored.session.outgoing) {
        j.outgoing.set(packet.packetId!, j.nextSeq++);
      }
      for (const { packet } of stored.session.queued) {
        j.queue.push({ seq: j.nextSeq++, qos: packet.qos });
      }
      record.journal = j;
      return { replace: stored, messages: [] };
    }
    this.#syncExpired(record, j);
    const change: SessionChange = { messages: j.ops };
    j.ops = [];
    if (j.metaDirty) {
      j.metaDirty = false;
      change.meta = this.#storedSession(record, false);
    }
    return change.meta === undefined && change.messages.length === 0 ? undefined : change;
  }

  #storedSession(record: ClientRecord, messages = true): StoredSession {
    const subscriptions: StoredSubscription[] = [];
    for (const [filter, sub] of this.#subscriptions.subscriptionsOf(record.clientId)) {
      subscriptions.push({
        filter,
        qos: sub.qos,
        noLocal: sub.noLocal,
        retainAsPublished: sub.retainAsPublished,
        identifier: sub.identifier,
      });
    }
    const session = record.session;
    const stored: StoredSession = {
      clientId: record.clientId,
      session: messages ? session.snapshot() : {
        protocolVersion: record.version,
        sessionExpiryInterval: session.sessionExpiryInterval,
        outgoing: [],
        queued: [],
        incoming: session.incomingAwaitingRelease(),
      },
      subscriptions,
      expiresAt: record.connection !== undefined || record.expiresAt === Infinity
        ? null
        : record.expiresAt,
      mount: record.mount,
    };
    if (record.username !== undefined) stored.username = record.username;
    if (record.will !== undefined) stored.will = { will: record.will, at: record.willAt };
    return stored;
  }

  // Load what the store holds (before any listener opens).
  #restore(store: BrokerStore): void {
    const state = store.load();
    const now = Date.now();
    for (const { packet, storedAt } of state.retained) {
      this.#retained.set(packet.topic, { packet, storedAt });
      this.#retainedBytes += packet.payload.byteLength;
    }
    const o = this.#options;
    const noop = { send() {}, connect() {}, publish() {}, subscribe() {}, unsubscribe() {} };
    let restored = 0;
    const expired: StoreChanges = { sessions: new Map(), retained: new Map() };
    for (const stored of state.sessions) {
      const snapshot = stored.session;
      if (stored.expiresAt !== null && stored.expiresAt <= now) {
        // It expired while the broker was down.
        expired.sessions.set(stored.clientId, null);
        this.counters.clientsExpired++;
        continue;
      }
      const session = new ServerSession(noop, {
        maxInflight: o.maxInflightMessages,
        maxQueuedMessages: o.maxQueuedMessages,
        maxQueuedBytes: o.maxQueuedBytes,
        queueQoS0: o.queueQos0Messages,
      });
      session.restore(snapshot);
      let expiry: number = snapshot.sessionExpiryInterval;
      if (expiry === NEVER) expiry = o.persistentClientExpiration ?? Infinity;
      const expiresAt = stored.expiresAt ??
        (expiry === Infinity ? Infinity : now + expiry * 1000);
      const record: ClientRecord = {
        clientId: stored.clientId,
        session,
        connection: undefined,
        version: snapshot.protocolVersion,
        username: stored.username,
        authorize: this.#chain(-1).authorize,
        mount: stored.mount,
        maxQos: o.maxQos,
        expiresAt,
        will: stored.will?.will,
        willAt: stored.will?.at ?? 0,
        dropped: 0,
        mark: 0,
        markQos: 0,
        markRetain: false,
        markIds: [],
        shared: 0,
      };
      this.#clients.set(record.clientId, record);
      this.#storedIds.add(record.clientId);
      if (expiresAt !== Infinity) this.#expiring.add(record);
      if (record.will !== undefined) this.#delayedWills.add(record);
      for (const sub of stored.subscriptions) {
        const value: ClientSubscription = {
          record,
          qos: sub.qos,
          noLocal: sub.noLocal,
          retainAsPublished: sub.retainAsPublished,
          identifier: sub.identifier,
        };
        if (this.#subscriptions.add(record.clientId, sub.filter, value)) {
          if (sub.filter.startsWith("$share/")) {
            record.shared++;
            this.#sharedCount++;
          }
        }
      }
      restored++;
    }
    if (expired.sessions.size > 0) store.commit(expired);
    this.log(
      "notice",
      `Restored ${restored} sessions and ${state.retained.length} retained messages from ${store.location}.`,
    );
  }

  // --- $SYS ---

  #publishSys(now: number, first: boolean): void {
    const s = this.stats;
    const values: [string, string][] = [
      ["version", `mq version ${VERSION}`],
      ["uptime", `${Math.floor((now - this.#startedAt) / 1000)} seconds`],
      ["clients/total", `${s.clientsConnected + s.clientsDisconnected}`],
      ["clients/connected", `${s.clientsConnected}`],
      ["clients/active", `${s.clientsConnected}`],
      ["clients/disconnected", `${s.clientsDisconnected}`],
      ["clients/inactive", `${s.clientsDisconnected}`],
      ["clients/maximum", `${s.clientsMaximum}`],
      ["clients/expired", `${s.clientsExpired}`],
      ["messages/received", `${s.messagesReceived}`],
      ["messages/sent", `${s.messagesSent}`],
      ["publish/messages/received", `${s.publishReceived}`],
      ["publish/messages/sent", `${s.publishSent}`],
      ["publish/messages/dropped", `${s.publishDropped}`],
      ["bytes/received", `${s.bytesReceived}`],
      ["bytes/sent", `${s.bytesSent}`],
      ["subscriptions/count", `${s.subscriptions}`],
      ["shared_subscriptions/count", `${s.sharedSubscriptions}`],
      ["retained messages/count", `${s.retained}`],
      ["publish/bytes/received", `${s.publishBytesReceived}`],
      ["publish/bytes/sent", `${s.publishBytesSent}`],
      ["messages/stored", `${s.messagesStored}`],
      ["store/messages/count", `${s.messagesStored}`],
      ["store/messages/bytes", `${s.messagesStoredBytes}`],
    ];
    const memoryUsage = this.#options.memoryUsage;
    if (memoryUsage !== undefined) {
      let heap: number | undefined;
      try {
        heap = memoryUsage();
      } catch {
        // A failing callback only costs the heap figures.
      }
      if (heap !== undefined && Number.isFinite(heap)) {
        if (heap > this.#heapMaximum) this.#heapMaximum = heap;
        values.push(["heap/current", `${Math.round(heap)}`]);
        values.push(["heap/maximum", `${Math.round(this.#heapMaximum)}`]);
      }
    }
    const sample: Record<LoadMetric, number> = {
      "messages/received": s.messagesReceived,
      "messages/sent": s.messagesSent,
      "publish/received": s.publishReceived,
      "publish/sent": s.publishSent,
      "publish/dropped": s.publishDropped,
      "bytes/received": s.bytesReceived,
      "bytes/sent": s.bytesSent,
      "sockets": s.sockets,
      "connections": s.connections,
    };
    this.#load ??= new LoadAverages(sample, now);
    this.#load.update(sample, now);
    for (const [name, value] of this.#load.values()) values.push([`load/${name}`, value]);
    const encoder = new TextEncoder();
    for (const [name, value] of values) {
      const topic = `$SYS/broker/${name}`;
      if (!first && name !== "uptime" && this.#sysLast.get(topic) === value) continue;
      this.#sysLast.set(topic, value);
      this.#publish(undefined, {
        type: "publish",
        topic,
        payload: encoder.encode(value),
        qos: 0,
        retain: true,
        dup: false,
      }, now);
    }
  }

  // --- in-process API ---

  publish(topic: string, payload: Uint8Array | string, options: BrokerPublishOptions = {}): number {
    validateTopicName(topic);
    const qos = options.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2) {
      throw new RangeError(`Cannot publish: QoS "${qos}" is not 0, 1 or 2`);
    }
    const packet: PublishPacket = {
      type: "publish",
      topic,
      payload: typeof payload === "string" ? new TextEncoder().encode(payload) : payload,
      qos,
      retain: options.retain ?? false,
      dup: false,
    };
    withProperties(packet, passOn(options.properties));
    if (this.#closing !== undefined) return 0;
    return this.#publish(undefined, packet, Date.now());
  }

  subscribe(
    filter: string,
    handler: BrokerMessageHandler,
    options: BrokerSubscribeOptions = {},
  ): () => void {
    validateTopicFilter(filter);
    if (filter.startsWith("$share/")) {
      throw new TypeError(
        `Cannot subscribe to "${filter}": in-process shared subscriptions are not supported`,
      );
    }
    if (typeof handler !== "function") {
      throw new TypeError("Cannot subscribe: the handler is not a function");
    }
    const qos = options.qos ?? 2;
    const id = `\u0000local-${++this.#localIds}`;
    const sub: LocalSubscription = {
      handler,
      qos,
      retainAsPublished: options.retainAsPublished ?? false,
    };
    this.#local.add(id, filter, sub);
    if ((options.retainHandling ?? 0) === 0) {
      for (const message of this.#matchRetained(filter, Date.now())) {
        const m: BrokerMessage = {
          topic: message.packet.topic,
          payload: message.packet.payload,
          qos: minQos(message.packet.qos, qos),
          retain: true,
        };
        const properties = this.#remainingExpiry(message, Date.now());
        if (properties) m.properties = properties;
        try {
          handler(m);
        } catch (error) {
          this.log("error", `In-process subscriber threw: ${error}`);
        }
      }
    }
    return () => void this.#local.remove(id, filter);
  }

  async reload(): Promise<void> {
    let failure: unknown;
    for (const plugin of this.#options.plugins) {
      if (plugin.reload === undefined) continue;
      try {
        await plugin.reload();
        this.log("notice", `Reloaded ${plugin.name}.`);
      } catch (error) {
        this.log("error", `Cannot reload ${plugin.name}: ${error}`);
        failure ??= error;
      }
    }
    const listeners = this.#options.listeners;
    for (let i = 0; i < listeners.length && i < this.#listeners.length; i++) {
      const load = listeners[i]!.loadTls;
      if (load === undefined) continue;
      const listener = this.#listeners[i]!;
      const where = `${listener.address.hostname} port ${listener.address.port}`;
      try {
        if (listener.updateTls === undefined) {
          throw new TypeError("this socket adapter cannot change certificates");
        }
        listener.updateTls(await load());
        this.log("notice", `Reloaded TLS certificates of listener ${where}.`);
      } catch (error) {
        this.log("error", `Cannot reload TLS certificates of listener ${where}: ${error}`);
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.log("notice", `mq version ${VERSION} terminating`);
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all(this.#listeners.map((l) => l.close().catch(() => {})));
    this.#listeners = [];
    const pending: Promise<void>[] = [];
    for (const connection of [...this.#sockets]) {
      if (!connection.ended) {
        connection.session.disconnect(0x8b);
        connection.end();
      }
      pending.push(connection.whenClosed());
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_GRACE_MS);
    });
    await Promise.race([Promise.all(pending), grace]);
    clearTimeout(timer);
    for (const connection of this.#sockets) connection.socket.destroy();
    this.#sockets.clear();
    const store = this.#store;
    if (store !== undefined) {
      this.#commit();
      this.#storeClosed = true;
      try {
        store.close();
      } catch (error) {
        this.log("error", `Cannot close the persistence store ${store.location}: ${error}`);
      }
    }
  }
}

type LoadMetric =
  | "messages/received"
  | "messages/sent"
  | "publish/received"
  | "publish/sent"
  | "publish/dropped"
  | "bytes/received"
  | "bytes/sent"
  | "sockets"
  | "connections";

const LOAD_WINDOWS = [1, 5, 15] as const;

// Mosquitto's `$SYS/broker/load/<metric>/{1,5,15}min`: the rate per minute of a counter,
// as exponentially weighted moving averages over 1, 5 and 15 minutes (like Unix load
// averages), updated at every $SYS interval.
class LoadAverages {
  #last: Record<LoadMetric, number>;
  #at: number;
  readonly #averages = new Map<LoadMetric, number[]>();

  constructor(sample: Record<LoadMetric, number>, now: number) {
    this.#last = { ...sample };
    this.#at = now;
    for (const name of Object.keys(sample) as LoadMetric[]) this.#averages.set(name, [0, 0, 0]);
  }

  update(sample: Record<LoadMetric, number>, now: number): void {
    const seconds = (now - this.#at) / 1000;
    if (seconds <= 0) return;
    for (const [name, averages] of this.#averages) {
      const perMinute = (sample[name] - this.#last[name]) * 60 / seconds;
      for (let i = 0; i < LOAD_WINDOWS.length; i++) {
        const decay = Math.exp(-seconds / (60 * LOAD_WINDOWS[i]!));
        averages[i] = perMinute + decay * (averages[i]! - perMinute);
      }
    }
    this.#last = { ...sample };
    this.#at = now;
  }

  *values(): Generator<[string, string]> {
    for (const [name, averages] of this.#averages) {
      for (let i = 0; i < LOAD_WINDOWS.length; i++) {
        yield [`${name}/${LOAD_WINDOWS[i]}min`, averages[i]!.toFixed(2)];
      }
    }
  }
}

// Size of a PUBLISH as it will be sent (the tagged bytes when present).
function encodedSize(packet: TaggedPublish): number {
  const tag: Encoded | undefined = packet[ENCODED];
  if (tag !== undefined) return tag.template.bytes.length;
  const probe = packet.qos === 0 ? packet : { ...packet, packetId: 1 };
  return packetSize(probe, 5);
}

function randomId(): string {
  return crypto.randomUUID().toUpperCase();
}

/**
 * Start an MQTT broker (MQTT 3.1, 3.1.1 and 5.0) on the configured listeners.
 *
 * Options follow mosquitto's names and defaults; with none it listens on `127.0.0.1:1883`.
 * The handle gives the bound addresses, in-process publish and subscribe, events, and
 * `close()`.
 *
 * @example Start on a free port, publish in-process and stop
 * ```ts
 * import assert from "node:assert/strict";
 * import { startBroker } from "./broker.ts";
 *
 * const broker = await startBroker({ listeners: [{ port: 0 }], sysInterval: 0 });
 * assert.ok(broker.addresses[0]!.port > 0);
 * const got: string[] = [];
 * const unsubscribe = broker.subscribe("greetings/#", (m) => {
 *   got.push(new TextDecoder().decode(m.payload));
 * });
 * broker.publish("greetings/world", "hello");
 * assert.deepEqual(got, ["hello"]);
 * unsubscribe();
 * await broker.close();
 * ```
 *
 * @param options Listeners, limits, adapter and logger.
 * @returns The running broker.
 * @throws {RangeError} When an option is out of range.
 */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const broker = new MqBroker(options);
  await broker.start();
  return broker;
}
