/**
 * Run Debian's mosquitto broker and clients for the CLI comparison tests: a broker on a
 * free loopback port with a temporary config, stopped by PID after the test.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { TestContext } from "node:test";

/** Why the mosquitto tools cannot run, or `undefined`; on CI a missing tool throws. */
export function mosquittoMissing(...tools: string[]): string | undefined {
  const all = ["/usr/sbin/mosquitto", ...tools];
  const missing = all.filter((tool) => !existsSync(tool));
  if (missing.length === 0) return undefined;
  if (process.env.CI === "true") throw new Error(`Missing on CI: ${missing.join(", ")}`);
  return `${missing.join(", ")} not installed (apt-get install mosquitto mosquitto-clients)`;
}

/** A free loopback port. */
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

/** A temporary directory readable by the mosquitto user, removed after the test. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "mq-cli-"));
  chmodSync(dir, 0o755);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The result of a finished process. */
export interface Run {
  code: number | null;
  stdout: Uint8Array;
  stderr: string;
}

/** Run a command to completion (killed after `timeout` ms), with optional stdin. */
export function run(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; timeout?: number } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    let stderr = "";
    child.stdout!.on("data", (d: Uint8Array) => void out.push(new Uint8Array(d)));
    child.stderr!.on("data", (d: Uint8Array) => void (stderr += new TextDecoder().decode(d)));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeout ?? 8000);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout: new Uint8Array(0), stderr: String(error) });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const total = out.reduce((n, c) => n + c.length, 0);
      const stdout = new Uint8Array(total);
      let offset = 0;
      for (const c of out) {
        stdout.set(c, offset);
        offset += c.length;
      }
      resolve({ code, stdout, stderr });
    });
    // A command that exits without reading its input must not fail the test with EPIPE.
    child.stdin!.on("error", () => {});
    child.stdin!.end(options.stdin ?? "");
  });
}

/** Start Debian's broker with extra config lines; stopped by PID after the test. */
export async function startMosquitto(t: TestContext, extraConfig = ""): Promise<number> {
  const dir = tempDir(t);
  const port = await freePort();
  const config = join(dir, "mosquitto.conf");
  writeFileSync(config, `listener ${port} 127.0.0.1\n${extraConfig}`, { mode: 0o644 });
  const child = spawn("/usr/sbin/mosquitto", ["-c", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  });
  // It logs "mosquitto version x running" to stderr once it listens.
  await new Promise<void>((resolve, reject) => {
    let log = "";
    child.stderr!.on("data", (d: Uint8Array) => {
      log += new TextDecoder().decode(d);
      if (/ running/.test(log)) resolve();
    });
    child.once("exit", () => reject(new Error(`mosquitto exited: ${log}`)));
  });
  return port;
}
