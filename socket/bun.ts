/**
 * The Bun socket adapter, over Bun's native `Bun.listen` and `Bun.connect` (not
 * `node:net`).
 *
 * The `Bun` global is looked up on first use, through the small interfaces declared here,
 * so this module type-checks without Bun's types and can be imported (unused) under Node
 * and Deno.
 *
 * @module
 */

import type {
  AcceptHandler,
  ConnectOptions,
  Listener,
  ListenOptions,
  Socket,
  SocketAdapter,
  SocketAddress,
  SocketHandlers,
  TlsOptions,
} from "./types.ts";
import { WritePool } from "./_write_pool.ts";

interface BunRawSocket {
  data: BunSocket | undefined;
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay?(noDelay?: boolean): boolean;
  /** TLS only: the negotiated cipher; its name is `null` when no session was established. */
  getCipher?(): { name: string | null } | null | undefined;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
}

interface BunSocketHandler {
  binaryType: "uint8array";
  open(socket: BunRawSocket): void;
  data(socket: BunRawSocket, data: Uint8Array): void;
  drain(socket: BunRawSocket): void;
  close(socket: BunRawSocket, error?: Error): void;
  error(socket: BunRawSocket, error: Error): void;
  handshake?(socket: BunRawSocket, success: boolean, authorizationError: Error | null): void;
  connectError?(socket: BunRawSocket, error: Error): void;
}

interface BunTlsOptions {
  cert?: string;
  key?: string;
  ca?: string | string[];
  serverName?: string;
  rejectUnauthorized?: boolean;
  requestCert?: boolean;
  ALPNProtocols?: ArrayBuffer;
}

interface BunSocketOptions {
  hostname: string;
  port: number;
  socket: BunSocketHandler;
  tls?: BunTlsOptions;
}

interface BunConnectOptions {
  hostname?: string;
  port?: number;
  unix?: string;
  localAddress?: string;
  socket: BunSocketHandler;
  tls?: BunTlsOptions;
}

interface BunListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface BunNamespace {
  listen(options: BunSocketOptions): BunListener;
  connect(options: BunConnectOptions): Promise<BunRawSocket>;
}

function getBun(): BunNamespace {
  const bun = (globalThis as { Bun?: BunNamespace }).Bun;
  if (bun === undefined) {
    throw new TypeError('Cannot use the Bun socket adapter: "Bun" is not defined');
  }
  return bun;
}

/** Queued bytes past which `write()` returns `false`. */
const HIGH_WATER_MARK = 64 * 1024;
/** Smallest write queue allocated (doubled as needed): idle connections keep little memory. */
const MIN_BUFFER = 2 * 1024;

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

const EMPTY = new Uint8Array(0);

/** Emptied write queues, shared by every socket of this adapter. */
const pool = new WritePool();

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * A Bun socket behind the {@linkcode Socket} contract.
 *
 * Bun's `write()` copies synchronously but may take only part of the bytes. The writes of
 * one turn are gathered in one queue and offered to Bun a microtask later; whatever Bun
 * does not take stays queued (later writes join it) until Bun's `drain` callback.
 */
class BunSocket implements Socket {
  #raw: BunRawSocket;
  #encrypted: boolean;
  #handlers: SocketHandlers | undefined;
  #ready = false;
  #paused = false;
  /** Bytes Bun delivered while paused or before the handlers were installed. */
  #held: Uint8Array = EMPTY;
  #state = OPEN;
  #error: Error | undefined;
  #closeNotified = false;
  #ended = false;
  #out: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  #scheduled = false;
  #blocked = false;
  #needDrain = false;
  /** Read from Bun on first use (the broker never asks). */
  #local: SocketAddress | undefined;
  #remote: SocketAddress;
  /** Whether Bun's socket is paused (pause() was called on it and not undone). */
  #rawPaused = false;

  constructor(raw: BunRawSocket, encrypted: boolean, deferPause: boolean, path?: string) {
    this.#raw = raw;
    this.#encrypted = encrypted;
    const transport = path !== undefined ? "unix" : encrypted ? "tls" : "tcp";
    if (path !== undefined) this.#local = { transport, hostname: "", port: 0 };
    this.#remote = {
      transport,
      hostname: path ?? raw.remoteAddress ?? "",
      port: raw.remotePort ?? 0,
    };
    raw.setNoDelay?.(true);
    // Nothing is read until setHandlers(), so bytes wait in the kernel. A paused TLS socket
    // cannot finish its handshake, and an accepted one usually gets its handlers at once:
    // those wait for hold() (deferPause).
    if (!deferPause) {
      raw.pause();
      this.#rawPaused = true;
    }
  }

  /** Stop reading until the handlers are installed (once the TLS handshake is done). */
  static hold(socket: BunSocket): void {
    if (socket.#state === CLOSED) return;
    if (!socket.#ready || socket.#paused) {
      socket.#raw.pause();
      socket.#rawPaused = true;
    }
  }

  /** The callbacks Bun calls; one set shared by every socket. */
  static readonly events: Omit<BunSocketHandler, "open" | "close"> = {
    binaryType: "uint8array",
    data(raw: BunRawSocket, data: Uint8Array): void {
      const socket = raw.data;
      if (socket !== undefined) socket.#onData(data);
    },
    drain(raw: BunRawSocket): void {
      const socket = raw.data;
      if (socket === undefined) return;
      socket.#blocked = false;
      socket.#flushQueue();
    },
    error(raw: BunRawSocket, error: Error): void {
      // A TLS failure or a callback that threw: either way the socket is done.
      const socket = raw.data;
      if (socket === undefined) raw.terminate();
      else socket.destroy(error);
    },
  };

  /** Bun's close callback. */
  static closed(raw: BunRawSocket, error?: Error): void {
    const socket = raw.data;
    if (socket !== undefined) socket.#finish(error);
  }

  get closed(): boolean {
    return this.#state !== OPEN;
  }

  get bufferedAmount(): number {
    return this.#end - this.#start;
  }

  get encrypted(): boolean {
    return this.#encrypted;
  }

  get remoteAddress(): SocketAddress {
    return this.#remote;
  }

  get localAddress(): SocketAddress {
    return this.#local ??= {
      transport: this.#remote.transport,
      hostname: this.#raw.localAddress ?? "",
      port: this.#raw.localPort ?? 0,
    };
  }

  setHandlers(handlers: SocketHandlers): void {
    this.#handlers = handlers;
    if (this.#ready) return;
    this.#ready = true;
    if (this.#state === CLOSED) {
      queueMicrotask(() => this.#notifyClose());
      return;
    }
    if (!this.#paused) this.#unpause();
  }

  write(data: Uint8Array): boolean {
    if (this.#state !== OPEN) return false;
    const n = data.length;
    if (n > 0) {
      // reserve() may move the queue: read #out after it.
      const at = this.reserve(n);
      this.#out.set(data, at);
    }
    if (this.#end - this.#start < HIGH_WATER_MARK) return true;
    this.#needDrain = true;
    return false;
  }

  reserve(size: number): number {
    if (this.#end + size > this.#out.length) this.#makeRoom(size);
    const offset = this.#end;
    this.#end += size;
    if (!this.#scheduled && !this.#blocked) {
      this.#scheduled = true;
      BunSocket.#schedule(this);
    }
    return offset;
  }

  get writeQueue(): Uint8Array {
    return this.#out;
  }

  close(): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    // A scheduled flush or Bun's drain callback ends the socket once the queue is empty.
    if (!this.#scheduled && !this.#blocked) this.#flushQueue();
  }

  destroy(error?: Error): void {
    if (this.#state === CLOSED) return;
    this.#finish(error);
    this.#raw.terminate();
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    if (this.#ready) {
      this.#raw.pause();
      this.#rawPaused = true;
    }
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#ready && this.#state !== CLOSED) this.#unpause();
  }

  #unpause(): void {
    if (this.#rawPaused) {
      this.#rawPaused = false;
      this.#raw.resume();
    }
    if (this.#held.length > 0) queueMicrotask(() => this.#deliverHeld());
  }

  #deliverHeld(): void {
    const held = this.#held;
    if (held.length === 0 || this.#paused || this.#state === CLOSED) return;
    this.#held = EMPTY;
    this.#handlers?.onData?.(held);
  }

  #onData(chunk: Uint8Array): void {
    if (this.#state === CLOSED) return;
    if (!this.#ready || this.#paused || this.#held.length > 0) {
      // Bun may deliver what it had already read when pause() was called.
      const held = new Uint8Array(this.#held.length + chunk.length);
      held.set(this.#held);
      held.set(chunk, this.#held.length);
      this.#held = held;
      return;
    }
    this.#handlers?.onData?.(chunk);
  }

  #makeRoom(n: number): void {
    const queued = this.#end - this.#start;
    if (queued === 0 && this.#out.length === 0) {
      const buffer = pool.take(n);
      if (buffer !== undefined) {
        this.#out = buffer;
        this.#start = this.#end = 0;
        return;
      }
    }
    if (queued + n <= this.#out.length) {
      this.#out.copyWithin(0, this.#start, this.#end);
    } else {
      const next = new Uint8Array(Math.max(this.#out.length * 2, queued + n, MIN_BUFFER));
      next.set(this.#out.subarray(this.#start, this.#end));
      this.#out = next;
    }
    this.#start = 0;
    this.#end = queued;
  }

  // Every socket written to in a turn is flushed by one microtask (no closure per socket).
  static #pending: BunSocket[] = [];
  static #flushing = false;

  static #schedule(socket: BunSocket): void {
    BunSocket.#pending.push(socket);
    if (BunSocket.#flushing) return;
    BunSocket.#flushing = true;
    queueMicrotask(BunSocket.#flushAll);
  }

  static #flushAll = (): void => {
    const pending = BunSocket.#pending;
    // A drain handler may write to sockets, which join the list while it is walked.
    for (let i = 0; i < pending.length; i++) {
      const socket = pending[i]!;
      socket.#scheduled = false;
      try {
        if (!socket.#blocked) socket.#flushQueue();
      } catch (error) {
        // A drain handler threw: that socket is done, the others still flush.
        socket.destroy(toError(error));
      }
    }
    pending.length = 0;
    BunSocket.#flushing = false;
  };

  #flushQueue(): void {
    if (this.#state === CLOSED) return;
    const queued = this.#end - this.#start;
    if (queued > 0) {
      const written = this.#raw.write(this.#out, this.#start, queued);
      if (written > 0) this.#start += written;
      if (this.#start < this.#end) {
        this.#blocked = true;
        return;
      }
      this.#start = this.#end = 0;
      const out = this.#out;
      this.#out = EMPTY;
      pool.give(out);
    }
    if (this.#state === CLOSING) {
      if (!this.#ended) {
        this.#ended = true;
        this.#raw.end();
      }
    } else if (this.#needDrain) {
      this.#needDrain = false;
      this.#handlers?.onDrain?.();
    }
  }

  #finish(error: Error | undefined): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#error = error;
    this.#out = EMPTY;
    this.#held = EMPTY;
    this.#start = this.#end = 0;
    if (this.#ready) queueMicrotask(() => this.#notifyClose());
  }

  #notifyClose(): void {
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    const handlers = this.#handlers;
    this.#handlers = undefined;
    handlers?.onClose?.(this.#error);
  }
}

/** ALPN protocol names in the wire format Bun takes: length-prefixed, concatenated. */
function alpnWireFormat(names: string[]): ArrayBuffer {
  const encoder = new TextEncoder();
  const encoded = names.map((name) => encoder.encode(name));
  const result = new Uint8Array(encoded.reduce((sum, bytes) => sum + 1 + bytes.length, 0));
  let offset = 0;
  for (const bytes of encoded) {
    if (bytes.length === 0 || bytes.length > 255) {
      throw new RangeError(`Cannot use ALPN protocol of ${bytes.length} bytes: must be 1 to 255`);
    }
    result[offset++] = bytes.length;
    result.set(bytes, offset);
    offset += bytes.length;
  }
  return result.buffer;
}

function bunTlsOptions(config: TlsOptions, server: boolean): BunTlsOptions {
  const result: BunTlsOptions = {};
  if (config.cert !== undefined) result.cert = config.cert;
  if (config.key !== undefined) result.key = config.key;
  if (config.ca !== undefined) result.ca = config.ca;
  if (config.alpnProtocols !== undefined) {
    result.ALPNProtocols = alpnWireFormat(config.alpnProtocols);
  }
  if (server) {
    if (config.minVersion !== undefined) {
      throw new TypeError('Cannot listen with TLS on Bun: "minVersion" is not supported');
    }
    if (config.requireCertificate === true) {
      result.requestCert = true;
      result.rejectUnauthorized = true;
    }
  } else {
    result.rejectUnauthorized = config.insecure !== true;
    if (config.serverName !== undefined) result.serverName = config.serverName;
  }
  return result;
}

function connectError(options: ConnectOptions, cause: unknown): Error {
  if (cause instanceof TypeError || cause instanceof RangeError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  const where = options.path ?? `${options.hostname}:${options.port}`;
  return new Error(`Cannot connect to "${where}": ${message}`, { cause });
}

function connect(options: ConnectOptions): Promise<Socket> {
  const { signal } = options;
  const config = options.tls;
  const encrypted = config !== undefined;
  return new Promise<Socket>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let settled = false;
    let raw: BunRawSocket | undefined;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      return true;
    };
    const fail = (error: unknown): void => {
      if (settle()) reject(error);
    };
    const succeed = (socket: BunRawSocket): void => {
      const wrapped = socket.data;
      if (wrapped === undefined || !settle()) return;
      resolve(wrapped);
    };
    const onAbort = (): void => {
      raw?.terminate();
      fail(signal?.reason);
    };
    const handler: BunSocketHandler = {
      ...BunSocket.events,
      open(socket: BunRawSocket): void {
        raw = socket;
        socket.data = new BunSocket(socket, encrypted, encrypted, options.path);
        if (!encrypted) succeed(socket);
      },
      handshake(socket: BunRawSocket, success: boolean, authorizationError: Error | null): void {
        // Bun 1.4 passes `success` false whenever the certificate fails the host name check,
        // even under `rejectUnauthorized: false` (Bun still checks the name and reports it;
        // only the chain error is waived), and leaves the connection open. It also calls
        // this, with `success` false, when the handshake itself failed (a peer that does not
        // speak TLS). So `insecure` accepts any verification result, but only once a session
        // exists: a cipher was negotiated.
        const accepted = config?.insecure === true
          ? success || (socket.getCipher?.()?.name ?? null) !== null
          : success && authorizationError === null;
        if (accepted) {
          if (socket.data !== undefined) BunSocket.hold(socket.data);
          succeed(socket);
          return;
        }
        const error = authorizationError ?? new Error("TLS handshake failed");
        // Reject before closing: terminate() runs the close callback at once, whose
        // "connection closed" would otherwise win over the certificate error.
        fail(connectError(options, error));
        if (socket.data === undefined) socket.terminate();
        else socket.data.destroy(error);
      },
      close(socket: BunRawSocket, error?: Error): void {
        BunSocket.closed(socket, error);
        fail(connectError(options, error ?? new Error("connection closed")));
      },
      connectError(_socket: BunRawSocket, error: Error): void {
        fail(connectError(options, error));
      },
    };
    const { path, localAddress } = options;
    if (path !== undefined && (config !== undefined || localAddress !== undefined)) {
      fail(
        new TypeError(`Cannot connect to "${path}": a unix socket takes no TLS or local address`),
      );
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const bunOptions: BunConnectOptions = path !== undefined
        ? { unix: path, socket: handler }
        : { hostname: options.hostname, port: options.port, socket: handler };
      if (localAddress !== undefined) bunOptions.localAddress = localAddress;
      if (config !== undefined) bunOptions.tls = bunTlsOptions(config, false);
      getBun().connect(bunOptions).catch((error: unknown) => fail(connectError(options, error)));
    } catch (error) {
      fail(connectError(options, error));
    }
  });
}

class BunTcpListener implements Listener {
  #listener: BunListener;
  #closed = false;
  readonly address: SocketAddress;

  constructor(listener: BunListener, encrypted: boolean) {
    this.#listener = listener;
    this.address = {
      transport: encrypted ? "tls" : "tcp",
      hostname: listener.hostname,
      port: listener.port,
    };
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#listener.stop(false);
    }
    return Promise.resolve();
  }
}

function listen(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener> {
  if (options.path !== undefined) {
    return Promise.reject(
      new TypeError(`Cannot listen on "${options.path}": the Bun adapter has no unix listeners`),
    );
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const config = options.tls;
  const encrypted = config !== undefined;
  const handler: BunSocketHandler = {
    ...BunSocket.events,
    open(raw: BunRawSocket): void {
      // Without a handshake callback, Bun opens TLS sockets after the handshake. Not paused
      // while onAccept() runs: a driver that installs its handlers at once (the broker)
      // spares a pause and a resume; otherwise hold() pauses it until then.
      const socket = new BunSocket(raw, encrypted, true);
      raw.data = socket;
      try {
        onAccept(socket);
      } catch (error) {
        socket.destroy(toError(error));
        return;
      }
      BunSocket.hold(socket);
    },
    close: BunSocket.closed,
  };
  try {
    const bunOptions: BunSocketOptions = { hostname, port: options.port, socket: handler };
    if (config !== undefined) {
      if (config.cert === undefined || config.key === undefined) {
        throw new TypeError('Cannot listen with TLS: "cert" and "key" are required');
      }
      bunOptions.tls = bunTlsOptions(config, true);
    }
    return Promise.resolve(new BunTcpListener(getBun().listen(bunOptions), encrypted));
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) return Promise.reject(error);
    const message = error instanceof Error ? error.message : String(error);
    return Promise.reject(
      new Error(`Cannot listen on "${hostname}:${options.port}": ${message}`, { cause: error }),
    );
  }
}

/**
 * The socket adapter over Bun's native TCP and TLS sockets.
 *
 * @example Echo over loopback (Bun only)
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { bunAdapter } from "./bun.ts";
 *
 * const listener = await bunAdapter.listen({ port: 0 }, (socket) => {
 *   socket.setHandlers({ onData: (chunk) => socket.write(chunk) });
 * });
 * const socket = await bunAdapter.connect({ hostname: "127.0.0.1", port: listener.address.port });
 * const echoed = new Promise<Uint8Array>((resolve) => {
 *   socket.setHandlers({ onData: (chunk) => resolve(chunk.slice()) });
 * });
 * socket.write(new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await echoed, new Uint8Array([1, 2, 3]));
 * socket.destroy();
 * await listener.close();
 * ```
 */
export const bunAdapter: SocketAdapter = { name: "bun", connect, listen };
