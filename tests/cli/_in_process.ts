/**
 * Shared set-up for running `mq pub`, `mq sub` and `mq rr` in-process with the fake host
 * against an in-process broker on a loopback port.
 *
 * @module
 */
import type { TestContext } from "../_testing.ts";
import { startBroker } from "../../broker/mod.ts";
import type { Broker, BrokerOptions } from "../../broker/mod.ts";
import { main } from "../../cli/mq.ts";
import { runPub } from "../../cli/pub.ts";
import { runRr } from "../../cli/rr.ts";
import { runSub } from "../../cli/sub.ts";
import { type FakeHost, fakeHost, type FakeHostOptions } from "./_fake_host.ts";

const clients = { pub: runPub, sub: runSub, rr: runRr };

/**
 * Start a broker on 127.0.0.1 port 0, closed after the test.
 *
 * @param t The test context.
 * @param options Extra broker options.
 * @returns The broker and its port as a string.
 */
export async function broker(
  t: TestContext,
  options: BrokerOptions = {},
): Promise<{ b: Broker; port: string }> {
  const b = await startBroker({
    listeners: [{ hostname: "127.0.0.1", port: 0 }],
    sysInterval: 0,
    ...options,
  });
  t.after(() => b.close());
  return { b, port: String(b.addresses[0]!.port) };
}

/**
 * Run `mq` with the fake host and the real client runners.
 *
 * @param args The arguments after `mq`.
 * @param options Fake host options.
 * @returns The host (captured output) and the exit code.
 */
export function mq(
  args: string[],
  options: FakeHostOptions = {},
): { host: FakeHost; code: Promise<number> } {
  const host = fakeHost({ env: { XDG_CONFIG_HOME: "/none" }, ...options, args });
  return { host, code: main(args, host, { clients }) };
}

/**
 * Resolves when a client subscribes to `filter` on the broker.
 *
 * @param b The broker.
 * @param filter The topic filter.
 * @returns A promise that resolves on the subscription.
 */
export function subscribed(b: Broker, filter: string): Promise<void> {
  return new Promise((resolve) => {
    const off = b.on("subscribe", (event) => {
      if (event.subscriptions.some((s) => s.filter === filter)) {
        off();
        resolve();
      }
    });
  });
}
