/**
 * Back pressure (docs/broker.md): a publisher whose message finds a subscriber backed up is
 * not read from until that subscriber catches up, so a slow subscriber slows its publishers
 * instead of losing messages; a subscriber that does not catch up within
 * `backPressureTimeout` is marked stalled and holds nobody up. Each case also runs with
 * back pressure off (`backPressureTimeout: 0`) to show that the same load then drops.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import type { Broker, BrokerOptions } from "../../broker/types.ts";
import { memoryPair } from "../../socket/memory.ts";
import type { Packet, PublishPacket } from "../../protocol/mod.ts";
import { brokerFor, RawClient } from "./_client.ts";

function memoryClient(t: TestContext, broker: Broker): RawClient {
  const [a, b] = memoryPair();
  broker.connect(a);
  const client = new RawClient(b, 5);
  t.after(() => client.destroy());
  return client;
}

function publish(topic: string, i: number, qos: 0 | 1, size = 1024): PublishPacket {
  const payload = new Uint8Array(size).fill(0x61);
  new DataView(payload.buffer).setUint32(0, i);
  const packet: PublishPacket = { type: "publish", topic, payload, qos, retain: false, dup: false };
  if (qos === 1) packet.packetId = i + 1;
  return packet;
}

function sequence(packet: Packet): number {
  assert.equal(packet.type, "publish");
  return new DataView(packet.payload.buffer, packet.payload.byteOffset).getUint32(0);
}

/** Read `count` PUBLISHes, acknowledging QoS 1 at once; returns their sequence numbers. */
async function receive(client: RawClient, count: number): Promise<number[]> {
  const seen: number[] = [];
  while (seen.length < count) {
    const packet = await client.next(undefined, 10_000);
    if (packet.type !== "publish") continue;
    seen.push(sequence(packet));
    if (packet.qos === 1) client.send({ type: "puback", packetId: packet.packetId! });
  }
  return seen;
}

/**
 * A broker (10 queued, 5 in flight, the given backPressureTimeout, log lines kept) with a
 * client "stalled" subscribed to `filter` at QoS 1 that receives but never acknowledges.
 */
async function withStalled(
  t: TestContext,
  backPressureTimeout: number,
  filter: string,
): Promise<{ broker: Broker; lines: string[] }> {
  const lines: string[] = [];
  const broker = await brokerFor(t, {
    maxQueuedMessages: 10,
    maxInflightMessages: 5,
    backPressureTimeout,
    logger: (_level, line) => lines.push(line),
  });
  const stalled = memoryClient(t, broker);
  await stalled.connect("stalled");
  await stalled.subscribe([filter], { qos: 1 });
  return { broker, lines };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

describe("broker back pressure", () => {
  for (const on of [true, false]) {
    test(
      `startBroker() ${
        on ? "delivers every QoS 1 message" : "drops, with back pressure off, the QoS 1 messages"
      } a burst sends past a subscriber's queue limit`,
      { timeout: 30_000 },
      async (t) => {
        const options: BrokerOptions = { maxQueuedMessages: 10, maxInflightMessages: 5 };
        if (!on) options.backPressureTimeout = 0;
        const broker = await brokerFor(t, options);
        const sub = memoryClient(t, broker);
        await sub.connect("sub");
        await sub.subscribe(["bp/q1"], { qos: 1 });
        const pub = memoryClient(t, broker);
        await pub.connect("pub");
        // 300 messages in one write: one chunk, more than in-flight plus queue can hold.
        const n = 300;
        const chunks = range(n).map((i) => publish("bp/q1", i, 1, 64));
        for (const packet of chunks) pub.send(packet);
        if (on) {
          assert.deepEqual(await receive(sub, n), range(n));
          assert.equal(broker.stats.publishDropped, 0);
          // Every message was acknowledged to the publisher.
          const acked = new Set<number>();
          while (acked.size < n) acked.add((await pub.next("puback", 10_000)).packetId);
        } else {
          // The broker takes the whole chunk at once: 5 in flight, 10 queued, the rest lost.
          const acks: number[] = [];
          while (acks.length < n) acks.push((await pub.next("puback", 10_000)).packetId);
          assert.deepEqual(await receive(sub, 15), range(15));
          assert.equal(broker.stats.publishDropped, n - 15);
          assert.equal(broker.client("sub")?.dropped, n - 15);
        }
      },
    );

    test(
      `startBroker() ${
        on ? "holds a QoS 0 publisher while" : "drops QoS 0, with back pressure off, while"
      } a subscriber's socket is congested`,
      { timeout: 30_000 },
      async (t) => {
        const options: BrokerOptions = { maxQueuedMessages: 10 };
        if (!on) options.backPressureTimeout = 0;
        const broker = await brokerFor(t, options);
        const sub = memoryClient(t, broker);
        await sub.connect("sub");
        await sub.subscribe(["bp/q0"], { qos: 0 });
        // The subscriber stops reading: the broker's writes to it pass the high-water mark.
        sub.socket.pause();
        const pub = memoryClient(t, broker);
        await pub.connect("pub");
        const n = 200; // 200 KiB, three times the 64 KiB high-water mark
        for (const i of range(n)) pub.send(publish("bp/q0", i, 0));
        pub.send({ ...publish("bp/marker", 0, 1, 4), packetId: 9999 });
        if (on) {
          // The publisher is not read from, so its marker is not acknowledged yet; within
          // backPressureTimeout (1 s) the subscriber reads again and everything arrives.
          assert.deepEqual(await pub.drain(200), []);
          sub.socket.resume();
          assert.deepEqual(await receive(sub, n), range(n));
          assert.equal((await pub.next("puback", 10_000)).packetId, 9999);
          assert.equal(broker.stats.publishDropped, 0);
        } else {
          assert.equal((await pub.next("puback", 10_000)).packetId, 9999);
          sub.socket.resume();
          const received = await receive(sub, 10);
          const rest = (await sub.drain(200)).filter((p) => p.type === "publish");
          const total = received.length + rest.length;
          assert.ok(total < n, `${total} of ${n} delivered`);
          assert.equal(broker.stats.publishDropped, n - total);
        }
      },
    );
  }

  test(
    "startBroker() marks a subscriber that never reads as stalled after backPressureTimeout and lets its publisher go on",
    { timeout: 30_000 },
    async (t) => {
      const { broker, lines } = await withStalled(t, 100, "bp/s");
      const healthy = memoryClient(t, broker);
      await healthy.connect("healthy");
      await healthy.subscribe(["bp/s"], { qos: 1 });
      const pub = memoryClient(t, broker);
      await pub.connect("pub");
      const n = 200;
      const started = performance.now();
      for (const i of range(n)) pub.send(publish("bp/s", i, 1, 64));
      const [seen] = await Promise.all([
        receive(healthy, n),
        (async () => {
          for (let acked = 0; acked < n; acked++) await pub.next("puback", 10_000);
        })(),
      ]);
      // The publisher waited for the stalled subscriber (at least backPressureTimeout, found
      // by the 500 ms sweep), then went on; the healthy one got everything, in order.
      assert.ok(performance.now() - started >= 100, "the publisher was held");
      assert.deepEqual(seen, range(n));
      const notices = lines.filter((l) => l.includes("stalled is not keeping up"));
      assert.equal(notices.length, 1, lines.join("\n"));
      assert.equal(broker.client("stalled")?.dropped, n - 15);

      // Stalled, it holds nobody up: a second burst goes straight through.
      for (const i of range(n)) pub.send(publish("bp/s", n + i, 1, 64));
      const second = await receive(healthy, n);
      assert.deepEqual(second, range(n).map((i) => n + i));
      assert.equal(lines.filter((l) => l.includes("is not keeping up")).length, 1);
      assert.equal(broker.client("stalled")?.dropped, 2 * n - 15);
    },
  );

  test(
    "startBroker() does not time out the keep alive of a publisher it holds back (its PINGREQs wait unread)",
    { timeout: 30_000 },
    async (t) => {
      const { broker, lines } = await withStalled(t, 2500, "bp/k");
      const pub = memoryClient(t, broker);
      // Keep alive 1 s: the broker closes it after 1.5 s without a packet.
      await pub.connect("pub", { keepAlive: 1 });
      const n = 40;
      for (const i of range(n)) pub.send(publish("bp/k", i, 1, 64));
      // Held until the stalled subscriber is found out (2.5–3 s), while the client pings.
      const ping = setInterval(() => pub.send({ type: "pingreq" }), 500);
      t.after(() => clearInterval(ping));
      for (let acked = 0; acked < n;) {
        const packet = await pub.next(undefined, 10_000);
        if (packet.type === "puback") acked++;
      }
      clearInterval(ping);
      assert.equal(pub.closed, false);
      assert.equal(lines.filter((l) => l.includes("stalled is not keeping up")).length, 1);
      assert.ok(!lines.some((l) => l.includes("Client pub disconnected")), lines.join("\n"));
    },
  );

  test(
    "startBroker() slows a TCP publisher to a QoS 1 subscriber instead of dropping (the runtime's adapter pauses reading)",
    { timeout: 60_000 },
    async (t) => {
      const broker = await brokerFor(t, { maxQueuedMessages: 10, maxInflightMessages: 5 });
      const sub = await RawClient.tcp(t, broker, 5);
      await sub.connect("sub");
      await sub.subscribe(["bp/tcp"], { qos: 1 });
      const pub = await RawClient.tcp(t, broker, 5);
      await pub.connect("pub");
      const n = 5000;
      for (const i of range(n)) pub.send(publish("bp/tcp", i, 1, 64));
      assert.deepEqual(await receive(sub, n), range(n));
      assert.equal(broker.stats.publishDropped, 0);
    },
  );
});
