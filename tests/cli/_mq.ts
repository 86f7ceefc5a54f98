/**
 * Run `mq` (cli/main.ts under the current runtime, or the compiled npm/esm/cli/main.js
 * under Node) and mosquitto's clients as subprocesses: to completion, or live in the
 * background with their output watched.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import type { TestContext } from "node:test";
import { type Run, run } from "./_mosquitto.ts";

/** How to run cli/main.ts as a subprocess under the current runtime. */
export function mqCommand(): [string, string[]] {
  const g = globalThis as { Deno?: unknown };
  const here = import.meta.url;
  const ext = here.endsWith(".js") ? "js" : "ts";
  const entry = fileURLToPath(new URL(`../../cli/main.${ext}`, here));
  if (g.Deno !== undefined) return [process.execPath, ["run", "-A", entry]];
  return [process.execPath, [entry]];
}

/** An environment without options files (mosquitto and mq both read them). */
export const CLEAN_ENV: Record<string, string> = { XDG_CONFIG_HOME: "/nonexistent-mq-test" };

/** Which client: Debian's mosquitto_<cmd> or mq <cmd>. */
export type Tool = "mosquitto" | "mq";

/** The command line for `tool` running `cmd` with `args`. */
export function commandFor(tool: Tool, cmd: string, args: string[]): [string, string[]] {
  if (tool === "mosquitto") return [`/usr/bin/mosquitto_${cmd}`, args];
  const [exe, pre] = mqCommand();
  return [exe, [...pre, cmd, ...args]];
}

/** Run `cmd` with `tool` to completion. */
export function runTool(
  tool: Tool,
  cmd: string,
  args: string[],
  options: { stdin?: string; timeout?: number } = {},
): Promise<Run> {
  const [exe, argv] = commandFor(tool, cmd, args);
  return run(exe, argv, { env: CLEAN_ENV, timeout: options.timeout ?? 15_000, ...options });
}

/** A background process whose output is collected. */
export interface Live {
  /** Resolves once standard output contains `text`. */
  waitFor(text: string): Promise<void>;
  /** Send a signal. */
  kill(signal: "SIGKILL" | "SIGINT" | "SIGTERM"): void;
  /** Resolves with the result once the process ended. */
  done: Promise<Run>;
}

/** Start `cmd` with `tool` in the background; killed after `timeout` ms and after the test. */
export function live(
  t: TestContext,
  tool: Tool,
  cmd: string,
  args: string[],
  timeout = 15_000,
): Live {
  const [exe, argv] = commandFor(tool, cmd, args);
  const child = spawn(exe, argv, {
    env: { ...process.env, ...CLEAN_ENV },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: Uint8Array[] = [];
  let text = "";
  let stderr = "";
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout!.on("data", (d: Uint8Array) => {
    out.push(new Uint8Array(d));
    text += new TextDecoder().decode(d);
    for (const w of [...waiters]) {
      if (text.includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  child.stderr!.on("data", (d: Uint8Array) => void (stderr += new TextDecoder().decode(d)));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
  const done = new Promise<Run>((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      const total = out.reduce((n, c) => n + c.length, 0);
      const stdout = new Uint8Array(total);
      let at = 0;
      for (const c of out) {
        stdout.set(c, at);
        at += c.length;
      }
      for (const w of waiters) w.resolve();
      resolve({ code, stdout, stderr });
    });
  });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await done;
  });
  return {
    waitFor(wanted: string): Promise<void> {
      if (text.includes(wanted)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ text: wanted, resolve }));
    },
    kill(signal) {
      child.kill(signal);
    },
    done,
  };
}
