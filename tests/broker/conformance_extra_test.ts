/**
 * Server-side normative statements about the CONNECT and PUBLISH formats, UTF-8 strings,
 * client ids, topic lengths and authorization, named by their ids for
 * scripts/conformance_report.ts (see conformance_test.ts for the conventions). Malformed
 * packets are hand-made bytes, since the encoder refuses to produce them.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { AuthContext } from "../../broker/types.ts";
import type { Packet } from "../../protocol/mod.ts";
import { brokerFor, bytes, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };

// Ill-formed UTF-8: an encoded surrogate, an overlong "/", a byte that never occurs.
const ILL_FORMED: number[][] = [[0x61, 0xed, 0xa0, 0x80], [0xc0, 0xaf], [0x61, 0xff]];

async function barrier(c: RawClient): Promise<void> {
  c.send({ type: "pingreq" });
  await c.next("pingresp");
}

function varint(value: number): number[] {
  const out: number[] = [];
  do {
    let digit = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) digit |= 0x80;
    out.push(digit);
  } while (value > 0);
  return out;
}

// A UTF-8 string (or raw bytes) with its two-byte length.
function str(value: string | number[]): number[] {
  const b = typeof value === "string" ? [...bytes(value)] : value;
  return [b.length >> 8, b.length & 0xff, ...b];
}

function packet(first: number, body: number[]): Uint8Array {
  return new Uint8Array([first, ...varint(body.length), ...body]);
}

/**
 * CONNECT bytes: "MQTT", the level, the flags, keep alive 0, the CONNECT properties (MQTT
 * 5), then the payload fields exactly as given (for MQTT 5 a will's properties included).
 */
function rawConnect(
  version: 4 | 5,
  flags: number,
  payload: number[][],
  properties: number[] = [],
): Uint8Array {
  const props = version === 5 ? [...varint(properties.length), ...properties] : [];
  return packet(0x10, [...str("MQTT"), version, flags, 0, 0, ...props, ...payload.flat()]);
}

// A user property (0x26) with raw name and value bytes.
function userProperty(name: number[], value: number[]): number[] {
  return [0x26, ...str(name), ...str(value)];
}

/**
 * Wait for the broker to close the connection; what it sent meanwhile must be nothing or,
 * when `connack` is given (MQTT 5, which may say why [MQTT-4.13.1-1]), that CONNACK only.
 */
async function closedWithout(c: RawClient, connack?: number): Promise<void> {
  await c.whenClosed();
  const got: Packet[] = await c.drain(0);
  if (connack === undefined || got.length === 0) {
    assert.deepEqual(got, []);
    return;
  }
  assert.equal(got.length, 1);
  assert.equal(got[0]!.type, "connack");
  assert.equal((got[0] as { reasonCode: number }).reasonCode, connack);
}

describe("broker conformance: CONNECT format", () => {
  test(
    "startBroker() closes the connection on a wrong protocol name, at most with CONNACK 0x84 (v5) [MQTT-3.1.2-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      for (const name of ["MQTX", "mqtt", "MQIsdp"]) {
        const c = RawClient.memory(t, broker, 5);
        c.sendBytes(packet(0x10, [...str(name), 5, 0x02, 0, 0, 0, ...str("badname")]));
        await closedWithout(c, 0x84);
      }
      assert.equal(broker.client("badname"), undefined);
    },
  );

  test(
    "startBroker() closes the connection on a CONNECT not matching the format, sending no CONNACK (v3.1.1) [MQTT-3.1.4-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const bad = [
        rawConnect(4, 0x02, [str("id"), [0x00]]), // a stray byte after the client id
        rawConnect(4, 0x02, [[0x00, 0x05, 0x61]]), // client id shorter than its length
        packet(0x10, [...str("MQTT"), 4, 0x02, 0]), // truncated keep alive, no payload
        packet(0x11, [...str("MQTT"), 4, 0x02, 0, 0, ...str("id")]), // reserved header flag
      ];
      for (const bytes of bad) {
        const c = RawClient.memory(t, broker, 4);
        c.sendBytes(bytes);
        await closedWithout(c);
      }
      assert.equal(broker.stats.clientsConnected, 0);
    },
  );

  test(
    "startBroker() closes the connection on a CONNECT not matching the format, at most with CONNACK 0x81 (v5) [MQTT-3.1.4-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const bad = [
        rawConnect(5, 0x02, [str("id"), [0x00]]),
        rawConnect(5, 0x02, [[0x00, 0x05, 0x61]]),
        rawConnect(5, 0x02, [str("id")], [0x11, 0, 0]), // truncated session expiry interval
        rawConnect(5, 0x02, [str("id")], [0x7f, 0]), // unknown property
      ];
      for (const bytes of bad) {
        const c = RawClient.memory(t, broker, 5);
        c.sendBytes(bytes);
        await closedWithout(c, 0x81);
      }
      assert.equal(broker.stats.clientsConnected, 0);
    },
  );

  test(
    "startBroker() refuses a will flag without will topic and message (v3.1.1) [MQTT-3.1.2-9]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      for (const payload of [[str("w")], [str("w"), str("will/t")]]) {
        const c = RawClient.memory(t, broker, 4);
        c.sendBytes(rawConnect(4, 0x02 | 0x04, payload));
        await closedWithout(c);
      }
      // With both present the will is accepted and published.
      const s = RawClient.memory(t, broker, 4);
      await s.connect("watch");
      await s.subscribe(["will/#"]);
      const c = RawClient.memory(t, broker, 4);
      c.sendBytes(rawConnect(4, 0x02 | 0x04, [str("w"), str("will/t"), str("bye")]));
      assert.equal((await c.next("connack")).reasonCode, 0);
      c.destroy();
      const will = await s.next("publish");
      assert.equal(will.topic, "will/t");
      assert.equal(text(will.payload), "bye");
    },
  );

  test(
    "startBroker() reads a user name and password exactly when their flags say so (v3.1.1) [MQTT-3.1.2-18] [MQTT-3.1.2-19] [MQTT-3.1.2-20] [MQTT-3.1.2-21]",
    T,
    async (t) => {
      const seen: AuthContext[] = [];
      const broker = await brokerFor(t, {
        authenticate: (context) => {
          seen.push(context);
          return true;
        },
      });
      const USER = 0x80;
      const PASSWORD = 0x40;
      const bad = [
        rawConnect(4, 0x02, [str("u0"), str("ann")]), // user name without its flag
        rawConnect(4, 0x02 | USER, [str("u1")]), // user name flag without a user name
        rawConnect(4, 0x02 | USER, [str("p0"), str("ann"), str("secret")]), // password, no flag
        rawConnect(4, 0x02 | USER | PASSWORD, [str("p1"), str("ann")]), // flag, no password
      ];
      for (const bytes of bad) {
        const c = RawClient.memory(t, broker, 4);
        c.sendBytes(bytes);
        await closedWithout(c);
      }
      assert.equal(seen.length, 0);
      const none = RawClient.memory(t, broker, 4);
      none.sendBytes(rawConnect(4, 0x02, [str("none")]));
      assert.equal((await none.next("connack")).reasonCode, 0);
      const user = RawClient.memory(t, broker, 4);
      user.sendBytes(rawConnect(4, 0x02 | USER, [str("user"), str("ann")]));
      assert.equal((await user.next("connack")).reasonCode, 0);
      const both = RawClient.memory(t, broker, 4);
      both.sendBytes(rawConnect(4, 0x02 | USER | PASSWORD, [str("both"), str("ann"), str("pw")]));
      assert.equal((await both.next("connack")).reasonCode, 0);
      assert.deepEqual(
        seen.map((c) => [c.clientId, c.username, c.password && text(c.password)]),
        [["none", undefined, undefined], ["user", "ann", undefined], ["both", "ann", "pw"]],
      );
    },
  );

  test(
    "startBroker() reads the CONNECT payload in the order client id, will topic, will message, user name, password (v3.1.1) [MQTT-3.1.3-1]",
    T,
    async (t) => {
      const seen: AuthContext[] = [];
      const broker = await brokerFor(t, {
        authenticate: (context) => {
          seen.push(context);
          return true;
        },
      });
      const s = RawClient.memory(t, broker, 4);
      await s.connect("watch");
      await s.subscribe(["will/#"]);
      const c = RawClient.memory(t, broker, 4);
      const flags = 0x80 | 0x40 | 0x08 | 0x04 | 0x02; // user, password, will QoS 1, will, clean
      c.sendBytes(
        rawConnect(4, flags, [str("order"), str("will/o"), str("message"), str("ann"), str("pw")]),
      );
      assert.equal((await c.next("connack")).reasonCode, 0);
      const context = seen.find((x) => x.clientId === "order")!;
      assert.equal(context.username, "ann");
      assert.equal(text(context.password!), "pw");
      c.destroy();
      const will = await s.next("publish");
      assert.equal(will.topic, "will/o");
      assert.equal(text(will.payload), "message");
    },
  );

  test(
    "startBroker() closes the connection on a will topic or user name that is not UTF-8 (v3.1.1) [MQTT-3.1.3-10] [MQTT-3.1.3-11]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      for (const bad of [...ILL_FORMED, [0x61, 0x00]]) {
        const will = RawClient.memory(t, broker, 4);
        will.sendBytes(rawConnect(4, 0x06, [str("w"), str(bad), str("m")]));
        await closedWithout(will);
        const user = RawClient.memory(t, broker, 4);
        user.sendBytes(rawConnect(4, 0x82, [str("u"), str(bad)]));
        await closedWithout(user);
      }
      assert.equal(broker.stats.clientsConnected, 0);
    },
  );

  test(
    "startBroker() refuses a will topic or user name that is not UTF-8 with 0x81 (v5) [MQTT-3.1.3-11] [MQTT-3.1.3-12]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      for (const bad of [...ILL_FORMED, [0x61, 0x00]]) {
        const will = RawClient.memory(t, broker, 5);
        will.sendBytes(rawConnect(5, 0x06, [str("w"), [0], str(bad), str("m")]));
        await closedWithout(will, 0x81);
        const user = RawClient.memory(t, broker, 5);
        user.sendBytes(rawConnect(5, 0x82, [str("u"), str(bad)]));
        await closedWithout(user, 0x81);
      }
      assert.equal(broker.stats.clientsConnected, 0);
    },
  );

  test(
    "startBroker() refuses a user property whose name or value is not UTF-8 (v5) [MQTT-1.5.7-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const s = RawClient.memory(t, broker, 5);
      await s.connect("watch");
      await s.subscribe(["#"]);
      const good = [...bytes("k")];
      for (const bad of [...ILL_FORMED, [0x00]]) {
        for (const property of [userProperty(bad, good), userProperty(good, bad)]) {
          // In CONNECT: CONNACK 0x81 at most, then closed.
          const c = RawClient.memory(t, broker, 5);
          c.sendBytes(rawConnect(5, 0x02, [str("props")], property));
          await closedWithout(c, 0x81);
          // In PUBLISH: DISCONNECT 0x81, then closed, nothing routed.
          const p = RawClient.memory(t, broker, 5);
          await p.connect("pub-props");
          p.sendBytes(
            packet(0x30, [...str("t/props"), ...varint(property.length), ...property, 0x78]),
          );
          assert.equal((await p.next("disconnect")).reasonCode, 0x81);
          await p.whenClosed();
        }
      }
      // A well-formed pair passes unchanged.
      const p = RawClient.memory(t, broker, 5);
      await p.connect("pub-ok");
      const property = userProperty([...bytes("k\u00e9")], [...bytes("v\u{1f600}")]);
      p.sendBytes(packet(0x30, [...str("t/ok"), ...varint(property.length), ...property, 0x78]));
      const m = await s.next("publish");
      assert.equal(m.topic, "t/ok");
      assert.deepEqual(m.properties?.userProperties, [["k\u00e9", "v\u{1f600}"]]);
    },
  );

  test(
    "startBroker() identifies the session state by the client id [MQTT-3.1.3-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      for (const version of [4, 5] as const) {
        const keep = version === 5
          ? { clean: false, properties: { sessionExpiryInterval: 60 } }
          : { clean: false };
        const a = RawClient.memory(t, broker, version);
        await a.connect(`owner${version}`, keep);
        await a.subscribe([`box${version}/#`], { qos: 1 });
        a.destroy();
        await a.whenClosed();
        broker.publish(`box${version}/1`, "for the owner", { qos: 1 });
        // Another id gets a new session: nothing present, nothing delivered.
        const other = RawClient.memory(t, broker, version);
        assert.equal((await other.connect(`other${version}`, keep)).sessionPresent, false);
        await barrier(other);
        // The same id gets its session back, with the queued message.
        const b = RawClient.memory(t, broker, version);
        assert.equal((await b.connect(`owner${version}`, keep)).sessionPresent, true);
        assert.equal(text((await b.next("publish")).payload), "for the owner");
      }
    },
  );
});

describe("broker conformance: PUBLISH format, topics and authorization", () => {
  test(
    "startBroker() closes the connection on a PUBLISH whose topic name is not UTF-8 [MQTT-3.3.2-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const s = RawClient.memory(t, broker, 5);
      await s.connect("watch");
      await s.subscribe(["#"]);
      for (const version of [4, 5] as const) {
        for (const topic of ILL_FORMED) {
          const c = RawClient.memory(t, broker, version);
          await c.connect(`bad-topic${version}`);
          c.sendBytes(packet(0x30, [...str(topic), ...(version === 5 ? [0] : []), 0x78]));
          // MQTT 5 says why with DISCONNECT 0x81 [MQTT-4.13.1-1]; 3.1.1 just closes.
          if (version === 5) assert.equal((await c.next("disconnect")).reasonCode, 0x81);
          await closedWithout(c);
        }
      }
      await barrier(s); // nothing was routed
    },
  );

  test(
    "startBroker() accepts topic names and filters of 65,535 bytes and sends them whole [MQTT-4.7.3-3]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      for (const version of [4, 5] as const) {
        const topic = `${version}`.padEnd(65_535, "x");
        assert.equal(bytes(topic).length, 65_535);
        const wildcard = `${topic.slice(0, 65_533)}/#`;
        const c = RawClient.memory(t, broker, version);
        await c.connect(`long${version}`);
        assert.deepEqual(await c.subscribe([topic, wildcard], { qos: 1 }), [1, 1]);
        c.publish(topic, "whole", { qos: 1 });
        const got: Packet[] = [await c.next(), await c.next()];
        const message = got.find((p) => p.type === "publish");
        assert.ok(message?.type === "publish");
        assert.equal(message.topic, topic);
        assert.equal(text(message.payload), "whole");
        assert.ok(got.some((p) => p.type === "puback"));
        c.send({ type: "puback", packetId: message.packetId!, reasonCode: 0 });
        c.send({ type: "unsubscribe", packetId: 2, filters: [topic, wildcard] });
        const unsuback = await c.next("unsuback");
        if (version === 5) assert.deepEqual(unsuback.reasonCodes, [0, 0]);
      }
    },
  );

  test(
    "startBroker() acknowledges an unauthorised PUBLISH positively, keeps the connection and routes nothing (v3.1.1) [MQTT-3.3.5-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t, {
        authorize: (r) => !(r.action === "publish" && r.topic.startsWith("secret/")),
      });
      const s = RawClient.memory(t, broker, 4);
      await s.connect("watch");
      await s.subscribe(["#"], { qos: 2 });
      const c = RawClient.memory(t, broker, 4);
      await c.connect("intruder");
      c.publish("secret/0", "no");
      c.publish("secret/1", "no", { qos: 1, packetId: 1 });
      assert.equal((await c.next("puback")).packetId, 1);
      c.publish("secret/2", "no", { qos: 2, packetId: 2 });
      assert.equal((await c.next("pubrec")).packetId, 2);
      c.send({ type: "pubrel", packetId: 2 });
      assert.equal((await c.next("pubcomp")).packetId, 2);
      c.publish("open/3", "yes", { qos: 1, packetId: 3 });
      assert.equal((await c.next("puback")).packetId, 3);
      assert.equal(c.closed, false);
      const m = await s.next("publish");
      assert.equal(m.topic, "open/3"); // the first and only message routed
      await barrier(s);
      assert.equal(broker.stats.retained, 0);
    },
  );
});
