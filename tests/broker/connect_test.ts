import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { encodePacket } from "../../protocol/mod.ts";
import { brokerFor, RawClient } from "./_client.ts";

const T = { timeout: 10_000 };

describe("broker CONNECT", () => {
  for (const version of [3, 4, 5] as const) {
    test(
      `startBroker() accepts a protocol level ${version} client over TCP [MQTT-3.2.0-1]`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const client = await RawClient.tcp(t, broker, version);
        const connack = await client.connect("c1", { keepAlive: 30 });
        assert.equal(connack.reasonCode, 0);
        assert.equal(connack.sessionPresent, false);
        client.send({ type: "pingreq" });
        await client.next("pingresp");
      },
    );
  }

  test(
    "startBroker() assigns an auto- id to an empty v5 client id [MQTT-3.1.3-6] [MQTT-3.2.2-16]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const client = RawClient.memory(t, broker, 5);
      const connack = await client.connect("");
      assert.equal(connack.reasonCode, 0);
      assert.match(connack.properties?.assignedClientIdentifier ?? "", /^auto-[0-9A-F-]{36}$/);
    },
  );

  test(
    "startBroker() accepts an empty v3.1.1 client id with clean session [MQTT-3.1.3-7]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const client = RawClient.memory(t, broker, 4);
      const connack = await client.connect("", { clean: true });
      assert.equal(connack.reasonCode, 0);
    },
  );

  test(
    "startBroker() refuses an empty v3.1.1 client id without clean session with return code 2 [MQTT-3.1.3-8]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const client = RawClient.memory(t, broker, 4);
      const connack = await client.connect("", { clean: false });
      assert.equal(connack.reasonCode, 2);
      await client.whenClosed();
    },
  );

  test("startBroker() refuses an empty v3.1 client id with return code 2", T, async (t) => {
    const broker = await brokerFor(t);
    const client = RawClient.memory(t, broker, 3);
    const connack = await client.connect("", { clean: true });
    assert.equal(connack.reasonCode, 2);
    await client.whenClosed();
  });

  test(
    "startBroker() refuses empty ids when allowZeroLengthClientId is false (v5 0x85)",
    T,
    async (t) => {
      const broker = await brokerFor(t, { allowZeroLengthClientId: false });
      const client = RawClient.memory(t, broker, 5);
      const connack = await client.connect("");
      assert.equal(connack.reasonCode, 0x85);
    },
  );

  test("startBroker() sends the v5 CONNACK properties a client needs", T, async (t) => {
    const broker = await brokerFor(t, { maxQos: 1, retainAvailable: false, maxPacketSize: 1000 });
    const client = RawClient.memory(t, broker, 5);
    const connack = await client.connect("props", { keepAlive: 60 });
    assert.deepEqual(connack.properties, {
      receiveMaximum: 20,
      maximumQoS: 1,
      retainAvailable: false,
      maximumPacketSize: 1000,
      topicAliasMaximum: 10,
    });
  });

  test(
    "startBroker() caps a v5 keep alive with server keep alive [MQTT-3.2.2-21]",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxKeepalive: 30 });
      const client = RawClient.memory(t, broker, 5);
      const connack = await client.connect("ka", { keepAlive: 600 });
      assert.equal(connack.properties?.serverKeepAlive, 30);
    },
  );

  test(
    "startBroker() refuses a v3.1.1 keep alive above maxKeepalive like mosquitto",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxKeepalive: 30 });
      const client = RawClient.memory(t, broker, 4);
      const connack = await client.connect("ka", { keepAlive: 600 });
      assert.equal(connack.reasonCode, 2);
    },
  );

  test(
    "startBroker() takes over a session: the old v5 connection gets DISCONNECT 0x8E [MQTT-3.1.4-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const first = RawClient.memory(t, broker, 5);
      await first.connect("same");
      const second = RawClient.memory(t, broker, 5);
      const connack = await second.connect("same");
      assert.equal(connack.reasonCode, 0);
      const disconnect = await first.next("disconnect");
      assert.equal(disconnect.reasonCode, 0x8e);
      await first.whenClosed();
      second.send({ type: "pingreq" });
      await second.next("pingresp");
    },
  );

  test(
    "startBroker() resumes a v3.1.1 persistent session with session present [MQTT-3.2.2-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const a = RawClient.memory(t, broker, 4);
      assert.equal((await a.connect("p", { clean: false })).sessionPresent, false);
      await a.subscribe(["q/#"], { qos: 1 });
      a.disconnect();
      await a.whenClosed();
      // Queued while offline
      broker.publish("q/1", "while away", { qos: 1 });
      const b = RawClient.memory(t, broker, 4);
      assert.equal((await b.connect("p", { clean: false })).sessionPresent, true);
      const publish = await b.next("publish");
      assert.equal(publish.topic, "q/1");
      assert.equal(publish.qos, 1);
    },
  );

  test("startBroker() discards the session on clean session [MQTT-3.2.2-1]", T, async (t) => {
    const broker = await brokerFor(t);
    const a = RawClient.memory(t, broker, 4);
    await a.connect("p", { clean: false });
    await a.subscribe(["q/#"], { qos: 1 });
    a.disconnect();
    await a.whenClosed();
    const b = RawClient.memory(t, broker, 4);
    assert.equal((await b.connect("p", { clean: true })).sessionPresent, false);
    broker.publish("q/1", "x", { qos: 1 });
    assert.deepEqual(await b.drain(50), []);
  });

  test(
    "startBroker() ends a v5 session with expiry 0 at disconnect and keeps one with expiry > 0",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const a = RawClient.memory(t, broker, 5);
      await a.connect("e0", { clean: true });
      a.disconnect();
      await a.whenClosed();
      const b = RawClient.memory(t, broker, 5);
      assert.equal((await b.connect("e0", { clean: false })).sessionPresent, false);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("e1", { properties: { sessionExpiryInterval: 60 } });
      c.disconnect();
      await c.whenClosed();
      const d = RawClient.memory(t, broker, 5);
      assert.equal((await d.connect("e1", { clean: false })).sessionPresent, true);
    },
  );

  test("startBroker() honours a session expiry set at DISCONNECT", T, async (t) => {
    const broker = await brokerFor(t);
    const a = RawClient.memory(t, broker, 5);
    await a.connect("ed", { properties: { sessionExpiryInterval: 60 } });
    a.send({ type: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await a.whenClosed();
    const b = RawClient.memory(t, broker, 5);
    assert.equal((await b.connect("ed", { clean: false })).sessionPresent, false);
  });

  test(
    "startBroker() closes a connection whose first packet is not CONNECT [MQTT-3.1.0-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const client = await RawClient.tcp(t, broker, 4);
      client.send({ type: "pingreq" });
      await client.whenClosed();
      assert.deepEqual(await client.drain(0), []);
    },
  );

  test(
    "startBroker() closes a second CONNECT with DISCONNECT 0x82 [MQTT-3.1.0-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const client = RawClient.memory(t, broker, 5);
      await client.connect("twice");
      client.send({
        type: "connect",
        protocolVersion: 5,
        clientId: "twice",
        clean: true,
        keepAlive: 0,
      });
      assert.equal((await client.next("disconnect")).reasonCode, 0x82);
      await client.whenClosed();
    },
  );

  test(
    "startBroker() answers a malformed packet with DISCONNECT 0x81 (v5) and closes",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const client = RawClient.memory(t, broker, 5);
      await client.connect("bad");
      client.sendBytes(new Uint8Array([0x36, 0x00])); // PUBLISH with QoS 3 [MQTT-3.3.1-4]
      assert.equal((await client.next("disconnect")).reasonCode, 0x81);
      await client.whenClosed();
    },
  );

  test("startBroker() answers a packet over maxPacketSize with DISCONNECT 0x95", T, async (t) => {
    const broker = await brokerFor(t, { maxPacketSize: 100 });
    const client = RawClient.memory(t, broker, 5);
    await client.connect("big");
    client.publish("t", "x".repeat(200));
    assert.equal((await client.next("disconnect")).reasonCode, 0x95);
    await client.whenClosed();
  });

  test(
    "startBroker() answers an unknown protocol level with CONNACK return code 1 [MQTT-3.1.2-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const client = RawClient.memory(t, broker, 4);
      const connect = encodePacket(
        { type: "connect", protocolVersion: 4, clientId: "x", clean: true, keepAlive: 0 },
        4,
      );
      connect[8] = 9; // protocol level byte after 00 04 'MQTT'
      client.sendBytes(connect);
      assert.equal((await client.next("connack")).reasonCode, 1);
      await client.whenClosed();
    },
  );

  test(
    "startBroker() closes a client silent for 1.5x its keep alive with DISCONNECT 0x8D [MQTT-3.1.2-22]",
    { timeout: 10_000 },
    async (t) => {
      const broker = await brokerFor(t);
      const client = RawClient.memory(t, broker, 5);
      await client.connect("quiet", { keepAlive: 1 });
      const started = Date.now();
      const disconnect = await client.next("disconnect", 4000);
      assert.equal(disconnect.reasonCode, 0x8d);
      assert.ok(Date.now() - started >= 1400);
    },
  );

  test(
    "startBroker() closes a connection that sends no CONNECT within connectTimeout",
    T,
    async (t) => {
      const broker = await brokerFor(t, { connectTimeout: 1 });
      const client = await RawClient.tcp(t, broker, 4);
      await client.whenClosed();
    },
  );

  test("Broker.on() reports connect and disconnect", T, async (t) => {
    const broker = await brokerFor(t);
    const events: string[] = [];
    broker.on("connect", (e) => events.push(`connect ${e.clientId} ${e.protocolVersion}`));
    broker.on("disconnect", (e) => events.push(`disconnect ${e.clientId} ${e.reasonCode}`));
    const client = RawClient.memory(t, broker, 5);
    await client.connect("ev");
    client.disconnect();
    await client.whenClosed();
    await client.drain(10);
    assert.deepEqual(events, ["connect ev 5", "disconnect ev 0"]);
  });
});
