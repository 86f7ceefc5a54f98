import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { encodePacket } from "../../protocol/mod.ts";
import { brokerFor, bytes, RawClient, text } from "./_client.ts";

// The node adapter's high-water mark: write() reports congestion past it.
const HIGH_WATER_MARK = 64 * 1024;

describe("broker under a flood", () => {
  test(
    "startBroker() keeps a subscriber that never reads within its queue bound while others get their messages",
    { timeout: 60_000 },
    async (t) => {
      const maxQueuedMessages = 10;
      const maxInflightMessages = 5;
      const broker = await brokerFor(t, { maxQueuedMessages, maxInflightMessages });

      // The stalled subscriber: QoS 0 and QoS 1 subscriptions, then it stops reading.
      const slow = await RawClient.tcp(t, broker, 4);
      await slow.connect("slow");
      assert.deepEqual(
        await slow.subscribe([{ filter: "flood/q0", qos: 0 }, { filter: "flood/q1", qos: 1 }]),
        [0, 1],
      );
      slow.socket.pause();

      const fast = await RawClient.tcp(t, broker, 5);
      await fast.connect("fast");
      await fast.subscribe(["marker"], { qos: 1 });

      const pub = await RawClient.tcp(t, broker, 5);
      await pub.connect("pub");

      const payload = new Uint8Array(4096).fill(0x61);
      const size = encodePacket({
        type: "publish",
        topic: "flood/q1",
        payload,
        qos: 1,
        packetId: 1,
        retain: false,
        dup: false,
      }, 4).length;
      const rounds = 8;
      const perRound = 500; // 8 x 500 x 4 KiB = 16 MiB, more than loopback buffers hold
      let packetId = 0;
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < perRound; i++) {
          if (i % 10 === 0) {
            packetId++;
            pub.send({
              type: "publish",
              topic: "flood/q1",
              payload,
              qos: 1,
              packetId,
              retain: false,
              dup: false,
            });
          } else {
            pub.send({
              type: "publish",
              topic: "flood/q0",
              payload,
              qos: 0,
              retain: false,
              dup: false,
            });
          }
        }
        pub.send({
          type: "publish",
          topic: "marker",
          payload: bytes(`${round}`),
          qos: 1,
          packetId: 60_000 + round,
          retain: false,
          dup: false,
        });
        // The marker of every round reaches the other subscriber while the flood goes on.
        const marker = await fast.next("publish", 15_000);
        assert.equal(text(marker.payload), `${round}`);
        fast.send({ type: "puback", packetId: marker.packetId! });

        const info = broker.client("slow")!;
        assert.equal(info.connected, true);
        assert.ok(info.inflight <= maxInflightMessages, `in flight ${info.inflight}`);
        assert.ok(info.queuedMessages <= maxQueuedMessages, `queued ${info.queuedMessages}`);
        // Unsent bytes: at most the high-water mark plus what may be written past it (the
        // QoS 0 allowance and the in-flight window).
        const bound = HIGH_WATER_MARK + (maxQueuedMessages + maxInflightMessages + 1) * size;
        assert.ok(info.bufferedBytes <= bound, `buffered ${info.bufferedBytes} > ${bound}`);
      }
      const info = broker.client("slow")!;
      // The subscriber really stalled: its window and queue are full.
      assert.equal(info.inflight, maxInflightMessages);
      assert.equal(info.queuedMessages, maxQueuedMessages);
      assert.ok(info.dropped > 0, "the stalled subscriber's overflow is dropped");
      assert.ok(broker.stats.publishDropped >= info.dropped);
      assert.equal(broker.client("fast")!.dropped, 0);
    },
  );
});
