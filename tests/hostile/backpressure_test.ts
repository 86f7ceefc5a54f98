/**
 * Subscribers that never read, over real sockets: many of them at once while a publisher
 * floods QoS 0 and QoS 1 (bounded by maxQueuedMessages, or by maxQueuedBytes), and `#`
 * subscribers in front of a large retained store. The broker's memory must follow its
 * limits, not the volume published, and other clients must keep normal latency.
 * (tests/broker/flood_test.ts covers one stalled subscriber's queue figures.)
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { Broker } from "../../broker/types.ts";
import type { Packet, ProtocolVersion, QoS } from "../../protocol/mod.ts";
import { brokerFor } from "../broker/_client.ts";
import {
  connectBytes,
  errorLog,
  memory,
  Probe,
  quantile,
  runtimeName,
  watchCrashes,
  Wire,
} from "./_helpers.ts";

// The adapters' high-water mark: write() reports congestion past it.
const HIGH_WATER_MARK = 64 * 1024;

function subscription(version: ProtocolVersion, filter: string, qos: QoS) {
  return version === 5
    ? { filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 as const }
    : { filter, qos };
}

async function connect(
  broker: Broker,
  id: string,
  version: ProtocolVersion,
  receiveMaximum?: number,
): Promise<Wire> {
  const wire = await Wire.open(broker, version);
  wire.write(
    connectBytes(id, version, receiveMaximum === undefined ? {} : { receiveMaximum }),
  );
  assert.equal((await wire.packet("connack", 10_000))?.reasonCode, 0, `${id} connected`);
  wire.packets.length = 0;
  return wire;
}

async function subscribe(
  wire: Wire,
  version: ProtocolVersion,
  filters: [string, QoS][],
): Promise<void> {
  wire.send({
    type: "subscribe",
    packetId: 1,
    subscriptions: filters.map(([f, q]) => subscription(version, f, q)),
  }, version);
  const suback = await wire.packet("suback", 10_000);
  assert.deepEqual(suback?.reasonCodes, filters.map(([, q]) => q));
  wire.packets.length = 0;
}

/**
 * Publish `rounds` × `perRound` messages of `payload` to `topic(i)`, every `qos1Every`-th at
 * QoS 1 (the rest QoS 0). Each round ends with a QoS 1 marker whose PUBACK says the broker
 * has routed the whole round, and a probe round trip runs alongside.
 */
async function flood(
  publisher: Wire,
  probe: Probe,
  options: {
    rounds: number;
    perRound: number;
    payload: Uint8Array;
    topic: (i: number) => string;
    qos1Every: number;
  },
): Promise<void> {
  let packetId = 0;
  let n = 0;
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < options.perRound; i++, n++) {
      const qos1 = n % options.qos1Every === 0;
      const packet: Packet = {
        type: "publish",
        topic: options.topic(n),
        payload: options.payload,
        qos: qos1 ? 1 : 0,
        retain: false,
        dup: false,
      };
      if (qos1) packet.packetId = packetId = packetId % 60_000 + 1;
      publisher.send(packet, 5);
    }
    const marker = 65_000 + round % 500;
    publisher.send({
      type: "publish",
      topic: "hostile/marker",
      payload: new Uint8Array(0),
      qos: 1,
      packetId: marker,
      retain: false,
      dup: false,
    }, 5);
    const [acked] = await Promise.all([
      publisher.until(
        () => publisher.packets.some((p) => p.type === "puback" && p.packetId === marker),
        30_000,
      ),
      probe.roundTrip(),
    ]);
    assert.ok(acked, `round ${round} was routed`);
    publisher.packets.length = 0;
  }
}

describe("hostile clients: subscribers that never read", () => {
  test(
    "startBroker() keeps 20 stalled subscribers within maxQueuedMessages while QoS 0 and QoS 1 flood in, and others keep normal latency",
    { timeout: 60_000 },
    async (t) => {
      const crashes = watchCrashes(t);
      const log = errorLog();
      const maxQueuedMessages = 50;
      const maxInflightMessages = 10;
      const broker = await brokerFor(t, {
        maxQueuedMessages,
        maxInflightMessages,
        logger: log.logger,
        logTypes: ["error"],
      });
      const stalled = 20;
      const wires: Wire[] = [];
      for (let i = 0; i < stalled; i++) {
        const version: ProtocolVersion = i % 2 === 0 ? 5 : 4;
        // MQTT 5 subscribers announce a Receive Maximum too (the broker caps it at
        // maxInflightMessages anyway, see below).
        const wire = await connect(broker, `stalled-${i}`, version, maxInflightMessages);
        t.after(() => wire.destroy());
        await subscribe(wire, version, [["flood/#", 1]]);
        wire.socket.pause();
        wires.push(wire);
      }
      const probe = await Probe.start(broker, "probe");
      t.after(() => probe.destroy());
      const publisher = await connect(broker, "publisher", 5);
      t.after(() => publisher.destroy());
      for (let i = 0; i < 10; i++) await probe.roundTrip();
      const idle = probe.latencies.splice(0);
      const before = memory();

      const payload = new Uint8Array(4096).fill(0x61);
      const rounds = 6;
      const perRound = 600;
      // 3,600 messages of 4 KiB (14 MiB), one in four at QoS 1, to each of 20 subscribers.
      await flood(publisher, probe, {
        rounds,
        perRound,
        payload,
        topic: (i) => `flood/${i % 16}`,
        qos1Every: 4,
      });
      const after = memory();
      const size = payload.length + 20;
      const perSubscriber = HIGH_WATER_MARK + (maxQueuedMessages + maxInflightMessages + 1) * size;
      for (let i = 0; i < stalled; i++) {
        const info = broker.client(`stalled-${i}`)!;
        assert.equal(info.connected, true);
        assert.ok(info.queuedMessages <= maxQueuedMessages, `queued ${info.queuedMessages}`);
        assert.ok(info.inflight <= maxInflightMessages, `in flight ${info.inflight}`);
        assert.ok(info.bufferedBytes <= perSubscriber, `buffered ${info.bufferedBytes}`);
        assert.ok(info.dropped > 0, "the overflow is dropped and counted");
      }
      const stats = broker.stats;
      assert.ok(stats.publishDropped > 0);
      // (+ 1: the probe's own message may still be in flight.)
      assert.ok(
        stats.messagesStored <= stalled * (maxQueuedMessages + maxInflightMessages) + 1,
        `stored ${stats.messagesStored}`,
      );
      const published = rounds * perRound * payload.length;
      const growth = after.heap - before.heap;
      // Measured: 5.8 to 15.9 MiB (Deno), 11.3 MiB (Bun), 11.2 MiB (Node), against 281 MiB were
      // the flood kept for every subscriber.
      const bound = 2 * stalled * perSubscriber + 16 * 1024 * 1024;
      console.log(
        `${runtimeName()}: flood of ${published / 1024 / 1024} MiB to ${stalled} stalled ` +
          `subscribers: heap grew ${(growth / 1024 / 1024).toFixed(1)} MiB, RSS ${
            ((after.rss - before.rss) / 1024 / 1024).toFixed(1)
          } MiB (bound ${(bound / 1024 / 1024).toFixed(1)} MiB); ${stats.publishDropped} ` +
          `dropped; probe idle median ${quantile(idle, 0.5).toFixed(1)} ms, under flood median ${
            quantile(probe.latencies, 0.5).toFixed(1)
          } ms, max ${Math.max(...probe.latencies).toFixed(1)} ms`,
      );
      assert.ok(growth < bound, `heap grew ${growth} bytes, bound ${bound}`);
      assert.ok(probe.latencies.every(Number.isFinite), "every probe round trip completed");
      assert.deepEqual(crashes, []);
      assert.deepEqual(log.errors, []);
      // Hang up now, or the broker's close() waits out its grace for the stalled sockets.
      for (const wire of wires) wire.destroy();
    },
  );

  test(
    "startBroker() keeps a stalled QoS 1 subscriber within maxQueuedBytes when the message count is unlimited",
    { timeout: 60_000 },
    async (t) => {
      const maxQueuedBytes = 64 * 1024;
      const maxInflightMessages = 10;
      const broker = await brokerFor(t, {
        maxQueuedMessages: 0,
        maxQueuedBytes,
        maxInflightMessages,
      });
      const slow = await connect(broker, "slow", 5, maxInflightMessages);
      t.after(() => slow.destroy());
      await subscribe(slow, 5, [["bytes/#", 1]]);
      slow.socket.pause();
      const probe = await Probe.start(broker, "probe");
      t.after(() => probe.destroy());
      const publisher = await connect(broker, "publisher", 5);
      t.after(() => publisher.destroy());
      const before = memory();
      const payload = new Uint8Array(8192).fill(0x62);
      // 1,600 QoS 1 messages of 8 KiB (12.5 MiB).
      await flood(publisher, probe, {
        rounds: 8,
        perRound: 200,
        payload,
        topic: () => "bytes/x",
        qos1Every: 1,
      });
      const after = memory();
      const info = broker.client("slow")!;
      const size = payload.length + 20;
      const bound = HIGH_WATER_MARK + (maxInflightMessages + 1) * size;
      const growth = after.heap - before.heap;
      assert.ok(info.inflight <= maxInflightMessages, `in flight ${info.inflight}`);
      assert.ok(info.queuedBytes <= maxQueuedBytes, `queued ${info.queuedBytes} bytes`);
      assert.ok(info.bufferedBytes <= bound, `buffered ${info.bufferedBytes} > ${bound}`);
      assert.ok(info.dropped > 0);
      assert.ok(growth < bound + maxQueuedBytes + 16 * 1024 * 1024, `heap grew ${growth} bytes`);
      assert.ok(probe.latencies.every(Number.isFinite));
      slow.destroy();
    },
  );

  // The QoS 0 allowance of a congested socket (broker.ts #deliver) is bounded by
  // maxQueuedBytes too, not only by maxQueuedMessages (found by this suite).
  test(
    "startBroker() keeps QoS 0 to a stalled subscriber within maxQueuedBytes when maxQueuedMessages is 0",
    {
      timeout: 60_000,
    },
    async (t) => {
      const maxQueuedBytes = 64 * 1024;
      const broker = await brokerFor(t, { maxQueuedMessages: 0, maxQueuedBytes });
      const slow = await connect(broker, "slow", 4);
      t.after(() => slow.destroy());
      await subscribe(slow, 4, [["bytes/#", 0]]);
      slow.socket.pause();
      const probe = await Probe.start(broker, "probe");
      t.after(() => probe.destroy());
      const publisher = await connect(broker, "publisher", 5);
      t.after(() => publisher.destroy());
      const payload = new Uint8Array(8192).fill(0x62);
      // 1,000 QoS 0 messages of 8 KiB (8 MiB).
      await flood(publisher, probe, {
        rounds: 4,
        perRound: 250,
        payload,
        topic: () => "bytes/x",
        qos1Every: Infinity,
      });
      const info = broker.client("slow")!;
      // Hang up first, or the broker's close() waits out its grace for the stalled socket.
      slow.destroy();
      const bound = HIGH_WATER_MARK + maxQueuedBytes + 2 * (payload.length + 20);
      assert.ok(info.bufferedBytes <= bound, `buffered ${info.bufferedBytes} > ${bound}`);
      assert.ok(info.dropped > 0);
    },
  );

  // An MQTT 5 client's in-flight window is its Receive Maximum capped at
  // maxInflightMessages, so a v5 subscriber that stops reading cannot get every QoS 1
  // message buffered past maxQueuedMessages and maxQueuedBytes (found by this suite).
  test(
    "startBroker() caps the in-flight window of an MQTT 5 subscriber that never reads",
    {
      timeout: 60_000,
    },
    async (t) => {
      const maxInflightMessages = 10;
      const maxQueuedMessages = 100;
      const broker = await brokerFor(t, { maxInflightMessages, maxQueuedMessages });
      const slow = await connect(broker, "slow", 5);
      t.after(() => slow.destroy());
      await subscribe(slow, 5, [["inflight/#", 1]]);
      slow.socket.pause();
      const probe = await Probe.start(broker, "probe");
      t.after(() => probe.destroy());
      const publisher = await connect(broker, "publisher", 5);
      t.after(() => publisher.destroy());
      const payload = new Uint8Array(8192).fill(0x64);
      // 500 QoS 1 messages of 8 KiB (4 MiB).
      await flood(publisher, probe, {
        rounds: 2,
        perRound: 250,
        payload,
        topic: () => "inflight/x",
        qos1Every: 1,
      });
      const info = broker.client("slow")!;
      slow.destroy();
      const size = payload.length + 20;
      const bound = HIGH_WATER_MARK + (maxInflightMessages + 1) * size;
      assert.ok(info.inflight <= maxInflightMessages, `in flight ${info.inflight}`);
      assert.ok(info.bufferedBytes <= bound, `buffered ${info.bufferedBytes} > ${bound}`);
    },
  );

  test(
    "startBroker() keeps `#` subscribers that never read within their limits in front of 20,000 retained messages",
    { timeout: 60_000 },
    async (t) => {
      const crashes = watchCrashes(t);
      const log = errorLog();
      const maxQueuedMessages = 1000;
      const maxInflightMessages = 20;
      const broker = await brokerFor(t, {
        maxQueuedMessages,
        maxInflightMessages,
        logger: log.logger,
        logTypes: ["error"],
      });
      const retained = 20_000;
      const payload = new Uint8Array(1024).fill(0x63);
      for (let i = 0; i < retained; i++) {
        broker.publish(`store/${i % 100}/${i}`, payload, { retain: true, qos: 1 });
      }
      assert.equal(broker.stats.retained, retained);
      const probe = await Probe.start(broker, "probe");
      t.after(() => probe.destroy());
      const before = memory();

      // Five `#` subscribers (QoS 0 and 1, both versions) that stop reading at once.
      const subscribers = 5;
      let subscribed = 0;
      let allSubscribed!: () => void;
      const whenSubscribed = new Promise<void>((resolve) => (allSubscribed = resolve));
      const off = broker.on("subscribe", (e) => {
        if (e.clientId.startsWith("hash-") && ++subscribed === subscribers) allSubscribed();
      });
      t.after(off);
      const wires: Wire[] = [];
      for (let i = 0; i < subscribers; i++) {
        const version: ProtocolVersion = i % 2 === 0 ? 5 : 4;
        const qos: QoS = i % 2 === 0 ? 1 : 0;
        const wire = await connect(broker, `hash-${i}`, version, maxInflightMessages);
        t.after(() => wire.destroy());
        wire.socket.pause();
        wire.send({
          type: "subscribe",
          packetId: 1,
          subscriptions: [subscription(version, "#", qos)],
        }, version);
        wires.push(wire);
      }
      await whenSubscribed;
      // The broker goes on serving: round trips, and a new subscriber's retained message.
      for (let i = 0; i < 10; i++) {
        assert.ok(Number.isFinite(await probe.roundTrip()), "round trip");
      }
      const other = await connect(broker, "other", 5);
      t.after(() => other.destroy());
      other.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [subscription(5, "store/7/1007", 0)],
      }, 5);
      const message = await other.packet("publish", 10_000);
      assert.equal(message?.topic, "store/7/1007");
      assert.equal(message?.retain, true);

      const after = memory();
      const size = payload.length + 30;
      const perSubscriber = HIGH_WATER_MARK + (maxQueuedMessages + maxInflightMessages + 1) * size;
      for (let i = 0; i < subscribers; i++) {
        const info = broker.client(`hash-${i}`)!;
        assert.ok(info.queuedMessages <= maxQueuedMessages, `queued ${info.queuedMessages}`);
        assert.ok(info.bufferedBytes <= perSubscriber, `buffered ${info.bufferedBytes}`);
        // Retained messages wait for the socket to drain instead of being dropped.
        assert.equal(info.dropped, 0, `subscriber ${i} lost retained messages`);
      }
      const growth = after.heap - before.heap;
      const bound = subscribers * perSubscriber + 16 * 1024 * 1024;
      console.log(
        `${runtimeName()}: ${subscribers} stalled # subscribers, ${retained} retained of 1 KiB: ` +
          `heap grew ${(growth / 1024 / 1024).toFixed(1)} MiB (bound ${
            (bound / 1024 / 1024).toFixed(1)
          } MiB), probe max ${Math.max(...probe.latencies).toFixed(1)} ms`,
      );
      assert.ok(growth < bound, `heap grew ${growth} bytes, bound ${bound}`);
      assert.deepEqual(crashes, []);
      assert.deepEqual(log.errors, []);
      for (const wire of wires) wire.destroy();
    },
  );
});
