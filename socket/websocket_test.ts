import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "../tests/_testing.ts";
import { webSocketConnect } from "./websocket.ts";

const noWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === "undefined"
  ? "no global WebSocket"
  : false;

/** A port nobody listens on (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

describe("webSocketConnect()", () => {
  test("webSocketConnect() rejects a URL that is not ws: or wss: with a TypeError", async () => {
    await assert.rejects(webSocketConnect("mqtt://localhost:1883"), TypeError);
    await assert.rejects(webSocketConnect("http://localhost"), TypeError);
  });

  test("webSocketConnect() rejects an unparseable URL with a TypeError", async () => {
    await assert.rejects(webSocketConnect("not a url"), TypeError);
  });

  test(
    "webSocketConnect() rejects with the reason of an aborted signal",
    { skip: noWebSocket },
    async () => {
      const reason = new Error("stop");
      await assert.rejects(
        webSocketConnect("ws://127.0.0.1:1/", { signal: AbortSignal.abort(reason) }),
        (error) => error === reason,
      );
    },
  );

  test(
    "webSocketConnect() rejects when nobody listens",
    { skip: noWebSocket, timeout: 10_000 },
    async () => {
      const port = await freePort();
      await assert.rejects(webSocketConnect(`ws://127.0.0.1:${port}/`), Error);
    },
  );
});
