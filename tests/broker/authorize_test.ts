/**
 * Authorization through `BrokerOptions.authorize` and the plugin chain: publish, subscribe
 * and per-message delivery checks, wills, retained messages, the order of the chain, the
 * user name authentication may set, and `broker.reload()`.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { AuthorizeRequest, BrokerPlugin } from "../../broker/types.ts";
import { nodeAdapter } from "../../socket/node.ts";
import { brokerFor, bytes, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };

/** Allows everything under `open/` and `<username>/`; records every request. */
function recorder(seen: AuthorizeRequest[]): (request: AuthorizeRequest) => boolean {
  return (request) => {
    seen.push({ ...request });
    return request.topic.startsWith("open/") ||
      (request.username !== undefined && request.topic.startsWith(`${request.username}/`));
  };
}

describe("broker authorization", () => {
  test("startBroker() refuses a denied v5 PUBLISH with 0x87 and routes nothing", T, async (t) => {
    const seen: AuthorizeRequest[] = [];
    const broker = await brokerFor(t, { authorize: recorder(seen) });
    const received: string[] = [];
    broker.subscribe("#", (m) => received.push(m.topic));
    const c = RawClient.memory(t, broker, 5);
    await c.connect("pub5", { username: "ann" });
    c.publish("secret/x", "no", { qos: 1, packetId: 1 });
    assert.equal((await c.next("puback")).reasonCode, 0x87);
    c.publish("secret/x", "no", { qos: 2, packetId: 2 });
    assert.equal((await c.next("pubrec")).reasonCode, 0x87);
    c.publish("ann/x", "yes", { qos: 1, packetId: 3, retain: true });
    assert.equal((await c.next("puback")).reasonCode, 0);
    assert.deepEqual(received, ["ann/x"]);
    const publish = seen.find((r) => r.action === "publish" && r.topic === "ann/x")!;
    assert.deepEqual(publish, {
      action: "publish",
      clientId: "pub5",
      username: "ann",
      topic: "ann/x",
      qos: 1,
      retain: true,
      shareName: undefined,
    });
  });

  test("startBroker() acknowledges and drops a denied v3.1.1 PUBLISH", T, async (t) => {
    const broker = await brokerFor(t, { authorize: recorder([]) });
    const received: string[] = [];
    broker.subscribe("#", (m) => received.push(m.topic));
    const c = RawClient.memory(t, broker, 4);
    await c.connect("pub4");
    c.publish("secret/x", "no", { qos: 1, packetId: 1 });
    await c.next("puback");
    c.publish("open/x", "yes", { qos: 1, packetId: 2 });
    await c.next("puback");
    assert.deepEqual(received, ["open/x"]);
  });

  test(
    "startBroker() refuses denied subscriptions per filter: 0x87 on v5, 0x80 on v3.1.1",
    T,
    async (t) => {
      const seen: AuthorizeRequest[] = [];
      const broker = await brokerFor(t, { authorize: recorder(seen) });
      const c5 = RawClient.memory(t, broker, 5);
      await c5.connect("sub5");
      assert.deepEqual(
        await c5.subscribe([{ filter: "open/#", qos: 1 }, { filter: "secret/#", qos: 1 }, {
          filter: "$share/g/open/+",
          qos: 2,
        }]),
        [1, 0x87, 2],
      );
      const shared = seen.find((r) => r.shareName !== undefined)!;
      assert.equal(shared.action, "subscribe");
      assert.equal(shared.topic, "open/+");
      assert.equal(shared.shareName, "g");
      const c4 = RawClient.memory(t, broker, 4);
      await c4.connect("sub4");
      assert.deepEqual(await c4.subscribe(["secret/a", "open/a"], { qos: 1 }), [0x80, 1]);
    },
  );

  test(
    "startBroker() checks every delivery: a # subscriber only receives what it may read",
    T,
    async (t) => {
      const broker = await brokerFor(t, {
        authorize: (r) => r.action !== "deliver" || !r.topic.startsWith("hidden/"),
      });
      broker.publish("hidden/r", "retained", { retain: true });
      broker.publish("shown/r", "retained", { retain: true });
      const c = RawClient.memory(t, broker, 5);
      await c.connect("reader");
      await c.subscribe(["#"], { qos: 1 });
      const retained = await c.next("publish");
      assert.equal(retained.topic, "shown/r");
      broker.publish("hidden/x", "1");
      broker.publish("shown/x", "2");
      const live = await c.next("publish");
      assert.equal(live.topic, "shown/x");
      assert.deepEqual(await c.drain(30), []);
      // The count the in-process publish reports leaves the denied delivery out.
      assert.equal(broker.publish("hidden/y", "3"), 0);
    },
  );

  test("startBroker() drops a will its client may not publish", T, async (t) => {
    const broker = await brokerFor(t, {
      authorize: (r) => r.action !== "publish" || r.topic !== "wills/denied",
    });
    const received: string[] = [];
    broker.subscribe("wills/#", (m) => received.push(m.topic));
    const denied = RawClient.memory(t, broker, 5);
    await denied.connect("w1", {
      will: { topic: "wills/denied", payload: bytes("x"), qos: 0, retain: false },
    });
    const allowed = RawClient.memory(t, broker, 5);
    await allowed.connect("w2", {
      will: { topic: "wills/allowed", payload: bytes("y"), qos: 0, retain: false },
    });
    denied.destroy();
    allowed.destroy();
    await Promise.all([denied.whenClosed(), allowed.whenClosed()]);
    // The broker handles both closes before a round trip on a new connection completes.
    const probe = RawClient.memory(t, broker, 5);
    await probe.connect("probe");
    assert.deepEqual(received, ["wills/allowed"]);
  });

  test(
    "startBroker() asks the chain in order: the first answer decides, all passing allows",
    T,
    async (t) => {
      const calls: string[] = [];
      const plugin = (name: string, answer: (r: AuthorizeRequest) => boolean | undefined) =>
        ({
          name,
          authorize: (r: AuthorizeRequest) => {
            calls.push(`${name}:${r.topic}`);
            return answer(r);
          },
        }) satisfies BrokerPlugin;
      const broker = await brokerFor(t, {
        authorize: (r) => r.topic === "a" ? true : undefined,
        plugins: [
          plugin("first", (r) => r.topic === "b" ? false : undefined),
          plugin("second", (r) => r.topic === "c" ? false : undefined),
        ],
      });
      const c = RawClient.memory(t, broker, 5);
      await c.connect("chain");
      const codes: number[] = [];
      for (const [i, topic] of ["a", "b", "c", "d"].entries()) {
        c.publish(topic, "x", { qos: 1, packetId: i + 1 });
        codes.push((await c.next("puback")).reasonCode ?? 0);
      }
      // a: allowed by the option; b, c: denied by a plugin; d: nobody answered, allowed
      // (0x10: no subscribers).
      assert.deepEqual(codes, [0x10, 0x87, 0x87, 0x10]);
      assert.deepEqual(calls, ["first:b", "first:c", "second:c", "first:d", "second:d"]);
    },
  );

  test("startBroker() authorizes with the user name authentication set", T, async (t) => {
    const plugins: BrokerPlugin[] = [
      { name: "pass", authenticate: () => undefined },
      {
        name: "identity",
        authenticate: (c) =>
          c.username === "device" ? { outcome: "accept", username: "d42" } : false,
      },
      { name: "acl", authorize: (r) => r.username === "d42" && r.topic.startsWith("d42/") },
    ];
    const broker = await brokerFor(t, { plugins });
    const c = RawClient.memory(t, broker, 5);
    assert.equal((await c.connect("dev", { username: "device" })).reasonCode, 0);
    assert.deepEqual(await c.subscribe(["d42/#", "device/#"]), [0, 0x87]);
    const other = RawClient.memory(t, broker, 5);
    assert.equal((await other.connect("other", { username: "nobody" })).reasonCode, 0x87);
  });

  test(
    "startBroker() sends the later steps of enhanced authentication to the plugin that answered",
    T,
    async (t) => {
      const steps: string[] = [];
      const plugins: BrokerPlugin[] = [
        { name: "other", authenticate: (c) => (steps.push(`other:${c.step}`), undefined) },
        {
          name: "challenge",
          authenticate: (c) => {
            steps.push(`challenge:${c.step}:${String(c.state)}`);
            if (c.step === 0) return { outcome: "continue", data: bytes("nonce"), state: "s1" };
            return text(c.data ?? new Uint8Array()) === "answer";
          },
        },
      ];
      const broker = await brokerFor(t, { plugins, authenticationMethods: ["TOY"] });
      const c = RawClient.memory(t, broker, 5);
      c.send({
        type: "connect",
        protocolVersion: 5,
        clientId: "enh",
        clean: true,
        keepAlive: 0,
        properties: { authenticationMethod: "TOY" },
      });
      const challenge = await c.next("auth");
      assert.equal(challenge.reasonCode, 0x18);
      assert.equal(text(challenge.properties!.authenticationData!), "nonce");
      c.send({
        type: "auth",
        reasonCode: 0x18,
        properties: { authenticationMethod: "TOY", authenticationData: bytes("answer") },
      });
      assert.equal((await c.next("connack")).reasonCode, 0);
      assert.deepEqual(steps, ["other:0", "challenge:0:undefined", "challenge:1:s1"]);
    },
  );

  test("startBroker() denies when the hook throws, and logs it", T, async (t) => {
    const lines: string[] = [];
    const broker = await brokerFor(t, {
      authorize: () => {
        throw new Error("boom");
      },
      logger: (_level, message) => lines.push(message),
    });
    const c = RawClient.memory(t, broker, 5);
    await c.connect("thrower");
    c.publish("x", "y", { qos: 1, packetId: 1 });
    assert.equal((await c.next("puback")).reasonCode, 0x87);
    assert.ok(lines.some((l) => l.includes("Authorization hook failed") && l.includes("boom")));
  });

  test("startBroker() gives a listener with plugins its own security chain", T, async (t) => {
    const locked: BrokerPlugin = {
      name: "locked",
      authenticate: (c) => c.username === "admin",
      authorize: (r) => r.topic.startsWith("admin/"),
    };
    const reloaded: string[] = [];
    const broker = await brokerFor(t, {
      listeners: [{ hostname: "127.0.0.1", port: 0 }, {
        hostname: "127.0.0.1",
        port: 0,
        plugins: [{ ...locked, reload: () => void reloaded.push("locked") }],
      }],
      authorize: (r) => !r.topic.startsWith("admin/"),
    });
    const open = await RawClient.tcp(t, broker, 5);
    assert.equal((await open.connect("open", { username: "anyone" })).reasonCode, 0);
    assert.deepEqual(await open.subscribe(["admin/x", "public/x"]), [0x87, 0]);
    const address = broker.addresses[1]!;
    const connectLocked = async (id: string, username: string) => {
      const socket = await nodeAdapter.connect({ hostname: address.hostname, port: address.port });
      const client = new RawClient(socket, 5);
      t.after(() => client.destroy());
      return [client, await client.connect(id, { username })] as const;
    };
    const [, refused] = await connectLocked("guest", "anyone");
    assert.equal(refused.reasonCode, 0x87);
    const [admin, accepted] = await connectLocked("admin", "admin");
    assert.equal(accepted.reasonCode, 0);
    assert.deepEqual(await admin.subscribe(["admin/x", "public/x"]), [0, 0x87]);
    await broker.reload();
    assert.deepEqual(reloaded, ["locked"]);
  });

  test(
    "startBroker() refuses an address with too many failed logins with 0x9F, before the hook",
    T,
    async (t) => {
      let calls = 0;
      const broker = await brokerFor(t, {
        maxAuthFailures: 2,
        authenticate: (c) => (calls++, text(c.password ?? new Uint8Array()) === "right"),
      });
      const attempt = async (password: string, version: 4 | 5 = 5) => {
        const c = await RawClient.tcp(t, broker, version);
        return (await c.connect("guess", { username: "u", password: bytes(password) }))
          .reasonCode;
      };
      assert.equal(await attempt("right"), 0);
      assert.equal(await attempt("wrong"), 0x87);
      assert.equal(await attempt("wrong"), 0x87);
      assert.equal(await attempt("right"), 0x9f);
      assert.equal(await attempt("right", 4), 3); // server unavailable
      assert.equal(calls, 3);
    },
  );

  test("Broker.reload() reloads every plugin and rejects with a failure", T, async (t) => {
    const reloaded: string[] = [];
    const failure = new Error("bad file");
    const broker = await brokerFor(t, {
      plugins: [
        { name: "a", reload: () => void reloaded.push("a") },
        {
          name: "b",
          reload: () => {
            reloaded.push("b");
            throw failure;
          },
        },
        { name: "c", reload: () => Promise.resolve().then(() => void reloaded.push("c")) },
      ],
    });
    await assert.rejects(broker.reload(), (e) => e === failure);
    assert.deepEqual(reloaded, ["a", "b", "c"]);
  });
});
