import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { brokerFor, text } from "../broker/_client.ts";
import type { Broker } from "../../broker/mod.ts";
import { hasCommand, missing, start } from "./_peer.ts";

const T = { timeout: 20_000 };
const skip = missing(
  "mosquitto_pub/mosquitto_sub (Debian mosquitto-clients)",
  hasCommand("mosquitto_pub") && hasCommand("mosquitto_sub"),
);

function subscribed(broker: Broker, count = 1): Promise<void> {
  return new Promise((resolve) => {
    let n = 0;
    const off = broker.on("subscribe", () => {
      if (++n === count) {
        off();
        resolve();
      }
    });
  });
}

describe("interop: mosquitto_pub and mosquitto_sub against mq", { skip }, () => {
  for (const version of ["311", "5"]) {
    for (const qos of ["0", "1", "2"]) {
      test(
        `mosquitto_sub receives mosquitto_pub's QoS ${qos} message (-V ${version})`,
        T,
        async (t) => {
          const broker = await brokerFor(t);
          const port = String(broker.addresses[0]!.port);
          const ready = subscribed(broker);
          const sub = start(t, "mosquitto_sub", [
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-V",
            version,
            "-q",
            qos,
            "-t",
            "interop/t",
            "-C",
            "1",
            "-W",
            "8",
            "-v",
          ]);
          await ready;
          const pub = await start(t, "mosquitto_pub", [
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-V",
            version,
            "-q",
            qos,
            "-t",
            "interop/t",
            "-m",
            `hello ${qos}`,
          ]).done;
          assert.equal(pub.code, 0, pub.stderr);
          const result = await sub.done;
          assert.equal(result.code, 0, result.stderr);
          assert.equal(result.stdout.trim(), `interop/t hello ${qos}`);
        },
      );
    }

    test(
      `mosquitto_sub receives a retained message and its clearing works (-V ${version})`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const port = String(broker.addresses[0]!.port);
        const common = ["-h", "127.0.0.1", "-p", port, "-V", version];
        const pub = await start(t, "mosquitto_pub", [
          ...common,
          "-q",
          "1",
          "-r",
          "-t",
          "kept/t",
          "-m",
          "kept",
        ]).done;
        assert.equal(pub.code, 0, pub.stderr);
        const sub = await start(t, "mosquitto_sub", [
          ...common,
          "-t",
          "kept/#",
          "-C",
          "1",
          "-W",
          "5",
          "-F",
          "%r %t %p",
        ]).done;
        assert.equal(sub.code, 0, sub.stderr);
        assert.equal(sub.stdout.trim(), "1 kept/t kept");
        const clear = await start(t, "mosquitto_pub", [...common, "-r", "-t", "kept/t", "-n"]).done;
        assert.equal(clear.code, 0, clear.stderr);
        assert.equal(broker.stats.retained, 0);
      },
    );
  }

  test("a mosquitto_sub killed with SIGKILL fires its will", T, async (t) => {
    const broker = await brokerFor(t);
    const port = String(broker.addresses[0]!.port);
    const wills: string[] = [];
    let fired!: () => void;
    const willArrived = new Promise<void>((resolve) => (fired = resolve));
    broker.subscribe("wills/#", (m) => {
      wills.push(`${m.topic} ${text(m.payload)}`);
      fired();
    });
    const ready = subscribed(broker);
    const sub = start(t, "mosquitto_sub", [
      "-h",
      "127.0.0.1",
      "-p",
      port,
      "-V",
      "5",
      "-t",
      "x",
      "--will-topic",
      "wills/sub",
      "--will-payload",
      "gone",
      "--will-qos",
      "1",
    ]);
    await ready;
    sub.kill("SIGKILL");
    await willArrived;
    assert.deepEqual(wills, ["wills/sub gone"]);
    await sub.done;
  });
});
