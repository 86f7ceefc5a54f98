/**
 * Server-side normative statements about what the broker sends within the client's limits
 * (Maximum Packet Size, Topic Alias Maximum, property lengths), message expiry during QoS 2
 * exchanges and shared subscriptions, named by their ids for scripts/conformance_report.ts
 * (see conformance_test.ts for the conventions). A tapped client also records the raw
 * frames the broker sends, to check their sizes and bytes.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import type { Broker } from "../../broker/types.ts";
import type { ConnectPacket, Packet, PacketName } from "../../protocol/mod.ts";
import { memoryPair } from "../../socket/memory.ts";
import type { Socket } from "../../socket/types.ts";
import { brokerFor, bytes, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };

async function barrier(c: RawClient): Promise<void> {
  c.send({ type: "pingreq" });
  await c.next("pingresp");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Resolves when the broker has finished with the client's connection.
function disconnected(broker: Broker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const off = broker.on("disconnect", (event) => {
      if (event.clientId !== clientId) return;
      off();
      resolve();
    });
  });
}

// Cut whole MQTT packets off the front of `buffer` into `frames`; returns the rest.
function splitFrames(buffer: Uint8Array, frames: Uint8Array[]): Uint8Array {
  let at = 0;
  for (;;) {
    let length = 0;
    let multiplier = 1;
    let i = at + 1;
    for (;;) {
      if (i >= buffer.length) return buffer.slice(at);
      const digit = buffer[i++]!;
      length += (digit & 0x7f) * multiplier;
      multiplier *= 128;
      if ((digit & 0x80) === 0) break;
    }
    if (i + length > buffer.length) return buffer.slice(at);
    frames.push(buffer.slice(at, i + length));
    at = i + length;
  }
}

/** A raw client attached to the broker through a memory pair, recording each raw frame it receives. */
function tapped(
  t: TestContext,
  broker: Broker,
  version: 4 | 5 = 5,
): { client: RawClient; frames: Uint8Array[] } {
  const [a, b] = memoryPair();
  broker.connect(a);
  const frames: Uint8Array[] = [];
  let rest: Uint8Array = new Uint8Array(0);
  const socket: Socket = {
    setHandlers(handlers) {
      b.setHandlers({
        ...handlers,
        onData(chunk) {
          const joined = new Uint8Array(rest.length + chunk.length);
          joined.set(rest);
          joined.set(chunk, rest.length);
          rest = splitFrames(joined, frames);
          handlers.onData?.(chunk);
        },
      });
    },
    write: (data) => b.write(data),
    close: () => b.close(),
    destroy: (error) => b.destroy(error),
    pause: () => b.pause(),
    resume: () => b.resume(),
    get closed() {
      return b.closed;
    },
    get bufferedAmount() {
      return b.bufferedAmount;
    },
    get encrypted() {
      return b.encrypted;
    },
    get remoteAddress() {
      return b.remoteAddress;
    },
    get localAddress() {
      return b.localAddress;
    },
  };
  const client = new RawClient(socket, version);
  t.after(() => client.destroy());
  return { client, frames };
}

// The Reason String and User Properties of a packet, if it has any.
function problemInformation(packet: Packet): unknown[] {
  const properties = "properties" in packet ? packet.properties : undefined;
  return [properties?.reasonString, properties?.userProperties];
}

const TYPES: Record<number, PacketName> = {
  2: "connack",
  4: "puback",
  5: "pubrec",
  6: "pubrel",
  7: "pubcomp",
  9: "suback",
  11: "unsuback",
  14: "disconnect",
  15: "auth",
};

function typesOf(frames: Uint8Array[]): Set<PacketName> {
  return new Set(frames.map((f) => TYPES[f[0]! >> 4]!).filter((x) => x !== undefined));
}

describe("broker conformance: limits of what is sent", () => {
  test(
    "startBroker() sends every acknowledgement within a small Maximum Packet Size, with no Reason String or User Property (v5) [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2] [MQTT-3.5.2-3] [MQTT-3.6.2-2] [MQTT-3.6.2-3] [MQTT-3.7.2-2] [MQTT-3.7.2-3] [MQTT-3.9.2-1] [MQTT-3.9.2-2] [MQTT-3.11.2-1] [MQTT-3.11.2-2]",
    T,
    async (t) => {
      const MAX = 32;
      const broker = await brokerFor(t, {
        authorize: (r) => !(r.action !== "deliver" && r.topic.startsWith("deny/")),
      });
      const { client: c, frames } = tapped(t, broker);
      const got: Packet[] = [];
      async function expect<N extends PacketName>(type: N, code?: number): Promise<void> {
        const p = await c.next(type);
        got.push(p);
        if (code !== undefined) assert.equal((p as { reasonCode?: number }).reasonCode, code);
      }
      await c.connect("small", { properties: { maximumPacketSize: MAX } });
      // SUBACK with a granted QoS and a refusal (0x87)
      c.send({
        type: "subscribe",
        packetId: 1,
        subscriptions: [
          { filter: "ok/#", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
          { filter: "deny/x", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        ],
      });
      const suback = await c.next("suback");
      got.push(suback);
      assert.deepEqual(suback.reasonCodes, [2, 0x87]);
      // Refused publications: PUBACK 0x87, PUBREC 0x87
      c.publish("deny/1", "x", { qos: 1, packetId: 1 });
      await expect("puback", 0x87);
      c.publish("deny/2", "x", { qos: 2, packetId: 2 });
      await expect("pubrec", 0x87);
      // An accepted QoS 2 publication with no subscriber: PUBREC 0x10, PUBCOMP
      c.publish("none/3", "x", { qos: 2, packetId: 3 });
      await expect("pubrec", 0x10);
      c.send({ type: "pubrel", packetId: 3, reasonCode: 0 });
      await expect("pubcomp", 0);
      // PUBREL and PUBCOMP for unknown packet ids: 0x92
      c.send({ type: "pubrel", packetId: 99, reasonCode: 0 });
      await expect("pubcomp", 0x92);
      c.send({ type: "pubrec", packetId: 77, reasonCode: 0 });
      await expect("pubrel", 0x92);
      // A QoS 2 delivery: PUBREL after PUBREC
      broker.publish("ok/1", "y", { qos: 2 });
      const m = await c.next("publish");
      c.send({ type: "pubrec", packetId: m.packetId!, reasonCode: 0 });
      await expect("pubrel");
      c.send({ type: "pubcomp", packetId: m.packetId!, reasonCode: 0 });
      // UNSUBACK with success and 0x11 (no subscription existed)
      c.send({ type: "unsubscribe", packetId: 4, filters: ["ok/#", "never"] });
      const unsuback = await c.next("unsuback");
      got.push(unsuback);
      assert.deepEqual(unsuback.reasonCodes, [0, 0x11]);
      await barrier(c);
      for (const p of got) assert.deepEqual(problemInformation(p), [undefined, undefined]);
      for (const f of frames) assert.ok(f.length <= MAX, `a frame of ${f.length} bytes`);
      for (const type of ["puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback"] as const) {
        assert.ok(typesOf(frames).has(type), type);
      }
    },
  );

  test(
    "startBroker() leaves Reason String and User Properties out of CONNACK, AUTH and DISCONNECT beyond the client's Maximum Packet Size (v5) [MQTT-3.2.2-19] [MQTT-3.2.2-20] [MQTT-3.14.2-3] [MQTT-3.14.2-4] [MQTT-3.15.2-2] [MQTT-3.15.2-3]",
    T,
    async (t) => {
      const METHOD = "TOY";
      const long = "x".repeat(200);
      const broker = await brokerFor(t, {
        authenticationMethods: [METHOD],
        authenticate: (context) =>
          context.clientId === "refused"
            ? { outcome: "refuse", reasonString: long }
            : context.reauthenticate
            ? { outcome: "refuse", reasonString: long }
            : context.step === 0
            ? { outcome: "continue", reasonString: long }
            : { outcome: "accept", reasonString: long },
      });
      const MAX = 128;
      const connect: Omit<ConnectPacket, "clientId"> = {
        type: "connect",
        protocolVersion: 5,
        clean: true,
        keepAlive: 0,
        properties: { maximumPacketSize: MAX, authenticationMethod: METHOD },
      };
      // Refused CONNECT: CONNACK 0x87 without the reason string.
      const { client: r, frames: refusedFrames } = tapped(t, broker);
      r.send({ ...connect, clientId: "refused" });
      const refusal = await r.next("connack");
      assert.equal(refusal.reasonCode, 0x87);
      assert.deepEqual(problemInformation(refusal), [undefined, undefined]);
      await r.whenClosed();
      // Enhanced authentication: AUTH 0x18, CONNACK 0x00, then a failed re-authentication.
      const { client: c, frames } = tapped(t, broker);
      c.send({ ...connect, clientId: "small" });
      const challenge = await c.next("auth");
      assert.equal(challenge.reasonCode, 0x18);
      c.send({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: METHOD } });
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 0);
      c.send({ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: METHOD } });
      const disconnect = await c.next("disconnect");
      assert.equal(disconnect.reasonCode, 0x87);
      await c.whenClosed();
      for (const p of [challenge, connack, disconnect]) {
        assert.deepEqual(problemInformation(p), [undefined, undefined]);
      }
      for (const f of [...refusedFrames, ...frames]) assert.ok(f.length <= MAX);
      assert.deepEqual(typesOf(frames), new Set(["auth", "connack", "disconnect"]));
      // Without the limit the same answers carry the reason string.
      const d = RawClient.memory(t, broker, 5);
      d.send({ ...connect, clientId: "large", properties: { authenticationMethod: METHOD } });
      assert.equal((await d.next("auth")).properties?.reasonString, long);
    },
  );

  test(
    "startBroker() indicates no properties with a property length of zero (v5) [MQTT-2.2.2-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const { client: c, frames } = tapped(t, broker);
      await c.connect("zero");
      await c.subscribe(["z/#"], { qos: 1 });
      broker.publish("z/0", "a");
      assert.equal((await c.next("publish")).properties, undefined);
      broker.publish("z/1", "b", { qos: 1 });
      const m = await c.next("publish");
      assert.equal(m.properties, undefined);
      c.send({ type: "puback", packetId: m.packetId!, reasonCode: 0 });
      c.send({ type: "unsubscribe", packetId: 2, filters: ["z/#"] });
      await c.next("unsuback");
      const [, suback, qos0, qos1, unsuback] = frames;
      // SUBACK: 0x90, length, packet id, property length 0, reason code
      assert.deepEqual([...suback!], [0x90, 4, 0, 1, 0, 1]);
      // PUBLISH: header, length, topic, [packet id,] property length 0, payload
      assert.deepEqual([...qos0!], [0x30, 7, 0, 3, ...bytes("z/0"), 0, ...bytes("a")]);
      assert.equal(qos1![0], 0x32);
      assert.deepEqual([...qos1!.subarray(2)], [0, 3, ...bytes("z/1"), 0, m.packetId!, 0, 0x62]);
      // UNSUBACK: 0xB0, length, packet id, property length 0, reason code
      assert.deepEqual([...unsuback!], [0xb0, 4, 0, 2, 0, 0]);
    },
  );

  test(
    "startBroker() sends no topic alias above the client's Topic Alias Maximum (v5) [MQTT-3.1.2-26] [MQTT-3.3.2-11]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const s = RawClient.memory(t, broker, 5);
      await s.connect("alias-sub", { properties: { topicAliasMaximum: 2 } });
      await s.subscribe(["ta/#"]);
      const p = RawClient.memory(t, broker, 5);
      await p.connect("alias-pub", { properties: { topicAliasMaximum: 5 } });
      // The publisher itself uses aliases 1 to 3: set them, then publish by alias only.
      for (let round = 0; round < 3; round++) {
        for (const n of [1, 2, 3]) {
          p.publish(round === 0 ? `ta/${n}` : "", `${round}`, { properties: { topicAlias: n } });
        }
        broker.publish(`ta/${round + 4}`, "in-process");
      }
      for (let i = 0; i < 12; i++) {
        const m = await s.next("publish");
        const alias = m.properties?.topicAlias;
        assert.ok(alias === undefined || (alias >= 1 && alias <= 2), `alias ${alias}`);
        if (alias === undefined) assert.match(m.topic, /^ta\/\d$/);
      }
      await barrier(s);
    },
  );
});

describe("broker conformance: message expiry during QoS 2", () => {
  test(
    "startBroker() does not expire a QoS 2 message once sent and completes its exchange after the expiry (v5) [MQTT-4.3.3-7] [MQTT-4.3.3-13]",
    { timeout: 15_000 },
    async (t) => {
      const broker = await brokerFor(t);
      const session = {
        clean: false,
        properties: { sessionExpiryInterval: 60, receiveMaximum: 1 },
      };
      const a = RawClient.memory(t, broker, 5);
      await a.connect("exp", session);
      await a.subscribe(["exp/#"], { qos: 2 });
      const expiring = { qos: 2, properties: { messageExpiryInterval: 1 } } as const;
      broker.publish("exp/sent", "in flight", expiring);
      broker.publish("exp/queued", "behind the window", expiring);
      const first = await a.next("publish");
      assert.equal(first.topic, "exp/sent");
      a.destroy();
      await a.whenClosed();
      await sleep(1_200); // both messages are now past their expiry interval
      const b = RawClient.memory(t, broker, 5);
      assert.equal((await b.connect("exp", session)).sessionPresent, true);
      // The message already sent is sent again, not expired [MQTT-4.3.3-7] ...
      const again = await b.next("publish");
      assert.equal(again.topic, "exp/sent");
      assert.equal(again.packetId, first.packetId);
      assert.equal(again.dup, true);
      // ... and its exchange goes on [MQTT-4.3.3-13].
      b.send({ type: "pubrec", packetId: again.packetId!, reasonCode: 0 });
      assert.equal((await b.next("pubrel")).packetId, again.packetId);
      b.send({ type: "pubcomp", packetId: again.packetId!, reasonCode: 0 });
      // The one still queued did expire: the freed window brings nothing.
      await barrier(b);
      assert.equal(broker.client("exp")?.inflight, 0);
    },
  );

  test(
    "startBroker() completes an incoming QoS 2 exchange after the message expired (v5) [MQTT-4.3.3-13]",
    { timeout: 15_000 },
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("late");
      c.publish("late/1", "expiring", {
        qos: 2,
        packetId: 7,
        properties: { messageExpiryInterval: 1 },
      });
      assert.equal((await c.next("pubrec")).packetId, 7);
      await sleep(1_200);
      c.send({ type: "pubrel", packetId: 7, reasonCode: 0 });
      const pubcomp = await c.next("pubcomp");
      assert.equal(pubcomp.packetId, 7);
      assert.equal(pubcomp.reasonCode ?? 0, 0);
    },
  );
});

describe("broker conformance: shared subscriptions", () => {
  test(
    "startBroker() refuses shared subscriptions with an empty or invalid share name or no filter (v5) [MQTT-4.8.2-1] [MQTT-4.8.2-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const invalid = [
        "$share//x",
        "$share/",
        "$share/g",
        "$share/g/",
        "$share/a+b/x",
        "$share/a#/x",
        "$share/+/x",
        "$share/#",
      ];
      for (const filter of invalid) {
        for (const type of [0x82, 0xa2]) {
          const c = RawClient.memory(t, broker, 5);
          await c.connect("sharer");
          const f = [...bytes(filter)];
          const body = [
            0,
            1,
            0,
            f.length >> 8,
            f.length & 0xff,
            ...f,
            ...(type === 0x82 ? [1] : []),
          ];
          c.sendBytes(new Uint8Array([type, body.length, ...body]));
          // Malformed: DISCONNECT 0x81, or for SUBSCRIBE a SUBACK with 0x8F (Topic Filter invalid)
          const answer = await c.next();
          if (answer.type === "suback") assert.deepEqual(answer.reasonCodes, [0x8f]);
          else {
            assert.equal(answer.type, "disconnect");
            assert.equal((answer as { reasonCode?: number }).reasonCode, 0x81);
            await c.whenClosed();
          }
        }
      }
      assert.equal(broker.stats.sharedSubscriptions, 0);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("sharer");
      assert.deepEqual(await c.subscribe(["$share/g/x", "$share/g//x", "$share/g/#"]), [0, 0, 0]);
    },
  );

  test(
    "startBroker() gives a shared message to no other member when the member's session ends first (v5) [MQTT-4.8.2-5]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const a = RawClient.memory(t, broker, 5);
      await a.connect("member-a");
      await a.subscribe(["$share/g/job"], { qos: 1 });
      broker.publish("job", "first", { qos: 1 });
      const m = await a.next("publish");
      assert.equal(text(m.payload), "first");
      const b = RawClient.memory(t, broker, 5);
      await b.connect("member-b");
      await b.subscribe(["$share/g/job"], { qos: 1 });
      const gone = disconnected(broker, "member-a");
      a.destroy(); // session expiry 0: the session ends with the connection
      await gone;
      assert.equal(broker.client("member-a"), undefined);
      broker.publish("job", "second", { qos: 1 });
      assert.equal(text((await b.next("publish")).payload), "second"); // never "first"
      await barrier(b);
    },
  );

  test(
    "startBroker() discards a shared message a member refused with PUBACK or PUBREC 0x80 or more (v5) [MQTT-4.8.2-6]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      for (const qos of [1, 2] as const) {
        const a = RawClient.memory(t, broker, 5);
        await a.connect(`refuser${qos}`);
        await a.subscribe([`$share/g${qos}/job`], { qos });
        broker.publish("job", "refused", { qos });
        const m = await a.next("publish");
        const b = RawClient.memory(t, broker, 5);
        await b.connect(`other${qos}`);
        await b.subscribe([`$share/g${qos}/job`], { qos });
        a.send({ type: qos === 1 ? "puback" : "pubrec", packetId: m.packetId!, reasonCode: 0x80 });
        await barrier(a);
        await barrier(b);
        assert.equal(broker.client(`refuser${qos}`)?.inflight, 0);
        a.destroy();
        await a.whenClosed();
        await barrier(b); // not redelivered to the other member
        b.disconnect();
        await b.whenClosed();
      }
    },
  );
});
