/**
 * A `mq bench` run: launches the clients (paced by `-i` or `--concurrency` at a time), starts
 * each one's work as soon as it has its CONNACK, drives the shared timers (keep alive, the
 * `-I` pacing, deferred pumps), ends on `--duration`, `-n` or {@linkcode BenchRun.stop}, and
 * sums everything up in a {@linkcode BenchSummary}.
 *
 * @module
 */

import type { SocketAdapter } from "../socket/types.ts";
import type { BenchOptions, BenchScenario } from "./_bench_args.ts";
import { BenchClient, type BenchContext, BenchCounters } from "./_bench_client.ts";
import type { LatencySummary } from "./_bench_stats.ts";

/** Milliseconds to wait for outstanding acknowledgements once a publisher run ends. */
const ACK_GRACE = 5_000;
/** Milliseconds to wait for connections to close before dropping them. */
const CLOSE_GRACE = 2_000;

/** The result of a run; also the shape of `--json`'s output. */
export interface BenchSummary {
  /** The scenario. */
  scenario: BenchScenario;
  /** `"3.1.1"` or `"5"`. */
  mqttVersion: string;
  /** QoS of the publishes or subscriptions (0 for conn). */
  qos: number;
  /** The topic or filter template (empty for conn). */
  topic: string;
  /** Payload size in bytes (pub; 0 otherwise). */
  payloadSize: number;
  /** Clients asked for. */
  clients: number;
  /** Clients that got a successful CONNACK. */
  connected: number;
  /** Clients whose connection failed or was refused. */
  failed: number;
  /** Connections lost after the CONNACK. */
  lost: number;
  /** CONNACKs per second from the first connection attempt to the last CONNACK. */
  connectRate: number;
  /**
   * Seconds measured: pub from the first PUBLISH written to the last one written or
   * acknowledged, sub from the first message received to the last, conn from the first
   * attempt to the last CONNACK.
   */
  elapsed: number;
  /** Seconds from the start to the end of the whole run (connecting and holding included). */
  runTime: number;
  /** PUBLISH packets written (pub). */
  sent: number;
  /** QoS 1 and 2 PUBLISH packets acknowledged (pub). */
  acked: number;
  /** PUBLISH packets received (sub). */
  received: number;
  /** Payload bytes received (sub). */
  bytes: number;
  /** Messages per second over `elapsed` (sent, received, or connections for conn). */
  rate: number;
  /** End-to-end latency in milliseconds of stamped messages (sub), else `null`. */
  latency: LatencySummary | null;
  /** Messages missing from publishers' sequences (sub). */
  gaps: number;
  /** Messages whose sequence number was seen before (sub). */
  duplicates: number;
  /** Messages received without an `mq bench pub` stamp (sub). */
  untimed: number;
  /** Errors counted. */
  errors: number;
  /** Errors by kind. */
  errorKinds: Record<string, number>;
  /** Whether a signal ended the run early. */
  interrupted: boolean;
}

/** A snapshot for the live status line. */
export interface BenchProgress {
  /** The scenario. */
  scenario: BenchScenario;
  /** Seconds since the run started. */
  time: number;
  /** Clients asked for. */
  clients: number;
  /** Clients connected now. */
  connected: number;
  /** Clients that failed to connect. */
  failed: number;
  /** PUBLISH packets written. */
  sent: number;
  /** PUBLISH packets received. */
  received: number;
  /** QoS 1/2 messages in flight. */
  inflight: number;
  /** Errors counted. */
  errors: number;
  /** Median latency so far, milliseconds (`NaN` without samples). */
  p50: number;
  /** 99th percentile latency so far, milliseconds (`NaN` without samples). */
  p99: number;
}

/** What a {@linkcode BenchRun} needs besides the options. */
export interface BenchRunOptions {
  /** The socket adapter. */
  adapter: SocketAdapter;
  /** The calibrated wall clock, milliseconds since the epoch. */
  clock: () => number;
  /** The client id prefix when `--prefix` is not given. */
  prefix: string;
  /** Added to client indexes to make publisher ids. */
  publisherBase: number;
}

type Timer = ReturnType<typeof setTimeout>;

function round(n: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(n * scale) / scale;
}

function roundLatency(l: LatencySummary | undefined): LatencySummary | null {
  if (l === undefined) return null;
  return {
    count: l.count,
    min: round(l.min, 3),
    mean: round(l.mean, 3),
    p50: round(l.p50, 3),
    p90: round(l.p90, 3),
    p99: round(l.p99, 3),
    p999: round(l.p999, 3),
    max: round(l.max, 3),
  };
}

/** Messages `mq bench sub` decodes before it connects (about 50 ms). */
const WARM_UP_MESSAGES = 50_000;

/**
 * One benchmark run.
 *
 * @example Nothing to connect to: every client fails
 * ```ts ignore
 * const run = new BenchRun(options, { adapter, clock, prefix: "x", publisherBase: 0 });
 * const summary = await run.run();
 * ```
 */
export class BenchRun implements BenchContext {
  /** The options. */
  readonly options: BenchOptions;
  /** The socket adapter. */
  readonly adapter: SocketAdapter;
  /** The calibrated clock. */
  readonly clock: () => number;
  /** The shared counters. */
  readonly counters: BenchCounters = new BenchCounters();
  /** Added to client indexes to make publisher ids. */
  readonly publisherBase: number;
  /** Whether the run is ending. */
  stopping = false;
  readonly #prefix: string;
  readonly #clients: BenchClient[] = [];
  readonly #closed = new Set<BenchClient>();
  #deferred: BenchClient[] = [];
  #deferTimer: Timer | undefined;
  #launchTimer: Timer | undefined;
  #durationTimer: Timer | undefined;
  #intervals: ReturnType<typeof setInterval>[] = [];
  #settled = 0;
  #finished = 0;
  #started = 0;
  #lastConnack = 0;
  #durationStarted = false;
  #interrupted = false;
  #end: () => void = () => {};
  #drained: () => void = () => {};
  #allClosed: () => void = () => {};

  /**
   * Prepare a run; {@linkcode BenchRun.run} starts it.
   *
   * @param options The parsed options.
   * @param runOptions The adapter, clock, id prefix and publisher id base.
   */
  constructor(options: BenchOptions, runOptions: BenchRunOptions) {
    this.options = options;
    this.adapter = runOptions.adapter;
    this.clock = runOptions.clock;
    this.publisherBase = runOptions.publisherBase;
    this.#prefix = options.prefix ?? runOptions.prefix;
  }

  /**
   * Run to the end and sum up.
   *
   * @returns The summary.
   */
  async run(): Promise<BenchSummary> {
    const o = this.options;
    const ended = new Promise<void>((resolve) => (this.#end = resolve));
    // Subscribers count with their receive path compiled by the JIT already (see warmUp).
    if (o.scenario === "sub") BenchClient.warmUp(WARM_UP_MESSAGES, o.protocolVersion);
    this.#started = this.clock();
    if (o.keepAlive > 0) {
      this.#intervals.push(setInterval(() => {
        for (const client of this.#clients) client.keepAlive();
      }, o.keepAlive * 500));
    }
    if (o.scenario === "pub" && o.interval > 0) {
      const tick = Math.min(Math.max(o.interval, 1), 10);
      this.#intervals.push(setInterval(() => {
        const now = this.clock();
        for (const client of this.#clients) client.tick(now);
      }, tick));
    }
    this.#launch();
    await ended;
    clearTimeout(this.#launchTimer);
    clearTimeout(this.#durationTimer);
    if (this.counters.inflight > 0) {
      let timer: Timer | undefined;
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        timer = setTimeout(resolve, ACK_GRACE);
      });
      clearTimeout(timer);
    }
    const end = this.clock();
    const closing = new Promise<void>((resolve) => (this.#allClosed = resolve));
    if (this.#closed.size === this.#clients.length) this.#allClosed();
    for (const client of this.#clients) client.end();
    let timer: Timer | undefined;
    const timedOut = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), CLOSE_GRACE))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      for (const client of this.#clients) client.destroy();
      await closing;
    }
    for (const interval of this.#intervals) clearInterval(interval);
    clearTimeout(this.#deferTimer);
    return this.#summary(end);
  }

  /**
   * End the run early (a signal, or a test).
   *
   * @param interrupted Whether to report the run as interrupted.
   */
  stop(interrupted = true): void {
    if (this.stopping) return;
    if (interrupted) this.#interrupted = true;
    this.stopping = true;
    this.#end();
  }

  /**
   * A snapshot for the live status line.
   *
   * @returns The numbers so far.
   */
  progress(): BenchProgress {
    const c = this.counters;
    let connected = 0;
    for (const client of this.#clients) if (client.isConnected) connected++;
    return {
      scenario: this.options.scenario,
      time: (this.clock() - this.#started) / 1000,
      clients: this.options.clients,
      connected,
      failed: c.failed,
      sent: c.sent,
      received: c.received,
      inflight: c.inflight,
      errors: c.errorCount,
      p50: c.latency.percentile(0.5),
      p99: c.latency.percentile(0.99),
    };
  }

  /** @inheritdoc */
  connected(client: BenchClient, ok: boolean): void {
    const o = this.options;
    this.#settled++;
    const now = this.clock();
    if (ok) {
      this.#lastConnack = now;
      if (this.stopping) {
        client.end();
        return;
      }
      try {
        if (o.scenario === "pub") {
          client.startPublishing(now);
          this.#startDuration();
        } else if (o.scenario === "sub") client.subscribe();
      } catch (error) {
        // A topic or filter the expansion made invalid
        this.counters.error(`cannot start: ${(error as Error).message}`);
        client.end();
        this.#finish(client);
      }
    } else this.#finish(client);
    if (this.#settled === o.clients && o.scenario === "conn") this.#startDuration();
    if (o.connectInterval === 0) this.#launch();
  }

  /** @inheritdoc */
  done(client: BenchClient): void {
    this.#finish(client);
  }

  /** @inheritdoc */
  firstMessage(): void {
    if (this.options.scenario === "sub") this.#startDuration();
  }

  /** @inheritdoc */
  drained(): void {
    this.#drained();
  }

  /** @inheritdoc */
  defer(client: BenchClient): void {
    this.#deferred.push(client);
    this.#deferTimer ??= setTimeout(this.#runDeferred, 0);
  }

  /** @inheritdoc */
  closed(client: BenchClient): void {
    if (this.#closed.has(client)) return;
    this.#closed.add(client);
    if (!this.stopping) this.#finish(client);
    if (this.stopping && this.#closed.size === this.#clients.length) this.#allClosed();
  }

  #runDeferred = (): void => {
    this.#deferTimer = undefined;
    const clients = this.#deferred;
    this.#deferred = [];
    for (const client of clients) client.pump();
  };

  #finish(client: BenchClient): void {
    if (client.finished) return;
    client.finished = true;
    this.#finished++;
    if (this.#finished === this.options.clients) this.stop(false);
  }

  #startDuration(): void {
    if (this.#durationStarted) return;
    this.#durationStarted = true;
    const seconds = this.options.duration;
    if (seconds > 0) this.#durationTimer = setTimeout(() => this.stop(false), seconds * 1000);
  }

  #launchOne(): void {
    const o = this.options;
    const index = this.#clients.length + 1;
    const client = new BenchClient(this, index, `${this.#prefix}-${o.scenario}-${index}`);
    this.#clients.push(client);
    void client.connect();
  }

  #launch = (): void => {
    const o = this.options;
    if (this.stopping) return;
    if (o.connectInterval === 0) {
      while (
        this.#clients.length < o.clients && this.#clients.length - this.#settled < o.concurrency
      ) {
        this.#launchOne();
      }
      return;
    }
    const due = Math.min(
      o.clients,
      Math.floor((this.clock() - this.#started) / o.connectInterval) + 1,
    );
    while (this.#clients.length < due) this.#launchOne();
    if (this.#clients.length < o.clients) {
      const next = this.#started + this.#clients.length * o.connectInterval - this.clock();
      this.#launchTimer = setTimeout(this.#launch, Math.max(0, next));
    }
  };

  #summary(end: number): BenchSummary {
    const o = this.options;
    const c = this.counters;
    const measured = o.scenario === "conn"
      ? (this.#lastConnack === 0 ? 0 : this.#lastConnack - this.#started)
      : c.last - c.first;
    const elapsed = measured / 1000;
    const count = o.scenario === "pub" ? c.sent : o.scenario === "sub" ? c.received : c.connected;
    const connectTime = (this.#lastConnack - this.#started) / 1000;
    const errorKinds: Record<string, number> = {};
    for (const [kind, n] of c.errors) errorKinds[kind] = n;
    return {
      scenario: o.scenario,
      mqttVersion: o.protocolVersion === 5 ? "5" : "3.1.1",
      qos: o.scenario === "conn" ? 0 : o.qos,
      topic: o.scenario === "conn" ? "" : o.topic,
      payloadSize: o.scenario === "pub" ? o.payloadSize : 0,
      clients: o.clients,
      connected: c.connected,
      failed: c.failed,
      lost: c.lost,
      connectRate: c.connected > 0 && connectTime > 0 ? round(c.connected / connectTime, 1) : 0,
      elapsed: round(elapsed, 3),
      runTime: round((end - this.#started) / 1000, 3),
      sent: c.sent,
      acked: c.acked,
      received: c.received,
      bytes: c.bytes,
      rate: elapsed > 0 ? round(count / elapsed, 1) : 0,
      latency: roundLatency(c.latency.summary()),
      gaps: c.gaps,
      duplicates: c.duplicates,
      untimed: c.untimed,
      errors: c.errorCount,
      errorKinds,
      interrupted: this.#interrupted,
    };
  }
}
