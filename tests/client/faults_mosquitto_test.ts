/**
 * Interop and faults against Debian's mosquitto broker (MQTT 5): request/response, and the
 * broker killed (SIGKILL) in the middle of a QoS 1 publish stream, then started again on
 * the same port. Skips when mosquitto is not installed, except on CI (`CI=true`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test, type TestContext } from "../_testing.ts";
import { connect } from "../../client/connect.ts";
import type { MqttClient } from "../../client/client.ts";
import { ConnectionClosedError, TimeoutError } from "../../client/errors.ts";
import type { ConnectEvent } from "../../client/events.ts";
import type { ClientOptions } from "../../client/options.ts";
import type { Message } from "../../client/subscription.ts";
import { deferred, nextEvent, take, text } from "./_helpers.ts";
import { skip, startMosquitto } from "./_mosquitto.ts";

const MOSQUITTO = "/usr/sbin/mosquitto";

async function client(
  t: TestContext,
  url: string,
  options: ClientOptions = {},
): Promise<MqttClient> {
  const c = await connect(url, options);
  t.after(() => c.end());
  return c;
}

/** Reject with `what` when `promise` does not settle within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Start mosquitto on `port` and resolve its process once it listens. The process is killed
 * after the test, and at the latest after `lifetime` ms.
 */
async function spawnMosquitto(
  t: TestContext,
  port: number,
  lifetime = 20_000,
): Promise<ChildProcess> {
  const dir = mkdtempSync(join(tmpdir(), "mq-mosquitto-faults-"));
  const config = join(dir, "mosquitto.conf");
  writeFileSync(
    config,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type information\n`,
  );
  const child = spawn(MOSQUITTO, ["-c", config], { stdio: ["ignore", "ignore", "pipe"] });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const safety = setTimeout(kill, lifetime);
  t.after(() => {
    clearTimeout(safety);
    kill();
    rmSync(dir, { recursive: true, force: true });
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
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
  return child;
}

/** SIGKILL `child` and resolve once it has exited. */
function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  return within(exited, 5000, "mosquitto did not exit after SIGKILL");
}

describe("request/response on mosquitto", { skip, timeout: 20_000 }, () => {
  test("request() gets the answer of respond() through mosquitto", async (t) => {
    const { url } = await startMosquitto(t);
    const server = await client(t, url);
    const asker = await client(t, url);
    await server.respond("svc/square", (request) => {
      const n = Number(text(request.payload));
      return { payload: String(n * n), properties: { userProperties: [["by", "respond"]] } };
    });
    const response = await asker.request("svc/square", "12", { timeout: 5000 });
    assert.equal(text(response.payload), "144");
    assert.deepEqual(response.properties?.userProperties, [["by", "respond"]]);
    const second = await asker.request("svc/square", "7", { timeout: 5000 });
    assert.equal(text(second.payload), "49");
  });

  test("request() gets an answer sent by subscribe() and reply() through mosquitto", async (t) => {
    const { url } = await startMosquitto(t);
    const server = await client(t, url);
    const asker = await client(t, url);
    const seen = deferred<Message>();
    const replies: Promise<unknown>[] = [];
    await server.subscribe("svc/echo", {
      qos: 1,
      onMessage: (request) => {
        seen.resolve(request);
        replies.push(server.reply(request, `echo:${text(request.payload)}`, { qos: 1 }));
      },
    });
    const response = await asker.request("svc/echo", "hello", { timeout: 5000 });
    assert.equal(text(response.payload), "echo:hello");
    await Promise.all(replies);
    const request = await seen.promise;
    assert.equal(typeof request.properties?.responseTopic, "string");
    assert.ok(request.properties?.correlationData instanceof Uint8Array);
  });

  test("request() rejects with TimeoutError when nobody answers on mosquitto", async (t) => {
    const { url } = await startMosquitto(t);
    const asker = await client(t, url);
    const timeout = 300;
    const started = performance.now();
    await assert.rejects(
      within(asker.request("svc/nobody", "anyone?", { timeout }), 5000, "request never settled"),
      (error) => error instanceof TimeoutError,
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= timeout - 50, `rejected after ${elapsed} ms, before its timeout`);
    assert.ok(elapsed < timeout + 2000, `rejected after ${elapsed} ms`);
  });
});

describe("mosquitto killed mid-stream", { skip, timeout: 30_000 }, () => {
  test("connect() settles every publish, ends, and reconnects when mosquitto restarts", async (t) => {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    let broker = await spawnMosquitto(t, port);
    const reconnect = { initialDelay: 20, maxDelay: 150 };

    // The survivor stays up through the outage; the streamer is ended after the kill.
    const survivor = await client(t, url, { reconnect, clientId: "faults-survivor" });
    const own = await survivor.subscribe("after/#", { qos: 1 });
    const streamer = await client(t, url, { reconnect, clientId: "faults-streamer" });
    const reconnects: number[] = [];
    survivor.on("reconnect", (event) => reconnects.push(event.attempt));
    const survivorDown = nextEvent(survivor, "disconnect", 5000);
    const streamerDown = nextEvent(streamer, "disconnect", 5000);
    const survivorUp = nextEvent<ConnectEvent>(survivor, "connect", 15_000);
    // Handled here so a failure earlier in the test is not also an unhandled rejection.
    for (const p of [survivorDown, streamerDown, survivorUp]) p.catch(() => {});
    let streamerConnects = 0;
    streamer.on("connect", () => streamerConnects++);

    const total = 200;
    const sent: Promise<unknown>[] = [];
    let i = 0;
    // Before the kill: groups of five, each group awaited.
    for (; i < 100; i++) {
      sent.push(streamer.publish("stream", String(i), { qos: 1, timeout: 10_000 }));
      if (i % 5 === 4) await sent[i];
    }
    // Five more in flight, then the broker dies under them.
    for (; i < 105; i++) sent.push(streamer.publish("stream", String(i), { qos: 1 }));
    await killHard(broker);
    await Promise.all([survivorDown, streamerDown]);
    // The rest of the stream goes to the offline queue while the client reconnects.
    for (; i < total; i++) sent.push(streamer.publish("stream", String(i), { qos: 1 }));

    const settled = Promise.allSettled(sent);
    await within(streamer.end(), 5000, "end() did not resolve");
    const results = await within(settled, 5000, "a publish never settled");
    assert.equal(results.length, total);
    for (const [index, result] of results.entries()) {
      if (result.status === "rejected") {
        assert.ok(result.reason instanceof Error, `publish ${index} rejected with a non-Error`);
      }
      if (index < 100) assert.equal(result.status, "fulfilled", `publish ${index} before the kill`);
      if (index >= 105) {
        assert.equal(result.status, "rejected", `queued publish ${index}`);
        assert.ok((result as PromiseRejectedResult).reason instanceof ConnectionClosedError);
      }
    }
    assert.equal(streamerConnects, 0, "the ended streamer never came back");

    // Same port again: the survivor's reconnect policy brings it back.
    broker = await spawnMosquitto(t, port);
    const up = await survivorUp;
    assert.equal(up.sessionPresent, false);
    assert.ok(reconnects.length >= 1, "reconnect events while the broker was down");
    const fresh = await client(t, url, { reconnect });
    const watcher = await fresh.subscribe("after/#", { qos: 1 });
    await survivor.publish("after/1", "back", { qos: 1, timeout: 5000 });
    const [seen] = await take(watcher, 1);
    assert.equal(seen!.topic, "after/1");
    assert.equal(text(seen!.payload), "back");
    // The survivor subscribed again by itself (mosquitto lost the session).
    const [mine] = await take(own, 1);
    assert.equal(text(mine!.payload), "back");
  });
});
