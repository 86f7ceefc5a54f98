/**
 * The client over `ws://`: a WebSocket-to-broker relay built on the runtime's own server
 * (`Deno.serve`, `Bun.serve`) in front of the in-process broker. Node 20 has neither a
 * WebSocket client nor server, so it only checks that `ws:` fails clearly there.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { Broker } from "../../broker/types.ts";
import { connect } from "../../client/connect.ts";
import { connect as browserConnect } from "../../client/browser.ts";
import { ConnectionFailedError } from "../../client/errors.ts";
import { memoryPair } from "../../socket/memory.ts";
import { detectRuntime } from "../../socket/runtime.ts";
import type { Socket } from "../../socket/types.ts";
import { brokerFor, take, text } from "./_helpers.ts";

interface RelaySocket {
  binaryType?: string;
  send(data: Uint8Array): void;
  close(): void;
}

const runtime = detectRuntime();
const hasWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket !== "undefined";
const skip = hasWebSocket && (runtime === "deno" || runtime === "bun")
  ? false
  : `no WebSocket client and server on ${runtime}`;

function bridge(broker: Broker, ws: RelaySocket): Socket {
  const [server, end] = memoryPair();
  broker.connect(server);
  end.setHandlers({
    onData: (chunk) => ws.send(chunk.slice()),
    onClose: () => ws.close(),
  });
  return end;
}

/** Start a WebSocket relay into `broker`; stopped after the test. Returns its URL. */
function startRelay(t: TestContext, broker: Broker): string {
  if (runtime === "deno") {
    const deno = (globalThis as unknown as {
      Deno: {
        serve(
          options: { hostname: string; port: number; onListen?: () => void },
          handler: (request: Request) => Response,
        ): { addr: { port: number }; shutdown(): Promise<void> };
        upgradeWebSocket(request: Request, options: { protocol: string }): {
          socket: RelaySocket & {
            onmessage: ((event: { data: ArrayBuffer }) => void) | null;
            onclose: (() => void) | null;
          };
          response: Response;
        };
      };
    }).Deno;
    const server = deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
      const { socket, response } = deno.upgradeWebSocket(request, { protocol: "mqtt" });
      socket.binaryType = "arraybuffer";
      let end: Socket | undefined;
      socket.onmessage = (event) => {
        end ??= bridge(broker, socket);
        end.write(new Uint8Array(event.data));
      };
      socket.onclose = () => end?.destroy();
      return response;
    });
    t.after(() => server.shutdown());
    return `ws://127.0.0.1:${server.addr.port}/mqtt`;
  }
  const ends = new Map<unknown, Socket>();
  const bun = (globalThis as unknown as {
    Bun: {
      serve(options: unknown): { port: number; stop(force?: boolean): unknown };
    };
  }).Bun;
  const server = bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(
      request: Request,
      srv: { upgrade(r: Request, o: { headers: Record<string, string> }): boolean },
    ) {
      if (srv.upgrade(request, { headers: { "Sec-WebSocket-Protocol": "mqtt" } })) return undefined;
      return new Response("WebSocket only", { status: 400 });
    },
    websocket: {
      open: (ws: RelaySocket) => ends.set(ws, bridge(broker, ws)),
      message: (ws: RelaySocket, message: Uint8Array) => ends.get(ws)?.write(message),
      close: (ws: RelaySocket) => ends.get(ws)?.destroy(),
    },
  });
  t.after(() => server.stop(true));
  return `ws://127.0.0.1:${server.port}/mqtt`;
}

test("connect() publishes and receives over ws://", { skip, timeout: 10_000 }, async (t) => {
  const broker = await brokerFor(t);
  const url = startRelay(t, broker);
  for (const open of [connect, browserConnect]) {
    const client = await open(url, { protocolVersion: 5 });
    t.after(() => client.end());
    const sub = await client.subscribe("ws/#", { qos: 2 });
    await client.publish("ws/hello", "over websocket", { qos: 2 });
    assert.equal(text((await take(sub, 1))[0]!.payload), "over websocket");
    await client.end();
  }
});

test("connect() fails clearly over ws:// without a global WebSocket", {
  skip: hasWebSocket ? "this runtime has a global WebSocket" : false,
}, async () => {
  const error = await connect("ws://127.0.0.1:1/mqtt").catch((e) => e);
  assert.ok(error instanceof ConnectionFailedError);
  assert.ok(error.cause instanceof TypeError);
});
