/**
 * The Deno socket adapter, over `Deno.connect`, `Deno.listen`, `Deno.connectTls`,
 * `Deno.startTls` and `Deno.listenTls`.
 *
 * The `Deno` global is looked up on first use, through the small interfaces declared
 * here, so this module type-checks without Deno's types and can be imported (unused)
 * under Node and Bun.
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

interface DenoNetAddr {
  transport?: string;
  hostname?: string;
  port?: number;
  path?: string | null;
}

interface DenoConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  close(): void;
  closeWrite(): Promise<void>;
  readonly localAddr: DenoNetAddr;
  readonly remoteAddr: DenoNetAddr;
  setNoDelay?(noDelay?: boolean): void;
  handshake?(): Promise<unknown>;
}

interface DenoListener {
  accept(): Promise<DenoConn>;
  close(): void;
  readonly addr: DenoNetAddr;
}

interface DenoConnectOptions {
  hostname: string;
  port: number;
  transport: "tcp";
  signal?: AbortSignal;
}

interface DenoConnectTlsOptions {
  hostname: string;
  port: number;
  caCerts?: string[];
  alpnProtocols?: string[];
  cert?: string;
  key?: string;
}

interface DenoStartTlsOptions {
  hostname: string;
  caCerts?: string[];
  alpnProtocols?: string[];
}

interface DenoListenOptions {
  hostname: string;
  port: number;
  transport: "tcp";
}

interface DenoListenTlsOptions extends DenoListenOptions {
  cert: string;
  key: string;
  alpnProtocols?: string[];
}

interface DenoUnixConnectOptions {
  transport: "unix";
  path: string;
}

interface DenoNamespace {
  connect(options: DenoConnectOptions | DenoUnixConnectOptions): Promise<DenoConn>;
  connectTls(options: DenoConnectTlsOptions): Promise<DenoConn>;
  startTls(conn: DenoConn, options: DenoStartTlsOptions): Promise<DenoConn>;
  listen(options: DenoListenOptions): DenoListener;
  listenTls(options: DenoListenTlsOptions): DenoListener;
}

function getDeno(): DenoNamespace {
  const deno = (globalThis as { Deno?: DenoNamespace }).Deno;
  if (deno === undefined) {
    throw new TypeError('Cannot use the Deno socket adapter: "Deno" is not defined');
  }
  return deno;
}

/** Size of the reusable read buffer. */
const READ_SIZE = 64 * 1024;
/** First read buffer of a socket; doubled (up to `READ_SIZE`) each time a read fills it. */
const FIRST_READ_SIZE = 512;
/** Queued bytes past which `write()` returns `false`. */
const HIGH_WATER_MARK = 64 * 1024;
/** Smallest write queue allocated. */
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

function toAddress(addr: DenoNetAddr, transport: "tcp" | "tls"): SocketAddress {
  if (addr.transport === "unix") {
    return { transport: "unix", hostname: addr.path ?? "", port: 0 };
  }
  return { transport, hostname: addr.hostname ?? "", port: addr.port ?? 0 };
}

/**
 * A Deno connection behind the {@linkcode Socket} contract.
 *
 * `conn.write()` is asynchronous, so `write()` copies into one queue and a pump keeps at
 * most one `conn.write()` outstanding, each covering everything queued so far (partial
 * writes leave the rest at the head of the queue). The bytes of an outstanding write are
 * never moved or overwritten: when the queue must grow or compact during one, a new
 * buffer is allocated instead.
 */
class DenoSocket implements Socket {
  #conn: DenoConn;
  #encrypted: boolean;
  #handlers: SocketHandlers | undefined;
  #ready = false;
  #paused = false;
  #resumeWaiter: (() => void) | undefined;
  #state = OPEN;
  #error: Error | undefined;
  #closeNotified = false;
  #reading = false;
  #readEnded = false;
  #writeEnded = false;
  /** Queued bytes are `#out[#start, #end)`; the first `#inflight` of them are being written. */
  #out: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  #inflight = 0;
  #pumping = false;
  #scheduled = false;
  #needDrain = false;
  #local: SocketAddress;
  #remote: SocketAddress;

  constructor(conn: DenoConn, encrypted: boolean) {
    this.#conn = conn;
    this.#encrypted = encrypted;
    const transport = encrypted ? "tls" : "tcp";
    this.#local = toAddress(conn.localAddr, transport);
    this.#remote = toAddress(conn.remoteAddr, transport);
    try {
      conn.setNoDelay?.(true);
    } catch {
      // Not every connection kind supports it.
    }
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
    return this.#local;
  }

  setHandlers(handlers: SocketHandlers): void {
    this.#handlers = handlers;
    if (this.#ready) return;
    this.#ready = true;
    if (this.#state === CLOSED) {
      queueMicrotask(this.#notifyClose);
      return;
    }
    // Reading starts here, so bytes wait in the kernel until someone takes them.
    void this.#readLoop();
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
    if (!this.#pumping && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#startPump);
    }
    return offset;
  }

  get writeQueue(): Uint8Array {
    return this.#out;
  }

  close(): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    // A running or scheduled pump shuts the write side down once the queue is flushed.
    if (!this.#pumping && !this.#scheduled) void this.#pump();
  }

  destroy(error?: Error): void {
    this.#finish(error);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#wake();
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
    if (this.#inflight === 0 && queued + n <= this.#out.length) {
      this.#out.copyWithin(0, this.#start, this.#end);
    } else {
      const next = new Uint8Array(Math.max(this.#out.length * 2, queued + n, MIN_BUFFER));
      next.set(this.#out.subarray(this.#start, this.#end));
      this.#out = next;
    }
    this.#start = 0;
    this.#end = queued;
  }

  #startPump = (): void => {
    this.#scheduled = false;
    if (!this.#pumping && this.#state !== CLOSED) void this.#pump();
  };

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#end > this.#start) {
        this.#inflight = this.#end - this.#start;
        const written = await this.#conn.write(this.#out.subarray(this.#start, this.#end));
        this.#inflight = 0;
        if (this.#state === CLOSED) return;
        this.#start += written;
        if (this.#start === this.#end) {
          this.#start = this.#end = 0;
          const out = this.#out;
          this.#out = EMPTY;
          pool.give(out);
        }
      }
    } catch (error) {
      this.#inflight = 0;
      this.#finish(toError(error));
      return;
    } finally {
      this.#pumping = false;
    }
    if (this.#state === CLOSING) {
      await this.#shutdownWrite();
    } else if (this.#needDrain && this.#state === OPEN) {
      this.#needDrain = false;
      try {
        this.#handlers?.onDrain?.();
      } catch (error) {
        this.#finish(toError(error));
      }
    }
  }

  async #shutdownWrite(): Promise<void> {
    try {
      await this.#conn.closeWrite();
    } catch {
      // The peer may have gone already; closing finishes either way.
    }
    if (this.#state === CLOSED) return;
    this.#writeEnded = true;
    // Wait for the peer's end of stream (when reading) so unread bytes do not turn the
    // close into a reset.
    if (this.#readEnded || !this.#reading) this.#finish(undefined);
  }

  async #readLoop(): Promise<void> {
    this.#reading = true;
    // Small at first: an idle connection (most of a broker's) keeps little memory.
    let buffer = new Uint8Array(FIRST_READ_SIZE);
    try {
      while (true) {
        while (this.#paused && this.#state !== CLOSED) await this.#waitResume();
        if (this.#state === CLOSED) return;
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        while (this.#paused && this.#state !== CLOSED) await this.#waitResume();
        if (this.#state === CLOSED) return;
        this.#handlers?.onData?.(buffer.subarray(0, n));
        if (n === buffer.length && buffer.length < READ_SIZE) {
          buffer = new Uint8Array(buffer.length * 2);
        }
      }
    } catch (error) {
      this.#finish(toError(error));
      return;
    }
    this.#reading = false;
    this.#readEnded = true;
    // The peer closed: flush what is queued, then close (no half-open sockets).
    if (this.#state === OPEN) this.close();
    else if (this.#writeEnded) this.#finish(undefined);
  }

  #waitResume(): Promise<void> {
    return new Promise((resolve) => {
      this.#resumeWaiter = resolve;
    });
  }

  #wake(): void {
    const waiter = this.#resumeWaiter;
    this.#resumeWaiter = undefined;
    waiter?.();
  }

  #finish(error: Error | undefined): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#error = error;
    this.#out = EMPTY;
    this.#start = this.#end = 0;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.#wake();
    if (this.#ready) queueMicrotask(this.#notifyClose);
  }

  #notifyClose = (): void => {
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    const handlers = this.#handlers;
    this.#handlers = undefined;
    handlers?.onClose?.(this.#error);
  };
}

class DenoTcpListener implements Listener {
  #listener: DenoListener;
  #encrypted: boolean;
  #closed = false;
  readonly address: SocketAddress;

  constructor(listener: DenoListener, encrypted: boolean, onAccept: AcceptHandler) {
    this.#listener = listener;
    this.#encrypted = encrypted;
    this.address = toAddress(listener.addr, encrypted ? "tls" : "tcp");
    void this.#acceptLoop(onAccept);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
    }
    return Promise.resolve();
  }

  async #acceptLoop(onAccept: AcceptHandler): Promise<void> {
    while (!this.#closed) {
      let conn: DenoConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        if (this.#closed) return;
        // A transient failure (out of file descriptors): back off instead of spinning.
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      const socket = new DenoSocket(conn, this.#encrypted);
      try {
        onAccept(socket);
      } catch (error) {
        socket.destroy(toError(error));
      }
    }
  }
}

function caList(config: TlsOptions): string[] | undefined {
  if (config.ca === undefined) return undefined;
  return typeof config.ca === "string" ? [config.ca] : config.ca;
}

async function openTls(
  deno: DenoNamespace,
  options: ConnectOptions,
  config: TlsOptions,
): Promise<DenoConn> {
  if (config.insecure === true) {
    throw new TypeError(
      'Cannot connect with TLS on Deno: "insecure" is not supported (run Deno with --unsafely-ignore-certificate-errors instead)',
    );
  }
  if ((config.cert === undefined) !== (config.key === undefined)) {
    throw new TypeError('Cannot connect with TLS: "cert" and "key" must be given together');
  }
  const caCerts = caList(config);
  const { hostname, port } = options;
  let conn: DenoConn;
  if (config.serverName !== undefined && config.serverName !== hostname) {
    // connectTls() takes the server name from the host name; startTls() lets them differ.
    if (config.cert !== undefined) {
      throw new TypeError(
        'Cannot connect with TLS on Deno: a client certificate cannot be combined with "serverName"',
      );
    }
    const tcp = await deno.connect(tcpOptions(options));
    const start: DenoStartTlsOptions = { hostname: config.serverName };
    if (caCerts !== undefined) start.caCerts = caCerts;
    if (config.alpnProtocols !== undefined) start.alpnProtocols = config.alpnProtocols;
    try {
      conn = await deno.startTls(tcp, start);
    } catch (error) {
      closeQuietly(tcp);
      throw error;
    }
  } else {
    const tlsOptions: DenoConnectTlsOptions = { hostname, port };
    if (caCerts !== undefined) tlsOptions.caCerts = caCerts;
    if (config.alpnProtocols !== undefined) tlsOptions.alpnProtocols = config.alpnProtocols;
    if (config.cert !== undefined && config.key !== undefined) {
      tlsOptions.cert = config.cert;
      tlsOptions.key = config.key;
    }
    conn = await deno.connectTls(tlsOptions);
  }
  try {
    // Surface certificate errors here rather than on the first read.
    await conn.handshake?.();
  } catch (error) {
    closeQuietly(conn);
    throw error;
  }
  return conn;
}

function tcpOptions(options: ConnectOptions): DenoConnectOptions {
  const result: DenoConnectOptions = {
    hostname: options.hostname,
    port: options.port,
    transport: "tcp",
  };
  if (options.signal !== undefined) result.signal = options.signal;
  return result;
}

function closeQuietly(conn: DenoConn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

async function connect(options: ConnectOptions): Promise<Socket> {
  const { hostname, port, signal, path } = options;
  signal?.throwIfAborted();
  if (options.localAddress !== undefined) {
    throw new TypeError(
      `Cannot connect from "${options.localAddress}": a local address is not supported by this runtime`,
    );
  }
  if (path !== undefined && options.tls !== undefined) {
    throw new TypeError(`Cannot connect to "${path}": a unix socket takes no TLS`);
  }
  const deno = getDeno();
  let conn: DenoConn;
  try {
    conn = path !== undefined
      ? await deno.connect({ transport: "unix", path })
      : options.tls === undefined
      ? await deno.connect(tcpOptions(options))
      : await openTls(deno, options, options.tls);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (error instanceof TypeError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    const where = path ?? `${hostname}:${port}`;
    throw new Error(`Cannot connect to "${where}": ${message}`, { cause: error });
  }
  if (signal?.aborted) {
    closeQuietly(conn);
    throw signal.reason;
  }
  return new DenoSocket(conn, options.tls !== undefined);
}

function listen(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener> {
  if (options.path !== undefined) {
    return Promise.reject(
      new TypeError(`Cannot listen on "${options.path}": the Deno adapter has no unix listeners`),
    );
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const config = options.tls;
  let listener: DenoListener;
  try {
    const deno = getDeno();
    const base: DenoListenOptions = { hostname, port: options.port, transport: "tcp" };
    if (config === undefined) {
      listener = deno.listen(base);
    } else {
      if (config.cert === undefined || config.key === undefined) {
        throw new TypeError('Cannot listen with TLS: "cert" and "key" are required');
      }
      if (config.requireCertificate === true) {
        throw new TypeError(
          'Cannot listen with TLS on Deno: "requireCertificate" is not supported',
        );
      }
      if (config.minVersion !== undefined) {
        throw new TypeError('Cannot listen with TLS on Deno: "minVersion" is not supported');
      }
      const tlsOptions: DenoListenTlsOptions = { ...base, cert: config.cert, key: config.key };
      if (config.alpnProtocols !== undefined) tlsOptions.alpnProtocols = config.alpnProtocols;
      listener = deno.listenTls(tlsOptions);
    }
  } catch (error) {
    if (error instanceof TypeError) return Promise.reject(error);
    const message = error instanceof Error ? error.message : String(error);
    return Promise.reject(
      new Error(`Cannot listen on "${hostname}:${options.port}": ${message}`, { cause: error }),
    );
  }
  return Promise.resolve(new DenoTcpListener(listener, config !== undefined, onAccept));
}

/**
 * The socket adapter over Deno's own TCP and TLS APIs. Deno's TLS has no per-connection
 * `insecure` option and no client-certificate verification on listeners; those options
 * are rejected with a `TypeError`.
 *
 * @example Echo over loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { denoAdapter } from "./deno.ts";
 *
 * const listener = await denoAdapter.listen({ port: 0 }, (socket) => {
 *   socket.setHandlers({ onData: (chunk) => socket.write(chunk) });
 * });
 * const socket = await denoAdapter.connect({ hostname: "127.0.0.1", port: listener.address.port });
 * const echoed = new Promise<Uint8Array>((resolve) => {
 *   socket.setHandlers({ onData: (chunk) => resolve(chunk.slice()) });
 * });
 * socket.write(new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await echoed, new Uint8Array([1, 2, 3]));
 * socket.destroy();
 * await listener.close();
 * ```
 */
export const denoAdapter: SocketAdapter = { name: "deno", connect, listen };
