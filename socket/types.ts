// This module is browser compatible.
/**
 * The one socket contract every adapter implements (ARCHITECTURE.md rule 2).
 *
 * Data arrives through a callback the driver installs; {@linkcode Socket.write} is
 * synchronous, queues inside the runtime and returns `false` once the queued bytes pass
 * the high-water mark; `onDrain` then fires when the queue has emptied. Nothing here
 * allocates a promise or closure per message. Framing, keepalive and reconnection are the
 * driver's job, never the adapter's.
 *
 * @module
 */

/**
 * Callbacks a driver installs on a {@linkcode Socket}. Every one is optional. Adapters call
 * them as methods of the object passed to `setHandlers()` (`handlers.onData(chunk)`), so a
 * class instance may install itself.
 */
export interface SocketHandlers {
  /**
   * Called with each chunk of bytes received. The chunk is only valid for the duration of
   * the call: an adapter may reuse its memory afterwards, so copy what must be kept.
   */
  onData?: (chunk: Uint8Array) => void;
  /**
   * Called once the queued writes have drained (below the high-water mark, usually to
   * empty) after `write()` returned `false`.
   */
  onDrain?: () => void;
  /**
   * Called exactly once when the socket is closed, by either side. `error` is set when the
   * close was caused by a failure (reset, TLS error, write after the peer went away).
   */
  onClose?: (error?: Error) => void;
}

/** Where a socket is connected, as far as the runtime can tell. */
export interface SocketAddress {
  /** Transport kind. */
  transport: "tcp" | "tls" | "unix" | "websocket" | "memory";
  /** Host name or IP address, or the path of a unix socket; empty when unknown. */
  hostname: string;
  /** Port number; 0 when not applicable. */
  port: number;
}

/** A connected, bidirectional byte stream. */
export interface Socket {
  /**
   * Install the handlers. Data that arrived before the first call is held and delivered
   * right after it, so no bytes are lost between `connect()` and `setHandlers()`.
   */
  setHandlers(handlers: SocketHandlers): void;
  /**
   * Queue bytes for sending. Synchronous; the caller may reuse `data` after the call
   * returns. Returns `false` when the queue is above the high-water mark: stop writing
   * until `onDrain`. Writing to a closed socket is ignored and returns `false`.
   */
  write(data: Uint8Array): boolean;
  /**
   * Optional, offered by adapters that gather a turn's writes in a queue of their own: make
   * room for `size` bytes at the end of that queue and return their offset in
   * {@linkcode Socket.writeQueue}. The caller fills them at once, before anything else writes
   * to the socket, then calls `write()` with an empty array, whose result says whether to
   * wait for `onDrain`. It saves encoding into a buffer of its own and copying that. Only for
   * an open socket (`closed` is `false`).
   */
  reserve?(size: number): number;
  /** With `reserve()`: the queue its offsets point into (read after each `reserve()`). */
  readonly writeQueue?: Uint8Array;
  /**
   * Close the socket after flushing queued writes. Idempotent. `onClose` fires once the
   * socket is fully closed.
   */
  close(): void;
  /** Close at once, discarding queued writes. Idempotent. */
  destroy(error?: Error): void;
  /** Stop or resume delivering `onData` (inbound flow control). */
  pause(): void;
  /** Resume delivering `onData` after {@linkcode Socket.pause}. */
  resume(): void;
  /**
   * Whether the socket is closed or closing: `true` from the moment `close()` or `destroy()`
   * is called or the peer closes. Writes then return `false`; `onClose` marks the end.
   */
  readonly closed: boolean;
  /** Bytes queued but not yet handed to the operating system, when the runtime tells. */
  readonly bufferedAmount: number;
  /** Whether the stream is encrypted (TLS, `wss:`). */
  readonly encrypted: boolean;
  /** The peer's address. */
  readonly remoteAddress: SocketAddress;
  /** The local address. */
  readonly localAddress: SocketAddress;
  /**
   * The certificate the TLS peer presented and the handshake verified, if any. Adapters
   * that cannot tell leave this method out.
   */
  peerCertificate?(): PeerCertificate | undefined;
}

/** What the broker needs of a verified peer certificate. */
export interface PeerCertificate {
  /** The subject as an RFC 2253 string, most specific first, e.g. `"CN=dev1,O=Acme,C=GB"`. */
  subject: string;
  /** The subject's common name (CN), if it has one. */
  commonName?: string;
}

/** A listening server socket. */
export interface Listener {
  /** The bound address; with port 0 requested, the port the system picked. */
  readonly address: SocketAddress;
  /** Stop accepting connections. Open sockets are not touched. Resolves once closed. */
  close(): Promise<void>;
  /**
   * Serve new TLS handshakes with these certificates (a reload); open connections keep
   * theirs. Only TLS listeners of adapters that can do it have this method.
   */
  updateTls?(tls: TlsOptions): void;
}

/** TLS options accepted by the TCP adapters. PEM strings throughout. */
export interface TlsOptions {
  /** Certificate chain (server) or client certificate, PEM. */
  cert?: string;
  /** Private key for `cert`, PEM. */
  key?: string;
  /** Trusted CA certificates, PEM. Defaults to the runtime's store. */
  ca?: string | string[];
  /** Server name for SNI and verification (client only). Defaults to the hostname. */
  serverName?: string;
  /**
   * Skip certificate verification (client only). Dangerous; for tests. The Deno adapter
   * refuses it with a `TypeError` (`Deno.connectTls` cannot skip verification).
   */
  insecure?: boolean;
  /** ALPN protocols to offer (client) or accept (server). */
  alpnProtocols?: string[];
  /** Ask clients for a certificate and refuse those without a valid one (server only). */
  requireCertificate?: boolean;
  /**
   * Lowest TLS version to negotiate (mosquitto's `tls_version`). Default: the runtime's
   * (TLS 1.2). The node adapter honours it; the Deno and Bun adapters refuse a listener
   * that sets it with a `TypeError`.
   */
  minVersion?: "TLSv1.2" | "TLSv1.3";
}

/** Options for opening a client connection. */
export interface ConnectOptions {
  /** Host name or IP address; ignored with `path` (give `""`). */
  hostname: string;
  /** TCP port; ignored with `path` (give `0`). */
  port: number;
  /**
   * Connect to the unix domain socket at this path instead of `hostname` and `port`. The
   * Node, Deno and Bun adapters support it, not combined with `tls` or `localAddress`
   * (a `TypeError`).
   */
  path?: string;
  /**
   * Bind the connection to this local IP address before connecting. The Node and Bun
   * adapters support it; Deno's rejects with a `TypeError` (not supported by this runtime).
   */
  localAddress?: string;
  /** Connect over TLS with these options. */
  tls?: TlsOptions;
  /** Abort the connection attempt. */
  signal?: AbortSignal;
}

/** Options for a listener. */
export interface ListenOptions {
  /** Address to bind; defaults to `127.0.0.1`. */
  hostname?: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Serve TLS with these options (`cert` and `key` required). */
  tls?: TlsOptions;
  /**
   * Listen on the unix domain socket at this path instead of `hostname` and `port` (a
   * stale socket file is not removed). The node adapter supports it, on every runtime; the
   * Deno and Bun adapters refuse it with a `TypeError`.
   */
  path?: string;
}

/** Called for every accepted connection. */
export type AcceptHandler = (socket: Socket) => void;

/** What a runtime adapter module provides. */
export interface SocketAdapter {
  /** Adapter name, e.g. `"node"`, `"deno"`, `"bun"`. */
  readonly name: string;
  /** Open a TCP (or TLS) connection. Rejects with a `ConnectionError`-like `Error`. */
  connect(options: ConnectOptions): Promise<Socket>;
  /** Listen for TCP (or TLS) connections. */
  listen(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener>;
}
