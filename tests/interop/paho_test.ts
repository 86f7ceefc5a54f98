import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { brokerFor } from "../broker/_client.ts";
import { missing, pahoPython, start } from "./_peer.ts";

const T = { timeout: 30_000 };
const python = pahoPython();
const skip = missing("python3 with paho-mqtt (Debian python3-paho-mqtt)", python !== undefined);

// Subscribes at QoS 2, publishes at QoS 2 and prints what arrives; in "persist" mode it
// first leaves a persistent session, waits for "go" on the broker and resumes it.
const SCRIPT = `
import sys, time
import paho.mqtt.client as mqtt
port, version, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
v5 = version == "5"
out = []
def client(cid, clean):
    if v5:
        c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
    else:
        c = mqtt.Client(client_id=cid, clean_session=clean, protocol=mqtt.MQTTv311)
    return c
def connect(c, clean):
    if v5:
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes
        p = Properties(PacketTypes.CONNECT)
        p.SessionExpiryInterval = 300
        c.connect("127.0.0.1", port, 30, clean_start=clean, properties=p)
    else:
        c.connect("127.0.0.1", port, 30)
def on_message(c, u, m):
    out.append("%s %s %d" % (m.topic, m.payload.decode(), m.qos))
    c.disconnect()
if mode == "roundtrip":
    c = client("paho-rt-" + version, True)
    c.on_connect = lambda c, u, f, rc, p=None: c.subscribe("paho/t", qos=2)
    c.on_subscribe = lambda c, u, mid, g, p=None: c.publish("paho/t", b"hello", qos=2)
    c.on_message = on_message
    connect(c, True)
    c.loop_forever()
else:
    c = client("paho-p-" + version, False)
    c.on_connect = lambda c, u, f, rc, p=None: c.subscribe("paho/p", qos=2)
    c.on_subscribe = lambda c, u, mid, g, p=None: c.disconnect()
    connect(c, True)
    c.loop_forever()
    print("away", flush=True)
    c = client("paho-p-" + version, False)
    flags = {}
    def on_connect(c, u, f, rc, p=None):
        flags["present"] = f.get("session present")
    c.on_connect = on_connect
    c.on_message = on_message
    time.sleep(float(sys.argv[4]))
    connect(c, False)
    c.loop_forever()
    out.append("present=%s" % flags.get("present"))
print("\\n".join(out), flush=True)
`;

describe("interop: python3 paho-mqtt 1.6.1 against mq", { skip }, () => {
  for (const version of ["311", "5"]) {
    test(`paho publishes and receives a QoS 2 message (v${version})`, T, async (t) => {
      const broker = await brokerFor(t);
      const port = String(broker.addresses[0]!.port);
      const result = await start(t, python!, ["-c", SCRIPT, port, version, "roundtrip"], 20_000)
        .done;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), "paho/t hello 2");
    });

    test(
      `paho resumes a persistent session and gets the QoS 2 message queued meanwhile (v${version})`,
      T,
      async (t) => {
        const broker = await brokerFor(t);
        const port = String(broker.addresses[0]!.port);
        // Publish as soon as the first connection is gone; the script reconnects after 1 s.
        const off = broker.on("disconnect", () => {
          off();
          broker.publish("paho/p", "queued", { qos: 2 });
        });
        const result = await start(
          t,
          python!,
          ["-c", SCRIPT, port, version, "persist", "1"],
          20_000,
        ).done;
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(result.stdout.trim().split("\n"), [
          "away",
          "paho/p queued 2",
          "present=1",
        ]);
      },
    );
  }
});
