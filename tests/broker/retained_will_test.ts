import { describe, test, type TestContext } from "../_testing.ts";
import type { Broker } from "../../broker/types.ts";
import assert from "node:assert/strict";
import type { Subscription } from "../../protocol/mod.ts";
import { brokerFor, bytes, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };

function open(
  t: TestContext,
  broker: Broker,
  transport: "memory" | "tcp",
): Promise<RawClient> {
  return transport === "tcp"
    ? RawClient.tcp(t, broker, 5)
    : Promise.resolve(RawClient.memory(t, broker, 5));
}

function sub5(filter: string, retainHandling: 0 | 1 | 2): Subscription {
  return { filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling };
}

describe("broker retained messages", () => {
  test(
    "startBroker() sends a retained message to a new subscriber with the retain flag [MQTT-3.3.1-6] [MQTT-3.3.1-8]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const pub = RawClient.memory(t, broker, 4);
      await pub.connect("pub");
      pub.publish("r/a", "first", { qos: 1, retain: true });
      await pub.next("puback");
      pub.publish("r/a", "second", { qos: 1, retain: true, packetId: 2 });
      await pub.next("puback");
      const sub = RawClient.memory(t, broker, 4);
      await sub.connect("sub");
      await sub.subscribe(["r/#"], { qos: 2 });
      const message = await sub.next("publish");
      assert.equal(text(message.payload), "second");
      assert.equal(message.retain, true);
      assert.equal(message.qos, 1);
      assert.deepEqual(await sub.drain(30), []);
    },
  );

  test(
    "startBroker() sends MQTT 3.1.1 QoS 0 subscribers retained messages from the form encoded when stored, QoS 1 ones encoded anew, and follows replacements",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const pub = RawClient.memory(t, broker, 4);
      await pub.connect("pub");
      pub.publish("r/q1", "kept at QoS 1", { qos: 1, retain: true });
      await pub.next("puback");
      broker.publish("r/q0", new Uint8Array(300).fill(7), { retain: true });
      const q0 = RawClient.memory(t, broker, 4);
      await q0.connect("q0");
      await q0.subscribe(["r/#"], { qos: 0 });
      const got = [await q0.next("publish"), await q0.next("publish")]
        .sort((a, b) => a.topic.localeCompare(b.topic));
      assert.deepEqual(got.map((p) => [p.topic, p.qos, p.retain, p.payload.length]), [
        ["r/q0", 0, true, 300],
        ["r/q1", 0, true, 13],
      ]);
      assert.equal(text(got[1]!.payload), "kept at QoS 1");
      // A QoS 1 subscription still gets QoS 1 with a packet id (encoded per delivery).
      const q1 = RawClient.memory(t, broker, 4);
      await q1.connect("q1");
      await q1.subscribe(["r/q1"], { qos: 1 });
      const message = await q1.next("publish");
      assert.equal(message.qos, 1);
      assert.equal(message.retain, true);
      assert.equal(text(message.payload), "kept at QoS 1");
      // Replaced: the new one goes out, the stored form follows the replacement.
      broker.publish("r/q0", "short", { retain: true });
      const again = RawClient.memory(t, broker, 4);
      await again.connect("again");
      await again.subscribe(["r/q0"], { qos: 0 });
      assert.equal(text((await again.next("publish")).payload), "short");
      assert.deepEqual(await again.drain(30), []);
    },
  );

  for (const transport of ["memory", "tcp"] as const) {
    test(
      `startBroker() sends MQTT 5 QoS 0 subscribers the stored form with a Property Length added, a Remaining Length that grows a byte included (${transport})`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        // "r/edge" takes 8 bytes and the payload 119: 127 as MQTT 3.x, 128 (two bytes) as MQTT 5.
        const edge = new Uint8Array(119).map((_, i) => i);
        broker.publish("r/edge", edge, { retain: true });
        broker.publish("r/big", new Uint8Array(20_000).fill(9), { retain: true });
        const sub = await open(t, broker, transport);
        await sub.connect("v5");
        await sub.subscribe([{ ...sub5("r/#", 0), qos: 0 }]);
        const got = [await sub.next("publish"), await sub.next("publish")]
          .sort((a, b) => a.topic.localeCompare(b.topic));
        assert.deepEqual(got.map((p) => [p.topic, p.qos, p.retain, p.properties]), [
          ["r/big", 0, true, undefined],
          ["r/edge", 0, true, undefined],
        ]);
        assert.deepEqual(got[1]!.payload, edge);
        assert.deepEqual(got[0]!.payload, new Uint8Array(20_000).fill(9));
        // With a subscription identifier the message is encoded with it.
        const ids = await open(t, broker, transport);
        await ids.connect("ids");
        await ids.subscribe([{ ...sub5("r/edge", 0), qos: 0 }], { identifier: 7 });
        const tagged = await ids.next("publish");
        assert.deepEqual(tagged.properties?.subscriptionIdentifiers, [7]);
        assert.deepEqual(tagged.payload, edge);
        // A Maximum Packet Size below the big one: only the small one is sent [MQTT-3.1.2-25].
        const small = await open(t, broker, transport);
        await small.connect("small", { properties: { maximumPacketSize: 1000 } });
        await small.subscribe([{ ...sub5("r/#", 0), qos: 0 }]);
        assert.equal((await small.next("publish")).topic, "r/edge");
        assert.deepEqual(await small.drain(50), []);
      },
    );
  }

  test(
    "startBroker() clears a retained message on an empty retained payload [MQTT-3.3.1-10]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      broker.publish("r/gone", "x", { retain: true });
      const pub = RawClient.memory(t, broker, 5);
      await pub.connect("pub");
      pub.publish("r/gone", "", { retain: true });
      pub.send({ type: "pingreq" });
      await pub.next("pingresp");
      assert.equal(broker.stats.retained, 0);
      const sub = RawClient.memory(t, broker, 5);
      await sub.connect("sub");
      await sub.subscribe(["r/#"]);
      assert.deepEqual(await sub.drain(30), []);
    },
  );

  test(
    "startBroker() applies retain handling 0, 1 and 2 [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      broker.publish("h/x", "kept", { retain: true });
      const c = RawClient.memory(t, broker, 5);
      await c.connect("rh");
      await c.subscribe([sub5("h/+", 2)], { packetId: 1 });
      assert.deepEqual(await c.drain(30), []);
      await c.subscribe([sub5("h/#", 1)], { packetId: 2 });
      assert.equal((await c.next("publish")).retain, true);
      await c.subscribe([sub5("h/#", 1)], { packetId: 3 }); // exists: nothing
      await c.subscribe([sub5("h/x", 0)], { packetId: 4 });
      assert.equal(text((await c.next("publish")).payload), "kept");
      await c.subscribe([sub5("h/x", 0)], { packetId: 5 }); // 0 sends again
      assert.equal(text((await c.next("publish")).payload), "kept");
    },
  );

  test(
    "startBroker() sends no retained messages for a shared subscription",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      broker.publish("s/x", "kept", { retain: true });
      const c = RawClient.memory(t, broker, 5);
      await c.connect("sh");
      await c.subscribe(["$share/g/s/#"]);
      assert.deepEqual(await c.drain(30), []);
    },
  );

  test(
    "startBroker() sends the remaining message expiry of a retained message and drops it once expired [MQTT-3.3.2-5] [MQTT-3.3.2-6]",
    { timeout: 10_000 },
    async (t) => {
      const broker = await brokerFor(t);
      broker.publish("x/e", "soon", { retain: true, properties: { messageExpiryInterval: 2 } });
      const a = RawClient.memory(t, broker, 5);
      await a.connect("a");
      await a.subscribe(["x/e"]);
      assert.equal((await a.next("publish")).properties?.messageExpiryInterval, 2);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const b = RawClient.memory(t, broker, 5);
      await b.connect("b");
      await b.subscribe(["x/e"]);
      assert.equal((await b.next("publish")).properties?.messageExpiryInterval, 1);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const c = RawClient.memory(t, broker, 5);
      await c.connect("c");
      await c.subscribe(["x/e"]);
      assert.deepEqual(await c.drain(30), []);
      assert.equal(broker.stats.retained, 0);
    },
  );
});

describe("broker wills", () => {
  async function watcher(
    t: Parameters<typeof brokerFor>[0],
    broker: Awaited<ReturnType<typeof brokerFor>>,
  ) {
    const w = RawClient.memory(t, broker, 5);
    await w.connect("watcher");
    await w.subscribe(["will/#"], { qos: 1 });
    return w;
  }
  const will = { topic: "will/gone", payload: bytes("bye"), qos: 1 as const, retain: false };

  test("startBroker() publishes the will on network loss [MQTT-3.1.2-8]", T, async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker);
    const c = await RawClient.tcp(t, broker, 4);
    await c.connect("dies", { will });
    c.destroy();
    const message = await w.next("publish");
    assert.equal(message.topic, "will/gone");
    assert.equal(text(message.payload), "bye");
  });

  test(
    "startBroker() discards the will on a normal DISCONNECT [MQTT-3.1.2-10] [MQTT-3.14.4-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const w = await watcher(t, broker);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("polite", { will });
      c.disconnect();
      await c.whenClosed();
      assert.deepEqual(await w.drain(50), []);
    },
  );

  test("startBroker() publishes the will on DISCONNECT 0x04 with its properties", T, async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker);
    const c = RawClient.memory(t, broker, 5);
    await c.connect("asks", {
      will: { ...will, properties: { contentType: "text/plain", userProperties: [["k", "v"]] } },
    });
    c.disconnect(0x04);
    const message = await w.next("publish");
    assert.deepEqual(message.properties, {
      contentType: "text/plain",
      userProperties: [["k", "v"]],
    });
  });

  test("startBroker() publishes the will after a protocol error", T, async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker);
    const c = RawClient.memory(t, broker, 5);
    await c.connect("broken", { will });
    c.sendBytes(new Uint8Array([0x36, 0x00]));
    assert.equal((await w.next("publish")).topic, "will/gone");
  });

  test("startBroker() publishes the will on keep-alive timeout", { timeout: 10_000 }, async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker);
    const c = RawClient.memory(t, broker, 4);
    await c.connect("silent", { will, keepAlive: 1 });
    assert.equal((await w.next("publish", 4000)).topic, "will/gone");
  });

  test("startBroker() cancels a delayed will when the session resumes in time [MQTT-3.1.3-9]", {
    timeout: 10_000,
  }, async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker);
    const c = RawClient.memory(t, broker, 5);
    await c.connect("delayed", {
      will: { ...will, properties: { willDelayInterval: 1 } },
      properties: { sessionExpiryInterval: 60 },
    });
    c.destroy();
    const again = RawClient.memory(t, broker, 5);
    assert.equal((await again.connect("delayed", { clean: false })).sessionPresent, true);
    assert.deepEqual(await w.drain(1600), []);
  });

  test("startBroker() publishes a delayed will after the delay", { timeout: 10_000 }, async (t) => {
    const broker = await brokerFor(t);
    const w = await watcher(t, broker);
    const c = RawClient.memory(t, broker, 5);
    await c.connect("late", {
      will: { ...will, properties: { willDelayInterval: 1 } },
      properties: { sessionExpiryInterval: 60 },
    });
    const started = Date.now();
    c.destroy();
    const message = await w.next("publish", 4000);
    assert.equal(message.topic, "will/gone");
    assert.ok(Date.now() - started >= 900);
    assert.equal(message.properties, undefined); // the will delay is not passed on
  });

  test("startBroker() retains a retained will", T, async (t) => {
    const broker = await brokerFor(t);
    const c = RawClient.memory(t, broker, 4);
    await c.connect("rw", { will: { ...will, retain: true } });
    c.destroy();
    await c.whenClosed();
    const late = RawClient.memory(t, broker, 4);
    await late.connect("late");
    await late.subscribe(["will/#"]);
    const message = await late.next("publish");
    assert.equal(message.retain, true);
  });
});

describe("broker retained messages to a new subscription, paced", () => {
  test(
    "startBroker() sends every one of 10,000 retained QoS 0 messages to a reading # subscriber",
    { timeout: 30_000 },
    async (t) => {
      const broker = await brokerFor(t);
      const payload = "r".repeat(200);
      for (let i = 0; i < 10_000; i++) broker.publish(`big/${i}`, payload, { retain: true });
      const c = await RawClient.tcp(t, broker, 5);
      await c.connect("all0");
      c.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{
          filter: "big/#",
          qos: 0,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        }],
      });
      const seen = new Set<string>();
      while (seen.size < 10_000) {
        const p = await c.next(undefined, 10_000);
        if (p.type === "publish") seen.add(p.topic);
      }
      assert.equal(seen.size, 10_000);
    },
  );

  test(
    "startBroker() sends every one of 3,000 retained QoS 1 messages within the queue limit",
    { timeout: 30_000 },
    async (t) => {
      const broker = await brokerFor(t, { maxQueuedMessages: 100 });
      for (let i = 0; i < 3000; i++) broker.publish(`q1/${i}`, "x", { retain: true, qos: 1 });
      const c = await RawClient.tcp(t, broker, 5);
      await c.connect("all1", { properties: { receiveMaximum: 10 } });
      c.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{
          filter: "q1/#",
          qos: 1,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        }],
      });
      const seen = new Set<string>();
      while (seen.size < 3000) {
        const p = await c.next(undefined, 10_000);
        if (p.type !== "publish") continue;
        seen.add(p.topic);
        c.send({ type: "puback", packetId: p.packetId!, reasonCode: 0 });
      }
      assert.equal(broker.client("all1")?.dropped, 0);
    },
  );
});
