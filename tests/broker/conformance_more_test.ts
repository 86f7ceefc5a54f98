/**
 * More server-side normative statements a client can observe, named by their ids for
 * scripts/conformance_report.ts (see conformance_test.ts for the conventions).
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import type { Broker } from "../../broker/types.ts";
import type { ProtocolVersion } from "../../protocol/mod.ts";
import { brokerFor, bytes, RawClient, text } from "./_client.ts";
import { rawPublish } from "../differential/_scripts.ts";

const T = { timeout: 10_000 };

async function barrier(c: RawClient): Promise<void> {
  c.send({ type: "pingreq" });
  await c.next("pingresp");
}

// Resolves when the broker has finished with the client's connection.
function disconnected(broker: Broker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const off = broker.on("disconnect", (event) => {
      if (event.clientId !== clientId) return;
      off();
      resolve();
    });
  });
}

async function bomTopic(t: TestContext, version: ProtocolVersion): Promise<void> {
  const broker = await brokerFor(t);
  const c = RawClient.memory(t, broker, version);
  await c.connect(`bom${version}`);
  const topic = "\uFEFFbom/x";
  await c.subscribe([topic]);
  c.publish(topic, "kept");
  const p = await c.next("publish");
  assert.equal(p.topic, topic);
  assert.equal(text(p.payload), "kept");
}

describe("broker conformance: more CONNECT and session statements", () => {
  test(
    "startBroker() processes a CONNECT with an empty client id under the assigned id (v5) [MQTT-3.1.3-7]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      const id = (await c.connect("")).properties?.assignedClientIdentifier!;
      await c.subscribe(["assigned/#"]);
      assert.equal(broker.client(id)?.connected, true);
      broker.publish("assigned/1", "to you");
      assert.equal(text((await c.next("publish")).payload), "to you");
    },
  );

  test(
    "startBroker() gives every empty-id client a unique id and a new session (v3.1.1) [MQTT-3.1.3-6]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const ids: string[] = [];
      broker.on("connect", (event) => ids.push(event.clientId));
      const a = RawClient.memory(t, broker, 4);
      assert.equal((await a.connect("")).sessionPresent, false);
      const b = RawClient.memory(t, broker, 4);
      assert.equal((await b.connect("")).sessionPresent, false);
      await barrier(a); // not taken over
      await barrier(b);
      assert.equal(ids.length, 2);
      assert.notEqual(ids[0], ids[1]);
    },
  );

  test(
    "startBroker() disconnects an already connected client with the same id (v3.1.1) [MQTT-3.1.4-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const a = RawClient.memory(t, broker, 4);
      await a.connect("twice");
      const b = RawClient.memory(t, broker, 4);
      await b.connect("twice");
      await a.whenClosed();
      await barrier(b);
    },
  );

  test(
    "startBroker() sends at most one CONNACK: a second CONNECT gets DISCONNECT 0x82 (v5) [MQTT-3.2.0-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("once");
      c.send({ type: "connect", protocolVersion: 5, clientId: "once", clean: true, keepAlive: 0 });
      assert.equal((await c.next("disconnect")).reasonCode, 0x82);
      await c.whenClosed();
    },
  );

  test(
    "startBroker() enforces the client's keep alive when it sends no Server Keep Alive (v5) [MQTT-3.2.2-22]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      const connack = await c.connect("ka", { keepAlive: 1 });
      assert.equal(connack.properties?.serverKeepAlive, undefined);
      const started = Date.now();
      assert.equal((await c.next("disconnect", 5000)).reasonCode, 0x8d);
      assert.ok(Date.now() - started >= 1000);
    },
  );

  test(
    "startBroker() stores the will with the session and publishes its user properties in order (v5) [MQTT-3.1.2-7] [MQTT-3.1.3-10]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const s = RawClient.memory(t, broker, 5);
      await s.connect("watch");
      await s.subscribe(["will/#"]);
      const userProperties: [string, string][] = [["b", "1"], ["a", "2"], ["b", "3"]];
      const c = RawClient.memory(t, broker, 5);
      await c.connect("dies", {
        will: {
          topic: "will/dies",
          payload: bytes("gone"),
          qos: 0,
          retain: false,
          properties: { userProperties, contentType: "text/plain" },
        },
      });
      c.destroy();
      const will = await s.next("publish");
      assert.equal(text(will.payload), "gone");
      assert.deepEqual(will.properties?.userProperties, userProperties);
      assert.equal(will.properties?.contentType, "text/plain");
    },
  );

  test(
    "startBroker() publishes no will for a connection without the will flag (v3.1.1) [MQTT-3.1.2-12]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const s = RawClient.memory(t, broker, 4);
      await s.connect("watch");
      await s.subscribe(["#"]);
      const c = RawClient.memory(t, broker, 4);
      await c.connect("no-will");
      const gone = disconnected(broker, "no-will");
      c.destroy();
      await gone;
      await barrier(s); // nothing was published
    },
  );

  test(
    "startBroker() sends nothing after DISCONNECT and closes the connection (v5) [MQTT-3.14.4-1] [MQTT-3.14.4-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const a = RawClient.memory(t, broker, 5);
      await a.connect("quiet", { clean: false, properties: { sessionExpiryInterval: 60 } });
      await a.subscribe(["q/#"], { qos: 1 });
      const b = RawClient.memory(t, broker, 5);
      await b.connect("quiet", { clean: false, properties: { sessionExpiryInterval: 60 } });
      assert.equal((await a.next("disconnect")).reasonCode, 0x8e);
      await a.whenClosed();
      broker.publish("q/1", "for the new connection", { qos: 1 });
      assert.equal(text((await b.next("publish")).payload), "for the new connection");
      await assert.rejects(a.next(undefined, 50)); // nothing arrived after DISCONNECT
    },
  );

  test(
    "startBroker() discards a session once its expiry interval passed (v5) [MQTT-4.1.0-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t, { sysInterval: 1 });
      const w = RawClient.memory(t, broker, 4);
      await w.connect("watcher");
      await w.subscribe(["$SYS/broker/clients/expired"]);
      assert.equal(text((await w.next("publish")).payload), "0");
      const a = RawClient.memory(t, broker, 5);
      await a.connect("brief", { clean: false, properties: { sessionExpiryInterval: 1 } });
      await a.subscribe(["brief/#"], { qos: 1 });
      a.disconnect();
      await a.whenClosed();
      while (text((await w.next("publish", 5000)).payload) !== "1");
      assert.equal(broker.client("brief"), undefined);
      const b = RawClient.memory(t, broker, 5);
      const connack = await b.connect("brief", { clean: false });
      assert.equal(connack.sessionPresent, false);
    },
  );
});

describe("broker conformance: more PUBLISH and topic statements", () => {
  for (const version of [4, 5] as const) {
    test(
      `startBroker() clears DUP on forwarded messages, set only on retransmission, protocol level ${version} [MQTT-3.3.1-3]`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const s = RawClient.memory(t, broker, version);
        await s.connect("dup-sub");
        await s.subscribe(["dup"], { qos: 1 });
        const p = RawClient.memory(t, broker, version);
        await p.connect("dup-pub");
        p.publish("dup", "again", { qos: 1, dup: true, packetId: 9 });
        await p.next("puback");
        const m = await s.next("publish");
        assert.equal(m.dup, false);
        assert.equal(m.qos, 1);
      },
    );
  }

  test("startBroker() keeps a BOM in topic names (v5) [MQTT-1.5.4-3]", T, async (t) => {
    await bomTopic(t, 5);
  });

  test("startBroker() keeps a BOM in topic names (v3.1.1) [MQTT-1.5.3-3]", T, async (t) => {
    await bomTopic(t, 4);
  });

  test(
    "startBroker() closes the connection on ill-formed UTF-8 or U+0000 in a topic name (v3.1.1) [MQTT-1.5.3-1] [MQTT-1.5.3-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const s = RawClient.memory(t, broker, 4);
      await s.connect("watch");
      await s.subscribe(["#"]);
      for (const topic of [[0x61, 0xed, 0xa0, 0x80], [0x61, 0x00, 0x62]]) {
        const c = RawClient.memory(t, broker, 4);
        await c.connect("bad-utf8");
        c.sendBytes(rawPublish(4, 0, topic));
        await c.whenClosed();
      }
      await barrier(s); // nothing was routed
    },
  );

  test(
    "startBroker() matches topics without normalising them [MQTT-4.7.3-4]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 4);
      await c.connect("norm");
      await c.subscribe(["caf\u00e9/+"]);
      for (const topic of ["cafe\u0301/1", "CAF\u00c9/2", "caf\u00e9 /3", "caf\u00e9/4"]) {
        c.publish(topic, topic);
      }
      assert.equal((await c.next("publish")).topic, "caf\u00e9/4");
      await barrier(c);
    },
  );

  test(
    "startBroker() matches '+' against exactly one whole level (v3.1.1) [MQTT-4.7.1-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 4);
      await c.connect("plus");
      await c.subscribe(["sport/+", "+/+/x"]);
      for (
        const topic of ["sport", "sport/", "sport/tennis", "sport/tennis/player", "/a/x", "a/x"]
      ) {
        c.publish(topic, topic);
      }
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push((await c.next("publish")).topic);
      assert.deepEqual(got, ["sport/", "sport/tennis", "/a/x"]);
      await barrier(c);
    },
  );

  test(
    "startBroker() delivers a shared subscription's message at the member's granted QoS (v5) [MQTT-4.8.2-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const m = RawClient.memory(t, broker, 5);
      await m.connect("member");
      await m.subscribe(["$share/g/work"], { qos: 0 });
      broker.publish("work", "job", { qos: 2 });
      const p = await m.next("publish");
      assert.equal(p.qos, 0);
      assert.equal(text(p.payload), "job");
    },
  );

  test(
    "startBroker() resends an unacknowledged QoS 1 message on resume until PUBACK (v5) [MQTT-4.3.2-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const session = { clean: false, properties: { sessionExpiryInterval: 60 } };
      const a = RawClient.memory(t, broker, 5);
      await a.connect("q1", session);
      await a.subscribe(["q1"], { qos: 1 });
      broker.publish("q1", "until acked", { qos: 1 });
      const first = await a.next("publish");
      a.destroy();
      await a.whenClosed();
      const b = RawClient.memory(t, broker, 5);
      await b.connect("q1", session);
      const again = await b.next("publish");
      assert.equal(again.packetId, first.packetId);
      assert.equal(again.dup, true);
      b.send({ type: "puback", packetId: again.packetId!, reasonCode: 0 });
      await barrier(b);
      assert.equal(broker.client("q1")?.inflight, 0);
    },
  );

  test(
    "startBroker() ends a message refused with PUBACK 0x80 or more: no retransmission (v5) [MQTT-4.4.0-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const session = { clean: false, properties: { sessionExpiryInterval: 60 } };
      const a = RawClient.memory(t, broker, 5);
      await a.connect("refuser", session);
      await a.subscribe(["r"], { qos: 1 });
      broker.publish("r", "refused", { qos: 1 });
      const p = await a.next("publish");
      a.send({ type: "puback", packetId: p.packetId!, reasonCode: 0x80 });
      await barrier(a);
      assert.equal(broker.client("refuser")?.inflight, 0);
      a.destroy();
      await a.whenClosed();
      const b = RawClient.memory(t, broker, 5);
      assert.equal((await b.connect("refuser", session)).sessionPresent, true);
      await barrier(b); // not resent
    },
  );
});
