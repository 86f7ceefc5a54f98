/**
 * Broker limits: max_connections (global and per listener), protocol levels per listener,
 * client identifier length, topic length and depth, subscriptions per client; unix socket
 * listeners.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import type { Broker } from "../../broker/types.ts";
import { nodeAdapter } from "../../socket/node.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseBrokerConfig } from "../../broker/config.ts";
import { brokerFor, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };

async function tcpTo(
  t: TestContext,
  broker: Broker,
  index: number,
  version: 4 | 5 = 5,
): Promise<RawClient> {
  const address = broker.addresses[index]!;
  const socket = await nodeAdapter.connect({ hostname: address.hostname, port: address.port });
  const client = new RawClient(socket, version);
  t.after(() => client.destroy());
  return client;
}

describe("broker limits", () => {
  test("startBroker() closes sockets beyond maxConnections on accept", T, async (t) => {
    const broker = await brokerFor(t, { maxConnections: 2 });
    const a = await tcpTo(t, broker, 0);
    assert.equal((await a.connect("a")).reasonCode, 0);
    const b = RawClient.memory(t, broker, 5); // connect() counts too
    assert.equal((await b.connect("b")).reasonCode, 0);
    const c = await tcpTo(t, broker, 0);
    await c.whenClosed();
    assert.equal(broker.stats.refusedConnections, 1);
  });

  test("startBroker() limits each listener to its own maxConnections", T, async (t) => {
    const broker = await brokerFor(t, {
      listeners: [{ hostname: "127.0.0.1", port: 0, maxConnections: 1 }, {
        hostname: "127.0.0.1",
        port: 0,
      }],
    });
    const first = await tcpTo(t, broker, 0);
    assert.equal((await first.connect("first")).reasonCode, 0);
    const refused = await tcpTo(t, broker, 0);
    await refused.whenClosed();
    const other = await tcpTo(t, broker, 1);
    assert.equal((await other.connect("other")).reasonCode, 0);
    assert.equal(broker.stats.refusedConnections, 1);
  });

  test(
    "startBroker() refuses protocol levels a listener does not accept [MQTT-3.1.2-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t, {
        listeners: [{ hostname: "127.0.0.1", port: 0, protocolVersions: [5] }],
      });
      const v4 = await tcpTo(t, broker, 0, 4);
      assert.equal((await v4.connect("old")).reasonCode, 1);
      await v4.whenClosed();
      const v5 = await tcpTo(t, broker, 0, 5);
      assert.equal((await v5.connect("new")).reasonCode, 0);
    },
  );

  test("startBroker() refuses client identifiers longer than maxClientIdLength", T, async (t) => {
    const broker = await brokerFor(t, { maxClientIdLength: 8 });
    const v5 = RawClient.memory(t, broker, 5);
    assert.equal((await v5.connect("123456789")).reasonCode, 0x85);
    const v4 = RawClient.memory(t, broker, 4);
    assert.equal((await v4.connect("123456789")).reasonCode, 2);
    const ok = RawClient.memory(t, broker, 5);
    assert.equal((await ok.connect("12345678")).reasonCode, 0);
  });

  test(
    "startBroker() refuses PUBLISH topics beyond maxTopicLevels and maxTopicLength",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxTopicLevels: 3, maxTopicLength: 10 });
      const received: string[] = [];
      broker.subscribe("#", (m) => received.push(m.topic));
      const c = RawClient.memory(t, broker, 5);
      await c.connect("deep");
      c.publish("a/b/c/d", "x", { qos: 1, packetId: 1 });
      assert.equal((await c.next("puback")).reasonCode, 0x90);
      // 8 characters, 12 UTF-8 bytes
      c.publish("a/\u00e9\u00e9\u00e9\u00e9/b", "x", { qos: 1, packetId: 2 });
      assert.equal((await c.next("puback")).reasonCode, 0x90);
      c.publish("a/b/c", "x", { qos: 1, packetId: 3 });
      assert.equal((await c.next("puback")).reasonCode, 0);
      assert.deepEqual(received, ["a/b/c"]);
      const v4 = RawClient.memory(t, broker, 4);
      await v4.connect("deep4");
      v4.publish("a/b/c/d", "x", { qos: 1, packetId: 1 });
      await v4.whenClosed();
    },
  );

  test(
    "startBroker() refuses filters beyond the topic limits: 0x8F on v5, 0x80 on v3.1.1",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxTopicLevels: 3 });
      const v5 = RawClient.memory(t, broker, 5);
      await v5.connect("f5");
      assert.deepEqual(await v5.subscribe(["a/b/c/#", "a/b/#"]), [0x8f, 0]);
      const v4 = RawClient.memory(t, broker, 4);
      await v4.connect("f4");
      assert.deepEqual(await v4.subscribe(["a/+/c/d", "a/+"]), [0x80, 0]);
    },
  );

  test(
    "startBroker() refuses subscriptions beyond maxSubscriptionsPerClient with 0x97",
    T,
    async (t) => {
      const broker = await brokerFor(t, { maxSubscriptionsPerClient: 2 });
      const v5 = RawClient.memory(t, broker, 5);
      await v5.connect("many5");
      assert.deepEqual(await v5.subscribe(["a", "b", "c"], { qos: 1 }), [1, 1, 0x97]);
      // Replacing one it holds is not a new subscription.
      assert.deepEqual(await v5.subscribe(["a"], { qos: 2, packetId: 2 }), [2]);
      const v4 = RawClient.memory(t, broker, 4);
      await v4.connect("many4");
      assert.deepEqual(await v4.subscribe(["a", "b", "c"]), [0, 0, 0x80]);
    },
  );
});

describe("broker per-listener mount point and maximum QoS", () => {
  test("startBroker() prefixes a mount point listener's topics and hides others", T, async (t) => {
    const broker = await brokerFor(t, {
      listeners: [{ hostname: "127.0.0.1", port: 0 }, {
        hostname: "127.0.0.1",
        port: 0,
        mountPoint: "site1/",
      }],
    });
    const seen: string[] = [];
    broker.subscribe("#", (m) => seen.push(m.topic));
    broker.publish("site1/retained", "r", { retain: true });
    const mounted = await tcpTo(t, broker, 1);
    await mounted.connect("m", {
      will: { topic: "gone", payload: new Uint8Array([1]), qos: 0, retain: false },
    });
    await mounted.subscribe(["#"], { qos: 1 });
    const retained = await mounted.next("publish");
    assert.equal(retained.topic, "retained");
    mounted.publish("temp", "21", { qos: 1, packetId: 1 });
    const two = [await mounted.next(), await mounted.next()];
    const own = two.find((p) => p.type === "publish");
    assert.ok(two.some((p) => p.type === "puback"));
    assert.equal(own?.type === "publish" && own.topic, "temp");
    broker.publish("elsewhere", "x");
    broker.publish("site1/from/outside", "y");
    assert.equal((await mounted.next("publish")).topic, "from/outside");
    assert.deepEqual(await mounted.drain(30), []);
    assert.deepEqual(seen, ["site1/retained", "site1/temp", "elsewhere", "site1/from/outside"]);
    // Unsubscribing the filter as the client knows it works.
    mounted.send({ type: "unsubscribe", packetId: 9, filters: ["#"] });
    assert.deepEqual((await mounted.next("unsuback")).reasonCodes, [0]);
    mounted.destroy();
    await mounted.whenClosed();
    const probe = await tcpTo(t, broker, 0);
    await probe.connect("probe");
    assert.ok(seen.includes("site1/gone"));
  });

  test("startBroker() applies a listener's maxQos to CONNACK, grants and PUBLISH", T, async (t) => {
    const broker = await brokerFor(t, {
      listeners: [{ hostname: "127.0.0.1", port: 0 }, {
        hostname: "127.0.0.1",
        port: 0,
        maxQos: 1,
      }],
    });
    const full = await tcpTo(t, broker, 0);
    assert.equal((await full.connect("full")).properties?.maximumQoS, undefined);
    assert.deepEqual(await full.subscribe(["a"], { qos: 2 }), [2]);
    const limited = await tcpTo(t, broker, 1);
    assert.equal((await limited.connect("limited")).properties?.maximumQoS, 1);
    assert.deepEqual(await limited.subscribe(["a"], { qos: 2 }), [1]);
  });
});

describe("broker unix socket listener", () => {
  test("startBroker() serves MQTT on a unix socket path", T, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "mq-unix-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "mq.sock");
    const broker = await brokerFor(t, { listeners: [{ port: 0, path }] });
    assert.deepEqual(broker.addresses[0], { transport: "unix", hostname: path, port: 0 });
    const socket = await nodeAdapter.connect({ hostname: "", port: 0, path });
    const client = new RawClient(socket, 5);
    t.after(() => client.destroy());
    assert.equal((await client.connect("unix")).reasonCode, 0);
    assert.deepEqual(await client.subscribe(["u/#"]), [0]);
    broker.publish("u/x", "over a unix socket");
    assert.equal(text((await client.next("publish")).payload), "over a unix socket");
  });

  test("parseBrokerConfig() reads listener 0 /path as a unix socket", () => {
    const config = parseBrokerConfig("listener 0 /run/mq/mq.sock\n", "m.conf");
    assert.deepEqual(config.options.listeners, [{
      hostname: "/run/mq/mq.sock",
      port: 0,
      path: "/run/mq/mq.sock",
    }]);
  });
});
