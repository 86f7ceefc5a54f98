// This module is browser compatible.
/**
 * In-process sockets for tests and embedding: {@linkcode memoryPair} connects two
 * {@linkcode Socket}s directly, and {@linkcode MemoryNetwork} is a
 * {@linkcode SocketAdapter} whose listeners and connections live in one object.
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
} from "./types.ts";

/** Default high-water mark of a memory socket, in bytes. */
const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
/** Smallest buffer allocated for queued writes. */
const MIN_BUFFER = 4096;

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

const EMPTY = new Uint8Array(0);

/** Options for {@linkcode memoryPair} and {@linkcode MemoryNetwork}. */
export interface MemoryPairOptions {
  /**
   * Bytes a socket may queue before `write()` returns `false`. Defaults to 64 KiB.
   */
  highWaterMark?: number;
}

interface EndOptions {
  highWaterMark: number;
  local: SocketAddress;
  remote: SocketAddress;
}

/**
 * One end of an in-process pair. Writes are copied into a queue that is handed to the peer
 * once per microtask turn; two buffers per direction alternate, so a steady stream
 * allocates nothing.
 */
class MemorySocket implements Socket {
  #peer!: MemorySocket;
  #highWaterMark: number;
  #handlers: SocketHandlers | undefined;
  #ready = false;
  #paused = false;
  #state = OPEN;
  #closeError: Error | undefined;
  #closeNotified = false;
  /** Bytes written by this end, not yet delivered to the peer. */
  #buf: Uint8Array = EMPTY;
  #len = 0;
  /** The buffer last handed to the peer, reused for the next turn. */
  #spare: Uint8Array = EMPTY;
  #scheduled = false;
  #needDrain = false;
  #local: SocketAddress;
  #remote: SocketAddress;

  constructor(options: EndOptions) {
    this.#highWaterMark = options.highWaterMark;
    this.#local = options.local;
    this.#remote = options.remote;
  }

  static pair(a: EndOptions, b: EndOptions): [MemorySocket, MemorySocket] {
    const left = new MemorySocket(a);
    const right = new MemorySocket(b);
    left.#peer = right;
    right.#peer = left;
    return [left, right];
  }

  get closed(): boolean {
    return this.#state !== OPEN;
  }

  get bufferedAmount(): number {
    return this.#len;
  }

  get encrypted(): boolean {
    return false;
  }

  get remoteAddress(): SocketAddress {
    return this.#remote;
  }

  get localAddress(): SocketAddress {
    return this.#local;
  }

  setHandlers(handlers: SocketHandlers): void {
    this.#handlers = handlers;
    if (this.#ready) return;
    this.#ready = true;
    if (this.#state === CLOSED) {
      queueMicrotask(() => this.#notifyClose());
    } else {
      this.#peer.#schedule();
    }
  }

  write(data: Uint8Array): boolean {
    if (this.#state !== OPEN) return false;
    const n = data.length;
    if (n > 0) {
      const needed = this.#len + n;
      if (needed > this.#buf.length) {
        const next = new Uint8Array(Math.max(needed, this.#buf.length * 2, MIN_BUFFER));
        next.set(this.#buf.subarray(0, this.#len));
        this.#buf = next;
      }
      this.#buf.set(data, this.#len);
      this.#len = needed;
      this.#schedule();
    }
    if (this.#len < this.#highWaterMark) return true;
    this.#needDrain = true;
    return false;
  }

  close(): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#schedule();
  }

  destroy(error?: Error): void {
    if (this.#state === CLOSED) return;
    this.#shut(error);
    this.#peer.#shut(undefined);
    queueMicrotask(() => {
      this.#notifyClose();
      this.#peer.#notifyClose();
    });
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#peer.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#flush);
  }

  /** Hand this end's queued bytes to the peer, then finish a pending close. */
  #flush = (): void => {
    this.#scheduled = false;
    if (this.#state === CLOSED) return;
    const peer = this.#peer;
    if (this.#len > 0) {
      if (!peer.#ready || peer.#paused) return;
      const full = this.#buf;
      const chunk = full.subarray(0, this.#len);
      // Writes made from inside onData go to the other buffer.
      this.#buf = this.#spare;
      this.#spare = EMPTY;
      this.#len = 0;
      try {
        peer.#handlers?.onData?.(chunk);
      } finally {
        if (full.length <= Math.max(this.#highWaterMark * 2, MIN_BUFFER)) this.#spare = full;
      }
      if (this.#len > 0 || this.#state === CLOSED) return;
    }
    if (this.#needDrain && this.#state === OPEN) {
      this.#needDrain = false;
      this.#handlers?.onDrain?.();
    }
    if (this.#state === CLOSING && this.#len === 0) {
      this.#shut(undefined);
      peer.#shut(undefined);
      this.#notifyClose();
      peer.#notifyClose();
    }
  };

  #shut(error: Error | undefined): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#closeError = error;
    this.#buf = EMPTY;
    this.#spare = EMPTY;
    this.#len = 0;
  }

  #notifyClose(): void {
    if (this.#closeNotified || !this.#ready) return;
    this.#closeNotified = true;
    const handlers = this.#handlers;
    this.#handlers = undefined;
    handlers?.onClose?.(this.#closeError);
  }
}

/**
 * Create two connected in-process sockets: bytes written to one arrive at the other.
 *
 * Delivery is asynchronous (a microtask) and coalesces the writes of one turn into one
 * chunk. `write()` returns `false` once the bytes not yet consumed by the peer pass the
 * high-water mark (a paused peer consumes nothing), and `onDrain` fires when the peer has
 * taken them. `close()` delivers what is queued, then closes both ends.
 *
 * @example Send bytes across a pair
 * ```ts
 * import assert from "node:assert/strict";
 * import { memoryPair } from "./memory.ts";
 *
 * const [a, b] = memoryPair();
 * const received = new Promise<Uint8Array>((resolve) => {
 *   b.setHandlers({ onData: (chunk) => resolve(chunk.slice()) });
 * });
 * a.write(new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await received, new Uint8Array([1, 2, 3]));
 * a.close();
 * ```
 *
 * @param options High-water mark for both ends.
 * @returns The two ends.
 */
export function memoryPair(options?: MemoryPairOptions): [Socket, Socket] {
  const highWaterMark = checkHighWaterMark(options?.highWaterMark);
  const a: SocketAddress = { transport: "memory", hostname: "a", port: 0 };
  const b: SocketAddress = { transport: "memory", hostname: "b", port: 0 };
  return MemorySocket.pair(
    { highWaterMark, local: a, remote: b },
    { highWaterMark, local: b, remote: a },
  );
}

function checkHighWaterMark(value: number | undefined): number {
  if (value === undefined) return DEFAULT_HIGH_WATER_MARK;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot create memory socket: high-water mark "${value}" is not a positive integer`,
    );
  }
  return value;
}

class MemoryListener implements Listener {
  #network: Map<number, MemoryListener>;
  readonly address: SocketAddress;
  readonly onAccept: AcceptHandler;

  constructor(
    network: Map<number, MemoryListener>,
    address: SocketAddress,
    onAccept: AcceptHandler,
  ) {
    this.#network = network;
    this.address = address;
    this.onAccept = onAccept;
  }

  close(): Promise<void> {
    if (this.#network.get(this.address.port) === this) this.#network.delete(this.address.port);
    return Promise.resolve();
  }
}

/**
 * A private in-process network implementing {@linkcode SocketAdapter}: `listen()` registers
 * a port in this object and `connect()` reaches it with a {@linkcode memoryPair}. Ports are
 * the address; host names are only reported back. Nothing is shared between instances, so
 * each test or embedded broker creates its own. TLS is not supported.
 *
 * @example Connect to an in-process listener
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryNetwork } from "./memory.ts";
 *
 * const network = new MemoryNetwork();
 * const listener = await network.listen({ port: 0 }, (socket) => {
 *   socket.setHandlers({ onData: (chunk) => socket.write(chunk) });
 * });
 * const socket = await network.connect({ hostname: "127.0.0.1", port: listener.address.port });
 * const echoed = new Promise<Uint8Array>((resolve) => {
 *   socket.setHandlers({ onData: (chunk) => resolve(chunk.slice()) });
 * });
 * socket.write(new Uint8Array([42]));
 * assert.deepEqual(await echoed, new Uint8Array([42]));
 * socket.destroy();
 * await listener.close();
 * ```
 */
export class MemoryNetwork implements SocketAdapter {
  /** Adapter name, `"memory"`. */
  readonly name: string = "memory";
  #listeners = new Map<number, MemoryListener>();
  #highWaterMark: number;
  #nextPort = 1;
  #nextClientPort = 49152;

  /**
   * Create an empty network.
   *
   * @param options High-water mark of the sockets it creates.
   */
  constructor(options?: MemoryPairOptions) {
    this.#highWaterMark = checkHighWaterMark(options?.highWaterMark);
  }

  /**
   * Connect to a listener of this network.
   *
   * @example Connecting to a port nobody listens on rejects
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryNetwork } from "./memory.ts";
   *
   * await assert.rejects(new MemoryNetwork().connect({ hostname: "localhost", port: 1883 }));
   * ```
   *
   * @param options Host name (reported only), port, and an optional abort signal.
   * @returns The client end of a new pair.
   */
  connect(options: ConnectOptions): Promise<Socket> {
    if (options.tls !== undefined) {
      return Promise.reject(
        new TypeError("Cannot connect to memory network: TLS is not supported"),
      );
    }
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    const listener = this.#listeners.get(options.port);
    if (listener === undefined) {
      return Promise.reject(
        new Error(`Cannot connect to "memory:${options.port}": connection refused`),
      );
    }
    const clientAddress: SocketAddress = {
      transport: "memory",
      hostname: options.hostname,
      port: this.#nextClientPort++,
    };
    const [client, server] = MemorySocket.pair(
      { highWaterMark: this.#highWaterMark, local: clientAddress, remote: listener.address },
      { highWaterMark: this.#highWaterMark, local: listener.address, remote: clientAddress },
    );
    try {
      listener.onAccept(server);
    } catch (error) {
      server.destroy(error instanceof Error ? error : undefined);
      return Promise.reject(error);
    }
    return Promise.resolve(client);
  }

  /**
   * Listen on a port of this network; port 0 picks a free one.
   *
   * @example Listen on a free port
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryNetwork } from "./memory.ts";
   *
   * const listener = await new MemoryNetwork().listen({ port: 0 }, (socket) => socket.close());
   * assert.ok(listener.address.port > 0);
   * await listener.close();
   * ```
   *
   * @param options Port (0 for any) and host name (reported only).
   * @param onAccept Called with the server end of every connection.
   * @returns The listener.
   */
  listen(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener> {
    if (options.tls !== undefined) {
      return Promise.reject(new TypeError("Cannot listen on memory network: TLS is not supported"));
    }
    let port = options.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return Promise.reject(
        new RangeError(`Cannot listen on memory network: port "${port}" is out of range`),
      );
    }
    if (port === 0) {
      while (this.#listeners.has(this.#nextPort)) this.#nextPort++;
      port = this.#nextPort++;
    } else if (this.#listeners.has(port)) {
      return Promise.reject(
        new Error(`Cannot listen on "memory:${port}": address already in use`),
      );
    }
    const address: SocketAddress = {
      transport: "memory",
      hostname: options.hostname ?? "127.0.0.1",
      port,
    };
    const listener = new MemoryListener(this.#listeners, address, onAccept);
    this.#listeners.set(port, listener);
    return Promise.resolve(listener);
  }
}
