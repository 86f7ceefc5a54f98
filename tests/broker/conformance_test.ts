/**
 * Server-side normative statements a client can observe, one test each (or a few per test),
 * named by their ids for scripts/conformance_report.ts. Names say "v5" or "v3.1.1" when the
 * id means something different in the two specifications.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { Packet, Properties } from "../../protocol/mod.ts";
import { brokerFor, bytes, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };

// Everything sent before this point has been answered, and nothing else arrived.
async function barrier(c: RawClient): Promise<void> {
  c.send({ type: "pingreq" });
  await c.next("pingresp");
}

describe("broker conformance: CONNECT and sessions", () => {
  test("startBroker() answers PINGREQ with PINGRESP [MQTT-3.12.4-1]", T, async (t) => {
    const broker = await brokerFor(t);
    for (const version of [3, 4, 5] as const) {
      const c = RawClient.memory(t, broker, version);
      await c.connect(`ping${version}`);
      await barrier(c);
    }
  });

  test(
    "startBroker() sets session present per clean start and stored session (v5) [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6] [MQTT-3.1.4-4] [MQTT-3.1.4-5] [MQTT-3.2.2-2] [MQTT-3.2.2-3] [MQTT-3.2.2-8] [MQTT-3.1.2-23] [MQTT-4.1.0-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };
      const a = RawClient.memory(t, broker, 5);
      assert.equal((await a.connect("s5", persistent)).sessionPresent, false);
      await a.subscribe(["keep/#"], { qos: 1 });
      a.disconnect();
      await a.whenClosed();
      broker.publish("keep/1", "queued", { qos: 1 });
      const b = RawClient.memory(t, broker, 5);
      const connack = await b.connect("s5", persistent);
      assert.equal(connack.sessionPresent, true);
      assert.equal(connack.reasonCode, 0);
      assert.equal(text((await b.next("publish")).payload), "queued");
      b.disconnect();
      await b.whenClosed();
      const c = RawClient.memory(t, broker, 5);
      assert.equal((await c.connect("s5", { clean: true })).sessionPresent, false);
      broker.publish("keep/2", "gone", { qos: 1 });
      await barrier(c); // the subscription went with the old session
    },
  );

  test(
    "startBroker() sets session present per clean session and stored session (v3.1.1) [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6] [MQTT-3.1.4-3] [MQTT-3.1.4-4] [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3] [MQTT-4.1.0-1] [MQTT-4.1.0-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const a = RawClient.memory(t, broker, 4);
      assert.equal((await a.connect("s4", { clean: false })).sessionPresent, false);
      await a.subscribe(["keep/#"], { qos: 1 });
      a.destroy();
      await a.whenClosed();
      broker.publish("keep/1", "queued", { qos: 1 });
      const b = RawClient.memory(t, broker, 4);
      assert.equal((await b.connect("s4", { clean: false })).sessionPresent, true);
      assert.equal(text((await b.next("publish")).payload), "queued");
      b.destroy();
      const c = RawClient.memory(t, broker, 4);
      assert.equal((await c.connect("s4", { clean: true })).sessionPresent, false);
      broker.publish("keep/2", "gone", { qos: 1 });
      await barrier(c);
    },
  );

  test(
    "startBroker() refuses with session present 0, closes and ignores what follows (v3.1.1) [MQTT-3.2.2-4] [MQTT-3.2.2-5] [MQTT-3.1.4-5] [MQTT-3.1.3-9]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 4);
      c.send({ type: "connect", protocolVersion: 4, clientId: "", clean: false, keepAlive: 0 });
      c.publish("after/refusal", "x", { retain: true });
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 2);
      assert.equal(connack.sessionPresent, false);
      await c.whenClosed();
      assert.equal(broker.stats.retained, 0);
    },
  );

  test(
    "startBroker() refuses a refused client id with 0x85, session present 0, and ignores what follows (v5) [MQTT-3.1.3-8] [MQTT-3.2.2-6] [MQTT-3.2.2-7] [MQTT-3.1.4-6]",
    T,
    async (t) => {
      const broker = await brokerFor(t, { allowZeroLengthClientId: false });
      const c = RawClient.memory(t, broker, 5);
      c.send({ type: "connect", protocolVersion: 5, clientId: "", clean: true, keepAlive: 0 });
      c.publish("after/refusal", "x", { retain: true });
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 0x85);
      assert.equal(connack.sessionPresent, false);
      await c.whenClosed();
      assert.equal(broker.stats.retained, 0);
    },
  );

  test(
    "startBroker() accepts 23-character alphanumeric client ids [MQTT-3.1.3-5] [MQTT-3.1.3-3] [MQTT-3.1.3-4]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      for (const version of [4, 5] as const) {
        const c = RawClient.memory(t, broker, version);
        const id = `abcdefghijklmnopqrstuv${version}`;
        assert.equal((await c.connect(id)).reasonCode, 0);
        assert.equal(broker.client(id)?.connected, true);
      }
    },
  );

  test(
    "startBroker() refuses a v5 will it cannot honour: QoS 0x9B, retain 0x9A [MQTT-3.2.2-12] [MQTT-3.2.2-13]",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxQos: 1, retainAvailable: false });
      const payload = bytes("w");
      const a = RawClient.memory(t, broker, 5);
      const qos = await a.connect("a", { will: { topic: "w", payload, qos: 2, retain: false } });
      assert.equal(qos.reasonCode, 0x9b);
      await a.whenClosed();
      const b = RawClient.memory(t, broker, 5);
      const retain = await b.connect("b", { will: { topic: "w", payload, qos: 0, retain: true } });
      assert.equal(retain.reasonCode, 0x9a);
      await b.whenClosed();
    },
  );

  test(
    "startBroker() sends Maximum QoS and Retain Available in CONNACK when limited, and still grants SUBSCRIBE (v5) [MQTT-3.2.2-9] [MQTT-3.2.2-10] [MQTT-3.2.2-14]",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxQos: 0, retainAvailable: false });
      const c = RawClient.memory(t, broker, 5);
      const connack = await c.connect("c");
      assert.equal(connack.properties?.maximumQoS, 0);
      assert.equal(connack.properties?.retainAvailable, false);
      assert.deepEqual(await c.subscribe(["a", "b", "c"], { qos: 2 }), [0, 0, 0]);
      c.publish("a", "x", { retain: true });
      assert.equal((await c.next("disconnect")).reasonCode, 0x9a);
    },
  );

  for (const version of [4, 5] as const) {
    const retainIds = version === 5
      ? "[MQTT-3.1.2-14] [MQTT-3.1.2-15] (v5)"
      : "[MQTT-3.1.2-16] [MQTT-3.1.2-17] (v3.1.1)";
    test(`startBroker() publishes a will retained or not as asked ${retainIds}`, T, async (t) => {
      const broker = await brokerFor(t);
      const watcher = RawClient.memory(t, broker, version);
      await watcher.connect("watcher");
      await watcher.subscribe(["will/#"], { qos: 1 });
      for (const retain of [false, true]) {
        const c = RawClient.memory(t, broker, version);
        await c.connect(`w${retain}`, {
          will: { topic: `will/${retain}`, payload: bytes("bye"), qos: 1, retain },
        });
        c.destroy();
        const will = await watcher.next("publish");
        assert.equal(will.topic, `will/${retain}`);
        watcher.send({ type: "puback", packetId: will.packetId! });
      }
      assert.equal(broker.stats.retained, 1);
    });
  }

  test(
    "startBroker() sends no DISCONNECT before CONNACK and none with a session expiry (v5) [MQTT-3.14.0-1] [MQTT-3.14.2-1] [MQTT-3.14.2-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const a = RawClient.memory(t, broker, 5);
      await a.connect("same");
      const b = RawClient.memory(t, broker, 5);
      await b.connect("same");
      const disconnect = await a.next("disconnect");
      assert.equal(disconnect.reasonCode, 0x8e);
      assert.equal(disconnect.properties?.sessionExpiryInterval, undefined);
      await a.whenClosed();
      // A malformed CONNECT gets CONNACK, never DISCONNECT
      const c = RawClient.memory(t, broker, 5);
      c.sendBytes(new Uint8Array([0x10, 11, 0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x01, 0, 0, 0]));
      assert.equal((await c.next("connack")).reasonCode, 0x81);
      await c.whenClosed();
    },
  );
});

describe("broker conformance: SUBSCRIBE and UNSUBSCRIBE", () => {
  test(
    "startBroker() answers a many-filter SUBSCRIBE with one SUBACK, same id, codes in order (v5) [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-5] [MQTT-3.8.4-6] [MQTT-3.8.4-7] [MQTT-3.9.3-1] [MQTT-3.9.3-2] [MQTT-2.2.1-6]",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxQos: 1 });
      const c = RawClient.memory(t, broker, 5);
      await c.connect("c");
      c.send({
        type: "subscribe",
        packetId: 77,
        subscriptions: [
          { filter: "a", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
          { filter: "b", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
          { filter: "c", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        ],
      });
      assert.deepEqual(await c.next("suback"), {
        type: "suback",
        packetId: 77,
        reasonCodes: [0, 1, 1],
      });
    },
  );

  test(
    "startBroker() answers a many-filter SUBSCRIBE with one SUBACK, same id, codes in order (v3.1.1) [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-4] [MQTT-3.8.4-5] [MQTT-3.8.4-6] [MQTT-3.9.3-1] [MQTT-3.9.3-2] [MQTT-2.3.1-7]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 4);
      await c.connect("c");
      c.send({
        type: "subscribe",
        packetId: 78,
        subscriptions: [{ filter: "a", qos: 2 }, { filter: "b", qos: 0 }, { filter: "c", qos: 1 }],
      });
      assert.deepEqual(await c.next("suback"), {
        type: "suback",
        packetId: 78,
        reasonCodes: [2, 0, 1],
      });
    },
  );

  for (const version of [4, 5] as const) {
    const ids = version === 5 ? "[MQTT-3.11.3-1] [MQTT-3.11.3-2] (v5)" : "[MQTT-2.3.1-7] (v3.1.1)";
    test(
      `startBroker() unsubscribes exact filters and answers one UNSUBACK with the same id [MQTT-3.10.4-1] [MQTT-3.10.4-2] [MQTT-3.10.4-4] [MQTT-3.10.4-5] [MQTT-3.10.4-6] ${ids}`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const c = RawClient.memory(t, broker, version);
        await c.connect("c");
        await c.subscribe(["a/+", "b", "c"]);
        c.send({ type: "unsubscribe", packetId: 9, filters: ["a/#", "b", "nothing", "c"] });
        const unsuback = await c.next("unsuback");
        assert.equal(unsuback.packetId, 9);
        if (version === 5) assert.deepEqual(unsuback.reasonCodes, [0x11, 0, 0x11, 0]);
        broker.publish("b", "no");
        broker.publish("c", "no");
        broker.publish("a/1", "yes"); // "a/#" is not "a/+": still subscribed
        assert.equal(text((await c.next("publish")).payload), "yes");
        await barrier(c);
      },
    );
  }

  test(
    "startBroker() completes a QoS 1 delivery started before UNSUBSCRIBE [MQTT-3.10.4-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("c");
      await c.subscribe(["q"], { qos: 1 });
      broker.publish("q", "started", { qos: 1 });
      const message = await c.next("publish");
      c.send({ type: "unsubscribe", packetId: 2, filters: ["q"] });
      await c.next("unsuback");
      c.send({ type: "puback", packetId: message.packetId!, reasonCode: 0 });
      await barrier(c);
      assert.equal(broker.client("c")!.inflight, 0);
    },
  );

  for (const version of [4, 5] as const) {
    const ids = version === 5 ? "[MQTT-3.8.4-3] [MQTT-3.8.4-4] (v5)" : "[MQTT-3.8.4-3] (v3.1.1)";
    test(
      `startBroker() replaces a subscription with an identical filter and re-sends retained messages ${ids}`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        broker.publish("r", "kept", { qos: 1, retain: true });
        const c = RawClient.memory(t, broker, version);
        await c.connect("c");
        await c.subscribe(["r"], { qos: 1 });
        const first = await c.next("publish");
        c.send({ type: "puback", packetId: first.packetId! });
        await c.subscribe(["r"], { qos: 0, packetId: 2 });
        const again = await c.next("publish");
        assert.equal(again.retain, true);
        assert.equal(again.qos, 0);
        broker.publish("r", "live", { qos: 1 });
        const live = await c.next("publish");
        assert.equal(live.qos, 0); // one subscription, at its new QoS
        await barrier(c);
        assert.equal(broker.stats.subscriptions, 1);
      },
    );
  }
});

describe("broker conformance: PUBLISH flows", () => {
  test(
    "startBroker() gives its QoS 1 and 2 PUBLISH unused non-zero ids, QoS 0 none and DUP 0 (v5) [MQTT-2.2.1-4] [MQTT-3.3.1-2] [MQTT-4.3.1-1] [MQTT-4.3.2-1] [MQTT-4.3.2-2] [MQTT-4.3.3-1] [MQTT-3.3.2-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("c");
      await c.subscribe(["m/#"], { qos: 2 });
      const ids = new Set<number>();
      for (const qos of [1, 2, 1, 2, 0] as const) broker.publish(`m/${qos}`, "x", { qos });
      for (let i = 0; i < 5; i++) {
        const p = await c.next("publish");
        assert.equal(p.dup, false);
        assert.ok(p.topic.startsWith("m/"));
        if (p.qos === 0) assert.equal(p.packetId, undefined);
        else {
          assert.ok(p.packetId! > 0 && !ids.has(p.packetId!));
          ids.add(p.packetId!);
        }
      }
    },
  );

  test(
    "startBroker() gives its QoS 1 and 2 PUBLISH unused non-zero ids, QoS 0 none and DUP 0 (v3.1.1) [MQTT-2.3.1-1] [MQTT-2.3.1-4] [MQTT-2.3.1-5] [MQTT-3.3.1-2] [MQTT-4.3.1-1] [MQTT-4.3.2-1] [MQTT-4.3.3-1] [MQTT-3.3.2-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 4);
      await c.connect("c");
      await c.subscribe(["m/#"], { qos: 2 });
      const ids = new Set<number>();
      for (const qos of [1, 2, 0] as const) broker.publish(`m/${qos}`, "x", { qos });
      for (let i = 0; i < 3; i++) {
        const p = await c.next("publish");
        assert.equal(p.dup, false);
        if (p.qos === 0) assert.equal(p.packetId, undefined);
        else {
          assert.ok(p.packetId! > 0 && !ids.has(p.packetId!));
          ids.add(p.packetId!);
        }
      }
    },
  );

  test(
    "startBroker() acknowledges with the PUBLISH's id and treats the id as new afterwards (v5) [MQTT-2.2.1-5] [MQTT-3.3.4-1] [MQTT-4.3.2-4] [MQTT-4.3.2-5] [MQTT-4.3.3-8] [MQTT-4.3.3-11] [MQTT-4.3.3-12] [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.7.2-1] [MQTT-4.5.0-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const got: string[] = [];
      broker.subscribe("n/#", (m) => got.push(text(m.payload)));
      const c = RawClient.memory(t, broker, 5);
      await c.connect("c");
      for (const payload of ["1", "2"]) {
        c.publish("n/1", payload, { qos: 1, packetId: 300 });
        assert.deepEqual(await c.next("puback"), { type: "puback", packetId: 300, reasonCode: 0 });
      }
      for (const payload of ["3", "4"]) {
        c.publish("n/2", payload, { qos: 2, packetId: 301 });
        assert.deepEqual(await c.next("pubrec"), { type: "pubrec", packetId: 301, reasonCode: 0 });
        c.send({ type: "pubrel", packetId: 301, reasonCode: 0 });
        assert.deepEqual(await c.next("pubcomp"), {
          type: "pubcomp",
          packetId: 301,
          reasonCode: 0,
        });
      }
      assert.deepEqual(got, ["1", "2", "3", "4"]);
    },
  );

  test(
    "startBroker() acknowledges with the PUBLISH's id and treats the id as new afterwards (v3.1.1) [MQTT-2.3.1-6] [MQTT-3.3.4-1] [MQTT-4.3.2-2] [MQTT-4.3.3-2] [MQTT-4.5.0-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const got: string[] = [];
      broker.subscribe("n/#", (m) => got.push(text(m.payload)));
      const c = RawClient.memory(t, broker, 4);
      await c.connect("c");
      for (const payload of ["1", "2"]) {
        c.publish("n/1", payload, { qos: 1, packetId: 300 });
        assert.deepEqual(await c.next("puback"), { type: "puback", packetId: 300 });
      }
      for (const payload of ["3", "4"]) {
        c.publish("n/2", payload, { qos: 2, packetId: 301 });
        assert.equal((await c.next("pubrec")).packetId, 301);
        c.publish("n/2", payload, { qos: 2, packetId: 301, dup: true });
        assert.equal((await c.next("pubrec")).packetId, 301); // no second delivery
        c.send({ type: "pubrel", packetId: 301 });
        assert.equal((await c.next("pubcomp")).packetId, 301);
      }
      assert.deepEqual(got, ["1", "2", "3", "4"]);
    },
  );

  test(
    "startBroker() sends PUBREL after PUBREC and never re-sends the PUBLISH then (v5) [MQTT-4.3.3-3] [MQTT-4.3.3-4] [MQTT-4.3.3-6] [MQTT-3.6.2-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("c", { clean: false, properties: { sessionExpiryInterval: 60 } });
      await c.subscribe(["x"], { qos: 2 });
      broker.publish("x", "once", { qos: 2 });
      const p = await c.next("publish");
      c.send({ type: "pubrec", packetId: p.packetId!, reasonCode: 0 });
      assert.deepEqual(await c.next("pubrel"), {
        type: "pubrel",
        packetId: p.packetId!,
        reasonCode: 0,
      });
      c.destroy();
      const d = RawClient.memory(t, broker, 5);
      await d.connect("c", { clean: false, properties: { sessionExpiryInterval: 60 } });
      assert.equal((await d.next("pubrel")).packetId, p.packetId); // not the PUBLISH
      d.send({ type: "pubcomp", packetId: p.packetId!, reasonCode: 0 });
      await barrier(d);
    },
  );

  test(
    "startBroker() keeps no more than Receive Maximum in flight and still answers other packets (v5) [MQTT-3.3.4-9] [MQTT-3.3.4-10] [MQTT-4.9.0-1] [MQTT-4.9.0-2] [MQTT-4.9.0-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("c", { properties: { receiveMaximum: 2 } });
      await c.subscribe(["w"], { qos: 1 });
      for (let i = 0; i < 3; i++) broker.publish("w", `${i}`, { qos: 1 });
      const first = await c.next("publish");
      await c.next("publish");
      await barrier(c); // the third waits, PINGRESP does not
      c.send({ type: "puback", packetId: first.packetId!, reasonCode: 0 });
      assert.equal(text((await c.next("publish")).payload), "2");
    },
  );

  test(
    "startBroker() drops a message larger than the client's Maximum Packet Size as delivered (v5) [MQTT-3.1.2-24] [MQTT-3.1.2-25]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("c", { properties: { maximumPacketSize: 64 } });
      await c.subscribe(["big/#"], { qos: 1 });
      broker.publish("big/1", "x".repeat(200), { qos: 1 });
      broker.publish("big/2", "small", { qos: 1 });
      const p = await c.next("publish");
      assert.equal(p.topic, "big/2");
      assert.equal(broker.client("c")!.dropped, 1);
    },
  );

  test(
    "startBroker() forwards PUBLISH properties unchanged and in order (v5) [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] [MQTT-3.1.2-27] [MQTT-3.3.2-8]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const sub = RawClient.memory(t, broker, 5);
      await sub.connect("sub");
      await sub.subscribe(["p"]);
      const pub = RawClient.memory(t, broker, 5);
      await pub.connect("pub");
      const properties: Properties = {
        payloadFormatIndicator: 1,
        responseTopic: "reply/here",
        correlationData: bytes("corr"),
        userProperties: [["z", "1"], ["a", "2"], ["z", "3"]],
        contentType: "text/plain",
      };
      pub.publish("p", "x", { properties });
      const p = await sub.next("publish");
      assert.deepEqual(p.properties, properties);
      assert.equal(p.properties?.topicAlias, undefined);
    },
  );

  test(
    "startBroker() forgets topic aliases when the connection ends (v5) [MQTT-3.3.2-7]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const a = RawClient.memory(t, broker, 5);
      await a.connect("al", { clean: false, properties: { sessionExpiryInterval: 60 } });
      a.publish("alias/t", "x", { properties: { topicAlias: 1 } });
      await barrier(a);
      a.destroy();
      const b = RawClient.memory(t, broker, 5);
      await b.connect("al", { clean: false, properties: { sessionExpiryInterval: 60 } });
      b.publish("", "y", { properties: { topicAlias: 1 } });
      assert.equal((await b.next("disconnect")).reasonCode, 0x82);
    },
  );

  test(
    "startBroker() sends one client's messages to a subscriber in the order received [MQTT-4.6.0-5] [MQTT-4.6.0-6]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      for (const version of [4, 5] as const) {
        const sub = RawClient.memory(t, broker, version);
        await sub.connect(`sub${version}`);
        await sub.subscribe(["o/#"], { qos: 1 });
        const pub = RawClient.memory(t, broker, version);
        await pub.connect(`pub${version}`);
        for (let i = 0; i < 20; i++) pub.publish(`o/${i % 3}`, `${i}`, { qos: 1, packetId: i + 1 });
        const got: string[] = [];
        for (let i = 0; i < 20; i++) {
          const p = await sub.next("publish");
          got.push(text(p.payload));
          sub.send({ type: "puback", packetId: p.packetId! });
        }
        assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `${i}`));
        sub.destroy();
        pub.destroy();
      }
    },
  );

  for (const version of [4, 5] as const) {
    const ids = version === 5
      ? "[MQTT-3.3.1-5] [MQTT-3.3.1-7] (v5)"
      : "[MQTT-3.3.1-5] [MQTT-3.3.1-7] [MQTT-3.3.1-11] [MQTT-3.1.2-7] (v3.1.1)";
    test(`startBroker() stores, replaces and clears retained messages ${ids}`, T, async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, version);
      await c.connect("c");
      c.publish("k", "one", { qos: 1, packetId: 1, retain: true });
      await c.next("puback");
      c.publish("k", "two", { retain: true }); // QoS 0 replaces it
      c.disconnect(); // the session ends, the retained message stays
      await c.whenClosed();
      const d = RawClient.memory(t, broker, version);
      await d.connect("d");
      await d.subscribe(["k"], { qos: 1 });
      const p = await d.next("publish");
      assert.equal(text(p.payload), "two");
      assert.equal(p.retain, true);
      d.publish("k", "", { retain: true });
      await d.next("publish"); // the live (empty) message
      assert.equal(broker.stats.retained, 0);
    });
  }
});

describe("broker conformance: malformed packets", () => {
  const cases: { name: string; version: 4 | 5; bytes: number[] }[] = [
    { name: "PUBREL with flags 0000 [MQTT-3.6.1-1]", version: 4, bytes: [0x60, 2, 0, 1] },
    {
      name: "SUBSCRIBE with flags 0000 [MQTT-3.8.1-1]",
      version: 4,
      bytes: [0x80, 6, 0, 1, 0, 1, 0x61, 0],
    },
    {
      name: "UNSUBSCRIBE with flags 0000 [MQTT-3.10.1-1]",
      version: 4,
      bytes: [0xa0, 5, 0, 1, 0, 1, 0x61],
    },
    {
      name: "PINGREQ with flags 0001 (v3.1.1) [MQTT-2.2.2-1] [MQTT-2.2.2-2]",
      version: 4,
      bytes: [0xc1, 0],
    },
    { name: "PINGREQ with flags 0001 (v5) [MQTT-2.1.3-1]", version: 5, bytes: [0xc1, 0] },
    { name: "DISCONNECT with flags 0001 (v5) [MQTT-3.14.1-1]", version: 5, bytes: [0xe1, 0] },
    {
      name: "SUBSCRIBE without filters (v5) [MQTT-3.8.3-2]",
      version: 5,
      bytes: [0x82, 3, 0, 1, 0],
    },
    {
      name: "SUBSCRIBE without filters (v3.1.1) [MQTT-3.8.3-3]",
      version: 4,
      bytes: [0x82, 2, 0, 1],
    },
    { name: "UNSUBSCRIBE without filters [MQTT-3.10.3-2]", version: 4, bytes: [0xa2, 2, 0, 1] },
    {
      name: "SUBSCRIBE with reserved option bits (v5) [MQTT-3.8.3-5]",
      version: 5,
      bytes: [0x82, 7, 0, 1, 0, 0, 1, 0x61, 0xc0],
    },
    {
      name: "SUBSCRIBE with QoS 3 (v3.1.1) [MQTT-3.8.3-4]",
      version: 4,
      bytes: [0x82, 6, 0, 1, 0, 1, 0x61, 3],
    },
    {
      name: "SUBSCRIBE with a filter in bad UTF-8 [MQTT-3.8.3-1]",
      version: 4,
      bytes: [0x82, 7, 0, 1, 0, 2, 0xc3, 0x28, 0],
    },
    {
      name: "UNSUBSCRIBE with a filter in bad UTF-8 [MQTT-3.10.3-1]",
      version: 4,
      bytes: [0xa2, 6, 0, 1, 0, 2, 0xc3, 0x28],
    },
    {
      name: "PUBLISH with an empty topic and no alias [MQTT-4.7.3-1]",
      version: 4,
      bytes: [0x30, 3, 0, 0, 0x78],
    },
    {
      name: "PUBLISH with a topic containing U+0000 [MQTT-4.7.3-2]",
      version: 4,
      bytes: [0x30, 5, 0, 2, 0x61, 0, 0x78],
    },
    {
      name: "PUBLISH with a wildcard topic (v3.1.1) [MQTT-4.7.1-1] [MQTT-3.3.2-2] [MQTT-4.8.0-1]",
      version: 4,
      bytes: [0x30, 5, 0, 2, 0x61, 0x23, 0x78],
    },
    {
      name: "PUBLISH with a wildcard topic (v5) [MQTT-4.7.0-1] [MQTT-4.13.1-1]",
      version: 5,
      bytes: [0x30, 6, 0, 2, 0x61, 0x2b, 0, 0x78],
    },
    {
      name: "PUBLISH with a subscription identifier (v5) [MQTT-3.3.4-6]",
      version: 5,
      bytes: [0x30, 7, 0, 1, 0x61, 2, 0x0b, 1, 0x78],
    },
  ];
  for (const c of cases) {
    test(`startBroker() closes the connection on ${c.name}`, T, async (t) => {
      const broker = await brokerFor(t);
      const client = RawClient.memory(t, broker, c.version);
      await client.connect("m");
      client.sendBytes(new Uint8Array(c.bytes));
      const seen: Packet[] = [];
      for (;;) {
        try {
          seen.push(await client.next(undefined, 3000));
        } catch {
          break;
        }
      }
      assert.ok(client.closed, `still open after ${JSON.stringify(seen.map((p) => p.type))}`);
      for (const p of seen) assert.equal(p.type, "disconnect");
    });
  }
});
