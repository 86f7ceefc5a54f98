/**
 * The numbers of `mq bench`: a fixed-size latency histogram (log-linear buckets, like
 * HdrHistogram's, about 0.2% precision), the payload stamp publishers embed and
 * subscribers read, and a clock calibrated to the wall clock with sub-millisecond
 * resolution so two processes on one machine agree on it.
 *
 * @module
 */

/** Sub-buckets per power of two: values are kept to within 1/512 (0.2%). */
const SUB = 512;
/** Values are microseconds below 2^31 (about 36 minutes); larger ones are clamped. */
const MAX_MICROS = 2 ** 31 - 1;
const BUCKETS = (31 - 9 + 1) * SUB + SUB;

function bucketOf(micros: number): number {
  if (micros < 2 * SUB) return micros;
  const shift = 31 - Math.clz32(micros) - 9;
  return (shift + 1) * SUB + ((micros >>> shift) - SUB);
}

function valueOf(bucket: number): number {
  if (bucket < 2 * SUB) return bucket;
  const shift = Math.floor(bucket / SUB) - 1;
  const low = ((bucket % SUB) + SUB) * 2 ** shift;
  // The middle of the bucket's range
  return low + (2 ** shift - 1) / 2;
}

/** Latency percentiles in milliseconds, as {@linkcode LatencyHistogram.summary} returns them. */
export interface LatencySummary {
  /** Messages measured. */
  count: number;
  /** Smallest latency. */
  min: number;
  /** Mean latency. */
  mean: number;
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p999: number;
  /** Largest latency. */
  max: number;
}

/**
 * Latencies counted in log-linear buckets of microseconds: exact below 1.024 ms, then 512
 * buckets per power of two. Recording is a few arithmetic operations and no allocation;
 * the memory is fixed (about 94 KB) whatever the number of samples.
 *
 * @example Percentiles of four latencies
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatencyHistogram } from "./_bench_stats.ts";
 * const h = new LatencyHistogram();
 * for (const ms of [0.1, 0.2, 0.3, 10]) h.record(ms);
 * const s = h.summary()!;
 * assert.equal(s.count, 4);
 * assert.equal(s.p50, 0.2);
 * assert.equal(s.max, 10);
 * ```
 */
export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  /**
   * Count one latency. Negative values (clock skew between processes) count as 0.
   *
   * @param ms The latency in milliseconds.
   */
  record(ms: number): void {
    const value = ms > 0 ? ms : 0;
    let micros = Math.round(value * 1000);
    if (!(micros <= MAX_MICROS)) micros = MAX_MICROS;
    this.#counts[bucketOf(micros)]!++;
    this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /**
   * Add the counts of another histogram.
   *
   * @param other The histogram to merge in.
   */
  add(other: LatencyHistogram): void {
    if (other.#count === 0) return;
    const mine = this.#counts;
    const theirs = other.#counts;
    for (let i = 0; i < BUCKETS; i++) mine[i]! += theirs[i]!;
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /**
   * The number of latencies recorded.
   *
   * @returns The count.
   */
  get count(): number {
    return this.#count;
  }

  /**
   * The latency below which `fraction` of the samples fall, in milliseconds (the middle of
   * its bucket, kept within the exact minimum and maximum).
   *
   * @param fraction From 0 to 1, e.g. 0.99.
   * @returns The latency, or `NaN` when nothing was recorded.
   */
  percentile(fraction: number): number {
    if (this.#count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(fraction * this.#count));
    let seen = 0;
    const counts = this.#counts;
    for (let i = 0; i < BUCKETS; i++) {
      seen += counts[i]!;
      if (seen >= rank) {
        const ms = valueOf(i) / 1000;
        return Math.min(this.#max, Math.max(this.#min, ms));
      }
    }
    return this.#max;
  }

  /**
   * The usual percentiles, in milliseconds.
   *
   * @returns The summary, or `undefined` when nothing was recorded.
   */
  summary(): LatencySummary | undefined {
    if (this.#count === 0) return undefined;
    return {
      count: this.#count,
      min: this.#min,
      mean: this.#sum / this.#count,
      p50: this.percentile(0.5),
      p90: this.percentile(0.9),
      p99: this.percentile(0.99),
      p999: this.percentile(0.999),
      max: this.#max,
    };
  }
}

/** Bytes at the start of every `mq bench pub` payload: the stamp. */
export const STAMP_SIZE = 16;

/**
 * Write the stamp at the start of a payload: the send time as a big-endian float64 of
 * milliseconds since the epoch (bytes 0-7), the publisher's sequence number (uint32, bytes
 * 8-11) and the publisher id (uint32, bytes 12-15).
 *
 * @example Stamp and read back
 * ```ts
 * import assert from "node:assert/strict";
 * import { readStamp, writeStamp } from "./_bench_stats.ts";
 * const payload = new Uint8Array(16);
 * const view = new DataView(payload.buffer);
 * writeStamp(view, 0, { time: 1700000000000.5, sequence: 7, publisher: 42 });
 * assert.deepEqual(readStamp(payload), { time: 1700000000000.5, sequence: 7, publisher: 42 });
 * ```
 *
 * @param view A view over the buffer that holds the payload.
 * @param offset Where the payload starts in the view.
 * @param stamp The send time, sequence number and publisher id.
 */
export function writeStamp(view: DataView, offset: number, stamp: Stamp): void {
  view.setFloat64(offset, stamp.time);
  view.setUint32(offset + 8, stamp.sequence);
  view.setUint32(offset + 12, stamp.publisher);
}

/** What a publisher writes at the start of each payload. */
export interface Stamp {
  /** Send time in milliseconds since the epoch, with a fraction. */
  time: number;
  /** The publisher's sequence number, from 0. */
  sequence: number;
  /** The publisher id, unique per client of a `mq bench pub` run. */
  publisher: number;
}

/**
 * Read the stamp {@linkcode writeStamp} wrote.
 *
 * @example A payload too short has no stamp
 * ```ts
 * import assert from "node:assert/strict";
 * import { readStamp } from "./_bench_stats.ts";
 * assert.equal(readStamp(new Uint8Array(3)), undefined);
 * ```
 *
 * @param payload The payload.
 * @returns The stamp, or `undefined` when the payload is shorter than a stamp.
 */
export function readStamp(payload: Uint8Array): Stamp | undefined {
  if (payload.length < STAMP_SIZE) return undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, STAMP_SIZE);
  return { time: view.getFloat64(0), sequence: view.getUint32(8), publisher: view.getUint32(12) };
}

/**
 * A wall clock with sub-millisecond resolution: `performance.now()` shifted so it agrees
 * with `wallClock()` (the host's `Date.now()`). The shift is measured at the moments the
 * wall clock ticks to the next millisecond, ten times (about 10 ms), keeping the largest
 * estimate: a tick seen late (the thread was preempted) only lowers it. Two processes on one
 * machine then agree to within a few microseconds, which end-to-end latencies between a
 * `mq bench pub` and a `mq bench sub` need.
 *
 * @example The calibrated clock follows the wall clock
 * ```ts
 * import assert from "node:assert/strict";
 * import { calibratedClock } from "./_bench_stats.ts";
 * const now = calibratedClock(() => Date.now());
 * assert.ok(Math.abs(now() - Date.now()) < 5);
 * ```
 *
 * @param wallClock Milliseconds since the epoch, in whole milliseconds.
 * @returns A function returning milliseconds since the epoch, with a fraction.
 */
export function calibratedClock(wallClock: () => number): () => number {
  let previous = wallClock();
  let offset = previous - performance.now();
  let best = -Infinity;
  // At most 30 ms, for a wall clock that does not move (a test's fake one).
  const limit = performance.now() + 30;
  for (let ticks = 0; ticks < 10;) {
    const wall = wallClock();
    const now = performance.now();
    if (wall !== previous) {
      if (wall - now > best) best = wall - now;
      previous = wall;
      ticks++;
    } else if (now > limit) break;
  }
  if (best !== -Infinity) offset = best;
  return () => performance.now() + offset;
}
