// This module is browser compatible.
/**
 * A slab allocator for the small byte arrays the codec hands out: the packets
 * `encodePacket()` returns and the payloads `Decoder` decodes.
 *
 * **Why.** Every `new Uint8Array(n)` (and `slice()`) gets its own `ArrayBuffer`. Under Deno
 * (V8) that costs from 0.25 µs (16 bytes) to 2 µs (4 KiB): the buffer lives off the JavaScript
 * heap, and V8 accounts for and sweeps each one. That is several times the cost of
 * encoding or decoding a small PUBLISH. Like Node's `Buffer` pool (which `mqtt-packet` relies
 * on), this module carves arrays of at most {@linkcode POOL_MAX} bytes out of shared
 * {@linkcode SLAB_SIZE}-byte buffers, so an array costs a view (about 30 ns) plus its share of
 * one slab. Larger arrays get their own buffer.
 *
 * **What stays true.** A region is handed out once and never again: a full slab is abandoned,
 * never recycled, so the codec never overwrites an array it returned and no two arrays share
 * bytes. Slabs are zero-filled when created, so no stale bytes leak. Only `array.buffer` tells
 * a pooled array apart: it is the whole slab (with `byteOffset` set). Code that transfers or
 * detaches `array.buffer` (`postMessage` transfer lists, `ArrayBuffer.prototype.transfer`)
 * must `slice()` first.
 *
 * **The cost: pinning.** A slab is freed only when every array carved from it is garbage, so
 * one long-lived pooled array of 10 bytes keeps 32 KiB alive. Traffic that is consumed and
 * dropped (a broker routes a PUBLISH and forgets it) pins nothing for long. Holders that keep a
 * few arrays out of many for a long time, such as a broker's retained-message store, an
 * offline session queue or a will message, should keep `array.slice()` instead: one
 * allocation per kept array, and the slab can go. Bounds: an array pins at most
 * {@linkcode SLAB_SIZE} bytes, and shares its slab with at least 15 others.
 *
 * **Thresholds**, from micro-benchmarks on Deno 2.9 and Bun 1.4 (docs/performance.md). Fresh
 * memory costs about 0.1 ns per byte on both (zero-filling and the collector), and the
 * per-slab overhead stops mattering from 32 KiB: 16 KiB slabs cost a third to a half more per
 * byte under Deno, 64 KiB to 1 MiB slabs no less than 32 KiB within the noise, while they
 * multiply the pinning. Pooling pays under Deno at every size measured (30 ns for a view
 * against 0.25 to 2 µs for a fresh array); under Bun a fresh array below 1000 bytes is cheaper
 * than a view (JavaScriptCore allocates it in its own heap) and the same above, so pooling
 * gains nothing there but loses little (about 30 ns per array). 2 KiB covers a 1 KiB
 * payload with its headers.
 *
 * Module-level state: the current slab and its fill offset. It is pure memory management
 * (no I/O, no time, no randomness), and sharing it between decoders and encoders is what
 * fills slabs up.
 *
 * @module
 */

/** The size of one slab, in bytes. */
export const SLAB_SIZE = 32_768;

/** The largest array taken from a slab; larger ones get their own `ArrayBuffer`. */
export const POOL_MAX = 2_048;

// Arrays below this length are copied with a loop: subarray() plus set() costs more.
const SHORT_COPY = 48;

// The current slab and the offset of its first free byte. It starts full so that nothing is
// allocated until the first array is needed.
let slab: ArrayBuffer = new ArrayBuffer(0);
let used = 0;
let free = 0;
let slabEnd = 0;

/**
 * A new, zero-filled array of `size` bytes: a view into a slab when `size` is at most
 * {@linkcode POOL_MAX}, else an array with its own buffer. The region is never handed out
 * again.
 *
 * @example Two small arrays share a slab but not their bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { allocate } from "./_pool.ts";
 * const a = allocate(3);
 * const b = allocate(3);
 * a.fill(1);
 * assert.deepEqual(b, new Uint8Array(3));
 * assert.equal(a.buffer, b.buffer);
 * ```
 *
 * @param size The length, a non-negative integer.
 * @returns The array.
 */
export function allocate(size: number): Uint8Array {
  if (size > POOL_MAX) return new Uint8Array(size);
  let at = used;
  if (size > free) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabEnd = SLAB_SIZE;
    at = 0;
  }
  // 8-byte alignment, as Node's pool does, so a caller may view the bytes as wider types
  const next = (at + size + 7) & ~7;
  used = next;
  free = slabEnd - next;
  return new Uint8Array(slab, at, size);
}

/**
 * A copy of `bytes[start..end)` in a new array from {@linkcode allocate}: it stays intact
 * whatever happens to `bytes` afterwards.
 *
 * @example Copy out of a buffer that is then reused
 * ```ts
 * import assert from "node:assert/strict";
 * import { copyOf } from "./_pool.ts";
 * const chunk = new Uint8Array([1, 2, 3, 4]);
 * const copy = copyOf(chunk, 1, 3);
 * chunk.fill(0);
 * assert.deepEqual(copy, new Uint8Array([2, 3]));
 * ```
 *
 * @param bytes The source.
 * @param start The first byte to copy.
 * @param end The end (exclusive); `start <= end <= bytes.length`.
 * @returns The copy.
 */
export function copyOf(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const length = end - start;
  if (length > POOL_MAX) return bytes.slice(start, end);
  const out = allocate(length);
  if (length < SHORT_COPY) {
    for (let i = 0; i < length; i++) out[i] = bytes[start + i]!;
  } else {
    out.set(bytes.subarray(start, end));
  }
  return out;
}
