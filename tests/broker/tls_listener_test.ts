/**
 * TLS listeners: client certificates required and verified, the certificate's identity as
 * user name (for authorization), a minimum TLS version, and certificates reloaded without
 * dropping connections. Certificates are made by openssl at test time.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import * as tls from "node:tls";
import type { TestContext } from "node:test";
import type { AuthContext, AuthorizeRequest, Broker } from "../../broker/types.ts";
import { nodeAdapter } from "../../socket/node.ts";
import type { TlsOptions } from "../../socket/types.ts";
import { makePki, pkiSkip } from "../_pki.ts";
import { brokerFor, RawClient } from "./_client.ts";

const T = { timeout: 20_000, skip: pkiSkip };

async function tlsClient(
  t: TestContext,
  broker: Broker,
  options: TlsOptions,
  version: 4 | 5 = 5,
): Promise<RawClient> {
  const { port } = broker.addresses[0]!;
  const socket = await nodeAdapter.connect({ hostname: "127.0.0.1", port, tls: options });
  const client = new RawClient(socket, version);
  t.after(() => client.destroy());
  return client;
}

describe("broker TLS listeners", () => {
  test(
    "startBroker() with requireCertificate refuses clients without a trusted certificate",
    T,
    async (t) => {
      const pki = makePki(t);
      const other = makePki(t, "another CA");
      const contexts: AuthContext[] = [];
      const broker = await brokerFor(t, {
        listeners: [{
          hostname: "127.0.0.1",
          port: 0,
          tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requireCertificate: true },
        }],
        authenticate: (c) => (contexts.push(c), true),
      });
      const device = pki.client("dev1", "/C=GB/O=mq, Ltd/CN=dev1");
      const ok = await tlsClient(t, broker, { ca: pki.ca, cert: device.cert, key: device.key });
      assert.equal((await ok.connect("dev1")).reasonCode, 0);
      assert.deepEqual(contexts[0]!.certificate, {
        subject: "CN=dev1,O=mq\\, Ltd,C=GB",
        commonName: "dev1",
      });
      // No certificate, or one from an untrusted CA: the handshake fails.
      const stranger = other.client("x", "/CN=x");
      for (
        const options of [{ ca: pki.ca }, { ca: pki.ca, cert: stranger.cert, key: stranger.key }]
      ) {
        const refused = await tlsClient(t, broker, options).then(
          async (c) => {
            await c.connect("nope").catch(() => undefined);
            return c.closed;
          },
          () => true,
        );
        assert.equal(refused, true);
      }
      assert.equal(contexts.length, 1);
    },
  );

  test(
    "startBroker() uses the certificate's CN or subject as user name for authorization",
    T,
    async (t) => {
      const pki = makePki(t);
      const seen: AuthorizeRequest[] = [];
      const serverTls = {
        cert: pki.server.cert,
        key: pki.server.key,
        ca: pki.ca,
        requireCertificate: true,
      };
      const broker = await brokerFor(t, {
        listeners: [
          { hostname: "127.0.0.1", port: 0, tls: serverTls, useIdentityAsUsername: true },
          { hostname: "127.0.0.1", port: 0, tls: serverTls, useSubjectAsUsername: true },
        ],
        // Would refuse everyone: the certificate listeners skip it, like mosquitto skips
        // its password file.
        authenticate: () => false,
        authorize: (r) => (seen.push({ ...r }), r.topic === `${r.username}/in`),
      });
      const dev = pki.client("dev7", "/O=mq/CN=dev7");
      const c = await tlsClient(t, broker, { ca: pki.ca, cert: dev.cert, key: dev.key });
      assert.equal(
        (await c.connect("any", { username: "liar", password: new Uint8Array(1) }))
          .reasonCode,
        0,
      );
      assert.deepEqual(await c.subscribe(["dev7/in", "liar/in"]), [0, 0x87]);
      assert.equal(seen[0]!.username, "dev7");
      const { port } = broker.addresses[1]!;
      const socket = await nodeAdapter.connect({
        hostname: "127.0.0.1",
        port,
        tls: { ca: pki.ca, cert: dev.cert, key: dev.key },
      });
      const s = new RawClient(socket, 4);
      t.after(() => s.destroy());
      assert.equal((await s.connect("subject")).reasonCode, 0);
      assert.deepEqual(await s.subscribe(["CN=dev7,O=mq/in"]), [0]);
    },
  );

  test(
    "startBroker() refuses identity as user name without a certificate: 0x86 / return code 4",
    T,
    async (t) => {
      const pki = makePki(t);
      const broker = await brokerFor(t, {
        listeners: [{
          hostname: "127.0.0.1",
          port: 0,
          // No client certificate asked for, so no identity to take.
          tls: { cert: pki.server.cert, key: pki.server.key },
          useIdentityAsUsername: true,
        }],
      });
      const v5 = await tlsClient(t, broker, { ca: pki.ca });
      assert.equal((await v5.connect("a")).reasonCode, 0x86);
      const v4 = await tlsClient(t, broker, { ca: pki.ca }, 4);
      assert.equal((await v4.connect("b")).reasonCode, 4);
    },
  );

  test("startBroker() enforces a minimum TLS version", T, async (t) => {
    const pki = makePki(t);
    const broker = await brokerFor(t, {
      listeners: [{
        hostname: "127.0.0.1",
        port: 0,
        tls: { cert: pki.server.cert, key: pki.server.key, minVersion: "TLSv1.3" },
      }],
    });
    const { port } = broker.addresses[0]!;
    const attempt = (maxVersion: "TLSv1.2" | "TLSv1.3") =>
      new Promise<string>((resolve) => {
        const socket = tls.connect({ host: "127.0.0.1", port, ca: pki.ca, maxVersion }, () => {
          resolve(socket.getProtocol() ?? "none");
          socket.destroy();
        });
        socket.on("error", () => resolve("refused"));
      });
    assert.equal(await attempt("TLSv1.2"), "refused");
    assert.equal(await attempt("TLSv1.3"), "TLSv1.3");
  });

  test("Broker.reload() serves new certificates and keeps open connections", T, async (t) => {
    const first = makePki(t, "first CA");
    const second = makePki(t, "second CA");
    let current = first;
    const broker = await brokerFor(t, {
      listeners: [{
        hostname: "127.0.0.1",
        port: 0,
        tls: { cert: first.server.cert, key: first.server.key },
        loadTls: () => Promise.resolve({ cert: current.server.cert, key: current.server.key }),
      }],
    });
    const old = await tlsClient(t, broker, { ca: first.ca });
    assert.equal((await old.connect("old")).reasonCode, 0);
    current = second;
    await broker.reload();
    const fresh = await tlsClient(t, broker, { ca: second.ca });
    assert.equal((await fresh.connect("fresh")).reasonCode, 0);
    await assert.rejects(tlsClient(t, broker, { ca: first.ca }));
    assert.deepEqual(await old.subscribe(["still/here"]), [0]);
  });
});
