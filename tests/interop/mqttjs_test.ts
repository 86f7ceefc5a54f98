/**
 * Interop with npm's mqtt.js (a dev dependency) against mq: MQTT 3.1.1 and 5.0, QoS 0/1/2,
 * retained messages, a will, a resumed persistent session and shared subscriptions.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import mqtt from "mqtt";
import type { IClientOptions, MqttClient } from "mqtt";
import { brokerFor } from "../broker/_client.ts";
import type { Broker } from "../../broker/types.ts";

const T = { timeout: 15_000 };

type Version = 4 | 5;

interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** An mqtt.js client whose messages are collected; ended after the test. */
class Peer {
  readonly client: MqttClient;
  readonly #inbox: Received[] = [];
  #wake: (() => void) | undefined;

  constructor(client: MqttClient) {
    this.client = client;
    client.on("message", (topic, payload, packet) => {
      this.#inbox.push({
        topic,
        payload: new TextDecoder().decode(payload),
        qos: packet.qos,
        retain: packet.retain,
      });
      this.#wake?.();
    });
  }

  static async connect(
    t: TestContext,
    broker: Broker,
    version: Version,
    options: IClientOptions = {},
  ): Promise<Peer> {
    const { hostname, port } = broker.addresses[0]!;
    const client = await mqtt.connectAsync(`mqtt://${hostname}:${port}`, {
      protocolVersion: version,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    });
    t.after(() => void client.end(true));
    return new Peer(client);
  }

  /** The next message, within `timeout` ms. */
  async next(timeout = 3000): Promise<Received> {
    const deadline = Date.now() + timeout;
    while (this.#inbox.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("Expected a message: timed out");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    return this.#inbox.shift()!;
  }
}

describe("interop: npm mqtt.js 5 against mq", () => {
  for (const version of [4, 5] as const) {
    test(`mqtt.js publishes and receives QoS 0, 1 and 2 (v${version})`, T, async (t) => {
      const broker = await brokerFor(t);
      const sub = await Peer.connect(t, broker, version);
      const granted = await sub.client.subscribeAsync("a/#", { qos: 2 });
      assert.equal(granted[0]!.qos, 2);
      const pub = await Peer.connect(t, broker, version);
      for (const qos of [0, 1, 2] as const) {
        await pub.client.publishAsync(`a/q${qos}`, `m${qos}`, { qos });
        assert.deepEqual(await sub.next(), {
          topic: `a/q${qos}`,
          payload: `m${qos}`,
          qos,
          retain: false,
        });
      }
    });

    test(
      `mqtt.js gets a retained message on subscribe and clears it (v${version})`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const pub = await Peer.connect(t, broker, version);
        await pub.client.publishAsync("r/t", "kept", { qos: 1, retain: true });
        const sub = await Peer.connect(t, broker, version);
        await sub.client.subscribeAsync("r/#", { qos: 1 });
        assert.deepEqual(await sub.next(), { topic: "r/t", payload: "kept", qos: 1, retain: true });
        await pub.client.publishAsync("r/t", "", { qos: 1, retain: true });
        // A live message is delivered without the retain flag [MQTT-3.3.1-9] (v5: unless
        // retain as published).
        assert.deepEqual(await sub.next(), { topic: "r/t", payload: "", qos: 1, retain: false });
        assert.equal(broker.stats.retained, 0);
      },
    );

    test(`mqtt.js's will is published when its connection is lost (v${version})`, T, async (t) => {
      const broker = await brokerFor(t);
      const watcher = await Peer.connect(t, broker, version);
      await watcher.client.subscribeAsync("wills/#", { qos: 1 });
      const doomed = await Peer.connect(t, broker, version, {
        clientId: "doomed",
        will: {
          topic: "wills/doomed",
          payload: "gone",
          qos: 1,
          retain: false,
        },
      });
      doomed.client.stream.destroy();
      assert.deepEqual(await watcher.next(), {
        topic: "wills/doomed",
        payload: "gone",
        qos: 1,
        retain: false,
      });
    });

    test(
      `mqtt.js resumes a persistent session and gets what was queued (v${version})`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const persistent: IClientOptions = version === 5
          ? { clientId: "keeper", clean: false, properties: { sessionExpiryInterval: 300 } }
          : { clientId: "keeper", clean: false };
        const first = await Peer.connect(t, broker, version, persistent);
        await first.client.subscribeAsync("p/#", { qos: 1 });
        await first.client.endAsync();
        const pub = await Peer.connect(t, broker, version);
        await pub.client.publishAsync("p/1", "while away", { qos: 1 });
        // Queued, or in flight if the broker had not yet seen the DISCONNECT
        const info = broker.client("keeper")!;
        assert.equal(info.queuedMessages + info.inflight, 1);
        let sessionPresent: boolean | undefined;
        const { hostname, port } = broker.addresses[0]!;
        const client = mqtt.connect(`mqtt://${hostname}:${port}`, {
          protocolVersion: version,
          reconnectPeriod: 0,
          ...persistent,
        });
        t.after(() => void client.end(true));
        client.once("connect", (connack) => (sessionPresent = connack.sessionPresent));
        const second = new Peer(client);
        assert.deepEqual(await second.next(), {
          topic: "p/1",
          payload: "while away",
          qos: 1,
          retain: false,
        });
        assert.equal(sessionPresent, true);
      },
    );

    test(
      `mqtt.js members of a shared subscription get messages round robin (v${version})`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const members = [
          await Peer.connect(t, broker, version),
          await Peer.connect(t, broker, version),
        ];
        for (const m of members) await m.client.subscribeAsync("$share/g/jobs/+", { qos: 1 });
        const pub = await Peer.connect(t, broker, version);
        for (let i = 0; i < 4; i++) await pub.client.publishAsync(`jobs/${i}`, `${i}`, { qos: 1 });
        const got = [await members[0]!.next(), await members[1]!.next()];
        got.push(await members[0]!.next(), await members[1]!.next());
        assert.deepEqual(got.map((m) => m.payload).sort(), ["0", "1", "2", "3"]);
        // Each member got two, alternating.
        assert.notEqual(got[0]!.payload, got[1]!.payload);
        assert.equal(Number(got[2]!.payload) % 2, Number(got[0]!.payload) % 2);
      },
    );
  }

  test("mqtt.js sees v5 user properties and a subscription identifier", T, async (t) => {
    const broker = await brokerFor(t);
    const sub = await Peer.connect(t, broker, 5);
    let properties: Record<string, unknown> | undefined;
    sub.client.on("message", (_topic, _payload, packet) => {
      properties = packet.properties as Record<string, unknown> | undefined;
    });
    await sub.client.subscribeAsync("u/#", { qos: 1, properties: { subscriptionIdentifier: 42 } });
    const pub = await Peer.connect(t, broker, 5);
    await pub.client.publishAsync("u/1", "x", {
      qos: 1,
      properties: { userProperties: { k: "v" }, contentType: "text/plain" },
    });
    await sub.next();
    assert.deepEqual({ ...properties?.userProperties as object }, { k: "v" });
    assert.equal(properties?.contentType, "text/plain");
    assert.deepEqual(properties?.subscriptionIdentifier, 42);
  });
});
