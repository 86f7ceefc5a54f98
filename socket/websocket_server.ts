// This module is browser compatible.
/**
 * The server side of WebSocket (RFC 6455) over any byte {@linkcode Socket}: a TCP or TLS
 * connection from a runtime adapter, or a memory pair. {@linkcode acceptWebSocket} reads the
 * HTTP/1.1 upgrade request, answers it, and hands over a {@linkcode Socket} that speaks
 * binary frames, so the broker serves MQTT over `ws://` and `wss://` on every runtime with
 * the listeners it already has, and no dependency.
 *
 * Plain HTTP requests (no `Upgrade: websocket`) can be answered by an `http` callback, for
 * example a health endpoint; every connection carries at most one such request.
 *
 * @module
 */

import {
  encodeResponse,
  hasToken,
  headEnd,
  type ParsedRequest,
  parseHead,
  REASONS,
  TOKEN,
} from "./_http.ts";
import { sha1 } from "./_sha1.ts";
import { ServerWebSocket } from "./_websocket_socket.ts";
import type { Socket, SocketAddress } from "./types.ts";

export { WebSocketCloseCode, WebSocketError } from "./_websocket_socket.ts";

/** A plain HTTP request (one not asking for a WebSocket), given to the `http` callback. */
export interface HttpRequest {
  /** The method, as sent (`"GET"`, `"HEAD"`...). */
  method: string;
  /** The path of the request target, without the query: `"/health"`. */
  path: string;
  /** The query of the request target without its `?`, or `""`. */
  query: string;
  /**
   * Header fields by lower-case name. Repeated fields are joined with `", "` (RFC 9110
   * 5.3).
   */
  headers: Map<string, string>;
  /** The peer's address (the raw socket's). */
  remoteAddress: SocketAddress;
}

/** The answer to an {@linkcode HttpRequest}. The connection is closed once it is sent. */
export interface HttpResponse {
  /** Status code, 200 to 599. */
  status: number;
  /**
   * Extra header fields. `Content-Length` and `Connection: close` are set by this module
   * (given ones are dropped); `Content-Type` defaults to `text/plain; charset=utf-8` for a
   * string body.
   */
  headers?: Record<string, string> | undefined;
  /** The body; a string is sent as UTF-8. Not sent in answer to `HEAD`. */
  body?: Uint8Array | string | undefined;
}

/** Options for {@linkcode acceptWebSocket}. */
export interface WebSocketServerOptions {
  /**
   * Request path that is upgraded to a WebSocket, compared without the query. Default
   * `"/mqtt"`; `""` or `"*"` accepts any path (as mosquitto does). Upgrade requests for
   * other paths get `404`.
   */
  path?: string | undefined;
  /**
   * Subprotocols accepted, in order of preference; default `["mqtt", "mqttv3.1"]` (those of
   * mosquitto). The first of these the client offers is selected, so `mqtt` wins whenever
   * offered [MQTT-6.0.0-4]. A request offering only others gets `400` (libwebsockets, behind
   * mosquitto 2.0, drops it too). A request without a `Sec-WebSocket-Protocol` header is
   * accepted and the answer names no subprotocol (RFC 6455 4.2.2), as libwebsockets does;
   * such clients break [MQTT-6.0.0-3] but exist, and mosquitto 2.1's own server refuses
   * them.
   */
  protocols?: string[] | undefined;
  /**
   * Largest request head (request line and header fields) in bytes; default 8192. A longer
   * one gets `431` and the connection is closed.
   */
  maxHeaderBytes?: number | undefined;
  /**
   * Largest payload of one frame, and of one fragmented message, in bytes; default
   * 268,435,460 (the largest MQTT packet with its fixed header). A larger one closes the
   * connection with 1009. Payloads are passed on as they arrive, never buffered whole, so
   * this is a policy limit, not a memory one.
   */
  maxFrameSize?: number | undefined;
  /**
   * Milliseconds the client has to send a complete request head; default 10,000, 0 for
   * none. Past it the connection gets `408` and is closed. After a refused handshake, it is
   * also how long the connection may linger before it is destroyed.
   */
  handshakeTimeout?: number | undefined;
  /**
   * Answers requests that do not ask for a WebSocket (no `Upgrade: websocket`), e.g. a
   * health endpoint. Returning `undefined` (or having no callback) answers `426` for the
   * WebSocket path and `404` for any other; throwing or rejecting answers `500`.
   */
  http?:
    | ((request: HttpRequest) => HttpResponse | undefined | Promise<HttpResponse | undefined>)
    | undefined;
}

interface Settings {
  anyPath: boolean;
  path: string;
  protocols: string[];
  maxHeaderBytes: number;
  maxFrameSize: number;
  handshakeTimeout: number;
  http: WebSocketServerOptions["http"];
}

/** Appended to the key before hashing (RFC 6455 1.3). */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const DEFAULT_PATH = "/mqtt";
const DEFAULT_PROTOCOLS: readonly string[] = ["mqtt", "mqttv3.1"];
const DEFAULT_MAX_HEADER_BYTES = 8192;
const DEFAULT_MAX_FRAME_SIZE = 268_435_460;
const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** Smallest buffer for a request head arriving in pieces. */
const MIN_HEAD_BUFFER = 512;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Take over a freshly accepted raw socket: read its HTTP/1.1 upgrade request, answer
 * `101 Switching Protocols`, and call `onAccept` with a {@linkcode Socket} speaking
 * WebSocket. A request that cannot be upgraded gets an HTTP error (or the `http` callback's
 * answer) and the raw socket is closed; `onAccept` is then never called.
 *
 * The socket given to `onAccept` follows the whole contract of `socket/types.ts`:
 * - `write()` sends one unmasked binary frame per call and returns the raw socket's
 *   backpressure result; `onDrain`, `pause()`, `resume()` and `bufferedAmount` are the raw
 *   socket's.
 * - `onData` receives the payload of binary frames, piece by piece as it arrives:
 *   fragmented messages and frames split across reads are passed on without reassembly,
 *   since MQTT is a byte stream [MQTT-6.0.0-2].
 * - `close()` sends a close frame (1000), then closes the raw socket. A close frame from the
 *   peer is echoed and the raw socket closed; `onClose` then gets no error.
 * - Pings are answered with pongs; pongs are ignored.
 * - A protocol violation sends a close frame and closes the connection; `onClose` gets a
 *   {@linkcode WebSocketError} with the code: 1003 for a text frame [MQTT-6.0.0-1]; 1002
 *   for an unmasked frame (RFC 6455 5.1), reserved bits, an unknown opcode, a fragmented or
 *   over-125-byte control frame, or a continuation out of place; 1009 past `maxFrameSize`;
 *   1007 for a close reason that is not UTF-8.
 * - Its addresses are the raw socket's with transport `"websocket"`; `encrypted` and
 *   `peerCertificate()` (where the raw socket has it) are the raw socket's (`wss:` over a
 *   TLS listener).
 *
 * Extensions (`permessage-deflate`) are never agreed to, and `Origin` is not checked.
 *
 * @example Upgrade one end of a memory pair
 * ```ts
 * import assert from "node:assert/strict";
 * import { memoryPair } from "./memory.ts";
 * import type { Socket } from "./types.ts";
 * import { acceptWebSocket } from "./websocket_server.ts";
 *
 * const [client, server] = memoryPair();
 * const accepted = new Promise<Socket>((resolve) => acceptWebSocket(server, resolve));
 * const answer = new Promise<string>((resolve) => {
 *   client.setHandlers({ onData: (chunk) => resolve(new TextDecoder().decode(chunk)) });
 * });
 * client.write(new TextEncoder().encode(
 *   "GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n" +
 *     "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
 *     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
 * ));
 * assert.match(await answer, /^HTTP\/1\.1 101 /);
 * assert.match(await answer, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
 * const socket = await accepted;
 * assert.equal(socket.remoteAddress.transport, "websocket");
 * socket.destroy();
 * ```
 *
 * @example Serve a health endpoint next to MQTT
 * ```ts ignore
 * import { nodeAdapter } from "./node.ts";
 * import { acceptWebSocket } from "./websocket_server.ts";
 *
 * await nodeAdapter.listen({ port: 8080 }, (raw) =>
 *   acceptWebSocket(raw, (socket) => serveMqtt(socket), {
 *     http: (request) => request.path === "/health" ? { status: 200, body: "ok" } : undefined,
 *   }));
 * ```
 *
 * @param raw A freshly accepted socket on which nothing has been read yet.
 * @param onAccept Called with the WebSocket once the handshake has succeeded.
 * @param options Path, subprotocols, limits and the plain HTTP callback.
 * @returns Nothing; the outcome is reported through `onAccept`.
 */
export function acceptWebSocket(
  raw: Socket,
  onAccept: (socket: Socket) => void,
  options?: WebSocketServerOptions,
): void {
  if (typeof onAccept !== "function") {
    throw new TypeError("Cannot accept WebSocket: onAccept is not a function");
  }
  new Handshake(raw, onAccept, settings(options));
}

function settings(options: WebSocketServerOptions | undefined): Settings {
  const path = options?.path ?? DEFAULT_PATH;
  if (typeof path !== "string" || (path !== "" && path !== "*" && !path.startsWith("/"))) {
    throw new TypeError(
      `Cannot accept WebSocket: path "${path}" does not start with "/" (or is "" or "*")`,
    );
  }
  const protocols = options?.protocols ?? [...DEFAULT_PROTOCOLS];
  if (!Array.isArray(protocols) || protocols.length === 0) {
    throw new TypeError("Cannot accept WebSocket: protocols is not a non-empty array");
  }
  for (const protocol of protocols) {
    if (typeof protocol !== "string" || !TOKEN.test(protocol)) {
      throw new TypeError(`Cannot accept WebSocket: protocol "${protocol}" is not a token`);
    }
  }
  return {
    anyPath: path === "" || path === "*",
    path,
    protocols,
    maxHeaderBytes: positiveInteger("maxHeaderBytes", options?.maxHeaderBytes, 1) ??
      DEFAULT_MAX_HEADER_BYTES,
    maxFrameSize: positiveInteger("maxFrameSize", options?.maxFrameSize, 1) ??
      DEFAULT_MAX_FRAME_SIZE,
    handshakeTimeout: positiveInteger("handshakeTimeout", options?.handshakeTimeout, 0) ??
      DEFAULT_HANDSHAKE_TIMEOUT,
    http: options?.http,
  };
}

function positiveInteger(name: string, value: number | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Cannot accept WebSocket: ${name} "${value}" is out of range`);
  }
  return value;
}

/** `Sec-WebSocket-Accept` for a key (RFC 6455 4.2.2). */
function acceptKey(key: string): string {
  const digest = sha1(encoder.encode(key + ACCEPT_GUID));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Whether a response from the `http` callback is well formed (no header injection). */
function validResponse(response: HttpResponse): boolean {
  if (typeof response !== "object" || response === null) return false;
  const { status, headers, body } = response;
  if (!Number.isInteger(status) || status < 200 || status > 599) return false;
  if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array)) {
    return false;
  }
  if (headers === undefined) return true;
  if (typeof headers !== "object" || headers === null) return false;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name) || typeof value !== "string" || /[\0\r\n]/.test(value)) return false;
  }
  return true;
}

/** Reads the request head from a raw socket and answers it. */
class Handshake {
  #raw: Socket;
  #onAccept: (socket: Socket) => void;
  #settings: Settings;
  #buf: Uint8Array = EMPTY;
  #len = 0;
  /** Where the search for the end of the head resumes. */
  #scan = 0;
  #done = false;
  /** The request is a `HEAD`: answers carry no body. */
  #head = false;
  #rawClosed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(raw: Socket, onAccept: (socket: Socket) => void, settings: Settings) {
    this.#raw = raw;
    this.#onAccept = onAccept;
    this.#settings = settings;
    if (settings.handshakeTimeout > 0) {
      this.#timer = setTimeout(this.#onTimeout, settings.handshakeTimeout);
    }
    raw.setHandlers({ onData: this.#onData, onClose: this.#onClose });
  }

  #onData = (chunk: Uint8Array): void => {
    if (this.#done) return;
    const max = this.#settings.maxHeaderBytes;
    if (this.#len === 0) {
      // Usual case: the whole head in one chunk, parsed where it lies.
      const window = chunk.length > max ? chunk.subarray(0, max) : chunk;
      const end = headEnd(window, 0);
      if (end >= 0) {
        this.#finish(chunk.subarray(0, end), chunk.subarray(end), EMPTY);
        return;
      }
      if (chunk.length >= max) {
        this.#refuse(431);
        return;
      }
      this.#append(chunk);
      this.#scan = Math.max(0, this.#len - 2);
      return;
    }
    // Only up to max bytes are kept; what lies past them is needed only if the head ends.
    const taken = Math.min(chunk.length, max - this.#len);
    this.#append(chunk.subarray(0, taken));
    const data = this.#buf.subarray(0, this.#len);
    const end = headEnd(data, this.#scan);
    if (end >= 0) {
      this.#finish(data.subarray(0, end), data.subarray(end), chunk.subarray(taken));
      return;
    }
    if (this.#len >= max) {
      this.#refuse(431);
      return;
    }
    this.#scan = Math.max(0, this.#len - 2);
  };

  #append(bytes: Uint8Array): void {
    const needed = this.#len + bytes.length;
    if (needed > this.#buf.length) {
      const size = Math.min(
        this.#settings.maxHeaderBytes,
        Math.max(needed, this.#buf.length * 2, MIN_HEAD_BUFFER),
      );
      const next = new Uint8Array(size);
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    this.#buf.set(bytes, this.#len);
    this.#len = needed;
  }

  #onClose = (): void => {
    this.#rawClosed = true;
    this.#done = true;
    this.#stopTimer();
  };

  #onTimeout = (): void => {
    this.#timer = undefined;
    if (this.#done) {
      // A refused connection that the peer has not closed yet.
      this.#raw.destroy();
      return;
    }
    this.#refuse(408);
  };

  #stopTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Answer with an HTTP response and close; the timer, if any, then bounds the linger. */
  #respond(status: number, headers: Record<string, string>, body: Uint8Array | string): void {
    this.#done = true;
    this.#buf = EMPTY;
    this.#len = 0;
    if (this.#rawClosed) return;
    this.#raw.write(encodeResponse(status, headers, body, this.#head));
    this.#raw.close();
    this.#stopTimer();
    if (this.#settings.handshakeTimeout > 0 && !this.#rawClosed) {
      this.#timer = setTimeout(this.#onTimeout, this.#settings.handshakeTimeout);
    }
  }

  #refuse(status: number, headers: Record<string, string> = {}): void {
    this.#respond(status, headers, REASONS[status] ?? "");
  }

  #finish(head: Uint8Array, rest: Uint8Array, more: Uint8Array): void {
    this.#done = true;
    this.#stopTimer();
    const request = parseHead(head);
    if (request === undefined) {
      this.#refuse(400);
      return;
    }
    this.#head = request.method === "HEAD";
    const { headers } = request;
    const settings = this.#settings;
    const onPath = settings.anyPath || request.path === settings.path;
    if (!hasToken(headers.get("upgrade"), "websocket")) {
      this.#answerHttp(request, onPath);
      return;
    }
    if (!onPath) {
      this.#refuse(404);
      return;
    }
    if (request.method !== "GET") {
      this.#refuse(405, { Allow: "GET" });
      return;
    }
    // RFC 6455 4.2.1: HTTP/1.1 or later, Connection: Upgrade, version 13, a 16-byte key.
    if (request.version < 1 || !hasToken(headers.get("connection"), "upgrade")) {
      this.#refuse(400);
      return;
    }
    if (headers.get("sec-websocket-version") !== "13") {
      this.#refuse(426, { "Sec-WebSocket-Version": "13" });
      return;
    }
    const key = headers.get("sec-websocket-key");
    if (key === undefined || !KEY.test(key)) {
      this.#refuse(400);
      return;
    }
    let protocol: string | undefined;
    const offered = headers.get("sec-websocket-protocol");
    if (offered !== undefined) {
      const list = offered.split(",").map((item) => item.trim());
      protocol = settings.protocols.find((name) => list.includes(name));
      if (protocol === undefined) {
        this.#refuse(400);
        return;
      }
    }
    let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
      `Connection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
    if (protocol !== undefined) response += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
    this.#raw.write(encoder.encode(response + "\r\n"));
    const socket = new ServerWebSocket(this.#raw, settings.maxFrameSize);
    try {
      this.#onAccept(socket);
    } catch (error) {
      socket.destroy(error instanceof Error ? error : undefined);
      return;
    }
    socket.start(rest, more);
  }

  #answerHttp(request: ParsedRequest, onPath: boolean): void {
    const http = this.#settings.http;
    const fallback = (): void => {
      if (onPath) this.#refuse(426, { Upgrade: "websocket", Connection: "Upgrade" });
      else this.#refuse(404);
    };
    if (http === undefined) {
      fallback();
      return;
    }
    const answer = (response: HttpResponse | undefined): void => {
      if (response === undefined) {
        fallback();
      } else if (!validResponse(response)) {
        this.#refuse(500);
      } else {
        this.#respond(response.status, response.headers ?? {}, response.body ?? EMPTY);
      }
    };
    let result: HttpResponse | undefined | Promise<HttpResponse | undefined>;
    try {
      result = http({
        method: request.method,
        path: request.path,
        query: request.query,
        headers: request.headers,
        remoteAddress: this.#raw.remoteAddress,
      });
    } catch {
      this.#refuse(500);
      return;
    }
    if (result instanceof Promise) {
      // Until it settles, the connection is bounded by the handshake timer (restarted here).
      if (this.#settings.handshakeTimeout > 0) {
        this.#timer = setTimeout(this.#onTimeout, this.#settings.handshakeTimeout);
      }
      result.then(answer, () => this.#refuse(500));
      return;
    }
    answer(result);
  }
}
