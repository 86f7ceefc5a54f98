// This module is browser compatible.
/**
 * Emptied write queues shared by the sockets of an adapter (Bun, Deno): a socket holds a
 * queue only from its first write until the runtime has taken the bytes, so an idle
 * connection keeps none and busy ones reuse the same few. At most 1 MiB of queues waits
 * here; none larger than 256 KiB is kept.
 *
 * @module
 */

const MAX_KEPT = 256 * 1024;
const MAX_TOTAL = 1024 * 1024;

/** A pool of emptied write queues. */
export class WritePool {
  #spare: Uint8Array[] = [];
  #bytes = 0;

  /**
   * A queue of at least `size` bytes from the pool, or `undefined` when the pool has none
   * that large (a smaller one taken off is dropped).
   *
   * @example Give back and take again
   * ```ts
   * import assert from "node:assert/strict";
   * import { WritePool } from "./_write_pool.ts";
   * const pool = new WritePool();
   * const queue = new Uint8Array(2048);
   * pool.give(queue);
   * assert.equal(pool.take(100), queue);
   * assert.equal(pool.take(100), undefined);
   * ```
   *
   * @param size Bytes needed.
   * @returns The queue, or `undefined`.
   */
  take(size: number): Uint8Array | undefined {
    const buffer = this.#spare.pop();
    if (buffer === undefined) return undefined;
    this.#bytes -= buffer.length;
    return buffer.length >= size ? buffer : undefined;
  }

  /**
   * Hand back an emptied queue (kept unless it is large or the pool is full).
   *
   * @param buffer The queue, no longer used by its socket.
   */
  give(buffer: Uint8Array): void {
    if (buffer.length === 0 || buffer.length > MAX_KEPT) return;
    if (this.#bytes + buffer.length > MAX_TOTAL) return;
    this.#spare.push(buffer);
    this.#bytes += buffer.length;
  }
}
