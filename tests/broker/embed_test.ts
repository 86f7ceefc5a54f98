import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { startBroker } from "../../broker/mod.ts";
import { runBroker } from "../../cli/broker.ts";
import { MemoryNetwork } from "../../socket/memory.ts";
import { brokerFor, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };

describe("broker embedding API", () => {
  test("startBroker() binds port 0 and reports the address", T, async (t) => {
    const broker = await brokerFor(t);
    assert.equal(broker.addresses.length, 1);
    assert.equal(broker.addresses[0]!.hostname, "127.0.0.1");
    assert.ok(broker.addresses[0]!.port > 0);
  });

  test("startBroker() listens through an injected adapter", T, async (t) => {
    const network = new MemoryNetwork();
    const broker = await startBroker({
      listeners: [{ port: 1883 }],
      adapter: network,
      sysInterval: 0,
    });
    t.after(() => broker.close());
    const socket = await network.connect({ hostname: "x", port: broker.addresses[0]!.port });
    const client = new RawClient(socket, 4);
    t.after(() => client.destroy());
    assert.equal((await client.connect("mem")).reasonCode, 0);
  });

  test("startBroker() rejects out-of-range options with RangeError", T, async () => {
    await assert.rejects(startBroker({ maxQos: 3 as 0, listeners: [] }), RangeError);
    await assert.rejects(startBroker({ maxInflightMessages: -1, listeners: [] }), RangeError);
  });

  test(
    "Broker.publish() and Broker.subscribe() work in-process, with retained messages",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      broker.publish("in/kept", "old", { retain: true, qos: 1 });
      const got: string[] = [];
      const unsubscribe = broker.subscribe("in/#", (m) => {
        got.push(`${m.topic} ${text(m.payload)} q${m.qos} r${m.retain ? 1 : 0}`);
      }, { qos: 1 });
      const client = RawClient.memory(t, broker, 5);
      await client.connect("c");
      client.publish("in/live", "new", { qos: 2 });
      await client.next("pubrec");
      assert.equal(broker.publish("in/direct", "x"), 1);
      unsubscribe();
      assert.equal(broker.publish("in/direct", "y"), 0);
      assert.deepEqual(got, ["in/kept old q1 r1", "in/live new q1 r0", "in/direct x q0 r0"]);
      assert.throws(() => broker.subscribe("a/#/b", () => {}), TypeError);
      assert.throws(() => broker.publish("a/+", "x"), TypeError);
    },
  );

  test("Broker.close() sends v5 clients DISCONNECT 0x8B and closes every socket", T, async (t) => {
    const broker = await brokerFor(t);
    const v5 = await RawClient.tcp(t, broker, 5);
    await v5.connect("five");
    const v4 = await RawClient.tcp(t, broker, 4);
    await v4.connect("four");
    await broker.close();
    assert.equal((await v5.next("disconnect")).reasonCode, 0x8b);
    await v5.whenClosed();
    await v4.whenClosed();
    await broker.close(); // idempotent
  });

  test("startBroker() publishes $SYS topics as retained messages every sysInterval", {
    timeout: 10_000,
  }, async (t) => {
    const broker = await brokerFor(t, { sysInterval: 1 });
    const c = RawClient.memory(t, broker, 4);
    await c.connect("sys");
    await c.subscribe(["$SYS/broker/#"]);
    const seen = new Map<string, string>();
    while (!seen.has("$SYS/broker/uptime") || !seen.has("$SYS/broker/version")) {
      const p = await c.next("publish");
      seen.set(p.topic, text(p.payload));
    }
    assert.match(seen.get("$SYS/broker/version")!, /^mq version \d+\.\d+\.\d+/);
    assert.match(seen.get("$SYS/broker/uptime")!, /^\d+ seconds$/);
    // The next update counts this client
    for (;;) {
      const p = await c.next("publish", 3000);
      if (p.topic === "$SYS/broker/clients/connected") {
        assert.equal(text(p.payload), "1");
        assert.equal(p.retain, false);
        break;
      }
    }
  });

  test("startBroker() logs mosquitto-style lines through the logger hook", T, async (t) => {
    const lines: string[] = [];
    const broker = await brokerFor(t, { logger: (_level, message) => lines.push(message) });
    const c = RawClient.memory(t, broker, 4);
    await c.connect("logged");
    assert.ok(
      lines.some((l) => /^New client connected from .* as logged \(p4, c1, k0\)\.$/.test(l)),
    );
  });
});

describe("mq broker", () => {
  function host(lines: string[], adapter?: MemoryNetwork) {
    let stop: (() => void) | undefined;
    const h = {
      onSignal: (signal: string, handler: () => void) => {
        if (signal === "SIGTERM") stop = handler;
        return () => {};
      },
      stderr: (line: string) => void lines.push(line),
      stop: () => stop?.(),
    };
    return adapter === undefined ? h : { ...h, adapter };
  }

  test(
    "runBroker() returns 3 for -h and unknown options, 1 for -c on a host that cannot read files",
    T,
    async () => {
      const lines: string[] = [];
      assert.equal(await runBroker(["-h"], host(lines)), 3);
      assert.equal(await runBroker(["-x"], host(lines)), 3);
      assert.equal(await runBroker(["-p", "nope"], host(lines)), 3);
      assert.equal(await runBroker(["-c", "mq.yaml"], host(lines)), 1);
      assert.ok(lines.some((l) => /not supported yet/.test(l)));
    },
  );

  test(
    "runBroker() listens on loopback, hints at public listening and stops on a signal with 0",
    T,
    async () => {
      const lines: string[] = [];
      const network = new MemoryNetwork();
      const h = host(lines, network);
      let listening!: () => void;
      const ready = new Promise<void>((resolve) => (listening = resolve));
      const run = runBroker(["-p", "18830", "-v"], { ...h, onListening: () => listening() });
      await ready;
      const socket = await network.connect({ hostname: "127.0.0.1", port: 18830 });
      const client = new RawClient(socket, 4);
      assert.equal((await client.connect("cli")).reasonCode, 0);
      h.stop();
      assert.equal(await run, 0);
      await client.whenClosed();
      const log = lines.join("\n");
      assert.match(log, /^\d+: Starting in local only mode/m);
      assert.match(log, /-p 0\.0\.0\.0:18830/);
      assert.match(log, /Received CONNECT from/);
    },
  );

  test("runBroker() exits 1 when it cannot listen", T, async (t) => {
    const broker = await brokerFor(t);
    const lines: string[] = [];
    const port = String(broker.addresses[0]!.port);
    assert.equal(await runBroker(["-p", port], host(lines)), 1);
  });
});
