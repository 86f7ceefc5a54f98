import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionClosedError, QueueFullError } from "../../client/errors.ts";
import type { ReconnectEvent } from "../../client/events.ts";
import {
  brokerFor,
  clientFor,
  deferred,
  memoryClient,
  MemoryLink,
  nextEvent,
  take,
  text,
} from "./_helpers.ts";

const fast = { initialDelay: 5, maxDelay: 20 };

test(
  "MqttClient keeps QoS 2 exactly once across forced reconnects",
  { timeout: 20_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const pubLink = new MemoryLink(broker);
    const subLink = new MemoryLink(broker);
    const session = { clean: false, sessionExpiryInterval: 300, reconnect: fast };
    const publisher = await memoryClient(t, pubLink, { ...session, clientId: "pub" });
    const subscriber = await memoryClient(t, subLink, { ...session, clientId: "sub" });
    const received: string[] = [];
    const all = deferred<void>();
    const count = 60;
    await subscriber.subscribe("exact/#", {
      qos: 2,
      onMessage: (m) => {
        received.push(text(m.payload));
        if (text(m.payload) === "end") all.resolve();
      },
    });
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) sent.push(publisher.publish("exact/n", String(i), { qos: 2 }));
    await sent[10];
    const subscriberBack = nextEvent(subscriber, "connect");
    pubLink.drop();
    subLink.drop();
    await subscriberBack;
    subLink.drop();
    await Promise.all(sent);
    await publisher.publish("exact/n", "end", { qos: 2 });
    await all.promise;
    assert.equal(received.length, count + 1);
    assert.equal(new Set(received).size, count + 1);
    assert.deepEqual(received.slice(0, count), Array.from({ length: count }, (_, i) => String(i)));
    assert.ok(pubLink.ends.length >= 2);
    assert.ok(subLink.ends.length >= 3);
  },
);

test("MqttClient resubscribes when the session is not present", { timeout: 10_000 }, async (t) => {
  const broker = await brokerFor(t);
  const link = new MemoryLink(broker);
  for (const protocolVersion of [5, 4] as const) {
    const client = await memoryClient(t, link, { protocolVersion, reconnect: fast });
    const other = await clientFor(t, broker);
    const sub = await client.subscribe(`again/${protocolVersion}`, { qos: 1 });
    const reconnected = nextEvent(client, "connect");
    link.drop();
    const event = await reconnected as Event & { sessionPresent: boolean };
    assert.equal(event.sessionPresent, false);
    // The resubscription was sent before anything else on the new connection.
    await client.publish("sync", "", { qos: 1 });
    await other.publish(`again/${protocolVersion}`, "back", { qos: 1 });
    assert.equal(text((await take(sub, 1))[0]!.payload), "back");
  }
});

test(
  "MqttClient bounds its offline queue and sends it after reconnecting",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const link = new MemoryLink(broker);
    const client = await memoryClient(t, link, { reconnect: fast, queue: { maxMessages: 2 } });
    const watcher = await clientFor(t, broker);
    const sub = await watcher.subscribe("offline/#", { qos: 1 });
    link.refuse = true;
    const disconnected = nextEvent(client, "disconnect");
    link.drop();
    await disconnected;
    assert.notEqual(client.state, "connected");
    const first = client.publish("offline/1", "a", { qos: 1 });
    const second = client.publish("offline/2", "b");
    await assert.rejects(client.publish("offline/3", "c", { qos: 1 }), QueueFullError);
    assert.equal(client.queued, 2);
    const attempts: number[] = [];
    client.on("reconnect", (e: ReconnectEvent) => attempts.push(e.attempt));
    await nextEvent(client, "reconnect");
    link.refuse = false;
    await Promise.all([first, second]);
    const messages = await take(sub, 2);
    assert.deepEqual(messages.map((m) => m.topic), ["offline/1", "offline/2"]);
    assert.ok(attempts.length >= 1);
  },
);

test(
  "MqttClient with reconnect off closes and rejects pending work",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const link = new MemoryLink(broker);
    const client = await memoryClient(t, link, { reconnect: false });
    const sub = await client.subscribe("x");
    const next = sub[Symbol.asyncIterator]().next();
    link.drop();
    const error = await client.closed;
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(client.state, "closed");
    await assert.rejects(next, ConnectionClosedError);
  },
);
