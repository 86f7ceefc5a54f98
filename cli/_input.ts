/**
 * A {@linkcode CliInput} over any source of byte chunks: the runtime's standard input in
 * `cli/main.ts`, an array of chunks in tests. Lines are split on `\n` only and stay bytes,
 * so binary payloads survive `mq pub -l`.
 *
 * @module
 */

import type { CliInput } from "./host.ts";

const NEWLINE = 0x0a;

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Standard input read from an async iterable of chunks; see {@linkcode CliInput}. */
export class ChunkInput implements CliInput {
  /** Whether the source is a terminal. */
  readonly isTTY: boolean;
  #source: AsyncIterator<Uint8Array> | undefined;
  #open: () => AsyncIterator<Uint8Array>;
  #buffer: Uint8Array = new Uint8Array(0);
  #ended = false;

  /**
   * Wrap a source of chunks. The source is opened on the first read, so an unused
   * standard input is never touched.
   *
   * @example Read two lines
   * ```ts
   * import assert from "node:assert/strict";
   * import { ChunkInput } from "./_input.ts";
   * const input = new ChunkInput(() => [new TextEncoder().encode("a\nb")], false);
   * assert.deepEqual(await input.readLine(), new TextEncoder().encode("a"));
   * assert.deepEqual(await input.readLine(), new TextEncoder().encode("b"));
   * assert.equal(await input.readLine(), undefined);
   * ```
   *
   * @param open Returns the chunks.
   * @param isTTY Whether the source is a terminal.
   */
  constructor(
    open: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    isTTY: boolean,
  ) {
    this.#open = () => {
      const source = open();
      if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
      const it = source[Symbol.iterator]();
      return { next: () => Promise.resolve(it.next()) };
    };
    this.isTTY = isTTY;
  }

  async #pull(): Promise<boolean> {
    if (this.#ended) return false;
    this.#source ??= this.#open();
    const { value, done } = await this.#source.next();
    if (done) {
      this.#ended = true;
      return false;
    }
    const chunk = value instanceof Uint8Array ? value : new Uint8Array(value);
    if (this.#buffer.length === 0) this.#buffer = chunk;
    else this.#buffer = concat([this.#buffer, chunk], this.#buffer.length + chunk.length);
    return true;
  }

  /**
   * Read everything up to end of input.
   *
   * @returns The bytes.
   */
  async readAll(): Promise<Uint8Array> {
    while (await this.#pull());
    const all = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return all;
  }

  /**
   * Read one line, without its `\n`.
   *
   * @returns The line, or `undefined` at end of input.
   */
  async readLine(): Promise<Uint8Array | undefined> {
    let searchFrom = 0;
    for (;;) {
      const at = this.#buffer.indexOf(NEWLINE, searchFrom);
      if (at >= 0) {
        const line = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.subarray(at + 1);
        return line;
      }
      searchFrom = this.#buffer.length;
      if (!(await this.#pull())) break;
    }
    if (this.#buffer.length === 0) return undefined;
    const last = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return last;
  }

  /**
   * Every remaining line.
   *
   * @returns An async iterable of lines.
   */
  async *lines(): AsyncIterable<Uint8Array> {
    for (;;) {
      const line = await this.readLine();
      if (line === undefined) return;
      yield line;
    }
  }
}
