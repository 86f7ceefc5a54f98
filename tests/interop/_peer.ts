/**
 * Run real MQTT peers (Debian's mosquitto clients, python3 with paho-mqtt) as child
 * processes, bounded by a timeout and killed after the test.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import type { TestContext } from "node:test";

/** The result of a finished child process. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running child process. */
export interface Child {
  /** Resolves when it exits. */
  done: Promise<RunResult>;
  /** Kill it. */
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Why a peer cannot run, or `undefined` when it can. On CI (`CI=true`) a missing peer
 * throws instead, so the interop suite cannot silently skip there.
 */
export function missing(what: string, available: boolean): string | undefined {
  if (available) return undefined;
  if (process.env.CI === "true") throw new Error(`Interop peer ${what} is missing on CI`);
  return `${what} is not installed`;
}

/** Whether a command is on the PATH (or an absolute path that exists). */
export function hasCommand(command: string): boolean {
  if (command.startsWith("/")) return existsSync(command);
  const result = spawnSync(command, ["--help"], { stdio: "ignore", timeout: 5000 });
  return !(result.error && (result.error as NodeJS.ErrnoException).code === "ENOENT");
}

/** A python3 that can import paho.mqtt, if any. */
export function pahoPython(): string | undefined {
  for (const python of ["/usr/bin/python3", "python3"]) {
    const result = spawnSync(python, ["-c", "import paho.mqtt"], {
      stdio: "ignore",
      timeout: 10_000,
    });
    if (result.status === 0) return python;
  }
  return undefined;
}

/** Start a child process, killed after the test and after `timeout` ms. */
export function start(
  t: TestContext,
  command: string,
  args: string[],
  timeout = 8000,
): Child {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Uint8Array) => (stdout += new TextDecoder().decode(d)));
  child.stderr!.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
  const done = new Promise<RunResult>((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + String(error) });
    });
  });
  t.after(() => {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { done, kill: (signal = "SIGTERM") => void child.kill(signal) };
}
