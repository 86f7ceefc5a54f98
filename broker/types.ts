/**
 * The public types of the embeddable broker: options, the handle, messages and events.
 *
 * @module
 */

import type {
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  Subscription,
  UserProperty,
} from "../protocol/mod.ts";
import type { WebSocketServerOptions } from "../socket/websocket_server.ts";
import type { BrokerStore } from "./store.ts";
import type {
  PeerCertificate,
  Socket,
  SocketAdapter,
  SocketAddress,
  TlsOptions,
} from "../socket/types.ts";

/** Mosquitto's log types, from most to least severe. */
export type LogLevel = "error" | "warning" | "notice" | "information" | "debug";

/** Receives the broker's log lines (without a timestamp). */
export type BrokerLogger = (level: LogLevel, message: string) => void;

/** One listener (mosquitto's `listener`). */
export interface BrokerListenerOptions {
  /** Address to bind. Default `"127.0.0.1"` (loopback only, like mosquitto 2 without a config). */
  hostname?: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /**
   * Listen on a unix domain socket at this path instead (`hostname` and `port` are then
   * ignored; no TLS). Served by the node adapter on every runtime.
   */
  path?: string;
  /** Serve TLS with these options. */
  tls?: TlsOptions;
  /**
   * `"mqtt"` (default): MQTT over TCP (or TLS). `"websockets"`: MQTT over WebSockets
   * (RFC 6455, subprotocol `mqtt`, binary frames), `wss:` with `tls` (mosquitto's `protocol
   * websockets`).
   */
  protocol?: "mqtt" | "websockets";
  /**
   * Settings of a `"websockets"` listener. By default any request path is accepted (like
   * mosquitto), and a plain `GET /health` is answered with `200` and a small JSON status
   * (`{"status":"ok","clients":N,"uptime":S}`); an `http` callback replaces that.
   */
  websocket?: WebSocketServerOptions;
  /**
   * Most clients connected through this listener at once (mosquitto's per-listener
   * `max_connections`); a socket beyond it is closed on accept. Default: no limit.
   */
  maxConnections?: number;
  /** Maximum QoS for clients of this listener (mosquitto's listener `max_qos`). Default: `maxQos`. */
  maxQos?: QoS;
  /**
   * Prefix every topic of this listener's clients with this string (mosquitto's
   * `mount_point`, e.g. `"site1/"`): their PUBLISH topics, subscriptions and wills get it,
   * and deliveries to them have it removed, so they only see topics under it.
   */
  mountPoint?: string;
  /**
   * Protocol levels this listener accepts: 3 (MQTT 3.1), 4 (3.1.1), 5. Others are refused
   * with CONNACK 0x84 / return code 1. Default: all three.
   */
  protocolVersions?: ProtocolVersion[];
  /**
   * Take the user name from the CN of the client's verified certificate (mosquitto's
   * `use_identity_as_username`; needs `tls.requireCertificate`). The CONNECT's user name and
   * password are ignored and authentication is skipped; authorization sees the CN. A client
   * without a certificate is refused with 0x86 (return code 4).
   */
  useIdentityAsUsername?: boolean;
  /** Like `useIdentityAsUsername` with the whole RFC 2253 subject (`use_subject_as_username`). */
  useSubjectAsUsername?: boolean;
  /**
   * Read the certificates again for {@linkcode Broker.reload} (SIGHUP): new handshakes use
   * them, open connections stay.
   */
  loadTls?: () => Promise<TlsOptions>;
  /**
   * Security plugins for clients of this listener, used instead of the broker's
   * `authenticate`, `authorize` and `plugins` (mosquitto's `per_listener_settings true`).
   */
  plugins?: BrokerPlugin[];
}

/**
 * Broker options. Names are mosquitto's configuration keys in camelCase, with mosquitto's
 * defaults; durations are in seconds like mosquitto's.
 */
export interface BrokerOptions {
  /** Listeners. Default: one on `127.0.0.1:1883`. An empty array listens nowhere (use `connect()`). */
  listeners?: BrokerListenerOptions[];
  /** QoS 1 and 2 messages in flight to each MQTT 3.x client; the CONNACK Receive Maximum. Default 20. */
  maxInflightMessages?: number;
  /** Messages queued per client beyond the in-flight window; 0 is no limit. Default 1000. */
  maxQueuedMessages?: number;
  /** Payload bytes queued per client; 0 is no limit. Default 0. */
  maxQueuedBytes?: number;
  /** Queue QoS 0 messages for offline persistent clients. Default false. */
  queueQos0Messages?: boolean;
  /**
   * Back pressure, in milliseconds (the one option not in seconds). A publisher whose
   * message finds an online subscriber backed up (its socket above the high-water mark, or
   * its queue at half of `maxQueuedMessages`/`maxQueuedBytes`) is not read from until that
   * subscriber catches up, so a fast publisher is slowed to what its subscribers take
   * instead of their messages being dropped. A subscriber that does not catch up within
   * this time (checked every 500 ms) is marked stalled: it holds up no publisher for at
   * least 10 times this long, and what it cannot take is dropped and counted (mosquitto's
   * behaviour). 0 turns back pressure off. Default 1000.
   */
  backPressureTimeout?: number;
  /**
   * MQTT 5: send a message matching several subscriptions of one client once per
   * subscription, each copy with that subscription's QoS, options and identifier
   * (mosquitto 2.0's behaviour). Default false: one copy at the highest QoS carrying every
   * matching subscription's identifier. MQTT 3.x clients always get one copy.
   */
  allowDuplicateMessages?: boolean;
  /**
   * Most clients connected at once over all listeners and `connect()` (mosquitto's global
   * `max_connections`); a socket beyond it is closed on accept. Default: no limit.
   */
  maxConnections?: number;
  /** Longest topic name or filter accepted, in UTF-8 bytes. Default 65535 (MQTT's maximum). */
  maxTopicLength?: number;
  /**
   * Most levels in a topic name or filter (`a/b/c` has 3). Default 200, mosquitto's limit.
   * A PUBLISH beyond the limits gets 0x90 (MQTT 5) or closes the connection (3.x); a
   * subscription beyond them 0x8F (MQTT 5) or 0x80.
   */
  maxTopicLevels?: number;
  /**
   * Most subscriptions one client holds; one more is refused with 0x97 quota exceeded
   * (0x80 on MQTT 3.x). Default 0: no limit (like mosquitto).
   */
  maxSubscriptionsPerClient?: number;
  /**
   * Failed logins (refused by authentication) allowed per remote address within
   * `authFailureWindow`; beyond it, CONNECTs from that address are refused with 0x9F
   * connection rate exceeded (return code 3) before any password is checked. 0 turns it
   * off. Default 10.
   */
  maxAuthFailures?: number;
  /** The window of `maxAuthFailures`, in seconds. Default 60. */
  authFailureWindow?: number;
  /** Longest client identifier accepted, in characters; longer ones get CONNACK 0x85. Default 65535. */
  maxClientIdLength?: number;
  /** Largest packet accepted from clients, in bytes; sent as Maximum Packet Size to MQTT 5 clients. Default: no limit. */
  maxPacketSize?: number;
  /**
   * Largest keep alive in seconds: MQTT 5 clients asking for more (or 0) get it as Server Keep
   * Alive, MQTT 3.x clients asking for more are refused. 0 disables the check. Default 65535.
   */
  maxKeepalive?: number;
  /** Highest topic alias MQTT 5 clients may use. Default 10. */
  maxTopicAlias?: number;
  /** Whether retained messages are supported. Default true. */
  retainAvailable?: boolean;
  /** Highest QoS granted and accepted. Default 2. */
  maxQos?: QoS;
  /**
   * Seconds after which a disconnected persistent session that never expires on its own
   * (MQTT 3.x clean session false, MQTT 5 expiry 0xFFFFFFFF) is removed. Default: never.
   */
  persistentClientExpiration?: number;
  /** Seconds between `$SYS` updates; 0 disables `$SYS`. Default 10. */
  sysInterval?: number;
  /** Seconds a new connection has to send CONNECT. Default 10. */
  connectTimeout?: number;
  /** Whether an empty client id gets an assigned one (where the protocol allows). Default true. */
  allowZeroLengthClientId?: boolean;
  /** Prefix of assigned client ids. Default `"auto-"`. */
  autoIdPrefix?: string;
  /**
   * Returns the heap in use, in bytes, for `$SYS/broker/heap/current` and `heap/maximum`
   * (e.g. `() => process.memoryUsage().heapUsed`, passed in by the CLI since the broker does
   * not touch runtime globals). Default: none, and those topics are not published.
   */
  memoryUsage?: () => number;
  /**
   * Decides who may connect: called for every CONNECT (with its user name and password) and
   * for every step of MQTT 5 enhanced authentication and re-authentication (v5 §4.12).
   * Default: none, every client is accepted (mosquitto's `allow_anonymous true`).
   */
  authenticate?: Authenticate;
  /**
   * MQTT 5 Authentication Methods that {@linkcode BrokerOptions.authenticate} handles. A
   * CONNECT with any other method is refused with CONNACK 0x8C (bad authentication method)
   * without calling it [MQTT-4.12.0-1]. Default: none.
   */
  authenticationMethods?: readonly string[];
  /**
   * Response Information sent in CONNACK to MQTT 5 clients that ask for it (Request Response
   * Information 1): a string, or a function of the client id (e.g. a per-client topic
   * prefix). Default: none, like mosquitto, which never sends it [MQTT-3.1.2-28].
   */
  responseInformation?: string | ((clientId: string) => string);
  /**
   * Decide each client's right to publish, subscribe and receive, synchronously (mosquitto's
   * ACL check). `true` allows, `false` denies, `undefined` leaves it to the plugins. Runs
   * before {@linkcode BrokerOptions.plugins}. Default: everything allowed.
   */
  authorize?: Authorize;
  /**
   * Authentication and authorization plugins, asked in order after `authenticate` and
   * `authorize`: the first answer other than `undefined` decides; when all pass, the client
   * is accepted and the action allowed. `reload()` of each runs on {@linkcode Broker.reload}
   * (SIGHUP for `mq broker`).
   */
  plugins?: BrokerPlugin[];
  /**
   * A durable store (e.g. `await openSqliteStore(path)`): persistent sessions, their
   * subscriptions and messages, retained messages and delayed wills are loaded from it at
   * start and committed to it as they change, and QoS 1 and 2 PUBLISH packets are
   * acknowledged only once committed (docs/persistence.md). The broker closes it. Default:
   * none, everything lives in memory.
   */
  store?: BrokerStore;
  /** The socket adapter for listeners. Default: the current runtime's TCP adapter. */
  adapter?: SocketAdapter;
  /** Receives log lines. Default: none. */
  logger?: BrokerLogger;
  /**
   * Log types passed to the logger (mosquitto's `log_type`). Default: every type except
   * `"debug"`, which describes every packet.
   */
  logTypes?: LogLevel[];
}

/** What {@linkcode BrokerOptions.authenticate} is asked to decide. */
export interface AuthContext {
  /** Client id (the assigned one for an empty id). */
  clientId: string;
  /** Protocol level of the CONNECT. */
  protocolVersion: ProtocolVersion;
  /** User name of the CONNECT, if any. */
  username?: string;
  /** Password of the CONNECT, if any. */
  password?: Uint8Array;
  /** MQTT 5 Authentication Method of the CONNECT (enhanced authentication), if any. */
  method?: string;
  /** Authentication Data of the CONNECT or of the client's latest AUTH, if any. */
  data?: Uint8Array;
  /**
   * 0 for the CONNECT (or the AUTH 0x19 that starts a re-authentication), then 1, 2, … for
   * each AUTH 0x18 (continue authentication) the client answers with.
   */
  step: number;
  /** Whether a connected client re-authenticates (AUTH 0x19). */
  reauthenticate: boolean;
  /** The `state` of the previous step's `"continue"` decision. */
  state?: unknown;
  /** User properties of the CONNECT or AUTH, if any. */
  userProperties?: UserProperty[];
  /** The peer. */
  remoteAddress: SocketAddress;
  /** The client's verified TLS certificate, on a listener that asks for one. */
  certificate?: PeerCertificate;
}

/** A decision of {@linkcode BrokerOptions.authenticate} or {@linkcode BrokerPlugin.authenticate}. */
export interface AuthDecision {
  /**
   * `"accept"`, `"refuse"`, or `"continue"`: send the client AUTH 0x18 with `data` and call
   * the hook again with its answer (MQTT 5 enhanced authentication only).
   */
  outcome: "accept" | "continue" | "refuse";
  /** Authentication Data for the client: in CONNACK or AUTH 0x00 on accept, AUTH 0x18 on continue. */
  data?: Uint8Array;
  /** Anything to keep between steps; passed back as {@linkcode AuthContext.state}. */
  state?: unknown;
  /**
   * Reason code of a refusal: a CONNACK failure code, e.g. 0x86 bad user name or password,
   * 0x8A banned, 0x8C bad authentication method (MQTT 3.x clients get the matching return
   * code). Default 0x87 not authorized (return code 5), which is what mosquitto sends.
   * A refused re-authentication ends with DISCONNECT with this code (0x87 when the code is
   * not a DISCONNECT code).
   */
  reasonCode?: number;
  /** MQTT 5 Reason String for the client (in CONNACK, AUTH or DISCONNECT). */
  reasonString?: string;
  /**
   * On accept: the user name authorization sees from now on (e.g. a certificate's identity),
   * instead of the CONNECT's.
   */
  username?: string;
}

/** What a client asks {@linkcode BrokerOptions.authorize} for. */
export type AuthorizeAction = "publish" | "subscribe" | "deliver";

/**
 * One authorization question. For `"deliver"` (may the client receive this message?) the
 * broker reuses one object: read it during the call, do not keep it.
 */
export interface AuthorizeRequest {
  /** `"publish"` (also a will, when it is sent), `"subscribe"`, `"deliver"`. */
  action: AuthorizeAction;
  /** Client id. */
  clientId: string;
  /** User name the client logged in with (or the one authentication set), if any. */
  username: string | undefined;
  /** Topic name, or for `"subscribe"` the topic filter without its `$share/<group>/` prefix. */
  topic: string;
  /** QoS of the PUBLISH or requested by the subscription. */
  qos: QoS;
  /** Retain flag of the PUBLISH; `false` for the other actions. */
  retain: boolean;
  /** The share name of a shared subscription, if any. */
  shareName: string | undefined;
}

/** An authorization hook: `true` allows, `false` denies, `undefined` has no opinion. */
export type Authorize = (request: AuthorizeRequest) => boolean | undefined;

/**
 * A plugin of the broker's security chain (what mosquitto's plugins are to mosquitto). The
 * password and ACL files of `mq broker` are plugins too.
 */
export interface BrokerPlugin {
  /** Name used in log lines. */
  readonly name: string;
  /**
   * Decide a CONNECT (or a step of enhanced authentication), or return `undefined` to
   * leave it to the next plugin. The plugin that answers a step first also gets the next
   * steps of that exchange.
   */
  authenticate?(
    context: AuthContext,
  ): AuthResult | undefined | Promise<AuthResult | undefined>;
  /** Decide an action, or `undefined` to leave it to the next plugin. Synchronous. */
  authorize?(request: AuthorizeRequest): boolean | undefined;
  /** Re-read files (password file, ACL file…); called by {@linkcode Broker.reload}. */
  reload?(): void | Promise<void>;
}

/** The answer of {@linkcode BrokerOptions.authenticate}: `true` accepts, `false` refuses with 0x87. */
export type AuthResult = boolean | AuthDecision;

/** The authentication hook of {@linkcode BrokerOptions.authenticate}. */
export type Authenticate = (context: AuthContext) => AuthResult | Promise<AuthResult>;

/** A message delivered to an in-process subscriber. */
export interface BrokerMessage {
  /** Topic name. */
  topic: string;
  /** Payload. Shared between subscribers: do not modify it. */
  payload: Uint8Array;
  /** QoS of this delivery: min(published, subscribed). */
  qos: QoS;
  /** Whether this is a retained message sent on subscribe (or retain-as-published). */
  retain: boolean;
  /** MQTT 5 properties as published (user properties, content type, expiry ...). */
  properties?: Properties;
  /** The client id of the publisher; `undefined` for in-process publishes and `$SYS`. */
  clientId?: string;
}

/** Options of {@linkcode Broker.publish}. */
export interface BrokerPublishOptions {
  /** QoS. Default 0. */
  qos?: QoS;
  /** Retain the message. Default false. */
  retain?: boolean;
  /** MQTT 5 properties passed to subscribers. */
  properties?: Properties;
}

/** Options of {@linkcode Broker.subscribe}. */
export interface BrokerSubscribeOptions {
  /** Highest QoS to receive. Default 2. */
  qos?: QoS;
  /** 0 send retained messages now (default), 2 never. */
  retainHandling?: 0 | 2;
  /** Keep the retain flag of live messages as published. Default false. */
  retainAsPublished?: boolean;
}

/** Handles messages of an in-process subscription. */
export type BrokerMessageHandler = (message: BrokerMessage) => void;

/** A client connected (its CONNACK was sent). */
export interface ClientConnectEvent {
  /** Client id (the assigned one for an empty id). */
  clientId: string;
  /** Protocol level. */
  protocolVersion: ProtocolVersion;
  /** Clean session / clean start. */
  clean: boolean;
  /** Whether a previous session was resumed. */
  sessionPresent: boolean;
  /** User name, if any. */
  username?: string;
  /** The peer. */
  remoteAddress: SocketAddress;
}

/** A client's connection ended. */
export interface ClientDisconnectEvent {
  /** Client id. */
  clientId: string;
  /** Reason code of the client's DISCONNECT, `undefined` when the connection was lost or closed by the broker. */
  reasonCode?: number;
  /** The fault that closed it, if any (protocol error, keep-alive timeout, take-over). */
  error?: Error;
}

/** A client subscribed. */
export interface ClientSubscribeEvent {
  /** Client id. */
  clientId: string;
  /** The subscriptions of the SUBSCRIBE. */
  subscriptions: Subscription[];
  /** The SUBACK reason codes (granted QoS or failure), in order. */
  reasonCodes: number[];
}

/** A client unsubscribed. */
export interface ClientUnsubscribeEvent {
  /** Client id. */
  clientId: string;
  /** The topic filters. */
  filters: string[];
  /** The UNSUBACK reason codes (0 or 0x11 no subscription existed). */
  reasonCodes: number[];
}

/** A message was published (by a client, a will, `$SYS` or in-process). */
export interface MessagePublishEvent {
  /** The publisher's client id; `undefined` for in-process publishes and `$SYS`. */
  clientId?: string;
  /** The message as routed (topic aliases resolved). */
  packet: PublishPacket;
}

/** The events of a {@linkcode Broker}, by name. */
export interface BrokerEventMap {
  /** A client connected. */
  connect: ClientConnectEvent;
  /** A client's connection ended. */
  disconnect: ClientDisconnectEvent;
  /** A client subscribed. */
  subscribe: ClientSubscribeEvent;
  /** A client unsubscribed. */
  unsubscribe: ClientUnsubscribeEvent;
  /** A message was published. */
  publish: MessagePublishEvent;
}

/** Where a listener is bound. */
export interface BrokerAddress {
  /** Transport. */
  transport: SocketAddress["transport"];
  /** Bound host name or address. */
  hostname: string;
  /** Bound port (the one picked for port 0). */
  port: number;
}

/** The handle of a running broker. */
export interface Broker {
  /** The bound address of each listener, in the order configured. */
  readonly addresses: readonly BrokerAddress[];
  /**
   * Stop: listeners close, MQTT 5 clients get DISCONNECT 0x8B (server shutting down), every
   * socket closes and timers stop. Resolves when done; idempotent.
   */
  close(): Promise<void>;
  /**
   * Re-read configuration files without dropping connections (what SIGHUP does to `mq
   * broker`): each plugin's `reload()` runs in turn, then each TLS listener's `loadTls()`. A plugin that fails keeps its previous
   * state; its error is logged and the promise rejects with it after the others ran.
   */
  reload(): Promise<void>;
  /**
   * Serve one client connection over any {@linkcode Socket} (e.g. one end of `memoryPair()`).
   *
   * @param socket The connected socket.
   */
  connect(socket: Socket): void;
  /**
   * Publish a message from inside the process, routed like a client's.
   *
   * @param topic Topic name.
   * @param payload Payload (a string is UTF-8 encoded).
   * @param options QoS, retain and MQTT 5 properties.
   * @returns The number of subscriptions it was delivered to.
   */
  publish(topic: string, payload: Uint8Array | string, options?: BrokerPublishOptions): number;
  /**
   * Subscribe in-process; the handler runs synchronously for each message.
   *
   * @param filter Topic filter (no `$share/`).
   * @param handler Called per message.
   * @param options QoS and retain handling.
   * @returns A function that removes the subscription.
   */
  subscribe(
    filter: string,
    handler: BrokerMessageHandler,
    options?: BrokerSubscribeOptions,
  ): () => void;
  /**
   * Listen to an event.
   *
   * @param type The event name.
   * @param listener Called synchronously with the event.
   * @returns A function that removes the listener.
   */
  on<K extends keyof BrokerEventMap>(
    type: K,
    listener: (event: BrokerEventMap[K]) => void,
  ): () => void;
  /** Counters, as published under `$SYS`. */
  readonly stats: BrokerStats;
  /**
   * Inspect one client's session: what is in flight, queued and dropped.
   *
   * @param clientId The client id.
   * @returns The figures, or `undefined` when the broker holds no session for it.
   */
  client(clientId: string): ClientInfo | undefined;
}

/** One client's session as seen by {@linkcode Broker.client}. */
export interface ClientInfo {
  /** Client id. */
  readonly clientId: string;
  /** Whether a connection is attached. */
  readonly connected: boolean;
  /** Protocol level of the latest connection. */
  readonly protocolVersion: ProtocolVersion;
  /** QoS 1 and 2 messages sent and not yet acknowledged. */
  readonly inflight: number;
  /** Messages waiting beyond the in-flight window. */
  readonly queuedMessages: number;
  /** Payload bytes of the queued messages. */
  readonly queuedBytes: number;
  /** Messages to this client dropped (full queue, congested socket, too large, expired). */
  readonly dropped: number;
  /** Bytes written to the socket and not yet taken by the network; 0 when offline. */
  readonly bufferedBytes: number;
}

/** Counters of a {@linkcode Broker}, as published under `$SYS/broker/...`. */
export interface BrokerStats {
  /** Clients connected now. */
  readonly clientsConnected: number;
  /** Persistent sessions whose client is offline. */
  readonly clientsDisconnected: number;
  /** Most clients connected at once. */
  readonly clientsMaximum: number;
  /** Sessions removed by expiry. */
  readonly clientsExpired: number;
  /** Packets received. */
  readonly messagesReceived: number;
  /** Packets sent. */
  readonly messagesSent: number;
  /** PUBLISH packets received. */
  readonly publishReceived: number;
  /** PUBLISH packets sent. */
  readonly publishSent: number;
  /** Messages dropped (full queue, too large for the client, congested socket). */
  readonly publishDropped: number;
  /** Bytes received. */
  readonly bytesReceived: number;
  /** Bytes sent. */
  readonly bytesSent: number;
  /** Subscriptions of all clients, shared ones excluded (as mosquitto counts them). */
  readonly subscriptions: number;
  /** Shared subscriptions (`$share/...`) of all clients, one per member. */
  readonly sharedSubscriptions: number;
  /** Retained messages. */
  readonly retained: number;
  /** CONNECT packets accepted. */
  readonly connections: number;
  /** Sockets accepted. */
  readonly sockets: number;
  /** Sockets closed on accept because a `maxConnections` limit was reached. */
  readonly refusedConnections: number;
  /** Payload bytes of PUBLISH packets received. */
  readonly publishBytesReceived: number;
  /** Payload bytes of PUBLISH packets sent. */
  readonly publishBytesSent: number;
  /** Messages queued or in flight to clients, over all sessions. */
  readonly messagesStored: number;
  /** Payload bytes held: messages queued for sessions plus retained messages. */
  readonly messagesStoredBytes: number;
}
