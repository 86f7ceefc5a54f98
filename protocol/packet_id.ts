// This module is browser compatible.
/**
 * Packet Identifier allocation (v5 §2.2.1, v3.1.1 §2.3.1).
 *
 * @module
 */

/** The largest Packet Identifier; identifiers are 1..65535, 0 is never valid. */
export const MAX_PACKET_ID = 65_535;

// 65536 bits split into 32 pages of 64 words (2048 ids each), allocated on first use and
// dropped when empty: an idle session holds no page, a busy one usually one or two.
const PAGE_SHIFT = 11;
const PAGE_WORDS = 64;
const PAGE_IDS = 1 << PAGE_SHIFT;
const PAGES = 32;
// Shared and never written: every write goes to pages allocated first.
const NO_PAGES: (Uint32Array | undefined)[] = [];
const NO_COUNTS = new Uint16Array(0);

function checkId(id: number, action: string): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_PACKET_ID) {
    throw new RangeError(`Cannot ${action} packet identifier "${id}": not in 1..65535`);
  }
}

/**
 * Hands out Packet Identifiers 1..65535, never one that is in use.
 *
 * Allocation continues after the last identifier handed out and wraps from 65535 to 1, so
 * an identifier just released is not reused at once: a late acknowledgement for it from a
 * previous exchange cannot be mistaken for one of a new exchange. The set is a paged bitset
 * (at most 8 KiB, about 256 bytes for a typical window), and allocation skips whole full
 * words and pages, so it is O(1) amortized.
 *
 * When all 65535 identifiers are in use, {@linkcode PacketIdAllocator.allocate} returns
 * `undefined` rather than throwing: a full set is a normal state (a window of 65535 unacked
 * messages) that callers handle by waiting for a release.
 *
 * @example Allocate, release, and wrap around
 * ```ts
 * import assert from "node:assert/strict";
 * import { PacketIdAllocator } from "./packet_id.ts";
 * const ids = new PacketIdAllocator();
 * assert.equal(ids.allocate(), 1);
 * assert.equal(ids.allocate(), 2);
 * ids.release(1);
 * assert.equal(ids.allocate(), 3); // 1 is free again, but not reused at once
 * assert.equal(ids.isInUse(1), false);
 * assert.equal(ids.size, 2);
 * ```
 */
export class PacketIdAllocator {
  // Allocated at the first id: a session that never sends QoS 1 or 2 keeps none.
  #pages: (Uint32Array | undefined)[] = NO_PAGES;
  #counts: Uint16Array = NO_COUNTS;
  #size = 0;
  #last = 0;

  /**
   * How many identifiers are in use.
   *
   * @example Count
   * ```ts
   * import assert from "node:assert/strict";
   * import { PacketIdAllocator } from "./packet_id.ts";
   * const ids = new PacketIdAllocator();
   * ids.allocate();
   * assert.equal(ids.size, 1);
   * ```
   *
   * @returns The number of identifiers in use.
   */
  get size(): number {
    return this.#size;
  }

  /**
   * Take the next free identifier after the last one allocated.
   *
   * @example Exhaustion
   * ```ts
   * import assert from "node:assert/strict";
   * import { PacketIdAllocator } from "./packet_id.ts";
   * const ids = new PacketIdAllocator();
   * for (let i = 0; i < 65535; i++) ids.allocate();
   * assert.equal(ids.allocate(), undefined);
   * ```
   *
   * @returns An identifier in 1..65535, or `undefined` when all are in use.
   */
  allocate(): number | undefined {
    if (this.#size === MAX_PACKET_ID) return undefined;
    const id = this.#findFree(this.#last === MAX_PACKET_ID ? 1 : this.#last + 1) ??
      this.#findFree(1);
    // Unreachable when size < 65535, but keeps the types honest.
    if (id === undefined) return undefined;
    this.#set(id);
    this.#last = id;
    return id;
  }

  /**
   * Mark a given identifier as in use, e.g. when restoring a persisted session.
   *
   * @example Reserve an identifier
   * ```ts
   * import assert from "node:assert/strict";
   * import { PacketIdAllocator } from "./packet_id.ts";
   * const ids = new PacketIdAllocator();
   * assert.equal(ids.reserve(1), true);
   * assert.equal(ids.reserve(1), false);
   * assert.equal(ids.allocate(), 2);
   * ```
   *
   * @param id The identifier, 1..65535.
   * @returns `true` when it was free and is now in use, `false` when it was already in use.
   * @throws {RangeError} When `id` is not an integer in 1..65535.
   */
  reserve(id: number): boolean {
    checkId(id, "reserve");
    if (this.isInUse(id)) return false;
    this.#set(id);
    return true;
  }

  /**
   * Free an identifier so it can be allocated again (after the allocator wraps round).
   *
   * @example Release
   * ```ts
   * import assert from "node:assert/strict";
   * import { PacketIdAllocator } from "./packet_id.ts";
   * const ids = new PacketIdAllocator();
   * const id = ids.allocate()!;
   * assert.equal(ids.release(id), true);
   * assert.equal(ids.release(id), false);
   * ```
   *
   * @param id The identifier, 1..65535.
   * @returns `true` when it was in use, `false` when it was already free.
   * @throws {RangeError} When `id` is not an integer in 1..65535.
   */
  release(id: number): boolean {
    checkId(id, "release");
    const p = id >>> PAGE_SHIFT;
    const page = this.#pages[p];
    if (page === undefined) return false;
    const w = (id >>> 5) & (PAGE_WORDS - 1);
    const bit = 1 << (id & 31);
    const word = page[w]!;
    if ((word & bit) === 0) return false;
    page[w] = word & ~bit;
    this.#size--;
    if (--this.#counts[p]! === 0) this.#pages[p] = undefined;
    return true;
  }

  /**
   * Whether an identifier is in use.
   *
   * @example Check
   * ```ts
   * import assert from "node:assert/strict";
   * import { PacketIdAllocator } from "./packet_id.ts";
   * const ids = new PacketIdAllocator();
   * assert.equal(ids.isInUse(ids.allocate()!), true);
   * assert.equal(ids.isInUse(500), false);
   * ```
   *
   * @param id The identifier, 1..65535.
   * @returns `true` when allocated or reserved and not yet released.
   * @throws {RangeError} When `id` is not an integer in 1..65535.
   */
  isInUse(id: number): boolean {
    checkId(id, "look up");
    const page = this.#pages[id >>> PAGE_SHIFT];
    if (page === undefined) return false;
    return (page[(id >>> 5) & (PAGE_WORDS - 1)]! & (1 << (id & 31))) !== 0;
  }

  /**
   * Free every identifier and restart allocation at 1.
   *
   * @example Clear
   * ```ts
   * import assert from "node:assert/strict";
   * import { PacketIdAllocator } from "./packet_id.ts";
   * const ids = new PacketIdAllocator();
   * ids.allocate();
   * ids.clear();
   * assert.equal(ids.size, 0);
   * assert.equal(ids.allocate(), 1);
   * ```
   */
  clear(): void {
    this.#pages = NO_PAGES;
    this.#counts = NO_COUNTS;
    this.#size = 0;
    this.#last = 0;
  }

  #set(id: number): void {
    const p = id >>> PAGE_SHIFT;
    if (this.#pages === NO_PAGES) {
      this.#pages = new Array(PAGES).fill(undefined);
      this.#counts = new Uint16Array(PAGES);
    }
    let page = this.#pages[p];
    if (page === undefined) this.#pages[p] = page = new Uint32Array(PAGE_WORDS);
    page[(id >>> 5) & (PAGE_WORDS - 1)]! |= 1 << (id & 31);
    this.#counts[p]!++;
    this.#size++;
  }

  // The first free id in from..65535, or undefined.
  #findFree(from: number): number | undefined {
    let id = from;
    while (id <= MAX_PACKET_ID) {
      const p = id >>> PAGE_SHIFT;
      const page = this.#pages[p];
      if (page === undefined) return id;
      if (this.#counts[p] === PAGE_IDS) {
        id = (p + 1) << PAGE_SHIFT;
        continue;
      }
      const w = (id >>> 5) & (PAGE_WORDS - 1);
      // Free bits of this word at or above id's bit.
      const free = ~page[w]! & (-1 << (id & 31));
      if (free !== 0) {
        // Index of the lowest set bit.
        return (id & ~31) + (31 - Math.clz32(free & -free));
      }
      id = (id & ~31) + 32;
    }
    return undefined;
  }
}
