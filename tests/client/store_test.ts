/**
 * Resuming QoS 1 and 2 across a client restart: a client is cut off mid-flow (no
 * DISCONNECT, as if its process died), and a new client with the same client id and the
 * same store resumes the session, against our broker and Debian's mosquitto.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { connect } from "../../client/connect.ts";
import { ConnectionClosedError } from "../../client/errors.ts";
import type { MqttClient } from "../../client/client.ts";
import type { ClientOptions } from "../../client/options.ts";
import { type InFlightStore, MemoryStore } from "../../client/store.ts";
import type { Packet, PublishPacket } from "../../protocol/packet.ts";
import { loadTcpAdapter } from "../../socket/runtime.ts";
import { acceptAll, FakeBroker } from "./_fake.ts";
import { brokerFor, clientFor, deferred, take, text } from "./_helpers.ts";
import { skip as mosquittoSkip, startMosquitto } from "./_mosquitto.ts";
import { PersistedStore } from "./_persisted_store.ts";
import { type Direction, Tap } from "./_tap.ts";

interface Target {
  name: string;
  skip: string | undefined;
  start(t: TestContext): Promise<{ hostname: string; port: number }>;
}

const targets: Target[] = [
  {
    name: "our broker",
    skip: undefined,
    async start(t) {
      const broker = await brokerFor(t);
      const { hostname, port } = broker.addresses[0]!;
      return { hostname, port };
    },
  },
  {
    name: "mosquitto",
    skip: mosquittoSkip,
    async start(t) {
      const { port } = await startMosquitto(t);
      return { hostname: "127.0.0.1", port };
    },
  },
];

/** A started target with helpers to connect clients to it. */
async function setUp(t: TestContext, target: Target, protocolVersion: 4 | 5) {
  const { hostname, port } = await target.start(t);
  const url = `mqtt://${hostname}:${port}`;
  const adapter = await loadTcpAdapter();
  const open = ({ signal }: { signal: AbortSignal }) => adapter.connect({ hostname, port, signal });
  const client = async (options: ClientOptions = {}): Promise<MqttClient> => {
    const c = await connect(url, { protocolVersion, ...options });
    t.after(() => c.end());
    return c;
  };
  /** Options of a persistent session that a cut ends for good. */
  const session = (clientId: string): ClientOptions => ({
    clientId,
    clean: false,
    reconnect: false,
    ...(protocolVersion === 5 ? { sessionExpiryInterval: 300 } : {}),
  });
  return { client, session, tap: () => new Tap(open) };
}

function cutAt(type: Packet["type"], direction: Direction) {
  return (packet: Packet, d: Direction) => packet.type === type && d === direction;
}

/** Resolves with the payloads received on `filter` up to and including "end". */
async function collect(subscriber: MqttClient, filter: string) {
  const received: string[] = [];
  const done = deferred<string[]>();
  await subscriber.subscribe(filter, {
    qos: 2,
    onMessage: (m) => {
      received.push(text(m.payload));
      if (text(m.payload) === "end") done.resolve(received);
    },
  });
  return done.promise;
}

const QOS2_CUTS = [
  {
    at: "pubrec" as const,
    direction: "in" as const,
    awaiting: "pubrec",
    resent: ["publish", "pubrel"],
  },
  { at: "pubrel" as const, direction: "out" as const, awaiting: "pubcomp", resent: ["pubrel"] },
  { at: "pubcomp" as const, direction: "in" as const, awaiting: "pubcomp", resent: ["pubrel"] },
];

for (const target of targets) {
  describe(`MqttClient store resumes across a restart against ${target.name}`, {
    skip: target.skip,
  }, () => {
    for (const protocolVersion of [5, 4] as const) {
      const async = protocolVersion === 4;
      const kind = `protocol ${protocolVersion}, ${async ? "async" : "sync"} store`;

      for (const cut of QOS2_CUTS) {
        test(
          `MqttClient.publish() QoS 2 cut at ${cut.at} (${cut.direction}) is delivered once after a restart, ${kind}`,
          { timeout: 20_000 },
          async (t) => {
            const { client, session, tap } = await setUp(t, target, protocolVersion);
            const received = collect(await client(), "resume/#");
            const disk = new Map<string, string>();
            const options = session(`out-qos2-${cut.at}-${protocolVersion}`);

            const tap1 = tap();
            tap1.rule = cutAt(cut.at, cut.direction);
            const first = await client({
              ...options,
              transport: tap1.transport,
              store: new PersistedStore(disk, { async }),
            });
            await assert.rejects(
              first.publish("resume/x", "once", { qos: 2 }),
              ConnectionClosedError,
            );
            await first.closed;
            const stored = new PersistedStore(disk).peek();
            assert.equal(stored.outgoing.length, 1);
            assert.equal(stored.outgoing[0]!.awaiting, cut.awaiting);
            const id = stored.outgoing[0]!.packet.packetId!;

            const tap2 = tap();
            const store = new PersistedStore(disk, { async });
            const second = await client({ ...options, transport: tap2.transport, store });
            assert.equal(second.connack?.sessionPresent, true);
            await store.until((s) => s.outgoing.length === 0);
            const resent = tap2.packets("out").filter((p) =>
              p.type === "publish" || p.type === "pubrel"
            );
            assert.deepEqual(resent.map((p) => p.type), cut.resent);
            for (const p of resent) assert.equal((p as { packetId: number }).packetId, id);
            if (resent[0]!.type === "publish") assert.equal((resent[0] as PublishPacket).dup, true);

            await second.publish("resume/x", "end", { qos: 2 });
            assert.deepEqual(await received, ["once", "end"]);
          },
        );
      }

      test(
        `MqttClient.publish() QoS 1 cut before PUBACK is resent with DUP after a restart, ${kind}`,
        { timeout: 20_000 },
        async (t) => {
          const { client, session, tap } = await setUp(t, target, protocolVersion);
          const received = collect(await client(), "resume/#");
          const disk = new Map<string, string>();
          const options = session(`out-qos1-${protocolVersion}`);

          const tap1 = tap();
          tap1.rule = cutAt("puback", "in");
          const first = await client({
            ...options,
            transport: tap1.transport,
            store: new PersistedStore(disk, { async }),
          });
          await assert.rejects(
            first.publish("resume/x", "once", { qos: 1 }),
            ConnectionClosedError,
          );
          const sent = tap1.packets("out").find((p) => p.type === "publish") as PublishPacket;
          assert.equal(sent.dup, false);

          const tap2 = tap();
          const store = new PersistedStore(disk, { async });
          const second = await client({ ...options, transport: tap2.transport, store });
          await store.until((s) => s.outgoing.length === 0);
          const resent = tap2.packets("out").filter((p) => p.type === "publish");
          assert.equal(resent.length, 1);
          assert.equal((resent[0] as PublishPacket).dup, true);
          assert.equal((resent[0] as PublishPacket).packetId, sent.packetId);
          assert.equal(text((resent[0] as PublishPacket).payload), "once");

          await second.publish("resume/x", "end", { qos: 1 });
          const got = await received;
          // At least once: the broker may deliver the resent copy too.
          assert.equal(got.at(-1), "end");
          assert.ok(got.length >= 2 && got.length <= 3);
          assert.ok(got.slice(0, -1).every((m) => m === "once"));
        },
      );

      for (
        const cut of [{ at: "pubrec", direction: "out" }, {
          at: "pubrel",
          direction: "in",
        }] as const
      ) {
        test(
          `MqttClient delivers an incoming QoS 2 message once across a restart cut at ${cut.at} (${cut.direction}), ${kind}`,
          { timeout: 20_000 },
          async (t) => {
            const { client, session, tap } = await setUp(t, target, protocolVersion);
            const publisher = await client();
            const disk = new Map<string, string>();
            const options = session(`in-qos2-${cut.at}-${protocolVersion}`);

            const tap1 = tap();
            const firstGot: string[] = [];
            const first = await client({
              ...options,
              transport: tap1.transport,
              store: new PersistedStore(disk, { async }),
            });
            await first.subscribe("inbound/#", {
              qos: 2,
              onMessage: (m) => firstGot.push(text(m.payload)),
            });
            tap1.rule = cutAt(cut.at, cut.direction);
            await publisher.publish("inbound/x", "once", { qos: 2 });
            await first.closed;
            assert.deepEqual(firstGot, ["once"]);
            const stored = new PersistedStore(disk).peek();
            assert.equal(stored.incoming.length, 1);
            const id = stored.incoming[0]!;

            const tap2 = tap();
            const store = new PersistedStore(disk, { async });
            const secondGot: string[] = [];
            const end = deferred<void>();
            await client({
              ...options,
              transport: tap2.transport,
              store,
              onMessage: (m) => {
                secondGot.push(text(m.payload));
                if (text(m.payload) === "end") end.resolve();
              },
            });
            await publisher.publish("inbound/x", "end", { qos: 2 });
            await end.promise;
            assert.deepEqual(secondGot, ["end"]);
            await tap2.waitFor("out", (p) => p.type === "pubcomp" && p.packetId === id);
            await store.until((s) => s.incoming.length === 0);
            const inbound = tap2.packets("in").filter((p) =>
              (p.type === "publish" || p.type === "pubrel") && p.packetId === id
            );
            // The broker resent the PUBLISH (with DUP) when it had no PUBREC, else PUBREL.
            const first0 = inbound[0]!;
            if (cut.at === "pubrec") {
              assert.equal(first0.type, "publish");
              assert.equal((first0 as PublishPacket).dup, true);
            } else {
              assert.equal(first0.type, "pubrel");
            }
            assert.equal(inbound.at(-1)!.type, "pubrel");
            const answers = tap2.packets("out").filter((p) =>
              p.type === "pubcomp" && p.packetId === id
            );
            assert.equal(answers.length, 1);
          },
        );
      }
    }
  });
}

describe("MqttClient store", () => {
  test("MqttClient sends stored messages again when the broker has no session", {
    timeout: 10_000,
  }, async (t) => {
    const broker = await brokerFor(t);
    const watcher = await clientFor(t, broker);
    const sub = await watcher.subscribe("stored", { qos: 1 });
    const store = new MemoryStore();
    store.putOutgoing({
      type: "publish",
      topic: "stored",
      payload: new TextEncoder().encode("left over"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 7,
    });
    store.putIncoming(9);
    const client = await clientFor(t, broker, { store });
    assert.equal(client.connack?.sessionPresent, false);
    assert.equal(text((await take(sub, 1))[0]!.payload), "left over");
    await client.publish("stored", "new", { qos: 1 });
    assert.equal(store.size, 0);
  });

  test("MqttClient writes nothing before an async store call settles", {
    timeout: 10_000,
  }, async (t) => {
    const fake = new FakeBroker(acceptAll());
    t.after(() => fake.close());
    let stored = 0;
    const calls: string[] = [];
    const store = new MemoryStore();
    const slow: InFlightStore = {
      putOutgoing(packet) {
        calls.push("put");
        return new Promise<void>((resolve) =>
          setTimeout(() => {
            store.putOutgoing(packet);
            stored++;
            resolve();
          }, 5)
        );
      },
      releaseOutgoing: (id) => store.releaseOutgoing(id),
      deleteOutgoing: (id) => store.deleteOutgoing(id),
      putIncoming: (id) => store.putIncoming(id),
      deleteIncoming: (id) => store.deleteIncoming(id),
      load: () => store.load(),
    };
    const handler = acceptAll();
    fake.handler = (packet, c) => {
      if (packet.type === "publish") calls.push(`publish seen with ${stored} stored`);
      handler(packet, c);
    };
    const client = await connect("mqtt://fake", {
      transport: fake.transport,
      store: slow,
      reconnect: false,
    });
    t.after(() => client.end());
    await Promise.all([
      client.publish("a", "1", { qos: 1 }),
      client.publish("b", "2", { qos: 1 }),
    ]);
    assert.deepEqual(calls, [
      "put",
      "put",
      "publish seen with 2 stored",
      "publish seen with 2 stored",
    ]);
    assert.equal(store.size, 0);
  });

  test("connect() rejects with the error of a store that cannot load", {
    timeout: 10_000,
  }, async (t) => {
    const fake = new FakeBroker(acceptAll());
    t.after(() => fake.close());
    const failure = new Error("disk on fire");
    const store = Object.assign(new MemoryStore(), {
      load: () => Promise.reject(failure),
    });
    await assert.rejects(
      connect("mqtt://fake", { transport: fake.transport, store }),
      (e) => e === failure,
    );
    const bad = Object.assign(new MemoryStore(), {
      load: () => ({ outgoing: [], incoming: [0] }),
    });
    await assert.rejects(
      connect("mqtt://fake", { transport: fake.transport, store: bad }),
      RangeError,
    );
    assert.equal(fake.connections.length, 0);
  });

  test("MqttClient.end() waits for pending store calls", { timeout: 10_000 }, async (t) => {
    const fake = new FakeBroker(acceptAll());
    t.after(() => fake.close());
    const disk = new Map<string, string>();
    const store = new PersistedStore(disk, { async: true });
    const client = await connect("mqtt://fake", { transport: fake.transport, store });
    t.after(() => client.end());
    await client.publish("a", "1", { qos: 2 });
    await client.end();
    assert.deepEqual(store.calls.slice(-1), ["deleteOutgoing 1"]);
    assert.deepEqual(new PersistedStore(disk).peek(), { outgoing: [], incoming: [] });
    assert.equal(fake.received.at(-1)?.type, "disconnect");
  });
});
