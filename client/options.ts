// This module is browser compatible.
/**
 * Options of {@linkcode connect} and of the client's calls.
 *
 * @module
 */

import type { AuthPacket, ProtocolVersion, QoS } from "../protocol/packet.ts";
import type { Properties } from "../protocol/properties.ts";
import type { Socket, TlsOptions } from "../socket/types.ts";
import type { WebSocketConstructor } from "../socket/websocket.ts";
import type { InFlightStore } from "./store.ts";
import type { MessageHandler } from "./subscription.ts";

export type { WebSocketConstructor, WebSocketLike } from "../socket/websocket.ts";

/** Opens a connection to the broker; `connect()` picks one from the URL unless given. */
export type Transport = (options: { signal: AbortSignal }) => Promise<Socket>;

/** A payload: a string is sent UTF-8 encoded. */
export type Payload = string | Uint8Array;

/** The will message of {@linkcode ClientOptions}. */
export interface WillOptions {
  /** Topic. */
  topic: string;
  /** Payload. */
  payload: Payload;
  /** QoS. Default 0. */
  qos?: QoS;
  /** Retain it. Default false. */
  retain?: boolean;
  /** MQTT 5 will properties (will delay interval, message expiry, content type ...). */
  properties?: Properties;
}

/**
 * Reconnection policy: after a connection is lost, wait a random time between 0 and
 * `min(maxDelay, initialDelay * 2 ** (attempt - 1))` (exponential backoff with full jitter)
 * and try again. A CONNACK refusal that retrying cannot fix (bad credentials, not
 * authorized, banned, bad client id, unsupported protocol) stops reconnecting.
 */
export interface ReconnectOptions {
  /** Base delay in ms. Default 1000. */
  initialDelay?: number;
  /** Largest delay in ms. Default 30000. */
  maxDelay?: number;
  /** Give up (and close) after this many failed attempts in a row. Default: never. */
  maxAttempts?: number;
}

/** Bounds of the offline queue: publishes made while the client is not connected. */
export interface QueueOptions {
  /** Most messages queued. Default 1000; 0 refuses publishing while not connected. */
  maxMessages?: number;
  /** Most payload bytes queued. Default 16 MiB. */
  maxBytes?: number;
}

/** MQTT 5 enhanced authentication (v5 §4.12). */
export interface AuthOptions {
  /** The authentication method (e.g. `"SCRAM-SHA-256"`). */
  method: string;
  /** Initial authentication data for CONNECT. */
  data?: Uint8Array;
  /**
   * Answer a challenge: called for each AUTH with reason code 0x18 (continue) the broker
   * sends; return the data for the AUTH the client answers with. A rejection closes the
   * connection attempt.
   */
  onChallenge?: (
    data: Uint8Array | undefined,
    packet: AuthPacket,
  ) => Uint8Array | Promise<Uint8Array>;
}

/** Options of {@linkcode connect}. */
export interface ClientOptions {
  /** 5 (MQTT 5.0, default), 4 (MQTT 3.1.1) or 3 (MQTT 3.1). */
  protocolVersion?: ProtocolVersion;
  /**
   * Client identifier. Default: a random `mq-` id. `""` asks the broker to assign one
   * (MQTT 5, or 3.1.1 with `clean`); reconnects then use the assigned id.
   */
  clientId?: string;
  /** User name. */
  username?: string;
  /** Password (a string is UTF-8 encoded). */
  password?: Payload;
  /** Keep alive in seconds; 0 disables it. Default 60. The broker's Server Keep Alive wins. */
  keepAlive?: number;
  /**
   * Clean start (MQTT 5) or clean session (3.x) on the first connection. Default true.
   * MQTT 5 reconnects never clean start, so a session with a non-zero
   * `sessionExpiryInterval` is resumed; MQTT 3.x reconnects use the same flag.
   */
  clean?: boolean;
  /** MQTT 5 session expiry interval in seconds (0xFFFFFFFF: never). Default 0. */
  sessionExpiryInterval?: number;
  /** The will message. */
  will?: WillOptions;
  /** Further MQTT 5 CONNECT properties (receive maximum, user properties ...). */
  properties?: Properties;
  /** TLS options for `mqtts:` (CA, client certificate and key, server name, insecure). */
  tls?: TlsOptions;
  /** WebSocket subprotocols for `ws:`/`wss:`. Default `["mqtt"]`. */
  webSocketProtocols?: string[];
  /**
   * The `WebSocket` constructor for `ws:`/`wss:`. Default: the global `WebSocket`. Node 20
   * has none: pass `WebSocket` from npm's `ws` package.
   */
  webSocket?: WebSocketConstructor;
  /** Open the connection with this instead of the URL's transport (memory sockets, tests). */
  transport?: Transport;
  /** Reconnection policy, or `false` to close when the connection is lost. */
  reconnect?: ReconnectOptions | false;
  /** Ms a connection attempt may take, up to CONNACK. Default 30000. */
  connectTimeout?: number;
  /** Default timeout of publish, subscribe, unsubscribe and request, in ms. Default 30000. */
  timeout?: number;
  /** Bounds of the offline queue. */
  queue?: QueueOptions;
  /**
   * The session's in-flight state (outgoing QoS 1 and 2 messages, incoming QoS 2 ids); a
   * client started with a store that holds state resumes it. One store per client id.
   * Default: a new {@linkcode MemoryStore}.
   */
  store?: InFlightStore;
  /** MQTT 5 enhanced authentication. */
  auth?: AuthOptions;
  /**
   * Bind the outgoing TCP connection to this local address (an IP address of this host), for
   * `mqtt:` and `mqtts:` URLs. Node and Bun support it; elsewhere connecting rejects with a
   * `TypeError`. Ignored by `ws:`, `wss:`, `unix:` and a `transport`.
   */
  localAddress?: string;
  /**
   * Most QoS 1 and 2 messages in flight (sent and not yet acknowledged) at once, below the
   * broker's receive maximum when that is larger. Further publishes wait, in order, until an
   * acknowledgement frees a slot (they count in `client.queued` meanwhile). Default: the
   * broker's receive maximum only.
   */
  maxInflight?: number;
  /** Assign MQTT 5 topic aliases to outgoing messages automatically. Default true. */
  topicAliases?: boolean;
  /**
   * Called with each message that no subscription of this client matches, e.g. messages a
   * persistent session queued while offline, which arrive before `subscribe()` is called
   * again. Without it they are dropped.
   */
  onMessage?: MessageHandler;
  /** Aborting it ends the client (as `end()`), or rejects `connect()` while connecting. */
  signal?: AbortSignal;
}

/** Options of `client.publish()`. */
export interface PublishOptions {
  /** QoS. Default 0. */
  qos?: QoS;
  /** Retain the message. Default false. */
  retain?: boolean;
  /** MQTT 5 properties (a topic alias is assigned by the client, not here). */
  properties?: Properties;
  /** Stop waiting. The message may still be delivered once it was sent. */
  signal?: AbortSignal;
  /** Ms to wait for the QoS flow to complete. Default: the client's `timeout`. */
  timeout?: number;
}

/** The outcome of a publish. */
export interface PublishResult {
  /** The reason code of PUBACK/PUBCOMP (0, or 0x10 no matching subscribers); 0 for QoS 0. */
  reasonCode: number;
  /** MQTT 5 properties of the acknowledgement. */
  properties?: Properties;
}

/** Options of `client.subscribe()`. */
export interface SubscribeOptions {
  /** Highest QoS to receive. Default 0. */
  qos?: QoS;
  /** MQTT 5: do not receive this client's own messages. */
  noLocal?: boolean;
  /** MQTT 5: keep the retain flag as published. */
  retainAsPublished?: boolean;
  /** MQTT 5: 0 send retained messages (default), 1 only for a new subscription, 2 never. */
  retainHandling?: 0 | 1 | 2;
  /** MQTT 5 SUBSCRIBE properties (subscription identifier, user properties). */
  properties?: Properties;
  /** Called for each message; the subscription is then not iterated. */
  onMessage?: MessageHandler;
  /** Messages buffered for the iterator before the oldest is dropped. Default 1000. */
  bufferSize?: number;
  /** Stop waiting for SUBACK. */
  signal?: AbortSignal;
  /** Ms to wait for SUBACK. Default: the client's `timeout`. */
  timeout?: number;
}

/** Options of `client.request()`. */
export interface RequestOptions {
  /** QoS of the request. Default 1. */
  qos?: QoS;
  /** Further MQTT 5 properties of the request. */
  properties?: Properties;
  /** Stop waiting. */
  signal?: AbortSignal;
  /** Ms to wait for the response. Default: the client's `timeout`. */
  timeout?: number;
}

/** What a request handler of `client.respond()` returns. */
export type Reply = Payload | { payload: Payload; properties?: Properties };

/** Options of `client.unsubscribe()` with topic filters. */
export interface UnsubscribeOptions {
  /** MQTT 5 UNSUBSCRIBE properties (user properties). */
  properties?: Properties;
  /** Stop waiting for UNSUBACK. */
  signal?: AbortSignal;
  /** Ms to wait for UNSUBACK. Default: the client's `timeout`. */
  timeout?: number;
}

/** Options of `client.end()`. */
export interface EndOptions {
  /** MQTT 5 DISCONNECT reason code. Default 0 (normal; 0x04 also publishes the will). */
  reasonCode?: number;
  /** MQTT 5: a new session expiry interval, in seconds. */
  sessionExpiry?: number;
  /** Further MQTT 5 DISCONNECT properties (reason string, user properties). */
  properties?: Properties;
  /**
   * Drop the connection without DISCONNECT, as a crashed process would (the broker then
   * publishes the will), instead of disconnecting. `reasonCode`, `sessionExpiry` and
   * `properties` are not sent then. Default false.
   */
  abort?: boolean;
  /** Ms to wait for the connection to close before dropping it. Default 2000. */
  timeout?: number;
}
