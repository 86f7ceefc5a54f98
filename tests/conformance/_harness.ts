/**
 * Helpers for the socket conformance suite: connected pairs with cleanup, and a recorder
 * of what a socket delivers.
 *
 * @module
 */

import type { TestContext } from "node:test";
import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  Socket,
  SocketAdapter,
  TlsOptions,
} from "../../socket/types.ts";

/** What a test needs from the runner's context. */
export type Context = Pick<TestContext, "after">;

/** A promise with its resolvers, as `Promise.withResolvers()` (missing on Node 20). */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** Create a {@linkcode Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Let a few macrotask turns pass, so late duplicate events would have fired. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Deterministic test bytes: `length` bytes of a simple pseudo-random sequence. */
export function pattern(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** FNV-1a over a byte stream, fed chunk by chunk. */
export class Checksum {
  value = 0x811c9dc5;
  update(bytes: Uint8Array): void {
    let h = this.value;
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
    this.value = h;
  }
}

/** Checksum of one buffer. */
export function checksum(bytes: Uint8Array): number {
  const sum = new Checksum();
  sum.update(bytes);
  return sum.value;
}

/** Options for a {@linkcode Recorder}. */
export interface RecorderOptions {
  /** Keep a copy of every byte (otherwise only the count and checksum). */
  keep?: boolean;
  /** Write every received chunk back. */
  echo?: boolean;
  /** Called after each chunk is recorded. */
  onData?: (chunk: Uint8Array) => void;
}

/** Installs handlers on a socket and records what they see. */
export class Recorder {
  readonly socket: Socket;
  received = 0;
  readonly checksum: Checksum = new Checksum();
  drains = 0;
  closes = 0;
  closeError: Error | undefined;
  readonly closed: Deferred<Error | undefined> = deferred();
  #kept: Uint8Array[] | undefined;
  #byteWaiters: { bytes: number; deferred: Deferred<void> }[] = [];
  #drainWaiter: Deferred<void> | undefined;

  constructor(socket: Socket, options: RecorderOptions = {}) {
    this.socket = socket;
    if (options.keep === true) this.#kept = [];
    socket.setHandlers({
      onData: (chunk) => {
        this.received += chunk.length;
        this.checksum.update(chunk);
        this.#kept?.push(chunk.slice());
        if (options.echo === true) socket.write(chunk);
        options.onData?.(chunk);
        this.#byteWaiters = this.#byteWaiters.filter((waiter) => {
          if (this.received < waiter.bytes) return true;
          waiter.deferred.resolve();
          return false;
        });
      },
      onDrain: () => {
        this.drains++;
        const waiter = this.#drainWaiter;
        this.#drainWaiter = undefined;
        waiter?.resolve();
      },
      onClose: (error) => {
        this.closes++;
        this.closeError = error;
        this.closed.resolve(error);
        for (const waiter of this.#byteWaiters) {
          waiter.deferred.reject(new Error(`Socket closed after ${this.received} bytes`));
        }
        this.#byteWaiters = [];
      },
    });
  }

  /** All bytes received so far (needs `keep`). */
  data(): Uint8Array {
    const kept = this.#kept ?? [];
    const result = new Uint8Array(kept.reduce((sum, chunk) => sum + chunk.length, 0));
    let offset = 0;
    for (const chunk of kept) {
      result.set(chunk, offset);
      offset += chunk.length;
    }
    return result;
  }

  /** Resolve once `bytes` bytes in total have arrived. */
  untilReceived(bytes: number): Promise<void> {
    if (this.received >= bytes) return Promise.resolve();
    const waiter = { bytes, deferred: deferred<void>() };
    this.#byteWaiters.push(waiter);
    return waiter.deferred.promise;
  }

  /** Resolve at the next `onDrain`. */
  untilDrain(): Promise<void> {
    this.#drainWaiter ??= deferred();
    return this.#drainWaiter.promise;
  }
}

/** A listener and one connection to it, all closed by `t.after()`. */
export interface Connection {
  listener: Listener;
  client: Socket;
  server: Socket;
}

/** Options for {@linkcode openConnection}. */
export interface OpenOptions {
  /** TLS for the listener. */
  serverTls?: TlsOptions;
  /** TLS for the client. */
  clientTls?: TlsOptions;
  /** Host name the client connects to. Defaults to `127.0.0.1`. */
  hostname?: string;
  /** Called with the server socket as it is accepted, before anything else. */
  onAccept?: (socket: Socket) => void;
}

/** Listen on 127.0.0.1 port 0 and connect to it. */
export async function openConnection(
  t: Context,
  adapter: SocketAdapter,
  options: OpenOptions = {},
): Promise<Connection> {
  const accepted = deferred<Socket>();
  const listenOptions: ListenOptions = { hostname: "127.0.0.1", port: 0 };
  if (options.serverTls !== undefined) listenOptions.tls = options.serverTls;
  const listener = await adapter.listen(listenOptions, (socket) => {
    t.after(() => socket.destroy());
    options.onAccept?.(socket);
    accepted.resolve(socket);
  });
  t.after(() => listener.close());
  const connectOptions: ConnectOptions = {
    hostname: options.hostname ?? "127.0.0.1",
    port: listener.address.port,
  };
  if (options.clientTls !== undefined) connectOptions.tls = options.clientTls;
  const client = await adapter.connect(connectOptions);
  t.after(() => client.destroy());
  const server = await accepted.promise;
  return { listener, client, server };
}

/** Write `data` in `chunkSize` pieces, waiting for `onDrain` whenever `write()` says so. */
export async function writeAll(
  recorder: Recorder,
  data: Uint8Array,
  chunkSize: number,
  onBackpressure?: () => void,
): Promise<number> {
  let refusals = 0;
  for (let offset = 0; offset < data.length; offset += chunkSize) {
    const drained = recorder.untilDrain();
    if (!recorder.socket.write(data.subarray(offset, offset + chunkSize))) {
      refusals++;
      onBackpressure?.();
      await drained;
    }
  }
  return refusals;
}
