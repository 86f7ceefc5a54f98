// This module is browser compatible.
/**
 * A min-heap of deadlines behind one timer: every timeout of a client (connect, each
 * operation, reconnect delay, keep-alive) shares a single `setTimeout`.
 *
 * @module
 */

/** A scheduled callback; `cancel()` it when it is no longer needed. */
export interface Deadline {
  /** When it fires, in ms (`performance.now()` time). */
  readonly at: number;
  /** Stop it from firing. */
  cancel(): void;
}

class Entry implements Deadline {
  at: number;
  fn: (() => void) | undefined;
  constructor(at: number, fn: () => void) {
    this.at = at;
    this.fn = fn;
  }
  cancel(): void {
    this.fn = undefined;
  }
}

/** A heap of deadlines; cancelled entries are dropped lazily. */
export class Deadlines {
  #heap: Entry[] = [];

  /**
   * Add a deadline.
   *
   * @param at When, in ms.
   * @param fn What to run.
   * @returns A handle to cancel it.
   */
  add(at: number, fn: () => void): Deadline {
    const entry = new Entry(at, fn);
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= entry.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
    return entry;
  }

  /** The earliest live deadline, or `undefined`. */
  next(): number | undefined {
    while (this.#heap.length > 0 && this.#heap[0]!.fn === undefined) this.#pop();
    return this.#heap[0]?.at;
  }

  /**
   * Run every deadline due at `now`, earliest first.
   *
   * @param now The time in ms.
   */
  run(now: number): void {
    for (;;) {
      const head = this.#heap[0];
      if (head === undefined || head.at > now) return;
      this.#pop();
      const fn = head.fn;
      head.fn = undefined;
      fn?.();
    }
  }

  /** Drop every deadline. */
  clear(): void {
    for (const entry of this.#heap) entry.fn = undefined;
    this.#heap = [];
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
      if (heap[child]!.at >= last.at) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
