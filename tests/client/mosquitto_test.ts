/**
 * Interop: our client against Debian's mosquitto broker, started per test on a free
 * loopback port. Skips when mosquitto is not installed, except on CI (`CI=true`).
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../../client/connect.ts";
import type { MqttClient } from "../../client/client.ts";
import type { ClientOptions } from "../../client/options.ts";
import type { Message } from "../../client/subscription.ts";
import { loadTcpAdapter } from "../../socket/runtime.ts";
import type { Socket } from "../../socket/types.ts";
import { deferred, take, text } from "./_helpers.ts";
import { skip, startMosquitto } from "./_mosquitto.ts";

async function client(
  t: TestContext,
  url: string,
  options: ClientOptions = {},
): Promise<MqttClient> {
  const c = await connect(url, options);
  t.after(() => c.end());
  return c;
}

for (const protocolVersion of [5, 4] as const) {
  test(`connect() interoperates with mosquitto: QoS 0/1/2 on protocol ${protocolVersion}`, {
    skip,
    timeout: 20_000,
  }, async (t) => {
    const { url } = await startMosquitto(t);
    const a = await client(t, url, { protocolVersion });
    const b = await client(t, url, { protocolVersion });
    const sub = await b.subscribe("interop/#", { qos: 2 });
    for (const qos of [0, 1, 2] as const) await a.publish(`interop/${qos}`, `m${qos}`, { qos });
    const messages = await take(sub, 3);
    assert.deepEqual(messages.map((m) => [m.topic, text(m.payload), m.qos]), [
      ["interop/0", "m0", 0],
      ["interop/1", "m1", 1],
      ["interop/2", "m2", 2],
    ]);
  });

  test(`connect() resumes a persistent session on mosquitto, protocol ${protocolVersion}`, {
    skip,
    timeout: 20_000,
  }, async (t) => {
    const { url } = await startMosquitto(t);
    const session = { protocolVersion, clientId: `persist-${protocolVersion}`, clean: false };
    const options = protocolVersion === 5 ? { ...session, sessionExpiryInterval: 300 } : session;
    const first = await client(t, url, options);
    await first.subscribe("queued/#", { qos: 1 });
    await first.end();
    const publisher = await client(t, url, { protocolVersion });
    await publisher.publish("queued/1", "while away", { qos: 1 });
    const got = deferred<Message>();
    const second = await client(t, url, { ...options, onMessage: (m) => got.resolve(m) });
    assert.equal(second.connack?.sessionPresent, true);
    assert.equal(text((await got.promise).payload), "while away");
  });
}

test("connect() keeps QoS 2 exactly once across forced reconnects on mosquitto", {
  skip,
  timeout: 30_000,
}, async (t) => {
  const { port, url } = await startMosquitto(t);
  const adapter = await loadTcpAdapter();
  const sockets: Socket[] = [];
  const transport = async ({ signal }: { signal: AbortSignal }) => {
    const socket = await adapter.connect({ hostname: "127.0.0.1", port, signal });
    sockets.push(socket);
    return socket;
  };
  const session = {
    clean: false,
    sessionExpiryInterval: 300,
    reconnect: { initialDelay: 5, maxDelay: 20 },
  };
  const publisher = await client(t, url, { ...session, clientId: "qos2-pub", transport });
  const subscriber = await client(t, url, { ...session, clientId: "qos2-sub", transport });
  const received: string[] = [];
  const all = deferred<void>();
  await subscriber.subscribe("exact", {
    qos: 2,
    onMessage: (m) => {
      received.push(text(m.payload));
      if (text(m.payload) === "end") all.resolve();
    },
  });
  const count = 100;
  const sent: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) sent.push(publisher.publish("exact", String(i), { qos: 2 }));
  await sent[20];
  for (const s of sockets.slice()) s.destroy();
  await Promise.all(sent);
  await publisher.publish("exact", "end", { qos: 2 });
  await all.promise;
  assert.equal(received.length, count + 1);
  assert.deepEqual(received.slice(0, count), Array.from({ length: count }, (_, i) => String(i)));
  assert.ok(sockets.length >= 4);
});

test(
  "connect() retained messages and wills work on mosquitto",
  { skip, timeout: 20_000 },
  async (t) => {
    const { port, url } = await startMosquitto(t);
    const adapter = await loadTcpAdapter();
    let socket: Socket | undefined;
    const transport = async ({ signal }: { signal: AbortSignal }) =>
      socket = await adapter.connect({ hostname: "127.0.0.1", port, signal });
    const watcher = await client(t, url, { protocolVersion: 4 });
    const wills = await watcher.subscribe("will/#", { qos: 1 });
    await client(t, url, {
      transport,
      reconnect: false,
      will: { topic: "will/x", payload: "gone", qos: 1 },
    });
    socket!.destroy();
    assert.equal(text((await take(wills, 1))[0]!.payload), "gone");
    const publisher = await client(t, url);
    await publisher.publish("retained/x", "kept", { qos: 1, retain: true });
    const late = await client(t, url, { protocolVersion: 4 });
    const sub = await late.subscribe("retained/#", { qos: 1 });
    const [message] = await take(sub, 1);
    assert.equal(message!.retain, true);
    assert.equal(text(message!.payload), "kept");
  },
);
