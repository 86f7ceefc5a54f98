import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ACK_DEFERRED,
  type ClientRequest,
  type ClientResult,
  ClientSession,
  type ClientSessionChange,
  type ClientSessionOptions,
  type ClientSessionSnapshot,
} from "./client_session.ts";
import { MqttError, ProtocolError } from "./errors.ts";
import type {
  ConnackPacket,
  ConnectPacket,
  Packet,
  ProtocolVersion,
  PublishPacket,
  QoS,
} from "./packet.ts";
import type { Properties } from "./properties.ts";

const PAYLOAD = new Uint8Array([1, 2, 3]);

function message(topic: string, qos: QoS, extra: Partial<PublishPacket> = {}): PublishPacket {
  return { type: "publish", topic, payload: PAYLOAD, qos, retain: false, dup: false, ...extra };
}

function connectPacket(
  version: ProtocolVersion,
  extra: Partial<ConnectPacket> = {},
): ConnectPacket {
  return {
    type: "connect",
    protocolVersion: version,
    clientId: "c1",
    clean: true,
    keepAlive: 0,
    ...extra,
  };
}

function connack(
  sessionPresent = false,
  reasonCode = 0,
  properties?: Properties,
): ConnackPacket {
  return properties === undefined
    ? { type: "connack", sessionPresent, reasonCode }
    : { type: "connack", sessionPresent, reasonCode, properties };
}

/** A client session with recording outputs. */
function harness(options?: ClientSessionOptions) {
  const sent: Packet[] = [];
  const delivered: PublishPacket[] = [];
  const completed: [ClientRequest, ClientResult][] = [];
  const connacks: ConnackPacket[] = [];
  const auths: Packet[] = [];
  const hooks: { deliver?: (p: PublishPacket) => number | void } = {};
  const changes: ClientSessionChange[] = [];
  // Each change, with how many packets had been sent when it came.
  const changedAt: number[] = [];
  const session = new ClientSession({
    persist: (change) => {
      changes.push(change);
      changedAt.push(sent.length);
    },
    send: (p) => void sent.push(p),
    deliver: (p) => {
      delivered.push(p);
      return hooks.deliver?.(p);
    },
    complete: (request, result) => void completed.push([request, result]),
    connected: (p) => void connacks.push(p),
    auth: (p) => void auths.push(p),
  }, options);
  /** Take and clear what was sent. */
  const take = () => sent.splice(0);
  return { session, sent, delivered, completed, connacks, auths, hooks, take, changes, changedAt };
}

/** A connected session; the CONNECT and CONNACK are taken. */
function connected(
  version: ProtocolVersion,
  { connect = {}, ack }: { connect?: Partial<ConnectPacket>; ack?: Properties } = {},
  options?: ClientSessionOptions,
) {
  const h = harness(options);
  h.session.connect(connectPacket(version, connect), 0);
  assert.equal(h.session.handle(connack(false, 0, ack), 0), undefined);
  h.take();
  return h;
}

describe("ClientSession connect", () => {
  test("connect() sends CONNECT and waits for CONNACK", () => {
    const h = harness();
    const packet = connectPacket(5, { keepAlive: 30 });
    h.session.connect(packet, 0);
    assert.deepEqual(h.take(), [packet]);
    assert.equal(h.session.state, "connecting");
    assert.throws(() => h.session.connect(packet, 0), TypeError);
  });

  test("handle() adopts the CONNACK properties of MQTT 5", () => {
    const h = harness();
    h.session.connect(connectPacket(5, { clientId: "", keepAlive: 60 }), 0);
    const ack = connack(false, 0, {
      serverKeepAlive: 20,
      receiveMaximum: 7,
      maximumPacketSize: 1024,
      topicAliasMaximum: 3,
      maximumQoS: 1,
      retainAvailable: false,
      assignedClientIdentifier: "auto-1",
    });
    assert.equal(h.session.handle(ack, 1), undefined);
    assert.equal(h.session.state, "connected");
    assert.deepEqual(h.connacks, [ack]);
    assert.equal(h.session.keepAlive, 20);
    assert.equal(h.session.receiveMaximum, 7);
    assert.equal(h.session.maximumPacketSize, 1024);
    assert.equal(h.session.topicAliasMaximum, 3);
    assert.equal(h.session.maximumQoS, 1);
    assert.equal(h.session.retainAvailable, false);
    assert.equal(h.session.clientId, "auto-1");
    assert.throws(() => h.session.publish(message("t", 2), 2), RangeError);
    assert.throws(() => h.session.publish(message("t", 0, { retain: true }), 2), RangeError);
    assert.throws(
      () => h.session.publish(message("t", 0, { properties: { topicAlias: 4 } }), 2),
      RangeError,
    );
  });

  test("handle() reports a refused CONNACK with its reason code", () => {
    const h = harness();
    h.session.connect(connectPacket(5), 0);
    const err = h.session.handle(connack(false, 0x86), 1);
    assert.ok(err instanceof MqttError);
    assert.equal(err.reasonCode, 0x86);
    assert.equal(h.session.state, "offline");
    assert.deepEqual(h.connacks, []);
  });

  test("handle() maps a 3.1.1 CONNACK return code to its MQTT 5 reason code", () => {
    const codes: [number, number][] = [[1, 0x84], [2, 0x85], [3, 0x88], [4, 0x86], [5, 0x87]];
    for (const [returnCode, reasonCode] of codes) {
      const h = harness();
      h.session.connect(connectPacket(4), 0);
      assert.equal(h.session.handle(connack(false, returnCode), 1)?.reasonCode, reasonCode);
    }
  });

  test("handle() rejects packets other than AUTH before CONNACK [MQTT-3.2.0-1]", () => {
    const h = harness();
    h.session.connect(connectPacket(5, { properties: { authenticationMethod: "SCRAM" } }), 0);
    h.take();
    const auth: Packet = { type: "auth", reasonCode: 0x18 };
    assert.equal(h.session.handle(auth, 1), undefined);
    assert.deepEqual(h.auths, [auth]);
    const err = h.session.handle(message("t", 0), 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x82);
    assert.equal(err.spec, "MQTT-3.2.0-1");
    assert.equal(h.session.state, "offline");
    assert.deepEqual(h.take(), []);
  });

  test("handle() rejects AUTH when CONNECT had no authentication method [MQTT-4.12.0-6]", () => {
    const h = connected(5);
    const err = h.session.handle({ type: "auth", reasonCode: 0x18 }, 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.spec, "MQTT-4.12.0-6");
  });

  test("connect() rejects an unknown protocol version", () => {
    const h = harness();
    assert.throws(() => h.session.connect(connectPacket(6 as ProtocolVersion), 0), RangeError);
  });

  test("handle() treats a second CONNACK as a protocol error [MQTT-3.2.0-2]", () => {
    const h = connected(5);
    const err = h.session.handle(connack(), 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.spec, "MQTT-3.2.0-2");
    assert.deepEqual(h.take(), [{ type: "disconnect", reasonCode: 0x82 }]);
    assert.equal(h.session.state, "offline");
  });

  test("handle() rejects session present after a clean start [MQTT-3.2.2-2]", () => {
    const h = harness();
    h.session.connect(connectPacket(4, { clean: true }), 0);
    const err = h.session.handle(connack(true), 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.spec, "MQTT-3.2.2-2");
  });

  test("handle() ignores packets once offline", () => {
    const h = connected(4);
    h.session.connectionLost();
    assert.equal(h.session.handle(message("t", 1, { packetId: 1 }), 1), undefined);
    assert.deepEqual(h.delivered, []);
    assert.deepEqual(h.take(), []);
  });

  test("handle() reports an MQTT 5 DISCONNECT from the server with its reason code", () => {
    const h = connected(5);
    const err = h.session.handle({ type: "disconnect", reasonCode: 0x8b }, 1);
    assert.ok(err instanceof MqttError);
    assert.equal(err.reasonCode, 0x8b);
    assert.equal(h.session.state, "offline");
  });

  test("handle() rejects packets only clients send", () => {
    for (const packet of [{ type: "pingreq" }, connectPacket(4)] as Packet[]) {
      const h = connected(4);
      assert.ok(h.session.handle(packet, 1) instanceof ProtocolError);
    }
    // MQTT 3.1.1 servers never send DISCONNECT.
    const h = connected(4);
    assert.ok(h.session.handle({ type: "disconnect" }, 1) instanceof ProtocolError);
  });
});

describe("ClientSession outgoing publish", () => {
  test("publish() sends QoS 0 at once and refuses it while offline", () => {
    const h = connected(4);
    assert.equal(h.session.publish(message("a/b", 0), 1), 0);
    assert.deepEqual(h.take(), [message("a/b", 0)]);
    h.session.connectionLost();
    assert.throws(() => h.session.publish(message("a/b", 0), 2), TypeError);
  });

  test("publish() rejects an invalid topic, QoS or subscription identifier", () => {
    const h = connected(5);
    assert.throws(() => h.session.publish(message("a/#", 0), 1), TypeError);
    assert.throws(() => h.session.publish(message("", 0), 1), TypeError);
    assert.throws(() => h.session.publish(message("a", 3 as QoS), 1), RangeError);
    assert.throws(
      () => h.session.publish(message("a", 0, { properties: { subscriptionIdentifiers: [1] } }), 1),
      TypeError,
    );
  });

  test("publish() runs the QoS 1 flow and completes with the PUBACK", () => {
    const h = connected(4);
    const id = h.session.publish(message("a", 1, { dup: true, packetId: 999 }), 1);
    assert.equal(id, 1);
    assert.deepEqual(h.take(), [message("a", 1, { packetId: 1 })]);
    assert.equal(h.session.inflightCount, 1);
    const puback: Packet = { type: "puback", packetId: 1 };
    assert.equal(h.session.handle(puback, 2), undefined);
    assert.deepEqual(h.completed, [[message("a", 1, { packetId: 1 }), puback]]);
    assert.equal(h.session.inflightCount, 0);
    // A repeated PUBACK is ignored.
    assert.equal(h.session.handle(puback, 3), undefined);
    assert.equal(h.completed.length, 1);
  });

  test("publish() runs the QoS 2 flow: PUBREC, PUBREL, PUBCOMP", () => {
    const h = connected(5);
    const id = h.session.publish(message("a", 2), 1);
    h.take();
    assert.equal(h.session.handle({ type: "pubrec", packetId: id, reasonCode: 0 }, 2), undefined);
    assert.deepEqual(h.take(), [{ type: "pubrel", packetId: id, reasonCode: 0 }]);
    assert.equal(h.completed.length, 0);
    // A repeated PUBREC repeats the PUBREL.
    h.session.handle({ type: "pubrec", packetId: id, reasonCode: 0 }, 2);
    assert.deepEqual(h.take(), [{ type: "pubrel", packetId: id, reasonCode: 0 }]);
    const pubcomp: Packet = { type: "pubcomp", packetId: id, reasonCode: 0 };
    assert.equal(h.session.handle(pubcomp, 3), undefined);
    assert.deepEqual(h.completed, [[message("a", 2, { packetId: id }), pubcomp]]);
  });

  test("publish() completes on an MQTT 5 PUBREC or PUBACK of 0x80 or more [MQTT-4.4.0-2]", () => {
    const h = connected(5);
    const id2 = h.session.publish(message("a", 2), 1);
    const id1 = h.session.publish(message("b", 1), 1);
    h.take();
    const pubrec: Packet = { type: "pubrec", packetId: id2, reasonCode: 0x87 };
    const puback: Packet = { type: "puback", packetId: id1, reasonCode: 0x97 };
    h.session.handle(pubrec, 2);
    h.session.handle(puback, 2);
    assert.deepEqual(h.take(), []);
    assert.deepEqual(h.completed.map(([, result]) => result), [pubrec, puback]);
    assert.equal(h.session.inflightCount, 0);
  });

  test("handle() answers PUBREC for an unknown id with PUBREL (0x92 on MQTT 5)", () => {
    const v5 = connected(5);
    v5.session.handle({ type: "pubrec", packetId: 77, reasonCode: 0 }, 1);
    assert.deepEqual(v5.take(), [{ type: "pubrel", packetId: 77, reasonCode: 0x92 }]);
    const v4 = connected(4);
    v4.session.handle({ type: "pubrec", packetId: 77 }, 1);
    assert.deepEqual(v4.take(), [{ type: "pubrel", packetId: 77 }]);
  });

  test("handle() treats an acknowledgement of the wrong kind as a protocol error", () => {
    const h = connected(5);
    const id = h.session.publish(message("a", 2), 1);
    const err = h.session.handle({ type: "puback", packetId: id, reasonCode: 0 }, 2);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x82);
  });

  test("publish() queues beyond the server's receive maximum and drains in order", () => {
    const h = connected(5, { ack: { receiveMaximum: 2 } });
    const ids = ["a", "b", "c", "d"].map((t) => h.session.publish(message(t, 1), 1));
    assert.deepEqual(ids, [1, 2, 3, 4]);
    assert.deepEqual(h.take().map((p) => (p as PublishPacket).topic), ["a", "b"]);
    assert.equal(h.session.queuedCount, 2);
    h.session.handle({ type: "puback", packetId: 2, reasonCode: 0 }, 2);
    assert.deepEqual(h.take(), [message("c", 1, { packetId: 3 })]);
    h.session.handle({ type: "puback", packetId: 1, reasonCode: 0 }, 3);
    assert.deepEqual(h.take(), [message("d", 1, { packetId: 4 })]);
    assert.equal(h.session.queuedCount, 0);
    // QoS 0 is not bound by the receive maximum.
    h.session.publish(message("e", 1), 4);
    h.session.publish(message("f", 0), 4);
    assert.deepEqual(h.take(), [message("f", 0)]);
  });

  test("publish() queues QoS 1 and 2 while offline and sends them after CONNACK", () => {
    const h = harness();
    const id = h.session.publish(message("a", 1), 0);
    h.session.connect(connectPacket(4), 0);
    assert.equal(h.take().length, 1); // only the CONNECT
    h.session.handle(connack(), 1);
    assert.deepEqual(h.take(), [message("a", 1, { packetId: id })]);
  });

  test("publish() throws RangeError when all packet identifiers are in use", () => {
    const h = harness();
    for (let i = 0; i < 65_535; i++) h.session.publish(message("a", 1), 0);
    assert.throws(() => h.session.publish(message("a", 1), 0), RangeError);
  });
});

describe("ClientSession incoming publish", () => {
  test("handle() delivers QoS 0 and QoS 1, answering PUBACK (no reason code on 3.1.1)", () => {
    const h = connected(4);
    h.session.handle(message("a", 0), 1);
    h.session.handle(message("b", 1, { packetId: 5 }), 1);
    assert.deepEqual(h.delivered, [message("a", 0), message("b", 1, { packetId: 5 })]);
    assert.deepEqual(h.take(), [{ type: "puback", packetId: 5 }]);
  });

  test("handle() delivers QoS 2 exactly once and answers repeats with PUBREC", () => {
    const h = connected(5);
    const first = message("a", 2, { packetId: 9 });
    h.session.handle(first, 1);
    h.session.handle({ ...first, dup: true }, 2);
    h.session.handle(first, 3);
    assert.deepEqual(h.delivered, [first]);
    const pubrec = { type: "pubrec", packetId: 9, reasonCode: 0 };
    assert.deepEqual(h.take(), [pubrec, pubrec, pubrec]);
    h.session.handle({ type: "pubrel", packetId: 9, reasonCode: 0 }, 4);
    assert.deepEqual(h.take(), [{ type: "pubcomp", packetId: 9, reasonCode: 0 }]);
    // After PUBCOMP the same id is a new message [MQTT-4.3.3-12].
    h.session.handle(first, 5);
    assert.equal(h.delivered.length, 2);
  });

  test("handle() answers PUBREL for an unknown id with PUBCOMP (0x92 on MQTT 5)", () => {
    const v5 = connected(5);
    assert.equal(v5.session.handle({ type: "pubrel", packetId: 3, reasonCode: 0 }, 1), undefined);
    assert.deepEqual(v5.take(), [{ type: "pubcomp", packetId: 3, reasonCode: 0x92 }]);
    const v4 = connected(4);
    v4.session.handle({ type: "pubrel", packetId: 3 }, 1);
    assert.deepEqual(v4.take(), [{ type: "pubcomp", packetId: 3 }]);
  });

  test("handle() enforces the client's receive maximum with 0x93 [MQTT-3.3.4-9]", () => {
    const h = connected(5, { connect: { properties: { receiveMaximum: 2 } } });
    h.session.handle(message("a", 2, { packetId: 1 }), 1);
    h.session.handle(message("a", 2, { packetId: 2 }), 1);
    // A repeat of an id awaiting PUBREL does not count.
    assert.equal(h.session.handle(message("a", 2, { packetId: 2, dup: true }), 1), undefined);
    h.take();
    const err = h.session.handle(message("a", 1, { packetId: 3 }), 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x93);
    assert.equal(err.spec, "MQTT-3.3.4-9");
    assert.deepEqual(h.take(), [{ type: "disconnect", reasonCode: 0x93 }]);
    assert.equal(h.delivered.length, 2);
  });

  test("handle() resolves topic aliases and rejects invalid ones", () => {
    const h = connected(5, { connect: { properties: { topicAliasMaximum: 5 } } });
    h.session.handle(message("x/y", 0, { properties: { topicAlias: 1, contentType: "a" } }), 1);
    h.session.handle(message("", 0, { properties: { topicAlias: 1 } }), 1);
    assert.deepEqual(h.delivered, [
      message("x/y", 0, { properties: { contentType: "a" } }),
      message("x/y", 0),
    ]);
    const cases: [number, string, number, string | undefined][] = [
      [0, "t", 0x94, "MQTT-3.3.2-8"],
      [6, "t", 0x94, "MQTT-3.3.2-11"],
      [2, "", 0x82, undefined],
    ];
    for (const [topicAlias, topic, reasonCode, spec] of cases) {
      const c = connected(5, { connect: { properties: { topicAliasMaximum: 5 } } });
      const err = c.session.handle(message(topic, 0, { properties: { topicAlias } }), 1);
      assert.ok(err instanceof ProtocolError, `alias ${topicAlias}`);
      assert.equal(err.reasonCode, reasonCode);
      assert.equal(err.spec, spec);
    }
  });

  test("handle() rejects an invalid topic name with 0x90", () => {
    const h = connected(4);
    const err = h.session.handle(message("a/+", 0), 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x90);
  });

  test("acknowledge() sends a deferred PUBACK with its reason code", () => {
    const h = connected(5);
    h.hooks.deliver = () => ACK_DEFERRED;
    h.session.handle(message("a", 1, { packetId: 4 }), 1);
    assert.deepEqual(h.take(), []);
    assert.equal(h.session.acknowledge(4, 0x10), true);
    assert.deepEqual(h.take(), [{ type: "puback", packetId: 4, reasonCode: 0x10 }]);
    assert.equal(h.session.acknowledge(4), false);
    assert.throws(() => h.session.acknowledge(4, 0x42), RangeError);
  });
});

describe("ClientSession subscribe", () => {
  test("subscribe() and unsubscribe() complete with SUBACK and UNSUBACK", () => {
    const h = connected(5);
    const sid = h.session.subscribe({
      type: "subscribe",
      packetId: 0,
      subscriptions: [{ filter: "a/#", qos: 1 }, { filter: "b", qos: 2 }],
    }, 1);
    const uid = h.session.unsubscribe({ type: "unsubscribe", packetId: 0, filters: ["a/#"] }, 1);
    assert.deepEqual([sid, uid], [1, 2]);
    assert.deepEqual(h.take().map((p) => [p.type, (p as { packetId: number }).packetId]), [
      ["subscribe", 1],
      ["unsubscribe", 2],
    ]);
    const suback: Packet = { type: "suback", packetId: 1, reasonCodes: [1, 0x87] };
    const unsuback: Packet = { type: "unsuback", packetId: 2, reasonCodes: [0] };
    h.session.handle(suback, 2);
    h.session.handle(unsuback, 2);
    assert.deepEqual(h.completed.map(([request, result]) => [request.type, result]), [
      ["subscribe", suback],
      ["unsubscribe", unsuback],
    ]);
  });

  test("subscribe() validates filters and needs a connection", () => {
    const h = connected(4);
    assert.throws(
      () => h.session.subscribe({ type: "subscribe", packetId: 0, subscriptions: [] }, 1),
      TypeError,
    );
    assert.throws(
      () =>
        h.session.subscribe({
          type: "subscribe",
          packetId: 0,
          subscriptions: [{ filter: "a/#/b", qos: 0 }],
        }, 1),
      TypeError,
    );
    h.session.connectionLost();
    assert.throws(
      () => h.session.unsubscribe({ type: "unsubscribe", packetId: 0, filters: ["a"] }, 1),
      TypeError,
    );
  });

  test("handle() rejects a SUBACK whose reason codes do not match the filters", () => {
    const h = connected(4);
    h.session.subscribe({
      type: "subscribe",
      packetId: 0,
      subscriptions: [{ filter: "a", qos: 0 }],
    }, 1);
    const err = h.session.handle({ type: "suback", packetId: 1, reasonCodes: [0, 0] }, 2);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.spec, "MQTT-3.9.3-1");
  });

  test("connectionLost() fails pending SUBSCRIBE and UNSUBSCRIBE", () => {
    const h = connected(4);
    h.session.subscribe({
      type: "subscribe",
      packetId: 0,
      subscriptions: [{ filter: "a", qos: 0 }],
    }, 1);
    h.session.connectionLost();
    assert.equal(h.completed.length, 1);
    assert.ok(h.completed[0]![1] instanceof MqttError);
  });
});

describe("ClientSession keep alive", () => {
  test("tick() sends PINGREQ after a keep-alive period without sending", () => {
    const h = harness();
    h.session.connect(connectPacket(4, { keepAlive: 10 }), 0);
    assert.equal(h.session.nextDeadline(), undefined);
    h.session.handle(connack(), 100);
    h.take();
    assert.equal(h.session.nextDeadline(), 10_000);
    h.session.publish(message("a", 0), 4_000);
    assert.equal(h.session.nextDeadline(), 14_000);
    h.session.tick(13_999);
    assert.deepEqual(h.take().length, 1); // the publish only
    h.session.tick(14_000);
    assert.deepEqual(h.take(), [{ type: "pingreq" }]);
    // Waiting for the answer: default timeout is one keep-alive period.
    assert.equal(h.session.nextDeadline(), 24_000);
    h.session.handle({ type: "pingresp" }, 14_050);
    assert.equal(h.session.nextDeadline(), 24_000);
    h.session.tick(24_000);
    assert.deepEqual(h.take(), [{ type: "pingreq" }]);
  });

  test("tick() reports 0x8D when nothing arrives within the ping timeout", () => {
    const h = harness({ pingTimeout: 3_000 });
    h.session.connect(connectPacket(5, { keepAlive: 10 }), 0);
    h.session.handle(connack(), 0);
    h.session.tick(10_000);
    assert.equal(h.session.nextDeadline(), 13_000);
    assert.equal(h.session.tick(12_999), undefined);
    const err = h.session.tick(13_000);
    assert.ok(err instanceof MqttError);
    assert.equal(err.reasonCode, 0x8d);
    assert.equal(h.session.state, "offline");
  });

  test("handle() of any packet counts as the answer to PINGREQ", () => {
    const h = harness();
    h.session.connect(connectPacket(4, { keepAlive: 10 }), 0);
    h.session.handle(connack(), 0);
    h.session.tick(10_000);
    h.session.handle(message("a", 0), 15_000);
    assert.equal(h.session.nextDeadline(), 20_000);
    assert.equal(h.session.tick(25_000), undefined);
  });

  test("nextDeadline() is undefined with keep alive 0 and follows the server keep alive", () => {
    const off = connected(4);
    assert.equal(off.session.nextDeadline(), undefined);
    assert.equal(off.session.tick(1e9), undefined);
    const h = harness();
    h.session.connect(connectPacket(5, { keepAlive: 60 }), 0);
    h.session.handle(connack(false, 0, { serverKeepAlive: 5 }), 0);
    assert.equal(h.session.nextDeadline(), 5_000);
  });
});

describe("ClientSession session state", () => {
  /** Three publishes in flight: ids 1 (QoS 1), 2 (QoS 2 past PUBREC), 3 (QoS 2). */
  function withInflight(options?: ClientSessionOptions) {
    const h = connected(5, { connect: { clean: false } }, options);
    h.session.publish(message("a", 1), 1);
    h.session.publish(message("b", 2), 1);
    h.session.publish(message("c", 2), 1);
    h.session.handle({ type: "pubrec", packetId: 2, reasonCode: 0 }, 2);
    h.take();
    h.session.connectionLost();
    // Queued while offline.
    h.session.publish(message("d", 1), 3);
    h.session.connect(connectPacket(5, { clean: false }), 4);
    h.take();
    return h;
  }

  test("handle() resends in-flight messages in order after CONNACK with session present", () => {
    const h = withInflight();
    h.session.handle(connack(true), 5);
    assert.deepEqual(h.take(), [
      message("a", 1, { packetId: 1, dup: true }),
      { type: "pubrel", packetId: 2, reasonCode: 0 },
      message("c", 2, { packetId: 3, dup: true }),
      message("d", 1, { packetId: 4 }),
    ]);
    assert.equal(h.completed.length, 0);
    assert.equal(h.connacks.length, 2);
  });

  test("handle() sends unacknowledged messages again when the server lost the session", () => {
    const h = withInflight();
    h.session.handle(connack(false), 5);
    assert.deepEqual(h.take(), [
      message("a", 1, { packetId: 1, dup: true }),
      message("c", 2, { packetId: 3, dup: true }),
      message("d", 1, { packetId: 4 }),
    ]);
    // The message past PUBREC belongs to the server: it completes.
    assert.deepEqual(h.completed.map(([r, result]) => [r.packetId, result]), [
      [2, { type: "pubcomp", packetId: 2, reasonCode: 0 }],
    ]);
  });

  test("handle() fails unacknowledged messages on session loss with retryOnSessionLoss false", () => {
    const h = withInflight({ retryOnSessionLoss: false });
    h.session.handle(connack(false), 5);
    assert.deepEqual(h.take(), [message("d", 1, { packetId: 4 })]);
    const results = h.completed.map(([r, result]) => [r.packetId, result instanceof MqttError]);
    assert.deepEqual(results, [[2, false], [1, true], [3, true]]);
    // Failed ids are free again.
    assert.equal(h.session.inflightCount, 1);
  });

  test("handle() keeps QoS 2 receive state across a resumed session", () => {
    const h = connected(4, { connect: { clean: false } });
    h.session.handle(message("a", 2, { packetId: 6 }), 1);
    h.session.connectionLost();
    h.session.connect(connectPacket(4, { clean: false }), 2);
    h.session.handle(connack(true), 3);
    h.take();
    h.session.handle(message("a", 2, { packetId: 6, dup: true }), 4);
    assert.equal(h.delivered.length, 1);
    assert.deepEqual(h.take(), [{ type: "pubrec", packetId: 6 }]);
  });

  test("disconnect() sends DISCONNECT and keeps the session", () => {
    const h = connected(5, { connect: { clean: false } });
    h.session.publish(message("a", 1), 1);
    h.take();
    h.session.disconnect();
    assert.deepEqual(h.take(), [{ type: "disconnect", reasonCode: 0 }]);
    assert.equal(h.session.state, "offline");
    assert.equal(h.session.inflightCount, 1);
    assert.throws(() => h.session.disconnect(), TypeError);
  });

  test("disconnect() refuses a session expiry interval when CONNECT set none", () => {
    const h = connected(5);
    assert.throws(
      () => h.session.disconnect({ type: "disconnect", properties: { sessionExpiryInterval: 60 } }),
      RangeError,
    );
    const v4 = connected(4);
    v4.session.disconnect();
    assert.deepEqual(v4.take(), [{ type: "disconnect" }]);
  });
});

/** Apply persisted changes in order, as a store would. */
function replay(changes: readonly ClientSessionChange[]): ClientSessionSnapshot {
  const outgoing = new Map<
    number,
    { packet: PublishPacket; awaiting: "puback" | "pubrec" | "pubcomp" }
  >();
  const incoming = new Set<number>();
  for (const c of changes) {
    switch (c.type) {
      case "putOutgoing":
        outgoing.set(c.packet.packetId!, {
          packet: { ...c.packet },
          awaiting: c.packet.qos === 1 ? "puback" : "pubrec",
        });
        break;
      case "releaseOutgoing": {
        const entry = outgoing.get(c.packetId);
        if (entry !== undefined) entry.awaiting = "pubcomp";
        break;
      }
      case "deleteOutgoing":
        outgoing.delete(c.packetId);
        break;
      case "putIncoming":
        incoming.add(c.packetId);
        break;
      case "deleteIncoming":
        incoming.delete(c.packetId);
        break;
    }
  }
  return { outgoing: [...outgoing.values()], incoming: [...incoming] };
}

describe("ClientSession snapshot and restore", () => {
  /**
   * A session of `version` with, sent and unacknowledged: "a" QoS 1 (id 1), "b" QoS 2 past
   * PUBREC (id 2), "c" QoS 2 (id 3); received: QoS 2 ids 7 and 8 waiting for PUBREL.
   */
  function busy(version: ProtocolVersion) {
    const h = connected(version, { connect: { clean: false } });
    h.session.publish(message("a", 1), 1);
    h.session.publish(message("b", 2), 1);
    h.session.publish(message("c", 2), 1);
    h.session.handle(ackOf("pubrec", 2, version), 2);
    h.session.handle(message("in", 2, { packetId: 7 }), 3);
    h.session.handle(message("in", 2, { packetId: 8 }), 3);
    h.take();
    return h;
  }

  function ackOf(
    type: "pubrec" | "pubcomp" | "puback",
    packetId: number,
    version: ProtocolVersion,
  ) {
    return version === 5 ? { type, packetId, reasonCode: 0 } : { type, packetId };
  }

  test("snapshot() exports sent messages in order with their phase, and incoming ids", () => {
    const h = busy(5);
    assert.deepEqual(h.session.snapshot(), {
      outgoing: [
        { packet: message("a", 1, { packetId: 1 }), awaiting: "puback" },
        {
          packet: message("b", 2, { packetId: 2 }),
          awaiting: "pubcomp",
        },
        { packet: message("c", 2, { packetId: 3 }), awaiting: "pubrec" },
      ],
      incoming: [7, 8],
    });
    // A copy: changing it does not change the session.
    h.session.snapshot().outgoing[0]!.packet.dup = true;
    assert.equal(h.session.snapshot().outgoing[0]!.packet.dup, false);
  });

  test("snapshot() leaves out messages not yet sent and incoming ones awaiting the host", () => {
    const h = connected(5, { ack: { receiveMaximum: 1 } });
    h.session.publish(message("a", 1), 1);
    h.session.publish(message("b", 1), 1);
    h.hooks.deliver = () => ACK_DEFERRED;
    h.session.handle(message("in", 2, { packetId: 5 }), 2);
    const snapshot = h.session.snapshot();
    assert.deepEqual(snapshot.outgoing.map((e) => e.packet.topic), ["a"]);
    assert.deepEqual(snapshot.incoming, []);
  });

  for (const version of [5, 4, 3] as const) {
    test(`restore() resumes like the live session after session present, protocol ${version}`, () => {
      const live = busy(version);
      const snapshot = live.session.snapshot();
      live.session.connectionLost();
      live.session.connect(connectPacket(version, { clean: false }), 10);
      live.session.handle(connack(true), 11);
      const expected = live.take();

      const h = harness();
      h.session.restore(snapshot);
      assert.equal(h.session.inflightCount, 3);
      h.session.connect(connectPacket(version, { clean: false }), 10);
      h.session.handle(connack(true), 11);
      assert.deepEqual(h.take(), expected);
      const pubrel = version === 5
        ? { type: "pubrel", packetId: 2, reasonCode: 0 }
        : { type: "pubrel", packetId: 2 };
      assert.deepEqual(expected.slice(1), [
        message("a", 1, { packetId: 1, dup: true }),
        pubrel,
        message("c", 2, { packetId: 3, dup: true }),
      ]);

      // The flows complete with the server's acknowledgements.
      h.session.handle(ackOf("puback", 1, version), 12);
      h.session.handle(ackOf("pubcomp", 2, version), 12);
      h.session.handle(ackOf("pubrec", 3, version), 12);
      h.session.handle(ackOf("pubcomp", 3, version), 12);
      assert.deepEqual(h.completed.map(([r]) => r.packetId), [1, 2, 3]);
      assert.equal(h.session.inflightCount, 0);

      // A repeated incoming QoS 2 PUBLISH is acknowledged, not delivered.
      h.session.handle(message("in", 2, { packetId: 7, dup: true }), 13);
      assert.equal(h.delivered.length, 0);
      assert.deepEqual(h.take().at(-1), ackOf("pubrec", 7, version));
      h.session.handle(
        version === 5
          ? { type: "pubrel", packetId: 8, reasonCode: 0 }
          : { type: "pubrel", packetId: 8 },
        14,
      );
      assert.deepEqual(h.take(), [ackOf("pubcomp", 8, version)]);
      assert.deepEqual(h.session.snapshot(), { outgoing: [], incoming: [7] });
    });
  }

  test("restore() reserves the packet ids of restored messages", () => {
    const h = harness();
    h.session.restore({
      outgoing: [{ packet: message("a", 1, { packetId: 1 }), awaiting: "puback" }],
      incoming: [],
    });
    h.session.connect(connectPacket(5, { clean: false }), 0);
    h.session.handle(connack(true), 0);
    assert.notEqual(h.session.publish(message("b", 1), 1), 1);
    assert.notEqual(
      h.session.subscribe({
        type: "subscribe",
        packetId: 0,
        subscriptions: [{ filter: "x", qos: 0 }],
      }, 1),
      1,
    );
  });

  test("restore() then a CONNACK without session present sends the messages again", () => {
    const h = harness();
    h.session.restore(busy(5).session.snapshot());
    h.session.connect(connectPacket(5, { clean: false }), 0);
    h.session.handle(connack(false), 1);
    assert.deepEqual(h.take().slice(1), [
      message("a", 1, { packetId: 1, dup: true }),
      message("c", 2, { packetId: 3, dup: true }),
    ]);
    // Past PUBREC: the server owned it.
    assert.deepEqual(h.completed.map(([r]) => r.packetId), [2]);
    // Incoming state is gone with the session: id 7 is a new message.
    h.session.handle(message("in", 2, { packetId: 7 }), 2);
    assert.equal(h.delivered.length, 1);
  });

  test("restore() refuses a session that is not offline or not empty", () => {
    const snapshot: ClientSessionSnapshot = { outgoing: [], incoming: [1] };
    const online = connected(5);
    assert.throws(() => online.session.restore(snapshot), TypeError);
    const used = busy(5);
    used.session.connectionLost();
    assert.throws(() => used.session.restore(snapshot), TypeError);
  });

  test("restore() validates every entry before changing anything", () => {
    const h = harness();
    const ok = { packet: message("a", 1, { packetId: 1 }), awaiting: "puback" as const };
    const bad: [ClientSessionSnapshot, typeof TypeError | typeof RangeError][] = [
      [{
        outgoing: [ok, { packet: message("b", 1, { packetId: 0 }), awaiting: "puback" }],
        incoming: [],
      }, RangeError],
      [{
        outgoing: [ok, { packet: message("b", 1, { packetId: 1 }), awaiting: "puback" }],
        incoming: [],
      }, RangeError],
      [{ outgoing: [ok], incoming: [3, 3] }, RangeError],
      [{ outgoing: [ok], incoming: [70_000] }, RangeError],
      [{
        outgoing: [{ packet: message("b", 0, { packetId: 2 }), awaiting: "puback" }],
        incoming: [],
      }, TypeError],
      [{
        outgoing: [{ packet: message("b", 1, { packetId: 2 }), awaiting: "pubcomp" }],
        incoming: [],
      }, TypeError],
      [{
        outgoing: [{ packet: message("b", 2, { packetId: 2 }), awaiting: "puback" }],
        incoming: [],
      }, TypeError],
      [{
        outgoing: [{ packet: message("b/#", 2, { packetId: 2 }), awaiting: "pubrec" }],
        incoming: [],
      }, TypeError],
    ];
    for (const [snapshot, type] of bad) {
      assert.throws(() => h.session.restore(snapshot), type);
      assert.equal(h.session.inflightCount, 0);
    }
    h.session.restore({ outgoing: [ok], incoming: [3] });
    assert.equal(h.session.inflightCount, 1);
  });

  test("persist() reports each change before the packet that makes it", () => {
    const h = connected(5, { connect: { clean: false } });
    h.changes.length = 0;
    h.changedAt.length = 0;
    const base = h.sent.length;
    h.session.publish(message("a", 1), 1); // sent[0]
    h.session.publish(message("b", 2), 1); // sent[1]
    h.session.handle({ type: "pubrec", packetId: 2, reasonCode: 0 }, 2); // sent[2]: PUBREL
    h.session.handle({ type: "puback", packetId: 1, reasonCode: 0 }, 2);
    h.session.handle({ type: "pubcomp", packetId: 2, reasonCode: 0 }, 2);
    h.session.handle(message("in", 2, { packetId: 9 }), 3); // sent[3]: PUBREC
    h.session.handle({ type: "pubrel", packetId: 9, reasonCode: 0 }, 3); // sent[4]: PUBCOMP
    assert.deepEqual(h.changes, [
      { type: "putOutgoing", packet: message("a", 1, { packetId: 1 }) },
      { type: "putOutgoing", packet: message("b", 2, { packetId: 2 }) },
      { type: "releaseOutgoing", packetId: 2 },
      { type: "deleteOutgoing", packetId: 1 },
      { type: "deleteOutgoing", packetId: 2 },
      { type: "putIncoming", packetId: 9 },
      { type: "deleteIncoming", packetId: 9 },
    ]);
    assert.deepEqual(h.changedAt.map((n) => n - base), [0, 1, 2, 3, 3, 3, 4]);
    assert.deepEqual(h.completed.map(([r]) => r.packetId), [1, 2]);
  });

  test("persist() reports no change for resends, refused PUBREC or an unknown PUBREC", () => {
    const h = busy(5);
    const before = h.changes.length;
    h.session.connectionLost();
    h.session.connect(connectPacket(5, { clean: false }), 10);
    h.session.handle(connack(true), 11);
    h.session.handle({ type: "pubrec", packetId: 99, reasonCode: 0 }, 12);
    h.hooks.deliver = () => 0x80;
    h.session.handle(message("in", 2, { packetId: 10 }), 12);
    // Only the PUBREL resent for id 2 repeats its change.
    assert.deepEqual(h.changes.slice(before), [{ type: "releaseOutgoing", packetId: 2 }]);
  });

  test("persist() changes replayed in order give the snapshot", () => {
    const h = busy(5);
    assert.deepEqual(replay(h.changes), h.session.snapshot());
    h.session.handle({ type: "puback", packetId: 1, reasonCode: 0 }, 5);
    h.session.handle({ type: "pubrel", packetId: 7, reasonCode: 0 }, 5);
    assert.deepEqual(replay(h.changes), h.session.snapshot());
    // The server lost the session: released messages and incoming ids are deleted.
    h.session.connectionLost();
    h.session.connect(connectPacket(5, { clean: false }), 6);
    h.session.handle(connack(false), 7);
    assert.deepEqual(replay(h.changes), h.session.snapshot());
    assert.deepEqual(replay(h.changes).incoming, []);
    assert.deepEqual(replay(h.changes).outgoing.map((e) => e.packet.packetId), [3]);
  });
});
