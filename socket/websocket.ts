// This module is browser compatible.
/**
 * A WebSocket client {@linkcode Socket} over the standard global `WebSocket` (browsers,
 * Deno, Bun, Node 22+) or a given constructor of the same shape (npm's `ws` on Node 20),
 * speaking the `mqtt` subprotocol with binary frames.
 *
 * @module
 */

import type { Socket, SocketAddress, SocketHandlers } from "./types.ts";

/**
 * The part of a standard `WebSocket` object this module uses. The event handlers are only
 * assigned, never called here, hence their `never` parameters: any handler type fits.
 */
export interface WebSocketLike {
  /** Set to `"arraybuffer"`. */
  binaryType: string;
  /** Bytes queued and not yet sent. */
  readonly bufferedAmount: number;
  /** Called once open. */
  onopen: ((event: never) => void) | null;
  /** Called with each message; `data` must be an `ArrayBuffer` (binary frames). */
  onmessage: ((event: never) => void) | null;
  /** Called on an error, before `onclose`. */
  onerror: ((event: never) => void) | null;
  /** Called once closed, with `code` and `wasClean`. */
  onclose: ((event: never) => void) | null;
  /** Send a binary message. */
  send(data: Uint8Array): void;
  /** Start the closing handshake. */
  close(code?: number): void;
}

/**
 * A constructor with the shape of the standard `WebSocket`: the global one, or npm's `ws`
 * package's `WebSocket` where there is no global (Node 20).
 */
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

/** Options for {@linkcode webSocketConnect}. */
export interface WebSocketConnectOptions {
  /** Subprotocols to offer. Defaults to `["mqtt"]`. */
  protocols?: string[] | undefined;
  /** Abort the connection attempt. */
  signal?: AbortSignal | undefined;
  /**
   * The `WebSocket` constructor to use. Default: the global `WebSocket`. On Node 20, which
   * has none, pass `WebSocket` from npm's `ws` package.
   */
  webSocket?: WebSocketConstructor | undefined;
}

/** Bytes buffered (by us and the runtime) past which `write()` returns `false`. */
const HIGH_WATER_MARK = 64 * 1024;
/** `onDrain` fires once the runtime's buffer is down to this. */
const LOW_WATER_MARK = HIGH_WATER_MARK / 2;
/** How often `bufferedAmount` is checked while above the high-water mark, in milliseconds. */
const POLL_INTERVAL = 5;
/** Smallest staging buffer allocated. */
const MIN_BUFFER = 4096;
/** An emptied staging buffer larger than this is released. */
const MAX_IDLE_BUFFER = 4 * HIGH_WATER_MARK;

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

const EMPTY = new Uint8Array(0);
/** The standard WebSocket does not tell the local address. */
const UNKNOWN_LOCAL: SocketAddress = Object.freeze({
  transport: "websocket",
  hostname: "",
  port: 0,
});

/**
 * A connected WebSocket behind the {@linkcode Socket} contract.
 *
 * The writes of one turn are gathered into one staging buffer and sent as one binary
 * message a microtask later. `send()` copies its argument, so the staging buffer is reused.
 * WebSocket has no inbound flow control: while paused, messages are held here.
 */
class WebSocketSocket implements Socket {
  #ws: WebSocketLike;
  #encrypted: boolean;
  #remote: SocketAddress;
  #handlers: SocketHandlers | undefined;
  #ready = false;
  #paused = false;
  #held: Uint8Array[] = [];
  #state = OPEN;
  #error: Error | undefined;
  #closeNotified = false;
  #out: Uint8Array = EMPTY;
  #len = 0;
  #scheduled = false;
  #needDrain = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ws: WebSocketLike, url: URL) {
    this.#ws = ws;
    this.#encrypted = url.protocol === "wss:";
    this.#remote = {
      transport: "websocket",
      hostname: url.hostname,
      port: url.port === "" ? (this.#encrypted ? 443 : 80) : Number(url.port),
    };
    ws.onmessage = this.#onMessage;
    ws.onerror = this.#onError;
    ws.onclose = this.#onClose;
  }

  get closed(): boolean {
    return this.#state !== OPEN;
  }

  get bufferedAmount(): number {
    return this.#len + this.#ws.bufferedAmount;
  }

  get encrypted(): boolean {
    return this.#encrypted;
  }

  get remoteAddress(): SocketAddress {
    return this.#remote;
  }

  get localAddress(): SocketAddress {
    return UNKNOWN_LOCAL;
  }

  setHandlers(handlers: SocketHandlers): void {
    this.#handlers = handlers;
    if (this.#ready) return;
    this.#ready = true;
    if (this.#state === CLOSED) {
      queueMicrotask(this.#notifyClose);
    } else if (this.#held.length > 0) {
      queueMicrotask(this.#deliverHeld);
    }
  }

  write(data: Uint8Array): boolean {
    if (this.#state !== OPEN) return false;
    const n = data.length;
    if (n > 0) {
      const needed = this.#len + n;
      if (needed > this.#out.length) {
        const next = new Uint8Array(Math.max(needed, this.#out.length * 2, MIN_BUFFER));
        next.set(this.#out.subarray(0, this.#len));
        this.#out = next;
      }
      this.#out.set(data, this.#len);
      this.#len = needed;
      if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(this.#flush);
      }
    }
    if (this.#len + this.#ws.bufferedAmount < HIGH_WATER_MARK) return true;
    this.#needDrain = true;
    return false;
  }

  close(): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#flush();
    this.#stopTimer();
    // The closing handshake is queued behind the messages already sent.
    this.#ws.close(1000);
  }

  destroy(error?: Error): void {
    if (this.#state === CLOSED) return;
    this.#finish(error);
    // WebSocket cannot be aborted; closing is the nearest thing.
    try {
      this.#ws.close(1000);
    } catch {
      // Already closing.
    }
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#held.length > 0) queueMicrotask(this.#deliverHeld);
  }

  #flush = (): void => {
    this.#scheduled = false;
    if (this.#len === 0 || this.#state === CLOSED) return;
    this.#ws.send(this.#out.subarray(0, this.#len));
    this.#len = 0;
    if (this.#out.length > MAX_IDLE_BUFFER) this.#out = EMPTY;
    if (this.#needDrain && this.#state === OPEN) this.#checkDrain();
  };

  #checkDrain = (): void => {
    this.#timer = undefined;
    if (!this.#needDrain || this.#state !== OPEN) return;
    if (this.#ws.bufferedAmount > LOW_WATER_MARK) {
      this.#timer = setTimeout(this.#checkDrain, POLL_INTERVAL);
      return;
    }
    this.#needDrain = false;
    this.#handlers?.onDrain?.();
  };

  #stopTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onMessage = (event: { data: unknown }): void => {
    if (this.#state === CLOSED) return;
    const data = event.data;
    if (!(data instanceof ArrayBuffer)) {
      // MQTT over WebSocket is binary only [MQTT-6.0.0-1].
      this.destroy(new TypeError("Cannot receive WebSocket message: text frames are not allowed"));
      return;
    }
    const chunk = new Uint8Array(data);
    if (!this.#ready || this.#paused || this.#held.length > 0) {
      this.#held.push(chunk);
      return;
    }
    this.#handlers?.onData?.(chunk);
  };

  #deliverHeld = (): void => {
    while (this.#held.length > 0 && !this.#paused && this.#state !== CLOSED) {
      const chunk = this.#held.shift();
      if (chunk !== undefined) this.#handlers?.onData?.(chunk);
    }
  };

  #onError = (): void => {
    this.#error ??= new Error("Cannot continue WebSocket connection: transport error");
  };

  #onClose = (event: { code: number; wasClean: boolean }): void => {
    if (!event.wasClean) {
      this.#error ??= new Error(`WebSocket closed abnormally: code ${event.code}`);
    }
    this.#finish(this.#error);
  };

  #finish(error: Error | undefined): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#error = error;
    this.#stopTimer();
    this.#out = EMPTY;
    this.#len = 0;
    this.#ws.onmessage = null;
    if (this.#ready) queueMicrotask(this.#notifyClose);
  }

  #notifyClose = (): void => {
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    this.#held = [];
    const handlers = this.#handlers;
    this.#handlers = undefined;
    handlers?.onClose?.(this.#error);
  };
}

/**
 * Open a WebSocket connection (subprotocol `mqtt`, binary frames) and wrap it as a
 * {@linkcode Socket}. Uses `options.webSocket`, else the standard global `WebSocket`
 * (browsers, Deno, Bun, Node 22+); where there is none (Node 20) and no option, it rejects
 * with a `TypeError` saying to pass `webSocket` (e.g. npm's `ws` package's `WebSocket`).
 *
 * `write()` returns `false` once the bytes buffered by the runtime (`bufferedAmount`) pass
 * 64 KiB; while above, `bufferedAmount` is polled on a timer until it falls back and
 * `onDrain` fires.
 *
 * @example Connect to a broker over WebSocket
 * ```ts ignore
 * import { webSocketConnect } from "./websocket.ts";
 *
 * const socket = await webSocketConnect("ws://localhost:8080/mqtt");
 * socket.setHandlers({ onData: (chunk) => console.log(chunk.length) });
 * socket.close();
 * ```
 *
 * @example On Node 20, pass npm's `ws` package's `WebSocket`
 * ```ts ignore
 * import { WebSocket } from "ws";
 * import { webSocketConnect } from "./websocket.ts";
 *
 * const socket = await webSocketConnect("ws://localhost:8080/mqtt", { webSocket: WebSocket });
 * socket.close();
 * ```
 *
 * @example Rejects without a `ws:` or `wss:` URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { webSocketConnect } from "./websocket.ts";
 *
 * await assert.rejects(webSocketConnect("mqtt://localhost"), TypeError);
 * ```
 *
 * @param url A `ws:` or `wss:` URL.
 * @param options Subprotocols, an abort signal and the `WebSocket` constructor.
 * @returns The connected socket.
 */
export function webSocketConnect(url: string, options?: WebSocketConnectOptions): Promise<Socket> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    return Promise.reject(
      new TypeError(`Cannot connect to "${url}": invalid URL`, { cause: error }),
    );
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    return Promise.reject(
      new TypeError(`Cannot connect to "${url}": protocol "${parsed.protocol}" is not ws: or wss:`),
    );
  }
  const Ctor = options?.webSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (Ctor === undefined) {
    return Promise.reject(
      new TypeError(`Cannot connect to "${url}": no global WebSocket, pass the "webSocket" option`),
    );
  }
  const signal = options?.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<Socket>((resolve, reject) => {
    let ws: WebSocketLike;
    try {
      ws = new Ctor(url, options?.protocols ?? ["mqtt"]);
    } catch (error) {
      reject(error);
      return;
    }
    ws.binaryType = "arraybuffer";
    const cleanup = (): void => {
      ws.onopen = null;
      ws.onerror = null;
      ws.onclose = null;
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = (): void => {
      cleanup();
      ws.close();
      reject(signal?.reason);
    };
    ws.onopen = (): void => {
      cleanup();
      resolve(new WebSocketSocket(ws, parsed));
    };
    // An error is always followed by a close event.
    ws.onerror = null;
    ws.onclose = (event: { code: number }): void => {
      cleanup();
      reject(new Error(`Cannot connect to "${url}": closed with code ${event.code}`));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
