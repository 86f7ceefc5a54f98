import { test } from "node:test";
import assert from "node:assert/strict";
import { type Message, MqttSubscription } from "./subscription.ts";

const owner = { unsubscribe: () => Promise.resolve() };
const message = (topic: string): Message => ({
  topic,
  payload: new Uint8Array(),
  qos: 0,
  retain: false,
});

test("MqttSubscription.matches() uses the inner filter of shared subscriptions", () => {
  const sub = new MqttSubscription({ owner, filters: ["$share/g/a/+", "b/#"], bufferSize: 10 });
  assert.equal(sub.matches("a/1"), true);
  assert.equal(sub.matches("b/c/d"), true);
  assert.equal(sub.matches("$share/g/a/1"), false);
  assert.equal(sub.matches("c"), false);
});

test("MqttSubscription.push() drops the oldest message past the buffer size", async () => {
  const sub = new MqttSubscription({ owner, filters: ["#"], bufferSize: 2 });
  for (const topic of ["1", "2", "3"]) sub.push(message(topic));
  assert.equal(sub.dropped, 1);
  const iterator = sub[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value?.topic, "2");
  assert.equal((await iterator.next()).value?.topic, "3");
});

test("MqttSubscription.close() ends waiting readers, or rejects them with the error", async () => {
  const ended = new MqttSubscription({ owner, filters: ["#"], bufferSize: 2 });
  const waiting = ended[Symbol.asyncIterator]().next();
  ended.close();
  assert.deepEqual(await waiting, { value: undefined, done: true });
  const failed = new MqttSubscription({ owner, filters: ["#"], bufferSize: 2 });
  const reader = failed[Symbol.asyncIterator]().next();
  const error = new Error("gone");
  failed.close(error);
  assert.equal(await reader.catch((e) => e), error);
  assert.deepEqual(await failed[Symbol.asyncIterator]().next(), { value: undefined, done: true });
});

test("MqttSubscription.close() lets buffered messages be read before the end", async () => {
  const sub = new MqttSubscription({ owner, filters: ["#"], bufferSize: 5 });
  sub.push(message("kept"));
  sub.close(new Error("gone"));
  const iterator = sub[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value?.topic, "kept");
  await assert.rejects(iterator.next());
  sub.push(message("ignored"));
  assert.equal((await iterator.next()).done, true);
});
