import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket as NetSocket } from "node:net";
import { connect } from "../../client/connect.ts";
import {
  ConnectionClosedError,
  ConnectionFailedError,
  NotConnectedError,
  TimeoutError,
} from "../../client/errors.ts";
import type { Transport } from "../../client/options.ts";
import { acceptAll, FakeBroker } from "./_fake.ts";
import { brokerFor, deferred, memoryClient, MemoryLink, nextEvent } from "./_helpers.ts";

/** A TCP listener that accepts connections and never answers; closed after the test. */
async function silentServer(t: { after: (fn: () => unknown) => void }): Promise<number> {
  const sockets = new Set<NetSocket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A transport that never opens, until aborted. */
const hanging: Transport = ({ signal }) =>
  new Promise((_, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

test("connect() rejects when the broker is unreachable", { timeout: 10_000 }, async () => {
  const port = await closedPort();
  const error = await connect(`mqtt://127.0.0.1:${port}`).catch((e) => e);
  assert.ok(error instanceof ConnectionFailedError);
  assert.ok(error.cause instanceof Error);
});

test(
  "connect() times out when TCP is accepted but CONNECT is never answered",
  { timeout: 10_000 },
  async (t) => {
    const port = await silentServer(t);
    const error = await connect(`mqtt://127.0.0.1:${port}`, { connectTimeout: 200 }).catch((e) =>
      e
    );
    assert.ok(error instanceof TimeoutError);
  },
);

test("connect() rejects with the signal's reason when aborted", { timeout: 10_000 }, async (t) => {
  const port = await silentServer(t);
  const controller = new AbortController();
  const pending = connect(`mqtt://127.0.0.1:${port}`, { signal: controller.signal });
  const reason = new Error("stop");
  controller.abort(reason);
  assert.equal(await pending.catch((e) => e), reason);
  await assert.rejects(
    connect("mqtt://x", { transport: hanging, signal: AbortSignal.abort(reason) }),
    (e) => e === reason,
  );
});

test("connect() times out on a transport that never opens", { timeout: 10_000 }, async () => {
  await assert.rejects(
    connect("mqtt://x", { transport: hanging, connectTimeout: 50 }),
    TimeoutError,
  );
});

test(
  "MqttClient.publish() times out when the broker never acknowledges",
  { timeout: 10_000 },
  async (t) => {
    const accept = acceptAll();
    const fake = new FakeBroker((packet, c) => {
      if (packet.type !== "publish" && packet.type !== "subscribe") accept(packet, c);
    });
    const client = await connect("mqtt://fake", { transport: fake.transport });
    t.after(() => client.end());
    await assert.rejects(client.publish("t", "x", { qos: 1, timeout: 50 }), TimeoutError);
    await assert.rejects(client.subscribe("never", { timeout: 50 }), TimeoutError);
  },
);

test(
  "MqttClient.end() during reconnecting rejects pending work",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const link = new MemoryLink(broker);
    const client = await memoryClient(t, link, { reconnect: { initialDelay: 60_000 } });
    const disconnected = nextEvent(client, "disconnect");
    link.drop();
    await disconnected;
    assert.equal(client.state, "reconnecting");
    const publish = client.publish("t", "x", { qos: 1 });
    const subscribe = client.subscribe("s");
    await client.end();
    await assert.rejects(publish, ConnectionClosedError);
    await assert.rejects(subscribe, ConnectionClosedError);
    await assert.rejects(client.publish("t", "x"), NotConnectedError);
    assert.equal(await client.closed, undefined);
  },
);

test(
  "MqttClient.end() during a connection attempt settles everything",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const link = new MemoryLink(broker);
    const client = await memoryClient(t, link, { reconnect: { initialDelay: 1, maxDelay: 1 } });
    const attempted = deferred<void>();
    link.hang = true;
    link.onAttempt = () => attempted.resolve();
    link.drop();
    await attempted.promise;
    assert.equal(client.state, "connecting");
    const publish = client.publish("t", "x", { qos: 2 });
    const request = client.request("r", "?");
    await client.end();
    await assert.rejects(publish, ConnectionClosedError);
    await assert.rejects(request, ConnectionClosedError);
    assert.equal(client.state, "closed");
  },
);

test("MqttClient operations take a signal", { timeout: 10_000 }, async (t) => {
  const broker = await brokerFor(t);
  const link = new MemoryLink(broker);
  const client = await memoryClient(t, link, { reconnect: { initialDelay: 60_000 } });
  const disconnected = nextEvent(client, "disconnect");
  link.drop();
  await disconnected;
  const controller = new AbortController();
  const publish = client.publish("t", "x", { qos: 1, signal: controller.signal });
  const subscribe = client.subscribe("s", { signal: controller.signal });
  assert.equal(client.queued, 1);
  const reason = new Error("cancelled");
  controller.abort(reason);
  assert.equal(await publish.catch((e) => e), reason);
  assert.equal(await subscribe.catch((e) => e), reason);
  assert.equal(client.queued, 0);
});

test("MqttClient.request() times out without a responder", { timeout: 10_000 }, async (t) => {
  const broker = await brokerFor(t);
  const link = new MemoryLink(broker);
  const client = await memoryClient(t, link);
  await assert.rejects(client.request("nobody", "?", { timeout: 50 }), TimeoutError);
});
