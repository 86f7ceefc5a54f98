/**
 * The client over `ws://` with an explicit `webSocket` constructor (npm's `ws`), as Node 20
 * needs: to an in-process broker's WebSocket listener, under Node,
 * Deno and Bun alike. Without the option and without a global `WebSocket` (Node 20, or the
 * global removed for the test), connecting fails with a `ConnectionFailedError` that says
 * to pass `webSocket`.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { WebSocket } from "ws";
import { startBroker } from "../../broker/mod.ts";
import { connect as browserConnect } from "../../client/browser.ts";
import { connect } from "../../client/connect.ts";
import { ConnectionFailedError } from "../../client/errors.ts";
import type { WebSocketConstructor } from "../../client/options.ts";
import { webSocketConnect } from "../../socket/websocket.ts";
import { describe, test } from "../_testing.ts";
import { take, text } from "./_helpers.ts";

/** Checked by the type-checker: `ws`'s class fits the option. */
const wsConstructor: WebSocketConstructor = WebSocket;

/** A broker with a WebSocket listener on port 0, closed after the test; its URL. */
async function wsBroker(t: TestContext): Promise<string> {
  const broker = await startBroker({
    listeners: [{ hostname: "127.0.0.1", port: 0, protocol: "websockets" }],
    sysInterval: 0,
  });
  t.after(() => broker.close());
  return `ws://127.0.0.1:${broker.addresses[0]!.port}/mqtt`;
}

/**
 * Run `fn` without a global `WebSocket`: as is on Node 20, else with the global removed
 * for the duration. Returns `false` when the global cannot be removed.
 */
async function withoutGlobalWebSocket(fn: () => Promise<void>): Promise<boolean> {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, "WebSocket");
  if (descriptor === undefined) {
    await fn();
    return true;
  }
  if (descriptor.configurable !== true) return false;
  delete (globalThis as { WebSocket?: unknown }).WebSocket;
  try {
    await fn();
  } finally {
    Object.defineProperty(globalThis, "WebSocket", descriptor);
  }
  return true;
}

describe("webSocket option", () => {
  for (const [name, open] of [["connect", connect], ["browser connect", browserConnect]] as const) {
    test(
      `${name}() publishes and receives over ws:// with the webSocket option`,
      { timeout: 10_000 },
      async (t) => {
        const url = await wsBroker(t);
        const client = await open(url, { webSocket: wsConstructor, reconnect: false });
        t.after(() => client.destroy());
        const sub = await client.subscribe("ws/+", { qos: 1 });
        const result = await client.publish("ws/node", "over ws", { qos: 1 });
        assert.equal(result.reasonCode, 0);
        const [message] = await take(sub, 1);
        assert.equal(message!.topic, "ws/node");
        assert.equal(message!.qos, 1);
        assert.equal(text(message!.payload), "over ws");
        await client.end();
      },
    );
  }

  test("webSocketConnect() uses the webSocket option over the global", async () => {
    const sentinel = new Error("fake constructor");
    const offered: string[][] = [];
    const Fake = function (_url: string, protocols: string[]) {
      offered.push(protocols);
      throw sentinel;
    } as unknown as WebSocketConstructor;
    await assert.rejects(
      webSocketConnect("ws://127.0.0.1:1/mqtt", { webSocket: Fake }),
      (error) => error === sentinel,
    );
    assert.deepEqual(offered, [["mqtt"]]);
  });

  test(
    "connect() without the webSocket option nor a global WebSocket fails with ConnectionFailedError",
    { timeout: 10_000 },
    async (t) => {
      const ran = await withoutGlobalWebSocket(async () => {
        for (const open of [connect, browserConnect]) {
          const error = await open("ws://127.0.0.1:1/mqtt", { reconnect: false }).catch((e) => e);
          assert.ok(error instanceof ConnectionFailedError);
          assert.ok(error.cause instanceof TypeError);
          // The message tells what to do.
          assert.match(error.message, /"webSocket" option/);
        }
        await assert.rejects(webSocketConnect("ws://127.0.0.1:1/mqtt"), (error) => {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, /"webSocket" option/);
          return true;
        });
      });
      if (!ran) t.skip("the global WebSocket cannot be removed");
    },
  );
});
