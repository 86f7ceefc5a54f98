import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../../client/connect.ts";
import {
  ConnectionClosedError,
  ConnectRefusedError,
  PublishRefusedError,
  ServerLimitError,
  SubscribeRefusedError,
} from "../../client/errors.ts";
import type { PublishPacket } from "../../protocol/packet.ts";
import { acceptAll, FakeBroker } from "./_fake.ts";
import type { DisconnectEvent } from "../../client/events.ts";
import { MqttError } from "../../protocol/errors.ts";
import { deferred, nextEvent } from "./_helpers.ts";

async function fakeClient(
  t: { after: (fn: () => unknown) => void },
  fake: FakeBroker,
  options = {},
) {
  const client = await connect("mqtt://fake", { transport: fake.transport, ...options });
  t.after(() => client.end());
  return client;
}

const publishes = (fake: FakeBroker) =>
  fake.received.filter((p): p is PublishPacket => p.type === "publish");

test("MqttClient.publish() refuses QoS above the broker's maximum without sending", {
  timeout: 5000,
}, async (t) => {
  const fake = new FakeBroker(
    acceptAll({
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { maximumQoS: 1 },
    }),
  );
  const client = await fakeClient(t, fake);
  const error = await client.publish("t", "x", { qos: 2 }).catch((e) => e);
  assert.ok(error instanceof ServerLimitError);
  assert.equal(error.reasonCode, 0x9b);
  await client.publish("t", "ok", { qos: 1 });
  assert.equal(publishes(fake).length, 1);
});

test("MqttClient.publish() refuses retain when the broker has none, without sending", {
  timeout: 5000,
}, async (t) => {
  const fake = new FakeBroker(
    acceptAll({
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { retainAvailable: false },
    }),
  );
  const client = await fakeClient(t, fake);
  const error = await client.publish("t", "x", { retain: true }).catch((e) => e);
  assert.ok(error instanceof ServerLimitError);
  assert.equal(error.reasonCode, 0x9a);
  assert.equal(publishes(fake).length, 0);
});

test("MqttClient.publish() refuses packets over the broker's maximum packet size", {
  timeout: 5000,
}, async (t) => {
  const fake = new FakeBroker(
    acceptAll({
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { maximumPacketSize: 64 },
    }),
  );
  const client = await fakeClient(t, fake);
  const error = await client.publish("t", new Uint8Array(100), { qos: 1 }).catch((e) => e);
  assert.ok(error instanceof ServerLimitError);
  assert.equal(error.reasonCode, 0x95);
  await client.publish("t", new Uint8Array(10), { qos: 1 });
  assert.equal(publishes(fake).length, 1);
});

test(
  "MqttClient.publish() assigns topic aliases within the broker's maximum",
  { timeout: 5000 },
  async (t) => {
    const fake = new FakeBroker(
      acceptAll({
        type: "connack",
        sessionPresent: false,
        reasonCode: 0,
        properties: { topicAliasMaximum: 1 },
      }),
    );
    const client = await fakeClient(t, fake);
    await client.publish("long/topic/name", "1", { qos: 1 });
    await client.publish("long/topic/name", "2", { qos: 1 });
    await client.publish("other", "3", { qos: 1 });
    const wire = publishes(fake).map((p) => [p.topic, p.properties?.topicAlias]);
    assert.deepEqual(wire, [["long/topic/name", 1], ["", 1], ["other", undefined]]);
  },
);

test("MqttClient.publish() rejects with the PUBACK reason code", { timeout: 5000 }, async (t) => {
  const fake = new FakeBroker((packet, c) => {
    if (packet.type === "connect") {
      c.send({ type: "connack", sessionPresent: false, reasonCode: 0 });
    }
    if (packet.type === "publish") {
      c.send({ type: "puback", packetId: packet.packetId!, reasonCode: 0x97 });
    }
  });
  const client = await fakeClient(t, fake);
  const error = await client.publish("t", "x", { qos: 1 }).catch((e) => e);
  assert.ok(error instanceof PublishRefusedError);
  assert.equal(error.reasonCode, 0x97);
});

test(
  "MqttClient.subscribe() rejects when every filter is refused",
  { timeout: 5000 },
  async (t) => {
    const fake = new FakeBroker((packet, c) => {
      if (packet.type === "connect") {
        c.send({ type: "connack", sessionPresent: false, reasonCode: 0 });
      }
      if (packet.type === "subscribe") {
        c.send({ type: "suback", packetId: packet.packetId, reasonCodes: [0x87, 0x87] });
      }
    });
    const client = await fakeClient(t, fake);
    const error = await client.subscribe(["a", "b"]).catch((e) => e);
    assert.ok(error instanceof SubscribeRefusedError);
    assert.equal(error.reasonCode, 0x87);
    assert.deepEqual(error.reasonCodes, [0x87, 0x87]);
  },
);

test("connect() rejects with the CONNACK reason code", { timeout: 5000 }, async () => {
  const fake = new FakeBroker((packet, c) => {
    if (packet.type === "connect") {
      c.send({ type: "connack", sessionPresent: false, reasonCode: 0x86 });
    }
  });
  const error = await connect("mqtt://fake", { transport: fake.transport }).catch((e) => e);
  assert.ok(error instanceof ConnectRefusedError);
  assert.equal(error.reasonCode, 0x86);
});

test("connect() maps MQTT 3.1.1 return codes to reason codes", { timeout: 5000 }, async () => {
  const fake = new FakeBroker((packet, c) => {
    if (packet.type === "connect") {
      c.send({ type: "connack", sessionPresent: false, reasonCode: 5 });
    }
  });
  const error = await connect("mqtt://fake", { transport: fake.transport, protocolVersion: 4 })
    .catch((e) => e);
  assert.ok(error instanceof ConnectRefusedError);
  assert.equal(error.reasonCode, 0x87);
});

test(
  "MqttClient honours the assigned client id and server keep alive",
  { timeout: 5000 },
  async (t) => {
    const pinged = deferred<void>();
    const accept = acceptAll({
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { assignedClientIdentifier: "srv-1", serverKeepAlive: 1 },
    });
    const fake = new FakeBroker((packet, c) => {
      if (packet.type === "pingreq") pinged.resolve();
      accept(packet, c);
    });
    const client = await fakeClient(t, fake, { clientId: "", keepAlive: 600 });
    assert.equal(client.clientId, "srv-1");
    await pinged.promise;
  },
);

test("MqttClient answers AUTH challenges during connect", { timeout: 5000 }, async (t) => {
  const fake = new FakeBroker((packet, c) => {
    if (packet.type === "connect") {
      assert.equal(packet.properties?.authenticationMethod, "TEST");
      c.send({
        type: "auth",
        reasonCode: 0x18,
        properties: { authenticationMethod: "TEST", authenticationData: new Uint8Array([1]) },
      });
    }
    if (packet.type === "auth") {
      assert.deepEqual(packet.properties?.authenticationData, new Uint8Array([2]));
      c.send({ type: "connack", sessionPresent: false, reasonCode: 0 });
    }
  });
  const client = await fakeClient(t, fake, {
    auth: {
      method: "TEST",
      onChallenge: (data: Uint8Array | undefined) => new Uint8Array([data![0]! + 1]),
    },
  });
  assert.equal(client.state, "connected");
});

test("MqttClient reconnects after a keep-alive timeout", { timeout: 10_000 }, async (t) => {
  const accept = acceptAll();
  const fake = new FakeBroker((packet, c) => packet.type !== "pingreq" && accept(packet, c));
  const client = await fakeClient(t, fake, {
    keepAlive: 1,
    reconnect: { initialDelay: 1, maxDelay: 1 },
  });
  const disconnected = nextEvent<DisconnectEvent>(client, "disconnect");
  const reconnected = nextEvent(client, "connect", 8000);
  const event = await disconnected;
  assert.ok(event.error instanceof MqttError);
  assert.equal(event.error.reasonCode, 0x8d);
  await reconnected;
  assert.equal(fake.connections.length, 2);
});

test("MqttClient reports the broker's DISCONNECT reason code", { timeout: 5000 }, async (t) => {
  const accept = acceptAll();
  const fake = new FakeBroker((packet, c) => {
    if (packet.type === "subscribe") c.send({ type: "disconnect", reasonCode: 0x8b });
    else accept(packet, c);
  });
  const client = await fakeClient(t, fake, { reconnect: false });
  const disconnected = nextEvent<DisconnectEvent>(client, "disconnect");
  const subscribe = client.subscribe("x");
  assert.equal((await disconnected).reasonCode, 0x8b);
  await assert.rejects(subscribe, ConnectionClosedError);
});

test(
  "MqttClient keeps in flight no more than the broker's receive maximum",
  { timeout: 5000 },
  async (t) => {
    const accept = acceptAll({
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { receiveMaximum: 1 },
    });
    const arrived: PublishPacket[] = [];
    let wake: (() => void) | undefined;
    const fake = new FakeBroker((packet, c) => {
      if (packet.type !== "publish") return accept(packet, c);
      arrived.push(packet);
      wake?.();
    });
    const client = await fakeClient(t, fake);
    const next = () => new Promise<void>((resolve) => (wake = resolve));
    let waiting = next();
    const sent = [1, 2, 3].map((n) => client.publish("t", String(n), { qos: 1 }));
    for (let i = 0; i < 3; i++) {
      await waiting;
      assert.equal(arrived.length, i + 1);
      waiting = next();
      fake.connections[0]!.send({ type: "puback", packetId: arrived[i]!.packetId!, reasonCode: 0 });
      await sent[i];
    }
    assert.deepEqual(arrived.map((p) => new TextDecoder().decode(p.payload)), ["1", "2", "3"]);
  },
);
