/**
 * Debian's mosquitto broker for interop tests: started per test on a free loopback port,
 * killed after it. `skip` is a reason when mosquitto is not installed (never on CI).
 *
 * @module
 */
import type { TestContext } from "node:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

const MOSQUITTO = "/usr/sbin/mosquitto";

function skipReason(): string | undefined {
  if (existsSync(MOSQUITTO)) return undefined;
  if (process.env.CI === "true") throw new Error("mosquitto is missing on CI");
  return "mosquitto is not installed (apt-get install mosquitto)";
}
/** Why mosquitto tests skip, or `undefined` when they run. */
export const skip: string | undefined = skipReason();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Start mosquitto on a free loopback port; killed after the test. Resolves its URL. */
export async function startMosquitto(t: TestContext): Promise<{ url: string; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), "mq-mosquitto-"));
  const port = await freePort();
  const config = join(dir, "mosquitto.conf");
  writeFileSync(
    config,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n`,
  );
  const child = spawn(MOSQUITTO, ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`mosquitto did not start: ${output}`)), 10_000);
    child.stderr!.on("data", (chunk: Uint8Array) => {
      output += new TextDecoder().decode(chunk);
      if (output.includes("running")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`mosquitto exited with ${code}: ${output}`));
    });
  });
  child.stderr!.resume();
  return { url: `mqtt://127.0.0.1:${port}`, port };
}
