/**
 * The scripted conversations run against mosquitto and mq. Each names the normative
 * statements it touches; `differs` points at the entry of docs/differences.md that explains
 * an intended difference (the test then asserts both transcripts exactly).
 *
 * @module
 */

import type { BrokerOptions } from "../../broker/types.ts";
import type { Conversation, Entry } from "./_harness.ts";
import { connect, hello, publish, rawConnect, rawPublish, subscribe } from "./_scripts.ts";

// `mosquitto_passwd -b` output for alice / wonderland (mosquitto 2.0's PBKDF2-SHA512 format).
const ALICE_HASH =
  "$7$101$UGXXc++a+KWe3CVH$WlVgMGLJPubObaRHfGZ2cccyQHRZNTtyVnfkjf+ZqGPXVn1exUJT0ml4mJioJL27eh9tSiJlXg8EoGZ8cVThLw==";

/** One differential case. */
export interface Case {
  /** Test name (with spec ids). */
  name: string;
  /** Extra mosquitto.conf lines. */
  mosquitto?: string[];
  /** Files written beside mosquitto.conf; `{dir}` in config lines is that directory. */
  mosquittoFiles?: Record<string, string>;
  /** mq options. */
  mq?: BrokerOptions;
  /** The script. */
  script: (c: Conversation) => Promise<void>;
  /** A documented difference: the anchor in docs/differences.md and both transcripts. */
  differs?: { doc: string; mosquitto: Entry[]; mq: Entry[] };
}

const ok4 = { type: "connack", sessionPresent: false, reasonCode: 0 };
const ok5 = {
  type: "connack",
  sessionPresent: false,
  reasonCode: 0,
  properties: { topicAliasMaximum: 10, receiveMaximum: 20 },
};

function message(topic: string, payload: string, more: Record<string, unknown> = {}) {
  return { type: "publish", topic, payload, qos: 0, retain: false, dup: false, ...more };
}

// The shared subscription transcript, in parts (mosquitto adds the retained messages).
const shared = {
  head: [
    { peer: "r", received: ok5 },
    { peer: "r", received: { type: "puback", packetId: 1, reasonCode: 0x10 } },
    { peer: "m1", received: ok5 },
    { peer: "m1", received: { type: "suback", packetId: 1, reasonCodes: [1] } },
  ],
  retained: message("sh/kept", "retained", { qos: 1, retain: true, packetId: 1 }),
  m2: [
    { peer: "m2", received: ok4 },
    { peer: "m2", received: { type: "suback", packetId: 1, reasonCodes: [1] } },
  ],
  tail: [
    { peer: "p", received: ok5 },
    { peer: "m1", received: message("sh/1", "1") },
    { peer: "m1", received: message("sh/3", "3") },
    { peer: "m2", received: message("sh/2", "2") },
    { peer: "m2", received: message("sh/4", "4") },
  ],
};

/** The cases. */
export const cases: Case[] = [
  {
    name:
      "CONNECT with an empty client id: v3.1.1 clean is accepted, unclean refused [MQTT-3.1.3-7] [MQTT-3.1.3-8]",
    script: async (c) => {
      const a = await c.open("a", 4);
      await hello(a, "", { clean: true });
      await a.sync();
      const b = await c.open("b", 4);
      b.send(connect(b, "", { clean: false }));
      await b.closed();
      const d = await c.open("d", 3);
      d.send(connect(d, "", { clean: true }));
      await d.closed();
    },
  },
  {
    name:
      "CONNECT with an empty client id on v5 gets an Assigned Client Identifier [MQTT-3.1.3-6] [MQTT-3.2.2-16]",
    script: async (c) => {
      const a = await c.open("a", 5);
      await hello(a, "", { clean: true });
      const b = await c.open("b", 5);
      await hello(b, "", { clean: false, properties: { sessionExpiryInterval: 10 } });
      await b.sync();
    },
  },
  {
    name:
      "CONNECT with an unsupported protocol level gets return code 1 and is closed [MQTT-3.1.2-2]",
    script: async (c) => {
      const a = await c.open("a", 4);
      a.raw(rawConnect("MQTT", 6, 0x02, "x"));
      await a.closed();
    },
  },
  {
    name: "CONNECT with the reserved flag set closes the connection [MQTT-3.1.2-3]",
    script: async (c) => {
      const a = await c.open("a", 4);
      a.raw(rawConnect("MQTT", 4, 0x03, "x"));
      await a.closed();
      const b = await c.open("b", 5);
      b.raw(rawConnect("MQTT", 5, 0x03, "y"));
      await b.closed();
    },
    differs: {
      doc: "reason-codes-before-closing",
      mosquitto: [{ peer: "a", closed: true }, { peer: "b", closed: true }],
      mq: [
        { peer: "a", closed: true },
        { peer: "b", received: { type: "connack", sessionPresent: false, reasonCode: 0x81 } },
        { peer: "b", closed: true },
      ],
    },
  },
  {
    name: "A second CONNECT is a protocol violation and closes the connection [MQTT-3.1.0-2]",
    script: async (c) => {
      const a = await c.open("a", 4);
      await hello(a, "twice4");
      a.send(connect(a, "twice4"));
      await a.closed();
      const b = await c.open("b", 5);
      await hello(b, "twice5");
      b.send(connect(b, "twice5"));
      await b.closed();
    },
    differs: {
      doc: "reason-codes-before-closing",
      mosquitto: [
        { peer: "a", received: ok4 },
        { peer: "a", closed: true },
        { peer: "b", received: ok5 },
        { peer: "b", closed: true },
      ],
      mq: [
        { peer: "a", received: ok4 },
        { peer: "a", closed: true },
        { peer: "b", received: ok5 },
        { peer: "b", received: { type: "disconnect", reasonCode: 0x82 } },
        { peer: "b", closed: true },
      ],
    },
  },
  {
    name: "A first packet other than CONNECT closes the connection [MQTT-3.1.0-1]",
    script: async (c) => {
      const a = await c.open("a", 4);
      a.send({ type: "pingreq" });
      await a.closed();
      const b = await c.open("b", 4);
      b.send(publish("t", "x"));
      await b.closed();
    },
  },
  {
    name:
      "QoS 2 from a client survives a reconnect between PUBREC and PUBREL [MQTT-4.3.3-2] [MQTT-4.4.0-1]",
    script: async (c) => {
      const s = await c.open("s", 4);
      await hello(s, "q2sub");
      await subscribe(s, ["q2/#"], { qos: 2 });
      const p = await c.open("p", 4);
      await hello(p, "q2pub", { clean: false });
      p.send(publish("q2/t", "once", { qos: 2, packetId: 9 }));
      await p.sync();
      p.destroy();
      await p.closed();
      const p2 = await c.open("p2", 4);
      await hello(p2, "q2pub", { clean: false });
      // mosquitto delivers when PUBREL arrives: nothing for the subscriber before it
      await s.sync();
      p2.send({ type: "pubrel", packetId: 9 });
      await p2.sync();
      await s.sync();
      // a repeated PUBREL after PUBCOMP is answered again and delivers nothing new
      p2.send({ type: "pubrel", packetId: 9 });
      await p2.sync();
      await s.sync();
    },
    differs: {
      doc: "qos-2-delivery",
      mosquitto: [
        { peer: "s", received: ok4 },
        { peer: "s", received: { type: "suback", packetId: 1, reasonCodes: [2] } },
        { peer: "p", received: ok4 },
        { peer: "p", received: { type: "pubrec", packetId: 9 } },
        { peer: "p", closed: true },
        { peer: "p2", received: { ...ok4, sessionPresent: true } },
        { peer: "p2", received: { type: "pubcomp", packetId: 9 } },
        {
          peer: "s",
          received: {
            type: "publish",
            topic: "q2/t",
            payload: "once",
            qos: 2,
            retain: false,
            dup: false,
            packetId: 1,
          },
        },
        { peer: "p2", received: { type: "pubcomp", packetId: 9 } },
      ],
      mq: [
        { peer: "s", received: ok4 },
        { peer: "s", received: { type: "suback", packetId: 1, reasonCodes: [2] } },
        { peer: "p", received: ok4 },
        { peer: "p", received: { type: "pubrec", packetId: 9 } },
        { peer: "p", closed: true },
        { peer: "p2", received: { ...ok4, sessionPresent: true } },
        {
          peer: "s",
          received: {
            type: "publish",
            topic: "q2/t",
            payload: "once",
            qos: 2,
            retain: false,
            dup: false,
            packetId: 1,
          },
        },
        { peer: "p2", received: { type: "pubcomp", packetId: 9 } },
        { peer: "p2", received: { type: "pubcomp", packetId: 9 } },
      ],
    },
  },
  {
    name: "QoS 2 to a client: PUBREL is resent after a reconnect [MQTT-4.4.0-1] [MQTT-4.3.3-5]",
    script: async (c) => {
      const s = await c.open("s", 5);
      await hello(s, "q2out", { clean: false, properties: { sessionExpiryInterval: 60 } });
      await subscribe(s, ["o/#"], { qos: 2 });
      const p = await c.open("p", 5);
      await hello(p, "q2src");
      p.send(publish("o/t", "x", { qos: 2, packetId: 3 }));
      await p.sync();
      p.send({ type: "pubrel", packetId: 3, reasonCode: 0 });
      await p.sync();
      await s.expect(1); // the PUBLISH
      s.send({ type: "pubrec", packetId: 1, reasonCode: 0 });
      await s.expect(1); // PUBREL
      s.destroy();
      await s.closed();
      const s2 = await c.open("s2", 5);
      await hello(s2, "q2out", { clean: false, properties: { sessionExpiryInterval: 60 } });
      await s2.expect(1); // the resent PUBREL
      s2.send({ type: "pubcomp", packetId: 1, reasonCode: 0 });
      await s2.sync();
    },
  },
  {
    name:
      "An unacknowledged QoS 1 message is resent with DUP on resume [MQTT-4.4.0-1] [MQTT-3.3.1-1]",
    script: async (c) => {
      const s = await c.open("s", 4);
      await hello(s, "q1out", { clean: false });
      await subscribe(s, ["d/#"], { qos: 1 });
      const p = await c.open("p", 4);
      await hello(p, "q1src");
      p.send(publish("d/t", "again", { qos: 1, packetId: 4 }));
      await p.sync();
      await s.expect(1);
      s.destroy();
      await s.closed();
      const s2 = await c.open("s2", 4);
      await hello(s2, "q1out", { clean: false });
      await s2.expect(1);
      s2.send({ type: "puback", packetId: 1 });
      await s2.sync();
    },
  },
  {
    name:
      "Shared subscription members get messages in turn and no retained messages [MQTT-4.8.2-4]",
    script: async (c) => {
      const r = await c.open("r", 5);
      await hello(r, "shr");
      r.send(publish("sh/kept", "retained", { qos: 1, retain: true, packetId: 1 }));
      await r.sync();
      const m1 = await c.open("m1", 5);
      await hello(m1, "m1");
      await subscribe(m1, ["$share/g/sh/#"], { qos: 1 });
      await m1.sync();
      const m2 = await c.open("m2", 4);
      await hello(m2, "m2");
      await subscribe(m2, ["$share/g/sh/#"], { qos: 1 });
      await m2.sync();
      const p = await c.open("p", 5);
      await hello(p, "shp");
      for (let i = 1; i <= 4; i++) p.send(publish(`sh/${i}`, `${i}`, { qos: 0 }));
      await p.sync();
      await m1.sync();
      await m2.sync();
    },
    differs: {
      doc: "shared-retained",
      mosquitto: [
        ...shared.head,
        { peer: "m1", received: shared.retained },
        ...shared.m2,
        { peer: "m2", received: shared.retained },
        ...shared.tail,
      ],
      mq: [...shared.head, ...shared.m2, ...shared.tail],
    },
  },
  {
    name:
      "Retain handling 0, 1 and 2 and retain as published [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] [MQTT-3.3.1-12] [MQTT-3.3.1-13]",
    script: async (c) => {
      const p = await c.open("p", 5);
      await hello(p, "rp");
      p.send(publish("rh/a", "A", { qos: 1, retain: true, packetId: 1 }));
      await p.sync();
      const s = await c.open("s", 5);
      await hello(s, "rs");
      for (const retainHandling of [0, 1, 2] as const) {
        await subscribe(s, [{ filter: "rh/#", qos: 1, retainHandling }], {
          packetId: 10 + retainHandling,
        });
        await s.sync();
      }
      await subscribe(s, [{ filter: "rh/+", qos: 1, retainHandling: 1 }], { packetId: 20 });
      await s.sync();
      await subscribe(s, [{ filter: "rap/#", qos: 0, retainAsPublished: true }], {
        packetId: 21,
      });
      await subscribe(s, [{ filter: "rnp/#", qos: 0, retainAsPublished: false }], {
        packetId: 22,
      });
      p.send(publish("rap/x", "1", { retain: true }));
      p.send(publish("rnp/x", "2", { retain: true }));
      await p.sync();
      await s.sync();
      p.send(publish("rh/a", "", { qos: 1, retain: true, packetId: 2 }));
      await p.sync();
      const s2 = await c.open("s2", 4);
      await hello(s2, "rs2");
      await subscribe(s2, ["rh/#"], { qos: 1 });
      await s2.sync();
    },
  },
  {
    name:
      "Wills: sent on DISCONNECT 0x04 and socket loss, not after a normal DISCONNECT [MQTT-3.1.2-8] [MQTT-3.1.2-10] [MQTT-3.14.4-3]",
    script: async (c) => {
      const w = await c.open("w", 5);
      await hello(w, "watcher");
      await subscribe(w, ["will/#"], { qos: 1 });
      const will = (name: string) => ({
        topic: `will/${name}`,
        payload: new TextEncoder().encode(name),
        qos: 1 as const,
        retain: false,
      });
      const a = await c.open("a", 5);
      await hello(a, "normal", { will: will("normal") });
      a.send({ type: "disconnect", reasonCode: 0 });
      await a.closed();
      const b = await c.open("b", 5);
      await hello(b, "with-will", { will: will("with-will") });
      b.send({ type: "disconnect", reasonCode: 4 });
      await b.closed();
      await w.expect(1);
      const d = await c.open("d", 4);
      await hello(d, "dropped", { will: will("dropped") });
      d.destroy();
      await d.closed();
      await w.expect(1);
      const e = await c.open("e", 4);
      await hello(e, "normal4", { will: will("normal4") });
      e.send({ type: "disconnect" });
      await e.closed();
      // a marker proves nothing was published for "normal" or "normal4"
      const m = await c.open("m", 5);
      await hello(m, "marker");
      m.send(publish("will/marker", "m", { qos: 1, packetId: 1 }));
      await m.sync();
      await w.expect(1);
    },
  },
  {
    name: "Malformed PUBLISH: QoS 3 closes the connection [MQTT-3.3.1-4]",
    script: async (c) => {
      const a = await c.open("a", 4);
      await hello(a, "q3a");
      a.raw(rawPublish(4, 0x06, "t"));
      await a.closed();
      const b = await c.open("b", 5);
      await hello(b, "q3b");
      b.raw(rawPublish(5, 0x06, "t"));
      await b.closed();
    },
  },
  {
    name: "Malformed PUBLISH: a wildcard in the topic name closes the connection [MQTT-3.3.2-2]",
    script: async (c) => {
      const a = await c.open("a", 4);
      await hello(a, "wa");
      a.raw(rawPublish(4, 0, "a/+"));
      await a.closed();
      const b = await c.open("b", 5);
      await hello(b, "wb");
      b.raw(rawPublish(5, 0x02, "a/#"));
      await b.closed();
    },
    differs: {
      doc: "wildcard-topic-name",
      mosquitto: [
        { peer: "a", received: ok4 },
        { peer: "a", closed: true },
        { peer: "b", received: ok5 },
        { peer: "b", received: { type: "disconnect", reasonCode: 0x82 } },
        { peer: "b", closed: true },
      ],
      mq: [
        { peer: "a", received: ok4 },
        { peer: "a", closed: true },
        { peer: "b", received: ok5 },
        { peer: "b", received: { type: "disconnect", reasonCode: 0x81 } },
        { peer: "b", closed: true },
      ],
    },
  },
  {
    name:
      "Malformed PUBLISH: invalid UTF-8 in the topic closes the connection [MQTT-1.5.4-1] [MQTT-1.5.4-2]",
    script: async (c) => {
      const a = await c.open("a", 4);
      await hello(a, "ua");
      a.raw(rawPublish(4, 0, [0x61, 0xc3, 0x28]));
      await a.closed();
      const b = await c.open("b", 5);
      await hello(b, "ub");
      b.raw(rawPublish(5, 0, [0x61, 0x00, 0x62]));
      await b.closed();
    },
  },
  {
    name:
      "SUBSCRIBE with a malformed topic filter closes the connection [MQTT-4.7.1-1] [MQTT-4.7.1-2]",
    script: async (c) => {
      const a = await c.open("a", 4);
      await hello(a, "fa");
      // "a#" is not a valid filter
      a.raw([0x82, 7, 0, 5, 0, 2, 0x61, 0x23, 1]);
      await a.closed();
      const b = await c.open("b", 5);
      await hello(b, "fb");
      b.raw([0x82, 8, 0, 5, 0, 0, 2, 0x61, 0x23, 1]);
      await b.closed();
    },
  },
  {
    name: "SUBSCRIBE with No Local on a shared subscription is a protocol error [MQTT-3.8.3-4]",
    script: async (c) => {
      const a = await c.open("a", 5);
      await hello(a, "nl");
      const share = [...new TextEncoder().encode("$share/g/x")];
      a.raw([0x82, 3 + 2 + share.length + 1, 0, 2, 0, 0, share.length, ...share, 0x04]);
      await a.sync();
    },
    differs: {
      doc: "no-local-shared",
      mosquitto: [
        { peer: "a", received: ok5 },
        { peer: "a", received: { type: "suback", packetId: 2, reasonCodes: [0] } },
      ],
      mq: [
        { peer: "a", received: ok5 },
        { peer: "a", received: { type: "disconnect", reasonCode: 0x82 } },
        { peer: "a", closed: true },
      ],
    },
  },
  {
    name:
      "PUBLISH to $SYS from a client is dropped (v5: 0x87), other $ topics are routed [MQTT-4.7.2-1]",
    script: async (c) => {
      for (const v of [4, 5] as const) {
        const s = await c.open(`s${v}`, v);
        await hello(s, `sys-s${v}`);
        await subscribe(s, ["$SYS/test/#", "$SYSX/#", "$foo/#"], { qos: 1 });
        const p = await c.open(`p${v}`, v);
        await hello(p, `sys-p${v}`);
        p.send(publish("$SYS/test/x", "a", { qos: 1, packetId: 5, retain: true }));
        p.send(publish("$SYS/test/y", "b"));
        p.send(publish("$SYSX/z", "c", { qos: 2, packetId: 6 }));
        p.send(publish("$foo/y", "d", { qos: 1, packetId: 7 }));
        await p.sync();
        await s.sync();
        const late = await c.open(`late${v}`, v);
        await hello(late, `sys-late${v}`);
        await subscribe(late, ["$SYS/test/#"]);
        await late.sync();
      }
    },
  },
  {
    name:
      "An MQTT 3.1.1 PUBLISH above max_qos closes the connection; v5 gets DISCONNECT 0x9B [MQTT-3.2.2-11]",
    mosquitto: ["max_qos 1"],
    mq: { maxQos: 1 },
    script: async (c) => {
      for (const v of [4, 5] as const) {
        const s = await c.open(`s${v}`, v);
        await hello(s, `mq-s${v}`);
        await subscribe(s, ["a"], { qos: 2 });
        const p = await c.open(`p${v}`, v);
        await hello(p, `mq-p${v}`);
        p.send(publish("a", "q2", { qos: 2, packetId: 5 }));
        await p.closed();
        await s.sync();
      }
    },
  },
  {
    name: "Session take-over closes the old connection, v5 with DISCONNECT 0x8E [MQTT-3.1.4-3]",
    script: async (c) => {
      for (const v of [4, 5] as const) {
        const a = await c.open(`a${v}`, v);
        await hello(a, `same${v}`);
        const b = await c.open(`b${v}`, v);
        await hello(b, `same${v}`);
        await a.closed();
        await b.sync();
      }
    },
    differs: {
      doc: "reason-codes-before-closing",
      mosquitto: [
        { peer: "a4", received: ok4 },
        { peer: "b4", received: ok4 },
        { peer: "a4", closed: true },
        { peer: "a5", received: ok5 },
        { peer: "b5", received: ok5 },
        { peer: "a5", closed: true },
      ],
      mq: [
        { peer: "a4", received: ok4 },
        { peer: "b4", received: ok4 },
        { peer: "a4", closed: true },
        { peer: "a5", received: ok5 },
        { peer: "b5", received: ok5 },
        { peer: "a5", received: { type: "disconnect", reasonCode: 0x8e } },
        { peer: "a5", closed: true },
      ],
    },
  },
  {
    name:
      "CONNECT with an unsupported authentication method gets CONNACK 0x8C and is closed (v5) [MQTT-4.12.0-1]",
    script: async (c) => {
      const a = await c.open("a", 5);
      a.send(connect(a, "am", { properties: { authenticationMethod: "SCRAM-SHA-1" } }));
      await a.closed();
    },
  },
  {
    name:
      "CONNECT with Request Response Information gets no Response Information by default (v5) [MQTT-3.1.2-28]",
    script: async (c) => {
      const a = await c.open("a", 5);
      await hello(a, "rri", { properties: { requestResponseInformation: true } });
      const b = await c.open("b", 5);
      await hello(b, "rpi", { properties: { requestProblemInformation: false } });
      b.send(publish("nobody/home", "x", { qos: 1 }));
      await b.sync();
    },
  },
  {
    name:
      "User name and password checks refuse wrong, missing or unknown ones with CONNACK 0x87 (v5; return code 5 on 3.x) like mosquitto's password file [MQTT-3.1.4-2]",
    mosquitto: ["allow_anonymous false", "password_file {dir}/passwords"],
    mosquittoFiles: { passwords: `alice:${ALICE_HASH}\n` },
    mq: {
      authenticate: (context) =>
        context.username === "alice" && context.password !== undefined &&
        new TextDecoder().decode(context.password) === "wonderland",
    },
    script: async (c) => {
      const password = (s: string) => new TextEncoder().encode(s);
      for (const v of [3, 4, 5] as const) {
        const a = await c.open(`anonymous${v}`, v);
        a.send(connect(a, `a${v}`));
        await a.closed();
        const b = await c.open(`wrong${v}`, v);
        b.send(connect(b, `b${v}`, { username: "alice", password: password("x") }));
        await b.closed();
        const d = await c.open(`unknown${v}`, v);
        d.send(connect(d, `d${v}`, { username: "bob", password: password("wonderland") }));
        await d.closed();
        const e = await c.open(`ok${v}`, v);
        await hello(e, `e${v}`, { username: "alice", password: password("wonderland") });
        await e.sync();
      }
    },
  },
  {
    name:
      "AUTH from a client whose CONNECT had no authentication method closes the connection (v5) [MQTT-4.12.0-7]",
    script: async (c) => {
      const a = await c.open("a", 5);
      await hello(a, "auth");
      a.send({ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: "X" } });
      await a.closed();
    },
    differs: {
      doc: "reason-codes-before-closing",
      mosquitto: [{ peer: "a", received: ok5 }, { peer: "a", closed: true }],
      mq: [
        { peer: "a", received: ok5 },
        { peer: "a", received: { type: "disconnect", reasonCode: 0x82 } },
        { peer: "a", closed: true },
      ],
    },
  },
  {
    name:
      "MQTT 3.1.1 CONNECT with a wrong protocol name or bad will flags is closed without CONNACK (v3.1.1) [MQTT-3.1.2-1] [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-14] [MQTT-3.1.2-15] [MQTT-3.1.4-1] [MQTT-3.2.2-6]",
    script: async (c) => {
      const attempts: [string, string, number][] = [
        ["name", "MQTX", 0x02],
        ["qos-no-will", "MQTT", 0x02 | 0x08],
        ["retain-no-will", "MQTT", 0x02 | 0x20],
        ["qos-3", "MQTT", 0x02 | 0x04 | 0x18],
      ];
      for (const [label, name, flags] of attempts) {
        const a = await c.open(label, 4);
        a.raw(rawConnect(name, 4, flags, label));
        await a.closed();
      }
    },
  },
  {
    name:
      "MQTT 3.1.1 DISCONNECT with non-zero flags closes the connection (v3.1.1) [MQTT-3.14.1-1]",
    script: async (c) => {
      const s = await c.open("s", 4);
      await hello(s, "watch");
      await subscribe(s, ["will/#"]);
      const a = await c.open("a", 4);
      await hello(a, "flags", {
        will: {
          topic: "will/flags",
          payload: new TextEncoder().encode("w"),
          qos: 0,
          retain: false,
        },
      });
      a.raw([0xe1, 0x00]);
      await a.closed();
      await s.expect(1); // not a valid DISCONNECT: the will goes out
    },
  },
  {
    name:
      "MQTT 5 AUTH with non-zero flags, and a will retain flag without a will, are malformed (v5) [MQTT-3.15.1-1] [MQTT-3.1.2-13]",
    script: async (c) => {
      const a = await c.open("a", 5);
      await hello(a, "auth-flags");
      a.raw([0xf1, 0x00]);
      await a.closed();
      const b = await c.open("b", 5);
      b.raw(rawConnect("MQTT", 5, 0x02 | 0x20, "retain-no-will"));
      await b.closed();
    },
    differs: {
      doc: "reason-codes-before-closing",
      mosquitto: [
        { peer: "a", received: ok5 },
        { peer: "a", closed: true },
        { peer: "b", closed: true },
      ],
      mq: [
        { peer: "a", received: ok5 },
        { peer: "a", received: { type: "disconnect", reasonCode: 0x81 } },
        { peer: "a", closed: true },
        { peer: "b", received: { type: "connack", sessionPresent: false, reasonCode: 0x81 } },
        { peer: "b", closed: true },
      ],
    },
  },
];
