/**
 * Child processes and temporary projects for the package tests: spawn a command in its own
 * process group (so stopping `npx`, which runs the real command through `sh`, stops the
 * command too), collect its output, wait for a line or the exit, and stop it by PID.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import { start as startProcess } from "../binary/_process.ts";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * The repository root and the npm build's directory. From source this file is
 * `tests/package/_run.ts`; under `node --test` on the npm build it is
 * `npm/esm/tests/package/_run.js`, whose package is `npm/` itself.
 */
function locate(): { root: string; npmDir: string } {
  const up = resolve(HERE, "../..");
  if (up.endsWith("/esm") && existsSync(join(up, "../package.json"))) {
    return { root: resolve(up, "../.."), npmDir: resolve(up, "..") };
  }
  return { root: up, npmDir: join(up, "npm") };
}

/** The repository root (with a trailing separator left off). */
export const ROOT: string = locate().root;

/** The npm build's output directory (`npm/`), which `npm pack` packs. */
export const NPM_DIR: string = locate().npmDir;

/**
 * Why the package tests are skipped here, or `false` when they run. They need the npm
 * build, which the gate makes after the Deno and Bun suites, so they run in their own gate
 * step (`test:package`, which sets `MQ_PACKAGE_TESTS=1`) and are skipped in the others.
 */
export const SKIP_PACKAGE_TESTS: string | false = process.env.MQ_PACKAGE_TESTS === "1"
  ? false
  : "run by the gate's test:package step (deno task test:package)";

/** True on CI, where a missing tool fails a test instead of skipping it. */
export const CI: boolean = process.env.CI === "true";

/** The project's own copy of a tool (`node_modules/.bin`), if it has one. */
export function localTool(name: string): string | undefined {
  const file = join(ROOT, "node_modules/.bin", name);
  return existsSync(file) ? file : undefined;
}

/** The first `name` on PATH, or `undefined`. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** The version in `deno.json`. */
export function denoJsonVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as { version: string }).version;
}

/** A fresh temporary directory (the caller removes it). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * The environment for child processes: this one without what ties a child to the source
 * tree or to an outer `npm run` (`NODE_PATH`, `INIT_CWD`, `npm_package_*`,
 * `npm_lifecycle_*`, `npm_config_local_prefix`), without colours, and with no per-user
 * `mq` config files.
 */
function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (key === "NODE_PATH" || key === "INIT_CWD" || key === "npm_config_local_prefix") continue;
    if (key.startsWith("npm_package_") || key.startsWith("npm_lifecycle_")) continue;
    env[key] = value;
  }
  env.NO_COLOR = "1";
  env.XDG_CONFIG_HOME = "/nonexistent";
  return env;
}

/** A running child process with its output collected as it arrives. */
export interface Proc {
  /** The process; it leads its own process group. */
  readonly child: ChildProcess;
  /** Standard output so far. */
  stdout(): string;
  /** Standard error so far. */
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /**
   * Resolve when standard error matches `pattern`; reject when the process exits first or
   * `timeoutMs` passes.
   */
  waitForStderr(pattern: RegExp, timeoutMs: number): Promise<void>;
}

/** Start `command` in `cwd` as the leader of a new process group; standard input is closed. */
export function start(command: string, args: readonly string[], cwd: string): Proc {
  const proc = startProcess(command, args, { cwd, detached: true, env: childEnv() });
  const decoder = new TextDecoder();
  return { ...proc, stdout: () => decoder.decode(proc.stdout()) };
}

/** Send `signal` to the process group `proc` leads, ignoring a group that is already gone. */
function signalGroup(proc: Proc, signal: "SIGTERM" | "SIGKILL"): void {
  const pid = proc.child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group has already exited.
  }
}

/**
 * Stop a process and everything it started (its process group, by the leader's PID):
 * SIGTERM, then SIGKILL if it is still running after `graceMs`.
 */
export async function stop(proc: Proc, graceMs = 5_000): Promise<void> {
  signalGroup(proc, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    proc.exited,
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        signalGroup(proc, "SIGKILL");
        resolve();
      }, graceMs);
    }),
  ]);
  clearTimeout(timer);
  await proc.exited;
  // `npx` may exit before the command it ran: make sure nothing of the group is left.
  signalGroup(proc, "SIGKILL");
}

/** The result of {@linkcode run}. */
export interface RunResult {
  /** Exit code, or the signal name. */
  code: number | string;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Run `command` in `cwd` to completion; its process group is killed after `timeoutMs`. */
export async function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; timeoutMs: number },
): Promise<RunResult> {
  const proc = start(command, args, options.cwd);
  const timer = setTimeout(() => signalGroup(proc, "SIGKILL"), options.timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  signalGroup(proc, "SIGKILL");
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** Wait for `promise`, or reject after `timeoutMs`. */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Timed out after ${timeoutMs} ms: ${what}`)),
        timeoutMs,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A loopback port that was free a moment ago: bind port 0, read it back, close. Another
 * process may take it before a child binds it, so callers retry once on failure.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
