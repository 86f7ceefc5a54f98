import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { QoS } from "../../protocol/packet.ts";
import { brokerFor, clientFor, take, text } from "./_helpers.ts";

for (const protocolVersion of [5, 4, 3] as const) {
  describe(`MqttClient over TCP, protocol ${protocolVersion}`, () => {
    for (const qos of [0, 1, 2] as QoS[]) {
      test(`MqttClient.publish() delivers QoS ${qos} both ways`, { timeout: 10_000 }, async (t) => {
        const broker = await brokerFor(t);
        const a = await clientFor(t, broker, { protocolVersion });
        const b = await clientFor(t, broker, { protocolVersion });
        const sub = await b.subscribe("q/+", { qos });
        assert.deepEqual(sub.reasonCodes, [qos]);
        const result = await a.publish("q/x", `hello ${qos}`, { qos });
        assert.equal(result.reasonCode, 0);
        const [message] = await take(sub, 1);
        assert.equal(message!.topic, "q/x");
        assert.equal(text(message!.payload), `hello ${qos}`);
        assert.equal(message!.qos, qos);
      });
    }
  });
}

test(
  "MqttClient.publish() retained messages reach later subscribers",
  { timeout: 10_000 },
  async (t) => {
    const broker = await brokerFor(t);
    const a = await clientFor(t, broker);
    await a.publish("status/a", "up", { qos: 1, retain: true });
    const b = await clientFor(t, broker, { protocolVersion: 4 });
    const sub = await b.subscribe("status/#", { qos: 1 });
    const [message] = await take(sub, 1);
    assert.equal(message!.retain, true);
    assert.equal(text(message!.payload), "up");
  },
);
