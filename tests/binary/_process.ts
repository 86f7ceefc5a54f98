/**
 * Child processes for the binary tests: spawn, collect output, wait for a line on standard
 * error or for the exit, and stop by PID.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import process from "node:process";

/** A running child process with its output collected as it arrives. */
export interface Proc {
  /** The process (its `pid` is what the test kills). */
  readonly child: ChildProcess;
  /** Standard output so far, as bytes. */
  stdout(): Uint8Array;
  /** Standard error so far, as text. */
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /**
   * Resolve when standard error matches `pattern`; reject when the process exits first or
   * `timeoutMs` passes.
   */
  waitForStderr(pattern: RegExp, timeoutMs: number): Promise<void>;
}

/** Where and how {@linkcode start} runs a process. */
export interface StartOptions {
  /** Working directory. Default: this process's. */
  cwd?: string;
  /** Make it the leader of a new process group (to stop all it starts). Default false. */
  detached?: boolean;
  /** Environment. Default: this process's, with NO_COLOR and no user configuration. */
  env?: Record<string, string | undefined>;
}

/** Start `command` with `args`; standard input is closed. */
export function start(command: string, args: readonly string[], options: StartOptions = {}): Proc {
  const child = spawn(command, args, {
    cwd: options.cwd,
    detached: options.detached ?? false,
    stdio: ["ignore", "pipe", "pipe"],
    env: options.env ?? { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: "/nonexistent" },
  });
  const out: Uint8Array[] = [];
  let err = "";
  const decoder = new TextDecoder();
  const watchers = new Set<() => void>();
  child.stdout!.on("data", (chunk: Uint8Array) => void out.push(new Uint8Array(chunk)));
  child.stderr!.on("data", (chunk: Uint8Array) => {
    err += decoder.decode(chunk, { stream: true });
    for (const watcher of watchers) watcher();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once("error", (error) => {
      err += String(error);
      resolve(-1);
    });
    child.once("close", (code, signal) => resolve(code ?? signal ?? -1));
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
    for (const watcher of watchers) watcher();
  });
  return {
    child,
    exited,
    stderr: () => err,
    stdout(): Uint8Array {
      const bytes = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
      let offset = 0;
      for (const c of out) {
        bytes.set(c, offset);
        offset += c.length;
      }
      return bytes;
    },
    waitForStderr(pattern: RegExp, timeoutMs: number): Promise<void> {
      return new Promise((resolve, reject) => {
        const finish = (error?: Error) => {
          clearTimeout(timer);
          watchers.delete(check);
          if (error === undefined) resolve();
          else reject(error);
        };
        const check = () => {
          if (pattern.test(err)) finish();
          else if (ended) finish(new Error(`Process exited before ${pattern}: ${err}`));
        };
        const timer = setTimeout(
          () => finish(new Error(`Timed out after ${timeoutMs} ms waiting for ${pattern}: ${err}`)),
          timeoutMs,
        );
        watchers.add(check);
        check();
      });
    },
  };
}

/** Run `command` to completion, killing it after `timeoutMs`. */
export async function runToEnd(
  command: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const proc = start(command, args);
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, stdout: new TextDecoder().decode(proc.stdout()), stderr: proc.stderr() };
}

/** Stop a process by PID if it is still running, and wait for it to end. */
export async function stop(proc: Proc): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) {
    proc.child.kill("SIGKILL");
  }
  await proc.exited;
}

/**
 * A loopback port that was free a moment ago: bind port 0, read it back, close. Another
 * process may take it before the broker binds it, so callers retry once on failure.
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
