/**
 * An in-memory {@linkcode CliHost} for running `mq` commands in-process: captured output,
 * scripted standard input and passwords, files in a map, signals fired by hand.
 *
 * @module
 */

import { ChunkInput } from "../../cli/_input.ts";
import type { CliHost, CliOutput, HostSignal } from "../../cli/host.ts";

/** A captured output stream. */
export class CapturedOutput implements CliOutput {
  readonly isTTY: boolean;
  readonly chunks: Uint8Array[] = [];
  readonly #waiters: { text: string; resolve: () => void }[] = [];
  constructor(isTTY = false) {
    this.isTTY = isTTY;
  }
  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
    this.#wake();
  }
  writeText(text: string): void {
    this.chunks.push(new TextEncoder().encode(text));
    this.#wake();
  }
  /** Resolves once the output contains `text` (at once if it already does). */
  waitFor(text: string): Promise<void> {
    if (this.text.includes(text)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ text, resolve }));
  }
  #wake(): void {
    if (this.#waiters.length === 0) return;
    const all = this.text;
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i]!;
      if (all.includes(waiter.text)) {
        this.#waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
  /** Everything written, as text. */
  get text(): string {
    return this.chunks.map((c) => new TextDecoder().decode(c)).join("");
  }
}

/** Options for {@linkcode fakeHost}. */
export interface FakeHostOptions {
  args?: string[];
  env?: Record<string, string | undefined>;
  platform?: string;
  stdin?: string | Uint8Array;
  passwords?: string[];
  files?: Record<string, string | Uint8Array>;
}

/** The fake host, with handles to inspect it. */
export interface FakeHost extends CliHost {
  readonly out: CapturedOutput;
  readonly err: CapturedOutput;
  readonly files: Map<string, Uint8Array>;
  readonly prompts: string[];
  /** Fire a signal's handlers. */
  signal(signal: HostSignal): void;
  exitCode: number | undefined;
}

/** Build a fake host. */
export function fakeHost(options: FakeHostOptions = {}): FakeHost {
  const out = new CapturedOutput();
  const err = new CapturedOutput();
  const files = new Map<string, Uint8Array>();
  for (const [path, data] of Object.entries(options.files ?? {})) {
    files.set(path, typeof data === "string" ? new TextEncoder().encode(data) : data);
  }
  const input = options.stdin === undefined
    ? new Uint8Array(0)
    : typeof options.stdin === "string"
    ? new TextEncoder().encode(options.stdin)
    : options.stdin;
  const passwords = [...(options.passwords ?? [])];
  const prompts: string[] = [];
  const handlers = new Map<HostSignal, Set<() => void>>();
  const enoent = (path: string) =>
    Object.assign(new Error(`ENOENT: no such file "${path}"`), { code: "ENOENT" });
  const host: FakeHost = {
    args: options.args ?? [],
    env: options.env ?? {},
    platform: options.platform ?? "linux",
    runtime: "fake 1.0",
    stdout: out,
    stderr: err,
    stdin: new ChunkInput(() => [input], false),
    out,
    err,
    files,
    prompts,
    exitCode: undefined,
    readFile(path) {
      const data = files.get(path);
      return data === undefined ? Promise.reject(enoent(path)) : Promise.resolve(data.slice());
    },
    writeFile(path, data) {
      if (path.startsWith("/nonexistent/")) return Promise.reject(enoent(path));
      files.set(path, data.slice());
      return Promise.resolve();
    },
    rename(from, to) {
      const data = files.get(from);
      if (data === undefined) return Promise.reject(enoent(from));
      files.delete(from);
      files.set(to, data);
      return Promise.resolve();
    },
    removeFile(path) {
      files.delete(path);
      return Promise.resolve();
    },
    readPassword(prompt) {
      prompts.push(prompt);
      return Promise.resolve(passwords.shift());
    },
    onSignal(signal, handler) {
      let set = handlers.get(signal);
      if (set === undefined) handlers.set(signal, set = new Set());
      set.add(handler);
      return () => void set.delete(handler);
    },
    signal(signal) {
      for (const handler of handlers.get(signal) ?? []) handler();
    },
    setExitCode(code) {
      host.exitCode = code;
    },
    exit(code) {
      host.exitCode = code;
    },
    memoryUsage: () => ({ rss: 0, heapUsed: 0 }),
    homeDir: () => options.env?.HOME,
    now: () => 0,
  };
  return host;
}
