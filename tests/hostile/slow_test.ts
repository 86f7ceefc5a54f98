/**
 * Slow and silent clients over real sockets: a CONNECT trickled one byte at a time
 * (slowloris), and sockets that never send CONNECT at all. The connect timeout is whole
 * seconds and the broker checks it on a 500 ms sweep, so a connection without an accepted
 * CONNECT is closed between `connectTimeout` and `connectTimeout` + 0.5 s after it opened.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { Broker } from "../../broker/types.ts";
import type { ProtocolVersion } from "../../protocol/mod.ts";
import { brokerFor } from "../broker/_client.ts";
import { connectBytes, errorLog, watchCrashes, Wire } from "./_helpers.ts";

const CONNECT_TIMEOUT = 1;
const SWEEP = 500;
// Timers and the loopback on two busy cores: room beyond the sweep.
const SLACK = 1_500;

// Send `bytes` one at a time, `pause` ms apart (the deliberate pacing of a slowloris), until
// sent or the socket closes. Returns how many bytes went out.
async function trickle(wire: Wire, bytes: Uint8Array, pause: number): Promise<number> {
  let sent = 0;
  for (const byte of bytes) {
    if (wire.closed) break;
    wire.write(new Uint8Array([byte]));
    sent++;
    if (sent < bytes.length) await new Promise((resolve) => setTimeout(resolve, pause));
  }
  return sent;
}

// A well-behaved client still gets through: CONNECT, SUBSCRIBE, a QoS 1 round trip.
async function roundTrip(broker: Broker, id: string): Promise<void> {
  const wire = await Wire.open(broker, 5);
  try {
    wire.write(connectBytes(id, 5));
    assert.equal((await wire.packet("connack", 5_000))?.reasonCode, 0);
    wire.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [{
        filter: `${id}/t`,
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      }],
    }, 5);
    assert.deepEqual((await wire.packet("suback", 5_000))?.reasonCodes, [1]);
    wire.send({
      type: "publish",
      topic: `${id}/t`,
      payload: new Uint8Array([1]),
      qos: 1,
      packetId: 2,
      retain: false,
      dup: false,
    }, 5);
    assert.ok(await wire.packet("publish", 5_000), "the well-behaved client got its message");
    assert.ok(await wire.packet("puback", 5_000));
    // DISCONNECT: the broker ends the session and closes.
    wire.send({ type: "disconnect", reasonCode: 0 }, 5);
    assert.ok(await wire.whenClosed(5_000));
  } finally {
    wire.destroy();
  }
}

describe("hostile clients: slow and silent", () => {
  test(
    "startBroker() accepts a CONNECT trickled in before the connect timeout and closes a slowloris at it",
    { timeout: 20_000 },
    async (t) => {
      const crashes = watchCrashes(t);
      const broker = await brokerFor(t, { connectTimeout: CONNECT_TIMEOUT });
      // Three clients trickle a CONNECT at 20 ms per byte (about 400 ms in all), well inside
      // the timeout.
      const accepted = Promise.all(([5, 4, 3] as ProtocolVersion[]).map(async (version) => {
        const start = performance.now();
        const wire = await Wire.open(broker, version);
        t.after(() => wire.destroy());
        const connect = connectBytes(`slow-${version}`, version);
        assert.equal(await trickle(wire, connect, 20), connect.length);
        const connack = await wire.packet("connack", 5_000);
        assert.equal(connack?.reasonCode, 0);
        return { wire, version, start };
      }));
      // 100 slowlorises, mixed versions, at 100 ms per byte: the CONNECT would take about
      // two seconds, twice the timeout.
      const lorises = Promise.all(Array.from({ length: 100 }, async (_, i) => {
        const version: ProtocolVersion = i % 2 === 0 ? 5 : 4;
        const start = performance.now();
        const wire = await Wire.open(broker, version);
        t.after(() => wire.destroy());
        const connect = connectBytes(`loris-${i}`, version);
        const sent = await trickle(wire, connect, 100);
        await wire.whenClosed(CONNECT_TIMEOUT * 1000 + SWEEP + SLACK);
        return { wire, sent, total: connect.length, elapsed: wire.closedAt - start };
      }));
      // Meanwhile a normal client is served.
      await roundTrip(broker, "normal");
      for (const { wire, sent, total, elapsed } of await lorises) {
        assert.ok(wire.closed, "closed at the connect timeout");
        assert.ok(sent < total, `only part of the CONNECT went out (${sent}/${total})`);
        assert.deepEqual(wire.packets, [], "nothing is sent before CONNECT completes");
        assert.ok(elapsed >= CONNECT_TIMEOUT * 1000, `closed after ${elapsed} ms, too early`);
        assert.ok(elapsed <= CONNECT_TIMEOUT * 1000 + SWEEP + SLACK, `closed after ${elapsed} ms`);
      }
      // Once accepted, the connect timeout no longer applies (and keep alive is 0): still
      // open past the latest moment it would have closed them, and served.
      const trickled = await accepted;
      const past = Math.max(...trickled.map(({ start }) => start)) + CONNECT_TIMEOUT * 1000 +
        SWEEP + 500 - performance.now();
      assert.equal(await trickled[0]!.wire.whenClosed(Math.max(0, past)), false);
      for (const { wire, version } of trickled) {
        wire.send({ type: "pingreq" }, version);
        assert.ok(await wire.packet("pingresp", 5_000));
        assert.ok(!wire.closed);
      }
      assert.equal(broker.stats.clientsConnected, 3);
      assert.deepEqual(crashes, []);
    },
  );

  test(
    "startBroker() closes 500 sockets that never send CONNECT at the connect timeout and keeps serving",
    { timeout: 20_000 },
    async (t) => {
      const crashes = watchCrashes(t);
      const log = errorLog();
      const broker = await brokerFor(t, {
        connectTimeout: CONNECT_TIMEOUT,
        logger: log.logger,
        logTypes: ["error"],
      });
      const count = 500;
      const wires = await Promise.all(Array.from({ length: count }, async () => {
        const start = performance.now();
        const wire = await Wire.open(broker, 4);
        t.after(() => wire.destroy());
        return { wire, start, connected: performance.now() };
      }));
      // While they sit there, a normal client connects and round-trips.
      await roundTrip(broker, "normal");
      const bound = CONNECT_TIMEOUT * 1000 + SWEEP + SLACK;
      const closed = await Promise.all(wires.map(({ wire }) => wire.whenClosed(bound)));
      assert.equal(closed.filter((c) => !c).length, 0, "every silent socket was closed");
      for (const { wire, start, connected } of wires) {
        assert.deepEqual(wire.packets, []);
        // The broker accepted the socket after `start`: it may not close it before the timeout.
        const elapsed = wire.closedAt - start;
        assert.ok(elapsed >= CONNECT_TIMEOUT * 1000, `closed after ${elapsed} ms, too early`);
        assert.ok(elapsed <= bound + (connected - start), `closed after ${elapsed} ms`);
      }
      assert.equal(broker.stats.sockets, count + 1);
      assert.equal(broker.stats.connections, 1);
      assert.equal(broker.stats.clientsConnected, 0);
      assert.deepEqual(crashes, []);
      assert.deepEqual(log.errors, []);
    },
  );
});
