/**
 * Shared pieces of the hostile-client suite: a thin raw connection over the runtime's own TCP
 * adapter, crash watchers, memory snapshots, the fuzz seed, and small waiting helpers that
 * never use a sleep as synchronisation.
 *
 * @module
 */

import process from "node:process";
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { TestContext } from "node:test";
import type { Broker } from "../../broker/types.ts";
import {
  Decoder,
  encodePacket,
  type MqttError,
  type Packet,
  type ProtocolVersion,
} from "../../protocol/mod.ts";
import { loadTcpAdapter } from "../../socket/runtime.ts";
import type { Socket, SocketAdapter } from "../../socket/types.ts";

let adapterPromise: Promise<SocketAdapter> | undefined;

/** The current runtime's native TCP adapter (Deno's, Bun's or node:net), loaded once. */
export function tcpAdapter(): Promise<SocketAdapter> {
  return adapterPromise ??= loadTcpAdapter();
}

/** The runtime's name, for figures in log lines. */
export function runtimeName(): string {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node";
}

/**
 * A raw connection to the broker: bytes out, packets in (decoded as a client of `version`
 * would), and the close. Cheap enough to open tens of thousands of.
 */
export class Wire {
  readonly socket: Socket;
  /** Packets received so far. */
  readonly packets: Packet[] = [];
  /** Set when what the broker sent did not decode. */
  decodeError: MqttError | undefined;
  /** When the socket closed (performance.now()), or -1. */
  closedAt = -1;
  #decoder: Decoder;
  #closed: Promise<void>;
  #onClosed!: () => void;
  readonly #waiters = new Set<() => void>();

  /**
   * Wrap a connected socket.
   *
   * @param socket The socket.
   * @param version How to decode what the broker sends.
   */
  constructor(socket: Socket, version: ProtocolVersion) {
    this.socket = socket;
    this.#decoder = new Decoder({ side: "client", protocolVersion: version });
    this.#closed = new Promise((resolve) => (this.#onClosed = resolve));
    socket.setHandlers({
      onData: (chunk) => {
        const decoder = this.#decoder;
        decoder.push(chunk);
        for (let p = decoder.next(); p !== undefined; p = decoder.next()) this.packets.push(p);
        if (decoder.error !== undefined) this.decodeError ??= decoder.error;
        this.#wake();
      },
      onClose: () => {
        this.closedAt = performance.now();
        this.#onClosed();
        this.#wake();
      },
    });
  }

  /**
   * Open a connection to the broker's first listener.
   *
   * @param broker The broker.
   * @param version How to decode what the broker sends.
   * @returns The connection.
   */
  static async open(broker: Broker, version: ProtocolVersion = 5): Promise<Wire> {
    const adapter = await tcpAdapter();
    const address = broker.addresses[0]!;
    const socket = await adapter.connect({ hostname: address.hostname, port: address.port });
    return new Wire(socket, version);
  }

  /** Whether the socket has closed. */
  get closed(): boolean {
    return this.closedAt >= 0;
  }

  /**
   * Switch the decoder of what the broker sends to another protocol version (only before
   * anything arrived).
   *
   * @param version The version.
   */
  expect(version: ProtocolVersion): void {
    this.#decoder = new Decoder({ side: "client", protocolVersion: version });
  }

  /**
   * Send bytes.
   *
   * @param bytes The bytes.
   */
  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /**
   * Send a packet.
   *
   * @param packet The packet.
   * @param version Its encoding.
   */
  send(packet: Packet, version: ProtocolVersion): void {
    this.socket.write(encodePacket(packet, version));
  }

  /**
   * Wait until `done()` holds or the socket closes, at most `ms`.
   *
   * @param done The condition, checked after every chunk.
   * @param ms The bound.
   * @returns Whether `done()` held.
   */
  async until(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return true;
    const deadline = performance.now() + ms;
    while (!this.closed) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake!: () => void;
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.#waiters.add(wake);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#waiters.delete(wake);
      if (done()) return true;
    }
    return done();
  }

  /**
   * Wait for a packet of a type, at most `ms`.
   *
   * @param type The packet type.
   * @param ms The bound.
   * @returns The first such packet, or undefined.
   */
  async packet<T extends Packet["type"]>(
    type: T,
    ms: number,
  ): Promise<Extract<Packet, { type: T }> | undefined> {
    const find = () => this.packets.find((p) => p.type === type);
    await this.until(() => find() !== undefined, ms);
    return find() as Extract<Packet, { type: T }> | undefined;
  }

  /**
   * Wait for the broker to close the connection, at most `ms`.
   *
   * @param ms The bound.
   * @returns Whether it closed in time.
   */
  async whenClosed(ms: number): Promise<boolean> {
    if (this.closed) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.#closed, timeout]);
    clearTimeout(timer);
    return this.closed;
  }

  /** Close at once. */
  destroy(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
  }
}

/**
 * A well-behaved MQTT 5 client that publishes QoS 1 messages to itself, one round trip at a
 * time, and records each round trip's latency.
 */
export class Probe {
  /** Latency of each round trip in ms (Infinity for one that did not complete in time). */
  readonly latencies: number[] = [];
  readonly #wire: Wire;
  readonly #topic: string;
  readonly #bound: number;
  #packetId = 0;

  private constructor(wire: Wire, topic: string, bound: number) {
    this.#wire = wire;
    this.#topic = topic;
    this.#bound = bound;
  }

  /**
   * Connect and subscribe to its own topic.
   *
   * @param broker The broker.
   * @param id The client id.
   * @param bound How long a round trip may take, in ms.
   * @returns The probe.
   */
  static async start(broker: Broker, id: string, bound = 2_000): Promise<Probe> {
    const wire = await Wire.open(broker, 5);
    wire.write(connectBytes(id, 5));
    const connack = await wire.packet("connack", 10_000);
    if (connack?.reasonCode !== 0) throw new Error(`Probe ${id} was not accepted`);
    const topic = `${id}/echo`;
    wire.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{
        filter: topic,
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      }],
    }, 5);
    const suback = await wire.packet("suback", 10_000);
    if (suback?.reasonCodes[0] !== 1) throw new Error(`Probe ${id} could not subscribe`);
    wire.packets.length = 0;
    return new Probe(wire, topic, bound);
  }

  /** Whether its connection has closed. */
  get closed(): boolean {
    return this.#wire.closed;
  }

  /**
   * Publish one message to itself and wait for both the PUBACK and the message.
   *
   * @returns The latency in ms, or Infinity when it took longer than the bound.
   */
  async roundTrip(): Promise<number> {
    const wire = this.#wire;
    const packetId = this.#packetId = this.#packetId % 60_000 + 1;
    const payload = new Uint8Array([packetId >> 8, packetId & 0xff]);
    const start = performance.now();
    wire.send({
      type: "publish",
      topic: this.#topic,
      payload,
      qos: 1,
      packetId,
      retain: false,
      dup: false,
    }, 5);
    let acked = false;
    let echoed = false;
    const done = (): boolean => {
      // Acknowledge what arrived, and drop it (late ones of an earlier round trip included).
      for (const p of wire.packets.splice(0)) {
        if (p.type === "puback" && p.packetId === packetId) acked = true;
        if (p.type !== "publish") continue;
        if (p.packetId !== undefined) wire.send({ type: "puback", packetId: p.packetId }, 5);
        if (p.payload[0] === payload[0] && p.payload[1] === payload[1]) echoed = true;
      }
      return acked && echoed;
    };
    const ok = await wire.until(done, this.#bound);
    const latency = ok ? performance.now() - start : Infinity;
    this.latencies.push(latency);
    return latency;
  }

  /** Close at once. */
  destroy(): void {
    this.#wire.destroy();
  }
}

/**
 * The bytes of a CONNECT (clean start, no will).
 *
 * @param clientId The client id.
 * @param version The protocol version.
 * @param options Keep alive in seconds (default 0) and the MQTT 5 Receive Maximum, if any.
 * @returns The encoded packet.
 */
export function connectBytes(
  clientId: string,
  version: ProtocolVersion,
  options: { keepAlive?: number; receiveMaximum?: number } = {},
): Uint8Array {
  const packet: Packet = {
    type: "connect",
    protocolVersion: version,
    clientId,
    clean: true,
    keepAlive: options.keepAlive ?? 0,
  };
  const receiveMaximum = options.receiveMaximum;
  if (receiveMaximum !== undefined && version === 5) packet.properties = { receiveMaximum };
  return encodePacket(packet, version);
}

/**
 * Record uncaught exceptions and unhandled rejections for the rest of the test.
 *
 * @param t The test.
 * @returns What was caught (assert it is empty at the end).
 */
export function watchCrashes(t: TestContext): unknown[] {
  const caught: unknown[] = [];
  const onError = (error: unknown): void => void caught.push(error);
  process.on("uncaughtException", onError);
  process.on("unhandledRejection", onError);
  t.after(() => {
    process.off("uncaughtException", onError);
    process.off("unhandledRejection", onError);
  });
  return caught;
}

/**
 * A logger for the broker that keeps its "error" lines (a failed send, a throwing listener).
 *
 * @returns The logger and the lines.
 */
export function errorLog(): {
  logger: (level: string, message: string) => void;
  errors: string[];
} {
  const errors: string[] = [];
  return {
    errors,
    logger: (level, message) => {
      if (level === "error") errors.push(message);
    },
  };
}

/** The seed of the fuzzer: `MQ_FUZZ_SEED`, or a fresh one. */
export function fuzzSeed(): number {
  const fromEnv = process.env.MQ_FUZZ_SEED;
  if (fromEnv !== undefined && fromEnv !== "") {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed)) {
      throw new RangeError(`MQ_FUZZ_SEED "${fromEnv}" is not an integer`);
    }
    return seed >>> 0;
  }
  const words = new Uint32Array(1);
  crypto.getRandomValues(words);
  return words[0]!;
}

let gcFunction: (() => void) | undefined | null = null;

function findGc(): (() => void) | undefined {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (typeof g.gc === "function") return () => g.gc!();
  if (g.Bun !== undefined) return () => g.Bun!.gc(true);
  try {
    // V8 (Node, Deno): expose gc at run time.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    if (typeof gc === "function") return gc as () => void;
  } catch {
    // not available
  }
  return undefined;
}

/** Run a full garbage collection when the runtime lets us; returns whether it did. */
export function collect(): boolean {
  if (gcFunction === null) gcFunction = findGc();
  if (gcFunction === undefined) return false;
  gcFunction();
  gcFunction();
  return true;
}

/** Memory figures of this process, in bytes. */
export interface Memory {
  /** Resident set size. */
  rss: number;
  /**
   * The JavaScript heap plus memory outside it that the engine accounts for (ArrayBuffer
   * storage, native socket buffers): heapUsed + external under Node and Deno; heapUsed under
   * Bun, whose heapUsed already includes it.
   */
  heap: number;
}

/** Collect garbage (when possible) and read the memory figures. */
export function memory(): Memory {
  collect();
  const m = process.memoryUsage();
  const bun = (globalThis as { Bun?: unknown }).Bun !== undefined;
  return { rss: m.rss, heap: bun ? m.heapUsed : m.heapUsed + m.external };
}

/** This process's open-files limit (from /proc/self/limits), or undefined when unknown. */
export function openFilesLimit(): number | undefined {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const m = limits.match(/^Max open files\s+(\d+|unlimited)/m);
    if (m === null) return undefined;
    return m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * A bound on a promise: rejects with `what` when `ms` pass first.
 *
 * @param promise The promise.
 * @param ms The bound.
 * @param what What timed out (for the message).
 * @returns The value.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The q-th quantile of numbers (0.5 the median).
 *
 * @param values The numbers.
 * @param q In [0, 1].
 * @returns The quantile, or NaN for none.
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
