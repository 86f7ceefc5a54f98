/**
 * One conformance suite for every socket adapter (ARCHITECTURE.md rule 2): the memory
 * network always, `node:net` wherever it exists (Node, Deno, Bun), Deno's and Bun's native
 * sockets on their own runtime, and the WebSocket client where the runtime can also serve
 * WebSocket. Adapters the runtime lacks are skipped with a reason.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "../_testing.ts";
import { MemoryNetwork } from "../../socket/memory.ts";
import { detectRuntime } from "../../socket/runtime.ts";
import type { Socket, SocketAdapter } from "../../socket/types.ts";
import { webSocketConnect } from "../../socket/websocket.ts";
import {
  checksum,
  type Context,
  openConnection,
  pattern,
  Recorder,
  settle,
  writeAll,
} from "./_harness.ts";
import { makeCredentials, opensslSkip } from "./_tls.ts";
import { startEchoServer, webSocketSkip } from "./_websocket_server.ts";

const runtime = detectRuntime();
const TIMEOUT = 30_000;
const MB = 1024 * 1024;
const CHUNK = 64 * 1024;

interface AdapterCase {
  name: string;
  /** Why the adapter cannot run here, or `false`. */
  skip: string | false;
  /** Why TLS cannot be tested, or `false`. */
  tlsSkip: string | false;
  /** Why client-certificate verification cannot be tested, or `false`. */
  mutualTlsSkip: string | false;
  /** Why unix sockets cannot be tested, or `false`. */
  unixSkip?: string | false;
  /** Why binding a local address cannot be tested, or `false`. */
  localAddressSkip?: string | false;
  load(): Promise<SocketAdapter>;
}

const noUnix = process.platform === "win32" ? "no unix sockets on Windows" : false;

const ADAPTERS: AdapterCase[] = [
  {
    name: "memory",
    skip: false,
    tlsSkip: "the memory network has no TLS",
    mutualTlsSkip: "the memory network has no TLS",
    unixSkip: "the memory network has no unix sockets",
    localAddressSkip: "the memory network has no local addresses",
    load: () => Promise.resolve(new MemoryNetwork()),
  },
  {
    name: "node",
    skip: runtime === "browser" ? "no node:net in a browser" : false,
    tlsSkip: opensslSkip,
    mutualTlsSkip: opensslSkip,
    unixSkip: noUnix,
    load: async () => (await import("../../socket/node.ts")).nodeAdapter,
  },
  {
    name: "deno",
    skip: runtime === "deno" ? false : `Deno sockets need Deno (running on ${runtime})`,
    tlsSkip: opensslSkip,
    mutualTlsSkip: "Deno.listenTls cannot verify client certificates",
    unixSkip: noUnix,
    load: async () => (await import("../../socket/deno.ts")).denoAdapter,
  },
  {
    name: "bun",
    skip: runtime === "bun" ? false : `Bun sockets need Bun (running on ${runtime})`,
    tlsSkip: opensslSkip,
    mutualTlsSkip: opensslSkip,
    unixSkip: noUnix,
    load: async () => (await import("../../socket/bun.ts")).bunAdapter,
  },
];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function echo(socket: Socket): void {
  socket.setHandlers({ onData: (chunk) => socket.write(chunk) });
}

/** Both ends' close counts after a close, once late duplicates would have arrived. */
async function closeCounts(client: Recorder, server: Recorder): Promise<[number, number]> {
  await Promise.all([client.closed.promise, server.closed.promise]);
  await settle();
  return [client.closes, server.closes];
}

async function tlsEcho(
  t: Context,
  adapter: SocketAdapter,
  options: { hostname?: string; serverName?: string },
): Promise<void> {
  const { cert, key } = makeCredentials(t);
  const clientTls = options.serverName === undefined
    ? { ca: cert, alpnProtocols: ["mqtt"] }
    : { ca: cert, alpnProtocols: ["mqtt"], serverName: options.serverName };
  const { client, server } = await openConnection(t, adapter, {
    serverTls: { cert, key, alpnProtocols: ["mqtt"] },
    clientTls,
    ...(options.hostname === undefined ? {} : { hostname: options.hostname }),
    onAccept: echo,
  });
  assert.equal(client.encrypted, true);
  assert.equal(server.encrypted, true);
  assert.equal(client.remoteAddress.transport, "tls");
  const recorder = new Recorder(client, { keep: true });
  const message = pattern(100_000, 7);
  client.write(message);
  await recorder.untilReceived(message.length);
  assert.equal(checksum(recorder.data()), checksum(message));
}

for (const entry of ADAPTERS) {
  describe(`socket conformance: ${entry.name}`, () => {
    const io = { timeout: TIMEOUT, skip: entry.skip };
    const tls = { timeout: TIMEOUT, skip: entry.skip || entry.tlsSkip };

    test("connect() and listen() round-trip bytes on 127.0.0.1 port 0", io, async (t) => {
      const adapter = await entry.load();
      const { listener, client, server } = await openConnection(t, adapter, { onAccept: echo });
      assert.notEqual(listener.address.port, 0);
      assert.equal(client.remoteAddress.port, listener.address.port);
      assert.equal(server.localAddress.port, listener.address.port);
      assert.equal(client.encrypted, false);
      assert.equal(client.closed, false);
      const recorder = new Recorder(client, { keep: true });
      assert.equal(client.write(encoder.encode("hello")), true);
      await recorder.untilReceived(5);
      assert.equal(decoder.decode(recorder.data()), "hello");
    });

    test("setHandlers() receives bytes that arrived before it was called", io, async (t) => {
      const adapter = await entry.load();
      const { client } = await openConnection(t, adapter, {
        onAccept: (socket) => socket.write(encoder.encode("early")),
      });
      await settle();
      const recorder = new Recorder(client, { keep: true });
      await recorder.untilReceived(5);
      assert.equal(decoder.decode(recorder.data()), "early");
    });

    test("write() of 1 MB at once reports backpressure and arrives intact", io, async (t) => {
      const adapter = await entry.load();
      const { client, server } = await openConnection(t, adapter);
      const receiver = new Recorder(server);
      const sender = new Recorder(client);
      const data = pattern(MB, 1);
      const drained = sender.untilDrain();
      assert.equal(client.write(data), false);
      assert.ok(client.bufferedAmount > 0);
      await Promise.all([drained, receiver.untilReceived(MB)]);
      assert.equal(receiver.received, MB);
      assert.equal(receiver.checksum.value, checksum(data));
    });

    test("write() in 64 KiB chunks honours backpressure from a paused peer", io, async (t) => {
      const adapter = await entry.load();
      const { client, server } = await openConnection(t, adapter, {
        onAccept: (socket) => socket.pause(),
      });
      const receiver = new Recorder(server);
      const sender = new Recorder(client);
      const data = pattern(MB, 2);
      let receivedWhilePaused = -1;
      const refusals = await writeAll(sender, data, CHUNK, () => {
        if (receivedWhilePaused !== -1) return;
        receivedWhilePaused = receiver.received;
        server.resume();
      });
      await receiver.untilReceived(MB);
      assert.ok(refusals > 0, "write() never returned false");
      assert.ok(sender.drains > 0, "onDrain never fired");
      assert.equal(receivedWhilePaused, 0);
      assert.equal(receiver.received, MB);
      assert.equal(receiver.checksum.value, checksum(data));
    });

    test(
      "reserve() (where offered) interleaves with write() in order and reports backpressure",
      io,
      async (t) => {
        const adapter = await entry.load();
        const { client, server } = await openConnection(t, adapter);
        if (client.reserve === undefined) {
          t.skip(`the ${entry.name} adapter offers no reserve()`);
          return;
        }
        const receiver = new Recorder(server, { keep: true });
        const data = pattern(3 * 64 * 1024, 4);
        let offset = 0;
        let refused = false;
        // Alternate reserved and written pieces of 1,000 bytes.
        for (let i = 0; offset < data.length; i++) {
          const piece = data.subarray(offset, Math.min(offset + 1000, data.length));
          if (i % 2 === 0) {
            const at = client.reserve(piece.length);
            client.writeQueue!.set(piece, at);
            if (!client.write(new Uint8Array(0))) refused = true;
          } else if (!client.write(piece)) {
            refused = true;
          }
          offset += piece.length;
        }
        await receiver.untilReceived(data.length);
        assert.equal(checksum(receiver.data()), checksum(data));
        assert.ok(refused, "write() never reported the high-water mark");
      },
    );

    test("write() delivers 10,000 small writes complete and in order", io, async (t) => {
      const adapter = await entry.load();
      const { client, server } = await openConnection(t, adapter);
      const count = 10_000;
      const receiver = new Recorder(server, { keep: true });
      const frame = new Uint8Array(4);
      const view = new DataView(frame.buffer);
      for (let i = 0; i < count; i++) {
        view.setUint32(0, i);
        client.write(frame); // the caller may reuse its buffer at once
      }
      await receiver.untilReceived(count * 4);
      const received = receiver.data();
      assert.equal(received.length, count * 4);
      const out = new DataView(received.buffer, received.byteOffset, received.byteLength);
      for (let i = 0; i < count; i++) {
        if (out.getUint32(i * 4) !== i) {
          assert.fail(`write ${i} arrived as ${out.getUint32(i * 4)}`);
        }
      }
    });

    test("close() by the client fires onClose exactly once on each end", io, async (t) => {
      const adapter = await entry.load();
      const { client, server } = await openConnection(t, adapter);
      const clientEvents = new Recorder(client);
      const serverEvents = new Recorder(server);
      client.close();
      client.close();
      assert.deepEqual(await closeCounts(clientEvents, serverEvents), [1, 1]);
      assert.equal(client.closed, true);
      assert.equal(server.closed, true);
    });

    test("close() by the server fires onClose exactly once on each end", io, async (t) => {
      const adapter = await entry.load();
      const { client, server } = await openConnection(t, adapter);
      const clientEvents = new Recorder(client);
      const serverEvents = new Recorder(server);
      server.write(encoder.encode("bye"));
      server.close();
      assert.deepEqual(await closeCounts(clientEvents, serverEvents), [1, 1]);
      assert.equal(clientEvents.received, 3);
    });

    test("close() during a large write flushes it and closes both ends once", io, async (t) => {
      const adapter = await entry.load();
      const { client, server } = await openConnection(t, adapter);
      const receiver = new Recorder(server);
      const sender = new Recorder(client);
      const data = pattern(MB, 3);
      for (let offset = 0; offset < data.length; offset += 4 * CHUNK) {
        client.write(data.subarray(offset, offset + 4 * CHUNK));
      }
      client.close();
      assert.equal(client.write(new Uint8Array(10)), false);
      assert.deepEqual(await closeCounts(sender, receiver), [1, 1]);
      assert.equal(receiver.received, MB);
      assert.equal(receiver.checksum.value, checksum(data));
      assert.equal(client.write(new Uint8Array(10)), false);
      assert.equal(server.write(new Uint8Array(10)), false);
    });

    test("destroy() during a large transfer closes both ends once", io, async (t) => {
      const adapter = await entry.load();
      const { client, server } = await openConnection(t, adapter);
      const receiver = new Recorder(server, { onData: () => server.destroy() });
      const sender = new Recorder(client);
      const data = pattern(MB, 4);
      for (let offset = 0; offset < data.length; offset += CHUNK) {
        client.write(data.subarray(offset, offset + CHUNK));
      }
      assert.deepEqual(await closeCounts(sender, receiver), [1, 1]);
      assert.equal(client.write(new Uint8Array(10)), false);
      assert.equal(server.write(new Uint8Array(10)), false);
    });

    test("write() after close() returns false", io, async (t) => {
      const adapter = await entry.load();
      const { client, server } = await openConnection(t, adapter);
      const clientEvents = new Recorder(client);
      const serverEvents = new Recorder(server);
      client.close();
      assert.equal(client.closed, true);
      assert.equal(client.write(encoder.encode("late")), false);
      await Promise.all([clientEvents.closed.promise, serverEvents.closed.promise]);
      assert.equal(server.write(encoder.encode("late")), false);
      assert.equal(client.write(encoder.encode("late")), false);
      assert.equal(serverEvents.received, 0);
    });

    test("connect() rejects when nobody listens", io, async (t) => {
      const adapter = await entry.load();
      const listener = await adapter.listen({ hostname: "127.0.0.1", port: 0 }, (socket) => {
        socket.destroy();
      });
      const port = listener.address.port;
      await listener.close();
      t.after(() => listener.close());
      await assert.rejects(adapter.connect({ hostname: "127.0.0.1", port }), Error);
    });

    test("connect() with tls round-trips bytes through a TLS listener", tls, async (t) => {
      await tlsEcho(t, await entry.load(), {});
    });

    test("connect() with tls verifies serverName against the certificate", tls, async (t) => {
      await tlsEcho(t, await entry.load(), { serverName: "localhost" });
    });

    test("connect() with tls rejects a certificate it does not trust", tls, async (t) => {
      const adapter = await entry.load();
      const { cert, key } = makeCredentials(t);
      const listener = await adapter.listen(
        { hostname: "127.0.0.1", port: 0, tls: { cert, key } },
        (socket) => {
          t.after(() => socket.destroy());
          echo(socket);
        },
      );
      t.after(() => listener.close());
      await assert.rejects(
        adapter.connect({ hostname: "127.0.0.1", port: listener.address.port, tls: {} }),
        Error,
      );
    });

    test(
      "listen() with requireCertificate accepts a trusted client certificate",
      { timeout: TIMEOUT, skip: entry.skip || entry.mutualTlsSkip },
      async (t) => {
        const adapter = await entry.load();
        const { cert, key } = makeCredentials(t);
        const { client } = await openConnection(t, adapter, {
          serverTls: { cert, key, ca: cert, requireCertificate: true },
          clientTls: { ca: cert, cert, key },
          onAccept: echo,
        });
        const recorder = new Recorder(client, { keep: true });
        client.write(encoder.encode("mutual"));
        await recorder.untilReceived(6);
        assert.equal(decoder.decode(recorder.data()), "mutual");
      },
    );

    test(
      "listen() with requireCertificate refuses a client without a certificate",
      { timeout: TIMEOUT, skip: entry.skip || entry.mutualTlsSkip },
      async (t) => {
        const adapter = await entry.load();
        const { cert, key } = makeCredentials(t);
        const listener = await adapter.listen(
          {
            hostname: "127.0.0.1",
            port: 0,
            tls: { cert, key, ca: cert, requireCertificate: true },
          },
          (socket) => {
            t.after(() => socket.destroy());
            echo(socket);
          },
        );
        t.after(() => listener.close());
        let client: Socket;
        try {
          client = await adapter.connect({
            hostname: "127.0.0.1",
            port: listener.address.port,
            tls: { ca: cert },
          });
        } catch (error) {
          assert.ok(error instanceof Error);
          return;
        }
        // With TLS 1.3 the client finishes its handshake first; the server then hangs up.
        t.after(() => client.destroy());
        const recorder = new Recorder(client);
        client.write(encoder.encode("refused"));
        await recorder.closed.promise;
        assert.equal(recorder.received, 0);
      },
    );

    const unix = { timeout: TIMEOUT, skip: entry.skip || entry.unixSkip };
    test("connect() with a path round-trips bytes over a unix socket", unix, async (t) => {
      const adapter = await entry.load();
      const path = await unixEchoServer(t);
      const client = await adapter.connect({ hostname: "", port: 0, path });
      t.after(() => client.destroy());
      assert.equal(client.remoteAddress.transport, "unix");
      assert.equal(client.remoteAddress.hostname, path);
      const recorder = new Recorder(client, { keep: true });
      const message = pattern(100_000, 9);
      client.write(message);
      await recorder.untilReceived(message.length);
      assert.equal(checksum(recorder.data()), checksum(message));
    });

    const bind = { timeout: TIMEOUT, skip: entry.skip || entry.localAddressSkip };
    test("connect() binds to localAddress, or refuses it with a TypeError", bind, async (t) => {
      const adapter = await entry.load();
      const listener = await adapter.listen({ hostname: "127.0.0.1", port: 0 }, (socket) => {
        t.after(() => socket.destroy());
        echo(socket);
      });
      t.after(() => listener.close());
      const options = { hostname: "127.0.0.1", port: listener.address.port };
      if (entry.name === "deno") {
        await assert.rejects(adapter.connect({ ...options, localAddress: "127.0.0.1" }), TypeError);
        return;
      }
      // 127.0.0.2 is a loopback address on Linux; elsewhere bind to 127.0.0.1.
      const local = process.platform === "linux" ? "127.0.0.2" : "127.0.0.1";
      const client = await adapter.connect({ ...options, localAddress: local });
      t.after(() => client.destroy());
      assert.equal(client.localAddress.hostname, local);
      const recorder = new Recorder(client, { keep: true });
      client.write(encoder.encode("bound"));
      await recorder.untilReceived(5);
      assert.equal(decoder.decode(recorder.data()), "bound");
    });
  });
}

/** A `node:net` echo server on a unix socket in a temporary directory; returns its path. */
async function unixEchoServer(t: Context): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "mq-unix-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "echo.sock");
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.on("data", (chunk) => socket.write(chunk));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  t.after(() =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    })
  );
  return path;
}

describe("socket conformance: websocket", () => {
  const skip = webSocketSkip();
  const io = { timeout: TIMEOUT, skip };

  test("webSocketConnect() round-trips bytes through an echo server", io, async (t) => {
    const url = startEchoServer(t);
    const socket = await webSocketConnect(url);
    t.after(() => socket.destroy());
    assert.equal(socket.encrypted, false);
    assert.equal(socket.remoteAddress.transport, "websocket");
    const recorder = new Recorder(socket, { keep: true });
    assert.equal(socket.write(encoder.encode("hello ")), true);
    assert.equal(socket.write(encoder.encode("websocket")), true);
    await recorder.untilReceived(15);
    assert.equal(decoder.decode(recorder.data()), "hello websocket");
  });

  test("webSocketConnect() carries 1 MB in 64 KiB chunks intact", io, async (t) => {
    const url = startEchoServer(t);
    const socket = await webSocketConnect(url);
    t.after(() => socket.destroy());
    const recorder = new Recorder(socket);
    const data = pattern(MB, 5);
    await writeAll(recorder, data, CHUNK);
    await recorder.untilReceived(MB);
    assert.equal(recorder.checksum.value, checksum(data));
  });

  test(
    "webSocketConnect() socket fires onClose once and refuses writes after close()",
    io,
    async (t) => {
      const url = startEchoServer(t);
      const socket = await webSocketConnect(url);
      t.after(() => socket.destroy());
      const recorder = new Recorder(socket);
      socket.close();
      assert.equal(socket.write(new Uint8Array(1)), false);
      await recorder.closed.promise;
      await settle();
      assert.equal(recorder.closes, 1);
      assert.equal(socket.closed, true);
    },
  );
});
