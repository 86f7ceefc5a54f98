/**
 * What a `mq` subcommand needs from the runtime. `cli/main.ts` implements it once with
 * `node:` modules (which Deno, Bun and Node all provide); tests pass a fake one, so every
 * subcommand runs in-process without touching `process`, `Deno` or `Bun`.
 *
 * @module
 */

import type { SocketAdapter } from "../socket/types.ts";

/** A signal a subcommand can react to. */
export type HostSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

/** An output stream: standard output or standard error. Writes are queued, never lost. */
export interface CliOutput {
  /** Whether the stream is a terminal (colour, progress, prompts). */
  readonly isTTY: boolean;
  /** Write raw bytes. */
  write(bytes: Uint8Array): void;
  /** Write text, encoded as UTF-8. */
  writeText(text: string): void;
}

/** Standard input, read either whole or line by line (not both). */
export interface CliInput {
  /** Whether standard input is a terminal. */
  readonly isTTY: boolean;
  /** Read everything up to end of input. */
  readAll(): Promise<Uint8Array>;
  /**
   * Read one line without its `\n` (a `\r` before it is kept, as mosquitto_pub does);
   * `undefined` at end of input. A last line without `\n` is returned too.
   */
  readLine(): Promise<Uint8Array | undefined>;
  /** Every remaining line, as {@linkcode CliInput.readLine} returns them. */
  lines(): AsyncIterable<Uint8Array>;
}

/** Options for {@linkcode CliHost.writeFile}. */
export interface WriteFileOptions {
  /** File permissions when the file is created, e.g. `0o600`. */
  mode?: number;
}

/** Memory use of the process, in bytes. */
export interface MemoryUsage {
  /** Resident set size. */
  rss: number;
  /** JavaScript heap in use. */
  heapUsed: number;
}

/** Everything a subcommand may use from the runtime, supplied by `cli/main.ts`. */
export interface CliHost {
  /** The arguments after the program name. */
  readonly args: readonly string[];
  /** The environment variables. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The operating system: `"linux"`, `"darwin"`, `"win32"`, ... */
  readonly platform: string;
  /** The CPU architecture (`"x64"`, `"arm64"`, ...), shown by `--version` after the platform. */
  readonly arch?: string;
  /** The runtime and its version, e.g. `"deno 2.9.6"`, for `--version`. */
  readonly runtime: string;
  /** Standard output. */
  readonly stdout: CliOutput;
  /** Standard error. */
  readonly stderr: CliOutput;
  /** Standard input. */
  readonly stdin: CliInput;
  /** Read a whole file. Rejects with the runtime's error (with a `code` such as `"ENOENT"`). */
  readFile(path: string): Promise<Uint8Array>;
  /** Write a whole file, replacing it. */
  writeFile(path: string, data: Uint8Array, options?: WriteFileOptions): Promise<void>;
  /** Rename a file, replacing the target (atomic on one file system). */
  rename(from: string, to: string): Promise<void>;
  /** Remove a file; no error when it does not exist. */
  removeFile(path: string): Promise<void>;
  /**
   * Prompt on standard error and read a line from the terminal without echoing it. When
   * standard input is not a terminal, the next line of standard input is read instead (the
   * documented fallback, which makes scripted input work). `undefined` at end of input.
   */
  readPassword(prompt: string): Promise<string | undefined>;
  /**
   * Call `handler` when the process receives `signal`.
   *
   * @returns A function that removes the handler.
   */
  onSignal(signal: HostSignal, handler: () => void): () => void;
  /** Set the exit code used when the process ends by itself. */
  setExitCode(code: number): void;
  /** End the process now with `code` (after a forced stop, such as a second Ctrl-C). */
  exit(code: number): void;
  /** The current memory use. */
  memoryUsage(): MemoryUsage;
  /** The user's home directory, if known. */
  homeDir(): string | undefined;
  /** Wall-clock time in milliseconds since the epoch. */
  now(): number;
  /** The process id, for `-I` client id prefixes. */
  readonly pid?: number;
  /** The names of the entries of a directory (`--capath`). */
  readDir?(path: string): Promise<string[]>;
  /** The socket adapter to use. Default: the runtime's TCP adapter. */
  readonly adapter?: SocketAdapter;
}

/**
 * The directory that holds per-user configuration files: `$XDG_CONFIG_HOME`, else
 * `$HOME/.config`; on Windows `%USERPROFILE%` (where mosquitto looks for its client
 * files). `undefined` when none of the variables is set.
 *
 * @example Prefer XDG_CONFIG_HOME
 * ```ts
 * import assert from "node:assert/strict";
 * import { configDir } from "./host.ts";
 * assert.equal(configDir({ XDG_CONFIG_HOME: "/x", HOME: "/h" }, "linux"), "/x");
 * assert.equal(configDir({ HOME: "/h" }, "linux"), "/h/.config");
 * ```
 *
 * @param env The environment variables.
 * @param platform The operating system, as {@linkcode CliHost.platform}.
 * @returns The directory, or `undefined`.
 */
export function configDir(
  env: Readonly<Record<string, string | undefined>>,
  platform: string,
): string | undefined {
  if (platform === "win32") return env.USERPROFILE;
  if (env.XDG_CONFIG_HOME !== undefined) return env.XDG_CONFIG_HOME;
  if (env.HOME !== undefined) return `${env.HOME}/.config`;
  return undefined;
}
