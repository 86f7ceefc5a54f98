/**
 * Shared fixtures of the client tests: a broker on port 0, memory transports whose broker
 * ends the test can drop, and waiting helpers bounded by timeouts.
 *
 * @module
 */

import type { TestContext } from "node:test";
import { startBroker } from "../../broker/broker.ts";
import type { Broker, BrokerOptions } from "../../broker/types.ts";
import { connect } from "../../client/connect.ts";
import type { MqttClient } from "../../client/client.ts";
import type { ClientOptions, Transport } from "../../client/options.ts";
import type { Message, MqttSubscription } from "../../client/subscription.ts";
import { memoryPair } from "../../socket/memory.ts";
import type { Socket } from "../../socket/types.ts";

/** Start a broker on 127.0.0.1 port 0 without $SYS, closed after the test. */
export async function brokerFor(t: TestContext, options: BrokerOptions = {}): Promise<Broker> {
  const broker = await startBroker({
    listeners: [{ hostname: "127.0.0.1", port: 0 }],
    sysInterval: 0,
    ...options,
  });
  t.after(() => broker.close());
  return broker;
}

/** The `mqtt://` URL of a broker's first listener. */
export function urlOf(broker: Broker): string {
  const address = broker.addresses[0]!;
  return `mqtt://${address.hostname}:${address.port}`;
}

/** A memory transport into `broker`; the broker's end of each connection is kept in `ends`. */
export class MemoryLink {
  readonly ends: Socket[] = [];
  readonly transport: Transport;
  /** When set, new connections are refused. */
  refuse = false;
  /** When set, new connections never open (until aborted). */
  hang = false;
  /** Called when a connection is opened or attempted. */
  onAttempt: (() => void) | undefined;

  constructor(broker: Broker) {
    this.transport = ({ signal }) => {
      this.onAttempt?.();
      if (this.refuse) return Promise.reject(new Error("Cannot connect: refused by the test"));
      if (this.hang) {
        return new Promise((_, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      }
      const [a, b] = memoryPair();
      this.ends.push(a);
      broker.connect(a);
      return Promise.resolve(b);
    };
  }

  /** Drop the current connection from the broker's side. */
  drop(): void {
    this.ends.at(-1)?.destroy(new Error("dropped by the test"));
  }
}

/** Connect over TCP to `broker`; ended after the test. */
export async function clientFor(
  t: TestContext,
  broker: Broker,
  options: ClientOptions = {},
): Promise<MqttClient> {
  const client = await connect(urlOf(broker), options);
  t.after(() => client.end());
  return client;
}

/** Connect over a memory link; ended after the test. */
export async function memoryClient(
  t: TestContext,
  link: MemoryLink,
  options: ClientOptions = {},
): Promise<MqttClient> {
  const client = await connect("mqtt://memory", { ...options, transport: link.transport });
  t.after(() => client.end());
  return client;
}

/** Resolve with the next event of `type`, reject after `timeout` ms. */
export function nextEvent<E extends Event = Event>(
  target: EventTarget,
  type: string,
  timeout = 5000,
): Promise<E> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, onEvent);
      reject(new Error(`No "${type}" event in ${timeout} ms`));
    }, timeout);
    const onEvent = (event: Event) => {
      clearTimeout(timer);
      target.removeEventListener(type, onEvent);
      resolve(event as E);
    };
    target.addEventListener(type, onEvent);
  });
}

/** Take `count` messages from a subscription, failing after `timeout` ms. */
export async function take(
  sub: MqttSubscription,
  count: number,
  timeout = 5000,
): Promise<Message[]> {
  const out: Message[] = [];
  const iterator = sub[Symbol.asyncIterator]();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Got ${out.length} of ${count} messages`)), timeout);
  });
  try {
    while (out.length < count) {
      const result = await Promise.race([iterator.next(), expired]);
      if (result.done) throw new Error(`Subscription ended after ${out.length} messages`);
      out.push(result.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/** A promise with its resolve function (Node 20 has no Promise.withResolvers). */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The text of a payload. */
export function text(payload: Uint8Array): string {
  return new TextDecoder().decode(payload);
}
