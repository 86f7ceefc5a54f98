/**
 * Debian's mosquitto_pub and mosquitto_sub against mq's TLS listener with client
 * certificates made by openssl: accepted with a certificate, refused without one, and the
 * certificate's CN used as user name for authorization.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import type { Broker } from "../../broker/mod.ts";
import { brokerFor } from "../broker/_client.ts";
import { AclFile, aclFilePlugin } from "../../broker/acl_file.ts";
import { makePki, type Pki, pkiSkip } from "../_pki.ts";
import { hasCommand, missing, start } from "./_peer.ts";

const T = { timeout: 30_000 };
const skip = pkiSkip || missing(
  "mosquitto_pub/mosquitto_sub (Debian mosquitto-clients)",
  hasCommand("mosquitto_pub") && hasCommand("mosquitto_sub"),
);

function subscribed(broker: Broker): Promise<void> {
  return new Promise((resolve) => {
    const off = broker.on("subscribe", () => {
      off();
      resolve();
    });
  });
}

/**
 * A broker whose TLS listener requires certificates, takes the CN as user name, and whose
 * ACL file (mosquitto's syntax) lets user `<x>` use topics `<x>/#`.
 */
async function certBroker(t: TestContext, pki: Pki): Promise<Broker> {
  return await brokerFor(t, {
    listeners: [{
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requireCertificate: true },
      useIdentityAsUsername: true,
    }],
    plugins: [aclFilePlugin({ acl: AclFile.parse("pattern readwrite %u/#\n") })],
  });
}

describe(
  "interop: mosquitto clients against mq over TLS with client certificates",
  { skip },
  () => {
    test("mosquitto_sub and mosquitto_pub with --cert/--key reach each other", T, async (t) => {
      const pki = makePki(t);
      const broker = await certBroker(t, pki);
      const port = String(broker.addresses[0]!.port);
      const sensor = pki.client("sensor", "/O=mq/CN=sensor");
      const tlsArgs = ["--cafile", pki.caFile, "--cert", sensor.certFile, "--key", sensor.keyFile];
      const ready = subscribed(broker);
      const sub = start(t, "mosquitto_sub", [
        "-h",
        "localhost",
        "-p",
        port,
        ...tlsArgs,
        "-t",
        "sensor/#",
        "-C",
        "1",
        "-W",
        "10",
        "-v",
      ]);
      await ready;
      const pub = await start(t, "mosquitto_pub", [
        "-h",
        "localhost",
        "-p",
        port,
        ...tlsArgs,
        "-q",
        "1",
        "-t",
        "sensor/temp",
        "-m",
        "21.5",
      ]).done;
      assert.equal(pub.code, 0, pub.stderr);
      const result = await sub.done;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), "sensor/temp 21.5");
    });

    test("mosquitto_pub without a client certificate is refused", T, async (t) => {
      const pki = makePki(t);
      const broker = await certBroker(t, pki);
      const pub = await start(t, "mosquitto_pub", [
        "-h",
        "localhost",
        "-p",
        String(broker.addresses[0]!.port),
        "--cafile",
        pki.caFile,
        "-t",
        "x/y",
        "-m",
        "no",
      ]).done;
      assert.notEqual(pub.code, 0);
      assert.equal(broker.stats.connections, 0);
    });

    test(
      "the certificate's CN is the user name the ACL file sees: another device reads nothing",
      T,
      async (t) => {
        const pki = makePki(t);
        const broker = await certBroker(t, pki);
        const port = String(broker.addresses[0]!.port);
        const tls = (name: string) => {
          const issued = pki.client(name, `/CN=${name}`);
          return ["--cafile", pki.caFile, "--cert", issued.certFile, "--key", issued.keyFile];
        };
        const ready = subscribed(broker);
        // "other" may subscribe (mosquitto 2.0's ACL never refuses SUBSCRIBE) but reads
        // nothing of sensor/#: it times out (exit 27).
        const other = start(t, "mosquitto_sub", [
          "-h",
          "localhost",
          "-p",
          port,
          ...tls("other"),
          "-V",
          "5",
          "-t",
          "sensor/#",
          "-C",
          "1",
          "-W",
          "3",
        ]);
        await ready;
        const pub = await start(t, "mosquitto_pub", [
          "-h",
          "localhost",
          "-p",
          port,
          ...tls("sensor"),
          "-V",
          "5",
          "-q",
          "1",
          "-t",
          "sensor/temp",
          "-m",
          "secret",
        ]).done;
        assert.equal(pub.code, 0, pub.stderr);
        const result = await other.done;
        assert.equal(result.code, 27, result.stderr);
        assert.equal(result.stdout, "");
        // Nor may "other" write under sensor/: PUBACK 0x87, which mosquitto_pub reports.
        const denied = await start(t, "mosquitto_pub", [
          "-h",
          "localhost",
          "-p",
          port,
          ...tls("other2"),
          "-V",
          "5",
          "-q",
          "1",
          "-t",
          "sensor/temp",
          "-m",
          "forged",
        ]).done;
        assert.match(denied.stderr, /not authori[sz]ed/i);
      },
    );
  },
);
