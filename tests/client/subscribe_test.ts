import { test } from "node:test";
import assert from "node:assert/strict";
import type { Message } from "../../client/subscription.ts";
import { brokerFor, clientFor, deferred, take, text } from "./_helpers.ts";

test(
  "MqttSubscription iterates only messages matching its own filters",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const client = await clientFor(t, broker);
    const a = await client.subscribe("a/#", { qos: 1 });
    const b = await client.subscribe(["b/+", "c"], { qos: 1 });
    await client.publish("a/1", "A", { qos: 1 });
    await client.publish("b/1", "B", { qos: 1 });
    await client.publish("c", "C", { qos: 1 });
    assert.deepEqual((await take(a, 1)).map((m) => text(m.payload)), ["A"]);
    assert.deepEqual((await take(b, 2)).map((m) => text(m.payload)), ["B", "C"]);
  },
);

test(
  "MqttClient.subscribe() calls onMessage instead of buffering",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const client = await clientFor(t, broker, { protocolVersion: 4 });
    const got = deferred<Message>();
    await client.subscribe("cb", { qos: 2, onMessage: (m) => got.resolve(m) });
    await client.publish("cb", "x", { qos: 2 });
    const message = await got.promise;
    assert.equal(message.topic, "cb");
    assert.equal(message.qos, 2);
  },
);

test(
  "MqttSubscription.unsubscribe() ends the iterator and stops delivery",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const client = await clientFor(t, broker);
    const sub = await client.subscribe("u/#", { qos: 1 });
    const events: string[] = [];
    broker.on("unsubscribe", (e) => events.push(...e.filters));
    const pending = sub[Symbol.asyncIterator]().next();
    await sub.unsubscribe();
    assert.deepEqual(await pending, { value: undefined, done: true });
    assert.deepEqual(events, ["u/#"]);
    assert.equal(sub.closed, true);
  },
);

test(
  "MqttSubscription.unsubscribe() keeps filters another subscription uses",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const client = await clientFor(t, broker);
    const one = await client.subscribe("same", { qos: 1 });
    const two = await client.subscribe("same", { qos: 1 });
    let unsubscribes = 0;
    broker.on("unsubscribe", () => unsubscribes++);
    await one.unsubscribe();
    assert.equal(unsubscribes, 0);
    await client.publish("same", "still", { qos: 1 });
    assert.equal(text((await take(two, 1))[0]!.payload), "still");
  },
);

test("MqttSubscription breaking out of for-await unsubscribes", { timeout: 10_000 }, async (t) => {
  const broker = await brokerFor(t);
  const client = await clientFor(t, broker);
  const sub = await client.subscribe("loop", { qos: 1 });
  await client.publish("loop", "1", { qos: 1 });
  for await (const message of sub) {
    assert.equal(text(message.payload), "1");
    break;
  }
  assert.equal(sub.closed, true);
});

test(
  "MqttSubscription drops the oldest message when its buffer is full",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const client = await clientFor(t, broker);
    const sub = await client.subscribe("full", { qos: 1, bufferSize: 2 });
    const done = deferred<void>();
    const watcher = await client.subscribe("full", {
      qos: 1,
      onMessage: (m) => text(m.payload) === "3" && done.resolve(),
    });
    for (const n of ["1", "2", "3"]) await client.publish("full", n, { qos: 1 });
    await done.promise;
    assert.equal(sub.dropped, 1);
    assert.deepEqual((await take(sub, 2)).map((m) => text(m.payload)), ["2", "3"]);
    await watcher.unsubscribe();
  },
);

test(
  "MqttSubscription matches shared subscriptions by their inner filter",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const client = await clientFor(t, broker);
    const sub = await client.subscribe("$share/g/jobs/+", { qos: 1 });
    await client.publish("jobs/1", "work", { qos: 1 });
    const [message] = await take(sub, 1);
    assert.equal(message!.topic, "jobs/1");
  },
);

test("MqttClient.subscribe() rejects invalid filters before sending", async () => {
  const { MqttClient } = await import("../../client/client.ts");
  const client = new MqttClient(() => Promise.reject(new Error("unused")));
  await assert.rejects(client.subscribe("a/#/b"), TypeError);
  await assert.rejects(client.subscribe("a", { qos: 3 as 0 }), RangeError);
});
