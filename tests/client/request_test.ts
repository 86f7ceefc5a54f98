import { test } from "node:test";
import assert from "node:assert/strict";
import { brokerFor, clientFor, memoryClient, MemoryLink, take, text } from "./_helpers.ts";

test(
  "MqttClient.request() gets the response of a respond() handler",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const server = await clientFor(t, broker);
    const caller = await clientFor(t, broker);
    await server.respond("rpc/double", (request) => String(Number(text(request.payload)) * 2));
    const [a, b] = await Promise.all([
      caller.request("rpc/double", "21"),
      caller.request("rpc/double", "5"),
    ]);
    assert.equal(text(a.payload), "42");
    assert.equal(text(b.payload), "10");
  },
);

test("MqttClient.reply() answers with the correlation data", { timeout: 10_000 }, async (t) => {
  const broker = await brokerFor(t);
  const server = await clientFor(t, broker);
  const caller = await clientFor(t, broker);
  await server.subscribe("rpc/echo", {
    onMessage: (request) => {
      server.reply(request, request.payload, { properties: { contentType: "text/plain" } })
        .catch(() => {});
    },
  });
  const response = await caller.request("rpc/echo", "hi");
  assert.equal(text(response.payload), "hi");
  assert.equal(response.properties?.contentType, "text/plain");
});

test("MqttClient.request() is refused on MQTT 3.1.1", async (t) => {
  const broker = await brokerFor(t);
  const client = await clientFor(t, broker, { protocolVersion: 4 });
  await assert.rejects(client.request("x", "y"), TypeError);
});

test("MqttClient will is published when the connection is lost", { timeout: 10_000 }, async (t) => {
  const broker = await brokerFor(t);
  const watcher = await clientFor(t, broker);
  const sub = await watcher.subscribe("wills/#", { qos: 1 });
  for (const protocolVersion of [5, 4] as const) {
    const link = new MemoryLink(broker);
    await memoryClient(t, link, {
      protocolVersion,
      reconnect: false,
      will: { topic: `wills/${protocolVersion}`, payload: "gone", qos: 1 },
    });
    link.drop();
    const [message] = await take(sub, 1);
    assert.equal(message!.topic, `wills/${protocolVersion}`);
    assert.equal(text(message!.payload), "gone");
  }
});

test(
  "MqttClient.end() with reason code 0x04 publishes the will",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const watcher = await clientFor(t, broker);
    const sub = await watcher.subscribe("wills/#", { qos: 1 });
    const client = await clientFor(t, broker, { will: { topic: "wills/x", payload: "bye" } });
    await client.end({ reasonCode: 0x04 });
    assert.equal(text((await take(sub, 1))[0]!.payload), "bye");
  },
);
