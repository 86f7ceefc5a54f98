import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { brokerFor, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };

describe("broker $SYS and client limits", () => {
  test("startBroker() publishes load averages and heap figures under $SYS", T, async (t) => {
    let heap = 1000;
    const broker = await brokerFor(t, { sysInterval: 1, memoryUsage: () => (heap += 500) });
    const c = RawClient.memory(t, broker, 4);
    await c.connect("sys");
    await c.subscribe(["$SYS/broker/load/#", "$SYS/broker/heap/#"]);
    const seen = new Map<string, string>();
    // The first update (on subscribe, retained) has every load at 0.00; a later one counts
    // the packets this client sent.
    for (;;) {
      const p = await c.next("publish", 3000);
      seen.set(p.topic, text(p.payload));
      const load = seen.get("$SYS/broker/load/messages/received/1min");
      if (!p.retain && load !== undefined && Number(load) > 0) break;
    }
    for (const metric of ["messages/received", "bytes/sent", "connections", "sockets"]) {
      for (const window of ["1min", "5min", "15min"]) {
        assert.match(seen.get(`$SYS/broker/load/${metric}/${window}`)!, /^\d+\.\d\d$/);
      }
    }
    // A 1-minute average moves faster than a 15-minute one.
    assert.ok(
      Number(seen.get("$SYS/broker/load/messages/received/1min")) >=
        Number(seen.get("$SYS/broker/load/messages/received/15min")),
    );
    const current = Number(seen.get("$SYS/broker/heap/current"));
    assert.ok(current >= 1500);
    assert.ok(Number(seen.get("$SYS/broker/heap/maximum")) >= current);
  });

  test(
    "startBroker() counts shared subscriptions apart, like mosquitto's $SYS/broker/shared_subscriptions/count",
    T,
    async (t) => {
      const broker = await brokerFor(t, { sysInterval: 1 });
      const a = RawClient.memory(t, broker, 5);
      await a.connect("a");
      await a.subscribe(["$share/g/x", "$share/h/x", "plain"]);
      const b = RawClient.memory(t, broker, 4);
      await b.connect("b");
      await b.subscribe(["$share/g/x", "$share/g/x"]); // the second replaces the first
      assert.equal(broker.stats.sharedSubscriptions, 3);
      assert.equal(broker.stats.subscriptions, 1);
      const watcher = RawClient.memory(t, broker, 4);
      await watcher.connect("watcher");
      await watcher.subscribe(["$SYS/broker/+/count"]);
      const seen = new Map<string, string>();
      while (seen.get("$SYS/broker/shared_subscriptions/count") !== "3") {
        const p = await watcher.next("publish", 3000);
        seen.set(p.topic, text(p.payload));
      }
      assert.equal(seen.get("$SYS/broker/subscriptions/count"), "2"); // plain and the watcher's
      b.send({ type: "unsubscribe", packetId: 2, filters: ["$share/g/x"] });
      await b.next("unsuback");
      assert.equal(broker.stats.sharedSubscriptions, 2);
      a.disconnect();
      await a.whenClosed();
      assert.equal(broker.stats.sharedSubscriptions, 0);
      assert.equal(broker.stats.subscriptions, 1);
    },
  );

  test("startBroker() counts PUBLISH payload bytes and stored messages in stats", T, async (t) => {
    const broker = await brokerFor(t);
    const sub = RawClient.memory(t, broker, 5);
    await sub.connect("sub", { properties: { receiveMaximum: 1 } });
    await sub.subscribe(["s"], { qos: 1 });
    const pub = RawClient.memory(t, broker, 5);
    await pub.connect("pub");
    pub.publish("s", "12345", { qos: 1, packetId: 1 });
    await pub.next("puback");
    pub.publish("s", "678", { qos: 1, packetId: 2 });
    await pub.next("puback");
    await sub.next("publish");
    const stats = broker.stats;
    assert.equal(stats.publishBytesReceived, 8);
    assert.equal(stats.publishBytesSent, 5);
    assert.equal(stats.messagesStored, 2); // one in flight, one queued
    assert.equal(stats.messagesStoredBytes, 3); // the queued one's payload
    assert.equal(stats.connections, 2);
    assert.equal(stats.sockets, 2);
    // Retained payloads count too: set, replaced, cleared.
    broker.publish("r", "abcd", { retain: true });
    broker.publish("r", "ab", { retain: true });
    assert.equal(broker.stats.messagesStoredBytes, 5);
    broker.publish("r", "", { retain: true });
    assert.equal(broker.stats.messagesStoredBytes, 3);
  });

  for (const version of [4, 5] as const) {
    test(
      `startBroker() drops a v${version} client's PUBLISH to $SYS (v5: PUBACK 0x87), like mosquitto`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const seen: string[] = [];
        broker.subscribe("$SYS/#", (m) => seen.push(m.topic));
        broker.subscribe("$other/#", (m) => seen.push(m.topic));
        const c = RawClient.memory(t, broker, version);
        await c.connect("c");
        c.publish("$SYS/broker/fake", "x", { qos: 1, packetId: 1, retain: true });
        const ack = await c.next("puback");
        if (version === 5) assert.equal(ack.reasonCode, 0x87);
        else assert.equal(ack.reasonCode, undefined);
        c.publish("$SYSX/a", "x", { qos: 2, packetId: 2 });
        const rec = await c.next("pubrec");
        if (version === 5) assert.equal(rec.reasonCode, 0x87);
        c.publish("$other/a", "x", { qos: 1, packetId: 3 });
        await c.next("puback");
        assert.deepEqual(seen, ["$other/a"]);
        assert.equal(broker.stats.retained, 0);
      },
    );
  }

  test(
    "startBroker() disconnects a v3.1.1 client publishing above maxQos, like mosquitto",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxQos: 1 });
      const seen: string[] = [];
      broker.subscribe("#", (m) => seen.push(m.topic));
      const c = RawClient.memory(t, broker, 4);
      await c.connect("c");
      c.publish("a", "x", { qos: 2, packetId: 1 });
      await c.whenClosed();
      assert.deepEqual(seen, []);
    },
  );

  test(
    "startBroker() answers a v5 PUBLISH above Maximum QoS with DISCONNECT 0x9B [MQTT-3.2.2-11]",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxQos: 0 });
      const c = RawClient.memory(t, broker, 5);
      const connack = await c.connect("c");
      assert.equal(connack.properties?.maximumQoS, 0);
      c.publish("a", "x", { qos: 1, packetId: 1 });
      assert.equal((await c.next("disconnect")).reasonCode, 0x9b);
      await c.whenClosed();
    },
  );

  test(
    "Broker.client() reports a session's in-flight, queued and dropped messages",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxQueuedMessages: 2 });
      assert.equal(broker.client("nobody"), undefined);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("c", { properties: { receiveMaximum: 1 } });
      await c.subscribe(["q"], { qos: 1 });
      for (let i = 0; i < 5; i++) broker.publish("q", "12", { qos: 1 });
      const info = broker.client("c")!;
      assert.equal(info.connected, true);
      assert.equal(info.protocolVersion, 5);
      assert.equal(info.inflight, 1);
      assert.equal(info.queuedMessages, 2);
      assert.equal(info.queuedBytes, 4);
      assert.equal(info.dropped, 2);
    },
  );
});
