/**
 * The client TLS option `insecure` (skip certificate verification) on every TCP adapter the
 * runtime has: the Node adapter everywhere, Bun's on Bun, Deno's on Deno (which refuses the
 * option with a `TypeError`: `Deno.connectTls` has no switch for it). Servers present a
 * self-signed certificate, or one for another name; without `insecure` the same connections
 * fail with the certificate error itself, not a bare "connection closed".
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "../_testing.ts";
import { detectRuntime } from "../../socket/runtime.ts";
import type { Socket, SocketAdapter, TlsOptions } from "../../socket/types.ts";
import { type Context, openConnection, Recorder } from "./_harness.ts";
import { type Credentials, makeCredentials, opensslSkip } from "./_tls.ts";

const runtime = detectRuntime();
const TIMEOUT = 30_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface AdapterCase {
  name: string;
  /** Why the adapter cannot run here, or `false`. */
  skip: string | false;
  /** Whether the adapter refuses `insecure` with a `TypeError`. */
  refusesInsecure: boolean;
  load(): Promise<SocketAdapter>;
}

const ADAPTERS: AdapterCase[] = [
  {
    name: "node",
    skip: runtime === "browser" ? "no node:tls in a browser" : false,
    refusesInsecure: false,
    load: async () => (await import("../../socket/node.ts")).nodeAdapter,
  },
  {
    name: "bun",
    skip: runtime === "bun" ? false : `Bun sockets need Bun (running on ${runtime})`,
    refusesInsecure: false,
    load: async () => (await import("../../socket/bun.ts")).bunAdapter,
  },
  {
    name: "deno",
    skip: runtime === "deno" ? false : `Deno sockets need Deno (running on ${runtime})`,
    refusesInsecure: true,
    load: async () => (await import("../../socket/deno.ts")).denoAdapter,
  },
];

/**
 * A self-signed certificate naming only `wrong.example` (not 127.0.0.1), in a temporary
 * directory removed by `t.after()`.
 */
function otherNameCredentials(t: Context): Credentials {
  const dir = mkdtempSync(join(tmpdir(), "mq-tls-other-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  // deno-fmt-ignore
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=wrong.example",
    "-addext", "subjectAltName=DNS:wrong.example",
    "-addext", "basicConstraints=critical,CA:FALSE",
    "-addext", "keyUsage=critical,digitalSignature",
    "-addext", "extendedKeyUsage=serverAuth",
  ], { stdio: "pipe" });
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}

/** Connect with `clientTls` to an echo listener presenting `server`, and round-trip bytes. */
async function echoOver(
  t: Context,
  adapter: SocketAdapter,
  server: Credentials,
  clientTls: TlsOptions,
): Promise<void> {
  const { client } = await openConnection(t, adapter, {
    serverTls: { cert: server.cert, key: server.key },
    clientTls,
    onAccept: (socket: Socket) => socket.setHandlers({ onData: (chunk) => socket.write(chunk) }),
  });
  assert.equal(client.encrypted, true);
  const recorder = new Recorder(client, { keep: true });
  client.write(encoder.encode("insecure"));
  await recorder.untilReceived(8);
  assert.equal(decoder.decode(recorder.data()), "insecure");
}

/** Connect with `clientTls` to a listener presenting `server`; return the rejection. */
async function connectError(
  t: Context,
  adapter: SocketAdapter,
  server: Credentials,
  clientTls: TlsOptions,
): Promise<unknown> {
  const listener = await adapter.listen(
    { hostname: "127.0.0.1", port: 0, tls: { cert: server.cert, key: server.key } },
    (socket) => {
      t.after(() => socket.destroy());
      socket.setHandlers({});
    },
  );
  t.after(() => listener.close());
  try {
    const socket = await adapter.connect({
      hostname: "127.0.0.1",
      port: listener.address.port,
      tls: clientTls,
    });
    socket.destroy();
  } catch (error) {
    return error;
  }
  assert.fail("connect() resolved");
}

/** The `code` of an error's cause (Node's and Bun's TLS errors carry one). */
function causeCode(error: unknown): unknown {
  assert.ok(error instanceof Error);
  return (error.cause as { code?: unknown } | undefined)?.code;
}

for (const entry of ADAPTERS) {
  describe(`TLS insecure: ${entry.name}`, () => {
    const opts = { timeout: TIMEOUT, skip: entry.skip || opensslSkip };

    const insecureCases: [string, (t: Context) => [Credentials, TlsOptions]][] = [
      ["a self-signed certificate", (t) => [makeCredentials(t), { insecure: true }]],
      ["a certificate for another host", (t) => {
        const server = otherNameCredentials(t);
        return [server, { ca: server.cert, insecure: true }];
      }],
      ["a serverName the certificate lacks", (t) => {
        const server = makeCredentials(t);
        return [server, { ca: server.cert, serverName: "wrong.example", insecure: true }];
      }],
    ];
    for (const [what, make] of insecureCases) {
      if (entry.refusesInsecure) {
        test(`connect() refuses insecure with a TypeError, for ${what}`, opts, async (t) => {
          const [server, tls] = make(t);
          const error = await connectError(t, await entry.load(), server, tls);
          assert.ok(error instanceof TypeError);
        });
      } else {
        test(`connect() with insecure accepts ${what}`, opts, async (t) => {
          const [server, tls] = make(t);
          await echoOver(t, await entry.load(), server, tls);
        });
      }
    }

    test("connect() with insecure rejects a peer that does not speak TLS", opts, async (t) => {
      const adapter = await entry.load();
      const listener = await adapter.listen({ hostname: "127.0.0.1", port: 0 }, (socket) => {
        t.after(() => socket.destroy());
        socket.setHandlers({});
        socket.write(encoder.encode("HTTP/1.0 400 Bad Request\r\n\r\n"));
        socket.close();
      });
      t.after(() => listener.close());
      const connecting = adapter.connect({
        hostname: "127.0.0.1",
        port: listener.address.port,
        tls: { insecure: true },
      });
      await assert.rejects(connecting, entry.refusesInsecure ? TypeError : Error);
    });

    test("connect() without insecure rejects a certificate for another host", opts, async (t) => {
      const adapter = await entry.load();
      const server = otherNameCredentials(t);
      const error = await connectError(t, adapter, server, { ca: server.cert });
      assert.ok(error instanceof Error);
      assert.ok(!(error instanceof TypeError));
      if (!entry.refusesInsecure) assert.equal(causeCode(error), "ERR_TLS_CERT_ALTNAME_INVALID");
    });

    test(
      "connect() without insecure rejects a serverName the certificate lacks",
      opts,
      async (t) => {
        const adapter = await entry.load();
        const server = makeCredentials(t);
        const tls = { ca: server.cert, serverName: "wrong.example" };
        const error = await connectError(t, adapter, server, tls);
        assert.ok(error instanceof Error);
        assert.ok(!(error instanceof TypeError));
        if (!entry.refusesInsecure) assert.equal(causeCode(error), "ERR_TLS_CERT_ALTNAME_INVALID");
      },
    );
  });
}
