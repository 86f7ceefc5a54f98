/**
 * Persistence benchmark (not a test):
 *
 * 1. Restart speed: a store holding 100,000 retained messages and 10,000 persistent
 *    sessions (each with a subscription and 5 queued QoS 1 messages) is loaded by a broker
 *    start; prints the time.
 * 2. QoS 1 throughput from one publisher (a window of 100 in flight) to one persistent
 *    subscriber over loopback TCP, with persistence off and on.
 *
 * Run: `deno run -A scripts/bench_persistence.ts` or `bun scripts/bench_persistence.ts`
 * (Node 22.5+ too; Node 20 has no node:sqlite).
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker } from "../broker/broker.ts";
import type { StoreChanges, StoredSession } from "../broker/store.ts";
import { openSqliteStore } from "../store/sqlite.ts";
import { Decoder, encodePacket, type Packet, type PublishPacket } from "../protocol/mod.ts";
import { nodeAdapter } from "../socket/node.ts";
import type { Socket } from "../socket/types.ts";

const dir = mkdtempSync(join(tmpdir(), "mq-bench-store-"));

function publish(topic: string, payload: Uint8Array, qos: 0 | 1 = 1): PublishPacket {
  return { type: "publish", topic, payload, qos, retain: qos === 0, dup: false };
}

async function restartSpeed(): Promise<void> {
  const file = join(dir, "restart.db");
  const store = await openSqliteStore(file);
  const payload = new Uint8Array(64);
  const changes: StoreChanges = { sessions: new Map(), retained: new Map() };
  const now = Date.now();
  for (let i = 0; i < 100_000; i++) {
    const packet = { ...publish(`site/${i % 100}/device/${i}/state`, payload, 0), retain: true };
    changes.retained.set(packet.topic, { packet, storedAt: now });
  }
  for (let i = 0; i < 10_000; i++) {
    const session: StoredSession = {
      clientId: `device-${i}`,
      session: {
        protocolVersion: 4,
        sessionExpiryInterval: 0xffff_ffff,
        outgoing: [],
        queued: Array.from({ length: 5 }, (_, j) => ({
          packet: publish(`cmd/device-${i}/${j}`, payload),
          at: now,
        })),
        incoming: [],
      },
      subscriptions: [{
        filter: `cmd/device-${i}/#`,
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        identifier: 0,
      }],
      expiresAt: null,
      mount: "",
    };
    changes.sessions.set(session.clientId, { replace: session, messages: [] });
  }
  let t = performance.now();
  store.commit(changes);
  const written = performance.now() - t;
  store.close();
  t = performance.now();
  const broker = await startBroker({
    listeners: [],
    sysInterval: 0,
    store: await openSqliteStore(file),
  });
  const loaded = performance.now() - t;
  const stats = broker.stats;
  await broker.close();
  console.log(
    `restart: wrote 100,000 retained + 10,000 sessions (50,000 queued) in ${
      written.toFixed(0)
    } ms; broker start loading them: ${loaded.toFixed(0)} ms ` +
      `(retained ${stats.retained}, stored messages ${stats.messagesStored})`,
  );
}

/** A raw MQTT 3.1.1 connection: send packets, get packets back through a callback. */
async function raw(port: number, onPacket: (p: Packet) => void): Promise<Socket> {
  const socket = await nodeAdapter.connect({ hostname: "127.0.0.1", port });
  const decoder = new Decoder({ side: "client", protocolVersion: 4 });
  socket.setHandlers({
    onData(chunk) {
      decoder.push(chunk);
      for (let p = decoder.next(); p !== undefined; p = decoder.next()) onPacket(p);
    },
  });
  return socket;
}

async function throughput(persist: boolean, messages: number): Promise<number> {
  const broker = await startBroker({
    listeners: [{ hostname: "127.0.0.1", port: 0 }],
    sysInterval: 0,
    maxQueuedMessages: 0,
    ...(persist ? { store: await openSqliteStore(join(dir, `tp-${Date.now()}.db`)) } : {}),
  });
  const port = broker.addresses[0]!.port;
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  let connacked!: () => void;
  let ready = new Promise<void>((resolve) => (connacked = resolve));
  const sub: Socket = await raw(port, (p) => {
    if (p.type === "connack" || p.type === "suback") connacked();
    if (p.type === "publish") {
      sub.write(encodePacket({ type: "puback", packetId: p.packetId! }, 4));
      if (++received === messages) done();
    }
  });
  sub.write(
    encodePacket({
      type: "connect",
      protocolVersion: 4,
      clientId: "sub",
      clean: false,
      keepAlive: 0,
    }, 4),
  );
  await ready;
  ready = new Promise<void>((resolve) => (connacked = resolve));
  sub.write(
    encodePacket({ type: "subscribe", packetId: 1, subscriptions: [{ filter: "t", qos: 1 }] }, 4),
  );
  await ready;
  let sent = 0;
  let inflight = 0;
  const payload = new Uint8Array(64);
  const pump = (): void => {
    while (inflight < 100 && sent < messages) {
      sent++;
      inflight++;
      pub.write(encodePacket({ ...publish("t", payload), packetId: (sent % 65_535) + 1 }, 4));
    }
  };
  ready = new Promise<void>((resolve) => (connacked = resolve));
  const pub: Socket = await raw(port, (p) => {
    if (p.type === "connack") connacked();
    if (p.type === "puback") {
      inflight--;
      pump();
    }
  });
  pub.write(
    encodePacket({
      type: "connect",
      protocolVersion: 4,
      clientId: "pub",
      clean: true,
      keepAlive: 0,
    }, 4),
  );
  await ready;
  const t = performance.now();
  pump();
  await finished;
  const rate = messages / ((performance.now() - t) / 1000);
  pub.destroy();
  sub.destroy();
  await broker.close();
  return rate;
}

try {
  await restartSpeed();
  for (let round = 0; round < 3; round++) {
    const off = await throughput(false, 50_000);
    const on = await throughput(true, 50_000);
    console.log(
      `QoS 1, 1 publisher -> 1 persistent subscriber: persistence off ${
        Math.round(off).toLocaleString("en")
      } msg/s, on ${Math.round(on).toLocaleString("en")} msg/s (${(on / off).toFixed(2)}x)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
