/**
 * Size and count abuse over real sockets: packets above maxPacketSize, a Remaining Length
 * claiming 256 MB with nothing behind it, floods of distinct topics, and floods of
 * subscriptions (thousands of filters in one SUBSCRIBE and across thousands of SUBSCRIBEs).
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { Broker } from "../../broker/types.ts";
import {
  encodePacket,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type Subscription,
} from "../../protocol/mod.ts";
import { brokerFor } from "../broker/_client.ts";
import { connectBytes, errorLog, memory, runtimeName, watchCrashes, Wire } from "./_helpers.ts";

const MiB = 1024 * 1024;

async function connect(broker: Broker, id: string, version: ProtocolVersion): Promise<Wire> {
  const wire = await Wire.open(broker, version);
  wire.write(connectBytes(id, version));
  const connack = await wire.packet("connack", 10_000);
  assert.equal(connack?.reasonCode, 0, `${id} connected`);
  return wire;
}

function subscription(version: ProtocolVersion, filter: string, qos: QoS): Subscription {
  return version === 5
    ? { filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }
    : { filter, qos };
}

function publish(
  topic: string,
  payload: Uint8Array,
  qos: QoS = 0,
  packetId?: number,
): PublishPacket {
  const packet: PublishPacket = { type: "publish", topic, payload, qos, retain: false, dup: false };
  if (packetId !== undefined) packet.packetId = packetId;
  return packet;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// A QoS 1 round trip through the broker for a connected v5 client subscribed to `topic`.
async function echo(wire: Wire, topic: string, packetId: number): Promise<void> {
  wire.packets.length = 0;
  wire.send(publish(topic, new Uint8Array([1]), 1, packetId), 5);
  assert.ok(
    await wire.until(
      () =>
        wire.packets.some((p) => p.type === "puback" && p.packetId === packetId) &&
        wire.packets.some((p) => p.type === "publish" && p.topic === topic),
      10_000,
    ),
    "round trip",
  );
}

describe("hostile clients: sizes and counts", () => {
  test(
    "startBroker() answers a packet above maxPacketSize with DISCONNECT 0x95 (MQTT 5) or a close (MQTT 3.x)",
    { timeout: 20_000 },
    async (t) => {
      const crashes = watchCrashes(t);
      const maxPacketSize = 1024;
      const broker = await brokerFor(t, { maxPacketSize });
      const big = publish("big", new Uint8Array(2000).fill(0x65));
      for (const version of [5, 4, 3] as ProtocolVersion[]) {
        // The whole packet, and only its fixed header (the size is known from it alone).
        for (const headerOnly of [false, true]) {
          const wire = await Wire.open(broker, version);
          t.after(() => wire.destroy());
          wire.write(connectBytes(`big-${version}-${headerOnly}`, version));
          const connack = await wire.packet("connack", 5_000);
          assert.equal(connack?.reasonCode, 0);
          if (version === 5) assert.equal(connack?.properties?.maximumPacketSize, maxPacketSize);
          const bytes = encodePacket(big, version);
          wire.write(headerOnly ? bytes.subarray(0, 3) : bytes);
          assert.ok(await wire.whenClosed(5_000), `v${version} closed`);
          const after = wire.packets.slice(1);
          if (version === 5) {
            assert.deepEqual(after.map((p) => p.type), ["disconnect"]);
            assert.equal(after[0]?.type === "disconnect" && after[0].reasonCode, 0x95);
          } else {
            assert.deepEqual(after, [], "MQTT 3.x has no DISCONNECT from the server");
          }
        }
      }
      // An oversized first packet: closed (the protocol version is not known yet).
      const first = await Wire.open(broker, 5);
      t.after(() => first.destroy());
      first.write(new Uint8Array([0x10, 0xd0, 0x0f]));
      assert.ok(await first.whenClosed(5_000));
      assert.ok(first.packets.every((p) => p.type !== "connack" || p.reasonCode !== 0));
      assert.equal(broker.stats.clientsConnected, 0);
      assert.deepEqual(crashes, []);
    },
  );

  test(
    "startBroker() does not allocate a 256 MB Remaining Length before the bytes arrive",
    { timeout: 30_000 },
    async (t) => {
      const crashes = watchCrashes(t);
      // No maxPacketSize: the protocol's own maximum (268,435,455 bytes of body) applies.
      const broker = await brokerFor(t, { connectTimeout: 1 });
      const claim = new Uint8Array([0x30, 0xff, 0xff, 0xff, 0x7f]);
      const before = memory();
      const count = 20;
      const wires: Wire[] = [];
      for (let i = 0; i < count; i++) {
        const version: ProtocolVersion = i % 2 === 0 ? 5 : 4;
        const wire = await connect(broker, `claim-${i}`, version);
        t.after(() => wire.destroy());
        wire.write(claim);
        wires.push(wire);
      }
      // And CONNECTs claiming as much, as the first packet.
      const firsts = await Promise.all(Array.from({ length: 10 }, async () => {
        const wire = await Wire.open(broker, 4);
        t.after(() => wire.destroy());
        wire.write(new Uint8Array([0x10, 0xff, 0xff, 0xff, 0x7f]));
        return wire;
      }));
      // The broker keeps serving while they wait.
      const probe = await connect(broker, "probe", 5);
      t.after(() => probe.destroy());
      probe.send({ type: "subscribe", packetId: 1, subscriptions: [subscription(5, "p", 1)] }, 5);
      assert.ok(await probe.packet("suback", 5_000));
      await echo(probe, "p", 2);
      const claimed = memory();
      // 256 KiB of the body on each: memory follows the bytes received.
      const chunk = new Uint8Array(256 * 1024).fill(0x66);
      for (const wire of wires) wire.write(chunk);
      await echo(probe, "p", 3);
      const fed = memory();
      const claimedGrowth = claimed.heap - before.heap;
      const fedGrowth = fed.heap - claimed.heap;
      console.log(
        `${runtimeName()}: ${count + 10} connections claiming 256 MB: heap grew ${
          (claimedGrowth / MiB).toFixed(1)
        } MiB (RSS ${((claimed.rss - before.rss) / MiB).toFixed(1)} MiB); after 256 KiB of body ` +
          `each, ${(fedGrowth / MiB).toFixed(1)} MiB more`,
      );
      // Allocating what is claimed would be 7.5 GiB.
      assert.ok(claimedGrowth < 16 * MiB, `heap grew ${claimedGrowth} bytes`);
      assert.ok(claimed.rss - before.rss < 64 * MiB, `RSS grew ${claimed.rss - before.rss} bytes`);
      assert.ok(fedGrowth < 3 * count * chunk.length + 16 * MiB, `heap grew ${fedGrowth} bytes`);
      // Still waiting for the rest, not closed.
      for (const wire of wires) assert.ok(!wire.closed);
      // The CONNECT claims go at the connect timeout.
      for (const wire of firsts) assert.ok(await wire.whenClosed(1_000 + 500 + 5_000));
      assert.deepEqual(crashes, []);
      for (const wire of wires) wire.destroy();
    },
  );

  test(
    "startBroker() keeps no per-topic state for a flood of 50,000 distinct topics",
    { timeout: 30_000 },
    async (t) => {
      const crashes = watchCrashes(t);
      const log = errorLog();
      const broker = await brokerFor(t, { logger: log.logger, logTypes: ["error"] });
      // A subscriber to one of them, which must get exactly its own.
      const subscriber = await connect(broker, "subscriber", 5);
      t.after(() => subscriber.destroy());
      subscriber.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [subscription(5, "topics/+/7777", 1)],
      }, 5);
      assert.ok(await subscriber.packet("suback", 5_000));
      subscriber.packets.length = 0;
      const publisher = await connect(broker, "publisher", 5);
      t.after(() => publisher.destroy());
      const payload = new Uint8Array(16).fill(0x67);
      let marks = 0;
      const mine: Packet[] = [];
      // Publish topics [from, to), then wait until the broker has routed them (the PUBACK of a
      // last QoS 1 message) and the subscriber has read what was routed to it (a round trip
      // on its own connection, behind those messages).
      const send = async (from: number, to: number, prefix: string): Promise<void> => {
        const parts: Uint8Array[] = [];
        for (let i = from; i < to; i++) {
          // MQTT 5: every new topic also maps a topic alias (1..10, reused round robin).
          const packet = publish(`${prefix}/${i % 97}/${i}`, payload, i % 10 === 0 ? 1 : 0);
          if (packet.qos === 1) packet.packetId = (i % 60_000) + 1;
          packet.properties = { topicAlias: (i % 10) + 1 };
          parts.push(encodePacket(packet, 5));
        }
        const mark = 65_000 + ++marks;
        parts.push(encodePacket(publish("mark", payload, 1, mark), 5));
        publisher.packets.length = 0;
        publisher.write(concat(parts));
        assert.ok(
          await publisher.until(
            () => publisher.packets.some((p) => p.type === "puback" && p.packetId === mark),
            20_000,
          ),
          "routed",
        );
        const collect = (): void => {
          for (const p of subscriber.packets.splice(0)) {
            if (p.type === "publish" && p.topic !== "topics/x/7777") mine.push(p);
          }
        };
        collect();
        await echo(subscriber, "topics/x/7777", mark);
        collect();
      };
      // A warm-up round, so that one-time allocations are out of the measure.
      await send(0, 5_000, "warm");
      const before = memory();
      const total = 50_000;
      for (let from = 0; from < total; from += 5_000) await send(from, from + 5_000, "topics");
      const after = memory();
      assert.equal(broker.stats.retained, 0);
      assert.equal(broker.stats.subscriptions, 1);
      const growth = after.heap - before.heap;
      console.log(
        `${runtimeName()}: ${total} distinct topics: heap grew ${(growth / MiB).toFixed(2)} MiB ` +
          `(${(growth / total).toFixed(1)} bytes per topic)`,
      );
      // Kept per topic, 50,000 topics would take several MiB; the measured growth is below 1 MiB.
      assert.ok(growth < 4 * MiB, `heap grew ${growth} bytes`);
      assert.equal(mine.length, 1, "the one matching topic was delivered");
      assert.deepEqual(crashes, []);
      assert.deepEqual(log.errors, []);
    },
  );

  test(
    "startBroker() frees the retained store's topics when 20,000 retained messages are cleared",
    { timeout: 30_000 },
    async (t) => {
      const broker = await brokerFor(t);
      const publisher = await connect(broker, "publisher", 4);
      t.after(() => publisher.destroy());
      const total = 20_000;
      const payload = new Uint8Array(64).fill(0x68);
      const send = (empty: boolean, mark: number): Promise<void> => {
        const parts: Uint8Array[] = [];
        for (let i = 0; i < total; i++) {
          const packet = publish(
            `deep/${i % 10}/${i % 100}/${i}/leaf`,
            empty ? new Uint8Array(0) : payload,
          );
          packet.retain = true;
          parts.push(encodePacket(packet, 4));
        }
        parts.push(encodePacket(publish("mark", payload, 1, mark), 4));
        publisher.packets.length = 0;
        publisher.write(concat(parts));
        return publisher.until(() => publisher.packets.some((p) => p.type === "puback"), 20_000)
          .then((ok) => assert.ok(ok, "routed"));
      };
      // Warm-up (fill and clear once), then measure a second fill and clear.
      await send(false, 1);
      await send(true, 2);
      const before = memory();
      await send(false, 3);
      assert.equal(broker.stats.retained, total);
      const filled = memory();
      await send(true, 4);
      assert.equal(broker.stats.retained, 0);
      const cleared = memory();
      console.log(
        `${runtimeName()}: ${total} retained messages: heap +${
          ((filled.heap - before.heap) / MiB).toFixed(1)
        } MiB filled, ${((cleared.heap - before.heap) / MiB).toFixed(2)} MiB after clearing`,
      );
      assert.ok(cleared.heap - before.heap < 2 * MiB, "the trie is pruned when cleared");
    },
  );

  for (const version of [5, 4] as ProtocolVersion[]) {
    test(
      `startBroker() takes a flood of subscriptions from a v${version} client and frees them all`,
      { timeout: 30_000 },
      async (t) => {
        const crashes = watchCrashes(t);
        const log = errorLog();
        const broker = await brokerFor(t, { logger: log.logger, logTypes: ["error"] });
        const wire = await connect(broker, `subs-${version}`, version);
        t.after(() => wire.destroy());
        const publisher = await connect(broker, `publisher-${version}`, 5);
        t.after(() => publisher.destroy());
        // 10,000 filters in one SUBSCRIBE (about 180 KB), wildcards included.
        const many = 10_000;
        const filters: Subscription[] = [];
        for (let i = 0; i < many; i++) {
          const filter = i % 3 === 0 ? `one/${i}/+/x` : i % 3 === 1 ? `one/${i}/#` : `one/${i}/y`;
          filters.push(subscription(version, filter, (i % 3) as QoS));
        }
        // 5,000 SUBSCRIBEs of two filters each, to be written at once.
        const packets = 5_000;
        const parts: Uint8Array[] = [];
        for (let i = 0; i < packets; i++) {
          parts.push(encodePacket({
            type: "subscribe",
            packetId: i + 2,
            subscriptions: [
              subscription(version, `two/${i}/a`, 1),
              subscription(version, `two/+/${i}`, 0),
            ],
          }, version));
        }
        const subscribes = concat(parts);
        wire.packets.length = 0;
        const before = memory();
        wire.send({ type: "subscribe", packetId: 1, subscriptions: filters }, version);
        const suback = await wire.packet("suback", 10_000);
        assert.equal(suback?.reasonCodes.length, many);
        assert.ok(suback?.reasonCodes.every((code, i) => code === i % 3));
        assert.equal(broker.stats.subscriptions, many);
        wire.packets.length = 0;
        wire.write(subscribes);
        assert.ok(
          await wire.until(
            () => wire.packets.filter((p) => p.type === "suback").length === packets,
            20_000,
          ),
          "every SUBSCRIBE was acknowledged",
        );
        assert.equal(broker.stats.subscriptions, many + 2 * packets);
        // Resubscribing to the same filters replaces them: the count does not move.
        wire.packets.length = 0;
        wire.send({ type: "subscribe", packetId: 1, subscriptions: filters }, version);
        assert.ok(await wire.packet("suback", 10_000));
        assert.equal(broker.stats.subscriptions, many + 2 * packets);
        // Routing still works: the first four topics match one filter each, the last none.
        wire.packets.length = 0;
        for (const topic of ["one/3/z/x", "two/3/a", "two/9/3", "one/4/deep/er", "none/1"]) {
          publisher.send(publish(topic, new Uint8Array([1])), 5);
        }
        assert.ok(
          await wire.until(
            () => wire.packets.filter((p) => p.type === "publish").length >= 4,
            10_000,
          ),
        );
        const subscribed = memory();
        // A clean session's subscriptions go with its connection.
        wire.send(
          version === 5 ? { type: "disconnect", reasonCode: 0 } : { type: "disconnect" },
          version,
        );
        assert.ok(await wire.whenClosed(10_000));
        assert.equal(broker.stats.clientsConnected, 1);
        assert.equal(broker.stats.subscriptions, 0);
        const freed = memory();
        const total = many + 2 * packets;
        console.log(
          `${runtimeName()}: ${total} subscriptions (v${version}): heap +${
            ((subscribed.heap - before.heap) / MiB).toFixed(1)
          } MiB (${((subscribed.heap - before.heap) / total).toFixed(0)} bytes each), ${
            ((freed.heap - before.heap) / MiB).toFixed(2)
          } MiB after they were removed`,
        );
        // Kept, they would stay at the figure above (about 16 MiB).
        assert.ok(freed.heap - before.heap < 4 * MiB, "the subscriptions' memory is freed");
        assert.deepEqual(crashes, []);
        assert.deepEqual(log.errors, []);
      },
    );
  }
});
