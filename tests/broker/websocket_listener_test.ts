/**
 * The broker's WebSocket listeners: npm's mqtt.js over `ws://` and `wss://` (MQTT 3.1.1 and
 * 5.0), the health endpoint on the same port, limits applied after the upgrade, and
 * `protocol websockets` from a mosquitto.conf through `mq broker`.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import * as http from "node:http";
import mqtt from "mqtt";
import type { IClientOptions } from "mqtt";
import type { Broker, BrokerListenerOptions } from "../../broker/types.ts";
import { makePki, pkiSkip } from "../_pki.ts";
import { brokerFor } from "./_client.ts";

const T = { timeout: 15_000 };

async function wsBroker(
  t: TestContext,
  listener: Partial<BrokerListenerOptions> = {},
): Promise<Broker> {
  return await brokerFor(t, {
    listeners: [{ hostname: "127.0.0.1", port: 0, protocol: "websockets", ...listener }],
  });
}

/** Publish at QoS 1 from one mqtt.js client to another over `url`; the message received. */
async function roundTrip(
  t: TestContext,
  url: string,
  options: IClientOptions,
): Promise<{ topic: string; payload: string; qos: number }> {
  const sub = await mqtt.connectAsync(url, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
  t.after(() => void sub.end(true));
  const pub = await mqtt.connectAsync(url, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
  t.after(() => void pub.end(true));
  const received = new Promise<{ topic: string; payload: string; qos: number }>((resolve) => {
    sub.on(
      "message",
      (topic, payload, packet) =>
        resolve({ topic, payload: new TextDecoder().decode(payload), qos: packet.qos }),
    );
  });
  await sub.subscribeAsync("ws/#", { qos: 1 });
  await pub.publishAsync("ws/hello", "over websockets", { qos: 1 });
  return await received;
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: "127.0.0.1", port, path }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("error", reject);
  });
}

describe("broker WebSocket listener", () => {
  for (const version of [4, 5] as const) {
    test(
      `mqtt.js publishes and receives over ws:// (protocol version ${version})`,
      T,
      async (t) => {
        const broker = await wsBroker(t);
        assert.equal(broker.addresses[0]!.transport, "websocket");
        const url = `ws://127.0.0.1:${broker.addresses[0]!.port}/mqtt`;
        assert.deepEqual(await roundTrip(t, url, { protocolVersion: version }), {
          topic: "ws/hello",
          payload: "over websockets",
          qos: 1,
        });
      },
    );
  }

  test("mqtt.js publishes and receives over wss://", { ...T, skip: pkiSkip }, async (t) => {
    const pki = makePki(t);
    const broker = await wsBroker(t, { tls: { cert: pki.server.cert, key: pki.server.key } });
    const url = `wss://localhost:${broker.addresses[0]!.port}/`;
    const message = await roundTrip(t, url, { protocolVersion: 5, ca: pki.ca });
    assert.equal(message.payload, "over websockets");
  });

  test("startBroker() answers GET /health on a WebSocket listener", T, async (t) => {
    const broker = await wsBroker(t);
    const port = broker.addresses[0]!.port;
    const health = await get(port, "/health");
    assert.equal(health.status, 200);
    const status = JSON.parse(health.body);
    assert.equal(status.status, "ok");
    assert.equal(status.clients, 0);
    assert.equal(typeof status.uptime, "number");
    // Other plain requests: 426 (upgrade required) on any other path.
    assert.equal((await get(port, "/mqtt")).status, 426);
  });

  test("startBroker() applies maxConnections to WebSocket clients", T, async (t) => {
    const broker = await wsBroker(t, { maxConnections: 1 });
    const url = `ws://127.0.0.1:${broker.addresses[0]!.port}/mqtt`;
    const first = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 });
    t.after(() => void first.end(true));
    await assert.rejects(
      mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3000 }),
    );
    assert.equal(broker.stats.refusedConnections, 1);
  });
});
