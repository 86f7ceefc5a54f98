import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { encodePacket, type QoS } from "../../protocol/mod.ts";
import { brokerFor, bytes, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };

describe("broker PUBLISH routing", () => {
  for (const qos of [0, 1, 2] as const) {
    for (const version of [4, 5] as const) {
      test(
        `startBroker() routes a QoS ${qos} PUBLISH between v${version} clients over TCP`,
        T,
        async (t) => {
          const broker = await brokerFor(t);
          const sub = await RawClient.tcp(t, broker, version);
          await sub.connect("sub");
          assert.deepEqual(await sub.subscribe(["a/+"], { qos: 2 }), [2]);
          const pub = await RawClient.tcp(t, broker, version);
          await pub.connect("pub");
          pub.publish("a/b", `q${qos}`, { qos, packetId: 7 });
          if (qos === 1) assert.equal((await pub.next("puback")).packetId, 7);
          if (qos === 2) {
            assert.equal((await pub.next("pubrec")).packetId, 7);
            pub.send({ type: "pubrel", packetId: 7 });
            assert.equal((await pub.next("pubcomp")).packetId, 7);
          }
          const message = await sub.next("publish");
          assert.equal(message.topic, "a/b");
          assert.equal(text(message.payload), `q${qos}`);
          assert.equal(message.qos, qos);
          assert.equal(message.retain, false);
          if (qos === 1) sub.send({ type: "puback", packetId: message.packetId! });
          if (qos === 2) {
            sub.send({ type: "pubrec", packetId: message.packetId! });
            assert.equal((await sub.next("pubrel")).packetId, message.packetId);
            sub.send({ type: "pubcomp", packetId: message.packetId! });
          }
        },
      );
    }
  }

  test("startBroker() delivers at min(published QoS, granted QoS) [MQTT-3.8.4-8]", T, async (t) => {
    const broker = await brokerFor(t);
    const subs: RawClient[] = [];
    for (const qos of [0, 1, 2] as QoS[]) {
      const c = RawClient.memory(t, broker, 5);
      await c.connect(`s${qos}`);
      await c.subscribe(["m"], { qos });
      subs.push(c);
    }
    broker.publish("m", "x", { qos: 1 });
    assert.deepEqual(
      await Promise.all(subs.map(async (c) => (await c.next("publish")).qos)),
      [0, 1, 1],
    );
  });

  test("startBroker() grants at most maxQos", T, async (t) => {
    const broker = await brokerFor(t, { maxQos: 1 });
    const c = RawClient.memory(t, broker, 4);
    await c.connect("c");
    assert.deepEqual(await c.subscribe(["a", "b"], { qos: 2 }), [1, 1]);
  });

  test("startBroker() answers PUBACK 0x10 when no subscriber matches (v5)", T, async (t) => {
    const broker = await brokerFor(t);
    const c = RawClient.memory(t, broker, 5);
    await c.connect("c");
    c.publish("nobody", "x", { qos: 1, packetId: 3 });
    assert.equal((await c.next("puback")).reasonCode, 0x10);
    c.publish("nobody", "x", { qos: 2, packetId: 4 });
    assert.equal((await c.next("pubrec")).reasonCode, 0x10);
  });

  test(
    "startBroker() never matches $ topics with a leading wildcard [MQTT-4.7.2-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 4);
      await c.connect("c");
      await c.subscribe(["#", "+/x"]);
      broker.publish("$internal/x", "hidden");
      broker.publish("plain/x", "seen");
      const message = await c.next("publish");
      assert.equal(message.topic, "plain/x");
      assert.deepEqual(await c.drain(30), []);
    },
  );

  test(
    "startBroker() does not send a v5 no-local subscriber its own messages [MQTT-3.8.3-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("self");
      await c.subscribe([{
        filter: "loop",
        qos: 0,
        noLocal: true,
        retainAsPublished: false,
        retainHandling: 0,
      }]);
      c.publish("loop", "mine");
      broker.publish("loop", "theirs");
      assert.equal(text((await c.next("publish")).payload), "theirs");
      assert.deepEqual(await c.drain(30), []);
    },
  );

  test(
    "startBroker() keeps the retain flag only with retain as published [MQTT-3.3.1-12] [MQTT-3.3.1-13]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("rap");
      await c.subscribe([
        { filter: "r/1", qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 0 },
        { filter: "r/2", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ]);
      broker.publish("r/1", "a", { retain: true });
      broker.publish("r/2", "b", { retain: true });
      assert.equal((await c.next("publish")).retain, true);
      assert.equal((await c.next("publish")).retain, false);
    },
  );

  test(
    "startBroker() sends a subscription identifier with each delivery [MQTT-3.3.4-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("ids");
      await c.subscribe(["id/#"], { identifier: 42 });
      broker.publish("id/x", "x");
      const message = await c.next("publish");
      assert.deepEqual(message.properties?.subscriptionIdentifiers, [42]);
    },
  );

  test(
    "startBroker() sends v5 overlapping subscriptions one copy each with allowDuplicateMessages, with its identifier and QoS [MQTT-3.3.4-5]",
    T,
    async (t) => {
      const broker = await brokerFor(t, { allowDuplicateMessages: true });
      const c = RawClient.memory(t, broker, 5);
      await c.connect("overlap5");
      await c.subscribe(["o/#"], { qos: 1, identifier: 5, packetId: 1 });
      await c.subscribe(["o/+"], { qos: 0, identifier: 7, packetId: 2 });
      broker.publish("o/b", "x", { qos: 2 });
      const copies = [await c.next("publish"), await c.next("publish")].map((p) => [
        p.qos,
        p.properties?.subscriptionIdentifiers,
      ]);
      copies.sort((a, b) => Number(a[0]) - Number(b[0]));
      assert.deepEqual(copies, [[0, [7]], [1, [5]]]);
    },
  );

  test(
    "startBroker() sends v5 overlapping subscriptions one copy at the highest QoS with every identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("overlap5one");
      await c.subscribe(["o/#"], { qos: 1, identifier: 5, packetId: 1 });
      await c.subscribe(["o/+"], { qos: 0, identifier: 7, packetId: 2 });
      await c.subscribe(["o/b"], { qos: 0, packetId: 3 });
      broker.publish("o/b", "x", { qos: 2 });
      const message = await c.next("publish");
      assert.equal(message.qos, 1);
      assert.deepEqual([...message.properties!.subscriptionIdentifiers!].sort(), [5, 7]);
      assert.deepEqual(await c.drain(30), []);
      // A topic matched by one of them carries only its identifier.
      broker.publish("o/b/c", "y", { qos: 1 });
      const single = await c.next("publish");
      assert.deepEqual(single.properties?.subscriptionIdentifiers, [5]);
    },
  );

  test(
    "startBroker() merges v5 overlapping subscriptions' options: no local drops only its own match, retain as published from any",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("overlapopts");
      await c.subscribe([{ filter: "m/#", qos: 1, noLocal: true }], { identifier: 1, packetId: 1 });
      await c.subscribe([{ filter: "m/+", qos: 0, retainAsPublished: true }], {
        identifier: 2,
        packetId: 2,
      });
      await c.subscribe([{ filter: "m/x/#", qos: 2, noLocal: true }], {
        identifier: 3,
        packetId: 3,
      });
      // Its own publish: the no-local subscriptions do not match, the other one does.
      c.send({
        type: "publish",
        topic: "m/a",
        payload: bytes("own"),
        qos: 0,
        retain: true,
        dup: false,
      });
      const own = await c.next("publish");
      assert.equal(own.qos, 0);
      assert.equal(own.retain, true);
      assert.deepEqual(own.properties?.subscriptionIdentifiers, [2]);
      // Its own publish matching only no-local subscriptions: nothing.
      c.send({
        type: "publish",
        topic: "m/x/y",
        payload: bytes("own"),
        qos: 0,
        retain: false,
        dup: false,
      });
      assert.deepEqual(await c.drain(30), []);
      // Another client's retained publish: one copy, QoS 1, retain kept (from m/+), ids 1 and 2.
      broker.publish("m/a", "other", { qos: 1, retain: true });
      const other = await c.next("publish");
      assert.equal(other.qos, 1);
      assert.equal(other.retain, true);
      assert.deepEqual([...other.properties!.subscriptionIdentifiers!].sort(), [1, 2]);
    },
  );

  test(
    "startBroker() sends v3.1.1 overlapping subscriptions one copy at the highest QoS [MQTT-3.3.5-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 4);
      await c.connect("overlap4");
      await c.subscribe([{ filter: "o/+", qos: 0 }, { filter: "o/#", qos: 2 }, {
        filter: "o/b",
        qos: 1,
      }]);
      broker.publish("o/b", "x", { qos: 2 });
      assert.equal((await c.next("publish")).qos, 2);
      assert.deepEqual(await c.drain(30), []);
    },
  );

  test("startBroker() spreads a shared subscription round robin", T, async (t) => {
    const broker = await brokerFor(t);
    const members: RawClient[] = [];
    for (const id of ["m1", "m2"]) {
      const c = RawClient.memory(t, broker, 5);
      await c.connect(id);
      await c.subscribe(["$share/g/work/+"], { qos: 1 });
      members.push(c);
    }
    for (let i = 0; i < 4; i++) broker.publish("work/x", `${i}`);
    const got = await Promise.all(members.map(async (c) => [
      text((await c.next("publish")).payload),
      text((await c.next("publish")).payload),
    ]));
    assert.deepEqual(got.flat().sort(), ["0", "1", "2", "3"]);
    assert.notDeepEqual(got[0], got[1]);
  });

  test("startBroker() skips offline members of a shared group", T, async (t) => {
    const broker = await brokerFor(t);
    const away = RawClient.memory(t, broker, 5);
    await away.connect("away", { clean: false, properties: { sessionExpiryInterval: 60 } });
    await away.subscribe(["$share/g/s"], { qos: 1 });
    away.disconnect();
    await away.whenClosed();
    const here = RawClient.memory(t, broker, 5);
    await here.connect("here");
    await here.subscribe(["$share/g/s"], { qos: 1 });
    for (let i = 0; i < 3; i++) broker.publish("s", `${i}`);
    for (let i = 0; i < 3; i++) assert.equal(text((await here.next("publish")).payload), `${i}`);
  });

  test(
    "startBroker() answers UNSUBSCRIBE with 0x11 for a filter not subscribed (v5)",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("u");
      await c.subscribe(["x"]);
      c.send({ type: "unsubscribe", packetId: 9, filters: ["x", "y"] });
      const unsuback = await c.next("unsuback");
      assert.deepEqual(unsuback.reasonCodes, [0, 0x11]);
      broker.publish("x", "gone");
      assert.deepEqual(await c.drain(30), []);
    },
  );

  test(
    "startBroker() closes a v5 client that sets no local on a shared subscription [MQTT-3.8.3-4]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("nl");
      const subscribe = encodePacket({
        type: "subscribe",
        packetId: 1,
        subscriptions: [{
          filter: "$share/g/x",
          qos: 0,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        }],
      }, 5);
      subscribe[subscribe.length - 1]! |= 0x04; // the no local bit, which our encoder refuses
      c.sendBytes(subscribe);
      assert.equal((await c.next("disconnect")).reasonCode, 0x82);
      await c.whenClosed();
    },
  );

  test("startBroker() resolves inbound topic aliases [MQTT-3.3.2-12]", T, async (t) => {
    const broker = await brokerFor(t);
    const got: string[] = [];
    broker.subscribe("alias/#", (m) => got.push(`${m.topic}=${text(m.payload)}`));
    const c = RawClient.memory(t, broker, 5);
    await c.connect("al");
    c.publish("alias/one", "1", { properties: { topicAlias: 1 } });
    c.publish("", "2", { properties: { topicAlias: 1 } });
    c.send({ type: "pingreq" });
    await c.next("pingresp");
    assert.deepEqual(got, ["alias/one=1", "alias/one=2"]);
  });

  test("startBroker() passes v5 properties through unchanged", T, async (t) => {
    const broker = await brokerFor(t);
    const c = RawClient.memory(t, broker, 5);
    await c.connect("props");
    await c.subscribe(["p"]);
    const properties = {
      payloadFormatIndicator: 1 as const,
      contentType: "text/plain",
      responseTopic: "reply",
      correlationData: new Uint8Array([1, 2]),
      userProperties: [["a", "1"], ["a", "2"]] as [string, string][],
    };
    c.publish("p", "x", { properties });
    assert.deepEqual((await c.next("publish")).properties, properties);
  });

  test(
    "startBroker() does not send a v5 client packets above its maximum packet size [MQTT-3.1.2-24]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("small", { properties: { maximumPacketSize: 64 } });
      await c.subscribe(["big"]);
      broker.publish("big", "x".repeat(100));
      broker.publish("big", "ok");
      assert.equal(text((await c.next("publish")).payload), "ok");
      assert.equal(broker.stats.publishDropped, 1);
    },
  );

  test("Broker.on() reports subscribe, unsubscribe and publish", T, async (t) => {
    const broker = await brokerFor(t);
    const events: string[] = [];
    broker.on("subscribe", (e) => events.push(`sub ${e.clientId} ${e.reasonCodes}`));
    broker.on("unsubscribe", (e) => events.push(`unsub ${e.clientId} ${e.reasonCodes}`));
    broker.on("publish", (e) => events.push(`pub ${e.clientId} ${e.packet.topic}`));
    const c = RawClient.memory(t, broker, 5);
    await c.connect("ev");
    await c.subscribe(["e"], { qos: 1 });
    c.publish("e", "x", { qos: 1 });
    const types = [(await c.next()).type, (await c.next()).type].sort();
    assert.deepEqual(types, ["puback", "publish"]);
    c.send({ type: "unsubscribe", packetId: 2, filters: ["e"] });
    await c.next("unsuback");
    assert.deepEqual(events, ["sub ev 1", "pub ev e", "unsub ev 0"]);
  });
});
