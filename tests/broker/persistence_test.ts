/**
 * Persistence with the SQLite store: persistent sessions (MQTT 3.1.1 and 5.0) with their
 * subscriptions and queued messages, retained messages and session expiry survive a broker
 * restart on the same file; a corrupt file is refused naming it. On a runtime without
 * `node:sqlite` (Node 20) opening a store is refused with a clear error instead.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { hasSqlite, sqliteSkip } from "../_sqlite.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker } from "../../broker/broker.ts";
import type { Broker, BrokerOptions } from "../../broker/types.ts";
import { openSqliteStore, StoreError } from "../../store/sqlite.ts";
import { RawClient, text } from "./_client.ts";

const T = { timeout: 20_000 };

const skip = sqliteSkip;

function tempFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "mq-store-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "mq.db");
}

/** Start a broker on the store file; closed after the test unless closed before. */
async function brokerOn(
  t: TestContext,
  file: string,
  options: BrokerOptions = {},
): Promise<Broker> {
  const broker = await startBroker({
    listeners: [],
    sysInterval: 0,
    store: await openSqliteStore(file),
    logger: (level, message) => level === "error" && console.error(message),
    ...options,
  });
  t.after(() => broker.close());
  return broker;
}

describe("broker persistence (SQLite store)", () => {
  for (const version of [4, 5] as const) {
    test(
      `startBroker() restores a v${
        version === 4 ? "3.1.1" : "5"
      } persistent session with its queued messages in order`,
      { ...T, skip },
      async (t) => {
        const file = tempFile(t);
        const connect = version === 5
          ? { clean: false, properties: { sessionExpiryInterval: 3600 } }
          : { clean: false };
        let broker = await brokerOn(t, file);
        const sub = RawClient.memory(t, broker, version);
        await sub.connect("sleeper", connect);
        await sub.subscribe([{ filter: "data/#", qos: 2 }], { packetId: 1 });
        sub.disconnect();
        await sub.whenClosed();
        const pub = RawClient.memory(t, broker, 5);
        await pub.connect("pub");
        for (let i = 1; i <= 5; i++) {
          pub.publish(`data/${i}`, `m${i}`, { qos: ((i % 2) + 1) as 1 | 2, packetId: i });
          await pub.next(i % 2 === 0 ? "puback" : "pubrec");
        }
        pub.publish("status", "kept", { qos: 1, retain: true, packetId: 9 });
        await pub.next("puback");
        await broker.close();

        broker = await brokerOn(t, file);
        const back = RawClient.memory(t, broker, version);
        const connack = await back.connect("sleeper", connect);
        assert.equal(connack.sessionPresent, true);
        const got: [string, string, number][] = [];
        while (got.length < 5) {
          const p = await back.next();
          if (p.type === "pubrel") {
            back.send({ type: "pubcomp", packetId: p.packetId, reasonCode: 0 });
            continue;
          }
          assert.equal(p.type, "publish");
          if (p.type !== "publish") break;
          got.push([p.topic, text(p.payload), p.qos]);
          back.send(
            p.qos === 1
              ? { type: "puback", packetId: p.packetId!, reasonCode: 0 }
              : { type: "pubrec", packetId: p.packetId!, reasonCode: 0 },
          );
        }
        assert.deepEqual(got, [
          ["data/1", "m1", 2],
          ["data/2", "m2", 1],
          ["data/3", "m3", 2],
          ["data/4", "m4", 1],
          ["data/5", "m5", 2],
        ]);
        // The subscription is still there: a new message reaches it.
        broker.publish("data/6", "m6", { qos: 1 });
        let sixth = await back.next();
        while (sixth.type === "pubrel") sixth = await back.next();
        assert.equal(sixth.type === "publish" && sixth.topic, "data/6");
        // And the retained message.
        const reader = RawClient.memory(t, broker, 5);
        await reader.connect("reader");
        await reader.subscribe(["status"]);
        assert.equal(text((await reader.next("publish")).payload), "kept");
      },
    );
  }

  test(
    "startBroker() resumes a QoS 2 delivery in flight across a restart exactly once",
    { ...T, skip },
    async (t) => {
      const file = tempFile(t);
      let broker = await brokerOn(t, file);
      const sub = RawClient.memory(t, broker, 5);
      const connect = { clean: false, properties: { sessionExpiryInterval: 600 } };
      await sub.connect("q2", connect);
      await sub.subscribe([{ filter: "x", qos: 2 }]);
      broker.publish("x", "once", { qos: 2 });
      const first = await sub.next("publish");
      sub.send({ type: "pubrec", packetId: first.packetId!, reasonCode: 0 });
      assert.equal((await sub.next("pubrel")).packetId, first.packetId);
      sub.destroy();
      await sub.whenClosed();
      await broker.close();
      broker = await brokerOn(t, file);
      const back = RawClient.memory(t, broker, 5);
      await back.connect("q2", connect);
      // Past PUBREC: only the PUBREL is resent, never the message.
      const rel = await back.next();
      assert.deepEqual(rel, { type: "pubrel", packetId: first.packetId, reasonCode: 0 });
      back.send({ type: "pubcomp", packetId: first.packetId!, reasonCode: 0 });
      assert.deepEqual(await back.drain(30), []);
    },
  );

  test("startBroker() honours session expiry across a restart", { ...T, skip }, async (t) => {
    const file = tempFile(t);
    let broker = await brokerOn(t, file);
    const short = RawClient.memory(t, broker, 5);
    await short.connect("short", { clean: false, properties: { sessionExpiryInterval: 1 } });
    await short.subscribe(["a"]);
    const long = RawClient.memory(t, broker, 5);
    await long.connect("long", { clean: false, properties: { sessionExpiryInterval: 600 } });
    short.disconnect();
    long.disconnect();
    await Promise.all([short.whenClosed(), long.whenClosed()]);
    await broker.close();
    // Wait out the short session's expiry while the broker is down.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    broker = await brokerOn(t, file);
    assert.equal(broker.client("short"), undefined);
    const back = RawClient.memory(t, broker, 5);
    const connack = await back.connect("long", {
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    assert.equal(connack.sessionPresent, true);
  });

  test(
    "startBroker() forgets delivered and expired queued messages across restarts (QoS 0 queued too)",
    { ...T, skip },
    async (t) => {
      const file = tempFile(t);
      const options = { queueQos0Messages: true };
      let broker = await brokerOn(t, file, options);
      const connect = { clean: false, properties: { sessionExpiryInterval: 600 } };
      const sub = RawClient.memory(t, broker, 5);
      await sub.connect("forget", connect);
      await sub.subscribe([{ filter: "f/#", qos: 1 }]);
      sub.disconnect();
      await sub.whenClosed();
      broker.publish("f/expires", "soon", { qos: 1, properties: { messageExpiryInterval: 1 } });
      broker.publish("f/zero", "qos0", { qos: 0 });
      broker.publish("f/one", "qos1", { qos: 1 });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const first = RawClient.memory(t, broker, 5);
      await first.connect("forget", connect);
      const got = [await first.next("publish"), await first.next("publish")];
      assert.deepEqual(got.map((p) => p.topic), ["f/zero", "f/one"]);
      first.send({ type: "puback", packetId: got[1]!.packetId!, reasonCode: 0 });
      first.disconnect();
      await first.whenClosed();
      await broker.close();
      broker = await brokerOn(t, file, options);
      const again = RawClient.memory(t, broker, 5);
      assert.equal((await again.connect("forget", connect)).sessionPresent, true);
      assert.deepEqual(await again.drain(50), []);
    },
  );

  test("startBroker() stores nothing of clean sessions", { ...T, skip }, async (t) => {
    const file = tempFile(t);
    let broker = await brokerOn(t, file);
    const c = RawClient.memory(t, broker, 4);
    await c.connect("clean", { clean: true });
    await c.subscribe(["a"]);
    c.disconnect();
    await c.whenClosed();
    await broker.close();
    broker = await brokerOn(t, file);
    const back = RawClient.memory(t, broker, 4);
    assert.equal((await back.connect("clean", { clean: false })).sessionPresent, false);
  });

  test(
    "openSqliteStore() refuses a file that is not an mq store, naming it",
    { ...T, skip },
    async (t) => {
      const file = tempFile(t);
      writeFileSync(file, "this is not a database, just some text ".repeat(100));
      await assert.rejects(openSqliteStore(file), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.equal(error.file, file);
        return true;
      });
    },
  );

  test(
    "openSqliteStore() refuses with a clear error where the runtime has no SQLite",
    { skip: hasSqlite ? "this runtime has node:sqlite" : false },
    async (t) => {
      const file = tempFile(t);
      await assert.rejects(openSqliteStore(file), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.match(error.message, /node:sqlite/);
        return true;
      });
    },
  );
});
