/**
 * The `node:net` / `node:tls` socket adapter. It runs under Node, and under Deno and Bun
 * through their Node compatibility layers.
 *
 * @module
 */

import * as net from "node:net";
import { setImmediate } from "node:timers";
import * as tls from "node:tls";
import type {
  AcceptHandler,
  ConnectOptions,
  Listener,
  ListenOptions,
  PeerCertificate,
  Socket,
  SocketAdapter,
  SocketAddress,
  SocketHandlers,
  TlsOptions,
} from "./types.ts";

/** Largest slab writes are copied into; the first is `FIRST_SLAB_SIZE`, then doubled. */
const SLAB_SIZE = 64 * 1024;
/** First slab of a socket: an idle connection (most of a broker's) keeps little memory. */
const FIRST_SLAB_SIZE = 2 * 1024;
/** Queued bytes (ours and Node's) past which `write()` returns `false`. */
const HIGH_WATER_MARK = 64 * 1024;

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

const EMPTY = new Uint8Array(0);

/**
 * A `node:net` socket behind the {@linkcode Socket} contract.
 *
 * Node keeps a reference to written buffers until the kernel takes them, but the contract
 * lets callers reuse theirs, so writes are copied into a slab. The writes of one turn are
 * handed to Node as one chunk (a microtask later); the slab is carved, never overwritten,
 * so one allocation serves many turns.
 */
class NodeSocket implements Socket {
  #socket: net.Socket;
  #encrypted: boolean;
  #handlers: SocketHandlers | undefined;
  #ready = false;
  #paused = false;
  #state = OPEN;
  #error: Error | undefined;
  #nodeClosed = false;
  #closeNotified = false;
  #slab: Uint8Array = EMPTY;
  /** Staged bytes are `#slab[#start, #end)`; bytes before `#start` belong to Node. */
  #start = 0;
  #end = 0;
  #scheduled = false;
  #needDrain = false;
  #local: SocketAddress;
  #remote: SocketAddress;

  constructor(socket: net.Socket, encrypted: boolean, path?: string) {
    this.#socket = socket;
    this.#encrypted = encrypted;
    const transport = path !== undefined ? "unix" : encrypted ? "tls" : "tcp";
    this.#local = {
      transport,
      hostname: socket.localAddress ?? "",
      port: socket.localPort ?? 0,
    };
    this.#remote = {
      transport,
      hostname: path ?? socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
    socket.setNoDelay(true);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
    socket.on("drain", this.#onDrain);
    if (socket.destroyed) this.#onClose();
  }

  get closed(): boolean {
    return this.#state !== OPEN;
  }

  get bufferedAmount(): number {
    return this.#end - this.#start + this.#socket.writableLength;
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

  peerCertificate(): PeerCertificate | undefined {
    if (!this.#encrypted) return undefined;
    const socket = this.#socket as tls.TLSSocket;
    if (socket.authorized !== true) return undefined;
    const subject = socket.getPeerCertificate()?.subject as unknown as
      | Record<string, string | string[]>
      | undefined;
    if (subject === undefined || Object.keys(subject).length === 0) return undefined;
    return describeSubject(subject);
  }

  setHandlers(handlers: SocketHandlers): void {
    this.#handlers = handlers;
    if (this.#ready) return;
    this.#ready = true;
    if (this.#nodeClosed) {
      queueMicrotask(this.#notifyClose);
      return;
    }
    // Node holds incoming bytes (with backpressure) until a data listener is attached. A
    // pause() made before this keeps the stream paused.
    this.#socket.on("data", this.#onData);
  }

  write(data: Uint8Array): boolean {
    if (this.#state !== OPEN) return false;
    const n = data.length;
    if (n > 0) {
      if (this.#end + n > this.#slab.length) {
        const staged = this.#end - this.#start;
        const size = this.#slab.length === 0
          ? FIRST_SLAB_SIZE
          : Math.min(SLAB_SIZE, this.#slab.length * 2);
        const next = new Uint8Array(Math.max(size, staged + n));
        next.set(this.#slab.subarray(this.#start, this.#end));
        this.#slab = next;
        this.#start = 0;
        this.#end = staged;
      }
      this.#slab.set(data, this.#end);
      this.#end += n;
      if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(this.#flush);
      }
    }
    if (this.#end - this.#start + this.#socket.writableLength < HIGH_WATER_MARK) return true;
    this.#needDrain = true;
    return false;
  }

  close(): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#flush();
    this.#socket.end();
    // Node only sees the peer's end of stream (and so emits "close") while reading.
    if (!this.#ready) this.#socket.resume();
  }

  destroy(error?: Error): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#slab = EMPTY;
    this.#start = this.#end = 0;
    if (error !== undefined) this.#error ??= error;
    this.#socket.destroy();
  }

  pause(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    // Without a data listener, resuming would let Node drop bytes on the floor.
    if (this.#ready) this.#socket.resume();
  }

  #flush = (): void => {
    this.#scheduled = false;
    if (this.#end === this.#start || this.#state === CLOSED) return;
    const chunk = this.#slab.subarray(this.#start, this.#end);
    this.#start = this.#end;
    // Node's own high-water mark may be lower than ours: when it says "stop", its "drain"
    // event (the buffer is empty) fires onDrain; when it does not, it holds less than ours.
    if (this.#socket.write(chunk) && this.#needDrain && this.#state === OPEN) {
      this.#needDrain = false;
      this.#handlers?.onDrain?.();
    }
  };

  #onData = (chunk: Uint8Array): void => {
    // A plain view: Buffer's slice() shares memory where Uint8Array's copies.
    this.#handlers?.onData?.(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  };

  #onDrain = (): void => {
    if (!this.#needDrain || this.#state !== OPEN || this.#end !== this.#start) return;
    this.#needDrain = false;
    this.#handlers?.onDrain?.();
  };

  #onError = (error: Error): void => {
    this.#error ??= error;
  };

  #onClose = (): void => {
    if (this.#nodeClosed) return;
    this.#nodeClosed = true;
    this.#state = CLOSED;
    this.#slab = EMPTY;
    this.#start = this.#end = 0;
    if (this.#ready) this.#notifyClose();
  };

  #notifyClose = (): void => {
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    const handlers = this.#handlers;
    this.#handlers = undefined;
    handlers?.onClose?.(this.#error);
  };
}

function isIpAddress(hostname: string): boolean {
  return net.isIP(hostname) !== 0;
}

function clientTlsOptions(options: ConnectOptions, config: TlsOptions): tls.ConnectionOptions {
  const result: tls.ConnectionOptions = {
    host: options.hostname,
    port: options.port,
    rejectUnauthorized: config.insecure !== true,
  };
  // RFC 6066 forbids IP addresses in SNI; Node still verifies the certificate against them.
  const serverName = config.serverName ?? options.hostname;
  if (!isIpAddress(serverName)) result.servername = serverName;
  if (config.ca !== undefined) result.ca = config.ca;
  if (config.cert !== undefined) result.cert = config.cert;
  if (config.key !== undefined) result.key = config.key;
  if (config.alpnProtocols !== undefined) result.ALPNProtocols = config.alpnProtocols;
  if (config.serverName !== undefined && isIpAddress(config.serverName)) {
    const name = config.serverName;
    result.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(name, cert);
  }
  return result;
}

// RFC 2253: attributes most specific first (the reverse of the certificate's order),
// special characters escaped.
function describeSubject(subject: Record<string, string | string[]>): PeerCertificate {
  const escape = (v: string): string =>
    v.replace(/[,+"\\<>;=]/g, "\\$&").replace(/^[ #]/, "\\$&").replace(/ $/, "\\ ");
  const parts: string[] = [];
  for (const [key, value] of Object.entries(subject).reverse()) {
    for (const v of Array.isArray(value) ? [...value].reverse() : [value]) {
      parts.push(`${key}=${escape(v)}`);
    }
  }
  const cn = subject.CN;
  const result: PeerCertificate = { subject: parts.join(",") };
  const commonName = Array.isArray(cn) ? cn[cn.length - 1] : cn;
  if (commonName !== undefined) result.commonName = commonName;
  return result;
}

function serverTlsOptions(config: TlsOptions): tls.TlsOptions {
  if (config.cert === undefined || config.key === undefined) {
    throw new TypeError('Cannot listen with TLS: "cert" and "key" are required');
  }
  const result: tls.TlsOptions = { cert: config.cert, key: config.key };
  if (config.ca !== undefined) result.ca = config.ca;
  if (config.alpnProtocols !== undefined) result.ALPNProtocols = config.alpnProtocols;
  if (config.requireCertificate === true) {
    result.requestCert = true;
    result.rejectUnauthorized = true;
  }
  if (config.minVersion !== undefined) result.minVersion = config.minVersion;
  return result;
}

function connect(options: ConnectOptions): Promise<Socket> {
  const { hostname, port, signal, path, localAddress } = options;
  const config = options.tls;
  return new Promise<Socket>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    if (path !== undefined && (config !== undefined || localAddress !== undefined)) {
      reject(
        new TypeError(`Cannot connect to "${path}": a unix socket takes no TLS or local address`),
      );
      return;
    }
    let socket: net.Socket;
    if (path !== undefined) {
      socket = net.connect({ path });
    } else if (config === undefined) {
      socket = net.connect(
        localAddress === undefined
          ? { host: hostname, port }
          : { host: hostname, port, localAddress },
      );
    } else {
      const tlsOptions = clientTlsOptions(options, config);
      // tls.connect() hands the TCP options, localAddress included, on to net.connect().
      if (localAddress !== undefined) Object.assign(tlsOptions, { localAddress });
      socket = tls.connect(tlsOptions);
    }
    const connectEvent = config === undefined ? "connect" : "secureConnect";
    const cleanup = (): void => {
      socket.off(connectEvent, onConnect);
      socket.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    const onConnect = (): void => {
      cleanup();
      resolve(new NodeSocket(socket, config !== undefined, path));
    };
    const onError = (error: Error): void => {
      cleanup();
      socket.destroy();
      const where = path ?? `${hostname}:${port}`;
      reject(new Error(`Cannot connect to "${where}": ${error.message}`, { cause: error }));
    };
    const onAbort = (): void => {
      cleanup();
      socket.destroy();
      reject(signal?.reason);
    };
    socket.on(connectEvent, onConnect);
    socket.on("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

class NodeListener implements Listener {
  #server: net.Server;
  #closed = false;
  readonly address: SocketAddress;

  constructor(server: net.Server, encrypted: boolean, path?: string) {
    this.#server = server;
    const bound = server.address();
    this.address = path !== undefined ? { transport: "unix", hostname: path, port: 0 } : {
      transport: encrypted ? "tls" : "tcp",
      hostname: typeof bound === "object" && bound !== null ? bound.address : "",
      port: typeof bound === "object" && bound !== null ? bound.port : 0,
    };
  }

  updateTls(config: TlsOptions): void {
    if (!(this.#server instanceof tls.Server)) {
      throw new TypeError("Cannot update TLS: the listener is not a TLS listener");
    }
    this.#server.setSecureContext(serverTlsOptions(config));
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    // The callback of server.close() waits for every open connection; the contract leaves
    // those alone, so resolve once the listening handle is closed.
    this.#server.close(ignore);
    return new Promise((resolve) => setImmediate(resolve));
  }
}

function ignore(): void {}

function listen(options: ListenOptions, onAccept: AcceptHandler): Promise<Listener> {
  const config = options.tls;
  let server: net.Server;
  try {
    server = config === undefined
      ? net.createServer({ noDelay: true })
      : tls.createServer(serverTlsOptions(config));
  } catch (error) {
    return Promise.reject(error);
  }
  const encrypted = config !== undefined;
  const path = options.path;
  if (path !== undefined && encrypted) {
    return Promise.reject(new TypeError(`Cannot listen on "${path}": a unix socket takes no TLS`));
  }
  const accept = (socket: net.Socket): void => {
    const wrapped = new NodeSocket(socket, encrypted, path);
    try {
      onAccept(wrapped);
    } catch (error) {
      wrapped.destroy(error instanceof Error ? error : undefined);
    }
  };
  server.on(encrypted ? "secureConnection" : "connection", accept);
  // A failed handshake destroys its socket; the listener carries on.
  if (encrypted) server.on("tlsClientError", ignore);
  const hostname = options.hostname ?? "127.0.0.1";
  return new Promise<Listener>((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off("listening", onListening);
      reject(
        new Error(`Cannot listen on "${path ?? `${hostname}:${options.port}`}": ${error.message}`, {
          cause: error,
        }),
      );
    };
    const onListening = (): void => {
      server.off("error", onError);
      server.on("error", ignore);
      resolve(new NodeListener(server, encrypted, path));
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(path !== undefined ? { path } : { host: hostname, port: options.port });
  });
}

/**
 * The socket adapter over `node:net` and `node:tls`.
 *
 * @example Echo over loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodeAdapter } from "./node.ts";
 *
 * const listener = await nodeAdapter.listen({ port: 0 }, (socket) => {
 *   socket.setHandlers({ onData: (chunk) => socket.write(chunk) });
 * });
 * const socket = await nodeAdapter.connect({ hostname: "127.0.0.1", port: listener.address.port });
 * const echoed = new Promise<Uint8Array>((resolve) => {
 *   socket.setHandlers({ onData: (chunk) => resolve(chunk.slice()) });
 * });
 * socket.write(new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await echoed, new Uint8Array([1, 2, 3]));
 * socket.destroy();
 * await listener.close();
 * ```
 */
export const nodeAdapter: SocketAdapter = { name: "node", connect, listen };
