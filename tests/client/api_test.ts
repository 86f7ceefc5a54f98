/**
 * The client calls the CLI needs: wire details of messages (packet id, properties as
 * received), unsubscribe by filter, DISCONNECT properties, abort/destroy, maxInflight,
 * unix:// URLs and localAddress.
 *
 * @module
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { startBroker } from "../../broker/broker.ts";
import { MqttClient } from "../../client/client.ts";
import { connect } from "../../client/connect.ts";
import {
  ConnectionClosedError,
  ConnectionFailedError,
  NotConnectedError,
} from "../../client/errors.ts";
import { memoryPair } from "../../socket/memory.ts";
import type { Message } from "../../client/subscription.ts";
import type { PublishPacket } from "../../protocol/packet.ts";
import { detectRuntime } from "../../socket/runtime.ts";
import { acceptAll, FakeBroker } from "./_fake.ts";
import {
  brokerFor,
  clientFor,
  deferred,
  memoryClient,
  MemoryLink,
  take,
  text,
} from "./_helpers.ts";

const T = { timeout: 10_000 };

function bytes(...parts: (number | string)[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === "number") out.push(part);
    else out.push(...new TextEncoder().encode(part));
  }
  return new Uint8Array(out);
}

describe("Message wire details", () => {
  test(
    "Message has the packet id and the properties in wire order with the topic alias",
    T,
    async (t) => {
      const fake = new FakeBroker(acceptAll());
      t.after(() => fake.close());
      const messages: Message[] = [];
      const both = deferred<void>();
      const client = await MqttClient.connect(fake.transport, {
        properties: { topicAliasMaximum: 5 },
        onMessage: (m) => {
          messages.push(m);
          if (messages.length === 3) both.resolve();
        },
      });
      t.after(() => client.end());
      const server = fake.connections[0]!.socket;
      // QoS 1 "t/1" id 7: user property k=v, content type "x", topic alias 1 (in that order).
      server.write(bytes(
        0x32,
        24,
        0,
        3,
        "t/1",
        0,
        7,
        14,
        0x26,
        0,
        1,
        "k",
        0,
        1,
        "v",
        0x03,
        0,
        1,
        "x",
        0x23,
        0,
        1,
        "hi",
      ));
      // QoS 1, empty topic with alias 1, id 8.
      server.write(bytes(0x32, 10, 0, 0, 0, 8, 3, 0x23, 0, 1, "ho"));
      // QoS 0 without properties.
      server.write(bytes(0x30, 7, 0, 3, "t/2", 0, "x"));
      await both.promise;
      const [first, second, third] = messages;
      assert.equal(first!.packetId, 7);
      assert.equal(first!.topic, "t/1");
      assert.deepEqual(Object.keys(first!.properties!), [
        "userProperties",
        "contentType",
        "topicAlias",
      ]);
      assert.deepEqual(first!.properties!.userProperties, [["k", "v"]]);
      assert.equal(first!.properties!.topicAlias, 1);
      assert.equal(second!.packetId, 8);
      assert.equal(second!.topic, "t/1");
      assert.equal(text(second!.payload), "ho");
      assert.deepEqual(second!.properties, { topicAlias: 1 });
      assert.equal(third!.packetId, undefined);
      assert.equal(third!.properties, undefined);
    },
  );

  test("Message.packetId is set for QoS 1 and 2 from the broker", T, async (t) => {
    const broker = await brokerFor(t);
    const client = await clientFor(t, broker, { protocolVersion: 4 });
    const sub = await client.subscribe("w/#", { qos: 2 });
    await client.publish("w/0", "a", { qos: 0 });
    await client.publish("w/2", "b", { qos: 2 });
    const [zero, two] = await take(sub, 2);
    assert.equal(zero!.packetId, undefined);
    assert.equal(typeof two!.packetId, "number");
    assert.ok(two!.packetId! > 0);
  });
});

describe("MqttClient.unsubscribe() by filter", () => {
  test("MqttClient.unsubscribe() sends UNSUBSCRIBE and returns the reason codes", T, async (t) => {
    const broker = await brokerFor(t);
    const client = await clientFor(t, broker);
    const sub = await client.subscribe("f/+", { qos: 1 });
    const seen: string[] = [];
    broker.on("unsubscribe", (e) => seen.push(...e.filters));
    assert.deepEqual(await client.unsubscribe(["f/+", "none"]), [0x00, 0x11]);
    assert.deepEqual(seen, ["f/+", "none"]);
    // The subscription object stays open.
    assert.equal(sub.closed, false);
  });

  test("MqttClient.unsubscribe() sends properties and returns [] on MQTT 3.1.1", T, async (t) => {
    const fake = new FakeBroker(acceptAll());
    t.after(() => fake.close());
    const client = await MqttClient.connect(fake.transport);
    t.after(() => client.end());
    await client.unsubscribe("x", { properties: { userProperties: [["a", "b"]] } });
    const packet = fake.received.find((p) => p.type === "unsubscribe");
    assert.deepEqual(packet?.type === "unsubscribe" && packet.properties, {
      userProperties: [["a", "b"]],
    });
    const broker = await brokerFor(t);
    const v4 = await clientFor(t, broker, { protocolVersion: 4 });
    assert.deepEqual(await v4.unsubscribe("x"), []);
  });

  test("MqttClient.unsubscribe() refuses invalid filters and a closed client", T, async (t) => {
    const broker = await brokerFor(t);
    const client = await clientFor(t, broker);
    await assert.rejects(client.unsubscribe([]), TypeError);
    await assert.rejects(client.unsubscribe("a/#/b"), TypeError);
    await client.end();
    await assert.rejects(client.unsubscribe("a"), NotConnectedError);
  });
});

describe("MqttClient.end() and destroy()", () => {
  test("MqttClient.end() sends DISCONNECT properties", T, async (t) => {
    const fake = new FakeBroker(acceptAll());
    t.after(() => fake.close());
    const client = await MqttClient.connect(fake.transport, { sessionExpiryInterval: 10 });
    await client.end({
      reasonCode: 0x04,
      sessionExpiry: 5,
      properties: { reasonString: "bye", userProperties: [["k", "v"]] },
    });
    const disconnect = fake.received.find((p) => p.type === "disconnect");
    assert.deepEqual(disconnect, {
      type: "disconnect",
      reasonCode: 0x04,
      properties: { reasonString: "bye", userProperties: [["k", "v"]], sessionExpiryInterval: 5 },
    });
  });

  test(
    "MqttClient.end() refuses a session expiry in properties after CONNECT set 0",
    T,
    async (t) => {
      const fake = new FakeBroker(acceptAll());
      t.after(() => fake.close());
      const client = await MqttClient.connect(fake.transport);
      t.after(() => client.end());
      await assert.rejects(client.end({ properties: { sessionExpiryInterval: 9 } }), RangeError);
      assert.equal(client.state, "connected");
    },
  );

  for (const how of ["destroy()", "end({ abort: true })"]) {
    test(
      `MqttClient.${how} drops the connection without DISCONNECT and fires the will`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const link = new MemoryLink(broker);
        const watcher = await memoryClient(t, link);
        const wills = await watcher.subscribe("will/#", { qos: 1 });
        const fake = new FakeBroker(() => {});
        // A broker that never acknowledges: the publish stays pending.
        fake.handler = (p, c) => {
          if (p.type === "connect") {
            c.send({ type: "connack", sessionPresent: false, reasonCode: 0 });
          }
        };
        t.after(() => fake.close());
        const silent = await MqttClient.connect(fake.transport);
        const pending = silent.publish("p", "x", { qos: 1 });
        const subscribing = silent.subscribe("s", { qos: 1 });
        if (how === "destroy()") silent.destroy();
        else await silent.end({ abort: true });
        await assert.rejects(pending, ConnectionClosedError);
        await assert.rejects(subscribing, ConnectionClosedError);
        assert.equal(silent.state, "closed");
        assert.equal(await silent.closed, undefined);
        assert.equal(fake.received.some((p) => p.type === "disconnect"), false);
        // Against the real broker: the will is published.
        const client = await connect("mqtt://memory", {
          transport: link.transport,
          will: { topic: "will/x", payload: "gone", qos: 1 },
        });
        if (how === "destroy()") client.destroy();
        else await client.end({ abort: true });
        const [will] = await take(wills, 1);
        assert.equal(text(will!.payload), "gone");
        // Idempotent, also after the fact.
        client.destroy();
        await client.end();
      },
    );
  }

  test("MqttClient.destroy() during end() settles end()", T, async (t) => {
    const fake = new FakeBroker(() => {});
    fake.handler = (p, c) => {
      if (p.type === "connect") c.send({ type: "connack", sessionPresent: false, reasonCode: 0 });
    };
    t.after(() => fake.close());
    const client = await MqttClient.connect(fake.transport);
    // The fake never closes the socket: end() would wait for its timeout.
    const ending = client.end({ timeout: 60_000 });
    client.destroy();
    await ending;
    assert.equal(client.state, "closed");
  });
});

describe("ClientOptions.maxInflight", () => {
  test("ClientOptions.maxInflight caps QoS 1 and 2 messages in flight", T, async (t) => {
    const held: PublishPacket[] = [];
    let arrived = deferred<void>();
    const fake = new FakeBroker((p, c) => {
      if (p.type === "connect") {
        c.send({
          type: "connack",
          sessionPresent: false,
          reasonCode: 0,
          properties: { receiveMaximum: 10 },
        });
      }
      if (p.type === "publish" && p.qos === 1) {
        held.push(p);
        arrived.resolve();
      }
    });
    t.after(() => fake.close());
    const client = await MqttClient.connect(fake.transport, { maxInflight: 2 });
    t.after(() => client.end());
    const results = [1, 2, 3, 4, 5].map((i) => client.publish("m", String(i), { qos: 1 }));
    // QoS 0 is not held back.
    await client.publish("m", "qos0");
    const until = async (count: number) => {
      while (held.length < count) {
        arrived = deferred<void>();
        await arrived.promise;
      }
    };
    await until(2);
    assert.equal(client.queued, 3);
    const connection = fake.connections[0]!;
    for (let i = 0; i < 5; i++) {
      connection.send({ type: "puback", packetId: held[i]!.packetId!, reasonCode: 0 });
      await results[i];
      // Each acknowledgement lets one more message out, in order.
      await until(Math.min(5, i + 3));
      assert.equal(held.length, Math.min(5, i + 3));
    }
    assert.deepEqual(held.map((p) => text(p.payload)), ["1", "2", "3", "4", "5"]);
    assert.equal(client.queued, 0);
  });

  test("ClientOptions.maxInflight out of range throws RangeError", () => {
    const transport = () => Promise.reject(new Error("unused"));
    assert.throws(() => new MqttClient(transport, { maxInflight: 0 }), RangeError);
    assert.throws(() => new MqttClient(transport, { maxInflight: 1.5 }), RangeError);
    assert.throws(() => new MqttClient(transport, { maxInflight: 65_536 }), RangeError);
  });
});

describe("connect() transports", () => {
  const unixSkip = process.platform === "win32" ? "no unix sockets on Windows" : false;
  test("connect() opens unix:// URLs", { ...T, skip: unixSkip }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "mq-client-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "mqtt.sock");
    const broker = await startBroker({ listeners: [], sysInterval: 0 });
    t.after(() => broker.close());
    const net = await import("node:net");
    // Bridge a node:net unix server into the in-process broker.
    const server = net.createServer((raw) => {
      const [a, b] = memoryPair();
      broker.connect(a);
      b.setHandlers({
        onData: (chunk) => raw.write(chunk.slice()),
        onClose: () => raw.destroy(),
      });
      raw.on("data", (chunk: Uint8Array) => b.write(new Uint8Array(chunk)));
      raw.on("close", () => b.destroy());
      raw.on("error", () => {});
    });
    await new Promise<void>((resolve) => server.listen(path, () => resolve()));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const client = await connect(`unix://${path}`);
    t.after(() => client.end());
    const sub = await client.subscribe("u", { qos: 1 });
    await client.publish("u", "over unix", { qos: 1 });
    const [message] = await take(sub, 1);
    assert.equal(text(message!.payload), "over unix");
    await assert.rejects(connect("unix:///"), TypeError);
  });

  test(
    "connect() binds localAddress, or rejects with TypeError where unsupported",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const address = broker.addresses[0]!;
      const url = `mqtt://${address.hostname}:${address.port}`;
      if (detectRuntime() === "deno") {
        const error = await connect(url, { localAddress: "127.0.0.1" }).catch((e) => e);
        assert.ok(error instanceof ConnectionFailedError);
        assert.ok(error.cause instanceof TypeError);
        return;
      }
      const client = await connect(url, { localAddress: "127.0.0.1" });
      t.after(() => client.end());
      assert.equal(client.state, "connected");
      // An address this host does not have cannot be bound: the option reaches the socket.
      const error = await connect(url, { localAddress: "192.0.2.1" }).catch((e) => e);
      assert.ok(error instanceof ConnectionFailedError);
    },
  );
});
