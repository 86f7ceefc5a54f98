/**
 * A seeded pseudo-random generator for tests (mulberry32): the same seed gives the same
 * sequence on every runtime, so fuzz failures can be replayed. Not for anything else.
 *
 * @module
 */

/** A seeded generator of pseudo-random numbers. */
export class Random {
  #state: number;

  /**
   * Create a generator.
   *
   * @param seed Any 32-bit integer.
   */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /**
   * The next number in [0, 1).
   *
   * @returns The number.
   */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /**
   * An integer in [min, max].
   *
   * @param min The smallest value.
   * @param max The largest value.
   * @returns The integer.
   */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /**
   * True with the given probability.
   *
   * @param p The probability, 0.5 unless given.
   * @returns The outcome.
   */
  chance(p = 0.5): boolean {
    return this.next() < p;
  }

  /**
   * One element of a non-empty array.
   *
   * @param items The array.
   * @returns The element.
   */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /**
   * Random bytes.
   *
   * @param length How many.
   * @returns The bytes.
   */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}
