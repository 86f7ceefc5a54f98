/**
 * A WebSocket echo server (subprotocol `mqtt`) on 127.0.0.1 port 0, built on the runtime's
 * own server: `Deno.serve` + `Deno.upgradeWebSocket`, or `Bun.serve`. Node has none
 * without a dependency.
 *
 * @module
 */

import { detectRuntime } from "../../socket/runtime.ts";
import type { Context } from "./_harness.ts";

interface ServerSideWebSocket {
  binaryType: string;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: unknown): void;
}

interface DenoServer {
  readonly addr: { port: number };
  shutdown(): Promise<void>;
}

interface DenoServe {
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: (request: Request) => Response,
  ): DenoServer;
  upgradeWebSocket(
    request: Request,
    options: { protocol: string },
  ): { socket: ServerSideWebSocket; response: Response };
}

interface BunServerWebSocket {
  send(data: unknown): void;
}

interface BunServer {
  readonly port: number;
  upgrade(request: Request, options: { headers: Record<string, string> }): boolean;
  stop(closeActiveConnections?: boolean): unknown;
}

interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch(request: Request, server: BunServer): Response | undefined;
    websocket: { message(ws: BunServerWebSocket, message: unknown): void };
  }): BunServer;
}

/** Why the WebSocket tests must be skipped here, or `false`. */
export function webSocketSkip(): string | false {
  if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === "undefined") {
    return "no global WebSocket";
  }
  const runtime = detectRuntime();
  if (runtime === "deno" || runtime === "bun") return false;
  return `no built-in WebSocket server on ${runtime}`;
}

/** Start an echo server, stopped by `t.after()`; resolves to its `ws:` URL. */
export function startEchoServer(t: Context): string {
  const runtime = detectRuntime();
  if (runtime === "deno") {
    const deno = (globalThis as unknown as { Deno: DenoServe }).Deno;
    const server = deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
      const { socket, response } = deno.upgradeWebSocket(request, { protocol: "mqtt" });
      socket.binaryType = "arraybuffer";
      socket.onmessage = (event) => socket.send(event.data);
      return response;
    });
    t.after(() => server.shutdown());
    return `ws://127.0.0.1:${server.addr.port}/mqtt`;
  }
  if (runtime === "bun") {
    const bun = (globalThis as unknown as { Bun: BunServe }).Bun;
    const server = bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request, srv) {
        if (srv.upgrade(request, { headers: { "Sec-WebSocket-Protocol": "mqtt" } })) {
          return undefined;
        }
        return new Response("WebSocket only", { status: 400 });
      },
      websocket: { message: (ws, message) => ws.send(message) },
    });
    t.after(() => server.stop(true));
    return `ws://127.0.0.1:${server.port}/mqtt`;
  }
  throw new TypeError(`Cannot start a WebSocket echo server on ${runtime}`);
}
