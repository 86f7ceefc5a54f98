import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { WebSocket as WsWebSocket } from "ws";
import { makeCredentials, opensslSkip } from "../tests/conformance/_tls.ts";
import { describe, test } from "../tests/_testing.ts";
import { memoryPair } from "./memory.ts";
import { nodeAdapter } from "./node.ts";
import { loadTcpAdapter } from "./runtime.ts";
import type { Socket, SocketAdapter } from "./types.ts";
import { webSocketConnect, type WebSocketConstructor } from "./websocket.ts";
import {
  acceptWebSocket,
  type HttpRequest,
  WebSocketCloseCode,
  WebSocketError,
  type WebSocketServerOptions,
} from "./websocket_server.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const MASK = [0x37, 0xfa, 0x21, 0x3d];

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + seed * 17 + (i >> 8)) & 0xff;
  return out;
}

/** An upgrade request; a header given as `undefined` is left out. */
function request(
  options: { method?: string; path?: string; headers?: Record<string, string | undefined> } = {},
): string {
  const headers: Record<string, string | undefined> = {
    Host: "localhost",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": KEY,
    "Sec-WebSocket-Protocol": "mqtt",
    ...options.headers,
  };
  let text = `${options.method ?? "GET"} ${options.path ?? "/mqtt"} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) text += `${name}: ${value}\r\n`;
  }
  return text + "\r\n";
}

function plainRequest(path: string, method = "GET"): string {
  return `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n`;
}

interface FrameOptions {
  fin?: boolean;
  rsv?: number;
  masked?: boolean;
  /** Force a length encoding: 7-bit, 16-bit or 64-bit. */
  lengthBits?: 7 | 16 | 64;
  /** Overwrite the 64-bit length's high 32 bits. */
  high?: number;
}

/** A client frame, masked with {@linkcode MASK} unless `masked` is false. */
function frame(
  opcode: number,
  payload: Uint8Array | string,
  options: FrameOptions = {},
): Uint8Array {
  const data = typeof payload === "string" ? bytes(payload) : payload;
  const n = data.length;
  const masked = options.masked ?? true;
  const bits = options.lengthBits ?? (n < 126 ? 7 : n < 0x10000 ? 16 : 64);
  const header: number[] = [
    ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode,
  ];
  const maskBit = masked ? 0x80 : 0;
  if (bits === 7) {
    header.push(maskBit | n);
  } else if (bits === 16) {
    header.push(maskBit | 126, n >>> 8, n & 0xff);
  } else {
    const high = options.high ?? Math.floor(n / 0x1_0000_0000);
    header.push(maskBit | 127, high >>> 24 & 0xff, high >>> 16 & 0xff, high >>> 8 & 0xff);
    header.push(high & 0xff, n >>> 24 & 0xff, n >>> 16 & 0xff, n >>> 8 & 0xff, n & 0xff);
  }
  if (masked) header.push(...MASK);
  const out = new Uint8Array(header.length + n);
  out.set(header);
  for (let i = 0; i < n; i++) out[header.length + i] = masked ? data[i]! ^ MASK[i & 3]! : data[i]!;
  return out;
}

function closeFrame(code: number, reason: Uint8Array | string = ""): Uint8Array {
  const text = typeof reason === "string" ? bytes(reason) : reason;
  return frame(OP_CLOSE, concat([new Uint8Array([code >>> 8, code & 0xff]), text]));
}

interface ServerFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  lengthBits: 7 | 16 | 64;
  payload: Uint8Array;
}

interface HttpAnswer {
  status: number;
  headers: Map<string, string>;
  body: Uint8Array;
}

/** The client end of a connection: collects what the server sends. */
class Peer {
  readonly socket: Socket;
  #parts: Uint8Array[] = [];
  #waiters = new Set<() => void>();
  closed = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.setHandlers({
      onData: (chunk) => {
        this.#parts.push(chunk.slice());
        this.#notify();
      },
      onClose: () => {
        this.closed = true;
        this.#notify();
      },
    });
  }

  get received(): Uint8Array {
    if (this.#parts.length > 1) this.#parts = [concat(this.#parts)];
    return this.#parts[0] ?? new Uint8Array(0);
  }

  write(data: Uint8Array | string): void {
    this.socket.write(typeof data === "string" ? bytes(data) : data);
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves once `predicate()` holds; rejects if the connection closes first. */
  until(predicate: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate()) {
          this.#waiters.delete(check);
          resolve();
        } else if (this.closed) {
          this.#waiters.delete(check);
          reject(new Error(`Connection closed before ${what}`));
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  untilClosed(): Promise<void> {
    return this.until(() => this.closed, "close").catch(() => {});
  }

  /** End of the HTTP head in what was received, or -1. */
  #headEnd(): number {
    const data = this.received;
    for (let i = 0; i + 3 < data.length; i++) {
      if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) {
        return i + 4;
      }
    }
    return -1;
  }

  /** The HTTP answer, once its head is complete. */
  answer(): HttpAnswer | undefined {
    const end = this.#headEnd();
    if (end < 0) return undefined;
    const lines = decoder.decode(this.received.subarray(0, end - 4)).split("\r\n");
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0]!)?.[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    return { status, headers, body: this.received.subarray(end) };
  }

  async waitAnswer(): Promise<HttpAnswer> {
    await this.until(() => this.#headEnd() >= 0, "an HTTP answer");
    return this.answer()!;
  }

  /** Complete frames received after the HTTP head. */
  frames(): ServerFrame[] {
    const data = this.received;
    const frames: ServerFrame[] = [];
    let i = this.#headEnd();
    if (i < 0) return frames;
    while (i + 2 <= data.length) {
      const b0 = data[i]!;
      const b1 = data[i + 1]!;
      let length = b1 & 0x7f;
      let at = i + 2;
      let lengthBits: 7 | 16 | 64 = 7;
      if (length === 126) {
        if (at + 2 > data.length) break;
        length = (data[at]! << 8) | data[at + 1]!;
        at += 2;
        lengthBits = 16;
      } else if (length === 127) {
        if (at + 8 > data.length) break;
        const view = new DataView(data.buffer, data.byteOffset + at, 8);
        length = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4);
        at += 8;
        lengthBits = 64;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) at += 4;
      if (at + length > data.length) break;
      frames.push({
        fin: (b0 & 0x80) !== 0,
        opcode: b0 & 0x0f,
        masked,
        lengthBits,
        payload: data.slice(at, at + length),
      });
      i = at + length;
    }
    return frames;
  }

  /** Binary payload received so far, all frames joined. */
  binary(): Uint8Array {
    return concat(
      this.frames().filter((f) => f.opcode === OP_BINARY || f.opcode === OP_CONTINUATION).map((
        f,
      ) => f.payload),
    );
  }

  closeCode(): number | undefined {
    const close = this.frames().find((f) => f.opcode === OP_CLOSE);
    if (close === undefined) return undefined;
    return close.payload.length >= 2 ? (close.payload[0]! << 8) | close.payload[1]! : 1005;
  }
}

/** The server end as the driver sees it. */
interface Server {
  socket: Socket | undefined;
  accepted: Promise<Socket>;
  received: Uint8Array[];
  closed: Promise<Error | undefined>;
  closes: (Error | undefined)[];
}

interface SetupOptions extends WebSocketServerOptions {
  /** Echo every chunk received (default true). */
  echo?: boolean;
  /** Do not call setHandlers() in onAccept. */
  deferHandlers?: boolean;
  highWaterMark?: number;
}

function setup(
  t: TestContext,
  options: SetupOptions = {},
): { peer: Peer; server: Server; raw: Socket } {
  const [client, raw] = memoryPair(
    options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark },
  );
  const peer = new Peer(client);
  let resolveAccepted!: (socket: Socket) => void;
  let resolveClosed!: (error: Error | undefined) => void;
  const server: Server = {
    socket: undefined,
    accepted: new Promise((resolve) => (resolveAccepted = resolve)),
    received: [],
    closed: new Promise((resolve) => (resolveClosed = resolve)),
    closes: [],
  };
  const echo = options.echo ?? true;
  const handlers = (socket: Socket) => ({
    onData: (chunk: Uint8Array) => {
      server.received.push(chunk.slice());
      if (echo) socket.write(chunk);
    },
    onClose: (error?: Error) => {
      server.closes.push(error);
      resolveClosed(error);
    },
  });
  acceptWebSocket(raw, (socket) => {
    server.socket = socket;
    if (options.deferHandlers !== true) socket.setHandlers(handlers(socket));
    resolveAccepted(socket);
  }, options);
  t.after(() => {
    client.destroy();
    raw.destroy();
  });
  return { peer, server, raw };
}

function received(server: Server): Uint8Array {
  return concat(server.received);
}

async function expectProtocolClose(
  t: TestContext,
  data: Uint8Array[],
  code: number,
  options: SetupOptions = {},
): Promise<void> {
  const { peer, server } = setup(t, options);
  peer.write(request());
  for (const part of data) peer.write(part);
  const error = await server.closed;
  await peer.untilClosed();
  assert.equal(peer.closeCode(), code);
  assert.ok(error instanceof WebSocketError, "onClose gets a WebSocketError");
  assert.equal(error.closeCode, code);
}

describe("acceptWebSocket() handshake", () => {
  test("acceptWebSocket() answers 101 with the RFC 6455 accept value and the protocol", async (t) => {
    const { peer, server } = setup(t);
    peer.write(request());
    const answer = await peer.waitAnswer();
    assert.equal(answer.status, 101);
    assert.equal(answer.headers.get("upgrade")?.toLowerCase(), "websocket");
    assert.equal(answer.headers.get("connection")?.toLowerCase(), "upgrade");
    assert.equal(answer.headers.get("sec-websocket-accept"), ACCEPT);
    assert.equal(answer.headers.get("sec-websocket-protocol"), "mqtt");
    assert.equal(answer.headers.has("sec-websocket-extensions"), false);
    const socket = await server.accepted;
    assert.deepEqual(socket.remoteAddress, { transport: "websocket", hostname: "a", port: 0 });
    assert.deepEqual(socket.localAddress, { transport: "websocket", hostname: "b", port: 0 });
    assert.equal(socket.encrypted, false);
    assert.equal(socket.closed, false);
  });

  test("acceptWebSocket() passes on peerCertificate() only where the raw socket has it", async (t) => {
    const plain = setup(t);
    plain.peer.write(request());
    assert.equal((await plain.server.accepted).peerCertificate, undefined);
    const [client, raw] = memoryPair();
    t.after(() => client.destroy());
    const certificate = { subject: "CN=dev1,O=Acme", commonName: "dev1" };
    Object.assign(raw, { peerCertificate: () => certificate });
    const accepted = new Promise<Socket>((resolve) => acceptWebSocket(raw, resolve));
    new Peer(client).write(request());
    assert.equal((await accepted).peerCertificate?.(), certificate);
  });

  test("acceptWebSocket() selects the first of its protocols the client offers", async (t) => {
    const cases: [string | undefined, string | undefined][] = [
      ["mqttv3.1", "mqttv3.1"],
      ["foo, mqtt", "mqtt"],
      ["mqttv3.1, mqtt", "mqtt"],
      ["foo,mqttv3.1", "mqttv3.1"],
      [undefined, undefined],
    ];
    for (const [offered, selected] of cases) {
      const { peer } = setup(t);
      peer.write(request({ headers: { "Sec-WebSocket-Protocol": offered } }));
      const answer = await peer.waitAnswer();
      assert.equal(answer.status, 101, `offered ${offered}`);
      assert.equal(answer.headers.get("sec-websocket-protocol"), selected, `offered ${offered}`);
    }
  });

  test("acceptWebSocket() refuses with 400 a client offering none of its protocols", async (t) => {
    const { peer, server } = setup(t);
    peer.write(request({ headers: { "Sec-WebSocket-Protocol": "graphql-ws, MQTT" } }));
    assert.equal((await peer.waitAnswer()).status, 400);
    await peer.untilClosed();
    assert.equal(server.socket, undefined);
  });

  test("acceptWebSocket() uses the protocols option", async (t) => {
    const { peer } = setup(t, { protocols: ["mqttv5", "mqtt"] });
    peer.write(request({ headers: { "Sec-WebSocket-Protocol": "mqtt, mqttv5" } }));
    assert.equal((await peer.waitAnswer()).headers.get("sec-websocket-protocol"), "mqttv5");
  });

  test("acceptWebSocket() accepts case-insensitive Upgrade and a Connection token list", async (t) => {
    const { peer } = setup(t);
    peer.write(request({ headers: { Upgrade: "WebSocket", Connection: "keep-alive, Upgrade" } }));
    assert.equal((await peer.waitAnswer()).status, 101);
  });

  test("acceptWebSocket() handles a request head arriving byte by byte", async (t) => {
    const { peer, server } = setup(t);
    const data = concat([bytes(request()), frame(OP_BINARY, "hi")]);
    for (const byte of data) {
      peer.write(new Uint8Array([byte]));
      await tick();
    }
    await peer.until(() => decoder.decode(peer.binary()) === "hi", "the echo");
    assert.equal(decoder.decode(received(server)), "hi");
  });

  test("acceptWebSocket() delivers a frame that arrives in the chunk of the head", async (t) => {
    const { peer, server } = setup(t);
    peer.write(concat([bytes(request()), frame(OP_BINARY, "first"), frame(OP_BINARY, "second")]));
    await peer.until(() => decoder.decode(peer.binary()) === "firstsecond", "the echo");
    assert.equal(decoder.decode(received(server)), "firstsecond");
  });

  test("acceptWebSocket() accepts bare LF line ends", async (t) => {
    const { peer } = setup(t);
    peer.write(request().replaceAll("\r\n", "\n"));
    assert.equal((await peer.waitAnswer()).status, 101);
  });

  test("acceptWebSocket() refuses with 431 a head longer than maxHeaderBytes", async (t) => {
    const { peer, server } = setup(t, { maxHeaderBytes: 256 });
    peer.write(request({ headers: { Cookie: "x".repeat(300) } }));
    assert.equal((await peer.waitAnswer()).status, 431);
    await peer.untilClosed();
    assert.equal(server.socket, undefined);
  });

  test("acceptWebSocket() refuses with 431 a head trickling past maxHeaderBytes", async (t) => {
    const { peer } = setup(t, { maxHeaderBytes: 128 });
    peer.write("GET /mqtt HTTP/1.1\r\n");
    for (let i = 0; i < 20 && !peer.closed; i++) {
      peer.write("X-Filler: 0123456789\r\n");
      await tick();
    }
    assert.equal((await peer.waitAnswer()).status, 431);
    await peer.untilClosed();
  });

  test("acceptWebSocket() accepts a head of exactly maxHeaderBytes", async (t) => {
    const head = request();
    const { peer } = setup(t, { maxHeaderBytes: head.length });
    peer.write(head.slice(0, 10));
    await tick();
    peer.write(concat([bytes(head.slice(10)), frame(OP_BINARY, "x")]));
    assert.equal((await peer.waitAnswer()).status, 101);
    await peer.until(() => peer.binary().length === 1, "the echo");
  });

  test("acceptWebSocket() answers 426 with Sec-WebSocket-Version: 13 to another version", async (t) => {
    for (const version of ["8", undefined]) {
      const { peer } = setup(t);
      peer.write(request({ headers: { "Sec-WebSocket-Version": version } }));
      const answer = await peer.waitAnswer();
      assert.equal(answer.status, 426);
      assert.equal(answer.headers.get("sec-websocket-version"), "13");
      await peer.untilClosed();
    }
  });

  test("acceptWebSocket() refuses with 400 a missing or malformed key", async (t) => {
    for (
      const key of [undefined, "", "short==", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==x"]
    ) {
      const { peer, server } = setup(t);
      peer.write(request({ headers: { "Sec-WebSocket-Key": key } }));
      assert.equal((await peer.waitAnswer()).status, 400, `key ${key}`);
      await peer.untilClosed();
      assert.equal(server.socket, undefined);
    }
  });

  test("acceptWebSocket() refuses with 400 an upgrade without Connection: Upgrade", async (t) => {
    const { peer } = setup(t);
    peer.write(request({ headers: { Connection: "keep-alive" } }));
    assert.equal((await peer.waitAnswer()).status, 400);
  });

  test("acceptWebSocket() refuses with 405 an upgrade that is not a GET", async (t) => {
    const { peer } = setup(t);
    peer.write(request({ method: "POST" }));
    const answer = await peer.waitAnswer();
    assert.equal(answer.status, 405);
    assert.equal(answer.headers.get("allow"), "GET");
  });

  test("acceptWebSocket() refuses with 400 a malformed request", async (t) => {
    const heads = [
      "GET /mqtt\r\n\r\n",
      "GET /mqtt HTTP/2.0\r\nHost: x\r\n\r\n",
      "GET /mqtt HTTP/1.1\r\nNo colon here\r\n\r\n",
      "GET /mqtt HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
      "GET /mqtt HTTP/1.1\r\nBad Name: x\r\n\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n",
    ];
    for (const head of heads) {
      const { peer } = setup(t);
      peer.write(head);
      assert.equal((await peer.waitAnswer()).status, 400, JSON.stringify(head));
      await peer.untilClosed();
    }
  });

  test("acceptWebSocket() answers 404 to an upgrade for another path", async (t) => {
    const { peer, server } = setup(t);
    peer.write(request({ path: "/other" }));
    assert.equal((await peer.waitAnswer()).status, 404);
    await peer.untilClosed();
    assert.equal(server.socket, undefined);
  });

  test("acceptWebSocket() matches the path without its query", async (t) => {
    const { peer } = setup(t);
    peer.write(request({ path: "/mqtt?token=abc" }));
    assert.equal((await peer.waitAnswer()).status, 101);
  });

  test('acceptWebSocket() accepts any path with path "*" or ""', async (t) => {
    for (const path of ["*", ""]) {
      const { peer } = setup(t, { path });
      peer.write(request({ path: "/anything/at/all" }));
      assert.equal((await peer.waitAnswer()).status, 101);
    }
  });

  test("acceptWebSocket() answers 408 when the head does not arrive in time", async (t) => {
    const { peer, server } = setup(t, { handshakeTimeout: 20 });
    peer.write("GET /mqtt HTTP/1.1\r\nHost: localhost\r\n");
    assert.equal((await peer.waitAnswer()).status, 408);
    await peer.untilClosed();
    assert.equal(server.socket, undefined);
  });

  test("acceptWebSocket() destroys the raw socket when onAccept throws", async (t) => {
    const [client, raw] = memoryPair();
    t.after(() => client.destroy());
    const peer = new Peer(client);
    acceptWebSocket(raw, () => {
      throw new Error("refused by the driver");
    });
    peer.write(request());
    await peer.untilClosed();
    assert.equal(raw.closed, true);
  });

  test("acceptWebSocket() validates its options", () => {
    const [client, raw] = memoryPair();
    const accept = (options: WebSocketServerOptions) => () =>
      acceptWebSocket(raw, () => {}, options);
    assert.throws(accept({ path: "mqtt" }), TypeError);
    assert.throws(accept({ protocols: [] }), TypeError);
    assert.throws(accept({ protocols: ["bad token"] }), TypeError);
    assert.throws(accept({ maxHeaderBytes: 0 }), RangeError);
    assert.throws(accept({ maxFrameSize: 1.5 }), RangeError);
    assert.throws(accept({ handshakeTimeout: -1 }), RangeError);
    assert.throws(() => acceptWebSocket(raw, undefined as unknown as () => void), TypeError);
    client.destroy();
  });
});

describe("acceptWebSocket() plain HTTP", () => {
  const health: WebSocketServerOptions["http"] = (request) =>
    request.path === "/health" ? { status: 200, body: "ok" } : undefined;

  test("acceptWebSocket() answers a health endpoint through the http callback", async (t) => {
    const seen: HttpRequest[] = [];
    const { peer, server } = setup(t, {
      http: (request) => {
        seen.push(request);
        return health(request);
      },
    });
    peer.write(plainRequest("/health?verbose=1"));
    const answer = await peer.waitAnswer();
    await peer.untilClosed();
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("content-length"), "2");
    assert.equal(answer.headers.get("connection"), "close");
    assert.equal(answer.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(decoder.decode(peer.answer()!.body), "ok");
    assert.equal(server.socket, undefined);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.method, "GET");
    assert.equal(seen[0]!.path, "/health");
    assert.equal(seen[0]!.query, "verbose=1");
    assert.equal(seen[0]!.headers.get("user-agent"), "test");
    assert.equal(seen[0]!.remoteAddress.transport, "memory");
  });

  test("acceptWebSocket() sends no body in answer to HEAD", async (t) => {
    const { peer } = setup(t, { http: health });
    peer.write(plainRequest("/health", "HEAD"));
    await peer.untilClosed();
    const answer = peer.answer()!;
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("content-length"), "2");
    assert.equal(answer.body.length, 0);
  });

  test("acceptWebSocket() waits for an async http callback, with its headers and bytes", async (t) => {
    const { peer } = setup(t, {
      http: async () => {
        await tick();
        return {
          status: 503,
          headers: { "Content-Type": "application/json", "Retry-After": "5" },
          body: bytes('{"up":false}'),
        };
      },
    });
    peer.write(plainRequest("/health"));
    await peer.untilClosed();
    const answer = peer.answer()!;
    assert.equal(answer.status, 503);
    assert.equal(answer.headers.get("content-type"), "application/json");
    assert.equal(answer.headers.get("retry-after"), "5");
    assert.equal(decoder.decode(answer.body), '{"up":false}');
  });

  test("acceptWebSocket() answers 500 when the http callback fails or answers badly", async (t) => {
    const callbacks: WebSocketServerOptions["http"][] = [
      () => {
        throw new Error("broken");
      },
      () => Promise.reject(new Error("broken")),
      () => ({ status: 200, headers: { "X-Injected": "a\r\nSet-Cookie: b" } }),
      () => ({ status: 99 }),
    ];
    for (const http of callbacks) {
      const { peer } = setup(t, { http });
      peer.write(plainRequest("/health"));
      await peer.untilClosed();
      assert.equal(peer.answer()?.status, 500);
    }
  });

  test("acceptWebSocket() answers 404 elsewhere and 426 on the WebSocket path", async (t) => {
    const cases: [WebSocketServerOptions["http"], string, number][] = [
      [health, "/other", 404],
      [undefined, "/health", 404],
      [health, "/mqtt", 426],
      [undefined, "/mqtt", 426],
    ];
    for (const [http, path, status] of cases) {
      const { peer } = setup(t, { http });
      peer.write(plainRequest(path));
      await peer.untilClosed();
      const answer = peer.answer()!;
      assert.equal(answer.status, status, path);
      if (status === 426) assert.equal(answer.headers.get("upgrade"), "websocket");
    }
  });
});

describe("acceptWebSocket() frames", () => {
  test("acceptWebSocket() echoes binary frames as unmasked binary frames", async (t) => {
    const { peer, server } = setup(t);
    peer.write(concat([bytes(request()), frame(OP_BINARY, "hello")]));
    await peer.until(() => peer.frames().length === 1, "the echo");
    const [echo] = peer.frames();
    assert.deepEqual(
      { fin: echo!.fin, opcode: echo!.opcode, masked: echo!.masked },
      { fin: true, opcode: OP_BINARY, masked: false },
    );
    assert.equal(decoder.decode(echo!.payload), "hello");
    assert.equal(decoder.decode(received(server)), "hello");
  });

  test("acceptWebSocket() reads and writes 16-bit and 64-bit lengths", async (t) => {
    const cases: [number, 7 | 16 | 64][] = [
      [125, 7],
      [126, 16],
      [65535, 16],
      [65536, 64],
      [70_000, 64],
    ];
    // Inbound: every length form is read, non-minimal ones too.
    const inbound: [number, 7 | 16 | 64][] = [...cases, [5, 16], [5, 64], [300, 64]];
    for (const [length, bits] of inbound) {
      const { peer, server } = setup(t);
      const payload = pattern(length, 3);
      peer.write(concat([bytes(request()), frame(OP_BINARY, payload, { lengthBits: bits })]));
      await peer.until(() => peer.binary().length === length, "the echo");
      assert.deepEqual(received(server), payload, `length ${length} in ${bits} bits`);
    }
    // Outbound: the server picks the minimal form.
    for (const [length, bits] of cases) {
      const { peer, server } = setup(t, { echo: false });
      peer.write(request());
      const socket = await server.accepted;
      socket.write(pattern(length, 9));
      await peer.until(() => peer.frames().length === 1, "the frame");
      const [sent] = peer.frames();
      assert.equal(sent!.lengthBits, bits, `length ${length}`);
      assert.deepEqual(sent!.payload, pattern(length, 9));
    }
  });

  test("acceptWebSocket() passes on a 70,000-byte frame unchanged", async (t) => {
    const { peer, server } = setup(t);
    const payload = pattern(70_000, 5);
    peer.write(concat([bytes(request()), frame(OP_BINARY, payload)]));
    await peer.until(() => peer.binary().length === payload.length, "the echo");
    assert.deepEqual(received(server), payload);
    assert.deepEqual(peer.binary(), payload);
  });

  test("acceptWebSocket() handles the stream split at every byte boundary", async (t) => {
    const big = pattern(300, 7);
    const stream = concat([
      bytes(request()),
      frame(OP_BINARY, "hello"),
      frame(OP_PING, "p!"),
      frame(OP_BINARY, big),
      frame(OP_BINARY, "fr", { fin: false }),
      frame(OP_PONG, ""),
      frame(OP_CONTINUATION, "ag"),
    ]);
    const expected = concat([bytes("hello"), big, bytes("frag")]);
    for (let split = 1; split < stream.length; split++) {
      const { peer, server } = setup(t);
      peer.write(stream.subarray(0, split));
      await tick();
      peer.write(stream.subarray(split));
      await peer.until(
        () =>
          peer.binary().length === expected.length &&
          peer.frames().some((f) => f.opcode === OP_PONG),
        `the echo (split at ${split})`,
      );
      assert.deepEqual(received(server), expected, `split at ${split}`);
      assert.deepEqual(peer.binary(), expected, `split at ${split}`);
      const pong = peer.frames().find((f) => f.opcode === OP_PONG)!;
      assert.equal(decoder.decode(pong.payload), "p!");
      assert.equal(peer.closed, false);
      peer.socket.destroy();
    }
  });

  test("acceptWebSocket() reads frames delivered one byte at a time", async (t) => {
    const { peer, server } = setup(t);
    peer.write(request());
    await server.accepted;
    const payload = pattern(200, 2);
    for (const byte of concat([frame(OP_BINARY, payload), frame(OP_PING, "x")])) {
      peer.write(new Uint8Array([byte]));
      await tick();
    }
    await peer.until(() => peer.frames().some((f) => f.opcode === OP_PONG), "the pong");
    assert.deepEqual(received(server), payload);
  });

  test("acceptWebSocket() answers a ping with a pong and ignores pongs", async (t) => {
    const { peer, server } = setup(t);
    peer.write(concat([bytes(request()), frame(OP_PONG, "unsolicited"), frame(OP_PING, "abc")]));
    await peer.until(() => peer.frames().length === 1, "the pong");
    const [pong] = peer.frames();
    assert.equal(pong!.opcode, OP_PONG);
    assert.equal(decoder.decode(pong!.payload), "abc");
    assert.equal(server.received.length, 0);
  });

  test("acceptWebSocket() passes on fragmented messages with control frames between", async (t) => {
    const { peer, server } = setup(t);
    peer.write(concat([
      bytes(request()),
      frame(OP_BINARY, "ab", { fin: false }),
      frame(OP_PING, ""),
      frame(OP_CONTINUATION, "", { fin: false }),
      frame(OP_CONTINUATION, "cd"),
      frame(OP_BINARY, "ef"),
    ]));
    await peer.until(() => decoder.decode(peer.binary()) === "abcdef", "the echo");
    assert.equal(decoder.decode(received(server)), "abcdef");
  });

  test("acceptWebSocket() echoes a close frame and closes without error", async (t) => {
    const { peer, server } = setup(t);
    peer.write(concat([bytes(request()), closeFrame(1000, "bye"), frame(OP_BINARY, "late")]));
    const error = await server.closed;
    await peer.untilClosed();
    assert.equal(error, undefined);
    assert.equal(peer.closeCode(), 1000);
    assert.equal(server.received.length, 0);
  });

  test("acceptWebSocket() echoes the peer's close code, or an empty close", async (t) => {
    for (const [data, code] of [[closeFrame(4000), 4000], [frame(OP_CLOSE, ""), 1005]] as const) {
      const { peer, server } = setup(t);
      peer.write(concat([bytes(request()), data]));
      assert.equal(await server.closed, undefined);
      await peer.untilClosed();
      assert.equal(peer.closeCode(), code);
    }
  });

  test("close() sends a 1000 close frame after the data, then closes", async (t) => {
    const { peer, server } = setup(t);
    peer.write(request());
    const socket = await server.accepted;
    socket.write(bytes("last words"));
    socket.close();
    assert.equal(socket.closed, true);
    assert.equal(socket.write(bytes("too late")), false);
    await peer.untilClosed();
    assert.equal(decoder.decode(peer.binary()), "last words");
    assert.equal(peer.closeCode(), 1000);
    assert.equal(await server.closed, undefined);
    assert.equal(server.closes.length, 1);
  });

  test("destroy() closes at once with the given error", async (t) => {
    const { peer, server } = setup(t);
    peer.write(request());
    const socket = await server.accepted;
    const reason = new Error("gone");
    socket.destroy(reason);
    socket.destroy();
    assert.equal(await server.closed, reason);
    await peer.untilClosed();
    assert.equal(peer.closeCode(), undefined);
  });

  test("acceptWebSocket() closes with 1002 on an unmasked frame", async (t) => {
    await expectProtocolClose(t, [frame(OP_BINARY, "x", { masked: false })], 1002);
  });

  test("acceptWebSocket() closes with 1003 on a text frame [MQTT-6.0.0-1]", async (t) => {
    await expectProtocolClose(t, [frame(OP_TEXT, "{}")], 1003);
  });

  test("acceptWebSocket() closes with 1002 on reserved bits and opcodes", async (t) => {
    for (const rsv of [1, 2, 4]) {
      await expectProtocolClose(t, [frame(OP_BINARY, "x", { rsv })], 1002);
    }
    for (const opcode of [0x3, 0x7, 0xb, 0xf]) {
      await expectProtocolClose(t, [frame(opcode, "")], 1002);
    }
  });

  test("acceptWebSocket() closes with 1002 on a long or fragmented control frame", async (t) => {
    await expectProtocolClose(t, [frame(OP_PING, pattern(126))], 1002);
    await expectProtocolClose(t, [frame(OP_PING, "x", { fin: false })], 1002);
    await expectProtocolClose(t, [frame(OP_CLOSE, "", { fin: false })], 1002);
  });

  test("acceptWebSocket() closes with 1002 on a continuation out of place", async (t) => {
    await expectProtocolClose(t, [frame(OP_CONTINUATION, "x")], 1002);
    await expectProtocolClose(
      t,
      [frame(OP_BINARY, "a", { fin: false }), frame(OP_BINARY, "b")],
      1002,
    );
  });

  test("acceptWebSocket() closes with 1002 on a malformed close frame", async (t) => {
    await expectProtocolClose(t, [frame(OP_CLOSE, new Uint8Array([3]))], 1002);
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 2000, 5000]) {
      await expectProtocolClose(t, [closeFrame(code)], 1002);
    }
  });

  test("acceptWebSocket() closes with 1007 on a close reason that is not UTF-8", async (t) => {
    await expectProtocolClose(t, [closeFrame(1000, new Uint8Array([0xc3, 0x28]))], 1007);
  });

  test("acceptWebSocket() closes with 1002 on a 64-bit length with its top bit set", async (t) => {
    await expectProtocolClose(
      t,
      [frame(OP_BINARY, "x", { lengthBits: 64, high: 0x8000_0000 })],
      1002,
    );
  });

  test("acceptWebSocket() closes with 1009 past maxFrameSize", async (t) => {
    await expectProtocolClose(t, [frame(OP_BINARY, pattern(101))], 1009, { maxFrameSize: 100 });
    await expectProtocolClose(
      t,
      [frame(OP_BINARY, pattern(60), { fin: false }), frame(OP_CONTINUATION, pattern(41))],
      1009,
      { maxFrameSize: 100 },
    );
    // A frame of 2^52 bytes is refused from its header alone.
    await expectProtocolClose(
      t,
      [frame(OP_BINARY, "x", { lengthBits: 64, high: 0x10_0000 })],
      1009,
    );
  });

  test("acceptWebSocket() accepts frames of exactly maxFrameSize", async (t) => {
    const { peer, server } = setup(t, { maxFrameSize: 100 });
    peer.write(concat([bytes(request()), frame(OP_BINARY, pattern(100))]));
    await peer.until(() => peer.binary().length === 100, "the echo");
    assert.deepEqual(received(server), pattern(100));
  });

  test("acceptWebSocket() ignores what follows a protocol violation", async (t) => {
    const { peer, server } = setup(t);
    peer.write(concat([bytes(request()), frame(OP_TEXT, "x"), frame(OP_BINARY, "after")]));
    await server.closed;
    await peer.untilClosed();
    assert.equal(server.received.length, 0);
    assert.equal(peer.frames().filter((f) => f.opcode === OP_BINARY).length, 0);
  });
});

describe("acceptWebSocket() flow control", () => {
  test("setHandlers() receives the data that arrived before it", async (t) => {
    const { peer, server } = setup(t, { deferHandlers: true });
    peer.write(concat([bytes(request()), frame(OP_BINARY, "early")]));
    const socket = await server.accepted;
    await tick();
    peer.write(frame(OP_BINARY, " and later"));
    await tick();
    const chunks: string[] = [];
    socket.setHandlers({ onData: (chunk) => chunks.push(decoder.decode(chunk)) });
    assert.deepEqual(chunks, [], "delivery is asynchronous");
    await tick();
    assert.equal(chunks.join(""), "early and later");
  });

  test("setHandlers() after the peer left delivers the held data, then onClose", async (t) => {
    const { peer, server } = setup(t, { deferHandlers: true });
    peer.write(concat([bytes(request()), frame(OP_BINARY, "parting gift")]));
    const socket = await server.accepted;
    await tick();
    peer.socket.close();
    await peer.untilClosed();
    const events: string[] = [];
    const closed = new Promise<void>((resolve) => {
      socket.setHandlers({
        onData: (chunk) => events.push(decoder.decode(chunk)),
        onClose: (error) => {
          events.push(`close ${error}`);
          resolve();
        },
      });
    });
    await closed;
    assert.deepEqual(events, ["parting gift", "close undefined"]);
  });

  test("write() of nothing sends no frame", async (t) => {
    const { peer, server } = setup(t, { echo: false });
    peer.write(request());
    const socket = await server.accepted;
    assert.equal(socket.write(new Uint8Array(0)), true);
    socket.write(bytes("x"));
    await peer.until(() => peer.frames().length === 1, "the frame");
    assert.equal(decoder.decode(peer.frames()[0]!.payload), "x");
  });

  test("pause() holds data until resume()", async (t) => {
    const { peer, server } = setup(t, { echo: false });
    peer.write(request());
    const socket = await server.accepted;
    socket.pause();
    peer.write(frame(OP_BINARY, "held"));
    await tick();
    await tick();
    assert.equal(server.received.length, 0);
    socket.resume();
    await tick();
    assert.equal(decoder.decode(received(server)), "held");
  });

  test("pause() inside onData holds the rest of the chunk", async (t) => {
    const [client, raw] = memoryPair();
    t.after(() => client.destroy());
    const peer = new Peer(client);
    const chunks: string[] = [];
    let socket!: Socket;
    acceptWebSocket(raw, (accepted) => {
      socket = accepted;
      socket.setHandlers({
        onData: (chunk) => {
          chunks.push(decoder.decode(chunk));
          socket.pause();
        },
      });
    });
    peer.write(concat([bytes(request()), frame(OP_BINARY, "one"), frame(OP_BINARY, "two")]));
    await peer.waitAnswer();
    await tick();
    assert.deepEqual(chunks, ["one"]);
    socket.resume();
    await tick();
    assert.deepEqual(chunks, ["one", "two"]);
    socket.resume();
    await tick();
    assert.deepEqual(chunks, ["one", "two"]);
  });

  test("write() returns the raw socket's backpressure and onDrain follows", async (t) => {
    const { peer, server } = setup(t, { echo: false, highWaterMark: 64 });
    peer.write(request());
    const socket = await server.accepted;
    let drained = 0;
    socket.setHandlers({ onDrain: () => drained++ });
    assert.equal(socket.write(pattern(10)), true);
    assert.equal(socket.write(pattern(100)), false);
    assert.ok(socket.bufferedAmount > 64);
    await peer.until(() => peer.binary().length === 110, "the frames");
    await tick();
    assert.equal(drained, 1);
  });

  test("onClose fires once when the peer goes away without a close frame", async (t) => {
    const { peer, server } = setup(t);
    peer.write(concat([bytes(request()), frame(OP_BINARY, "bye")]));
    await peer.until(() => peer.binary().length === 3, "the echo");
    peer.socket.close();
    assert.equal(await server.closed, undefined);
    assert.equal(server.closes.length, 1);
    assert.equal(server.socket!.closed, true);
  });
});

// Interop over real TCP with npm's `ws` and with our own client adapter.

interface EchoServer {
  url: string;
  sockets: Socket[];
  closes: Promise<Error | undefined>[];
}

async function echoServer(
  t: TestContext,
  adapter: SocketAdapter,
  tls?: { cert: string; key: string },
): Promise<EchoServer> {
  const sockets: Socket[] = [];
  const closes: Promise<Error | undefined>[] = [];
  const listener = await adapter.listen(
    tls === undefined
      ? { hostname: "127.0.0.1", port: 0 }
      : { hostname: "127.0.0.1", port: 0, tls },
    (raw) => {
      acceptWebSocket(raw, (socket) => {
        sockets.push(socket);
        closes.push(
          new Promise((resolve) => {
            socket.setHandlers({ onData: (chunk) => socket.write(chunk), onClose: resolve });
          }),
        );
      });
    },
  );
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await listener.close();
  });
  const scheme = tls === undefined ? "ws" : "wss";
  return { url: `${scheme}://127.0.0.1:${listener.address.port}/mqtt`, sockets, closes };
}

const SIZES = [1, 70_000, 1_000_000];

/** Send each message and wait for as many bytes to come back; return what came back. */
async function echoThrough(
  send: (data: Uint8Array) => void,
  onBytes: (listener: (chunk: Uint8Array) => void) => void,
  sizes: number[],
): Promise<void> {
  let parts: Uint8Array[] = [];
  let length = 0;
  let wake: (() => void) | undefined;
  onBytes((chunk) => {
    parts.push(chunk.slice());
    length += chunk.length;
    wake?.();
  });
  for (const size of sizes) {
    const payload = pattern(size, size);
    send(payload);
    while (length < size) await new Promise<void>((resolve) => (wake = resolve));
    assert.equal(length, size, `echo of ${size} bytes`);
    assert.deepEqual(concat(parts), payload, `echo of ${size} bytes`);
    parts = [];
    length = 0;
  }
}

const noGlobalWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === "undefined"
  ? "no global WebSocket"
  : false;

/** nodeAdapter everywhere (the brief's baseline), plus the runtime's native one under Deno and Bun. */
const adapters: SocketAdapter[] = [nodeAdapter];
const nativeAdapter = await loadTcpAdapter();
if (nativeAdapter.name !== nodeAdapter.name) adapters.push(nativeAdapter);

for (const adapter of adapters) {
  describe(`acceptWebSocket() interop over ${adapter.name}`, () => {
    test(
      "acceptWebSocket() echoes 1 byte, 70,000 bytes and 1 MB to npm's ws client",
      { timeout: 20_000 },
      async (t) => {
        const server = await echoServer(t, adapter);
        const ws = new WsWebSocket(server.url, ["mqtt"]);
        t.after(() => ws.terminate());
        await new Promise<void>((resolve, reject) => {
          ws.once("open", () => resolve());
          ws.once("error", reject);
        });
        assert.equal(ws.protocol, "mqtt");
        await echoThrough(
          (data) => ws.send(data),
          (listener) =>
            ws.on("message", (data: Uint8Array, isBinary: boolean) => {
              assert.equal(isBinary, true);
              listener(data);
            }),
          SIZES,
        );
        const closed = new Promise<number>((resolve) =>
          ws.once("close", (code: number) => resolve(code))
        );
        ws.close(1000);
        assert.equal(await closed, 1000);
        assert.equal(await server.closes[0], undefined);
      },
    );

    test(
      "acceptWebSocket() closes npm's ws client with 1000 on close()",
      { timeout: 10_000 },
      async (t) => {
        const server = await echoServer(t, adapter);
        const ws = new WsWebSocket(server.url, ["mqtt"]);
        t.after(() => ws.terminate());
        await new Promise<void>((resolve, reject) => {
          ws.once("open", () => resolve());
          ws.once("error", reject);
        });
        const closed = new Promise<number>((resolve) =>
          ws.once("close", (code: number) => resolve(code))
        );
        server.sockets[0]!.close();
        assert.equal(await closed, 1000);
        assert.equal(await server.closes[0], undefined);
      },
    );

    test(
      "acceptWebSocket() refuses npm's ws client offering another protocol",
      { timeout: 10_000 },
      async (t) => {
        const server = await echoServer(t, adapter);
        const ws = new WsWebSocket(server.url, ["graphql-ws"]);
        t.after(() => ws.terminate());
        const status = await new Promise<number | undefined>((resolve) => {
          ws.once("unexpected-response", (_request: unknown, response: { statusCode?: number }) => {
            resolve(response.statusCode);
          });
          ws.once("error", () => resolve(undefined));
        });
        assert.equal(status, 400);
        assert.equal(server.sockets.length, 0);
      },
    );

    test(
      "acceptWebSocket() serves wss:// over a TLS listener",
      { timeout: 20_000, skip: opensslSkip },
      async (t) => {
        const credentials = makeCredentials(t);
        const server = await echoServer(t, adapter, credentials);
        const ws = new WsWebSocket(server.url, ["mqtt"], { ca: credentials.cert });
        t.after(() => ws.terminate());
        await new Promise<void>((resolve, reject) => {
          ws.once("open", () => resolve());
          ws.once("error", reject);
        });
        assert.equal(server.sockets[0]!.encrypted, true);
        assert.equal(server.sockets[0]!.remoteAddress.transport, "websocket");
        await echoThrough(
          (data) => ws.send(data),
          (listener) => ws.on("message", (data: Uint8Array) => listener(data)),
          SIZES,
        );
      },
    );

    const clients: [string, WebSocketConstructor | undefined, string | false][] = [
      ["npm's ws", WsWebSocket as unknown as WebSocketConstructor, false],
      ["the global WebSocket", undefined, noGlobalWebSocket],
    ];
    for (const [name, webSocket, skip] of clients) {
      test(
        `webSocketConnect() with ${name} talks to acceptWebSocket()`,
        { timeout: 20_000, skip },
        async (t) => {
          const server = await echoServer(t, adapter);
          const socket = await webSocketConnect(
            server.url,
            webSocket === undefined ? {} : { webSocket },
          );
          t.after(() => socket.destroy());
          let closeError: Promise<Error | undefined> | undefined;
          await echoThrough(
            (data) => socket.write(data),
            (listener) => {
              closeError = new Promise((resolve) => {
                socket.setHandlers({ onData: listener, onClose: resolve });
              });
            },
            SIZES,
          );
          assert.equal(server.sockets.length, 1);
          socket.close();
          assert.equal(await closeError, undefined);
          assert.equal(await server.closes[0], undefined);
        },
      );

      test(
        `webSocketConnect() with ${name} sees close() of acceptWebSocket() as clean`,
        { timeout: 10_000, skip },
        async (t) => {
          const server = await echoServer(t, adapter);
          const socket = await webSocketConnect(
            server.url,
            webSocket === undefined ? {} : { webSocket },
          );
          t.after(() => socket.destroy());
          const closed = new Promise<Error | undefined>((resolve) => {
            socket.setHandlers({ onClose: resolve });
          });
          server.sockets[0]!.close();
          assert.equal(await closed, undefined);
        },
      );
    }
  });
}

// Keep the close-code table honest.
test("WebSocketCloseCode holds the RFC 6455 values", () => {
  assert.deepEqual(WebSocketCloseCode, {
    Normal: 1000,
    ProtocolError: 1002,
    UnsupportedData: 1003,
    InvalidPayload: 1007,
    MessageTooBig: 1009,
  });
});
