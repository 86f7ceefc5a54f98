import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type AcceptOptions,
  ACK_DEFERRED,
  type PublishAck,
  ServerSession,
  type ServerSessionOptions,
} from "./server_session.ts";
import { MqttError, ProtocolError } from "./errors.ts";
import type {
  ConnectPacket,
  Packet,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubscribePacket,
  UnsubscribePacket,
} from "./packet.ts";

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

/** A server session with recording outputs; `hooks` customise the broker's answers. */
function harness(options?: ServerSessionOptions) {
  const sent: Packet[] = [];
  const published: PublishPacket[] = [];
  const connects: ConnectPacket[] = [];
  const requests: (SubscribePacket | UnsubscribePacket)[] = [];
  const delivered: [PublishPacket, PublishAck][] = [];
  const hooks: {
    connect?: (p: ConnectPacket) => void;
    publish?: (p: PublishPacket) => number | void;
  } = {};
  const session: ServerSession = new ServerSession({
    send: (p) => void sent.push(p),
    connect: (p) => {
      connects.push(p);
      hooks.connect?.(p);
    },
    publish: (p) => {
      published.push(p);
      return hooks.publish?.(p);
    },
    subscribe: (p) => void requests.push(p),
    unsubscribe: (p) => void requests.push(p),
    delivered: (p, ack) => void delivered.push([p, ack]),
  }, options);
  const take = () => sent.splice(0);
  return { session, sent, published, connects, requests, delivered, hooks, take };
}

/** A connected session; the CONNACK is taken. */
function connected(
  version: ProtocolVersion,
  connect: Partial<ConnectPacket> = {},
  accept: AcceptOptions = {},
  options?: ServerSessionOptions,
) {
  const h = harness(options);
  h.session.handle(connectPacket(version, connect), 0);
  assert.equal(h.session.accept(accept, 0), undefined);
  h.take();
  return h;
}

describe("ServerSession connect", () => {
  test("handle() rejects a first packet other than CONNECT [MQTT-3.1.0-1]", () => {
    const h = harness();
    const err = h.session.handle(message("a", 0), 0);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x82);
    assert.equal(err.spec, "MQTT-3.1.0-1");
    assert.equal(h.session.state, "closed");
    assert.deepEqual(h.take(), []);
  });

  test("handle() rejects a second CONNECT [MQTT-3.1.0-2]", () => {
    const waiting = harness();
    waiting.session.handle(connectPacket(5), 0);
    const early = waiting.session.handle(connectPacket(5), 1);
    assert.ok(early instanceof ProtocolError);
    assert.equal(early.spec, "MQTT-3.1.0-2");
    assert.deepEqual(waiting.take(), []);

    const h = connected(5);
    const err = h.session.handle(connectPacket(5), 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.spec, "MQTT-3.1.0-2");
    assert.deepEqual(h.take(), [{ type: "disconnect", reasonCode: 0x82 }]);
    assert.equal(h.session.state, "closed");
  });

  test("accept() sends CONNACK with the MQTT 5 properties and applies them", () => {
    const h = harness();
    const connect = connectPacket(5, {
      keepAlive: 100,
      properties: { receiveMaximum: 3, maximumPacketSize: 500, topicAliasMaximum: 4 },
    });
    h.session.handle(connect, 0);
    assert.deepEqual(h.connects, [connect]);
    assert.equal(h.session.state, "authenticating");
    h.session.accept({ properties: { serverKeepAlive: 30, assignedClientIdentifier: "x" } }, 0);
    assert.deepEqual(h.take(), [{
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { serverKeepAlive: 30, assignedClientIdentifier: "x" },
    }]);
    assert.equal(h.session.state, "connected");
    assert.equal(h.session.keepAlive, 30);
    assert.equal(h.session.clientReceiveMaximum, 3);
    assert.equal(h.session.clientMaximumPacketSize, 500);
    assert.equal(h.session.clientTopicAliasMaximum, 4);
    assert.throws(() => h.session.accept({}, 0), TypeError);
  });

  test("accept() sends a 3.1.1 CONNACK without properties", () => {
    const h = harness();
    h.session.handle(connectPacket(4), 0);
    h.session.accept({ properties: { receiveMaximum: 5 } }, 0);
    assert.deepEqual(h.take(), [{ type: "connack", sessionPresent: false, reasonCode: 0 }]);
    assert.equal(h.session.clientReceiveMaximum, 20);
    assert.equal(h.session.sessionExpiryInterval, 0);
  });

  test("refuse() sends the reason code, or its 3.1.1 return code, and closes", () => {
    const cases: [ProtocolVersion, number, number][] = [[5, 0x86, 0x86], [4, 0x86, 4], [
      3,
      0x87,
      5,
    ], [4, 0x84, 1]];
    for (const [version, reasonCode, wire] of cases) {
      const h = harness();
      h.session.handle(connectPacket(version), 0);
      h.session.handle(message("a", 0), 1); // buffered, then dropped [MQTT-3.1.4-6]
      h.session.refuse(reasonCode);
      assert.deepEqual(h.take(), [{ type: "connack", sessionPresent: false, reasonCode: wire }]);
      assert.equal(h.session.state, "closed");
      assert.deepEqual(h.published, []);
    }
    const h = harness();
    h.session.handle(connectPacket(5), 0);
    assert.throws(() => h.session.refuse(0), RangeError);
    assert.throws(() => h.session.refuse(0x8d), RangeError); // not a CONNACK code
  });

  test("accept() handles packets that arrived before the decision, after CONNACK", () => {
    const h = harness();
    h.session.handle(connectPacket(4), 0);
    h.session.handle(message("a", 1, { packetId: 1 }), 1);
    h.session.handle({ type: "pingreq" }, 2);
    assert.deepEqual(h.take(), []);
    assert.equal(h.session.accept({}, 3), undefined);
    assert.deepEqual(h.take(), [
      { type: "connack", sessionPresent: false, reasonCode: 0 },
      { type: "puback", packetId: 1 },
      { type: "pingresp" },
    ]);
  });

  test("handle() bounds the packets buffered before the decision", () => {
    const h = harness({ maxPendingPackets: 1 });
    h.session.handle(connectPacket(4), 0);
    assert.equal(h.session.handle({ type: "pingreq" }, 1), undefined);
    const err = h.session.handle({ type: "pingreq" }, 1);
    assert.ok(err instanceof MqttError);
    assert.equal(err.reasonCode, 0x97);
    assert.equal(h.session.state, "closed");
  });

  test("handle() rejects packets only servers send", () => {
    for (
      const packet of [
        { type: "connack", sessionPresent: false, reasonCode: 0 },
        { type: "suback", packetId: 1, reasonCodes: [0] },
        { type: "pingresp" },
      ] as Packet[]
    ) {
      const h = connected(4);
      assert.ok(h.session.handle(packet, 1) instanceof ProtocolError, packet.type);
    }
  });
});

describe("ServerSession keep alive", () => {
  test("tick() reports 0x8D at 1.5 times the keep alive without a packet", () => {
    const h = harness();
    h.session.handle(connectPacket(5, { keepAlive: 10 }), 0);
    assert.equal(h.session.nextDeadline(), undefined);
    h.session.accept({}, 1_000);
    h.take();
    assert.equal(h.session.nextDeadline(), 16_000);
    h.session.handle({ type: "pingreq" }, 5_000);
    assert.deepEqual(h.take(), [{ type: "pingresp" }]);
    assert.equal(h.session.nextDeadline(), 20_000);
    assert.equal(h.session.tick(19_999), undefined);
    const err = h.session.tick(20_000);
    assert.ok(err instanceof MqttError);
    assert.equal(err.reasonCode, 0x8d);
    assert.equal(err.spec, "MQTT-3.1.2-22");
    assert.deepEqual(h.take(), [{ type: "disconnect", reasonCode: 0x8d }]);
    assert.equal(h.session.state, "closed");
    assert.equal(h.session.nextDeadline(), undefined);
  });

  test("tick() on 3.1.1 closes without DISCONNECT and cites [MQTT-3.1.2-24]", () => {
    const h = connected(4, { keepAlive: 2 });
    assert.equal(h.session.tick(3_000)?.spec, "MQTT-3.1.2-24");
    assert.deepEqual(h.take(), []);
  });

  test("nextDeadline() follows the server keep alive and is off for keep alive 0", () => {
    assert.equal(connected(5, { keepAlive: 0 }).session.nextDeadline(), undefined);
    const h = connected(5, { keepAlive: 100 }, { properties: { serverKeepAlive: 4 } });
    assert.equal(h.session.nextDeadline(), 6_000);
  });
});

describe("ServerSession incoming publish", () => {
  test("handle() delivers QoS 1 and answers PUBACK with the broker's reason code", () => {
    const h = connected(5);
    h.hooks.publish = () => 0x10;
    h.session.handle(message("a", 1, { packetId: 3 }), 1);
    assert.deepEqual(h.published, [message("a", 1, { packetId: 3 })]);
    assert.deepEqual(h.take(), [{ type: "puback", packetId: 3, reasonCode: 0x10 }]);
    // 3.1.1 has no reason codes.
    const v4 = connected(4);
    v4.hooks.publish = () => 0x87;
    v4.session.handle(message("a", 1, { packetId: 3 }), 1);
    assert.deepEqual(v4.take(), [{ type: "puback", packetId: 3 }]);
  });

  test("handle() delivers QoS 2 once until PUBREL [MQTT-4.3.3-10]", () => {
    const h = connected(4);
    const first = message("a", 2, { packetId: 8 });
    h.session.handle(first, 1);
    h.session.handle({ ...first, dup: true }, 2);
    assert.deepEqual(h.published, [first]);
    assert.deepEqual(h.take(), [{ type: "pubrec", packetId: 8 }, { type: "pubrec", packetId: 8 }]);
    h.session.handle({ type: "pubrel", packetId: 8 }, 3);
    assert.deepEqual(h.take(), [{ type: "pubcomp", packetId: 8 }]);
    h.session.handle({ type: "pubrel", packetId: 8 }, 4);
    assert.deepEqual(h.take(), [{ type: "pubcomp", packetId: 8 }]);
  });

  test("handle() answers PUBREL for an unknown id with PUBCOMP 0x92 on MQTT 5", () => {
    const h = connected(5);
    assert.equal(h.session.handle({ type: "pubrel", packetId: 1, reasonCode: 0 }, 1), undefined);
    assert.deepEqual(h.take(), [{ type: "pubcomp", packetId: 1, reasonCode: 0x92 }]);
    assert.equal(h.session.state, "connected");
  });

  test("handle() forgets a QoS 2 message refused with PUBREC 0x80 or more [MQTT-4.3.3-9]", () => {
    const h = connected(5);
    h.hooks.publish = () => 0x87;
    const first = message("a", 2, { packetId: 2 });
    h.session.handle(first, 1);
    h.session.handle(first, 2);
    assert.equal(h.published.length, 2);
    assert.deepEqual(h.take(), [
      { type: "pubrec", packetId: 2, reasonCode: 0x87 },
      { type: "pubrec", packetId: 2, reasonCode: 0x87 },
    ]);
  });

  test("acknowledge() answers a deferred QoS 1 and QoS 2 message", () => {
    const h = connected(5);
    h.hooks.publish = () => ACK_DEFERRED;
    h.session.handle(message("a", 1, { packetId: 1 }), 1);
    h.session.handle(message("a", 2, { packetId: 2 }), 1);
    // A repeat while the decision is pending is neither delivered nor answered.
    h.session.handle(message("a", 2, { packetId: 2, dup: true }), 1);
    assert.deepEqual(h.take(), []);
    assert.equal(h.published.length, 2);
    // PUBREL before PUBREC is a protocol error, tested on a copy below.
    assert.equal(h.session.acknowledge(2, 0x10), true);
    assert.equal(h.session.acknowledge(1), true);
    assert.equal(h.session.acknowledge(1), false);
    assert.deepEqual(h.take(), [
      { type: "pubrec", packetId: 2, reasonCode: 0x10 },
      { type: "puback", packetId: 1, reasonCode: 0 },
    ]);
    const early = connected(5);
    early.hooks.publish = () => ACK_DEFERRED;
    early.session.handle(message("a", 2, { packetId: 2 }), 1);
    assert.ok(
      early.session.handle({ type: "pubrel", packetId: 2, reasonCode: 0 }, 2) instanceof
        ProtocolError,
    );
  });

  test("handle() enforces the server's receive maximum with 0x93 [MQTT-3.3.4-7]", () => {
    const h = connected(5, {}, { properties: { receiveMaximum: 2 } });
    h.hooks.publish = () => ACK_DEFERRED;
    h.session.handle(message("a", 1, { packetId: 1 }), 1);
    h.session.handle(message("a", 2, { packetId: 2 }), 1);
    const err = h.session.handle(message("a", 1, { packetId: 3 }), 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x93);
    assert.equal(err.spec, "MQTT-3.3.4-7");
    assert.deepEqual(h.take(), [{ type: "disconnect", reasonCode: 0x93 }]);
  });

  test("handle() resolves topic aliases so the broker sees full topics", () => {
    const h = connected(5, {}, { properties: { topicAliasMaximum: 10 } });
    h.session.handle(message("s/1", 1, { packetId: 1, properties: { topicAlias: 10 } }), 1);
    h.session.handle(message("", 0, { properties: { topicAlias: 10, contentType: "x" } }), 1);
    assert.deepEqual(h.published, [
      message("s/1", 1, { packetId: 1 }),
      message("s/1", 0, { properties: { contentType: "x" } }),
    ]);
  });

  test("handle() rejects topic alias 0, too large, or unknown", () => {
    const cases: [number, string, number, string | undefined][] = [
      [0, "t", 0x94, "MQTT-3.3.2-8"],
      [11, "t", 0x94, "MQTT-3.3.2-9"],
      [3, "", 0x82, undefined],
    ];
    for (const [topicAlias, topic, reasonCode, spec] of cases) {
      const h = connected(5, {}, { properties: { topicAliasMaximum: 10 } });
      const err = h.session.handle(message(topic, 0, { properties: { topicAlias } }), 1);
      assert.ok(err instanceof ProtocolError, `alias ${topicAlias}`);
      assert.equal(err.reasonCode, reasonCode);
      assert.equal(err.spec, spec);
      assert.deepEqual(h.take(), [{ type: "disconnect", reasonCode }]);
    }
    // Without a Topic Alias Maximum every alias is invalid.
    const h = connected(5);
    assert.equal(
      h.session.handle(message("t", 0, { properties: { topicAlias: 1 } }), 1)?.reasonCode,
      0x94,
    );
  });

  test("handle() enforces maximum QoS, retain available and no subscription identifiers", () => {
    const qos = connected(5, {}, { properties: { maximumQoS: 1 } });
    assert.equal(qos.session.handle(message("a", 2, { packetId: 1 }), 1)?.reasonCode, 0x9b);
    const retain = connected(5, {}, { properties: { retainAvailable: false } });
    assert.equal(retain.session.handle(message("a", 0, { retain: true }), 1)?.reasonCode, 0x9a);
    const ids = connected(5);
    const err = ids.session.handle(
      message("a", 0, { properties: { subscriptionIdentifiers: [1] } }),
      1,
    );
    assert.equal(err?.spec, "MQTT-3.3.4-6");
  });

  test("handle() rejects a topic name with a wildcard with 0x90", () => {
    const h = connected(4);
    const err = h.session.handle(message("a/#", 0), 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x90);
    assert.equal(err.spec, "MQTT-4.7.0-1");
  });
});

describe("ServerSession outgoing delivery", () => {
  test("deliver() sends QoS 0 as is and QoS 1 with a fresh packet id", () => {
    const h = connected(4);
    const original = message("a", 1, { packetId: 99, dup: true });
    assert.equal(h.session.deliver(message("z", 0), 1), "sent");
    assert.equal(h.session.deliver(original, 1), "sent");
    assert.deepEqual(h.take(), [message("z", 0), message("a", 1, { packetId: 1 })]);
    // The broker's object is shared between sessions and never modified.
    assert.deepEqual(original, message("a", 1, { packetId: 99, dup: true }));
    h.session.handle({ type: "puback", packetId: 1 }, 2);
    assert.deepEqual(h.delivered, [[message("a", 1, { packetId: 1 }), {
      type: "puback",
      packetId: 1,
    }]]);
  });

  test("deliver() clears DUP and the packet id of a QoS 0 message", () => {
    const h = connected(4);
    h.session.deliver(message("a", 0, { dup: true, packetId: 4 }), 1);
    assert.deepEqual(h.take(), [message("a", 0)]);
  });

  test("deliver() runs the QoS 2 flow to PUBCOMP", () => {
    const h = connected(5);
    h.session.deliver(message("a", 2), 1);
    h.take();
    h.session.handle({ type: "pubrec", packetId: 1, reasonCode: 0 }, 2);
    assert.deepEqual(h.take(), [{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    h.session.handle({ type: "pubcomp", packetId: 1, reasonCode: 0 }, 3);
    assert.equal(h.delivered.length, 1);
    assert.equal(h.session.inflightCount, 0);
  });

  test("deliver() bounds the window and drains the queue in order", () => {
    const h = connected(4, {}, {}, { maxInflight: 2 });
    const results = ["a", "b", "c", "d"].map((t) => h.session.deliver(message(t, 1), 1));
    assert.deepEqual(results, ["sent", "sent", "queued", "queued"]);
    assert.deepEqual(h.take().map((p) => (p as PublishPacket).packetId), [1, 2]);
    h.session.handle({ type: "puback", packetId: 2 }, 2);
    h.session.handle({ type: "puback", packetId: 1 }, 3);
    assert.deepEqual(h.take(), [
      message("c", 1, { packetId: 3 }),
      message("d", 1, { packetId: 4 }),
    ]);
    // QoS 0 bypasses a full window.
    h.session.deliver(message("e", 0), 4);
    assert.deepEqual(h.take(), [message("e", 0)]);
  });

  test("deliver() uses the MQTT 5 client's receive maximum as the window", () => {
    const h = connected(5, { properties: { receiveMaximum: 1 } }, {}, { maxInflight: 50 });
    assert.equal(h.session.deliver(message("a", 2), 1), "sent");
    assert.equal(h.session.deliver(message("b", 1), 1), "queued");
    // A refusal ends the flow and frees the slot [MQTT-4.4.0-2].
    h.session.handle({ type: "pubrec", packetId: 1, reasonCode: 0x80 }, 2);
    assert.deepEqual(h.take().at(-1), message("b", 1, { packetId: 2 }));
  });

  test("deliver() drops and counts messages beyond the queue limits", () => {
    const h = connected(4, {}, {}, { maxInflight: 1, maxQueuedMessages: 2 });
    const results = ["a", "b", "c", "d"].map((t) => h.session.deliver(message(t, 1), 1));
    assert.deepEqual(results, ["sent", "queued", "queued", "dropped"]);
    assert.equal(h.session.droppedCount, 1);
    assert.equal(h.session.queuedCount, 2);
    assert.equal(h.session.queuedBytes, 6);

    const bytes = connected(4, {}, {}, { maxInflight: 1, maxQueuedBytes: 4 });
    const sizes = [1, 3, 2].map((n) =>
      bytes.session.deliver(message("a", 1, { payload: new Uint8Array(n) }), 1)
    );
    assert.deepEqual(sizes, ["sent", "queued", "dropped"]);
    assert.equal(
      bytes.session.deliver(message("a", 1, { payload: new Uint8Array(1) }), 1),
      "queued",
    );
    assert.equal(bytes.session.droppedCount, 1);
  });

  test("deliver() shortens the expiry interval by the time queued, and drops expired", () => {
    const h = connected(5, { properties: { receiveMaximum: 1 } });
    const props = { messageExpiryInterval: 10 };
    h.session.deliver(message("a", 1), 0);
    h.session.deliver(message("b", 1, { properties: props }), 0);
    h.session.deliver(message("c", 1, { properties: props }), 0);
    h.take();
    h.session.handle({ type: "puback", packetId: 1, reasonCode: 0 }, 4_500);
    assert.deepEqual(h.take(), [
      message("b", 1, { packetId: 2, properties: { messageExpiryInterval: 6 } }),
    ]);
    h.session.handle({ type: "puback", packetId: 2, reasonCode: 0 }, 10_000);
    assert.deepEqual(h.take(), []);
    assert.equal(h.session.expiredCount, 1);
  });

  test("deliver() queues for an offline session; QoS 0 only with queueQoS0", () => {
    const h = connected(4, { clean: false });
    h.session.connectionLost();
    assert.equal(h.session.deliver(message("a", 0), 1), "dropped");
    assert.equal(h.session.deliver(message("a", 1), 1), "queued");
    assert.equal(h.session.droppedCount, 0);
    const q0 = connected(4, { clean: false }, {}, { queueQoS0: true });
    q0.session.connectionLost();
    assert.equal(q0.session.deliver(message("a", 0), 1), "queued");
  });

  test("handle() ignores acknowledgements for unknown ids and rejects the wrong kind", () => {
    const h = connected(5);
    assert.equal(h.session.handle({ type: "puback", packetId: 5, reasonCode: 0 }, 1), undefined);
    assert.equal(h.session.handle({ type: "pubcomp", packetId: 5, reasonCode: 0 }, 1), undefined);
    h.session.deliver(message("a", 1), 1);
    const err = h.session.handle({ type: "pubrec", packetId: 1, reasonCode: 0 }, 2);
    assert.ok(err instanceof ProtocolError);
  });
});

describe("ServerSession resumption", () => {
  test("accept() with a previous session resends in order, then drains its queue", () => {
    const old = connected(5, { clean: false, properties: { receiveMaximum: 3 } });
    old.session.deliver(message("a", 2), 1); // id 1, will pass PUBREC
    old.session.deliver(message("b", 1), 1); // id 2
    old.session.deliver(message("c", 2), 1); // id 3
    old.session.deliver(message("d", 1), 1); // queued
    old.session.handle({ type: "pubrec", packetId: 1, reasonCode: 0 }, 2);
    old.session.connectionLost();
    old.session.deliver(message("e", 1), 3); // queued while offline
    assert.equal(old.session.queuedCount, 2);

    const h = harness();
    h.session.handle(connectPacket(5, { clean: false, properties: { receiveMaximum: 4 } }), 4);
    h.session.accept({ previous: old.session }, 4);
    assert.deepEqual(h.take(), [
      { type: "connack", sessionPresent: true, reasonCode: 0 },
      { type: "pubrel", packetId: 1, reasonCode: 0 },
      message("b", 1, { packetId: 2, dup: true }),
      message("c", 2, { packetId: 3, dup: true }),
      message("d", 1, { packetId: 4 }),
    ]);
    assert.equal(h.session.queuedCount, 1);
    h.session.handle({ type: "pubcomp", packetId: 1, reasonCode: 0 }, 5);
    assert.deepEqual(h.take(), [message("e", 1, { packetId: 5 })]);
    assert.throws(() => old.session.deliver(message("x", 1), 6), TypeError);
  });

  test("accept() with a previous session keeps exactly-once state for QoS 2", () => {
    const old = connected(4, { clean: false });
    old.session.handle(message("a", 2, { packetId: 7 }), 1);
    old.session.connectionLost();
    const h = harness();
    h.session.handle(connectPacket(4, { clean: false }), 2);
    h.session.accept({ previous: old.session }, 2);
    h.take();
    h.session.handle(message("a", 2, { packetId: 7, dup: true }), 3);
    assert.deepEqual(h.published, []);
    assert.deepEqual(h.take(), [{ type: "pubrec", packetId: 7 }]);
  });

  test("accept() refuses to resume on a clean start or twice", () => {
    const old = connected(4, { clean: false });
    const clean = harness();
    clean.session.handle(connectPacket(4, { clean: true }), 0);
    assert.throws(() => clean.session.accept({ previous: old.session }, 0), TypeError);
    const first = harness();
    first.session.handle(connectPacket(4, { clean: false }), 0);
    first.session.accept({ previous: old.session }, 0);
    const second = harness();
    second.session.handle(connectPacket(4, { clean: false }), 0);
    assert.throws(() => second.session.accept({ previous: old.session }, 0), TypeError);
  });

  test("accept() never sets session present for MQTT 3.1", () => {
    const old = connected(3, { clean: false });
    const h = harness();
    h.session.handle(connectPacket(3, { clean: false }), 0);
    h.session.accept({ previous: old.session }, 0);
    assert.deepEqual(h.take(), [{ type: "connack", sessionPresent: false, reasonCode: 0 }]);
  });
});

describe("ServerSession subscriptions and disconnect", () => {
  test("suback() and unsuback() answer in the session's version", () => {
    const subscribe: SubscribePacket = {
      type: "subscribe",
      packetId: 4,
      subscriptions: [{ filter: "a", qos: 2 }, { filter: "b", qos: 1 }],
    };
    const unsubscribe: UnsubscribePacket = { type: "unsubscribe", packetId: 5, filters: ["a"] };
    const v4 = connected(4);
    v4.session.handle(subscribe, 1);
    v4.session.handle(unsubscribe, 1);
    assert.deepEqual(v4.requests, [subscribe, unsubscribe]);
    v4.session.suback(subscribe, [2, 0x87]);
    v4.session.unsuback(unsubscribe, [0x11]);
    assert.deepEqual(v4.take(), [
      { type: "suback", packetId: 4, reasonCodes: [2, 0x80] },
      { type: "unsuback", packetId: 5, reasonCodes: [] },
    ]);
    const v5 = connected(5);
    v5.session.suback(subscribe, [2, 0x87]);
    v5.session.unsuback(unsubscribe, [0x11]);
    v5.session.unsuback(unsubscribe);
    assert.deepEqual(v5.take(), [
      { type: "suback", packetId: 4, reasonCodes: [2, 0x87] },
      { type: "unsuback", packetId: 5, reasonCodes: [0x11] },
      { type: "unsuback", packetId: 5, reasonCodes: [0] },
    ]);
    assert.throws(() => v5.session.suback(subscribe, [0]), RangeError);
    assert.throws(() => v5.session.suback(subscribe, [0, 0x42]), RangeError);
    assert.throws(() => v5.session.unsuback(unsubscribe, [0, 0]), RangeError);
    v5.session.connectionLost();
    assert.equal(v5.session.suback(subscribe, [0, 0]), false);
  });

  test("handle() records a DISCONNECT and its reason code", () => {
    const h = connected(5, { properties: { sessionExpiryInterval: 60 } });
    assert.equal(
      h.session.handle({
        type: "disconnect",
        reasonCode: 0x04,
        properties: { sessionExpiryInterval: 0 },
      }, 1),
      undefined,
    );
    assert.equal(h.session.state, "closed");
    assert.equal(h.session.disconnectReasonCode, 0x04);
    assert.equal(h.session.sessionExpiryInterval, 0);
    assert.deepEqual(h.take(), []);
    const v4 = connected(4);
    v4.session.handle({ type: "disconnect" }, 1);
    assert.equal(v4.session.disconnectReasonCode, 0);
  });

  test("handle() rejects a DISCONNECT that sets a session expiry after CONNECT set 0", () => {
    const h = connected(5);
    const err = h.session.handle({
      type: "disconnect",
      reasonCode: 0,
      properties: { sessionExpiryInterval: 30 },
    }, 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x82);
    assert.deepEqual(h.take(), [{ type: "disconnect", reasonCode: 0x82 }]);
    assert.equal(h.session.disconnectReasonCode, undefined);
  });

  test("disconnect() sends DISCONNECT on MQTT 5 only after CONNACK", () => {
    const h = connected(5);
    h.session.disconnect(0x8e);
    assert.deepEqual(h.take(), [{ type: "disconnect", reasonCode: 0x8e }]);
    assert.equal(h.session.state, "closed");
    h.session.disconnect(0x8e);
    assert.deepEqual(h.take(), []);
    const waiting = harness();
    waiting.session.handle(connectPacket(5), 0);
    waiting.session.disconnect(0x8b);
    assert.deepEqual(waiting.take(), []);
    const v4 = connected(4);
    v4.session.disconnect(0x8b);
    assert.deepEqual(v4.take(), []);
    assert.throws(() => connected(5).session.disconnect(0x42), RangeError);
    assert.throws(
      () => connected(5).session.disconnect(0, { sessionExpiryInterval: 1 }),
      RangeError,
    );
  });

  test("auth() sends AUTH on MQTT 5 and handle() passes AUTH to the broker", () => {
    const auths: Packet[] = [];
    const sent: Packet[] = [];
    const session = new ServerSession({
      send: (p) => void sent.push(p),
      connect() {},
      publish() {},
      subscribe() {},
      unsubscribe() {},
      auth: (p) => void auths.push(p),
    });
    session.handle(connectPacket(5, { properties: { authenticationMethod: "x" } }), 0);
    session.auth({ type: "auth", reasonCode: 0x18 });
    session.handle({ type: "auth", reasonCode: 0x18 }, 1);
    assert.deepEqual(sent, [{ type: "auth", reasonCode: 0x18 }]);
    assert.deepEqual(auths, [{ type: "auth", reasonCode: 0x18 }]);
    const v4 = connected(4);
    assert.throws(() => v4.session.auth({ type: "auth" }), TypeError);
    const none = connected(5);
    const err = none.session.handle({ type: "auth", reasonCode: 0x19 }, 1);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.spec, "MQTT-4.12.0-7");
  });
});
