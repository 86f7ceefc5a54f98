/**
 * One `mq bench` connection over a raw socket from the adapter: a hand-driven MQTT client
 * that only does what a load generator needs. PUBLISH packets are encoded once into a batch
 * buffer of copies; each message only has its send time, sequence number (and packet id)
 * patched in, and a batch goes out in one `write()`. Acknowledgements are collected while a
 * chunk is decoded and written together. Nothing allocates a promise or closure per message.
 *
 * @module
 */

import { ClientDecoder } from "../protocol/client_decoder.ts";
import { encodeClientPacket } from "../protocol/encode.ts";
import type { Packet, QoS } from "../protocol/packet.ts";
import { PublishTemplate } from "../protocol/publish_template.ts";
import type { Socket, SocketAdapter } from "../socket/types.ts";
import { type BenchOptions, expandTopic } from "./_bench_args.ts";
import { LatencyHistogram, STAMP_SIZE } from "./_bench_stats.ts";
import { reasonString } from "./_connection.ts";

const PINGREQ = new Uint8Array([0xc0, 0x00]);
const DISCONNECT = new Uint8Array([0xe0, 0x00]);
/** Bytes of PUBLISH packets copied into one batch buffer. */
const BATCH_BYTES = 16 * 1024;
/** Bytes written by one pump before it lets the event loop run. */
const PUMP_BYTES = 256 * 1024;
/** Seconds to wait for a CONNACK. */
const CONNACK_TIMEOUT = 30;
/** In-flight window of MQTT 3.1.1 publishers without `--inflight` (mosquitto's default). */
const V311_INFLIGHT = 20;
/** Stamps more than this far from the receiver's clock are not `mq bench pub`'s. */
const STAMP_WINDOW = 86_400_000;

/** MQTT 3.1.1 CONNACK return codes (v3.1.1 §3.2.2.3). */
const RETURN_CODES: Record<number, string> = {
  1: "Unacceptable protocol version",
  2: "Identifier rejected",
  3: "Server unavailable",
  4: "Bad user name or password",
  5: "Not authorized",
};

/** The counters every client of a run adds to. */
export class BenchCounters {
  /** Clients that received a successful CONNACK. */
  connected = 0;
  /** Clients whose connection failed or was refused. */
  failed = 0;
  /** Connections lost after the CONNACK. */
  lost = 0;
  /** PUBLISH packets written. */
  sent = 0;
  /** QoS 1 and 2 PUBLISH packets acknowledged (PUBACK, PUBCOMP). */
  acked = 0;
  /** QoS 1 and 2 PUBLISH packets written and not yet acknowledged. */
  inflight = 0;
  /** PUBLISH packets received. */
  received = 0;
  /** Payload bytes received. */
  bytes = 0;
  /** Messages missing from a publisher's sequence. */
  gaps = 0;
  /** Messages whose sequence number was already seen (duplicates or out of order). */
  duplicates = 0;
  /** Messages received without an `mq bench pub` stamp. */
  untimed = 0;
  /** Time of the first and last message written or received, or CONNACK (conn). */
  first = 0;
  /** See {@linkcode BenchCounters.first}. */
  last = 0;
  /** End-to-end latencies of stamped messages. */
  readonly latency: LatencyHistogram = new LatencyHistogram();
  /** Errors by kind, e.g. `"connect failed: connection refused"`. */
  readonly errors: Map<string, number> = new Map();

  /**
   * Count an error.
   *
   * @param kind What went wrong, without client-specific details.
   */
  error(kind: string): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }

  /**
   * The number of errors counted.
   *
   * @returns The total.
   */
  get errorCount(): number {
    let n = 0;
    for (const count of this.errors.values()) n += count;
    return n;
  }

  /**
   * Note an event for the measurement window.
   *
   * @param now The time.
   */
  mark(now: number): void {
    if (this.first === 0) this.first = now;
    this.last = now;
  }
}

/** What a {@linkcode BenchClient} needs from the run that owns it. */
export interface BenchContext {
  /** The options. */
  readonly options: BenchOptions;
  /** The socket adapter. */
  readonly adapter: SocketAdapter;
  /** The calibrated wall clock, milliseconds since the epoch. */
  readonly clock: () => number;
  /** The shared counters. */
  readonly counters: BenchCounters;
  /** Added to the client index to make the publisher id stamped into payloads. */
  readonly publisherBase: number;
  /** Whether the run is ending: no new work. */
  readonly stopping: boolean;
  /** The client has its CONNACK (`true`) or failed to connect (`false`). */
  connected(client: BenchClient, ok: boolean): void;
  /** The client has sent (and had acknowledged) or received its `-n` messages, or gave up. */
  done(client: BenchClient): void;
  /** The first message of the run arrived (sub). */
  firstMessage(): void;
  /** Every QoS 1/2 message has been acknowledged while the run is ending. */
  drained(): void;
  /** Pump the client again on a later turn of the event loop. */
  defer(client: BenchClient): void;
  /** The client's socket has closed. */
  closed(client: BenchClient): void;
}

const NEW = 0;
const CONNECTING = 1;
const CONNECTED = 2;
const ENDING = 3;
const CLOSED = 4;

function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/refused/i.test(message)) return "connection refused";
  if (/timed? ?out/i.test(message)) return "timed out";
  return message.replace(/\s+\S*\d+\.\d+\.\d+\.\d+\S*/g, "").trim() || "unknown error";
}

/** One benchmark connection: a publisher, a subscriber or an idle connection. */
export class BenchClient {
  /** The client index, from 1. */
  readonly index: number;
  /** The client id. */
  readonly clientId: string;
  /** Whether the client wrote anything since the last keep alive tick. */
  wrote = false;
  /** Whether the run has counted this client as finished. */
  finished = false;
  /** Messages written (pub) or received (sub) by this client. */
  count = 0;
  readonly #ctx: BenchContext;
  readonly #version: 4 | 5;
  #state = NEW;
  #socket: Socket | undefined;
  #decoder: ClientDecoder | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #working = false;
  #done = false;
  #reported = false;
  // Publisher
  #batch = new Uint8Array(0);
  #view = new DataView(this.#batch.buffer);
  #slots = 0;
  #packetLength = 0;
  #payloadOffset = 0;
  #idOffset = -1;
  #sequence = 0;
  #inflight = 0;
  #window = 0;
  #ids: Uint32Array | undefined;
  #nextId = 0;
  #congested = false;
  #startedAt = 0;
  // Subscriber
  #expected: Map<number, number> | undefined;
  #lastPublisher = -1;
  #lastExpected = 0;
  #stamp = new Uint8Array(STAMP_SIZE);
  #stampView = new DataView(this.#stamp.buffer);
  // Acknowledgements queued while a chunk is decoded
  #out = new Uint8Array(0);
  #outLength = 0;

  /**
   * Create a client; nothing happens until {@linkcode BenchClient.connect}.
   *
   * @param ctx The run.
   * @param index The client index, from 1.
   * @param clientId The client id.
   */
  constructor(ctx: BenchContext, index: number, clientId: string) {
    this.#ctx = ctx;
    this.index = index;
    this.clientId = clientId;
    this.#version = ctx.options.protocolVersion;
  }

  /**
   * The QoS 1/2 messages in flight.
   *
   * @returns The count.
   */
  get inflight(): number {
    return this.#inflight;
  }

  /**
   * Whether the client holds an open connection (with its CONNACK).
   *
   * @returns `true` between the CONNACK and the end.
   */
  get isConnected(): boolean {
    return this.#state === CONNECTED;
  }

  /** Open the socket and send CONNECT; the run hears back through `connected()`. */
  async connect(): Promise<void> {
    const ctx = this.#ctx;
    const o = ctx.options;
    this.#state = CONNECTING;
    let socket: Socket;
    let bytes: Uint8Array;
    try {
      const connect: Packet = {
        type: "connect",
        protocolVersion: this.#version,
        clientId: this.clientId,
        clean: true,
        keepAlive: o.keepAlive,
      };
      if (o.username !== undefined) connect.username = o.username;
      if (o.password !== undefined) connect.password = new TextEncoder().encode(o.password);
      bytes = encodeClientPacket(connect, this.#version);
      socket = await ctx.adapter.connect({ hostname: o.host, port: o.port });
    } catch (error) {
      this.#fail(`connect failed: ${describeError(error)}`);
      return;
    }
    if (this.#state !== CONNECTING) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    this.#decoder = new ClientDecoder({ protocolVersion: this.#version, copyPayloads: false });
    socket.setHandlers({ onData: this.#onData, onDrain: this.#onDrain, onClose: this.#onClose });
    socket.write(bytes);
    this.#timer = setTimeout(
      () => this.#fail("connect failed: no CONNACK"),
      CONNACK_TIMEOUT * 1000,
    );
  }

  /** Send PINGREQ when nothing was written since the last call. */
  keepAlive(): void {
    if (this.#state !== CONNECTED) return;
    if (!this.wrote) this.#socket!.write(PINGREQ);
    this.wrote = false;
  }

  /**
   * Start publishing: build the batch buffer from a template of this client's PUBLISH.
   *
   * @param now The time publishing starts.
   */
  startPublishing(now: number): void {
    const o = this.#ctx.options;
    const template = PublishTemplate.from({
      type: "publish",
      topic: expandTopic(o.topic, this.index, this.clientId),
      payload: new Uint8Array(o.payloadSize),
      qos: o.qos,
      retain: o.retain,
      dup: false,
    }, this.#version);
    const bytes = template.bytes;
    const length = bytes.length;
    this.#packetLength = length;
    this.#payloadOffset = length - o.payloadSize;
    this.#idOffset = template.packetIdOffset;
    let slots = Math.max(1, Math.floor(BATCH_BYTES / length));
    if (o.qos > 0) {
      slots = Math.min(slots, this.#window);
      this.#ids = new Uint32Array(2048);
    }
    this.#slots = slots;
    const batch = new Uint8Array(slots * length);
    const view = new DataView(batch.buffer);
    const publisher = (this.#ctx.publisherBase + this.index) >>> 0;
    for (let i = 0; i < slots; i++) {
      batch.set(bytes, i * length);
      view.setUint32(i * length + this.#payloadOffset + 12, publisher);
    }
    this.#batch = batch;
    this.#view = view;
    this.#startedAt = now;
    this.#working = true;
    if (o.interval === 0) this.#pump();
    else this.tick(now);
  }

  /**
   * Run the receive path over `count` stamped QoS 0 messages made up here, with throwaway
   * counters and no socket, so the runtime's JIT has compiled it before real messages come.
   * Without it a burst of a few thousand messages (retained ones for a new subscription)
   * is counted by code still being compiled, and the load generator is the bottleneck.
   *
   * @param count Messages to decode.
   * @param version The protocol version to encode them for.
   */
  static warmUp(count: number, version: 4 | 5): void {
    const counters = new BenchCounters();
    const options = { count: -1, protocolVersion: version } as BenchOptions;
    const ctx: BenchContext = {
      options,
      adapter: undefined as unknown as SocketAdapter,
      clock: () => Date.now(),
      counters,
      publisherBase: 0,
      stopping: false,
      connected() {},
      done() {},
      firstMessage() {},
      drained() {},
      defer() {},
      closed() {},
    };
    const client = new BenchClient(ctx, 1, "warm-up");
    client.#state = CONNECTED;
    client.#expected = new Map();
    client.#decoder = new ClientDecoder({ protocolVersion: version, copyPayloads: false });
    const payload = new Uint8Array(64);
    const stamp = new DataView(payload.buffer);
    const batch = 500;
    const template = PublishTemplate.from({
      type: "publish",
      topic: "mq-bench/warm-up",
      payload,
      qos: 0,
      retain: false,
      dup: false,
    }, version).bytes;
    const chunk = new Uint8Array(template.length * batch);
    const payloadAt = template.length - payload.length;
    let sequence = 0;
    for (let done = 0; done < count; done += batch) {
      const now = Date.now();
      for (let i = 0; i < batch; i++) {
        stamp.setFloat64(0, now);
        stamp.setUint32(8, sequence++);
        stamp.setUint32(12, 1);
        chunk.set(template, i * template.length);
        chunk.set(payload, i * template.length + payloadAt);
      }
      client.#onData(chunk);
    }
    client.#state = CLOSED;
  }

  /** Subscribe to this client's filter. */
  subscribe(): void {
    const o = this.#ctx.options;
    const filter = expandTopic(o.topic, this.index, this.clientId);
    this.#expected = filter.startsWith("$share/") ? undefined : new Map();
    this.#working = true;
    this.#write(encodeClientPacket({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{ filter, qos: o.qos }],
    }, this.#version));
  }

  /**
   * Publish the messages due by `now` at the `-I` interval (paced publishers).
   *
   * @param now The time.
   */
  tick(now: number): void {
    if (!this.#working || this.#congested || this.#state !== CONNECTED || this.#ctx.stopping) {
      return;
    }
    const o = this.#ctx.options;
    let n = Math.floor((now - this.#startedAt) / o.interval) + 1 - this.count;
    n = Math.min(n, this.#allowed());
    while (n > 0) {
      const m = Math.min(n, this.#slots);
      n -= m;
      if (!this.#publish(m, now)) {
        this.#congested = true;
        break;
      }
    }
    this.#checkDone();
  }

  /** Publish as much as flow control allows (unpaced publishers). */
  pump(): void {
    this.#pump();
  }

  /**
   * End the connection: DISCONNECT and close after the queued writes; a connection still
   * being set up is dropped.
   */
  end(): void {
    const state = this.#state;
    if (state === CONNECTED) {
      this.#state = ENDING;
      this.#flushAcks();
      this.#socket!.write(DISCONNECT);
      this.#socket!.close();
    } else if (state === CONNECTING || state === NEW) {
      this.#state = CLOSED;
      this.#reported = true;
      clearTimeout(this.#timer);
      if (this.#socket === undefined) this.#ctx.closed(this);
      else this.#socket.destroy();
    }
  }

  /** Close at once, discarding queued writes. */
  destroy(): void {
    if (this.#state === CLOSED) return;
    this.#reported = true;
    if (this.#socket === undefined) {
      this.#state = CLOSED;
      this.#ctx.closed(this);
    } else this.#socket.destroy();
  }

  /** How many more messages may be written now: the `-n` limit and the in-flight window. */
  #allowed(): number {
    const o = this.#ctx.options;
    let n = o.count === -1 ? Infinity : o.count - this.count;
    if (o.qos > 0) n = Math.min(n, this.#window - this.#inflight);
    return n;
  }

  #pump = (): void => {
    if (!this.#working || this.#congested || this.#state !== CONNECTED || this.#ctx.stopping) {
      return;
    }
    let budget = Math.max(this.#slots, Math.floor(PUMP_BYTES / this.#packetLength));
    const now = this.#ctx.clock();
    while (budget > 0) {
      const n = Math.min(this.#allowed(), this.#slots, budget);
      if (n <= 0) break;
      budget -= n;
      if (!this.#publish(n, now)) {
        this.#congested = true;
        break;
      }
    }
    if (budget <= 0 && !this.#congested && this.#allowed() > 0) this.#ctx.defer(this);
    this.#checkDone();
  };

  /** Write `m` messages (at most one batch) stamped `now`; `false` when the socket is full. */
  #publish(m: number, now: number): boolean {
    const length = this.#packetLength;
    const batch = this.#batch;
    const view = this.#view;
    const at = this.#payloadOffset;
    const idAt = this.#idOffset;
    let sequence = this.#sequence;
    for (let i = 0, off = 0; i < m; i++, off += length) {
      if (idAt >= 0) {
        const id = this.#allocateId();
        batch[off + idAt] = id >>> 8;
        batch[off + idAt + 1] = id & 0xff;
      }
      view.setFloat64(off + at, now);
      view.setUint32(off + at + 8, sequence);
      sequence = (sequence + 1) >>> 0;
    }
    this.#sequence = sequence;
    this.count += m;
    const counters = this.#ctx.counters;
    counters.sent += m;
    if (idAt >= 0) {
      this.#inflight += m;
      counters.inflight += m;
    }
    counters.mark(now);
    this.wrote = true;
    return this.#socket!.write(m === this.#slots ? batch : batch.subarray(0, m * length));
  }

  #allocateId(): number {
    const ids = this.#ids!;
    let id = this.#nextId;
    do id = id >= 0xffff ? 1 : id + 1; while ((ids[id >>> 5]! & (1 << (id & 31))) !== 0);
    ids[id >>> 5]! |= 1 << (id & 31);
    this.#nextId = id;
    return id;
  }

  /** Release a packet id; `false` when it was not in flight. */
  #release(id: number): boolean {
    const ids = this.#ids;
    if (ids === undefined) return false;
    const bit = 1 << (id & 31);
    if ((ids[id >>> 5]! & bit) === 0) return false;
    ids[id >>> 5]! &= ~bit;
    this.#inflight--;
    this.#ctx.counters.inflight--;
    return true;
  }

  #checkDone(): void {
    if (this.#done) return;
    const o = this.#ctx.options;
    if (o.count === -1 || this.count < o.count || this.#inflight > 0) return;
    this.#done = true;
    this.#ctx.done(this);
  }

  #write(bytes: Uint8Array): void {
    this.wrote = true;
    this.#socket!.write(bytes);
  }

  /** Queue a 4-byte acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP) with reason 0. */
  #queueAck(first: number, id: number): void {
    let out = this.#out;
    if (this.#outLength + 4 > out.length) {
      const grown = new Uint8Array(Math.max(256, out.length * 2));
      grown.set(out.subarray(0, this.#outLength));
      this.#out = out = grown;
    }
    const at = this.#outLength;
    out[at] = first;
    out[at + 1] = 2;
    out[at + 2] = id >>> 8;
    out[at + 3] = id & 0xff;
    this.#outLength = at + 4;
  }

  #flushAcks(): void {
    if (this.#outLength === 0) return;
    this.#write(this.#out.subarray(0, this.#outLength));
    this.#outLength = 0;
  }

  #fail(kind: string): void {
    if (this.#state === CLOSED || this.#state === CONNECTED || this.#state === ENDING) return;
    clearTimeout(this.#timer);
    this.#state = CLOSED;
    this.#reported = true;
    const counters = this.#ctx.counters;
    counters.failed++;
    counters.error(kind);
    this.#socket?.destroy();
    this.#ctx.connected(this, false);
    if (this.#socket === undefined) this.#ctx.closed(this);
  }

  #onData = (chunk: Uint8Array): void => {
    const decoder = this.#decoder!;
    decoder.push(chunk);
    let now = 0;
    for (let p = decoder.next(); p !== undefined; p = decoder.next()) {
      switch (p.type) {
        case "publish":
          if (now === 0) now = this.#ctx.clock();
          this.#onPublish(p.payload, p.qos, p.packetId ?? 0, now);
          break;
        case "puback":
          this.#onAck(p.packetId, p.reasonCode ?? 0, "PUBACK");
          break;
        case "pubrec":
          if ((p.reasonCode ?? 0) >= 0x80) this.#onAck(p.packetId, p.reasonCode!, "PUBREC");
          else this.#queueAck(0x62, p.packetId);
          break;
        case "pubcomp":
          this.#onAck(p.packetId, p.reasonCode ?? 0, "PUBCOMP");
          break;
        case "pubrel":
          this.#queueAck(0x70, p.packetId);
          break;
        case "connack":
          this.#onConnack(p.reasonCode, p.properties?.receiveMaximum);
          break;
        case "suback":
          this.#onSuback(p.reasonCodes[0] ?? 0x80);
          break;
        case "disconnect":
          this.#lose(`disconnected by the broker: ${reasonString(p.reasonCode ?? 0)}`);
          return;
        default:
          break;
      }
    }
    this.#flushAcks();
    const error = decoder.error;
    if (error !== undefined) {
      this.#lose(`protocol error: ${error.name} (reason code 0x${error.reasonCode.toString(16)})`);
      return;
    }
    // Refill the window on every acknowledgement: waiting for several would stall against a
    // broker whose acknowledgements wait on Nagle's algorithm for ours (mosquitto's default).
    if (this.#working && this.#ctx.options.interval === 0 && this.#ctx.options.qos > 0) {
      this.#pump();
    }
  };

  #onConnack(code: number, receiveMaximum: number | undefined): void {
    if (this.#state !== CONNECTING) return;
    clearTimeout(this.#timer);
    if (code !== 0) {
      const text = this.#version === 5 ? reasonString(code) : RETURN_CODES[code] ?? `code ${code}`;
      this.#fail(`connection refused: ${text}`);
      return;
    }
    this.#state = CONNECTED;
    const o = this.#ctx.options;
    const limit = this.#version === 5 ? receiveMaximum ?? 0xffff : 0xffff;
    this.#window = Math.min(o.inflight ?? (this.#version === 5 ? limit : V311_INFLIGHT), limit);
    const counters = this.#ctx.counters;
    counters.connected++;
    this.#ctx.connected(this, true);
  }

  #onSuback(code: number): void {
    if (code < 0x80) return;
    this.#ctx.counters.error(
      `subscribe refused: ${this.#version === 5 ? reasonString(code) : "Failure"}`,
    );
    this.#working = false;
    if (!this.#done) {
      this.#done = true;
      this.#ctx.done(this);
    }
  }

  #onAck(id: number, code: number, name: string): void {
    const counters = this.#ctx.counters;
    if (!this.#release(id)) {
      counters.error(`unexpected ${name}`);
      return;
    }
    if (code >= 0x80) counters.error(`publish refused: ${reasonString(code)}`);
    else {
      counters.acked++;
      counters.mark(this.#ctx.clock());
    }
    if (this.#ctx.stopping) {
      if (counters.inflight === 0) this.#ctx.drained();
    } else this.#checkDone();
  }

  #onPublish(payload: Uint8Array, qos: QoS, id: number, now: number): void {
    if (qos === 1) this.#queueAck(0x40, id);
    else if (qos === 2) this.#queueAck(0x50, id);
    const counters = this.#ctx.counters;
    if (counters.received === 0) this.#ctx.firstMessage();
    counters.received++;
    counters.bytes += payload.length;
    counters.mark(now);
    this.count++;
    const o = this.#ctx.options;
    if (!this.#done && o.count !== -1 && this.count >= o.count) {
      this.#done = true;
      this.#ctx.done(this);
    }
    if (payload.length < STAMP_SIZE) {
      counters.untimed++;
      return;
    }
    const stamp = this.#stamp;
    for (let i = 0; i < STAMP_SIZE; i++) stamp[i] = payload[i]!;
    const view = this.#stampView;
    const sent = view.getFloat64(0);
    if (!(sent > now - STAMP_WINDOW && sent < now + STAMP_WINDOW)) {
      counters.untimed++;
      return;
    }
    counters.latency.record(now - sent);
    const expectedByPublisher = this.#expected;
    if (expectedByPublisher === undefined) return;
    const sequence = view.getUint32(8);
    const publisher = view.getUint32(12);
    let expected: number;
    if (publisher === this.#lastPublisher) expected = this.#lastExpected;
    else {
      if (this.#lastPublisher !== -1) {
        expectedByPublisher.set(this.#lastPublisher, this.#lastExpected);
      }
      expected = expectedByPublisher.get(publisher) ?? 0;
      this.#lastPublisher = publisher;
    }
    if (sequence === expected) expected++;
    else if (sequence > expected) {
      counters.gaps += sequence - expected;
      expected = sequence + 1;
    } else counters.duplicates++;
    this.#lastExpected = expected;
  }

  #onDrain = (): void => {
    this.#congested = false;
    if (this.#ctx.options.interval === 0) this.#pump();
  };

  /** The connection ended without our asking: count it once and close. */
  #lose(kind: string): void {
    if (this.#reported) return;
    this.#reported = true;
    const counters = this.#ctx.counters;
    if (this.#state === CONNECTING) {
      this.#reported = false;
      this.#fail(kind);
      return;
    }
    if (this.#state === CONNECTED) {
      counters.lost++;
      counters.error(kind);
    }
    this.#socket?.destroy();
  }

  #onClose = (error?: Error): void => {
    clearTimeout(this.#timer);
    if (this.#state === CONNECTING) {
      this.#fail(`connect failed: ${error ? describeError(error) : "closed before CONNACK"}`);
    } else if (this.#state === CONNECTED) {
      this.#lose(`connection lost${error ? `: ${describeError(error)}` : ""}`);
    }
    this.#state = CLOSED;
    this.#working = false;
    if (this.#inflight > 0) {
      // Never to be acknowledged: stop waiting for them.
      const counters = this.#ctx.counters;
      counters.inflight -= this.#inflight;
      this.#inflight = 0;
      if (this.#ctx.stopping && counters.inflight === 0) this.#ctx.drained();
    }
    this.#ctx.closed(this);
  };
}
